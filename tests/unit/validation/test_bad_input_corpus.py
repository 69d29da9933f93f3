"""The bad-input corpus: malformed batches arrive as user files and every one is caught and quarantined.

Each case lands its files through a ``files`` source (copied byte for byte), validates the day, and
checks what a user relies on: the day fails, the quarantine holds every file exactly as received
with the GX result and Data Docs beside it, the raw partition is kept, nothing reaches validated/,
and the message names the failed expectation, its column and sample offending values.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pytest
from upath import UPath

from tests.unit.helpers import DAY, inbox_dir, local, sha256
from tradewind.data.checks import CONTROL
from tradewind.data.corruption import corrupt
from tradewind.data.ingest import RAW, VALIDATED, ingest_partition, partition_path
from tradewind.data.spec import DatasetSpec, TimestampRule
from tradewind.data.synthetic import generate_day
from tradewind.storage import MANIFEST, read_manifest
from tradewind.validation.runner import REPORT_CAP, REPORT_LOCATION, REPORTS, validate_partition

pytestmark = pytest.mark.unit

REPORT_FILES = {MANIFEST, "validation_result.json", "data_docs.html"}


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return generate_day(DAY, rows_per_day=2000)


# -- encoders: a frame as the bytes a user would send ------------------------------------------------


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    return frame.to_csv(index=False).encode(encoding)


def encode(fmt: str, frame: pd.DataFrame) -> bytes:
    return parquet_bytes(frame) if fmt == "parquet" else csv_bytes(frame)


# -- the corpus ----------------------------------------------------------------------------------------

Files = dict[str, bytes]
Build = Callable[[pd.DataFrame, DatasetSpec], tuple[Files, list[str]]]


@dataclass(frozen=True)
class Case:
    id: str
    fmt: str
    expectation: str  # GX expectation type, "readable" for files that cannot be parsed, or a check's name
    column: str | None
    build: Build  # the user's files, and the fragments (e.g. sample values) the message must show
    timestamps: dict | None = None  # the spec's time rule, when not the default


def corrupted(name: str, fragments: Callable[[pd.DataFrame], list[str]] = lambda _: []) -> Build:
    """Files of a clean day broken by the named corruption (the fragments may quote its values)."""

    def build(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[Files, list[str]]:
        out = corrupt(frame, spec, [name])
        return {f"batch.{spec.source.files.format}": encode(spec.source.files.format, out)}, fragments(out)

    return build


def edited(edit: Callable[[pd.DataFrame], pd.DataFrame], fragments: Callable[[pd.DataFrame], list[str]]) -> Build:
    def build(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[Files, list[str]]:
        out = edit(frame.copy())
        return {f"batch.{spec.source.files.format}": encode(spec.source.files.format, out)}, fragments(out)

    return build


def raw_files(make: Callable[[pd.DataFrame], Files], fragments: list[str]) -> Build:
    return lambda frame, spec: (make(frame), fragments)


def _decimal_comma(df: pd.DataFrame) -> pd.DataFrame:
    df["amount"] = df["amount"].astype(object)
    df.loc[::30, "amount"] = [f"{v:.2f}".replace(".", ",") for v in df.loc[::30, "amount"]]
    return df


def _blank_customer(df: pd.DataFrame) -> pd.DataFrame:
    df["customer_id"] = df["customer_id"].astype("float64")
    df.loc[::40, "customer_id"] = None
    return df


def _bad_timestamps(df: pd.DataFrame) -> pd.DataFrame:
    df["event_time"] = df["event_time"].astype(str)
    df.loc[::50, "event_time"] = "yesterday"
    return df


def _yes_no(df: pd.DataFrame) -> pd.DataFrame:
    df["card_present"] = df["card_present"].map({True: "yes", False: "no"})
    return df


def _accented(df: pd.DataFrame) -> pd.DataFrame:
    df["merchant_category"] = df["merchant_category"].astype(object)
    df.loc[::50, "merchant_category"] = "épicerie"
    return df


def _truncated(frame: pd.DataFrame) -> Files:
    data = parquet_bytes(frame)
    return {"batch.parquet": data[: len(data) // 2]}


def _one_good_one_truncated(frame: pd.DataFrame) -> Files:
    half = len(frame) // 2
    broken = parquet_bytes(frame.iloc[half:])
    return {"a-morning.parquet": parquet_bytes(frame.iloc[:half]), "b-evening.parquet": broken[: len(broken) // 2]}


def _first_negative(df: pd.DataFrame) -> list[str]:
    return [str(df.loc[df["amount"] < 0, "amount"].iloc[0])]


def _duplicated_id(df: pd.DataFrame) -> list[str]:
    return [str(df.loc[df["transaction_id"].duplicated(), "transaction_id"].iloc[0])]


def _with(
    column: str, values: Callable[[pd.DataFrame], list], every: int = 97
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A frame whose ``column`` holds ``values`` on every ``every``-th row (as text where needed)."""

    def edit(df: pd.DataFrame) -> pd.DataFrame:
        new = values(df)
        df[column] = df[column].astype(object)
        rows = df.index[::every][: len(new)] if len(new) > 1 else df.index[::every]
        for i, row in enumerate(rows):
            df.at[row, column] = new[i % len(new)]
        return df

    return edit


def _offsets(df: pd.DataFrame, offset: str) -> pd.DataFrame:
    df["event_time"] = df["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    df.loc[1::2, "event_time"] = (
        pd.to_datetime(df.loc[1::2, "event_time"])
        .dt.tz_localize("UTC")
        .dt.tz_convert(offset)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    return df


def _two_offsets(df: pd.DataFrame) -> pd.DataFrame:
    utc = df["event_time"].dt.tz_localize("UTC")
    df["event_time"] = utc.dt.tz_convert("Europe/Berlin").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    df.loc[::3, "event_time"] = utc[::3].dt.tz_convert("Asia/Kolkata").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return df


def _zoned_and_naive_files(frame: pd.DataFrame) -> Files:
    half = len(frame) // 2
    zoned = frame.iloc[:half].copy()
    zoned["event_time"] = zoned["event_time"].dt.tz_localize("UTC")
    return {"a.parquet": parquet_bytes(zoned), "b.parquet": parquet_bytes(frame.iloc[half:])}


def _zoned_parquet(df: pd.DataFrame) -> pd.DataFrame:
    df["event_time"] = df["event_time"].dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin")
    return df


def _lists(df: pd.DataFrame) -> pd.DataFrame:
    df["customer_age_days"] = [[int(v), 1] for v in df["customer_age_days"]]
    return df


def _structs(df: pd.DataFrame) -> pd.DataFrame:
    df["device"] = [{"kind": v} for v in df["device"]]
    return df


def _binary_text(df: pd.DataFrame) -> pd.DataFrame:
    df["merchant_category"] = [v.encode() for v in df["merchant_category"]]
    df.at[df.index[3], "merchant_category"] = b"gro\xffcery"
    return df


def _huge_category(df: pd.DataFrame) -> pd.DataFrame:
    df["merchant_category"] = df["merchant_category"].astype(object)
    df.at[df.index[0], "merchant_category"] = "x" * 5_000_000
    return df


def _text_csv(edit: Callable[[str], str], fragments: list[str]) -> Build:
    def build(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[Files, list[str]]:
        return {"batch.csv": edit(frame.to_csv(index=False)).encode()}, fragments

    return build


def _nul_label(text: str) -> str:
    head, first, rest = text.split("\n", 2)
    return "\n".join([head, first[: first.rindex(",") + 1] + "0\x00\x00garbage\x00", rest])


CASES = [
    Case(
        "wrong_types_parquet",
        "parquet",
        "expect_column_values_to_be_in_type_list",
        "amount",
        corrupted("wrong_types", lambda _: ["'n/a'"]),
    ),
    Case(
        "decimal_comma_csv",
        "csv",
        "expect_column_values_to_be_in_type_list",
        "amount",
        edited(_decimal_comma, lambda df: [repr(df.loc[0, "amount"])]),
    ),
    Case(
        "missing_column_parquet",
        "parquet",
        "expect_table_columns_to_match_set",
        None,
        corrupted("missing_column", lambda _: ["missing columns ['amount']", "on 'amount'"]),
    ),
    Case(
        "extra_column_csv",
        "csv",
        "expect_table_columns_to_match_set",
        None,
        corrupted("extra_column", lambda _: ["unexpected columns ['unexpected_field']"]),
    ),
    Case(
        "null_required_parquet",
        "parquet",
        "expect_column_values_to_not_be_null",
        "merchant_category",
        corrupted("null_required", lambda df: [f"{df['merchant_category'].isna().sum()} of {len(df)} rows"]),
    ),
    Case(
        "null_integer_csv",
        "csv",
        "expect_column_values_to_not_be_null",
        "customer_id",
        edited(
            _blank_customer, lambda _: ["expect_column_values_to_be_in_type_list on 'customer_id'", "observed float64"]
        ),
    ),
    Case(
        "negative_amounts_csv",
        "csv",
        "expect_column_values_to_be_between",
        "amount",
        corrupted("negative_amounts", _first_negative),
    ),
    Case(
        "unknown_category_parquet",
        "parquet",
        "expect_column_values_to_be_in_set",
        "merchant_category",
        corrupted("unknown_category", lambda _: ["'teleportation'"]),
    ),
    Case(
        "duplicate_ids_csv",
        "csv",
        "expect_column_values_to_be_unique",
        "transaction_id",
        corrupted("duplicate_ids", _duplicated_id),
    ),
    Case(
        "wrong_date_parquet",
        "parquet",
        "expect_column_values_to_be_between",
        "event_time",
        corrupted("wrong_date", lambda df: ["freshness", str(df["event_time"].iloc[0])]),
    ),
    Case(
        "label_rate_csv",
        "csv",
        "expect_column_mean_to_be_between",
        "is_fraud",
        corrupted("label_rate", lambda df: ["label rate", f"observed {df['is_fraud'].mean()}"]),
    ),
    Case(
        "no_rows_parquet",
        "parquet",
        "expect_table_row_count_to_be_between",
        None,
        corrupted("empty", lambda _: ["observed 0"]),
    ),
    Case(
        "too_few_rows_csv",
        "csv",
        "expect_table_row_count_to_be_between",
        None,
        edited(lambda df: df.iloc[:100], lambda _: ["observed 100", "'min_value': 1000"]),
    ),
    Case(
        "unparseable_timestamps_csv",
        "csv",
        "expect_column_values_to_be_in_type_list",
        "event_time",
        edited(_bad_timestamps, lambda _: ["'yesterday'"]),
    ),
    Case(
        "yes_no_booleans_csv",
        "csv",
        "expect_column_values_to_be_in_type_list",
        "card_present",
        edited(_yes_no, lambda df: [repr(df.loc[0, "card_present"])]),
    ),
    Case(
        "zero_byte_csv",
        "csv",
        "readable",
        None,
        raw_files(lambda _: {"batch.csv": b""}, ["the file is empty (0 bytes)"]),
    ),
    Case("truncated_parquet", "parquet", "readable", None, raw_files(_truncated, ["not a readable Parquet file"])),
    Case(
        "latin1_csv",
        "csv",
        "readable",
        "merchant_category",
        raw_files(
            lambda f: {"batch.csv": csv_bytes(_accented(f.copy()), "latin-1")},
            ["not valid utf-8 text", "byte 0xe9", "line 2, column 'merchant_category'"],
        ),
    ),
    Case(
        "ragged_csv",
        "csv",
        "readable",
        None,
        raw_files(lambda _: {"batch.csv": b'transaction_id,amount\n1,"2.5\n3,4\n'}, ["not a readable CSV file"]),
    ),
    Case(
        "one_of_two_files_truncated_parquet",
        "parquet",
        "readable",
        None,
        raw_files(_one_good_one_truncated, ["not a readable Parquet file"]),
    ),
    Case(
        "naive_and_offsets_mixed_csv",
        "csv",
        "timestamp_rule",
        "event_time",
        edited(
            lambda df: _offsets(df, "America/Los_Angeles"),
            lambda _: ["mixes 920 naive value(s) with 920", "lines 2, 4, 6"],
        ),
    ),
    Case(
        "naive_and_zoned_files_parquet",
        "parquet",
        "timestamp_rule",
        "event_time",
        raw_files(_zoned_and_naive_files, ["mixes 920 naive value(s) with 920 value(s)", "rows 1, 2, 3"]),
    ),
    Case(
        "two_offsets_where_one_csv",
        "csv",
        "timestamp_rule",
        "event_time",
        edited(_two_offsets, lambda _: ["holds 2 offsets (+01:00, +05:30)", "offsets: one"]),
        {"offsets": "one"},
    ),
    Case(
        "offset_where_none_csv",
        "csv",
        "timestamp_rule",
        "event_time",
        edited(_two_offsets, lambda _: ["offsets: none"]),
        {"offsets": "none"},
    ),
    Case(
        "zoned_column_where_none_parquet",
        "parquet",
        "timestamp_rule",
        "event_time",
        edited(_zoned_parquet, lambda _: ["(Europe/Berlin)", "offsets: none"]),
        {"offsets": "none"},
    ),
    Case(
        "offset_strings_mixed_parquet",
        "parquet",
        "timestamp_rule",
        "event_time",
        edited(lambda df: _offsets(df, "Asia/Tokyo"), lambda _: ["mixes", "rows 1, 3, 5"]),
    ),
    Case(
        "nul_in_label_csv",
        "csv",
        "control_characters",
        "is_fraud",
        _text_csv(_nul_label, ["'0\\x00\\x00garbage\\x00'", "batch.csv (stored as part-", ".csv) line 2"]),
    ),
    Case(
        "escape_in_category_csv",
        "csv",
        "control_characters",
        "device",
        edited(_with("device", lambda _: ["atm\x1b[2J"]), lambda _: ["'atm\\x1b[2J'"]),
    ),
    Case(
        "nul_in_amount_csv",
        "csv",
        "control_characters",
        "amount",
        edited(_with("amount", lambda _: ["12.5\x00"]), lambda _: ["'12.5\\x00'"]),
    ),
    Case(
        "nul_in_category_parquet",
        "parquet",
        "control_characters",
        "merchant_category",
        edited(_with("merchant_category", lambda _: ["grocery\x00"]), lambda _: ["'grocery\\x00'"]),
    ),
    Case(
        "c1_control_in_text_parquet",
        "parquet",
        "control_characters",
        "country",
        edited(_with("country", lambda _: ["U\x85S"]), lambda _: ["'U\\x85S'"]),
    ),
    Case(
        "list_column_parquet",
        "parquet",
        "flat_columns",
        "customer_age_days",
        edited(_lists, lambda _: ["list<element: int64>", "one value per cell"]),
    ),
    Case(
        "struct_column_parquet",
        "parquet",
        "flat_columns",
        "device",
        edited(_structs, lambda _: ["struct<kind: string>"]),
    ),
    Case(
        "invalid_utf8_binary_parquet",
        "parquet",
        "text_encoding",
        "merchant_category",
        edited(_binary_text, lambda _: ["1 value(s) are not valid UTF-8", "row 4", "xffcery"]),
    ),
    Case(
        "huge_string_csv",
        "csv",
        "expect_column_values_to_be_in_set",
        "merchant_category",
        edited(_huge_category, lambda _: ["...(+4999800 chars)"]),
    ),
    Case(
        "huge_string_parquet",
        "parquet",
        "expect_column_values_to_be_in_set",
        "merchant_category",
        edited(_huge_category, lambda _: ["...(+4999800 chars)"]),
    ),
    Case(
        "mixed_types_id_csv",
        "csv",
        "expect_column_values_to_be_in_type_list",
        "transaction_id",
        edited(_with("transaction_id", lambda _: ["T-17"], every=500), lambda _: ["'T-17'"]),
    ),
    Case(
        "na_literal_category_csv",
        "csv",
        "expect_column_values_to_be_in_set",
        "country",
        edited(_with("country", lambda _: ["NA"]), lambda _: ["'NA'"]),
    ),
    Case(
        "padded_category_csv",
        "csv",
        "expect_column_values_to_be_in_set",
        "device",
        edited(_with("device", lambda _: [" atm"]), lambda _: ["' atm'"]),
    ),
    Case(
        "nan_and_inf_amounts_csv",
        "csv",
        "expect_column_values_to_be_in_type_list",
        "amount",
        edited(_with("amount", lambda _: ["NaN", "inf"]), lambda _: ["'NaN'"]),
    ),
    Case(
        "out_of_range_year_csv",
        "csv",
        "expect_column_values_to_be_in_type_list",
        "event_time",
        edited(_with("event_time", lambda _: ["2300-01-05T10:00:00"]), lambda _: ["'2300-01-05T10:00:00'"]),
    ),
    Case(
        "semicolon_delimited_csv",
        "csv",
        "delimiter",
        None,
        _text_csv(lambda t: t.replace(",", ";"), ["1 column read with delimiter ','; the header looks ';'-separated"]),
    ),
    Case(
        "duplicate_header_csv",
        "csv",
        "unique_columns",
        "device",
        _text_csv(lambda t: t.replace("amount", "device", 1), ["names this column 2 times"]),
    ),
    Case(
        "random_bytes_parquet",
        "parquet",
        "readable",
        None,
        raw_files(lambda _: {"batch.parquet": bytes(range(256)) * 40}, ["not a readable Parquet file"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_batch_is_quarantined_and_explained(case: Case, clean, files_spec, tmp_path):
    spec = files_spec(case.fmt)
    if case.timestamps:
        spec = spec.model_copy(update={"timestamps": TimestampRule(**case.timestamps)})
    files, fragments = case.build(clean, spec)
    inbox = inbox_dir(spec, DAY)
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(spec, root, DAY)

    outcome = validate_partition(spec, root, DAY)

    assert outcome.success is False
    message = outcome.message()
    # The message names the expectation and its column, with the facts (sample values, observed values).
    where = f"{case.expectation} on '{case.column}'" if case.column else f"  - {case.expectation}"
    assert where in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert (case.expectation, case.column) in {(f.expectation, f.column) for f in outcome.failures}
    # Bounded and printable: no control character, no sample longer than the cut.
    assert len(message) < 20_000
    assert CONTROL.search(message) is None
    # The quarantine holds every file as received, with the GX result and Data Docs.
    quarantine = local(outcome.quarantine_uri)
    assert f"/quarantine/{spec.name}/date={DAY}/" in outcome.quarantine_uri
    held = {p.name: p.read_bytes() for p in quarantine.iterdir()}
    assert REPORT_FILES <= set(held)
    assert sorted(sha256(b) for n, b in held.items() if n not in REPORT_FILES) == sorted(
        sha256(b) for b in files.values()
    )
    assert "<html" in held["data_docs.html"].decode("utf-8")
    assert max(len(held["data_docs.html"]), len(held["validation_result.json"])) <= REPORT_CAP
    # The report is written once, beside the batch; the reports zone points at it.
    report_dir = root / REPORTS / spec.name / f"date={DAY}" / outcome.result_id
    assert [p.name for p in report_dir.iterdir()] == [REPORT_LOCATION]
    assert json.loads((report_dir / REPORT_LOCATION).read_text())["report_uri"] == outcome.report_uri
    record = json.loads(held["validation_result.json"])
    assert record["success"] is False
    assert {(f["expectation"], f["column"]) for f in record["failures"]} >= {(case.expectation, case.column)}
    # The raw partition is kept as it was; nothing was promoted.
    raw = partition_path(root, RAW, spec.name, DAY)
    manifest = read_manifest(raw)
    assert manifest is not None
    assert sorted(f.sha256 for f in manifest.files) == sorted(sha256(b) for b in files.values())
    assert all((raw / f.name).exists() for f in manifest.files)
    validated = partition_path(root, VALIDATED, spec.name, DAY)
    assert read_manifest(validated) is None
    assert outcome.validated_uri is None


def test_corpus_covers_both_formats_and_unreadable_files():
    assert len(CASES) >= 40
    assert {c.fmt for c in CASES} == {"csv", "parquet"}
    for check in ("timestamp_rule", "control_characters"):
        assert {c.fmt for c in CASES if c.expectation == check} == {"csv", "parquet"}
    assert {c.expectation for c in CASES} >= {
        "readable",
        "timestamp_rule",
        "control_characters",
        "flat_columns",
        "text_encoding",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_unique",
        "expect_column_mean_to_be_between",
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_clean_user_files_pass_with_their_types(fmt, clean, files_spec, tmp_path):
    spec = files_spec(fmt)
    half = len(clean) // 2
    inbox = inbox_dir(spec, DAY)
    (inbox / f"a.{fmt}").write_bytes(encode(fmt, clean.iloc[:half]))
    (inbox / f"b.{fmt}").write_bytes(encode(fmt, clean.iloc[half:]))
    root = UPath(f"file://{tmp_path}/lake")
    lineage = ingest_partition(spec, root, DAY)
    assert lineage["row_count"] == len(clean)

    outcome = validate_partition(spec, root, DAY, raw_lineage=lineage)

    assert outcome.success, outcome.message()
    validated = partition_path(root, VALIDATED, spec.name, DAY)
    manifest = read_manifest(validated)
    assert manifest.row_count == len(clean)
    frame = pd.read_parquet(local(str(validated)) / manifest.files[0].name)
    assert frame["event_time"].dtype.kind == "M"
    assert frame["card_present"].dtype == bool
    assert frame["amount"].dtype == "float64"
    assert frame["is_fraud"].dtype == "int64"
    expected = clean.copy()
    for name in ("merchant_category", "country", "device"):
        expected[name] = expected[name].astype(object)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert outcome.lineage["partition_uri"] == str(validated)


def test_zoned_csv_timestamps_are_read_as_utc(clean, files_spec, tmp_path):
    """A user in Berlin sends local times with offsets: the same instants, so the day passes."""
    spec = files_spec("csv")
    sent = clean.copy()
    sent["event_time"] = sent["event_time"].dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin")
    (inbox_dir(spec, DAY) / "batch.csv").write_bytes(csv_bytes(sent))
    root = UPath(f"file://{tmp_path}/lake")
    ingest_partition(spec, root, DAY)
    outcome = validate_partition(spec, root, DAY)
    assert outcome.success, outcome.message()
    manifest = read_manifest(partition_path(root, VALIDATED, spec.name, DAY))
    frame = pd.read_parquet(local(outcome.validated_uri) / manifest.files[0].name)
    pd.testing.assert_series_equal(frame["event_time"], clean["event_time"], check_dtype=False)
