"""The data lake: where Tradewind's partitions live, bound to an Airflow connection."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, ObjectStoragePath

from tradewind.settings import get_settings


class DataLakeHook(BaseHook):
    """Root of the data lake as an ``ObjectStoragePath``.

    The URI and connection come from the environment profile (``storage.root`` and
    ``storage.conn_id``): ``file://`` with no connection by default, ``s3://`` or ``gs://`` with an
    AWS or Google connection in the cloud. Nothing is looked up until a task runs.
    """

    conn_name_attr = "lake_conn_id"
    default_conn_name = "tradewind_lake"
    conn_type = "fs"
    hook_name = "Tradewind data lake"

    def __init__(self, lake_conn_id: str | None = None, root_uri: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        settings = get_settings()
        self.lake_conn_id = lake_conn_id if lake_conn_id is not None else settings.storage.conn_id
        self.root_uri = root_uri or settings.storage.root

    def subprocess_env(self) -> dict[str, str]:
        """The lake's credentials for a stage run as a subprocess (which has no Airflow connections).

        An ``aws`` connection's key, secret, region and endpoint become the standard AWS variables
        (s3fs reads them); without a connection the subprocess uses the environment's own
        credentials, as a pod does (IRSA, Workload Identity).
        """
        if not self.lake_conn_id:
            return {}
        conn = self.get_connection(self.lake_conn_id)
        if conn.conn_type != "aws":
            return {}
        extra = conn.extra_dejson or {}
        env = {
            "AWS_ACCESS_KEY_ID": conn.login,
            "AWS_SECRET_ACCESS_KEY": conn.password,
            "AWS_DEFAULT_REGION": extra.get("region_name"),
            "AWS_ENDPOINT_URL": extra.get("endpoint_url"),
        }
        return {k: str(v) for k, v in env.items() if v}

    @cached_property
    def root(self) -> ObjectStoragePath:
        """The lake's root; every zone (raw, validated, quarantine, reports) sits below it."""
        return ObjectStoragePath(self.root_uri, conn_id=self.lake_conn_id)
