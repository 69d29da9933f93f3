"""A client that dies right after its n-th write to the store: the crash of a writer, step by step.

``CrashingClient(client, after=n, on_crash=...)`` passes every call through to ``client``; once the
n-th write call (made on the thread that created it: a lock's heartbeat thread does not count)
has returned, ``on_crash()`` runs. The default raises :class:`Crashed` and makes every later call
raise it too, so the dead writer does no cleanup through the store (a ``finally`` that releases a
registry mutex fails as it would in a killed process). ``after=None`` only counts: ``writes``
lists the write calls in order, naming the steps a test can crash at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mlflow import MlflowClient

WRITES = frozenset(
    {
        "create_registered_model",
        "delete_registered_model",
        "set_registered_model_tag",
        "delete_registered_model_tag",
        "set_registered_model_alias",
        "delete_registered_model_alias",
        "set_model_version_tag",
        "create_model_version",
        "create_run",
        "set_terminated",
        "set_tag",
        "log_batch",
    }
)


class Crashed(BaseException):
    """The writer died (a BaseException, so no ``except Exception`` in the code under test catches it)."""


class CrashingClient:
    def __init__(self, client: MlflowClient, after: int | None, on_crash: Callable[[], None] | None = None) -> None:
        self._client, self._after, self._on_crash = client, after, on_crash
        self._thread = threading.get_ident()
        self.writes: list[str] = []
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        if self.dead:
            raise Crashed(f"{name} after the crash")
        attr = getattr(self._client, name)
        if name not in WRITES or threading.get_ident() != self._thread:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self.writes.append(f"{name}#{sum(w.startswith(name + '#') for w in self.writes) + 1}")
            if self._after is not None and len(self.writes) == self._after:
                self.dead = True
                (self._on_crash or self._raise)()
            return result

        return write

    def _raise(self) -> None:
        raise Crashed(f"right after {self.writes[-1]}")
