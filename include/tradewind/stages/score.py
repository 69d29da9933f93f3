"""Stage ``score``: a validated day scored by a registered model, written to ``scores/<dataset>/date=D/``.

1. Find the day's committed validated partition (a superseded day counts as missing).
2. Choose the model: ``--version N``, or the version an alias points at (``champion`` by default), of the
   registered model named after the data set; download and load it as the model server does.
3. Score every row in bounded chunks through the server's scoring path and commit the scores with their
   lineage (:mod:`tradewind.serving.batch_scoring`).

Bad input (exit 2): an unknown data set, a malformed date or version, no committed validated partition,
a data set with no registered model, an alias that is not set, a version that does not exist, a task
without a batch response, rows the model cannot read. A registry or storage that cannot be reached or
written is a failure worth a retry (exit 1); either way nothing partial is left under ``scores/``.
"""

from __future__ import annotations

import logging
from typing import Any

from tradewind.stages.inputs import dataset_day
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath

log = logging.getLogger(__name__)

# MLflow's code for a registered model or version that does not exist.
NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"


def score(
    dataset: str,
    date: str,
    *,
    client: Any,
    tracking_uri: str,
    root: str | LakePath | None = None,
    version: str | int | None = None,
    alias: str | None = None,
    chunk_rows: int | None = None,
) -> dict[str, Any]:
    """Score ``date`` of ``dataset`` with ``version`` (or ``alias``, default champion); the scores' lineage."""
    from tradewind.data.validated import MissingPartitions, validated_manifests
    from tradewind.serving.batch_scoring import DEFAULT_CHUNK_ROWS, MissingColumns, UnsupportedTask, score_partition

    settings, spec, day = dataset_day(dataset, date)
    lake = root if root is not None else settings.storage.root
    try:
        validated = validated_manifests(spec, lake, [day])[day]
    except MissingPartitions as err:
        raise StageInputError(str(err)) from err
    scoring = load_scoring_model(client, tracking_uri, dataset, version=version, alias=alias)
    try:
        return score_partition(scoring, spec, lake, validated, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS)
    except (UnsupportedTask, MissingColumns) as err:
        raise StageInputError(f"{dataset} version {scoring.version}: {err}") from err


def resolve_version(
    client: Any, model_name: str, version: str | int | None, alias: str | None
) -> tuple[str, str | None]:
    """The version to score with and the alias it was chosen by (None for an explicit version).

    :class:`StageInputError` for both or a malformed version, an unknown model, an unset alias or a
    missing version; any other registry error (an outage) propagates.
    """
    from mlflow.exceptions import MlflowException

    from tradewind.registry.aliases import CHAMPION

    if version is not None and alias is not None:
        raise StageInputError("give --version or --alias, not both")
    if version is not None and not str(version).isdigit():
        raise StageInputError(f"--version: '{version}' is not a version number (1, 2, ...)")
    alias = None if version is not None else alias or CHAMPION
    try:
        if version is not None:
            client.get_model_version(model_name, str(version))
            return str(int(version)), None
        chosen = client.get_registered_model(model_name).aliases.get(alias)
    except MlflowException as err:
        if err.error_code != NOT_FOUND:
            raise
        what = f"version {version} of " if version is not None else ""
        raise StageInputError(f"{what}registered model '{model_name}' does not exist: {err.message}") from err
    if chosen is None:
        hint = f" (train one first: train_{model_name})" if alias == CHAMPION else ""
        raise StageInputError(f"registered model '{model_name}' has no '{alias}' alias{hint}")
    return str(chosen), alias


def load_scoring_model(
    client: Any, tracking_uri: str, model_name: str, *, version: str | int | None = None, alias: str | None = None
) -> Any:
    """The chosen version loaded as the model server loads it, with its run id (a ``ScoringModel``)."""
    from tradewind.registry.loading import load_registered_version
    from tradewind.serving.batch_scoring import ScoringModel

    chosen, by_alias = resolve_version(client, model_name, version, alias)
    try:
        found = load_registered_version(client, tracking_uri, model_name, chosen)
    except FileNotFoundError as err:  # a version logged some other way: no Tradewind model inside
        raise StageInputError(str(err)) from err
    run_id = client.get_model_version(model_name, chosen).run_id
    log.info("Scoring with %s version %s%s", model_name, chosen, f" ('{by_alias}')" if by_alias else "")
    return ScoringModel(name=model_name, version=chosen, run_id=run_id, model=found.model, alias=by_alias)
