"""``make demo``: the main job, end to end, on real Airflow on this machine.

1. migrates the SQLite metadata DB in ``.airflow/`` and starts the scheduler, dag-processor,
   triggerer and api-server (LocalExecutor); every DAG is paused at creation, as in a fresh
   installation, and the demo unpauses the ones it drives;
2. triggers ``ingest_<dataset>`` through the REST API for each demo date (one arrives broken);
3. follows the runs, and the ``validate_<dataset>`` runs the raw Asset events trigger, until all
   have finished;
4. triggers ``train_<dataset>`` on the validated days: it trains, registers the model in MLflow and
   passes it through the promotion gate (the first model becomes champion)
   (:mod:`tradewind_dev.pipeline`);
5. serves the champion with the model server under steady sample traffic and checks it for drift
   (none); switches drift on (new days and the traffic shift), the drift DAG finds it, its Asset
   starts a retrain, and the canary of the new challenger runs (:mod:`tradewind_dev.retrain_loop`);
6. prints a summary and where to look, then stops Airflow and the server (or leaves them up with
   ``KEEP=1``).

Running it again is safe: partitions are replaced, reports are rewritten.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from typing import Any

from tradewind_dev.model_server import ModelServerProcess
from tradewind_dev.pipeline import DemoPipeline, local_path, say
from tradewind_dev.retrain_loop import print_loop, retrain_loop
from tradewind_dev.stack import PASSWORD, USER, AirflowStack, StackError


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
    from tradewind.settings import get_settings

    return get_settings().tracking_uri()


def print_summary(rows: list[dict[str, Any]], stack: AirflowStack, keep: bool) -> None:
    print()
    print(f"{'date':<11} {'rows':>6}  {'ingest':<8} {'validate':<8}  outputs")
    print("-" * 100)
    for r in rows:
        print(
            f"{r['date']:<11} {r.get('rows') or '-':>6}  {r.get('ingest_state', '-'):<8} "
            f"{r.get('validate_state', '-'):<8}  raw: {local_path(r.get('raw'))}"
        )
        label = "quarantine" if r.get("validate_state") == "failed" else "validated"
        print(f"{'':<37}{label}: {local_path(r.get('output'))}")
        print(f"{'':<37}report: {local_path(r.get('report'))}")
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
    server = ModelServerProcess(
        demo["dataset"], args.serving_port, token, stack.log_dir / "model-server.log", stack=stack
    )
    # The canary's tasks reach the server through these (no Airflow connection needed locally).
    stack.env["TRADEWIND_SERVING_URL"] = server.url
    stack.env["TRADEWIND_SERVING_ADMIN_TOKEN"] = token
    begun = time.monotonic()
    ok = False
    try:
        say(f"Airflow home {stack.home}; profile {profile}; lake {settings.storage.root}")
        say("migrating the metadata database (SQLite)")
        stack.migrate()
        say("starting scheduler, dag-processor, triggerer and api-server (LocalExecutor)")
        stack.start()
        stack.wait_healthy()
        say(f"Airflow is up at {stack.base_url}")
        runner = DemoPipeline(stack, demo["dataset"], list(demo["dates"]), dict(demo.get("bad_dates") or {}))
        rows = runner.run(args.timeout)
        training = runner.train(args.timeout)
        loop: dict[str, Any] | None = None
        if serving.get("enabled", True) and _has_champion(runner.dataset):
            say(f"starting the model server at {server.url} (log {server.log})")
            server.start()
            loop = retrain_loop(runner, stack, server, serving, args.timeout)
        say(f"all runs finished in {time.monotonic() - begun:.0f}s")
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
    from tradewind.settings import get_settings

    return current(make_client(get_settings().tracking_uri()), dataset, CHAMPION) is not None


if __name__ == "__main__":
    sys.exit(main())
