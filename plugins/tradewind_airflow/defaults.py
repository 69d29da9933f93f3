"""Defaults every Tradewind DAG shares (owner, retries, tags)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Param

OWNER = "tradewind"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
}

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def partition_date_param(description: str) -> Param:
    """The ``date`` field of a trigger form: a date picker that may be left empty."""
    return Param(None, type=["null", "string"], format="date", title="Partition date", description=description)


def kubernetes_task_kwargs(gpu_profile: str) -> dict[str, Any]:
    """What every Tradewind pod task of this profile shares: where it goes and as whom.

    The namespace, the Kubernetes connection and the ServiceAccount of the profile's ``training:``
    section, the GPU profile (a name, or a template such as ``{{ params.gpu_profile }}``) and the
    profile the stage inside reads (``TRADEWIND_PROFILE``).
    """
    from tradewind.settings import get_settings

    settings = get_settings()
    training = settings.training
    kwargs: dict[str, Any] = {
        "gpu_profile": gpu_profile,
        "env": {"TRADEWIND_PROFILE": settings.profile},
        "namespace": training.namespace,
        "kubernetes_conn_id": training.kubernetes_conn_id,
    }
    if training.service_account:
        kwargs["service_account_name"] = training.service_account
    return kwargs
