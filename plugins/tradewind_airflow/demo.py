"""``make demo``: the main job, end to end, on real Airflow on this machine.

1. migrates the SQLite metadata DB in ``.airflow/`` and starts the scheduler, dag-processor,
   triggerer and api-server (LocalExecutor);
2. triggers ``ingest_<dataset>`` through the REST API for each demo date (one arrives broken);
3. follows the runs, and the ``validate_<dataset>`` runs the raw Asset events trigger, until all
   have finished;
4. triggers ``train_<dataset>`` on the validated days: it trains, registers the model in MLflow and
   passes it through the promotion gate (the first model becomes champion);
5. serves the champion with the model server under steady sample traffic and checks it for drift
   (none); switches drift on (new days and the traffic shift), the drift DAG finds it, its Asset
   starts a retrain, and the canary of the new challenger runs (see :mod:`tradewind_airflow.demo_serving`);
6. prints a summary and where to look, then stops Airflow and the server (or leaves them up with
   ``KEEP=1``).

Running it again is safe: partitions are replaced, reports are rewritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from typing import Any

from tradewind_airflow.demo_serving import ModelServerProcess, print_loop, retrain_loop
from tradewind_airflow.devstack import PASSWORD, USER, AirflowStack, StackError

TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}
STALL_SECONDS = 60.0


def _say(msg: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {msg}", flush=True)


def _local_path(uri: str | None) -> str:
    return uri.removeprefix("file://") if uri else "-"


class Demo:
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
            _say(f"triggered {self.ingest_dag} for {day}{note} (run {runs[day]})")
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
            _say(
                f"validate {day}: no run {STALL_SECONDS:.0f}s after its raw event; Airflow's scheduler can leave "
                "an event of one Asset waiting when several land at once. Triggering validate for that date."
            )
            self.stack.trigger(self.validate_dag, {"date": day})

    @staticmethod
    def _report(seen: dict[str, str], what: str, state: str) -> None:
        if seen.get(what) != state:
            seen[what] = state
            _say(f"{what}: {state}")

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
        _say(f"triggered {self.train_dag} for the window ending {max(self.dates)} (run {run_id})")
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


def print_training(training: dict[str, Any]) -> None:
    outcome = training.get("outcome") or {}
    print()
    if training["tasks"].get("plan") == "skipped":
        print(f"Training: skipped by retrain governance: {training.get('governance')}")
    elif outcome:
        m = outcome.get("candidate_metrics") or {}
        verdict = outcome["action"] if outcome.get("passed") else "rejected: " + "; ".join(outcome.get("reasons", []))
        print(
            f"Training: model '{outcome['model_name']}' version {outcome['version']} -> {verdict}  (holdout "
            f"pr_auc {m.get('pr_auc') or 0:.3f}, roc_auc {m.get('roc_auc') or 0:.3f}, ece {m.get('ece') or 0:.3f})"
        )
    else:
        print(f"Training: run {training['run']} {training['state']}: {training['tasks']}")
    uri = registry_location()
    print(f"MLflow:     {uri}  (browse: .venv/bin/mlflow ui --backend-store-uri {uri})")


def registry_location() -> str:
    from tradewind.registry.store import resolve_tracking_uri

    return resolve_tracking_uri()


def print_summary(rows: list[dict[str, Any]], stack: AirflowStack, keep: bool) -> None:
    print()
    print(f"{'date':<11} {'rows':>6}  {'ingest':<8} {'validate':<8}  outputs")
    print("-" * 100)
    for r in rows:
        print(
            f"{r['date']:<11} {r.get('rows') or '-':>6}  {r.get('ingest_state', '-'):<8} "
            f"{r.get('validate_state', '-'):<8}  raw: {_local_path(r.get('raw'))}"
        )
        label = "quarantine" if r.get("validate_state") == "failed" else "validated"
        print(f"{'':<37}{label}: {_local_path(r.get('output'))}")
        print(f"{'':<37}report: {_local_path(r.get('report'))}")
        if r.get("failures"):
            print(f"{'':<37}failed: {', '.join(r['failures'])}")
    print()
    print(f"Airflow UI: {stack.base_url}  (login {USER} / {PASSWORD}); Assets: {stack.base_url}/assets")
    print(f"Task logs:  {stack.home / 'logs'}")


def print_ending(keep: bool) -> None:
    print()
    if keep:
        print("Airflow is still running. Stop it with: make stop")
    else:
        print("Airflow has been stopped. Run `make demo KEEP=1` to keep it running.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave Airflow running afterwards")
    parser.add_argument("--port", type=int, default=int(os.environ.get("TRADEWIND_DEMO_PORT", "8080")))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the runs")
    parser.add_argument("--serving-port", type=int, default=int(os.environ.get("TRADEWIND_DEMO_SERVING_PORT", "8081")))
    args = parser.parse_args(argv)

    profile = os.environ.setdefault("TRADEWIND_PROFILE", "demo")
    from tradewind.settings import get_settings

    settings = get_settings()
    demo = settings.demo
    if not demo:
        print(f"profile '{profile}' has no demo section", file=sys.stderr)
        return 2
    stack = AirflowStack(port=args.port, profile=profile)
    serving = dict(demo.get("serving") or {})
    token = secrets.token_urlsafe(24)
    server = ModelServerProcess(demo["dataset"], args.serving_port, token, stack.log_dir / "model-server.log")
    # The canary's tasks reach the server through these (no Airflow connection needed locally).
    stack.env["TRADEWIND_SERVING_URL"] = server.url
    stack.env["TRADEWIND_SERVING_ADMIN_TOKEN"] = token
    begun = time.monotonic()
    ok = False
    try:
        _say(f"Airflow home {stack.home}; profile {profile}; lake {settings.storage.root}")
        _say("migrating the metadata database (SQLite)")
        stack.migrate()
        _say("starting scheduler, dag-processor, triggerer and api-server (LocalExecutor)")
        stack.start()
        stack.wait_healthy()
        _say(f"Airflow is up at {stack.base_url}")
        runner = Demo(stack, demo["dataset"], list(demo["dates"]), dict(demo.get("bad_dates") or {}))
        rows = runner.run(args.timeout)
        training = runner.train(args.timeout)
        loop: dict[str, Any] | None = None
        if serving.get("enabled", True) and _has_champion(runner.dataset):
            _say(f"starting the model server at {server.url} (log {server.log})")
            server.start()
            loop = retrain_loop(runner, stack, server, serving, args.timeout)
        _say(f"all runs finished in {time.monotonic() - begun:.0f}s")
        print_summary(rows, stack, args.keep)
        print_training(training)
        if loop is not None:
            print_loop(loop, server)
        print_ending(args.keep)
        ok = all(r.get("validate_state") == ("failed" if r["date"] in runner.bad else "success") for r in rows)
        trained = training["state"] == "success" and training["tasks"].get("plan") in ("success", "skipped")
        served = loop is None or all(r.failed == 0 for r in loop["reports"].values())
        if not ok:
            print("\nUnexpected outcome: every good day should pass and every bad day be quarantined.")
        if not trained:
            print("\nUnexpected outcome: the train DAG should register a model or skip by governance.")
        if not served:
            print("\nUnexpected outcome: sample requests failed while the model was being served.")
        if args.keep:
            print(f"The model server is still running at {server.url} (admin token: {token}).")
        return 0 if ok and trained and served else 1
    except StackError as err:
        print(f"\ndemo failed: {err}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            server.stop()
            stack.stop()


def _has_champion(dataset: str) -> bool:
    from tradewind.registry.aliases import CHAMPION, current
    from tradewind.registry.store import make_client

    return current(make_client(), dataset, CHAMPION) is not None


if __name__ == "__main__":
    sys.exit(main())
