"""Load a registered model version: the Tradewind model inside it and its MLflow signature.

A version's artifacts are a pyfunc model (``tradewind.registry.pyfunc``) that keeps the Tradewind
model folder among its artifacts, under the folder's own name; it is found by its manifest. The
artifacts are downloaded into a temporary folder that is removed once the model is in memory
(model files are read whole), so a long-running server that reloads often leaves nothing behind.

The promotion step (champion against candidate) and the model server both load through here.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from tradewind.registry.store import using_tracking_uri
from tradewind.training.model import MODEL_MANIFEST, REFERENCE_FILE, TrainedModel, load_model

log = logging.getLogger(__name__)

MLMODEL_FILE = "MLmodel"


@dataclass(frozen=True)
class SignatureInput:
    """One input column of a version's MLflow signature: its name, MLflow type and whether required."""

    name: str
    type: str | None
    required: bool = True


@dataclass(frozen=True)
class RegisteredModel:
    """A registered version loaded in memory, with the inputs its signature declares (if it has one)."""

    name: str
    version: str
    model: TrainedModel
    signature: tuple[SignatureInput, ...] | None

    @property
    def input_names(self) -> tuple[str, ...] | None:
        return None if self.signature is None else tuple(i.name for i in self.signature)


def load_registered_version(
    client: MlflowClient, tracking_uri: str, model_name: str, version: str | int
) -> RegisteredModel:
    """Download ``model_name`` version ``version`` and load its Tradewind model and signature.

    Raises ``MlflowException`` for an unknown version and ``FileNotFoundError`` when the version's
    artifacts hold no Tradewind model folder (a model logged some other way).
    """
    version = str(version)
    client.get_model_version(model_name, version)  # a clear MLflow error for an unknown version
    import mlflow

    with tempfile.TemporaryDirectory(prefix="tradewind-model-") as tmp:
        with using_tracking_uri(tracking_uri):
            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model_name}/{version}", dst_path=tmp)
            )
        return load_model_folder(local, model_name, version)


def load_model_folder(folder: str | Path, model_name: str, version: str) -> RegisteredModel:
    """Load a version's downloaded artifacts (an MLflow model folder holding a Tradewind model).

    This is what a registered version looks like once fetched, whoever fetched it: the registry
    download above, or KServe's storage initializer (``/mnt/models``) for a server that serves one
    model. Raises ``FileNotFoundError`` when the folder holds no Tradewind model folder.
    """
    local = Path(folder)
    if not local.is_dir():
        raise FileNotFoundError(f"{model_name} version {version}: model folder {local} does not exist")
    manifests = sorted(local.rglob(MODEL_MANIFEST))
    if not manifests:
        raise FileNotFoundError(f"{model_name} version {version}: no Tradewind model ({MODEL_MANIFEST}) under {local}")
    model = load_model(str(manifests[0].parent))
    signature = read_signature(local)
    log.info("Loaded %s version %s (%s)", model_name, version, model.framework)
    return RegisteredModel(name=model_name, version=version, model=model, signature=signature)


def load_registered_model(client: MlflowClient, tracking_uri: str, model_name: str, version: str | int) -> TrainedModel:
    """The Tradewind model of a registered version (see :func:`load_registered_version`)."""
    return load_registered_version(client, tracking_uri, model_name, version).model


def read_signature(model_dir: str | Path) -> tuple[SignatureInput, ...] | None:
    """The input columns of the MLflow signature in a downloaded model folder; ``None`` without one."""
    path = Path(model_dir) / MLMODEL_FILE
    if not path.exists():
        return None
    from mlflow.models import Model
    from mlflow.types.schema import ColSpec

    signature = Model.load(str(path)).signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return None
    inputs = []
    for spec in signature.inputs.inputs:
        kind = spec.type.name if isinstance(spec, ColSpec) and hasattr(spec.type, "name") else None
        inputs.append(SignatureInput(name=str(spec.name), type=kind, required=bool(getattr(spec, "required", True))))
    return tuple(inputs)


def fetch_version_reference(
    client: MlflowClient, tracking_uri: str, model_name: str, version: str | int, dst_path: str | Path
) -> Path:
    """Download ``model_name`` version ``version`` into ``dst_path``; the path of its drift reference.

    The promote step writes ``reference.parquet`` into the model folder before the version is
    logged, so it travels with the version's artifacts. Raises ``FileNotFoundError`` for a version
    logged without one (registered before references were stored, or logged some other way).
    """
    version = str(version)
    client.get_model_version(model_name, version)  # a clear MLflow error for an unknown version
    import mlflow

    with using_tracking_uri(tracking_uri):
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model_name}/{version}", dst_path=str(dst_path))
        )
    found = sorted(local.rglob(REFERENCE_FILE))
    if not found:
        raise FileNotFoundError(
            f"{model_name} version {version} has no drift reference ({REFERENCE_FILE}) among its artifacts; "
            "versions promoted by the train DAG carry one"
        )
    return found[0]


def version_metrics(client: MlflowClient, model_name: str, version: str | int) -> dict[str, float]:
    """The validation (holdout) metrics logged on the run of ``model_name`` version ``version``."""
    run_id = client.get_model_version(model_name, str(version)).run_id
    if not run_id:
        return {}
    return {k: float(v) for k, v in client.get_run(run_id).data.metrics.items()}
