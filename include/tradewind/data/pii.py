"""Personal data kept beyond the lake: hashed with a key, or left out, as the spec says.

A column marked ``pii: hash`` (or ``pii: true``) in its data set's spec is replaced, wherever
records are kept outside the lake's raw and validated zones (the inference log, drift and validation
reports, the reference sample stored with a model), by a keyed hash of each value: HMAC-SHA256 of the
value's text, the first :data:`DIGEST_CHARS` hex characters. Equal values keep equal hashes under one
key, so records can still be counted and joined; nobody without the key can tell the value from its
hash or test a guess. A column marked ``pii: drop`` is left out. Nulls stay null.

The key is the environment variable :data:`PII_KEY_ENV` (set it on the model server and the Airflow
workers and pods, e.g. from a secrets backend, an Airflow Variable or a Kubernetes Secret). A spec
with a ``hash`` column and no key is refused (:class:`PiiKeyMissing`) rather than keeping the values
in the clear. :func:`redact` (pandas) and :func:`redact_table` (Arrow) are the one way to apply it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any, Final

import pandas as pd
import pyarrow as pa

from tradewind.config import ConfigError
from tradewind.data.spec import DatasetSpec

PII_KEY_ENV: Final = "TRADEWIND_PII_KEY"
DIGEST_CHARS: Final = 32


class PiiKeyMissing(ConfigError):
    """A spec hashes a column and no key is set (a configuration error: stages exit 2)."""


def pii_columns(spec: DatasetSpec) -> dict[str, str]:
    """Every column the spec marks as personal data, with what is done to it (``hash`` or ``drop``)."""
    return {name: column.pii for name, column in spec.columns.items() if column.pii is not None}


def pii_key(spec: DatasetSpec | None = None) -> bytes:
    """The hashing key (:data:`PII_KEY_ENV`); raises :class:`PiiKeyMissing` when it is needed and not set."""
    key = os.environ.get(PII_KEY_ENV, "")
    if not key:
        name = f"{spec.name}: " if spec is not None else ""
        raise PiiKeyMissing(
            f"{name}a column is marked pii: hash, but {PII_KEY_ENV} is not set: set it to a secret key "
            "(the same everywhere records are hashed) or mark the column pii: drop"
        )
    return key.encode("utf-8")


def hash_value(value: Any, key: bytes) -> str | None:
    """The keyed hash of one value (``None`` stays ``None``)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an integer column with nulls reads as floats in pandas: 17.0 hashes as 17
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:DIGEST_CHARS]


def hash_values(values: Iterable[Any], key: bytes) -> list[str | None]:
    return [hash_value(v, key) for v in values]


def _key_for(spec: DatasetSpec, columns: dict[str, str], key: bytes | None) -> bytes | None:
    if key is not None or "hash" not in columns.values():
        return key
    return pii_key(spec)


def redact(frame: pd.DataFrame, spec: DatasetSpec, key: bytes | None = None) -> pd.DataFrame:
    """``frame`` with the spec's pii columns hashed or dropped (a copy; the same frame when it has none)."""
    columns = {c: how for c, how in pii_columns(spec).items() if c in frame.columns}
    if not columns:
        return frame
    key = _key_for(spec, columns, key)
    out = frame.drop(columns=[c for c, how in columns.items() if how == "drop"])
    for name, how in columns.items():
        if how == "hash" and key is not None:
            out[name] = pd.Series(hash_values(out[name].tolist(), key), index=out.index, dtype="object")
    out.attrs = dict(frame.attrs)
    return out


def redact_table(table: pa.Table, spec: DatasetSpec, key: bytes | None = None) -> pa.Table:
    """``table`` with the spec's pii columns hashed (as strings) or dropped."""
    columns = {c: how for c, how in pii_columns(spec).items() if c in table.column_names}
    if not columns:
        return table
    key = _key_for(spec, columns, key)
    for name, how in columns.items():
        if how == "drop":
            table = table.drop_columns([name])
        elif key is not None:
            hashed = pa.array(hash_values(table.column(name).to_pylist(), key), type=pa.string())
            table = table.set_column(table.column_names.index(name), pa.field(name, pa.string()), hashed)
    return table


def segment_values(frame: pd.DataFrame, spec: DatasetSpec, key: bytes | None = None) -> pd.Series | None:
    """The spec's segment column as per-segment metrics may name its values (metric names and the
    gate's reasons are kept in MLflow): hashed when it is ``pii: hash``, ``None`` (no per-segment
    metrics) when it is ``pii: drop`` or the spec has no segment."""
    if not spec.segment:
        return None
    how = pii_columns(spec).get(spec.segment)
    if how is None:
        return frame[spec.segment]
    if how == "drop":
        return None
    return redact(frame[[spec.segment]], spec, key)[spec.segment]


def redacted_schema(schema: pa.Schema, spec: DatasetSpec) -> pa.Schema:
    """``schema`` as :func:`redact_table` leaves it: hashed columns are strings, dropped ones gone."""
    columns = pii_columns(spec)
    fields = [
        pa.field(f.name, pa.string()) if columns.get(f.name) == "hash" else f
        for f in schema
        if columns.get(f.name) != "drop"
    ]
    return pa.schema(fields, metadata=schema.metadata)
