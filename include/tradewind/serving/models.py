"""The models being served: the champion and (optionally) the challenger, reloaded by alias.

:class:`ModelHolder` keeps one immutable :class:`Deployment` (champion, challenger). A request takes
the current deployment once and uses it to the end, so a swap never affects a request in flight.
:meth:`ModelHolder.refresh` re-reads the aliases; a version that changed is loaded completely
first (download, model, validator) and only then swapped in, by replacing the deployment
reference. A background thread refreshes every ``reload_interval_s``; ``POST /admin/reload``
refreshes at once. Refreshes are serialised.

- A version already loaded is reused (a promotion turns the loaded challenger into the champion
  without loading anything).
- A cleared challenger alias unloads the challenger (the server's ``on_swap`` then sets the split
  back to 0). A challenger that fails to load is not served either: its traffic goes to the champion.
- A champion that fails to load keeps the previous one serving; with none loaded yet the server
  is not ready, says why on ``/readyz``, and the thread keeps polling until a champion appears.
- A cleared champion alias keeps the loaded champion serving (with a warning): an alias deleted by
  mistake must not take the service down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.serving.validation import RequestValidator
from tradewind.training.model import TrainedModel

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from tradewind.registry.loading import RegisteredModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A registered version in memory, with the validator of its inputs."""

    name: str
    version: str
    model: TrainedModel
    validator: RequestValidator
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True, eq=False)
class Deployment:
    """What serves right now (never mutated: a swap replaces the whole object)."""

    champion: LoadedModel | None = None
    challenger: LoadedModel | None = None

    def get(self, variant: str) -> LoadedModel | None:
        return self.champion if variant == CHAMPION else self.challenger if variant == CHALLENGER else None

    def same_as(self, other: Deployment) -> bool:
        """The same loaded objects (identity: a reloaded copy of a version is a different model)."""
        return self.champion is other.champion and self.challenger is other.challenger

    def versions(self) -> dict[str, str | None]:
        return {
            CHAMPION: self.champion.version if self.champion else None,
            CHALLENGER: self.challenger.version if self.challenger else None,
        }


class ModelLoader(Protocol):
    """Where models come from: the registry in production (:class:`RegistryModelLoader`)."""

    model_name: str

    def aliases(self) -> Mapping[str, str | None]:
        """The versions the ``champion`` and ``challenger`` aliases point at now (absent or None: unset)."""
        ...

    def load(self, version: str) -> LoadedModel:
        """Load one version completely (raises on any failure)."""
        ...


class RegistryModelLoader:
    """Loads a registered model's versions from MLflow (``MLFLOW_TRACKING_URI`` or the embedded store)."""

    def __init__(self, model_name: str, tracking_uri: str | None = None, *, threads: int = 1) -> None:
        from tradewind.registry.store import resolve_tracking_uri

        self.model_name = model_name
        self.threads = threads
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._client_: MlflowClient | None = None

    @property
    def _client(self) -> MlflowClient:
        # Opened on first use (in the reload thread), so building the app touches no store.
        if self._client_ is None:
            from tradewind.registry.store import make_client

            self._client_ = make_client(self.tracking_uri)
        return self._client_

    def aliases(self) -> Mapping[str, str | None]:
        from mlflow.exceptions import MlflowException

        try:
            model = self._client.get_registered_model(self.model_name)
        except MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
        return {alias: str(version) for alias, version in model.aliases.items()}

    def load(self, version: str) -> LoadedModel:
        from tradewind.registry.loading import load_registered_version

        found = load_registered_version(self._client, self.tracking_uri, self.model_name, version)
        return _loaded(self.model_name, found, self.threads)


class FolderModelLoader:
    """One model from a local folder, served as the champion: the server's single-model mode.

    On KServe every predictor revision serves one registered version: the storage initializer
    downloads the version's artifacts (``storageUri``) to ``/mnt/models``, and KServe splits the
    traffic between revisions itself. The folder never changes while the process runs, so the
    "alias" is fixed: ``champion`` is ``version`` and there is no challenger. ``version`` is the
    registered version the folder holds (for responses, metrics and the inference log); it is
    only a label here, the registry is never contacted.
    """

    def __init__(self, model_name: str, model_dir: str | Path, version: str, *, threads: int = 1) -> None:
        self.model_name = model_name
        self.model_dir = Path(model_dir)
        self.version = str(version)
        self.threads = threads

    def aliases(self) -> Mapping[str, str | None]:
        return {CHAMPION: self.version}

    def load(self, version: str) -> LoadedModel:
        from tradewind.registry.loading import load_model_folder

        found = load_model_folder(self.model_dir, self.model_name, version)
        return _loaded(self.model_name, found, self.threads)


def _loaded(model_name: str, found: RegisteredModel, threads: int) -> LoadedModel:
    """A loaded version ready to serve: its scoring threads set and its request validator built."""
    if found.model.framework == "xgboost":  # PyTorch's thread count is per process: left as it is
        found.model.native.set_param({"nthread": threads})
    validator = RequestValidator(found.model.spec, found.signature)
    return LoadedModel(name=model_name, version=found.version, model=found.model, validator=validator)


class ReloadError(RuntimeError):
    """A refresh could not read the aliases or load a version (what did load was still swapped in)."""


class ModelHolder:
    """The current :class:`Deployment` and the thread that keeps it in step with the aliases."""

    def __init__(self, loader: ModelLoader, *, on_swap: Callable[[Deployment], None] | None = None) -> None:
        self.loader = loader
        self._deployment = Deployment()
        self._on_swap = on_swap
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem: str | None = "the registry has not been read yet"
        self._said: str | None = None  # the last state logged at INFO, to say each change once
        self.last_refresh: dt.datetime | None = None

    @property
    def deployment(self) -> Deployment:
        return self._deployment

    def not_ready_reason(self) -> str | None:
        """``None`` when a champion serves, else why not (what ``/readyz`` says)."""
        if self._deployment.champion is not None:
            return None
        return self._problem or "no champion loaded"

    def refresh(self) -> Deployment:
        """Re-read the aliases and swap in what changed; :class:`ReloadError` after any failure."""
        with self._refresh_lock:
            try:
                aliases = self.loader.aliases()
            except Exception as err:
                self._problem = f"cannot read the aliases of '{self.loader.model_name}': {err}"
                log.warning("Model registry: %s", self._problem)
                raise ReloadError(self._problem) from err
            current = self._deployment
            failures: list[str] = []
            champion = self._resolve(CHAMPION, aliases.get(CHAMPION), current, failures)
            challenger = self._resolve(CHALLENGER, aliases.get(CHALLENGER), current, failures)
            if champion is None and aliases.get(CHAMPION) is None and current.champion is None:
                self._problem = f"registered model '{self.loader.model_name}' has no '{CHAMPION}' alias yet"
            elif champion is None:
                self._problem = "; ".join(failures) or "no champion loaded"
            else:
                self._problem = None
            updated = Deployment(champion=champion, challenger=challenger)
            changed = not updated.same_as(current)
            if changed:
                self._deployment = updated  # the swap: one reference, atomic for every reader
                log.info(
                    "Serving %s: champion %s, challenger %s",
                    self.loader.model_name,
                    _v(updated.champion),
                    _v(updated.challenger),
                )
            if self._on_swap is not None and (changed or self.last_refresh is None):
                self._on_swap(updated)
            self.last_refresh = dt.datetime.now(dt.UTC)
            self._say_state()
            if failures:
                raise ReloadError("; ".join(failures))
            return self._deployment

    def _resolve(self, alias: str, version: str | None, current: Deployment, failures: list[str]) -> LoadedModel | None:
        held = current.get(alias)
        if version is None:
            if alias == CHAMPION and held is not None:
                log.warning("The '%s' alias of %s is not set; still serving version %s", alias, held.name, held.version)
                return held
            if held is not None:
                log.info("The '%s' alias of %s was cleared: unloading version %s", alias, held.name, held.version)
            return None
        for loaded in (current.champion, current.challenger):
            if loaded is not None and loaded.version == version:
                return loaded
        try:
            log.info("Loading %s version %s for the '%s' alias", self.loader.model_name, version, alias)
            return self.loader.load(version)
        except Exception as err:
            message = f"{alias} version {version} of '{self.loader.model_name}' failed to load: {err}"
            log.exception("Model registry: %s", message)
            failures.append(message)
            return held if alias == CHAMPION else None

    def _say_state(self) -> None:
        state = self.not_ready_reason()
        if state != self._said:
            if state is not None:
                log.info("Not ready: %s; polling the registry for a champion", state)
            self._said = state

    # -- background reload ------------------------------------------------------------------
    def start(self, interval_s: float) -> None:
        """Refresh now (in the thread) and then every ``interval_s`` seconds until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), name="model-reload", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except ReloadError:
                pass  # already logged; the next tick tries again
            except Exception:
                log.exception("Model reload failed unexpectedly; retrying in %.0fs", interval_s)
            self._stop.wait(interval_s)


def _v(model: LoadedModel | None) -> str:
    return f"version {model.version}" if model is not None else "none"
