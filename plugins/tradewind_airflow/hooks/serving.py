"""The Tradewind model server's admin API and metrics, bound to an Airflow connection."""

from __future__ import annotations

import os
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from tradewind.serving import contract

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8081"
URL_ENV = "TRADEWIND_SERVING_URL"


class ModelServerError(RuntimeError):
    """The model server refused or failed an admin call; the message carries its status and answer."""


class ModelServerHook(BaseHook):
    """The model server of the ``tradewind_serving_default`` connection.

    The connection's host/port/schema give the base URL (``http://serving:8081``) and its password
    the admin token. Without such a connection, ``TRADEWIND_SERVING_URL`` (default
    ``http://127.0.0.1:8081``, where ``make demo`` starts the server) and
    ``TRADEWIND_SERVING_ADMIN_TOKEN`` apply. The token is sent, never logged.
    """

    conn_name_attr = "serving_conn_id"
    default_conn_name = "tradewind_serving_default"
    conn_type = "http"
    hook_name = "Tradewind model server"

    def __init__(self, serving_conn_id: str = default_conn_name, timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.serving_conn_id = serving_conn_id
        self.timeout_s = timeout_s

    @cached_property
    def _settings(self) -> tuple[str, str | None]:
        try:
            conn = self.get_connection(self.serving_conn_id)
        except AirflowNotFoundException:
            url = os.environ.get(URL_ENV, DEFAULT_URL).rstrip("/")
            self.log.info("No connection '%s': using the model server at %s", self.serving_conn_id, url)
            return url, os.environ.get(contract.ADMIN_TOKEN_ENV)
        port = f":{conn.port}" if conn.port else ""
        host = str(conn.host or "127.0.0.1")
        url = host.rstrip("/") if "://" in host else f"{conn.schema or 'http'}://{host}{port}"
        return url, conn.password or os.environ.get(contract.ADMIN_TOKEN_ENV)

    @property
    def base_url(self) -> str:
        return self._settings[0]

    @property
    def metrics_url(self) -> str:
        return self.base_url + contract.METRICS_PATH

    def get_conn(self) -> httpx.Client:
        import httpx

        url, token = self._settings
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=url, headers=headers, timeout=self.timeout_s)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        with self.get_conn() as client:
            try:
                response = client.request(method, path, **kwargs)
            except httpx.HTTPError as err:
                raise ModelServerError(f"{method} {self.base_url}{path}: {err}") from err
        if response.status_code >= 400:
            answer = response.text[:500]
            raise ModelServerError(f"{method} {self.base_url}{path}: HTTP {response.status_code}: {answer}")
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else None

    def traffic(self) -> dict[str, Any]:
        """The split and the loaded versions: ``{"challenger_percent", "shadow", "champion", "challenger"}``."""
        return dict(self._call("GET", contract.TRAFFIC_PATH))

    def set_traffic(self, challenger_percent: int, *, shadow: bool = False) -> dict[str, Any]:
        body = {"challenger_percent": int(challenger_percent), "shadow": bool(shadow)}
        return dict(self._call("PUT", contract.TRAFFIC_PATH, json=body))

    def reload(self) -> dict[str, Any]:
        """Make the server re-read the registry aliases now; returns the traffic state after it."""
        return dict(self._call("POST", contract.RELOAD_PATH))

    def wait_for_versions(
        self, *, champion: str | None, challenger: str | None, timeout_s: float = 120.0
    ) -> dict[str, Any]:
        """Reload until the server holds these versions (``None``: no model in that slot).

        Loading a version takes a moment (download, deserialise); the server keeps answering
        with the old one meanwhile.
        """
        deadline = time.monotonic() + timeout_s
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.reload()
            if _version(state, "champion") == champion and _version(state, "challenger") == challenger:
                return state
            time.sleep(1.0)
        raise ModelServerError(
            f"{self.base_url} did not load champion {champion} / challenger {challenger} within {timeout_s:.0f}s "
            f"(it holds champion {_version(state, 'champion')} / challenger {_version(state, 'challenger')})"
        )


def _version(state: dict[str, Any], slot: str) -> str | None:
    loaded = state.get(slot)
    return str(loaded["version"]) if isinstance(loaded, dict) and loaded.get("version") is not None else None
