"""The inputs most stages start from: the profile's settings, a data set's spec and a partition date."""

from __future__ import annotations

import datetime as dt

from tradewind.data.spec import DatasetSpec
from tradewind.settings import Settings, get_settings
from tradewind.stages.outcome import StageInputError


def dataset_day(dataset: str, date: str) -> tuple[Settings, DatasetSpec, dt.date]:
    """The settings, ``dataset``'s spec and ``date`` as a date; an unknown data set or a bad date is bad input."""
    from tradewind.data.ingest import parse_day

    settings = get_settings()
    try:
        return settings, settings.spec(dataset), parse_day(date)
    except ValueError as err:
        raise StageInputError(str(err)) from err
