"""The one split rule: named sets by time, recorded with the model so every later step reuses it.

The trainer splits its rows with :func:`split_by_time` and stores the :class:`SplitRecord` in the
model's metadata. The promote step, the drift reference and anyone scoring "the holdout" later call
:func:`apply_split` with that record: the same rows land in the same sets, and a different set of
rows (a partition re-delivered since) is refused instead of silently judged on other rows.

The sets are named (``train``, ``holdout``): a split with a validation and a test set adds names,
not a second rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tradewind.data.spec import DatasetSpec

TRAIN, HOLDOUT = "train", "holdout"
# The named sets of today's split, in time order.
SPLIT_SETS: tuple[str, ...] = (TRAIN, HOLDOUT)


class SplitMismatch(ValueError):
    """The rows given do not split into the sets recorded with the model (the message says how)."""


@dataclass(frozen=True)
class SplitRecord:
    """How a model's rows were split: JSON-able, stored in the model's metadata as ``split``.

    ``cut`` is the first holdout timestamp (ISO 8601, UTC): rows strictly before it are ``train``,
    rows at or after it ``holdout``. ``rows`` counts each named set.
    """

    method: str
    column: str
    holdout_fraction: float
    cut: str
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "column": self.column,
            "holdout_fraction": self.holdout_fraction,
            "cut": self.cut,
            "rows": dict(self.rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitRecord:
        try:
            return cls(
                method=str(data["method"]),
                column=str(data["column"]),
                holdout_fraction=float(data["holdout_fraction"]),
                cut=str(data["cut"]),
                rows={str(k): int(v) for k, v in dict(data.get("rows") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise SplitMismatch(f"the model's split record is malformed ({err!r}): {dict(data)}") from None


@dataclass
class Split:
    """The named sets of one split (each a frame in time order) and the record that reproduces it."""

    sets: dict[str, pd.DataFrame]
    record: SplitRecord

    @property
    def train(self) -> pd.DataFrame:
        return self.sets[TRAIN]

    @property
    def holdout(self) -> pd.DataFrame:
        return self.sets[HOLDOUT]


def _ordered(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, pd.Series]:
    ts = pd.to_datetime(frame[spec.timestamp], utc=True)
    order = ts.sort_values(kind="stable").index
    return frame.loc[order], ts.loc[order]


def _sets(ordered: pd.DataFrame, is_train: Any) -> dict[str, pd.DataFrame]:
    return {
        TRAIN: ordered[is_train].reset_index(drop=True),
        HOLDOUT: ordered[~is_train].reset_index(drop=True),
    }


def split_by_time(frame: pd.DataFrame, spec: DatasetSpec, holdout_fraction: float = 0.2) -> Split:
    """Split by the spec's timestamp: the latest ``holdout_fraction`` of rows is the holdout.

    Every holdout row is strictly later than every training row: rows sharing the timestamp at the
    cut all go to the holdout, so a random split's leakage (training on the future) cannot happen.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be between 0 and 1 (exclusive), got {holdout_fraction}")
    if len(frame) < 2:
        raise ValueError(f"cannot split {len(frame)} row(s) into a training set and a holdout")
    ordered, ts_sorted = _ordered(frame, spec)
    cut_at = min(max(round(len(frame) * (1.0 - holdout_fraction)), 1), len(frame) - 1)
    cut_time = ts_sorted.iloc[cut_at]
    is_train = (ts_sorted < cut_time).to_numpy()
    if not is_train.any():
        raise ValueError(
            f"cannot split by '{spec.timestamp}': the earliest {cut_at} row(s) share one timestamp ({cut_time})"
        )
    sets = _sets(ordered, is_train)
    record = SplitRecord(
        method="time",
        column=spec.timestamp,
        holdout_fraction=holdout_fraction,
        cut=pd.Timestamp(cut_time).isoformat(),
        rows={name: len(part) for name, part in sets.items()},
    )
    return Split(sets=sets, record=record)


def apply_split(frame: pd.DataFrame, spec: DatasetSpec, record: SplitRecord | Mapping[str, Any]) -> Split:
    """The sets a recorded split gives on ``frame``; :class:`SplitMismatch` when the rows differ.

    The rows must be the model's rows: each set must count what the record counted, or the caller
    would judge the model on rows it was not split on (a re-delivered partition, another window).
    """
    rec = record if isinstance(record, SplitRecord) else SplitRecord.from_dict(record)
    if rec.method != "time" or rec.column != spec.timestamp:
        raise SplitMismatch(
            f"the model was split by {rec.method} on '{rec.column}', the spec's timestamp is '{spec.timestamp}'"
        )
    ordered, ts_sorted = _ordered(frame, spec)
    is_train = (ts_sorted < pd.Timestamp(rec.cut)).to_numpy()
    split = Split(sets=_sets(ordered, is_train), record=rec)
    got = {name: len(part) for name, part in split.sets.items()}
    if rec.rows and got != rec.rows:
        raise SplitMismatch(
            f"{spec.name}: the rows split at {rec.cut} into {got}, the model was trained on {rec.rows}: "
            "the data changed since the model was trained (a partition re-delivered?)"
        )
    return split


def time_split(
    frame: pd.DataFrame, spec: DatasetSpec, holdout_fraction: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, holdout)`` of :func:`split_by_time`."""
    split = split_by_time(frame, spec, holdout_fraction)
    return split.train, split.holdout
