"""The model server's answer per task: the JSON of ``predictions``, its OpenAPI model and what is measured.

A model's scores (:meth:`TrainedModel.predict_matrix`) are, per its spec's task:

* ``binary``: the positive class's probability per instance, answered as it is
  (``"predictions": [0.0123, ...]``);
* ``multiclass``: a rows x classes matrix in ``classes`` order, answered per instance as the most
  probable class (the label's value: text, or an integer for integer classes) and every class's
  probability keyed by the class's name
  (``"predictions": [{"class": "mid", "probabilities": {"low": 0.1, "mid": 0.7, "high": 0.2}}, ...]``);
* ``regression``: the predicted value per instance (``"predictions": [12.5, ...]``).

``tradewind_score`` (the histogram the canary reads) takes the binary score, the multiclass predicted
class's probability, and nothing for regression (its buckets are probabilities').
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, create_model

from tradewind.data.spec import DatasetSpec
from tradewind.data.target import predicted_classes, target_names

CLASS_KEY = "class"
PROBABILITIES_KEY = "probabilities"


def expected_shape(spec: DatasetSpec, rows: int) -> tuple[int, ...]:
    """The shape of a model's scores for ``rows`` records."""
    if spec.task == "multiclass":
        return (rows, len(spec.label_values or ()))
    return (rows,)


def predictions(spec: DatasetSpec, scores: np.ndarray) -> list[Any]:
    """The ``predictions`` of a response (see the module docstring)."""
    if spec.task != "multiclass":
        values: list[Any] = scores.tolist()
        return values
    names = target_names(spec) or []
    chosen = predicted_classes(spec, scores)
    return [
        {CLASS_KEY: label, PROBABILITIES_KEY: dict(zip(names, row, strict=True))}
        for label, row in zip(chosen.tolist(), scores.tolist(), strict=True)
    ]


def observed(spec: DatasetSpec, scores: np.ndarray) -> np.ndarray:
    """What ``tradewind_score`` observes of the scores (nothing for regression)."""
    if spec.task == "multiclass":
        return scores.max(axis=1) if len(scores) else np.zeros(0)
    return np.zeros(0) if spec.task == "regression" else scores


class _Answer(BaseModel):
    variant: Literal["champion", "challenger"]
    model_version: str
    request_id: str


def response_model(spec: DatasetSpec) -> type[BaseModel]:
    """The OpenAPI model of a 200 answer of ``spec``'s data set (the app is built per data set)."""
    if spec.task == "multiclass":
        item: Any = _class_prediction(spec)
        description = "The most probable class and every class's probability, one per instance, in order"
    elif spec.task == "regression":
        item = float
        description = f"The predicted '{spec.label}', one per instance, in order"
    else:
        item = float
        description = "Probability of the positive class, one per instance, in order"
    model: type[BaseModel] = create_model(
        "PredictResponse", __base__=_Answer, predictions=(list[item], Field(description=description))
    )
    return model


def _class_prediction(spec: DatasetSpec) -> type[BaseModel]:
    names = target_names(spec) or []
    fields: dict[str, Any] = {f"p{i}": (float, Field(alias=name, ge=0.0, le=1.0)) for i, name in enumerate(names)}
    probabilities = create_model("ClassProbabilities", **fields)
    classes: Any = Literal.__getitem__(tuple(spec.label_values or ()))
    model: type[BaseModel] = create_model(
        "ClassPrediction",
        class_=(classes, Field(alias=CLASS_KEY, description=f"The most probable value of '{spec.label}'")),
        probabilities=(probabilities, Field(description="Each class's probability, keyed by the class")),
    )
    return model
