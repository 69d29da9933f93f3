"""The canary: move traffic to the challenger stage by stage, judge SLOs, promote or roll back by itself.

``CanaryRolloutOperator`` runs one rollout of the data set's ``challenger`` version:

1. The serving target (local model server or KServe, from the environment profile) is made to
   hold the current champion and the challenger.
2. For each stage (``include/config/canary.yaml``, default 10% -> 50% -> 100%): the split is set,
   the metrics are snapshotted, and the task **defers** to :class:`ServingMetricsTrigger` until the
   stage has baked (bake time and ``min_requests`` challenger requests). No worker slot waits.
3. On resume the stage is judged (``tradewind.canary.verdict.judge_stage``: error rate, p99 latency
   against the champion, PSI of the score distributions). A breach rolls back at once.
4. Passing the 100% stage: challenger becomes champion through the registry (alias moves recorded,
   the old champion kept as ``previous-champion``, challenger cleared) and the target follows.

A retry first completes an alias move its failed try left half-done (``repair``). When that try had
already promoted (this run's promotion is the champion's latest move and still stands:
``completed_promotion``), the retry does not look for a challenger: it syncs the target to the new
champion, sets the split to 0 and records the outcome, the steps the failed try did not reach.

Roll back: traffic to 0 first, then the ``challenger`` alias is cleared (the champion never moved),
the target follows, the verdict is recorded on the version (``tradewind.canary`` tag), and the task
fails naming the breached SLO and its figures, without retries.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tradewind_airflow.hooks.mlflow import MlflowRegistryHook
from tradewind_airflow.operators.context import airflow_ids, triggered_by
from tradewind_airflow.triggers.serving import ServingMetricsTrigger

if TYPE_CHECKING:
    from tradewind.canary.config import CanaryConfig
    from tradewind.canary.metrics_source import MetricsSource
    from tradewind.canary.snapshots import MetricsSnapshot
    from tradewind_airflow.serving_targets import ServingTarget

CANARY_TAG = "tradewind.canary"


class CanaryRolloutOperator(BaseOperator):
    """Roll the ``challenger`` of ``model_name`` out in stages; promote it or roll it back.

    :param model_name: the registered model (the data set's name).
    :param stages: challenger percents, ascending, ending at 100 (default: canary.yaml).
    :param bake_seconds: minimum time per stage (default: canary.yaml).
    :param min_requests: challenger requests per stage (default: canary.yaml).
    :param poll_interval_seconds: how often a baking stage reads the metrics (default: canary.yaml).
    """

    template_fields: Sequence[str] = ("model_name", "stages", "bake_seconds", "min_requests", "poll_interval_seconds")
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        model_name: str,
        stages: Any = None,
        bake_seconds: Any = None,
        min_requests: Any = None,
        poll_interval_seconds: Any = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.stages = stages
        self.bake_seconds = bake_seconds
        self.min_requests = min_requests
        self.poll_interval_seconds = poll_interval_seconds
        self.mlflow_conn_id = mlflow_conn_id

    # -- wiring -----------------------------------------------------------------------------------
    @cached_property
    def registry(self) -> MlflowRegistryHook:
        return MlflowRegistryHook(mlflow_conn_id=self.mlflow_conn_id)

    @cached_property
    def target(self) -> ServingTarget:
        from tradewind_airflow.serving_targets import serving_target

        return serving_target(self.model_name)

    @cached_property
    def config(self) -> CanaryConfig:
        """canary.yaml with the form's overrides, checked the same way (errors name the key).

        The DAG renders its templates as native objects, so the form's list and numbers arrive as such."""
        from tradewind.stages.canary import canary_config

        return canary_config(
            {
                "stages": self.stages,
                "bake_seconds": self.bake_seconds,
                "min_requests": self.min_requests,
                "poll_interval_seconds": self.poll_interval_seconds,
            }
        )

    def _baseline(self, source: MetricsSource, now: float) -> MetricsSnapshot:
        import httpx

        from tradewind.canary.metrics_source import baseline

        with httpx.Client(timeout=10.0) as client:
            return baseline(source, client, now=now)

    # -- the rollout ------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        from tradewind.registry.aliases import CHALLENGER, CHAMPION, completed_promotion, current, repair

        client = self.registry.get_conn()
        who = triggered_by(context)
        for entry in repair(client, self.model_name, triggered_by=who):
            self.log.warning("Completed an interrupted alias move: %s", entry)
        done = completed_promotion(client, self.model_name, triggered_by=who)
        if done:  # an earlier try of this run promoted, then died before the target followed
            return self._finish_promotion(context, done)
        challenger = current(client, self.model_name, CHALLENGER)
        champion = current(client, self.model_name, CHAMPION)
        if challenger is None:
            raise AirflowSkipException(f"{self.model_name}: no '{CHALLENGER}' alias: nothing to roll out")
        stages = self.config.stages
        self.log.info(
            "Canary of %s: challenger v%s against champion v%s, stages %s%%, bake %ss, %d requests per stage",
            self.model_name,
            challenger,
            champion,
            "/".join(map(str, stages)),
            self.config.bake_seconds,
            self.config.min_requests,
        )
        self.target.sync(champion=champion, challenger=challenger)
        state: dict[str, Any] = {"champion": champion, "challenger": challenger, "baseline": None, "history": []}
        self._start_stage(0, state)
        return {}  # not reached: the stage defers

    def _start_stage(self, index: int, state: dict[str, Any]) -> None:
        config = self.config
        percent = config.stages[index]
        self.target.set_split(percent)
        source = self.target.metrics_source()
        now = time.time()
        start = self._baseline(source, now)
        self.log.info(
            "Stage %d/%d: %d%% to challenger v%s; baking >= %ss and >= %d challenger requests",
            index + 1,
            len(config.stages),
            percent,
            state["challenger"],
            config.bake_seconds,
            config.min_requests,
        )
        self.defer(
            trigger=ServingMetricsTrigger(
                source=source.to_dict(),
                since=now,
                start=start.to_dict(),
                min_requests=config.min_requests,
                bake_until=now + config.bake_seconds,
                deadline=now + config.stage_timeout_seconds,
                poll_interval=config.poll_interval_seconds,
            ),
            method_name="stage_baked",
            # No Airflow timeout: the trigger's own deadline ends a stage, so a stage that never bakes
            # still comes back here and rolls back instead of failing with traffic on the challenger.
            kwargs={"index": index, "start": start.to_dict(), "state": state},
        )

    def stage_baked(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        *,
        index: int,
        start: dict[str, Any],
        state: dict[str, Any],
    ) -> dict[str, Any]:
        """Resume after a stage baked: judge it, then next stage, promotion or roll back."""
        from tradewind.stages.canary import stage_verdict

        config = self.config
        percent = config.stages[index]
        event = event or {"status": "timeout", "problem": "no event"}
        if event.get("status") != "ready":
            served = event.get("challenger_requests", 0)
            problem = f" (last poll: {event['problem']})" if event.get("problem") else ""
            reason = (
                f"stage {percent}% did not bake within {config.stage_timeout_seconds:g}s: the challenger served "
                f"{served:g} of {config.min_requests} requests{problem}"
            )
            self._roll_back(context, state, percent, reason, {"event": event})
        verdict = stage_verdict(start, event["snapshot"], config=config, champion_baseline=state.get("baseline"))
        self.log.info("Stage %d%%: %s", percent, verdict["summary"])
        state["history"].append({"percent": percent, "verdict": verdict["summary"], "figures": verdict["figures"]})
        if not verdict["passed"]:
            self._roll_back(context, state, percent, verdict["summary"], verdict["figures"])
        if verdict["baseline"] is not None:
            state["baseline"] = verdict["baseline"]  # what the champion did while it still served
        if index + 1 < len(config.stages):
            self._start_stage(index + 1, state)
            return {}  # not reached: the next stage defers
        return self._promote(context, state)

    def _promote(self, context: Context, state: dict[str, Any]) -> dict[str, Any]:
        from tradewind.registry.aliases import promote_challenger_to_champion

        moves = promote_challenger_to_champion(
            self.registry.get_conn(),
            self.model_name,
            reason=f"canary passed every stage ({'/'.join(map(str, self.config.stages))}%)",
            triggered_by=triggered_by(context),
            expected_challenger=state["challenger"],
            expected_champion=state["champion"],
        )
        stages = [{"percent": h["percent"], "verdict": h["verdict"]} for h in state["history"]]
        return self._promoted(state["challenger"], state["champion"], {"stages": stages, "moves": moves})

    def _finish_promotion(self, context: Context, moves: list[dict[str, Any]]) -> dict[str, Any]:
        """A retry after the promotion's alias moves: the target follows and the outcome is recorded."""
        from tradewind.registry.aliases import CHAMPION

        moved = next(m for m in moves if m["alias"] == CHAMPION)
        try_number = airflow_ids(context)["try_number"]
        self.log.warning(
            "This run promoted %s v%s in an earlier try (%s, operation %s), which ended before the serving "
            "target followed: finishing it",
            self.model_name,
            moved["to"],
            moved["reason"],
            moved["operation"],
        )
        # Every stage passed, or the earlier try would not have promoted; their figures were in its log.
        stages = [{"percent": p, "verdict": "passed (judged by the try that promoted)"} for p in self.config.stages]
        details = {"reason": moved["reason"], "stages": stages, "moves": moves, "finished_by": f"try {try_number}"}
        return self._promoted(moved["to"], moved["from"], details)

    def _promoted(self, champion: str, previous: str | None, details: dict[str, Any]) -> dict[str, Any]:
        """After the alias moves: the target serves the new champion alone, and the outcome is on its version."""
        self.target.sync(champion=champion, challenger=None)
        self.target.set_split(0)
        outcome = {
            "model_name": self.model_name,
            "result": "promoted",
            "champion": champion,
            "previous_champion": previous,
            **details,
        }
        self._record(champion, outcome)
        self.log.info("Canary passed: %s v%s is champion", self.model_name, champion)
        return outcome

    def _roll_back(
        self, context: Context, state: dict[str, Any], percent: int, reason: str, figures: dict[str, Any]
    ) -> NoReturn:
        from tradewind.registry.aliases import CHALLENGER, AliasConflict, move_alias

        self.target.set_split(0)  # first stop the harm
        try:
            move_alias(
                self.registry.get_conn(),
                self.model_name,
                CHALLENGER,
                None,
                reason=f"canary failed at {percent}%: {reason}",
                triggered_by=triggered_by(context),
                expected_current=state["challenger"],
            )
        except AliasConflict as err:  # someone moved it meanwhile: leave their value, say so
            self.log.warning("The challenger alias moved during the canary; left as it is: %s", err)
        self.target.sync(champion=state["champion"], challenger=None)
        outcome = {
            "model_name": self.model_name,
            "result": "rolled back",
            "failed_at_percent": percent,
            "reason": reason,
            "champion": state["champion"],
            "challenger": state["challenger"],
            "stages": [{"percent": h["percent"], "verdict": h["verdict"]} for h in state["history"]],
        }
        self._record(state["challenger"], outcome)
        context["ti"].xcom_push(key="canary", value={**outcome, "figures": figures})
        raise AirflowFailException(
            f"canary of {self.model_name} v{state['challenger']} rolled back at {percent}%: {reason}. "
            f"Champion v{state['champion']} serves all traffic."
        )

    def _record(self, version: str, outcome: dict[str, Any]) -> None:
        text = json.dumps({**outcome, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}, default=str)
        self.registry.get_conn().set_model_version_tag(self.model_name, version, CANARY_TAG, text[:100_000])

    def on_kill(self) -> None:
        # Killed while it held a worker (not while deferred): leave the champion serving alone.
        try:
            self.target.set_split(0)
        except Exception as err:  # best effort while being killed
            self.log.warning("Could not set the challenger's traffic to 0: %s", err)
