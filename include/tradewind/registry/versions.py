"""Registered model versions: one per successful training run, and the gate's verdict on each.

Registration is idempotent per run: a retried task (or a second caller) registering the same run
gets the version that already exists. The check and the create happen under the model's registry
lock (:func:`tradewind.registry.store.registry_lock`), so two racing registrations of one run
still make one version.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from tradewind.registry.store import registry_lock, using_tracking_uri

if TYPE_CHECKING:
    from tradewind.registry.gate import Decision

DECISION_TAG = "tradewind.decision"
DECISION_PASSED_TAG = "tradewind.decision.passed"
DECISION_REASONS_TAG = "tradewind.decision.reasons"
DECISION_NOTES_TAG = "tradewind.decision.notes"
_TAG_MAX = 100_000  # MLflow's MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH


def _ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    try:
        client.create_registered_model(model_name)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def find_version(client: MlflowClient, model_name: str, run_id: str) -> ModelVersion | None:
    """The oldest version of ``model_name`` made from ``run_id``, if any."""
    found = client.search_model_versions(f"name = '{model_name}' AND run_id = '{run_id}'")
    return min(found, key=lambda v: int(v.version)) if found else None


def model_source(client: MlflowClient, run_id: str, artifact_path: str) -> tuple[str, str | None]:
    """``(source URI, logged model id)`` of the model named ``artifact_path`` in a run.

    MLflow 3 logs a model as a *logged model* (``models:/m-...``) linked to its run; a model
    written as plain run artifacts (MLflow 2 style) is found under ``runs:/<run>/<path>``.
    """
    run = client.get_run(run_id)
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"name = '{artifact_path}' AND source_run_id = '{run_id}'",
    )
    if models:
        newest = max(models, key=lambda m: m.creation_timestamp)
        return f"models:/{newest.model_id}", newest.model_id
    return f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}", None


def register_version(client: MlflowClient, model_name: str, run_id: str, artifact_path: str = "model") -> ModelVersion:
    """Register the run's model as a version of ``model_name``, or return the run's existing version."""
    existing = find_version(client, model_name, run_id)
    if existing is not None:
        return existing
    _ensure_registered_model(client, model_name)
    with registry_lock(client, model_name):
        existing = find_version(client, model_name, run_id)
        if existing is not None:
            return existing
        source, model_id = model_source(client, run_id, artifact_path)
        # The registry resolves a models:/m-... source through the global tracking URI.
        with using_tracking_uri(client.tracking_uri):
            return client.create_model_version(
                model_name,
                source=source,
                run_id=run_id,
                model_id=model_id,
                tags={"tradewind.artifact_path": artifact_path},
            )


def record_decision(client: MlflowClient, model_name: str, version: str | int, decision: Decision) -> None:
    """Write the gate's decision and its reasons as tags on the version (no alias moves here).

    A rejected candidate's version thus says why it was rejected, in the registry UI and API.
    """
    tags = {
        DECISION_TAG: decision.action,
        DECISION_PASSED_TAG: str(decision.passed).lower(),
        DECISION_REASONS_TAG: json.dumps(decision.reasons)[:_TAG_MAX],
        DECISION_NOTES_TAG: json.dumps(decision.notes)[:_TAG_MAX],
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)


def read_decision(client: MlflowClient, model_name: str, version: str | int) -> dict[str, object] | None:
    """The decision recorded on a version (``action``, ``passed``, ``reasons``, ``notes``), if any."""
    tags = client.get_model_version(model_name, str(version)).tags
    if DECISION_TAG not in tags:
        return None
    return {
        "action": tags[DECISION_TAG],
        "passed": tags.get(DECISION_PASSED_TAG) == "true",
        "reasons": json.loads(tags.get(DECISION_REASONS_TAG, "[]")),
        "notes": json.loads(tags.get(DECISION_NOTES_TAG, "[]")),
    }
