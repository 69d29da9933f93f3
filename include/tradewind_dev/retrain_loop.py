"""The serving half of ``make demo``: the retrain loop, from a served champion to a new one.

After the first training registered a champion:

1. the model server (``python -m tradewind.serving``) starts and serves the champion under steady
   sample traffic; ``drift_<dataset>`` checks that traffic against the champion's reference: no drift;
2. drift is switched on (the demo profile's ``serving.drift``, a drift kind of the synthetic
   source): new days arrive shifted (ingest -> validate, as before) and so does the traffic;
3. ``drift_<dataset>`` runs again, finds the drift, writes its report (the path is printed) and
   emits ``drift/<dataset>``; that Asset event starts ``train_<dataset>`` (no manual trigger), which
   retrains under the retrain governance and passes the model through the promotion gate;
4. ``canary_<dataset>`` rolls the new challenger out (10% -> 50% -> 100%, short bake times from
   the demo profile) under the drifted traffic and promotes it or rolls it back;
5. the drift verdicts, the retrain, the canary and what the traffic saw are printed.

The drift DAG runs hourly on its own; the demo triggers it (its form's window covers just the
traffic of each phase) so the loop takes minutes, not hours. Every DAG of the stack is paused at
creation: the loop unpauses the drift DAG first, the train DAG before the drifted check (its Asset
event must start a run), and the canary DAG (held paused until the traffic is on) before its run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from tradewind_dev.model_server import ModelServerProcess
from tradewind_dev.pipeline import TERMINAL, DemoPipeline, local_path, say
from tradewind_dev.stack import AirflowStack, StackError


def _wait_run(stack: AirflowStack, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = stack.run(dag_id, run_id)
        if run and run["state"] != seen:
            seen = run["state"]
            say(f"{dag_id}: {seen}")
        if run and run["state"] in TERMINAL:
            return run
        time.sleep(3.0)
    raise StackError(f"{dag_id} run {run_id} did not finish within {timeout:.0f}s; see {stack.log_dir}")


def _drift_check(stack: AirflowStack, dataset: str, since: float, timeout: float) -> dict[str, Any]:
    """Run ``drift_<dataset>`` over the traffic served since ``since`` (a ``time.time()``)."""
    dag_id = f"drift_{dataset}"
    end = dt.datetime.now(dt.UTC)
    hours = max(end.timestamp() - since, 1.0) / 3600
    run_id = stack.trigger(dag_id, {"end": end.isoformat(), "window_hours": hours})
    say(f"triggered {dag_id} over the last {hours * 60:.1f} min of traffic (run {run_id})")
    run = _wait_run(stack, dag_id, run_id, timeout)
    check = stack.xcom(dag_id, run_id, "check_drift") or {}
    return {"run": run_id, "state": run["state"], "run_after": run["run_after"], **check}


def _say_check(check: dict[str, Any]) -> None:
    if check.get("status") == "skipped":
        say(f"drift check: skipped: {check.get('reason')}")
        return
    features = ", ".join(check.get("drifted_features") or []) or "none"
    say(
        f"drift check: {check.get('status')} (share {check.get('share') or 0:.2f}; drifted: {features}); "
        f"report: {local_path(check.get('report'))}"
    )


def _traffic_for(seconds: float, rows: int, rate: float) -> None:
    """Wait until ``rows`` requests were sent at ``rate``/s and written to the inference log."""
    from tradewind.serving.config import load_serving_config

    flush = load_serving_config().inference_log.flush_interval_s
    time.sleep(max(rows / rate * 1.2 - seconds, 0.0) + 2 * flush)


def _train_run_after(stack: AirflowStack, dag_id: str, after: str, timeout: float) -> str:
    """The first asset-triggered run of ``dag_id`` queued after ``after`` (an ISO timestamp)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in stack.runs(dag_id) if r["run_type"] == "asset_triggered" and r["run_after"] > after]
        if runs:
            return str(min(runs, key=lambda r: r["run_after"])["dag_run_id"])
        time.sleep(2.0)
    raise StackError(f"no run of {dag_id} started by the drift event within {timeout:.0f}s; see {stack.log_dir}")


def retrain_loop(
    runner: DemoPipeline, stack: AirflowStack, server: ModelServerProcess, config: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Champion served -> no drift -> drift switched on -> drift found -> retrain -> canary; the record."""
    from tradewind.data.knobs import drift_knobs
    from tradewind.registry.aliases import CHALLENGER, CHAMPION, current
    from tradewind.registry.store import make_client
    from tradewind.serving.loadgen import BackgroundLoad, sample_records
    from tradewind.settings import get_settings

    dataset = runner.dataset
    client = make_client(get_settings().tracking_uri())
    canary_dag, drift_dag = f"canary_{dataset}", f"drift_{dataset}"
    kind = str(config.get("drift") or "covariate_shift")
    try:
        knobs = drift_knobs(kind)
    except ValueError as err:
        raise StackError(f"demo.serving.{err}") from None
    if knobs is None:
        raise StackError("demo.serving.drift: 'none' switches no drift on; pick a drift kind")
    stack.unpause(canary_dag, paused=True)  # the challenger event must not start it before the traffic is on
    stack.unpause(drift_dag)
    result: dict[str, Any] = {
        "dataset": dataset,
        "champion_before": current(client, dataset, CHAMPION),
        "drift_kind": kind,
        "reports": {},
    }
    rate = float(config.get("requests_per_second", 20))
    min_rows = runner_min_rows(dataset)
    new_days = list(config.get("new_dates") or [])

    # 1. The champion under normal traffic: the drift check finds nothing.
    since = time.time()
    with BackgroundLoad(
        server.url, sample_records(get_settings().spec(dataset), count=1000), rate_per_s=rate, concurrency=4
    ) as load:
        say(f"sending {rate:g} requests/s of normal sample traffic to {server.url}")
        _traffic_for(0.0, min_rows, rate)
        result["normal"] = _drift_check(stack, dataset, since, timeout)
        _say_check(result["normal"])
        result["reports"]["normal"] = load.stop()

    # 2. Drift switched on: the new days and the traffic shift from the first new day on.
    drifted = sample_records(get_settings().spec(dataset), count=1000, day=min(new_days), drift=knobs)
    since = time.time()
    with BackgroundLoad(server.url, drifted, rate_per_s=rate, concurrency=4) as load:
        say(f"drift switched on from {min(new_days)} ({kind}): the new days and the traffic shift")
        more = DemoPipeline(stack, dataset, new_days, {}, drift=kind)
        result["new_days"] = more.run(timeout)
        _traffic_for(time.time() - since, min_rows, rate)
        # 3. The drift check finds it; its Asset event starts the train DAG.
        stack.unpause(runner.train_dag)
        result["drift"] = _drift_check(stack, dataset, since, timeout)
        _say_check(result["drift"])
        if result["drift"].get("status") == "drift":
            run_id = _train_run_after(stack, runner.train_dag, result["drift"]["run_after"], timeout)
            say(f"{runner.train_dag} started by the drift/{dataset} Asset event (run {run_id})")
            result["training"] = more.follow_train(run_id, timeout)
        outcome = (result.get("training") or {}).get("outcome") or {}
        challenger = current(client, dataset, CHALLENGER)
        # 4. The canary of the new challenger, under the drifted traffic.
        if outcome.get("action") == "challenger" and challenger is not None:
            stack.unpause(canary_dag)
            form = dict(config.get("form") or {})
            run_id = stack.trigger(canary_dag, form)
            say(f"triggered {canary_dag} for challenger v{challenger} (form {form})")
            run = _wait_run(stack, canary_dag, run_id, timeout)
            result["canary"] = {
                "state": run["state"],
                "challenger": challenger,
                "tag": client.get_model_version(dataset, challenger).tags.get("tradewind.canary"),
            }
        result["reports"]["drifted"] = load.stop()
    result["champion_after"] = current(client, dataset, CHAMPION)
    result["served"] = server.traffic()
    return result


def runner_min_rows(dataset: str) -> int:
    """The fewest rows a drift check judges (the spec's ``drift.min_window_rows``)."""
    from tradewind.monitoring.config import drift_config
    from tradewind.settings import get_settings

    return drift_config(get_settings().spec(dataset)).min_window_rows


def print_loop(result: dict[str, Any], server: ModelServerProcess) -> None:
    print()
    print(f"Serving:    {server.url}  (champion v{result['champion_before']} at the start; log {server.log})")
    for label, key in (("normal traffic", "normal"), (f"drifted traffic ({result['drift_kind']})", "drift")):
        check = result.get(key) or {}
        if check.get("status") == "skipped":
            verdict = f"skipped: {check.get('reason')}"
        else:
            window = check.get("window") or {}
            features = ", ".join(check.get("drifted_features") or []) or "none"
            verdict = (
                f"{check.get('status')} ({window.get('rows_seen')} rows; share {check.get('share') or 0:.2f}; "
                f"drifted: {features})"
            )
        print(f"Drift:      {label}: {verdict}")
        if check.get("report"):
            print(f"            report: {local_path(check.get('report'))}")
    training = result.get("training")
    outcome = (training or {}).get("outcome") or {}
    if training is None:
        print("Retrain:    no drift event, no retrain")
    elif training["tasks"].get("plan") == "skipped":
        print(f"Retrain:    started by drift/{result['dataset']} but skipped: {training.get('governance')}")
    elif outcome.get("action") != "challenger":
        reasons = "; ".join(outcome.get("reasons") or []) or outcome.get("action") or "no outcome"
        print(f"Retrain:    version {outcome.get('version')} did not become challenger ({reasons}); no canary round")
    else:
        mine = (outcome.get("candidate_metrics") or {}).get("pr_auc") or 0.0
        theirs = (outcome.get("champion_metrics") or {}).get("pr_auc") or 0.0
        print(
            f"Retrain:    started by the drift Asset; version {outcome['version']} passed the gate -> challenger "
            f"(holdout pr_auc {mine:.3f}, champion {theirs:.3f})"
        )
    canary = result.get("canary")
    if canary:
        verdict = json.loads(canary["tag"]) if canary.get("tag") else {}
        stages = ", ".join(f"{s['percent']}%: {s['verdict'].split(':')[0]}" for s in verdict.get("stages", []))
        if verdict.get("result") == "promoted":
            print(f"Canary:     v{canary['challenger']} promoted to champion ({stages})")
        else:
            what = verdict.get("result", canary["state"])
            print(f"Canary:     v{canary['challenger']} {what}: {verdict.get('reason')}")
    for phase, report in result["reports"].items():
        r = report.to_dict()
        print(
            f"Traffic:    {phase}: {r['sent']} requests, {r['failed']} failed; answered by "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["by_variant"].items()))
            + f"; p99 {r['p99_ms']:.0f} ms"
        )
    served = result["served"]
    print(f"Now:        champion v{result['champion_after']} serving (server holds v{served['champion']['version']})")
