"""Stage ``promote``: log, register, judge and (on a pass) alias one trained model folder.

The candidate's rows are the validated partitions it trained on, split by the split recorded with
the model (:func:`tradewind.data.split.apply_split`): the gate judges the candidate and the champion
on exactly the holdout the trainer held out, never on a second split rule. The champion's drift
reference (a sample of the training set, with the candidate's scores) is written beside the model
and logged with the version. The newest validated day is scored too, for the record.

The outcome is :class:`tradewind.registry.promotion.PromotionOutcome` as a dict: ``action`` is
``champion``, ``challenger``, ``reject`` (with the gate's ``reasons``) or ``lost`` (passed, but a
concurrent promotion set the alias first; the reason is in ``reasons`` and on the version). A move
that a crashed earlier try left half-done is completed first, and runs it left RUNNING are ended.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.settings import get_settings
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath

log = logging.getLogger(__name__)


def candidate_sets(spec: Any, rows: Any, summary: Mapping[str, Any]) -> Any:
    """The candidate's named sets: its recorded split, or (a model from before splits were recorded)
    the same time rule with its recorded holdout fraction."""
    from tradewind.data.split import apply_split, split_by_time

    if summary.get("split"):
        return apply_split(rows, spec, summary["split"])
    return split_by_time(rows, spec, float(summary.get("params", {}).get("holdout_fraction", 0.2)))


def promote(
    dataset: str,
    *,
    model_uri: str,
    dates: Sequence[str],
    client: Any,
    tracking_uri: str,
    root: str | LakePath | None = None,
    airflow_context: Mapping[str, Any] | None = None,
    triggered_by: str = "manual",
) -> dict[str, Any]:
    """Promote the model folder at ``model_uri`` (trained on ``dates``); the outcome as a dict."""
    from tradewind.data.split import SplitMismatch
    from tradewind.data.validated import MissingPartitions, latest_dates, load_validated
    from tradewind.monitoring.reference import REFERENCE_FILE, reference_for_model, save_reference
    from tradewind.registry.aliases import repair
    from tradewind.registry.promotion import CandidateError, mean_baseline, promote_candidate
    from tradewind.training.model import ModelLoadError, load_model

    settings = get_settings()
    spec = settings.spec(dataset)
    lake = root if root is not None else settings.storage.root
    repair(client, spec.name, triggered_by=triggered_by)  # a move a crashed try left half-done
    try:
        # Whichever backend trained it, the model folder is in the lake, its summary in its manifest.
        candidate = load_model(model_uri)
        summary = dict(candidate.metadata)
        mean_baseline(spec, summary)  # a regression model without its mean baseline cannot be judged
        sets = candidate_sets(spec, load_validated(spec, lake, list(dates)), summary)
    except (ModelLoadError, MissingPartitions, SplitMismatch, CandidateError) as err:
        raise StageInputError(str(err)) from err
    newest = latest_dates(spec, lake, count=1)
    log.info("Most recent validated window: %s", ", ".join(d.isoformat() for d in newest) or "none")
    recent = load_validated(spec, lake, [d.isoformat() for d in newest]) if newest else None
    with tempfile.TemporaryDirectory(prefix="tradewind-candidate-") as local:
        candidate.save(local)  # MLflow logs artifacts from a local folder
        # The drift checks' reference travels with the version (and stays beside the model in the lake).
        reference = reference_for_model(candidate, sets.train, spec)
        for target in (f"{local}/{REFERENCE_FILE}", f"{model_uri.rstrip('/')}/{REFERENCE_FILE}"):
            save_reference(reference, target)
        log.info("Drift reference: %d of %d training rows with the model's scores", len(reference), len(sets.train))
        outcome = promote_candidate(
            client,
            tracking_uri,
            model_name=spec.name,
            experiment=f"tradewind-{spec.name}",
            spec=spec,
            model_dir=local,
            summary=summary,
            holdout=sets.holdout,
            recent=recent,
            training_rows=len(sets.train),
            config=settings.gate(),
            airflow_context=airflow_context,
            triggered_by=triggered_by,
        )
    return outcome.to_dict()
