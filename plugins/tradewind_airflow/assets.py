"""The Assets that connect Tradewind's pipelines, named in one place.

An Asset's URI is where its data lives in the lake (``file://``, ``s3://`` or ``gs://``, from the
environment profile); its name is stable across profiles, so the asset graph reads the same
everywhere.
"""

from __future__ import annotations

from airflow.sdk import Asset

from tradewind.settings import get_settings


def zone_asset(zone: str, dataset: str) -> Asset:
    """``raw/<dataset>``, ``validated/<dataset>``, ...: one Asset per data zone of a data set."""
    settings = get_settings()
    return Asset(
        name=f"{zone}/{dataset}",
        uri=settings.asset_uri(zone, dataset),
        group="tradewind",
        extra={"zone": zone, "dataset": dataset},
    )


def model_asset(dataset: str, alias: str) -> Asset:
    """``<alias>/<dataset>``: an alias of the data set's registered model moved (e.g. a new challenger)."""
    # Name only (the URI defaults to it): a custom URI scheme makes Airflow load every provider's
    # URI handlers at parse time (boto3 and more) to look for a normaliser.
    return Asset(name=f"{alias}/{dataset}", group="tradewind", extra={"model": dataset, "alias": alias})


def drift_asset(dataset: str) -> Asset:
    """``drift/<dataset>``: the drift check found the served data beyond its thresholds (retrain trigger)."""
    return Asset(name=f"drift/{dataset}", group="tradewind", extra={"dataset": dataset, "kind": "drift"})


def withdrawn_asset(dataset: str) -> Asset:
    """``withdrawn/<dataset>``: a quarantined re-delivery withdrew validated days (no stage reads them now)."""
    return Asset(name=f"withdrawn/{dataset}", group="tradewind", extra={"dataset": dataset, "kind": "withdrawn"})
