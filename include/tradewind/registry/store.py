"""Where the MLflow store is, how to open it, and the single-writer lock over a registered model.

Every function here takes or returns an explicit tracking URI: nothing sets MLflow's global
tracking URI at import time, so a DAG file (or a test) importing this module touches no store.

The default store is the embedded one: SQLite plus a local artifact folder under the repo's
git-ignored ``data/mlflow/``. ``MLFLOW_TRACKING_URI`` (MLflow's own variable) overrides it, which
is how compose and the cloud point at PostgreSQL + S3/GCS.

The lock (:func:`registry_lock`) serialises the writers of one registered model's aliases:

- local stores (``sqlite:///`` and ``file:``): an ``fcntl.flock`` on a file beside the store. The
  kernel releases it when the holder dies, so a crashed promotion never wedges the registry.
- any other backend (PostgreSQL, an MLflow server): a *registry mutex*, a registered model named
  ``<model>.tradewind-lock`` that exists while the lock is held. Creating a registered model is an
  atomic create-if-absent on every backend (a unique name), so exactly one writer wins. The holder
  has a *lease*: its ``expires_at`` tag, renewed by a heartbeat thread every third of the lease
  while the lock is held. A holder that died stops renewing, and once the lease has run out the
  next writer takes the lock over: it first creates a *takeover marker*
  ``<model>.tradewind-lock.taken-<holder>`` (create-if-absent again, so of several waiters only one
  breaks a given holder's lock, and never a newer holder's), then deletes the expired mutex. The
  marker stays (with who took over, from whom and why) as the record of the takeover; markers
  older than a day are removed at the next takeover. The lease is :data:`LEASE_S` seconds, or
  ``TRADEWIND_REGISTRY_LEASE_S``: short enough that a retry of the task finds the lock free
  (Airflow retries after 30 s and waits up to :data:`LOCK_TIMEOUT_S` for the lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException

from tradewind.config import REPO_ROOT

log = logging.getLogger(__name__)

MLFLOW_DIR = REPO_ROOT / "data" / "mlflow"
LOCK_SUFFIX = ".tradewind-lock"
LOCK_TIMEOUT_S = 60.0
LEASE_S = 30.0
LEASE_ENV = "TRADEWIND_REGISTRY_LEASE_S"
TAKEOVER_INFIX = ".taken-"
TAKEOVER_KEEP_S = 86_400.0


class RegistryLockTimeout(TimeoutError):
    """Another writer held the registry lock of a model for longer than the timeout."""


def default_tracking_uri() -> str:
    """The embedded default: a SQLite file under ``data/mlflow`` (not created until a client opens it)."""
    return f"sqlite:///{(MLFLOW_DIR / 'mlflow.db').as_posix()}"


def default_artifact_root() -> str:
    """The local artifact folder paired with :func:`default_tracking_uri`."""
    return (MLFLOW_DIR / "artifacts").as_uri()


def resolve_tracking_uri(uri: str | None = None, profile_uri: str | None = None) -> str:
    """An explicit URI, else ``MLFLOW_TRACKING_URI``, else the profile's ``mlflow.tracking_uri``
    (``profile_uri``: :meth:`tradewind.settings.Settings.tracking_uri` passes it), else embedded."""
    if uri or os.environ.get("MLFLOW_TRACKING_URI"):
        return uri or os.environ["MLFLOW_TRACKING_URI"]
    return profile_uri or default_tracking_uri()


def local_store_path(uri: str) -> Path | None:
    """The file (SQLite) or folder (file store) of a local tracking URI; ``None`` for remote stores."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        # sqlite:////abs/path.db -> path "//abs/path.db"; sqlite:///rel.db -> "/rel.db".
        raw = unquote(parsed.path)
        return Path(raw[1:]) if raw.startswith("//") else Path(raw.lstrip("/"))
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def make_client(uri: str | None = None) -> MlflowClient:
    """A client on ``uri`` (see :func:`resolve_tracking_uri`); makes the local store's folder if needed."""
    resolved = resolve_tracking_uri(uri)
    path = local_store_path(resolved)
    if path is not None:
        (path.parent if resolved.startswith("sqlite") else path).mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=resolved, registry_uri=resolved)


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None = None) -> str:
    """The id of experiment ``name``, created (with ``artifact_location``) if it does not exist.

    For the embedded SQLite store with no explicit location, artifacts go to
    :func:`default_artifact_root`-style folder beside the database, never to the working directory.
    """
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    if artifact_location is None:
        path = local_store_path(client.tracking_uri)
        if path is not None and client.tracking_uri.startswith("sqlite"):
            artifact_location = (path.parent / "artifacts").resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location))
    except MlflowException as err:  # another process created it between the read and the create
        found = client.get_experiment_by_name(name)
        if found is None:
            raise err from None
        return str(found.experiment_id)


@contextlib.contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking URI at ``uri`` for the block, then restore it.

    Some MLflow calls only speak to the global URI: the fluent API (``mlflow.log_input``,
    ``mlflow.<flavor>.log_model``) and the registry resolving a ``models:/m-...`` source. They run
    inside this block, never with the URI set at import time.
    """
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def _lock_file(store: Path, model_name: str) -> Path:
    digest = hashlib.sha256(model_name.encode()).hexdigest()[:16]
    folder = store.parent if store.suffix else store
    return folder / f".registry-{digest}.lock"


@contextlib.contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RegistryLockTimeout(f"{path}: registry lock held for more than {timeout_s:.0f}s") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_ALREADY = ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")


def lease_seconds() -> float:
    """The lease of a registry mutex: ``TRADEWIND_REGISTRY_LEASE_S`` when set, else :data:`LEASE_S`."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"{LEASE_ENV}={raw!r}: the registry lock's lease must be a positive number of seconds")
    return value


def _expiry(held: RegisteredModel, lease_s: float) -> float:
    """When a held mutex's lease runs out (epoch seconds).

    A mutex from before leases has only ``acquired_at``; one whose tags never got written (its
    holder died in between, on a backend that writes them separately) only its creation time.
    """
    tags = held.tags
    if tags.get("expires_at"):
        return float(tags["expires_at"])
    started = float(tags["acquired_at"]) if tags.get("acquired_at") else (held.creation_timestamp or 0) / 1000
    return started + lease_s


def _take_over(client: MlflowClient, held: RegisteredModel, owner: str, expired_at: float) -> None:
    """Break ``held`` (a mutex whose lease ran out) unless another waiter already broke this holder's lock.

    The takeover marker is named after the holder, so it can be created once: the waiter that
    creates it deletes the mutex; any other waiter (even one that read the old holder long ago)
    finds the marker and leaves the mutex, which may by then belong to a new holder, alone.
    """
    holder = held.tags.get("owner") or f"unknown (created {held.creation_timestamp})"
    marker = f"{held.name}{TAKEOVER_INFIX}{hashlib.sha256(holder.encode()).hexdigest()[:16]}"
    now = time.time()
    why = f"lease expired {now - expired_at:.1f}s ago"
    try:
        client.create_registered_model(
            marker, tags={"holder": holder, "taken_by": owner, "at": f"{now:.3f}", "reason": why}
        )
    except MlflowException as err:
        if err.error_code not in _ALREADY:
            raise
        return
    log.warning("Taking over registry lock %s from %s: %s", held.name, holder, why)
    with contextlib.suppress(MlflowException):
        client.delete_registered_model(held.name)
    _drop_old_markers(client, held.name, now)


def _drop_old_markers(client: MlflowClient, name: str, now: float) -> None:
    prefix = f"{name}{TAKEOVER_INFIX}"
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=100)
    for marker in found:
        at = float(marker.tags.get("at") or now)
        if marker.name.startswith(prefix) and now - at > TAKEOVER_KEEP_S:
            with contextlib.suppress(MlflowException):
                client.delete_registered_model(marker.name)


def takeovers(client: MlflowClient, model_name: str) -> list[dict[str, str]]:
    """The recorded takeovers of ``model_name``'s registry mutex (``holder``, ``taken_by``, ``at``, ``reason``)."""
    prefix = f"{model_name}{LOCK_SUFFIX}{TAKEOVER_INFIX}"
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=100)
    return [dict(m.tags) for m in found if m.name.startswith(prefix)]


def _try_create_mutex(client: MlflowClient, name: str, owner: str, lease_s: float) -> bool:
    now = time.time()
    tags = {"owner": owner, "acquired_at": f"{now:.3f}", "expires_at": f"{now + lease_s:.3f}"}
    try:
        client.create_registered_model(name, tags=tags)
        return True
    except MlflowException as err:
        # NOT_FOUND: MLflow re-reads the existing model to word its error, and the holder released it.
        if err.error_code not in (*_ALREADY, "RESOURCE_DOES_NOT_EXIST"):
            raise
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
    try:
        held = client.get_registered_model(name)
    except MlflowException:  # released between our create and this read: try again
        return False
    expired_at = _expiry(held, lease_s)
    if time.time() > expired_at:
        _take_over(client, held, owner, expired_at)
    return False


class _Heartbeat:
    """Renews a held mutex's lease every third of the lease until stopped; notices a lost lock."""

    def __init__(self, client: MlflowClient, name: str, owner: str, lease_s: float) -> None:
        self.client, self.name, self.owner, self.lease_s = client, name, owner, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"registry-lease {name}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            self._renew()

    def _renew(self) -> None:
        try:
            held = self.client.get_registered_model(self.name)
            if held.tags.get("owner") != self.owner:
                log.error("Registry lock %s was taken over from %s (its lease ran out)", self.name, self.owner)
                self._stop.set()
                return
            self.client.set_registered_model_tag(self.name, "expires_at", f"{time.time() + self.lease_s:.3f}")
        except Exception as err:  # the store is unreachable: keep trying until the lease is over
            log.warning("Could not renew the lease of registry lock %s: %s", self.name, err)


def _release(client: MlflowClient, name: str, owner: str) -> None:
    """Delete the mutex if it is still ours; a store that is down keeps it until its lease runs out."""
    try:
        if client.get_registered_model(name).tags.get("owner") == owner:
            client.delete_registered_model(name)
        else:
            log.error("Registry lock %s was taken over from %s before its release", name, owner)
    except Exception as err:
        log.warning("Could not release registry lock %s (it expires with its lease): %s", name, err)


@contextlib.contextmanager
def _registry_mutex(client: MlflowClient, model_name: str, timeout_s: float, lease_s: float) -> Iterator[None]:
    name = f"{model_name}{LOCK_SUFFIX}"
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + timeout_s
    while not _try_create_mutex(client, name, owner, lease_s):
        if time.monotonic() >= deadline:
            where = f"{client.tracking_uri}: registry mutex {name}"
            raise RegistryLockTimeout(f"{where} held for more than {timeout_s:.0f}s (lease {lease_s:.0f}s)")
        time.sleep(0.05)
    try:
        with _Heartbeat(client, name, owner, lease_s):
            yield
    finally:
        _release(client, name, owner)


@contextlib.contextmanager
def registry_lock(
    client: MlflowClient,
    model_name: str,
    *,
    timeout_s: float = LOCK_TIMEOUT_S,
    lease_s: float | None = None,
    mode: str = "auto",
) -> Iterator[None]:
    """Hold the single-writer lock of ``model_name``'s aliases and history (not reentrant).

    ``mode``: ``auto`` (a file lock for local stores, the registry mutex otherwise), ``file`` or
    ``registry`` (forced; tests use ``registry`` to exercise the remote path on SQLite).
    ``lease_s``: the registry mutex's lease (default :func:`lease_seconds`).
    """
    path = local_store_path(client.tracking_uri)
    if mode == "file" or (mode == "auto" and path is not None):
        if path is None:
            raise ValueError(f"{client.tracking_uri}: a file lock needs a local store")
        with _file_lock(_lock_file(path, model_name), timeout_s):
            yield
    elif mode in ("auto", "registry"):
        with _registry_mutex(client, model_name, timeout_s, lease_s or lease_seconds()):
            yield
    else:
        raise ValueError(f"registry_lock: mode must be auto, file or registry, not {mode!r}")
