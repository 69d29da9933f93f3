"""Configuration from one place.

The environment profile (``TRADEWIND_PROFILE``, default ``local``) is a YAML file under
``include/config/profiles``; it may ``extends`` another profile. Environment variables override
single keys: ``TRADEWIND_STORAGE_ROOT`` and ``TRADEWIND_STORAGE_CONN_ID``. Dataset specs live under
``include/config/datasets`` and may be overridden per profile (``dataset_overrides``).

The other files under ``include/config`` are reached from here too, each read once through the
config base (:mod:`tradewind.config`) and with this profile's changes where it has any:
:meth:`Settings.gate` (``promotion.yaml``), :meth:`Settings.serving_config` (``serving.yaml``),
:meth:`Settings.gpu_profiles` (``gpu_profiles.yaml``) and :meth:`Settings.canary` (``canary.yaml``).
Each imports its model's module only when called, so importing the settings stays cheap.

Everything here is read once per process and is cheap: DAG files call it at parse time.
Secrets never live in these files: connections come from Airflow (``AIRFLOW_CONN_*``). A malformed
profile raises :class:`~tradewind.config.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# REPO_ROOT and CONFIG_DIR live in the config base; they stay importable from here.
from tradewind.config import CONFIG_DIR, REPO_ROOT, ConfigError, deep_merge, read_yaml
from tradewind.data.spec import DatasetSpec, load_spec

if TYPE_CHECKING:
    from tradewind.canary.config import CanaryConfig
    from tradewind.k8s.profiles import GpuProfile
    from tradewind.registry.gate import GateConfig
    from tradewind.serving.config import ServingConfig


T = TypeVar("T")


@dataclass(frozen=True)
class StorageSettings:
    root: str
    conn_id: str | None = None


BACKENDS = ("local", "kubernetes")


@dataclass(frozen=True)
class TrainingSettings:
    """Where the trainer runs (``training:`` in a profile).

    ``backend`` is the default of the train form; ``backends`` are the ones the form offers (a
    profile without a cluster offers ``local`` only, so its DAGs never load the Kubernetes provider).
    ``gpu_profile`` is the default GPU profile (include/config/gpu_profiles.yaml). The Kubernetes
    keys say where pods go: the namespace, the Airflow connection and the headless Service that
    multi-worker Jobs rendezvous through.
    """

    backend: str = "local"
    backends: tuple[str, ...] = ("local",)
    gpu_profile: str = "cpu-small"
    namespace: str = "tradewind"
    kubernetes_conn_id: str = "kubernetes_default"
    rendezvous_service: str = "tradewind-trainer-workers"
    # Where this environment's images are pushed (Terraform's ``image_registry``: ``<registry host>/<prefix>``);
    # a GPU profile's ``tradewind/trainer:cuda`` then runs as ``<image_registry>/trainer:cuda``.
    image_registry: str | None = None
    # The ServiceAccount trainer pods run as (its cloud identity reads the lake and writes artifacts).
    service_account: str | None = None
    # The release the registry's images were pushed as (its tags are immutable): ``trainer:cuda`` runs
    # as ``trainer:cuda-<image_tag>``. ``TRADEWIND_IMAGE_TAG`` sets it at deploy time.
    image_tag: str | None = None

    def image(self, image: str) -> str:
        """A GPU profile's image, from this environment's registry when it has one (a full reference stays)."""
        first = image.split("/", 1)[0]
        qualified = "/" in image and ("." in first or ":" in first or first == "localhost")  # has a registry host
        if not self.image_registry or qualified:
            return image
        name = image.rsplit("/", 1)[-1]
        if self.image_tag:
            repository, _, tag = name.partition(":")
            name = f"{repository}:{tag}-{self.image_tag}" if tag else f"{repository}:{self.image_tag}"
        return f"{self.image_registry.rstrip('/')}/{name}"


SERVING_TARGETS = ("local", "kserve")


@dataclass(frozen=True)
class ServingSettings:
    """Where models are served (``serving:`` in a profile).

    ``local``: the Tradewind model server (``python -m tradewind.serving``), reached through the
    Airflow connection ``conn_id`` (host and port; the password is the admin token; the local target
    only). ``kserve``: a
    KServe ``InferenceService`` per data set in ``namespace``, applied and patched through the
    Kubernetes connection ``kubernetes_conn_id``; the canary reads each revision's metrics from the
    Prometheus at ``prometheus_url`` (which scrapes the predictor pods through the platform's
    PodMonitor).
    """

    target: str = "local"
    conn_id: str = "tradewind_serving_default"
    namespace: str = "tradewind"
    kubernetes_conn_id: str = "kubernetes_default"
    prometheus_url: str | None = None
    # Where the model server's inference log goes (and the drift check reads it); default: storage.root.
    inference_log_root: str | None = None
    # KServe: the ServiceAccount the model servers run as (its cloud identity reads the model artifacts).
    service_account: str | None = None


@dataclass(frozen=True)
class MlflowSettings:
    """The tracking server and registry (``mlflow:`` in a profile).

    ``tracking_uri``: the server of this environment (``http://mlflow.tradewind:5000``); ``None`` keeps
    the embedded default (SQLite and a folder under ``data/mlflow``). ``MLFLOW_TRACKING_URI`` and
    an Airflow connection ``mlflow_default`` still win over it.
    """

    tracking_uri: str | None = None


@dataclass(frozen=True)
class StagesSettings:
    """Where the heavy stages other than training run (``stages:`` in a profile): validate and drift.

    ``local``: ``python -m tradewind <stage>`` as a subprocess of the Airflow worker. ``kubernetes``:
    the same command in one pod on the GPU profile ``gpu_profile`` (a CPU profile by default), in the
    training settings' namespace, with its connection and ServiceAccount.
    """

    backend: str = "local"
    gpu_profile: str = "cpu-small"


@dataclass(frozen=True)
class SourcesSettings:
    """Where a ``files`` source may read (``sources:`` in a profile; see :mod:`tradewind.data.sources`).

    ``allowed_roots``: URIs or paths a source (the spec's or a manual override) may read under, besides
    each data set's own source folder and ``<lake>/landing/<dataset>/``; ``{repo}`` is the checkout and
    ``{lake}`` the lake root. ``conn_id``: the Airflow connection object-store sources are read through
    (default: the lake's).
    """

    allowed_roots: tuple[str, ...] = ()
    conn_id: str | None = None


# Zones the retention task sweeps (``retention:`` in a profile), with their default ages in days.
RETENTION_DEFAULTS: dict[str, int | None] = {
    "inference_log": 30,
    "drift_reports": 90,
    "validation_reports": 90,
    "quarantine": 30,
    "checkpoints": 14,
}


@dataclass(frozen=True)
class RetentionSettings:
    """How many days each zone keeps what it holds (``retention:`` in a profile; ``null`` keeps it forever).

    Applied by the ``retention`` stage (:mod:`tradewind.stages.retention`), scheduled by ``dags/retention.py``.
    """

    inference_log: int | None = 30
    drift_reports: int | None = 90
    validation_reports: int | None = 90
    quarantine: int | None = 30
    checkpoints: int | None = 14

    def days(self, zone: str) -> int | None:
        value: int | None = getattr(self, zone)
        return value


@dataclass(frozen=True)
class Settings:
    profile: str
    storage: StorageSettings
    datasets: tuple[str, ...]
    training: TrainingSettings = field(default_factory=TrainingSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    stages: StagesSettings = field(default_factory=StagesSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    dataset_overrides: dict[str, Any] = field(default_factory=dict)
    # Keys of include/config/promotion.yaml this profile changes (deep-merged), e.g. the retrain cooldown.
    promotion_overrides: dict[str, Any] = field(default_factory=dict)
    demo: dict[str, Any] = field(default_factory=dict)
    config_dir: Path = CONFIG_DIR
    _specs: dict[str, DatasetSpec] = field(default_factory=dict, compare=False, repr=False)
    _configs: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def spec(self, name: str) -> DatasetSpec:
        """The checked spec of a data set, with this profile's overrides (loaded once)."""
        if name not in self._specs:
            path = self.config_dir / "datasets" / f"{name}.yaml"
            self._specs[name] = load_spec(path, overrides=self.dataset_overrides.get(name))
        return self._specs[name]

    def specs(self) -> list[DatasetSpec]:
        return [self.spec(n) for n in self.datasets]

    def source_roots(self, spec: DatasetSpec, lake_root: str | None = None) -> list[str]:
        """Where ``spec``'s files source may read: its defaults and the profile's ``sources.allowed_roots``."""
        from tradewind.data.sources import default_roots

        lake = lake_root or self.storage.root
        extra = [r.replace("{lake}", lake.rstrip("/")) for r in self.sources.allowed_roots]
        return [*default_roots(spec, lake), *extra]

    def asset_uri(self, zone: str, dataset: str) -> str:
        """URI of a data zone of a data set (``raw``, ``validated``, ...), used for Assets."""
        return f"{self.storage.root.rstrip('/')}/{zone}/{dataset}"

    # -- the other config files, each read once (the model's module is imported on first use) ---
    def _once(self, key: str, load: Callable[[], T]) -> T:
        if key not in self._configs:
            self._configs[key] = load()
        result: T = self._configs[key]
        return result

    def tracking_uri(self, explicit: str | None = None) -> str:
        """The MLflow tracking URI: ``explicit``, else ``MLFLOW_TRACKING_URI``, else this profile's
        ``mlflow.tracking_uri``, else the embedded store."""
        from tradewind.registry.store import resolve_tracking_uri

        return resolve_tracking_uri(explicit, self.mlflow.tracking_uri)

    def gate(self) -> GateConfig:
        """The promotion gate: ``promotion.yaml`` with this profile's ``promotion:`` overrides.

        Its ``datasets:`` changes for this profile's data sets are checked against each spec's task here,
        so a metric of the wrong task is refused when the file is read, not at the first promotion."""
        return self._once("gate", self._load_gate)

    def _load_gate(self) -> GateConfig:
        from tradewind.registry.gate import CONFIG_FILE, load_gate_config

        config = load_gate_config(self.config_dir / CONFIG_FILE, self.promotion_overrides)
        for name in sorted(set(config.datasets) & set(self.datasets)):
            config.rules(self.spec(name).task, name)
        return config

    def serving_config(self) -> ServingConfig:
        """The model server's settings: ``serving.yaml``."""
        from tradewind.serving.config import SERVING_CONFIG_FILE, load_serving_config

        return self._once("serving", lambda: load_serving_config(self.config_dir / SERVING_CONFIG_FILE))

    def gpu_profiles(self) -> dict[str, GpuProfile]:
        """Every GPU profile of ``gpu_profiles.yaml``, checked against its node-pool contract."""
        from tradewind.k8s.profiles import PROFILES_FILE, load_gpu_profiles

        return self._once("gpu_profiles", lambda: load_gpu_profiles(self.config_dir / PROFILES_FILE))

    def canary(self) -> CanaryConfig:
        """The canary's stages and SLOs: ``canary.yaml``."""
        from tradewind.canary.config import CONFIG_FILE, load_canary_config

        return self._once("canary", lambda: load_canary_config(self.config_dir / CONFIG_FILE))


def _read_profile(config_dir: Path, name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path = config_dir / "profiles" / f"{name}.yaml"
    if name in seen:
        raise ConfigError(f"{path}: extends: profile cycle {' -> '.join((*seen, name))}")
    if not path.exists():
        known = sorted(p.stem for p in (config_dir / "profiles").glob("*.yaml"))
        raise ConfigError(f"{path}: profile '{name}' not found (known profiles: {', '.join(known)})")
    data = read_yaml(path, "profile") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a profile must be a mapping")
    parent = data.pop("extends", None)
    if parent:
        data = deep_merge(_read_profile(config_dir, parent, (*seen, name)), data)
    return data


TF_OUTPUTS_ENV = "TRADEWIND_TF_OUTPUTS"
_TF_PLACEHOLDER = re.compile(r"\$\{tf:([A-Za-z_][A-Za-z0-9_]*)\}")


def tf_outputs_path(config_dir: Path, profile: str) -> Path:
    """Where a profile's Terraform outputs are read: ``TRADEWIND_TF_OUTPUTS``, else beside the profile."""
    explicit = os.environ.get(TF_OUTPUTS_ENV)
    return Path(explicit) if explicit else config_dir / "profiles" / f"{profile}.tfoutputs.json"


def tf_placeholders(data: Any) -> set[str]:
    """The Terraform output names a profile's values refer to (``${tf:NAME}``)."""
    if isinstance(data, dict):
        return set().union(*(tf_placeholders(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(tf_placeholders(v) for v in data)) if data else set()
    return set(_TF_PLACEHOLDER.findall(data)) if isinstance(data, str) else set()


def _read_tf_outputs(path: Path) -> dict[str, Any]:
    """``terraform output -json`` (``{"name": {"value": ...}}``) or a plain ``{"name": value}`` mapping."""
    import json

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the Terraform outputs: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: Terraform outputs must be a JSON object of output name to value")
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in raw.items()}


def _fill_tf(data: Any, outputs: dict[str, Any], missing: list[str], where: str = "") -> Any:
    """``data`` with every ``${tf:NAME}`` replaced by the Terraform output NAME; what is missing goes to ``missing``."""
    if isinstance(data, dict):
        return {k: _fill_tf(v, outputs, missing, f"{where}.{k}" if where else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [_fill_tf(v, outputs, missing, f"{where}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, str) or "${tf:" not in data:
        return data

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in outputs:
            missing.append(f"{where}: needs the Terraform output '{name}'")
        elif isinstance(outputs[name], dict | list):
            missing.append(f"{where}: Terraform output '{name}' is not a single value")
        else:
            return str(outputs[name])
        return match.group(0)

    return _TF_PLACEHOLDER.sub(value, data)


def _with_tf_outputs(data: dict[str, Any], config_dir: Path, name: str, origin: Path) -> dict[str, Any]:
    outputs_path = tf_outputs_path(config_dir, name)
    outputs = _read_tf_outputs(outputs_path) if outputs_path.exists() else {}
    missing: list[str] = []
    filled = _fill_tf(data, outputs, missing)
    if missing:
        found = f"{outputs_path} lacks them" if outputs else f"{outputs_path} does not exist"
        raise ConfigError(
            f"{origin}: " + "; ".join(missing) + f". {found}: run `terraform -chdir=terraform/envs/<env> output -json "
            f"> {outputs_path}`, or set {TF_OUTPUTS_ENV} to such a file"
        )
    return filled


def load_settings(profile: str | None = None, config_dir: Path | None = None) -> Settings:
    config_dir = Path(config_dir or CONFIG_DIR)
    name = profile or os.environ.get("TRADEWIND_PROFILE", "local")
    data = _read_profile(config_dir, name)
    origin = config_dir / "profiles" / f"{name}.yaml"
    if tf_placeholders(data):
        data = _with_tf_outputs(data, config_dir, name, origin)
    storage = data.get("storage") or {}
    if "root" not in storage:
        raise ConfigError(f"{origin}: storage.root: missing (a file://, s3:// or gs:// URI)")
    root = os.environ.get("TRADEWIND_STORAGE_ROOT") or str(storage["root"])
    root = root.replace("{repo}", REPO_ROOT.as_posix())
    conn_id = os.environ.get("TRADEWIND_STORAGE_CONN_ID", storage.get("conn_id")) or None
    datasets = data.get("datasets") or []
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise ConfigError(f"{origin}: datasets: must be a list of dataset names")
    return Settings(
        profile=name,
        storage=StorageSettings(root=root, conn_id=conn_id),
        datasets=tuple(datasets),
        training=_training(origin, data.get("training") or {}),
        serving=_serving(origin, data.get("serving") or {}),
        mlflow=_mlflow(origin, data.get("mlflow") or {}),
        stages=_stages(origin, data.get("stages") or {}),
        sources=_sources(origin, data.get("sources") or {}),
        retention=_retention(origin, data.get("retention") or {}),
        dataset_overrides=data.get("dataset_overrides") or {},
        promotion_overrides=_mapping(origin, "promotion", data.get("promotion")),
        demo=data.get("demo") or {},
        config_dir=config_dir,
    )


def _mapping(origin: Path, name: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: {name}: must be a mapping")
    return raw


def _section(origin: Path, name: str, raw: Any, fields: Any) -> dict[str, Any]:
    """A profile section as a mapping of known keys; the error names the file and the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: {name}: must be a mapping")
    known = set(fields)
    if unknown := sorted(set(raw) - known):
        raise ConfigError(f"{origin}: {name}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return raw


def _training(origin: Path, raw: Any) -> TrainingSettings:
    raw = _section(origin, "training", raw, TrainingSettings.__dataclass_fields__)
    backend = str(raw.get("backend", "local"))
    backends = raw.get("backends", [backend])
    if not isinstance(backends, list) or not backends:
        raise ConfigError(f"{origin}: training.backends: must be a non-empty list")
    for where, value in [("backend", backend), *((f"backends[{i}]", str(b)) for i, b in enumerate(backends))]:
        if value not in BACKENDS:
            raise ConfigError(f"{origin}: training.{where}: '{value}' is not a backend (known: {', '.join(BACKENDS)})")
    if backend not in backends:
        raise ConfigError(f"{origin}: training.backend: '{backend}' is not among training.backends {backends}")
    keys = ("gpu_profile", "namespace", "kubernetes_conn_id", "rendezvous_service", "image_registry", "service_account")
    text = {k: str(raw[k]) for k in (*keys, "image_tag") if raw.get(k) is not None}
    if os.environ.get("TRADEWIND_IMAGE_TAG"):
        text["image_tag"] = os.environ["TRADEWIND_IMAGE_TAG"]
    return TrainingSettings(backend=backend, backends=tuple(str(b) for b in backends), **text)


def _serving(origin: Path, raw: Any) -> ServingSettings:
    raw = _section(origin, "serving", raw, ServingSettings.__dataclass_fields__)
    target = str(raw.get("target", "local"))
    if target not in SERVING_TARGETS:
        raise ConfigError(f"{origin}: serving.target: '{target}' is not a target (known: {', '.join(SERVING_TARGETS)})")
    prometheus = raw.get("prometheus_url")
    if prometheus is not None and not str(prometheus).startswith(("http://", "https://")):
        raise ConfigError(f"{origin}: serving.prometheus_url: must be an http(s):// URL, got '{prometheus}'")
    return ServingSettings(**{k: str(v) for k, v in raw.items() if v is not None})


def _mlflow(origin: Path, raw: Any) -> MlflowSettings:
    raw = _section(origin, "mlflow", raw, MlflowSettings.__dataclass_fields__)
    uri = raw.get("tracking_uri")
    return MlflowSettings(tracking_uri=str(uri) if uri else None)


def _stages(origin: Path, raw: Any) -> StagesSettings:
    raw = _section(origin, "stages", raw, StagesSettings.__dataclass_fields__)
    backend = str(raw.get("backend", "local"))
    if backend not in BACKENDS:
        raise ConfigError(f"{origin}: stages.backend: '{backend}' is not a backend (known: {', '.join(BACKENDS)})")
    return StagesSettings(backend=backend, gpu_profile=str(raw.get("gpu_profile", "cpu-small")))


def _sources(origin: Path, raw: Any) -> SourcesSettings:
    raw = _section(origin, "sources", raw, SourcesSettings.__dataclass_fields__)
    roots = raw.get("allowed_roots") or []
    if not isinstance(roots, list) or not all(isinstance(r, str) and r.strip() for r in roots):
        raise ConfigError(f"{origin}: sources.allowed_roots: must be a list of URIs or paths")
    conn_id = raw.get("conn_id")
    return SourcesSettings(
        allowed_roots=tuple(r.replace("{repo}", REPO_ROOT.as_posix()) for r in roots),
        conn_id=str(conn_id) if conn_id else None,
    )


def _retention(origin: Path, raw: Any) -> RetentionSettings:
    raw = _section(origin, "retention", raw, RETENTION_DEFAULTS)
    for zone, days in raw.items():
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise ConfigError(f"{origin}: retention.{zone}: must be a whole number of days >= 1, or null (forever)")
    return RetentionSettings(**{**RETENTION_DEFAULTS, **raw})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (read once)."""
    return load_settings()
