"""Tradewind models as MLflow pyfunc models: what the registry stores and the server loads.

The trainer writes a self-describing model folder (``tradewind.training.model``). It is logged as
an artifact of a ``PythonModel`` whose ``predict`` takes *raw records* (the dataset spec's
columns) and returns the probability of the positive class, computing features with the same
``build_features`` as training. So ``mlflow.pyfunc.load_model("models:/<name>@champion")`` scores
requests exactly as the model was evaluated, for either framework.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from tradewind.data.pii import pii_columns
from tradewind.data.spec import DatasetSpec
from tradewind.data.target import response_columns

MODEL_ARTIFACT = "tradewind_model"
SCORE = "score"


class TradewindPyfunc(PythonModel):
    """Scores raw records with a trained Tradewind model (XGBoost or PyTorch)."""

    def load_context(self, context: Any) -> None:
        from tradewind.training.model import load_model

        self._model = load_model(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        scores = np.asarray(self._model.predict_proba(model_input), dtype="float64")
        return pd.DataFrame(response_columns(self._model.spec, scores), index=model_input.index)


def requirements(framework: str) -> list[str]:
    """Pinned requirements of a served model (given, not inferred: inference imports and is slow)."""
    from importlib.metadata import version

    packages = ["pandas", "numpy", "pyarrow", "pydantic", "pyyaml", "universal-pathlib"]
    packages.append({"xgboost": "xgboost", "torch": "torch"}.get(framework, framework))
    return [f"{p}=={version(p)}" for p in packages]


def pyfunc_logger(
    model_dir: str | Path, input_example: pd.DataFrame, spec: DatasetSpec | None = None
) -> Callable[[str], object]:
    """A ``model_logger`` for ``log_training_run``: logs the model folder as a pyfunc with a signature.

    The signature is inferred from a few raw records and the scores the model gives them, so the
    server can validate requests against it. The input example MLflow keeps beside the model holds
    those records with the values of ``spec``'s pii columns replaced (:func:`example_without_pii`).
    """

    def log(name: str) -> object:
        from tradewind.data.reader import normalise
        from tradewind.training.model import load_model

        model = load_model(model_dir)
        # Requests arrive as JSON: plain strings, no pandas categoricals, and no label column.
        example = normalise(input_example.head(5).drop(columns=[model.spec.label], errors="ignore"))
        example = example.reset_index(drop=True)
        scores = pd.DataFrame(response_columns(model.spec, np.asarray(model.predict_proba(example), dtype="float64")))
        signature = mlflow.models.infer_signature(example, scores)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=TradewindPyfunc(),
            artifacts={MODEL_ARTIFACT: str(model_dir)},
            signature=signature,
            input_example=example_without_pii(example, spec or model.spec),
            pip_requirements=requirements(model.framework),
        )

    return log


def example_without_pii(example: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """``example`` with every pii column's values replaced by a placeholder of the column's type.

    The input example is stored with the model as JSON (``input_example.json``); the signature keeps
    the column and its type, and MLflow checks the example against it, so the column stays, typed
    as it was, and holds no one's data: ``0``, ``False``, the epoch or the text ``"pii"``.
    """
    columns = [c for c in pii_columns(spec) if c in example.columns]
    if not columns:
        return example
    out = example.copy()
    for name in columns:
        out[name] = pd.Series([_placeholder(out[name].dtype)] * len(out), index=out.index, dtype=out[name].dtype)
    return out


def _placeholder(dtype: Any) -> Any:
    kind = getattr(dtype, "kind", "O")
    if kind == "b":
        return False
    if kind in "iuf":
        return 0
    if kind == "M":
        return pd.Timestamp(0, tz=getattr(dtype, "tz", None))
    return "pii"
