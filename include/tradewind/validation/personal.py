"""Personal data in validation reports: a pii column's values are shown as keyed hashes, or not at all.

A failure on a column the spec marks ``pii: hash`` (or ``true``) shows its sample values as their keyed
hash (:func:`tradewind.data.pii.hash_value`, the hash the inference log keeps for the same value); one on
a ``pii: drop`` column shows no values, and says so. The same goes for the stored GX result (and so for
the Data Docs page rendered from it): the unexpected values, their counts, the observed value, the
details and any error text of an expectation on a pii column. Without :data:`~tradewind.data.pii.PII_KEY_ENV`
a hashed column's values are withheld too (a report is never refused for want of the key). Errors
raised while checking a batch of such a spec keep their type and place but not their text, which may
quote a value (for example ``could not convert string to float: '...'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from tradewind.data.pii import PII_KEY_ENV, hash_value, pii_columns
from tradewind.data.spec import DatasetSpec

HASHED: Final = "values shown as keyed hashes: personal data (pii: hash)"
WITHHELD: Final = "values withheld: personal data (pii: drop)"
NO_KEY: Final = f"values withheld: personal data (pii: hash) and {PII_KEY_ENV} is not set"
UNPLACED: Final = "values withheld: not tied to a column, and the data set holds personal data (pii)"
WITHHELD_VALUE: Final = "(withheld: pii)"
TEXT_WITHHELD: Final = "text withheld: the data set holds personal data (pii)"
# Expectations whose observed value is a type's name, not a value of the column.
_TYPE_EXPECTATIONS: Final = ("expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type")
# Result keys that hold values of the column (the counts and percentages beside them are kept).
_VALUE_KEYS: Final = ("partial_unexpected_list", "unexpected_list", "partial_unexpected_counts", "details")


@dataclass(frozen=True)
class Personal:
    """A spec's pii columns and the key their values are hashed with (None: not set)."""

    columns: dict[str, str]
    key: bytes | None

    @classmethod
    def of(cls, spec: DatasetSpec) -> Personal:
        key = os.environ.get(PII_KEY_ENV, "")
        return cls(pii_columns(spec), key.encode("utf-8") if key else None)

    def __bool__(self) -> bool:
        return bool(self.columns)

    def how(self, columns: Iterable[str | None]) -> str | None:
        """``hash`` / ``drop`` for values of ``columns`` (drop when any is dropped or the key is missing)."""
        marks = {self.columns[c] for c in columns if c in self.columns}
        if not marks:
            return None
        if marks == {"hash"} and self.key is not None:
            return "hash"
        return "drop"

    def note(self, columns: Iterable[str | None], how: str) -> str:
        """What a report says about the values it shows of ``columns`` (``how``: hash or drop)."""
        if how == "hash":
            return HASHED
        marks = {self.columns.get(c or "") for c in columns}
        return NO_KEY if self.key is None and "drop" not in marks and "hash" in marks else WITHHELD

    def samples(self, column: str | None, sample: list[Any]) -> tuple[list[Any], str]:
        """A failure's sample on ``column`` as a report may show it, with a note ('' when shown as is).

        A sample of no known column is withheld when the spec has pii columns: it may be one of theirs.
        """
        if not sample or not self:
            return sample, ""
        if column not in self.columns:
            return (sample, "") if column is not None else ([], UNPLACED)
        how = self.how([column]) or "drop"
        return self.values(sample, how), self.note([column], how)

    def values(self, values: list[Any], how: str) -> list[Any]:
        """``values`` hashed (``how == 'hash'``), or none."""
        if how != "hash" or self.key is None:
            return []
        return [hash_value(v, self.key) for v in values]

    def private_text(self, column: str | None) -> bool:
        """Must an error's text on ``column`` be withheld? (A pii column's, or one of no column in a pii spec.)"""
        return bool(self.columns) and (column is None or column in self.columns)


def expectation_columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation reads (``column``, ``column_A``/``column_B``, ``column_list``)."""
    names = [kwargs.get(k) for k in ("column", "column_A", "column_B")]
    names += list(kwargs.get("column_list") or [])
    return [str(n) for n in names if n is not None]


def redact_result(result: Any, personal: Personal) -> None:
    """Hash or withhold, in place, the values a GX result holds of pii columns (before anything reads it)."""
    if not personal:
        return
    for r in result.results:
        cfg = r.expectation_config
        columns = expectation_columns(dict(cfg.kwargs))
        how = personal.how(columns)
        if how is None:
            continue
        if len(columns) > 1:
            how = "drop"  # rows of several columns: no per-value hash to show
        if isinstance(r.result, dict):
            _redact_values(r.result, personal, how, keep_observed=cfg.type in _TYPE_EXPECTATIONS)
        if isinstance(r.exception_info, dict):
            _redact_exception(r.exception_info)
        meta = cfg.meta if isinstance(cfg.meta, dict) else None
        if meta is not None:
            notes = meta.get("notes")
            note = personal.note(columns, how)
            meta["notes"] = f"{notes}; {note}" if notes else note


def _redact_values(info: dict[str, Any], personal: Personal, how: str, *, keep_observed: bool) -> None:
    for key in _VALUE_KEYS:
        if key not in info:
            continue
        value = info[key]
        if how == "hash" and key == "partial_unexpected_counts" and isinstance(value, list):
            info[key] = [
                {**c, "value": personal.values([c.get("value")], how)[0]} if isinstance(c, dict) else None
                for c in value
            ]
        elif how == "hash" and key in ("partial_unexpected_list", "unexpected_list") and isinstance(value, list):
            info[key] = personal.values(value, how)
        else:  # emptied, keeping its shape (the Data Docs renderer reads it)
            info[key] = [] if isinstance(value, list) else {} if isinstance(value, dict) else WITHHELD_VALUE
    if "observed_value" in info and not keep_observed:
        observed = info["observed_value"]
        info["observed_value"] = personal.values([observed], how)[0] if how == "hash" else WITHHELD_VALUE


def _redact_exception(info: dict[str, Any]) -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            _redact_exception(value)
        elif key in ("exception_message", "exception_traceback") and value:
            info[key] = TEXT_WITHHELD
