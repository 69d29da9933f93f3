"""Stage ``plan``: what a training run trains on, or why it does not run.

From the Asset events that triggered the run (validated data, or drift), the form's date and window,
and the registry's history, the plan decides:

* **the window's end**: the form's date; else, on drift, the newest day of the drifted traffic's
  events (``data_until``), or the newest validated partition in the lake; else the newest validated
  event's date;
* **the days**: the committed validated partitions among the ``window_days`` days to that end;
* **the data's identity**: the combined content hash from the partitions' manifests (no rows read);
* **governance** (``promotion.yaml``'s ``retrain:``): cooldown, daily cap, unchanged data, unless
  the form forces the run;
* **where the model goes**: one folder per run in the lake, so a retry resumes from its checkpoints.

The outcome is a :class:`TrainPlan`: ``status`` ``planned`` or ``skipped`` (with the reason).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tradewind.data.split import SPLIT_SETS
from tradewind.settings import get_settings
from tradewind.stages.outcome import StageInputError
from tradewind.storage import LakePath

log = logging.getLogger(__name__)


@dataclass
class TrainPlan:
    """The plan of one training run (JSON-ready through :meth:`to_dict`)."""

    dataset: str
    status: Literal["planned", "skipped"]
    trigger: Literal["data", "drift", "manual"]
    governance: str
    until: str
    dates: list[str] = field(default_factory=list)
    data_hash: str | None = None
    root: str = ""
    model_uri: str | None = None
    checkpoint_uri: str | None = None
    # The model's task and the named sets its rows are split into (tradewind.data.split).
    task: str = "binary"
    splits: list[str] = field(default_factory=lambda: list(SPLIT_SETS))

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_events(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """One log line per drift event (what drifted, where its report is)."""
    lines = []
    for x in events:
        if x.get("status") == "drift":
            drifted = ", ".join(x.get("drifted_features") or []) or "none"
            lines.append(
                f"drift of v{x.get('model_version')}: features {drifted}, share {x.get('share')}, "
                f"window {x.get('window')}; report {x.get('report')}"
            )
    return lines


def window_end(
    events: Sequence[Mapping[str, Any]], form_date: str | None, newest_validated: dt.date | None
) -> tuple[str, Literal["data", "drift", "manual"]]:
    """The window's last day and what triggered the run; StageInputError when nothing gives a day."""
    drifts = [x for x in events if x.get("status") == "drift"]
    trigger: Literal["data", "drift", "manual"] = "drift" if drifts else ("data" if events else "manual")
    if form_date:
        return str(form_date)[:10], trigger
    until_days = [str(x["data_until"]) for x in drifts if x.get("data_until")]
    if until_days:  # a retrain on drift covers the days the drifted traffic came from
        return max(until_days), trigger
    event_dates = [str(x["partition_date"]) for x in events if x.get("partition_date")]
    if event_dates:
        return max(event_dates), trigger
    if drifts and newest_validated is not None:  # else the newest validated data
        return newest_validated.isoformat(), trigger
    raise StageInputError(
        "no end date: no validated Asset event triggered this run, no validated partition is in the lake, "
        "and the form has no date"
    )


def run_folder(root: str, dataset: str, run_id: str) -> str:
    """One model folder per run: a retry of the train task finds its checkpoints again."""
    run = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
    return f"{root.rstrip('/')}/models/{dataset}/{run}"


def plan_training(
    dataset: str,
    *,
    run_id: str,
    client: Any,
    events: Sequence[Mapping[str, Any]] = (),
    date: str | None = None,
    window_days: int = 7,
    force: bool = False,
    root: str | LakePath | None = None,
    now: dt.datetime | None = None,
) -> TrainPlan:
    """Plan one training run of ``dataset`` (``client``: an MlflowClient, for the retrain history)."""
    from tradewind.data.validated import (
        available_dates,
        combined_hash,
        content_hashes,
        latest_dates,
        validated_manifests,
    )
    from tradewind.registry.gate import retrain_allowed
    from tradewind.registry.promotion import retrain_history

    settings = get_settings()
    spec = settings.spec(dataset)  # every task plans alike; the train stage checks the framework takes it
    lake = str(root if root is not None else settings.storage.root)
    for line in describe_events(events):
        log.info("Triggered by %s", line)
    needs_newest = not date and any(x.get("status") == "drift" for x in events)
    newest = latest_dates(spec, lake, count=1) if needs_newest else []
    until, trigger = window_end(events, date, newest[-1] if newest else None)
    try:
        end = dt.date.fromisoformat(until)
    except ValueError:
        raise StageInputError(f"date: '{until}' is not a YYYY-MM-DD date") from None
    if window_days < 1:
        raise StageInputError(f"window_days: must be at least 1, got {window_days}")
    days = available_dates(spec, lake, until=end, window_days=window_days)
    if not days:
        raise StageInputError(f"no validated {dataset} partitions in the {window_days} days to {until}")
    # The data's identity comes from the manifests: no rows are read to plan.
    data_hash = combined_hash(content_hashes(validated_manifests(spec, lake, days)))
    starts, last_hash = retrain_history(client, f"tradewind-{dataset}")
    allowed, reason = retrain_allowed(starts, now or dt.datetime.now(dt.UTC), data_hash, last_hash, settings.gate())
    log.info("Retrain governance: %s", reason)
    folder = run_folder(lake, dataset, run_id)
    return TrainPlan(
        dataset=dataset,
        status="planned" if allowed or force else "skipped",
        trigger=trigger,
        governance=reason if allowed or not force else f"{reason} (forced by the form)",
        until=until,
        dates=[d.isoformat() for d in days],
        data_hash=data_hash,
        root=lake,
        model_uri=f"{folder}/model",
        checkpoint_uri=f"{folder}/checkpoints",
        task=spec.task,
    )
