"""The MLflow tracking server and model registry, bound to an Airflow connection."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from mlflow import MlflowClient


class MlflowRegistryHook(BaseHook):
    """An ``MlflowClient`` for the ``mlflow_default`` connection.

    The connection's ``extra.tracking_uri`` wins; otherwise its host/port/schema make an HTTP URI
    (``http://mlflow:5000``). With no such connection, ``MLFLOW_TRACKING_URI`` or the embedded default
    applies: SQLite and an artifact folder in the repository's git-ignored ``data/mlflow/``.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def tracking_uri(self) -> str:
        from tradewind.settings import get_settings

        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            uri = get_settings().tracking_uri()
            self.log.info("No connection '%s': using MLflow at %s", self.mlflow_conn_id, uri)
            return uri
        extra = conn.extra_dejson or {}
        if extra.get("tracking_uri"):
            return str(extra["tracking_uri"])
        port = f":{conn.port}" if conn.port else ""
        return f"{conn.schema or 'http'}://{conn.host}{port}"

    def get_conn(self) -> MlflowClient:
        from tradewind.registry.store import make_client

        return make_client(self.tracking_uri)
