"""Validate one raw partition with its Great Expectations suite; promote it or quarantine it.

Pass: the batch is written to ``validated/<dataset>/date=.../`` (typed Parquet, atomic commit) and
the outcome carries the lineage for the validated Asset event.

Fail: the batch is copied to ``quarantine/<dataset>/date=.../<result id>/`` with the GX result JSON
and the Data Docs HTML beside it; the raw partition stays where it is; the outcome's message names
every failed expectation, its column and sample offending values. A validated partition of the same
day from an earlier delivery is withdrawn (:func:`tradewind.data.validated.mark_superseded`).

Before the suite, the batch's bytes and time values are checked (:mod:`tradewind.data.checks`); a
batch that breaks them is quarantined without running the suite. Any error while reading or
checking the batch (but the storage's own: those propagate, worth a retry) ends in a quarantine
whose failure names the error's type, the column and where it was raised.

Reports are bounded: sample values cut to ``SAMPLE_CHARS`` characters, at most ``SAMPLE_SIZE``
per expectation in the message, lists in the GX result cut, and a report over ``REPORT_CAP`` bytes
keeps its failures but drops the GX detail. Each report is written once: a passed batch's under
``reports/validation/.../<result id>/``; a quarantined batch's beside the batch, with a
``report_location.json`` pointer in ``reports/validation/.../<result id>/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from upath import UPath

from tradewind.data.checks import SAMPLE_CHARS, SAMPLE_SIZE, clip, sanitize
from tradewind.data.ingest import QUARANTINE, RAW, VALIDATED, parse_day, partition_path
from tradewind.data.reader import RefusedBatch, UnreadableBatch, read_partition
from tradewind.data.spec import DatasetSpec
from tradewind.data.validated import clear_superseded, mark_superseded
from tradewind.storage import (
    MANIFEST,
    LakePath,
    PartitionWriter,
    as_path,
    atomic_write_text,
    copy_file,
    read_manifest,
    uri,
)
from tradewind.validation.personal import TEXT_WITHHELD, Personal, redact_result
from tradewind.validation.suite import EARLIEST, LATEST, load_suite_dict

log = logging.getLogger(__name__)

REPORTS = "reports/validation"
REPORT_LOCATION = "report_location.json"
# A report (JSON or HTML) larger than this keeps its failures and drops the GX detail.
REPORT_CAP = 2 << 20
# Lists in the stored GX result (unexpected values, indexes, counts) keep this many items.
MAX_LIST = 20
# A failure's detail is cut to this many characters.
DETAIL_CHARS = 1000


class PartitionNotFound(FileNotFoundError):
    """No committed raw partition for the requested date (ingest it first)."""


@dataclass
class Failure:
    expectation: str
    column: str | None
    detail: str
    sample: list[Any] = field(default_factory=list)
    notes: str = ""

    def line(self) -> str:
        where = f" on '{self.column}'" if self.column else ""
        why = f" ({self.notes})" if self.notes else ""
        sample = f", e.g. {self.sample}" if self.sample else ""
        return sanitize(f"{self.expectation}{where}{why}: {self.detail}{sample}")


def error_failure(err: BaseException, doing: str, column: str | None = None, *, private: bool = False) -> Failure:
    """An error raised while checking a batch, as a failure: its type, message (cut), column and where.

    ``private``: the message may quote personal data (:mod:`tradewind.validation.personal`); it is
    neither logged nor kept, only the error's type and place.
    """
    frames = traceback.extract_tb(err.__traceback__)
    at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
    text = TEXT_WITHHELD if private else clip(str(err))
    log.warning(
        "Error while %s%s: %s: %s\n%s",
        doing,
        f" on {column!r}" if column else "",
        type(err).__name__,
        text,
        "".join(traceback.format_list(frames[-4:])),
    )
    return Failure("error", column, f"{type(err).__name__}: {text}", notes=f"while {doing}{at}")


@dataclass
class ValidationOutcome:
    success: bool
    result_id: str
    dataset: str
    partition_date: str
    suite: str
    evaluated: int
    failures: list[Failure]
    report_uri: str
    validated_uri: str | None = None
    quarantine_uri: str | None = None
    # A quarantine that withdrew the day's earlier validated partition: the marker's record.
    superseded: dict[str, Any] | None = None
    lineage: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        if self.success:
            return (
                f"{self.dataset} {self.partition_date} passed {self.evaluated} expectations "
                f"(result {self.result_id}); validated partition: {self.validated_uri}"
            )
        lines = [
            f"Validation failed for {self.dataset} {self.partition_date}: {len(self.failures)} of "
            f"{self.evaluated} expectations failed (result {self.result_id}).",
            *(f"  - {f.line()}" for f in self.failures),
            f"Batch quarantined with its report at {self.quarantine_uri}; the raw partition is kept.",
        ]
        if self.superseded:
            lines.append(
                f"The validated partition of {self.partition_date} from an earlier delivery "
                f"({self.superseded['partition_uri']}) is withdrawn: no stage reads it until a re-delivery passes."
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_partition(
    spec: DatasetSpec, root: str | LakePath, day: str | dt.date, *, raw_lineage: dict[str, Any] | None = None
) -> ValidationOutcome:
    """Validate ``day`` of ``spec``; write the validated partition or the quarantine; return the outcome."""
    day = parse_day(day)
    root = as_path(root)
    raw = partition_path(root, RAW, spec.name, day)
    manifest = read_manifest(raw)
    if manifest is None:
        raise PartitionNotFound(f"no committed raw partition at {uri(raw)} (ingest {spec.name} {day} first)")
    started = time.monotonic()
    suite, suite_source = load_suite_dict(spec)
    suite_hash = hashlib.sha256(json.dumps(suite, sort_keys=True).encode()).hexdigest()
    result_id = f"{spec.name}-{day}-{manifest.content_hash[:12]}-{suite_hash[:8]}"
    checked = check_batch(spec, suite, raw, manifest, day)
    success = not checked.failures
    lineage = {
        **(raw_lineage or {}),
        "dataset": spec.name,
        "partition_date": day.isoformat(),
        "raw_partition_uri": uri(raw),
        "content_hash": manifest.content_hash,
        "row_count": manifest.row_count if checked.frame is None else len(checked.frame),
        "schema_version": spec.schema_version,
        "validation_result_id": result_id,
    }
    record = {
        "result_id": result_id,
        "success": success,
        "dataset": spec.name,
        "partition_date": day.isoformat(),
        "suite": suite["name"],
        "suite_source": suite_source,
        "evaluated": checked.evaluated,
        "files": [{"stored": f.name, "delivered": f.source} for f in manifest.files],
        "failures": [asdict(f) for f in checked.failures],
        "lineage": lineage,
        "validated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "gx_result": checked.gx_result,
    }
    report_dir = root / REPORTS / spec.name / f"date={day}" / result_id
    outcome = ValidationOutcome(
        success=success,
        result_id=result_id,
        dataset=spec.name,
        partition_date=day.isoformat(),
        suite=suite["name"],
        evaluated=checked.evaluated,
        failures=checked.failures,
        report_uri=uri(report_dir / "data_docs.html"),
        lineage=lineage,
    )
    validated = partition_path(root, VALIDATED, spec.name, day)
    if success:
        assert checked.frame is not None
        _write_report(report_dir, record, checked.report_html)
        _promote(spec, day, checked.frame, validated, manifest, result_id, outcome)
    else:
        qdir = root / QUARANTINE / spec.name / f"date={day}" / result_id
        for f in [*manifest.files]:
            copy_file(raw / f.name, qdir / f.name)
        copy_file(raw / MANIFEST, qdir / MANIFEST)
        outcome.report_uri = uri(qdir / "data_docs.html")
        outcome.quarantine_uri = uri(qdir)
        lineage.update(quarantine_uri=outcome.quarantine_uri)
        _write_report(qdir, record, checked.report_html)
        _write_pointer(report_dir, outcome)
        outcome.superseded = mark_superseded(
            validated, result_id=result_id, quarantine_uri=outcome.quarantine_uri, report_uri=outcome.report_uri
        )
        if outcome.superseded:
            lineage["superseded"] = outcome.superseded
    lineage["report_uri"] = outcome.report_uri
    log.info("%s (%.1fs)", outcome.message(), time.monotonic() - started)
    return outcome


@dataclass
class Checked:
    """What checking a batch found: the frame (None when unreadable), failures, the GX result, the report."""

    frame: pd.DataFrame | None
    failures: list[Failure]
    evaluated: int
    report_html: str
    gx_result: dict[str, Any] | None = None


def check_batch(spec: DatasetSpec, suite: dict[str, Any], raw: UPath, manifest: Any, day: dt.date) -> Checked:
    """Read, check and run the suite on a raw partition; every error but the storage's becomes a failure.

    Values of the spec's pii columns are hashed or withheld before any failure, log line or report
    holds them (:mod:`tradewind.validation.personal`).
    """
    personal = Personal.of(spec)
    try:
        frame = read_partition(spec, raw, manifest)
    except UnreadableBatch as err:
        sample = [err.sample] if err.sample is not None else []
        failures = [Failure("readable", err.column, err.reason, sample, notes=f"file {err.file}")]
        return _refused(spec, day, failures, personal)
    except RefusedBatch as err:
        failures = [Failure(p.check, p.column, p.detail, p.sample, p.where) for p in err.problems]
        return _refused(spec, day, failures, personal)
    except OSError:
        raise  # the storage failed, not the data: worth a retry
    except Exception as err:  # any other error reading a batch is the batch's to answer for
        return _refused(spec, day, [error_failure(err, "reading the batch", private=bool(personal))], personal)
    try:
        result = run_suite(spec, suite, frame, day)
    except Exception as err:
        failure = error_failure(err, "running the suite", private=bool(personal))
        return _refused(spec, day, [failure], personal, frame)
    redact_result(result, personal)
    failures = failures_of(result, frame, personal)
    bound_result(result)
    try:
        report_html = data_docs_html(result)
    except Exception as err:
        failures.append(error_failure(err, "rendering Data Docs", private=bool(personal)))
        report_html = _plain_report(spec, day, "", failures)
    return Checked(frame, failures, len(result.results), report_html, _gx_json(result))


def _refused(
    spec: DatasetSpec, day: dt.date, failures: list[Failure], personal: Personal, frame: pd.DataFrame | None = None
) -> Checked:
    for f in failures:  # samples a check took of a pii column: hashed or withheld
        f.sample, note = personal.samples(f.column, f.sample)
        f.notes = f"{f.notes}; {note}" if f.notes and note else (f.notes or note)
    return Checked(frame, failures, len(failures), _plain_report(spec, day, "", failures))


def _gx_json(result: Any) -> dict[str, Any] | None:
    try:
        return dict(result.to_json_dict())
    except Exception as err:
        return {"omitted": f"the GX result could not be serialised: {type(err).__name__}: {clip(str(err))}"}


def _promote(
    spec: DatasetSpec,
    day: dt.date,
    frame: pd.DataFrame,
    validated: UPath,
    manifest: Any,
    result_id: str,
    outcome: ValidationOutcome,
) -> None:
    """Commit the validated partition (replacing an earlier one, superseded or not)."""
    previous = read_manifest(validated)
    writer = PartitionWriter(validated, "parquet")
    with writer.open_part(rows=len(frame)) as fh:
        frame.to_parquet(fh, index=False, compression="zstd")
    vman = writer.commit(
        dataset=spec.name,
        partition_date=day.isoformat(),
        schema_version=spec.schema_version,
        extra={"validation_result_id": result_id, "raw_content_hash": manifest.content_hash},
    )
    clear_superseded(validated)
    outcome.validated_uri = uri(validated)
    outcome.lineage.update(partition_uri=uri(validated), validated_content_hash=vman.content_hash)
    if previous is not None and previous.content_hash != vman.content_hash:
        outcome.lineage["replaces"] = {
            "content_hash": previous.extra.get("raw_content_hash"),
            "validation_result_id": previous.extra.get("validation_result_id"),
        }


def _write_report(directory: UPath, record: dict[str, Any], report_html: str) -> None:
    """The result JSON and the Data Docs page, each within ``REPORT_CAP`` (the GX detail goes first)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, default=str)
    if len(text) > REPORT_CAP:
        record = {**record, "gx_result": {"omitted": f"the full result ({len(text)} bytes) is over the report cap"}}
        text = json.dumps(record, indent=2, default=str)
    atomic_write_text(directory / "validation_result.json", text)
    if len(report_html) > REPORT_CAP:
        failures = [Failure(**f) for f in record["failures"]]
        report_html = _plain_report_text(record["dataset"], record["partition_date"], failures, "over the cap")
    atomic_write_text(directory / "data_docs.html", report_html)


def _write_pointer(directory: UPath, outcome: ValidationOutcome) -> None:
    """Where a quarantined batch's report is (it is kept once, beside the batch)."""
    pointer = {
        "result_id": outcome.result_id,
        "success": False,
        "report_uri": outcome.report_uri,
        "quarantine_uri": outcome.quarantine_uri,
    }
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / REPORT_LOCATION, json.dumps(pointer, indent=2))


# -- Great Expectations ---------------------------------------------------------------------------


def run_suite(spec: DatasetSpec, suite: dict[str, Any], frame: pd.DataFrame, day: dt.date) -> Any:
    """Run the suite on the frame with GX 1.x (ephemeral context, pandas whole-frame batch)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(f"{spec.name}_source")
        .add_dataframe_asset(spec.name)
        .add_batch_definition_whole_dataframe("partition")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(**suite))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{spec.name}_{day}", data=batch, suite=gx_suite)
    )
    tolerance = dt.timedelta(hours=spec.validation.freshness.tolerance_hours)
    start = dt.datetime.combine(day, dt.time())  # UTC, like the timestamps the reader returns
    params = {
        EARLIEST: (start - tolerance).isoformat(),
        LATEST: (start + dt.timedelta(days=1) + tolerance).isoformat(),
    }
    return definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=params,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
    )


def _exception_message(info: dict[str, Any] | None) -> str | None:
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():  # GX nests per-metric exception records
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def failures_of(result: Any, frame: pd.DataFrame, personal: Personal | None = None) -> list[Failure]:
    """One readable line of facts per failed expectation (of a result :func:`redact_result` has seen)."""
    out: list[Failure] = []
    rows = len(frame)
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        column = cfg.kwargs.get("column")
        notes = (cfg.meta or {}).get("notes", "")
        try:
            failure = _failure(cfg, column, notes, r, frame, rows)
        except Exception as err:  # a result that cannot be summarised is still a failure
            private = personal is not None and personal.private_text(column)
            failure = error_failure(err, f"summarising {cfg.type}", column, private=private)
        failure.detail = clip(failure.detail, DETAIL_CHARS)
        out.append(failure)
    return out


def _failure(cfg: Any, column: str | None, notes: str, r: Any, frame: pd.DataFrame, rows: int) -> Failure:
    error = _exception_message(r.exception_info)
    res = r.result or {}
    if column is not None and column not in frame.columns:
        return Failure(cfg.type, column, "column is missing from the batch", notes=notes)
    if error:
        return Failure(cfg.type, column, f"could not be evaluated: {clip(error)}", notes=notes)
    if "unexpected_count" in res:
        count = res.get("unexpected_count") or 0
        pct = 100.0 * count / rows if rows else 0.0
        sample = _sample(res.get("partial_unexpected_list") or [])
        return Failure(cfg.type, column, f"{count} of {rows} rows unexpected ({pct:.2f}%)", sample, notes)
    mismatch = (res.get("details") or {}).get("mismatched")
    if mismatch:
        detail = "; ".join(f"{kind} columns {cols}" for kind, cols in mismatch.items() if cols)
    else:
        expected = {k: v for k, v in cfg.kwargs.items() if k not in ("column", "batch_id")}
        detail = f"observed {_sample_value(res.get('observed_value'))}, expected {expected}"
    return Failure(cfg.type, column, detail, notes=notes)


def bound_result(result: Any) -> None:
    """Cut every result's values in place (strings to ``SAMPLE_CHARS``, lists to ``MAX_LIST``) before it is stored."""
    for r in result.results:
        for info in (r.result, r.exception_info):
            if isinstance(info, dict):
                for key in list(info):
                    info[key] = _bounded(info[key])


def _bounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:MAX_LIST]]
    return _sample_value(value)


def _sample_value(value: Any) -> Any:
    """A value as plain, bounded JSON-able data: numpy scalars as Python ones, anything else as a cut repr."""
    if isinstance(value, str | bytes | bytearray):
        return clip(value)
    if isinstance(value, float) and type(value) is not float:
        return float(value)  # numpy.float64 is a float subclass that GX's renderer rejects
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return str(value)
    size = getattr(value, "size", None)
    if hasattr(value, "item") and size == 1:
        return _sample_value(value.item())
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        return clip(repr(value.tolist() if hasattr(value, "tolist") else list(value)), SAMPLE_CHARS)
    return clip(repr(value))


def _sample(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        v = _sample_value(v)
        if v not in seen:
            seen.append(v)
        if len(seen) == SAMPLE_SIZE:
            break
    return seen


def data_docs_html(result: Any) -> str:
    """Render a validation result with GX's own Data Docs page renderer."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    for r in result.results:  # the renderer rejects numpy scalars in observed values
        if r.result and "observed_value" in r.result:
            r.result["observed_value"] = _sample_value(r.result["observed_value"])
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))


def _plain_report(spec: DatasetSpec, day: dt.date, result_id: str, failures: list[Failure]) -> str:
    return _plain_report_text(spec.name, day.isoformat(), failures, "refused")


def _plain_report_text(dataset: str, day: str, failures: list[Failure], why: str) -> str:
    """A report page of the failures alone: for a batch refused before the suite, or a GX page over the cap."""
    items = "".join(f"<li>{html.escape(f.line())}</li>" for f in failures)
    reason = (
        "The batch could not be read or broke a rule checked before the suite, so no expectation ran."
        if why == "refused"
        else "The full Data Docs page was over the report size cap; the failures are listed here."
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(dataset)} {html.escape(day)}</title></head><body>"
        f"<h1>Validation failed: {html.escape(dataset)} {html.escape(day)}</h1>"
        f"<p>{reason}</p><ul>{items}</ul></body></html>"
    )
