"""Training runs in MLflow: one run per (data, code, params, framework), reused on retry.

A training task that Airflow retries must not leave two runs (and later two model versions) for
the same work. The run carries an *idempotency key*, a hash of what determines the model: the
content hashes of the training data, the code revision, the parameters and the framework. A retry
finds the FINISHED run with that key and reuses it; a run that failed half-way is not reused.

The model itself is logged by a caller-supplied ``model_logger(name)``, called inside the active
run with the model's name (MLflow 3's ``name=``, e.g. ``"model"``). It logs the model with its
signature and input example in whatever flavour the trainer uses, for example::

    lambda name: mlflow.xgboost.log_model(booster, name=name, signature=sig, input_example=x[:5])

so this module never depends on a trainer's format.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric, Param, RunStatus

from tradewind.registry.store import ensure_experiment, using_tracking_uri

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

KEY_TAG = "tradewind.idempotency_key"
FRAMEWORK_TAG = "tradewind.framework"
GIT_TAG = "tradewind.git_revision"
MLFLOW_GIT_TAG = "mlflow.source.git.commit"
FEATURES_TAG = "tradewind.features"
DATASET_TAG = "tradewind.dataset.name"
DATA_HASHES_TAG = "tradewind.data_hashes"
MODEL_URI_TAG = "tradewind.model_uri"
MODEL_NAME_TAG = "tradewind.model_name"
ENDED_BY_TAG = "tradewind.ended_by"
AIRFLOW_TAG_PREFIX = "airflow."
DIGEST_MAX = 36  # MLflow's MAX_DATASET_DIGEST_SIZE: the full hash goes in a dataset tag
_BAD_METRIC_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")

ModelLogger = Callable[[str], object]


@dataclass(frozen=True)
class TrainingData:
    """The frame a model was trained on, named, with the content hash from the Asset event."""

    frame: pd.DataFrame
    name: str
    content_hash: str
    source: str | None = None
    targets: str | None = None


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    reused: bool
    key: str
    experiment_id: str


def _canonical(value: Any) -> Any:
    """JSON-ready form with a stable order: mappings by key, sets sorted, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def idempotency_key(
    data_hashes: Mapping[str, str] | Sequence[str],
    code_revision: str,
    params: Mapping[str, Any],
    framework: str,
) -> str:
    """sha256 of the canonical JSON of what determines a model.

    Key order of ``params`` (and of ``data_hashes`` given as a mapping) does not matter; a
    sequence of hashes is sorted, since a training window is a set of partitions.
    """
    hashes = _canonical(data_hashes) if isinstance(data_hashes, Mapping) else sorted(data_hashes)
    blob = {"data": hashes, "code": code_revision, "params": _canonical(params), "framework": framework}
    text = json.dumps(blob, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def find_run(client: MlflowClient, experiment: str, key: str) -> str | None:
    """The id of the newest FINISHED run of ``experiment`` carrying ``key``, else ``None``."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`{KEY_TAG}` = '{key}' AND attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def _quoted(value: Any) -> str | None:
    text = str(value)
    return None if "'" in text or "\\" in text else f"'{text}'"


def end_abandoned_runs(
    client: MlflowClient, experiment_id: str, airflow_context: Mapping[str, Any] | None
) -> list[str]:
    """End as KILLED the runs an earlier try of this Airflow task left RUNNING; their ids.

    A try that dies (its worker killed, the tracking server gone) cannot end its run, and MLflow
    would show it RUNNING forever. The runs carry the task's ``airflow.dag_id/run_id/task_id``
    tags, and only one try of a task runs at a time, so the next try ends every RUNNING run of
    the same task with another ``try_number``, with a note (``tradewind.ended_by``) saying so.
    A context without those three ids (a manual call) ends nothing.
    """
    ids = dict(airflow_context or {})
    keys = ("dag_id", "run_id", "task_id")
    quoted = [_quoted(ids.get(k)) for k in keys]
    if not all(ids.get(k) for k in keys) or None in quoted:
        return []
    where = " AND ".join(f"tags.`{AIRFLOW_TAG_PREFIX}{k}` = {q}" for k, q in zip(keys, quoted, strict=True))
    runs = client.search_runs([experiment_id], filter_string=f"{where} AND attributes.status = 'RUNNING'")
    this_try = str(ids.get("try_number", ""))
    ended = []
    for run in runs:
        before = run.data.tags.get(f"{AIRFLOW_TAG_PREFIX}try_number", "?")
        if before == this_try:
            continue
        note = f"ended by try {this_try or '?'} of {'/'.join(str(ids[k]) for k in keys)}: try {before} left it RUNNING"
        client.set_tag(run.info.run_id, ENDED_BY_TAG, note)
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.KILLED))
        ended.append(run.info.run_id)
    return ended


def _metric_key(*parts: str) -> str:
    return ".".join(_BAD_METRIC_CHARS.sub("_", p) for p in parts)


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Flat MLflow metric keys: ``segments: {US: {pr_auc: ..}}`` becomes ``segment.US.pr_auc``.

    Other nested mappings join with dots; values that are not numbers are left out (MLflow
    metrics are floats), NaN is kept (MLflow stores it) so a metric that could not be computed
    is visible rather than silently absent.
    """
    out: dict[str, float] = {}

    def walk(prefix: tuple[str, ...], value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk((*prefix, str(k)), v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[_metric_key(*prefix)] = float(value)

    for key, value in metrics.items():
        if key == "segments" and isinstance(value, Mapping):
            for segment, seg_metrics in value.items():
                walk(("segment", str(segment)), seg_metrics)
        else:
            walk((str(key),), value)
    return out


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(_canonical(value), default=str)
    return text[:6000]


def _run_tags(
    key: str,
    framework: str,
    code_revision: str,
    data_hashes: Mapping[str, str] | Sequence[str],
    features: Sequence[str],
    dataset: TrainingData | None,
    airflow_context: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
) -> dict[str, str]:
    out = {
        KEY_TAG: key,
        FRAMEWORK_TAG: framework,
        GIT_TAG: code_revision,
        MLFLOW_GIT_TAG: code_revision,
        FEATURES_TAG: json.dumps(list(features))[:8000],
        DATA_HASHES_TAG: json.dumps(_canonical(data_hashes))[:8000],
    }
    if dataset is not None:
        out[DATASET_TAG] = dataset.name
    for name, value in (airflow_context or {}).items():
        out[f"{AIRFLOW_TAG_PREFIX}{name}"] = str(value)
    out.update({k: str(v) for k, v in (tags or {}).items()})
    return out


def _log_params_and_metrics(
    client: MlflowClient, run_id: str, params: Mapping[str, Any], metrics: Mapping[str, Any]
) -> None:
    """In batches within MLflow's limits (100 params, 1000 metrics per request)."""
    items = [Param(str(k), _param_value(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i : i + 100])
    points = [Metric(k, v, 0, 0) for k, v in flatten_metrics(metrics).items()]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i : i + 1000])


@contextlib.contextmanager
def _active_run(client: MlflowClient, run_id: str) -> Iterator[None]:
    """Make ``run_id`` the fluent active run on the client's store (see :func:`using_tracking_uri`)."""
    with using_tracking_uri(client.tracking_uri), mlflow.start_run(run_id=run_id, log_system_metrics=False):
        yield


def _log_dataset(dataset: TrainingData) -> None:
    # Without a source MLflow records the calling code; a URI (file://, s3://) names the partition.
    where: dict[str, Any] = {"source": dataset.source} if dataset.source else {}
    ds = from_pandas(
        dataset.frame,
        **where,
        targets=dataset.targets,
        name=dataset.name,
        digest=dataset.content_hash[:DIGEST_MAX],
    )
    mlflow.log_input(ds, context="training", tags={"tradewind.content_hash": dataset.content_hash})


def _logged_model_id(client: MlflowClient, experiment_id: str, run_id: str, logged: object) -> str | None:
    """The id of the model this run logged: from what the logger returned (MLflow's ``ModelInfo``), else
    looked up by the run (never the process's "last logged model", which may be another run's, on
    another server)."""
    model_id = getattr(logged, "model_id", None)
    if isinstance(model_id, str) and model_id:
        return model_id
    found = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'", max_results=1)
    return found[0].model_id if found else None


def log_training_run(
    client: MlflowClient,
    experiment: str,
    *,
    framework: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    data_hashes: Mapping[str, str] | Sequence[str],
    code_revision: str,
    model_logger: ModelLogger,
    model_name: str = "model",
    features: Sequence[str] = (),
    dataset: TrainingData | None = None,
    airflow_context: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainingRun:
    """Create the training run, or reuse the FINISHED run with the same idempotency key.

    Logs params, flattened metrics, the tags (idempotency key, framework, git revision, feature
    list, data hashes, ``airflow.dag_id/run_id/try_number`` from ``airflow_context``), the training
    data through ``mlflow.data`` (digest = content hash), then calls ``model_logger(model_name)``
    inside the active run. Any error ends the run FAILED, so a retry starts afresh; a run that an
    earlier try of the same task could not end (it died) is ended KILLED first
    (:func:`end_abandoned_runs`).
    """
    key = idempotency_key(data_hashes, code_revision, params, framework)
    experiment_id = ensure_experiment(client, experiment)
    for run_id in end_abandoned_runs(client, experiment_id, airflow_context):
        log.warning("Ended run %s as KILLED: an earlier try of this task left it RUNNING", run_id)
    existing = find_run(client, experiment, key)
    if existing is not None:
        return TrainingRun(run_id=existing, reused=True, key=key, experiment_id=experiment_id)
    run_tags = _run_tags(key, framework, code_revision, data_hashes, features, dataset, airflow_context, tags)
    run_tags[MODEL_NAME_TAG] = model_name
    run = client.create_run(experiment_id, tags=run_tags)
    run_id = run.info.run_id
    try:
        _log_params_and_metrics(client, run_id, params, metrics)
        client.log_dict(run_id, {"features": list(features)}, "features.json")
        with _active_run(client, run_id):
            if dataset is not None:
                _log_dataset(dataset)
            model_id = _logged_model_id(client, experiment_id, run_id, model_logger(model_name))
            if model_id is not None:
                mlflow.set_tag(MODEL_URI_TAG, f"models:/{model_id}")
    except BaseException:
        client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FINISHED))
    return TrainingRun(run_id=run_id, reused=False, key=key, experiment_id=experiment_id)
