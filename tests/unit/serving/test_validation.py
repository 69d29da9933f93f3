"""Bad input is a 4xx that names the instance, the field and the reason; never a 500."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.unit.serving.conftest import Registry, records
from tradewind.data.spec import ColumnType, DatasetSpec
from tradewind.registry.loading import SignatureInput
from tradewind.serving import validation
from tradewind.serving.validation import RequestInvalid, RequestValidator, parse_instances

pytestmark = pytest.mark.unit


def _broken(rows: pd.DataFrame, index: int, field: str, value: Any) -> dict[str, Any]:
    instances = records(rows)
    if value is _DROP:
        del instances[index][field]
    else:
        instances[index][field] = value
    return {"instances": instances}


_DROP = object()

CASES = [
    # (field, bad value, error type, words in the message)
    ("amount", _DROP, "missing", "Field required"),
    ("event_time", _DROP, "missing", "Field required"),
    ("amount", "12.5", "float_type", "should be a number, got string"),
    ("amount", True, "float_type", "should be a number, got boolean"),
    ("amount", [1], "float_type", "got array"),
    ("amount", None, "null_forbidden", "should not be null"),
    ("amount", -0.01, "greater_than_equal", ">= 0"),
    ("amount", 50000.5, "less_than_equal", "<= 50000"),
    ("customer_age_days", 2.5, "int_from_float", "should be an integer"),
    ("customer_age_days", "3", "int_type", "should be an integer, got string"),
    ("customer_txn_count_30d", 10**30, "int_parsing_size", "64-bit"),
    ("card_present", 1, "bool_type", "should be a boolean, got integer"),
    ("card_present", "true", "bool_type", "got string"),
    ("merchant_category", 7, "string_type", "should be a string, got integer"),
    ("merchant_category", None, "null_forbidden", "should not be null"),
    ("event_time", "yesterday", "datetime_parsing", "ISO 8601"),
    ("event_time", 1767571200, "string_type", "date-time string, got integer"),
    ("customer_id", "abc", "int_type", "should be an integer"),  # optional, but checked when present
    ("customer_id", None, "null_forbidden", "should not be null"),  # optional: left out, not null (fuzz)
]


@pytest.mark.parametrize(("field", "value", "kind", "words"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_a_bad_field_is_a_422_naming_index_field_and_reason(
    serve, champion_only: Registry, raw_rows: pd.DataFrame, field: str, value: Any, kind: str, words: str
) -> None:
    client = serve()
    response = client.post("/predict", json=_broken(raw_rows.head(6), 4, field, value))
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "instances", 4, field]
    assert detail["type"] == kind
    assert words in detail["msg"]


def test_non_finite_numbers_are_rejected(serve, champion_only: Registry, raw_rows: pd.DataFrame):
    # Python's json module (and many clients) write NaN and Infinity; JSON has neither.
    instances = records(raw_rows.head(3))
    instances[1]["distance_from_home_km"] = float("nan")
    body = json.dumps({"instances": instances}).encode()
    assert b"NaN" in body
    response = serve().post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instances", 1, "distance_from_home_km"]
    assert response.json()["detail"][0]["type"] == "finite_number"


def test_errors_come_in_instance_order_one_per_bad_field(serve, champion_only: Registry, raw_rows):
    instances = records(raw_rows.head(10))
    instances[7]["amount"] = "x"
    instances[2]["device"] = None
    instances[2]["card_present"] = 0
    instances[9].pop("country")
    response = serve().post("/predict", json={"instances": instances})
    assert [d["loc"][2:] for d in response.json()["detail"]] == [
        [2, "device"],
        [2, "card_present"],
        [7, "amount"],
        [9, "country"],
    ]


@pytest.mark.parametrize(
    ("body", "where", "kind"),
    [
        (b"{", ["body"], "json_invalid"),
        (b"", ["body"], "json_invalid"),
        (b"\xff\xfe\x00garbage", ["body"], "json_invalid"),
        (b"[" * 100_000, ["body"], "json_invalid"),
        (b"[]", ["body"], "model_attributes_type"),
        (b'"instances"', ["body"], "model_attributes_type"),
        (b'{"inputs": []}', ["body", "instances"], "missing"),
        (b'{"instances": {"amount": 1}}', ["body", "instances"], "list_type"),
        (b'{"instances": []}', ["body", "instances"], "too_short"),
        (b'{"instances": [1, 2]}', ["body", "instances", 0], "model_attributes_type"),
        (b'{"instances": [{}]}', ["body", "instances", 0, "event_time"], "missing"),
    ],
    ids=[
        "truncated",
        "empty",
        "not-utf8",
        "deeply-nested",
        "a-list",
        "a-string",
        "no-instances",
        "instances-object",
        "no-rows",
        "rows-not-objects",
        "empty-row",
    ],
)
def test_a_malformed_body_is_a_422(serve, champion_only: Registry, body: bytes, where: list, kind: str):
    response = serve().post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where
    assert response.json()["detail"][0]["type"] == kind


def test_a_body_over_the_limit_is_413_by_length_and_by_bytes(serve, champion_only: Registry, raw_rows):
    client = serve(max_body_bytes=4000, max_batch_rows=10_000)
    small = json.dumps({"instances": records(raw_rows.head(5))}).encode()
    assert len(small) < 4000
    assert client.post("/predict", content=small).status_code == 200
    big = json.dumps({"instances": records(raw_rows.head(40))}).encode()
    assert len(big) > 4000
    by_length = client.post("/predict", content=big)
    assert by_length.status_code == 413
    assert "4000 bytes" in by_length.json()["detail"]

    def chunks():  # no Content-Length: the bytes are counted as they arrive
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    by_bytes = client.post("/predict", content=chunks())
    assert by_bytes.status_code == 413
    assert "4000 bytes" in by_bytes.json()["detail"]


def test_more_rows_than_the_batch_limit_is_413(serve, champion_only: Registry, raw_rows):
    client = serve(max_batch_rows=25)
    assert client.post("/predict", json={"instances": records(raw_rows.head(25))}).status_code == 200
    response = client.post("/predict", json={"instances": records(raw_rows.head(26))})
    assert response.status_code == 413
    assert response.json() == {"detail": "26 instances in one request; the limit is 25"}


def test_extra_fields_and_the_label_are_ignored(serve, champion_only: Registry, raw_rows):
    instances = json.loads(raw_rows.head(2).to_json(orient="records", date_format="iso"))  # label included
    instances[0]["note"] = {"free": "form"}
    assert serve().post("/predict", json={"instances": instances}).status_code == 200


# -- the validator on its own: spec types and the signature ------------------------------------
def test_signature_inputs_the_spec_does_not_describe_are_required_and_typed(shipped_spec: DatasetSpec, raw_rows):
    signature = [SignatureInput("amount", "double"), SignatureInput("merchant_risk", "double")]
    validator = RequestValidator(shipped_spec, signature)
    assert "merchant_risk" in validator.required
    instances = records(raw_rows.head(3))
    with pytest.raises(RequestInvalid) as missing:
        validator.validate(instances)
    assert missing.value.errors[0]["loc"] == ["body", "instances", 0, "merchant_risk"]
    for i, inst in enumerate(instances):
        inst["merchant_risk"] = 0.5 if i != 2 else "high"
    with pytest.raises(RequestInvalid) as typed:
        validator.validate(instances)
    assert typed.value.errors[0]["loc"] == ["body", "instances", 2, "merchant_risk"]
    instances[2]["merchant_risk"] = 0.9
    assert validator.validate(instances)["merchant_risk"].tolist() == [0.5, 0.5, 0.9]


def test_validated_frame_has_the_spec_types(shipped_spec: DatasetSpec, raw_rows):
    instances = records(raw_rows.head(4))
    instances[1]["customer_age_days"] = 12.0  # a whole number written as a float is an integer
    del instances[2]["customer_id"]  # optional: null for that row
    frame = RequestValidator(shipped_spec).validate(instances)
    assert str(frame["event_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["customer_age_days"].dtype == "int64"
    assert frame["customer_age_days"][1] == 12
    assert frame["card_present"].dtype == bool
    assert frame["customer_id"].isna().tolist() == [False, False, True, False]
    assert "is_fraud" not in frame.columns


def test_a_nullable_column_takes_nulls_but_not_nan(shipped_spec: DatasetSpec, raw_rows):
    data = shipped_spec.model_dump()
    data["columns"]["distance_from_home_km"]["nullable"] = True
    spec = DatasetSpec.model_validate(data)
    instances = records(raw_rows.head(3))
    instances[0]["distance_from_home_km"] = None
    frame = RequestValidator(spec).validate(instances)
    assert frame["distance_from_home_km"].isna().tolist() == [True, False, False]
    instances[1]["distance_from_home_km"] = float("nan")
    with pytest.raises(RequestInvalid, match=r"instances\.1\.distance_from_home_km: Input should be a finite"):
        RequestValidator(spec).validate(instances)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1678-01-01T00:00:00+14:00", True),  # 1677-12-31 in UTC: still in range
        ("2261-12-31T23:59:59-12:00", True),  # 2262-01-01 in UTC: still in range
        ("2026-01-05T12:00:00", True),  # naive: UTC
        ("0349-10-27T09:32:41Z", False),  # a date-time, but past what a timestamp holds (fuzz)
        ("1677-12-31T23:59:59Z", False),
        ("2262-01-01T00:00:00Z", False),
        ("9999-12-31T23:59:59Z", False),
    ],
)
def test_timestamps_are_the_years_the_schema_names(shipped_spec: DatasetSpec, raw_rows, value: str, ok: bool):
    validator = RequestValidator(shipped_spec)
    [rule] = [r for r in validator.rules if r.name == "event_time"]
    assert (re.match(rule.json_schema()["pattern"], value) is not None) is ok
    instances = records(raw_rows.head(2))
    instances[1]["event_time"] = value
    if ok:
        assert validator.validate(instances)["event_time"].notna().all()
    else:
        with pytest.raises(RequestInvalid) as bad:
            validator.validate(instances)
        assert bad.value.errors == [
            {
                "loc": ["body", "instances", 1, "event_time"],
                "msg": f"Input should be an ISO 8601 date-time in the years 1678 to 2261 (got {value!r})",
                "type": "datetime_parsing",
            }
        ]


def test_parse_instances_returns_the_list():
    assert parse_instances(b'{"instances": [{"a": 1}], "parameters": {}}') == [{"a": 1}]


# -- timestamps in the common form are read without pandas: the same values, the same refusals --
def _timestamp_texts(rng: np.random.Generator, count: int) -> list[str]:
    """Texts in and around the form ``YYYY-MM-DDTHH:MM:SS[.fffffffff][Z|+HH:MM]``: valid ones, and
    every part a little out of range or spelled another way."""
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    out = []
    for _ in range(count):
        year = pick(["1677", "1678", "1900", "1969", "1970", "2000", "2024", "2026", "2100", "2261", "2262", "0001"])
        month = pick([f"{m:02d}" for m in range(14)] + ["1"])
        day = pick([f"{d:02d}" for d in range(33)] + ["7"])
        hour, minute, second = (pick([f"{v:02d}" for v in range(top)]) for top in (26, 62, 62))
        fraction = pick(["", "", ".5", ".123", ".123456", ".1234567", ".123456789", ".1234567891", ".", ".000001"])
        zone = pick(["", "", "Z", "Z", "z", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59", "-23:59", "+24:00",
                     "+14:60", "+0530", "+05", " Z", "+5:30"])  # fmt: skip
        separator = pick(["T", "T", "T", " ", "t", "_"])
        if rng.random() < 0.5:  # mostly plausible values, so the fast form is exercised on valid ones
            month, day, hour, minute, second = (f"{int(rng.integers(lo, hi)):02d}" for lo, hi in
                                                ((1, 13), (1, 29), (0, 24), (0, 60), (0, 60)))  # fmt: skip
        out.append(f"{year}-{month}-{day}{separator}{hour}:{minute}:{second}{fraction}{zone}")
    out += ["2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "1678-01-01T00:00:00+23:59", "2261-12-31T23:59:59-23:59"]
    out += ["2026-01-09T10:11:12", "2026-01-09 10:11:12.5-01:00", "٢٠٢٦-01-09T10:11:12Z", "2026-01-09T10:11:12Z\n"]
    return out


def _outcome(parse: Any, values: list[str]) -> Any:
    try:
        parsed = parse(values, False)
    except validation._Bad as bad:
        return ("refused", bad.index, bad.args)
    return (str(parsed.dtype), parsed.asi8.tolist())


def test_common_timestamps_read_as_pandas_reads_them():
    rng = np.random.default_rng(11)
    texts = _timestamp_texts(rng, 3000)
    fast = sum(validation._common_timestamp(t) is not None for t in texts)
    assert fast > 400  # the comparison covers the form itself, not only the fallback
    for text in texts:  # one at a time: each value's own outcome
        assert _outcome(validation._timestamps, [text]) == _outcome(validation._parse_timestamps, [text]), text
    for start in range(0, len(texts), 50):  # and in columns, where one odd value sends all to pandas
        column = texts[start : start + 50]
        assert _outcome(validation._timestamps, column) == _outcome(validation._parse_timestamps, column)


def test_validated_columns_are_the_frame(shipped_spec: DatasetSpec, raw_rows):
    validator = RequestValidator(shipped_spec)
    instances = records(raw_rows.head(9))
    batch = validator.validate_columns(instances)
    frame = validator.validate(instances)
    assert len(batch) == 9
    assert list(batch) == list(frame.columns)
    pd.testing.assert_frame_equal(batch.to_frame(), frame)
    assert str(frame["event_time"].dtype) == "datetime64[ns, UTC]"


def _numbers_outcome(check: Any, rule: Any, values: list[Any]) -> Any:
    try:
        out = check(rule, values, False)
    except validation._Bad as bad:
        return ("refused", bad.index, bad.args)
    return (out.dtype.str, out.tobytes())


def test_plain_numbers_are_judged_as_the_numpy_checks_judge_them():
    """The per-value shortcut accepts exactly what the numpy checks accept, with the same array."""
    rng = np.random.default_rng(3)
    edges = [0, 1, -1, 0.5, -0.0, 2**53 - 1, 2**53, 2**53 + 1, -(2**53), 2**63 - 1, 2**63, -(2**63), 10**400, 1e308]
    edges += [float("nan"), float("inf"), -float("inf"), 50000, 50000.0, 50000.5, 20000, 20001, 1e-320, 3.0, 7.25]
    rules = [
        validation.FieldRule("x", kind, True, False, low, high)
        for kind in (ColumnType.numeric, ColumnType.integer)
        for low, high in ((None, None), (0.0, 50000.0), (0, 20000), (-5.5, None), (None, 2.0**60))
    ]
    accepted = 0
    for _ in range(4000):
        rule = rules[int(rng.integers(len(rules)))]
        size = int(rng.integers(1, 5))
        values = [
            edges[int(rng.integers(len(edges)))]
            if rng.random() < 0.5
            else float(rng.normal(0, 10 ** rng.integers(0, 6)))
            for _ in range(size)
        ]
        values = [int(v) if rng.random() < 0.3 and isinstance(v, float) and math.isfinite(v) else v for v in values]
        fast = _numbers_outcome(validation._numbers, rule, values)
        assert fast == _numbers_outcome(validation._checked_numbers, rule, values), (rule, values)
        accepted += fast[0] != "refused"
    assert accepted > 1000
