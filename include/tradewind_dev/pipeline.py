"""The batch half of ``make demo``: ingest -> validate -> train through real Airflow, run by run.

:class:`DemoPipeline` unpauses the DAGs it drives (a stack pauses every DAG at creation), triggers
``ingest_<dataset>`` through the REST API for each day, follows the ``validate_<dataset>`` runs the
raw Asset events start, then trains once on every validated day through ``train_<dataset>``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from tradewind_dev.stack import AirflowStack, StackError

TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}
STALL_SECONDS = 60.0


def say(msg: str) -> None:
    """One progress line, stamped with the time of day."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {msg}", flush=True)


def local_path(uri: str | None) -> str:
    """A ``file://`` URI as a path to open; ``-`` for none."""
    return uri.removeprefix("file://") if uri else "-"


class DemoPipeline:
    """One data set's days through ``ingest_<dataset>`` -> ``validate_<dataset>``, then ``train_<dataset>``."""

    def __init__(
        self,
        stack: AirflowStack,
        dataset: str,
        dates: list[str],
        bad: dict[str, list[str]],
        drift: str | None = None,
    ) -> None:
        self.stack = stack
        self.dataset = dataset
        self.dates = dates
        self.bad = bad
        self.drift = drift  # a drift kind of the ingest form: the synthetic source shifts these days
        self.ingest_dag = f"ingest_{dataset}"
        self.validate_dag = f"validate_{dataset}"
        self.train_dag = f"train_{dataset}"
        self.started = dt.datetime.now(dt.UTC)

    def run(self, timeout: float) -> list[dict[str, Any]]:
        stack = self.stack
        stack.wait_for_dags([self.ingest_dag, self.validate_dag, self.train_dag])
        for dag_id in (self.ingest_dag, self.validate_dag):
            stack.unpause(dag_id)
        stack.unpause(self.train_dag, paused=True)  # until every day is in: see train()
        runs: dict[str, str] = {}
        for day in self.dates:
            conf: dict[str, Any] = {"date": day, "corruptions": self.bad.get(day, [])}
            if self.drift:
                conf["drift"] = self.drift
            runs[day] = stack.trigger(self.ingest_dag, conf)
            note = f" with corruptions {conf['corruptions']}" if conf["corruptions"] else ""
            note += f" with drift '{self.drift}'" if self.drift else ""
            say(f"triggered {self.ingest_dag} for {day}{note} (run {runs[day]})")
        return self._follow(runs, timeout)

    def _follow(self, runs: dict[str, str], timeout: float) -> list[dict[str, Any]]:
        stack = self.stack
        seen: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        rows: dict[str, dict[str, Any]] = {d: {"date": d, "ingest_run": r} for d, r in runs.items()}
        landed: dict[str, float] = {}
        while time.monotonic() < deadline:
            for day, run_id in runs.items():
                state = stack.run(self.ingest_dag, run_id)["state"]
                rows[day]["ingest_state"] = state
                self._report(seen, f"ingest   {day}", state)
                if state == "success":
                    landed.setdefault(day, time.monotonic())
            for day, (vrun, ti) in self._latest_validations(set(rows)).items():
                state = ti["state"] or "scheduled"
                self._report(seen, f"validate {day}", state)
                rows[day].update(validate_run=vrun["dag_run_id"], validate_state=state, map_index=ti["map_index"])
            self._nudge(rows, landed)
            done = all(
                r.get("ingest_state") in TERMINAL
                and (r["ingest_state"] != "success" or r.get("validate_state") in TERMINAL)
                for r in rows.values()
            )
            if done:
                return [self._details(r) for r in rows.values()]
            time.sleep(2.0)
        raise StackError(f"the demo runs did not finish within {timeout:.0f}s; see {stack.log_dir}")

    def _latest_validations(self, days: set[str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """Per day, the validate task of the newest run since the demo began (a day may be in several)."""
        latest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        runs = [
            r
            for r in self.stack.runs(self.validate_dag)
            if dt.datetime.fromisoformat(r["run_after"].replace("Z", "+00:00")) >= self.started
        ]
        for vrun in sorted(runs, key=lambda r: r["run_after"]):
            for ti in self.stack.task_instances(self.validate_dag, vrun["dag_run_id"]):
                if ti["task_id"] == "validate_partition" and ti.get("rendered_map_index") in days:
                    latest[ti["rendered_map_index"]] = (vrun, ti)
        return latest

    def _nudge(self, rows: dict[str, dict[str, Any]], landed: dict[str, float]) -> None:
        """Validate by hand a landed day whose raw event started no run (a known scheduler race)."""
        for day, since in landed.items():
            row = rows[day]
            if "validate_state" in row or row.get("nudged") or time.monotonic() - since < STALL_SECONDS:
                continue
            row["nudged"] = True
            say(
                f"validate {day}: no run {STALL_SECONDS:.0f}s after its raw event; Airflow's scheduler can leave "
                "an event of one Asset waiting when several land at once. Triggering validate for that date."
            )
            self.stack.trigger(self.validate_dag, {"date": day})

    @staticmethod
    def _report(seen: dict[str, str], what: str, state: str) -> None:
        if seen.get(what) != state:
            seen[what] = state
            say(f"{what}: {state}")

    def _details(self, row: dict[str, Any]) -> dict[str, Any]:
        stack = self.stack
        lineage = stack.xcom(self.ingest_dag, row["ingest_run"], "ingest_partition") or {}
        row["rows"] = lineage.get("row_count")
        row["raw"] = lineage.get("partition_uri")
        if "validate_run" in row:
            outcome = (
                stack.xcom(
                    self.validate_dag,
                    row["validate_run"],
                    "validate_partition",
                    key="outcome",
                    map_index=row["map_index"],
                )
                or {}
            )
            row["output"] = outcome.get("validated_uri") or outcome.get("quarantine_uri")
            row["report"] = outcome.get("report_uri")
            row["failures"] = [f"{f['expectation']}({f.get('column') or ''})" for f in outcome.get("failures", [])]
        return row

    def train(self, timeout: float, **conf: Any) -> dict[str, Any]:
        """Train once on every validated demo day, through the train DAG (``conf``: more form values).

        The train DAG stays paused while the days land (each validated event would otherwise start
        a retrain on a partial window, and the cooldown would hold back the next); then one manual
        run covers the window ending at the last demo day. Asset events that land while a DAG is
        paused start no run then; the next asset-triggered run lists them among its events.
        """
        stack = self.stack
        stack.unpause(self.train_dag)
        run_id = stack.trigger(self.train_dag, {"date": max(self.dates), **conf})
        say(f"triggered {self.train_dag} for the window ending {max(self.dates)} (run {run_id})")
        return self.follow_train(run_id, timeout)

    def follow_train(self, run_id: str, timeout: float) -> dict[str, Any]:
        """Follow one run of the train DAG (manual or started by an Asset) until it has finished."""
        stack = self.stack
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            run = stack.run(self.train_dag, run_id)
            if run:
                tis = {
                    t["task_id"]: t["state"] or "scheduled"
                    for t in stack.task_instances(self.train_dag, run["dag_run_id"])
                }
                for task_id in ("plan", "choose_backend", "train_local", "promote", "announce_challenger"):
                    self._report(seen, f"train    {task_id}", tis.get(task_id, "scheduled"))
                if run["state"] in TERMINAL:
                    return self._train_details(run["dag_run_id"], run["state"], tis)
            time.sleep(3.0)
        raise StackError(f"{self.train_dag} did not finish within {timeout:.0f}s; see {stack.log_dir}")

    def _train_details(self, run_id: str, state: str, tis: dict[str, str]) -> dict[str, Any]:
        stack = self.stack
        return {
            "run": run_id,
            "state": state,
            "tasks": tis,
            "governance": stack.xcom(self.train_dag, run_id, "plan", key="governance"),
            "outcome": stack.xcom(self.train_dag, run_id, "promote", key="outcome"),
        }
