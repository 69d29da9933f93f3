"""The serving half of ``make demo``: a served champion, new data, a challenger and a canary round.

After the first training registered a champion:

1. the model server (``python -m tradewind.serving``) starts and serves the champion; a load
   generator sends steady sample traffic to it from then on;
2. new days arrive (ingest -> validate, as before) and the train DAG is run on the wider window;
   a model that passes the promotion gate becomes ``challenger``;
3. ``canary_<dataset>`` rolls it out (10% -> 50% -> 100%, short bake times from the demo
   profile) under that traffic and promotes it or rolls it back;
4. the outcome, the alias moves and what the traffic saw (requests per variant, failures) are
   printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tradewind_airflow.devstack import AirflowStack, StackError

TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}


def _say(msg: str) -> None:
    import datetime as dt

    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


class ModelServerProcess:
    """``python -m tradewind.serving`` as a child process of the demo, logging beside Airflow's logs."""

    def __init__(self, model: str, port: int, token: str, log: Path) -> None:
        self.model, self.port, self.token, self.log = model, port, token, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        import httpx

        env = {**os.environ, "TRADEWIND_SERVING_ADMIN_TOKEN": self.token}
        command = [sys.executable, "-m", "tradewind.serving", "--model-name", self.model, "--port", str(self.port)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"the model server exited (code {self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise StackError(f"the model server was not ready within {timeout:.0f}s; see {self.log}")

    def traffic(self) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        return dict(httpx.get(f"{self.url}/admin/traffic", headers=headers, timeout=10).json())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _wait_run(stack: AirflowStack, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = stack.run(dag_id, run_id)
        if run and run["state"] != seen:
            seen = run["state"]
            _say(f"{dag_id}: {seen}")
        if run and run["state"] in TERMINAL:
            return run
        time.sleep(3.0)
    raise StackError(f"{dag_id} run {run_id} did not finish within {timeout:.0f}s; see {stack.log_dir}")


def canary_round(
    runner: Any, stack: AirflowStack, server: ModelServerProcess, config: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """New data -> retrain -> (challenger) -> canary under traffic; what happened, for the summary."""
    from tradewind.registry.aliases import CHALLENGER, CHAMPION, current
    from tradewind.registry.store import make_client
    from tradewind.serving.loadgen import BackgroundLoad, sample_records
    from tradewind_airflow.demo import Demo

    dataset = runner.dataset
    client = make_client()
    canary_dag = f"canary_{dataset}"
    stack.unpause(canary_dag, paused=True)  # the challenger event must not start it before the traffic is on
    result: dict[str, Any] = {"champion_before": current(client, dataset, CHAMPION)}
    rate = float(config.get("requests_per_second", 20))
    with BackgroundLoad(server.url, sample_records(dataset, count=1000), rate_per_s=rate, concurrency=4) as load:
        _say(f"sending {rate:g} requests/s of sample traffic to {server.url}")
        new_days = list(config.get("new_dates") or [])
        more = Demo(stack, dataset, new_days, {})
        result["new_days"] = more.run(timeout)
        _say(f"retraining {dataset} on the window ending {max(new_days)} (new data)")
        result["training"] = more.train(timeout, force=True)
        outcome = result["training"].get("outcome") or {}
        challenger = current(client, dataset, CHALLENGER)
        if outcome.get("action") == "challenger" and challenger is not None:
            stack.unpause(canary_dag)
            form = dict(config.get("form") or {})
            run_id = stack.trigger(canary_dag, form)
            _say(f"triggered {canary_dag} for challenger v{challenger} (form {form})")
            run = _wait_run(stack, canary_dag, run_id, timeout)
            result["canary"] = {
                "state": run["state"],
                "challenger": challenger,
                "tag": client.get_model_version(dataset, challenger).tags.get("tradewind.canary"),
            }
        result["report"] = load.stop()
    result["champion_after"] = current(client, dataset, CHAMPION)
    result["served"] = server.traffic()
    return result


def print_canary(result: dict[str, Any], server: ModelServerProcess) -> None:
    import json

    print()
    print(f"Serving:    {server.url}  (champion v{result['champion_before']} at the start; log {server.log})")
    outcome = (result.get("training") or {}).get("outcome") or {}
    if outcome.get("action") != "challenger":
        reasons = "; ".join(outcome.get("reasons") or []) or outcome.get("action") or "no outcome"
        print(f"Retrain:    version {outcome.get('version')} did not become challenger ({reasons}); no canary round")
    canary = result.get("canary")
    if canary:
        verdict = json.loads(canary["tag"]) if canary.get("tag") else {}
        stages = ", ".join(f"{s['percent']}%: {s['verdict'].split(':')[0]}" for s in verdict.get("stages", []))
        if verdict.get("result") == "promoted":
            print(f"Canary:     v{canary['challenger']} promoted to champion ({stages})")
        else:
            what = verdict.get("result", canary["state"])
            print(f"Canary:     v{canary['challenger']} {what}: {verdict.get('reason')}")
    report = result["report"].to_dict()
    print(
        f"Traffic:    {report['sent']} requests, {report['failed']} failed; answered by "
        + ", ".join(f"{k} {v}" for k, v in sorted(report["by_variant"].items()))
        + f"; p99 {report['p99_ms']:.0f} ms"
    )
    served = result["served"]
    print(f"Now:        champion v{result['champion_after']} serving (server holds v{served['champion']['version']})")
