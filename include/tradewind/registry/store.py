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
  atomic create-if-absent on every backend (a unique name), so exactly one writer wins. A holder
  that died leaves it behind; it is broken after ``stale_after_s`` (recorded in a tag).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tradewind.config import REPO_ROOT

log = logging.getLogger(__name__)

MLFLOW_DIR = REPO_ROOT / "data" / "mlflow"
LOCK_SUFFIX = ".tradewind-lock"
LOCK_TIMEOUT_S = 60.0
STALE_LOCK_S = 600.0


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


def _try_create_mutex(client: MlflowClient, name: str, owner: str, stale_after_s: float) -> bool:
    try:
        client.create_registered_model(name, tags={"owner": owner, "acquired_at": f"{time.time():.3f}"})
        return True
    except MlflowException as err:
        # NOT_FOUND: MLflow re-reads the existing model to word its error, and the holder released it.
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
            raise
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
    try:
        held = client.get_registered_model(name)
    except MlflowException:  # released between our create and this read: try again
        return False
    # No timestamp yet (tags are being written) counts as fresh, never as stale.
    acquired = float(held.tags.get("acquired_at") or time.time())
    if time.time() - acquired > stale_after_s:
        log.warning("Breaking stale registry lock %s held by %s", name, held.tags.get("owner"))
        with contextlib.suppress(MlflowException):
            client.delete_registered_model(name)
    return False


@contextlib.contextmanager
def _registry_mutex(client: MlflowClient, model_name: str, timeout_s: float, stale_after_s: float) -> Iterator[None]:
    name = f"{model_name}{LOCK_SUFFIX}"
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + timeout_s
    while not _try_create_mutex(client, name, owner, stale_after_s):
        if time.monotonic() >= deadline:
            where = f"{client.tracking_uri}: registry mutex {name}"
            raise RegistryLockTimeout(f"{where} held for more than {timeout_s:.0f}s")
        time.sleep(0.05)
    try:
        yield
    finally:
        with contextlib.suppress(MlflowException):
            client.delete_registered_model(name)


@contextlib.contextmanager
def registry_lock(
    client: MlflowClient,
    model_name: str,
    *,
    timeout_s: float = LOCK_TIMEOUT_S,
    stale_after_s: float = STALE_LOCK_S,
    mode: str = "auto",
) -> Iterator[None]:
    """Hold the single-writer lock of ``model_name``'s aliases and history (not reentrant).

    ``mode``: ``auto`` (a file lock for local stores, the registry mutex otherwise), ``file`` or
    ``registry`` (forced; tests use ``registry`` to exercise the remote path on SQLite).
    """
    path = local_store_path(client.tracking_uri)
    if mode == "file" or (mode == "auto" and path is not None):
        if path is None:
            raise ValueError(f"{client.tracking_uri}: a file lock needs a local store")
        with _file_lock(_lock_file(path, model_name), timeout_s):
            yield
    elif mode in ("auto", "registry"):
        with _registry_mutex(client, model_name, timeout_s, stale_after_s):
            yield
    else:
        raise ValueError(f"registry_lock: mode must be auto, file or registry, not {mode!r}")
