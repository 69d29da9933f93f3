"""The synthetic source's drift knobs, light enough for DAG files to import (no numpy, no pandas).

The ingest form offers :data:`DRIFT_KINDS`; :func:`drift_knobs` turns a kind into the knobs
:mod:`tradewind.data.synthetic` applies, so the ingest task, the demo's traffic and the tests shift
the data the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# The drift kinds a trigger form offers ("none" and one per knob), each at a strength a drift check notices.
DRIFT_KINDS = ("none", "covariate_shift", "new_category", "concept_change")


@dataclass(frozen=True)
class DriftKnobs:
    """Ways to shift the data from ``start`` on (``None``: from the first day).

    covariate_shift: 0 = none; 1 = amounts x2, many more foreign and online transactions.
    new_category_share: share of transactions in a merchant category the spec does not know.
    concept_change: 0 = none; 1 = fraud follows a different pattern (daytime, mobile,
        groceries) for the same inputs, so a trained model decays.
    """

    covariate_shift: float = 0.0
    new_category_share: float = 0.0
    concept_change: float = 0.0
    start: dt.date | None = None

    def active_on(self, day: dt.date) -> bool:
        return self.start is None or day >= self.start

    @property
    def any(self) -> bool:
        return bool(self.covariate_shift or self.new_category_share or self.concept_change)


def drift_knobs(kind: str | None, start: dt.date | None = None) -> DriftKnobs | None:
    """The knobs of a drift ``kind`` (one of :data:`DRIFT_KINDS`); None for none. ValueError names the kinds."""
    if not kind or kind == "none":
        return None
    if kind not in DRIFT_KINDS:
        raise ValueError(f"drift: '{kind}' is not one of {', '.join(DRIFT_KINDS)}")
    return DriftKnobs(
        covariate_shift=1.0 if kind == "covariate_shift" else 0.0,
        new_category_share=0.1 if kind == "new_category" else 0.0,
        concept_change=1.0 if kind == "concept_change" else 0.0,
        start=start,
    )
