"""Records as named columns, without a DataFrame: what the model server passes from request to model.

Building a pandas DataFrame costs about 0.1 ms however small it is, and concatenating many small
ones costs more; for a server that scores one record per request that is a large part of the work.
A :class:`ColumnBatch` is the same content (one 1-D numpy or pandas array per column, all of one
length) as a plain mapping. :func:`tradewind.data.features.build_features` and the model take it
as they take a frame; :meth:`ColumnBatch.to_frame` gives the frame when one is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ColumnBatch:
    """``rows`` records as ``columns`` (name -> 1-D array of length ``rows``)."""

    columns: Mapping[str, Any]
    rows: int

    def __len__(self) -> int:
        return self.rows

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> Any:
        return self.columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    @property
    def empty(self) -> bool:
        """No rows or no columns (as ``DataFrame.empty``)."""
        return self.rows == 0 or not self.columns

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(dict(self.columns), index=pd.RangeIndex(self.rows))
