"""Validate one raw partition with its Great Expectations suite; promote it or quarantine it.

Pass: the batch is written to ``validated/<dataset>/date=.../`` (typed Parquet, atomic commit) and
the outcome carries the lineage for the validated Asset event.

Fail: the batch is copied to ``quarantine/<dataset>/date=.../<result id>/`` with the GX result JSON
and the Data Docs HTML beside it; the raw partition stays where it is; the outcome's message names
every failed expectation, its column and sample offending values.

Either way a report (JSON + HTML) is kept under ``reports/validation/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from upath import UPath

from tradewind.data.ingest import QUARANTINE, RAW, VALIDATED, parse_day, partition_path
from tradewind.data.reader import UnreadableBatch, read_partition
from tradewind.data.spec import DatasetSpec
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
from tradewind.validation.suite import EARLIEST, LATEST, load_suite_dict

log = logging.getLogger(__name__)

REPORTS = "reports/validation"
SAMPLE_SIZE = 5


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
        return f"{self.expectation}{where}{why}: {self.detail}{sample}"


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
    gx_result: dict[str, Any] | None = None
    report_html: str
    frame: pd.DataFrame | None = None
    try:
        frame = read_partition(spec, raw, manifest)
    except UnreadableBatch as err:
        failures = [Failure("readable", None, err.reason, notes=f"file {err.file}")]
        evaluated = 1
        report_html = _plain_report(spec, day, result_id, failures)
    else:
        result = run_suite(spec, suite, frame, day)
        gx_result = result.to_json_dict()
        failures = failures_of(result, frame)
        evaluated = len(result.results)
        report_html = data_docs_html(result)
    success = not failures
    lineage = {
        **(raw_lineage or {}),
        "dataset": spec.name,
        "partition_date": day.isoformat(),
        "raw_partition_uri": uri(raw),
        "content_hash": manifest.content_hash,
        "row_count": manifest.row_count if frame is None else len(frame),
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
        "evaluated": evaluated,
        "failures": [asdict(f) for f in failures],
        "lineage": lineage,
        "validated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "gx_result": gx_result,
    }
    report_dir = root / REPORTS / spec.name / f"date={day}" / result_id
    _write_report(report_dir, record, report_html)
    outcome = ValidationOutcome(
        success=success,
        result_id=result_id,
        dataset=spec.name,
        partition_date=day.isoformat(),
        suite=suite["name"],
        evaluated=evaluated,
        failures=failures,
        report_uri=uri(report_dir / "data_docs.html"),
    )
    if success:
        assert frame is not None
        validated = partition_path(root, VALIDATED, spec.name, day)
        writer = PartitionWriter(validated, "parquet")
        with writer.open_part(rows=len(frame)) as fh:
            frame.to_parquet(fh, index=False, compression="zstd")
        vman = writer.commit(
            dataset=spec.name,
            partition_date=day.isoformat(),
            schema_version=spec.schema_version,
            extra={"validation_result_id": result_id, "raw_content_hash": manifest.content_hash},
        )
        outcome.validated_uri = uri(validated)
        lineage.update(partition_uri=uri(validated), validated_content_hash=vman.content_hash)
    else:
        qdir = root / QUARANTINE / spec.name / f"date={day}" / result_id
        for f in [*manifest.files]:
            copy_file(raw / f.name, qdir / f.name)
        copy_file(raw / MANIFEST, qdir / MANIFEST)
        _write_report(qdir, record, report_html)
        outcome.quarantine_uri = uri(qdir)
        lineage.update(quarantine_uri=uri(qdir))
    lineage["report_uri"] = outcome.report_uri
    outcome.lineage = lineage
    log.info("%s (%.1fs)", outcome.message(), time.monotonic() - started)
    return outcome


def _write_report(directory: UPath, record: dict[str, Any], report_html: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "validation_result.json", json.dumps(record, indent=2, default=str))
    atomic_write_text(directory / "data_docs.html", report_html)


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


def failures_of(result: Any, frame: pd.DataFrame) -> list[Failure]:
    """One readable line of facts per failed expectation."""
    out: list[Failure] = []
    rows = len(frame)
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        column = cfg.kwargs.get("column")
        notes = (cfg.meta or {}).get("notes", "")
        error = _exception_message(r.exception_info)
        res = r.result or {}
        if column is not None and column not in frame.columns:
            out.append(Failure(cfg.type, column, "column is missing from the batch", notes=notes))
        elif error:
            out.append(Failure(cfg.type, column, f"could not be evaluated: {error}", notes=notes))
        elif "unexpected_count" in res:
            count = res.get("unexpected_count") or 0
            pct = 100.0 * count / rows if rows else 0.0
            sample = _sample(res.get("partial_unexpected_list") or [])
            out.append(Failure(cfg.type, column, f"{count} of {rows} rows unexpected ({pct:.2f}%)", sample, notes))
        else:
            mismatch = (res.get("details") or {}).get("mismatched")
            if mismatch:
                detail = "; ".join(f"{kind} columns {cols}" for kind, cols in mismatch.items() if cols)
            else:
                expected = {k: v for k, v in cfg.kwargs.items() if k not in ("column", "batch_id")}
                detail = f"observed {_plain(res.get('observed_value'))}, expected {expected}"
            out.append(Failure(cfg.type, column, detail, notes=notes))
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _sample(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        v = _plain(v)
        v = str(v) if isinstance(v, dt.datetime | pd.Timestamp) else v
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
            r.result["observed_value"] = _plain(r.result["observed_value"])
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))


def _plain_report(spec: DatasetSpec, day: dt.date, result_id: str, failures: list[Failure]) -> str:
    items = "".join(f"<li>{html.escape(f.line())}</li>" for f in failures)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(result_id)}</title></head><body>"
        f"<h1>Validation failed: {html.escape(spec.name)} {day}</h1>"
        "<p>The batch could not be read, so no expectation could run.</p>"
        f"<ul>{items}</ul></body></html>"
    )
