"""Run real Airflow on this machine: the components of ``make demo`` and the integration tests.

Starts ``airflow scheduler``, ``dag-processor``, ``triggerer`` and ``api-server`` as separate
processes (LocalExecutor), each in a session (so a process group) of its own with its log under
``$AIRFLOW_HOME/logs/<component>.log``. The metadata database is SQLite in ``AIRFLOW_HOME`` by
default, or any SQLAlchemy URL (PostgreSQL in the integration tests).

Every process the stack starts is recorded in ``$AIRFLOW_HOME/run/stack.json`` (pid, process group)
and carries the stack's id in ``TRADEWIND_STACK_ID``, which its children inherit: ``stop`` ends every
process of a recorded group and every process that carries the id (the LocalExecutor's workers, the
log server, a task's stage subprocess), so nothing is left behind even when a component was killed
with SIGKILL first and its children were re-parented.

The stack's Airflow is configured by the stack alone, as a user's ``make demo`` is: whatever Airflow
configuration the starting process carries (a test session's ``AIRFLOW__CORE__UNIT_TEST_MODE``, a
shell's ``AIRFLOW__*``) is left out, and DAGs are paused at creation: the caller unpauses the DAGs it
drives. ``python -m tradewind_dev.stack status|stop`` manages a stack left running by
``make demo KEEP=1``. Airflow is driven through its CLI and REST API; this module never imports it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = Path(os.environ.get("TRADEWIND_AIRFLOW_HOME", REPO_ROOT / ".airflow"))
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
USER, PASSWORD = "admin", "admin"
API_ATTEMPTS = 5
# Inherited by every process the stack starts, and by theirs: how ``stop`` finds them all.
STACK_ID_ENV = "TRADEWIND_STACK_ID"


# Inherited variables that configure Airflow; connections (AIRFLOW_CONN_*) and Variables (AIRFLOW_VAR_*)
# are data a stack's tasks may use, so they pass.
AIRFLOW_CONFIG_PREFIX = "AIRFLOW__"
AIRFLOW_CONFIG_NAMES = frozenset({"AIRFLOW_HOME", "AIRFLOW_CONFIG"})


class StackError(RuntimeError):
    """Airflow could not be started or did not answer in time (the message says where to look)."""


def without_airflow_config(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less the Airflow configuration it carries: ``AIRFLOW__*``, ``AIRFLOW_HOME``, ``AIRFLOW_CONFIG``.

    A stack runs with the configuration a user gets, whoever starts it. A test session's
    ``AIRFLOW__CORE__UNIT_TEST_MODE`` would make every component load Airflow's unit-test
    configuration (each DAG unpaused at creation, so the stack runs DAGs nobody asked for), and a
    shell's ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` of another Airflow would point the demo's
    ``db migrate`` at that database. Settings of your own go into ``$AIRFLOW_HOME/airflow.cfg``.
    """
    return {
        k: v for k, v in environ.items() if not k.startswith(AIRFLOW_CONFIG_PREFIX) and k not in AIRFLOW_CONFIG_NAMES
    }


def airflow_env(
    home: Path, *, port: int = 8080, db_url: str | None = None, profile: str | None = None
) -> dict[str, str]:
    """The environment every Airflow process of the stack runs with (settings, not secrets).

    The caller's environment less its Airflow configuration (:func:`without_airflow_config`), plus
    the stack's: DAGs are paused at creation, as in a fresh installation.
    """
    home.mkdir(parents=True, exist_ok=True)
    secret_file = home / "jwt_secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
    passwords = home / "simple_auth_manager_passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({USER: PASSWORD}))
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **without_airflow_config(os.environ),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "False",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
    }
    if db_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
    if profile:
        env["TRADEWIND_PROFILE"] = profile
    return env


class AirflowStack:
    """A local Airflow: migrate, start, wait for health, talk REST, stop."""

    def __init__(
        self,
        home: Path = DEFAULT_HOME,
        *,
        port: int = 8080,
        db_url: str | None = None,
        profile: str | None = None,
        components: Iterable[str] = COMPONENTS,
    ) -> None:
        self.home = Path(home)
        self.port = port
        self.components = tuple(components)
        self.env = airflow_env(self.home, port=port, db_url=db_url, profile=profile)
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.state_file = self.run_dir / "stack.json"
        self.stack_id = str(self._state().get("id") or secrets.token_hex(8))
        self.env[STACK_ID_ENV] = self.stack_id
        self.base_url = f"http://127.0.0.1:{port}"
        self._token: str | None = None

    # -- processes ------------------------------------------------------------------------------
    def migrate(self) -> None:
        self._airflow("db", "migrate", log="db-migrate.log", timeout=300)

    def _airflow(self, *args: str, log: str, timeout: float) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / log).open("ab") as out:
            proc = subprocess.run(
                ["airflow", *args], env=self.env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        if proc.returncode != 0:
            raise StackError(f"`airflow {' '.join(args)}` failed (exit {proc.returncode}); see {self.log_dir / log}")

    def _state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {"id": None, "processes": {}}
        return state if isinstance(state, dict) else {"id": None, "processes": {}}

    def _record(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        state = self._state()
        state["id"] = self.stack_id
        state.setdefault("processes", {})[name] = {"pid": proc.pid, "pgid": proc.pid}  # a session leader
        self._write_state(state)

    def _write_state(self, state: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_file)

    def pid(self, component: str) -> int | None:
        """The pid of a running process the stack started (a component, the model server), else None."""
        entry = self._state()["processes"].get(component)
        pid = entry.get("pid") if isinstance(entry, dict) else None
        return pid if isinstance(pid, int) and _alive(pid) else None

    def running(self) -> list[str]:
        return [c for c in self.components if self.pid(c)]

    def command(self, component: str) -> list[str]:
        """The command line of a component."""
        return ["airflow", component]

    def launch(
        self, name: str, command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` as a process of the stack: its own session, the stack's id, recorded for ``stop``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:  # the child keeps its own copy
            proc = subprocess.Popen(
                list(command),
                env={**(env or self.env), STACK_ID_ENV: self.stack_id},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        self._record(name, proc)
        return proc

    def start(self) -> None:
        """Start every component that is not already running (running twice is safe)."""
        for component in self.components:
            if not self.pid(component):
                self.launch(component, self.command(component), self.log_dir / f"{component}.log")

    def processes(self) -> list[psutil.Process]:
        """Every running process of the stack: in a group it started, or carrying its id.

        A recorded group counts only while one of its processes carries the id: a group id left in
        the state file by a stack long gone may since belong to someone else's processes.
        """
        state = self._state()
        ids = {i for i in (state.get("id"), self.stack_id) if i}
        groups = {e["pgid"] for e in state["processes"].values() if isinstance(e, dict) and "pgid" in e}
        ours, by_group = _scan(ids, groups)
        found = set(ours) | {p for pgid, members in by_group.items() if members & set(ours) for p in members}
        return [ours.get(pid) or psutil.Process(pid) for pid in sorted(found) if _running(pid)]

    def stop(self, timeout: float = 30.0) -> None:
        """End every process of the stack, grandchildren included: SIGTERM, up to ``timeout``, SIGKILL.

        Works from another process (``make stop``) and after a component was killed with SIGKILL:
        what it started is found by its group or by the stack's id.
        """
        procs = self.processes()
        _send(procs, signal.SIGTERM)
        _wait_gone(procs, timeout)
        for _ in range(3):  # children forked while the others were stopping
            procs = self.processes()
            if not procs:
                break
            _send(procs, signal.SIGKILL)
            _wait_gone(procs, timeout)
        self._write_state({"id": self.stack_id, "processes": {}})  # the id stays: a later check finds leftovers
        for component in self.components:  # pid files of stacks before the state file
            (self.run_dir / f"{component}.pid").unlink(missing_ok=True)

    def wait_healthy(self, timeout: float = 180.0) -> None:
        import requests

        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            dead = [c for c in self.components if not self.pid(c)]
            if dead:
                raise StackError(f"{', '.join(dead)} exited; see {self.log_dir}/<component>.log")
            try:
                r = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                if r.ok:
                    health = r.json()
                    want = {"metadatabase", "scheduler"}
                    if "dag-processor" in self.components:
                        want.add("dag_processor")
                    bad = [k for k in want if (health.get(k) or {}).get("status") != "healthy"]
                    if not bad:
                        return
                    last = f"not healthy yet: {', '.join(bad)}"
            except requests.RequestException as err:
                last = type(err).__name__
            time.sleep(1.0)
        raise StackError(f"Airflow did not become healthy within {timeout:.0f}s ({last}); see {self.log_dir}")

    # -- REST API -------------------------------------------------------------------------------
    def token(self) -> str:
        import requests

        if self._token is None:
            r = requests.post(f"{self.base_url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        headers = {"Authorization": f"Bearer {self.token()}"}
        for attempt in range(API_ATTEMPTS):
            r = requests.request(method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=30, **kwargs)
            # SQLite allows one writer: a request that meets a busy database fails whole (HTTP 500,
            # nothing written), so it is safe to send again.
            if r.status_code < 500 or attempt == API_ATTEMPTS - 1:
                break
            time.sleep(1.0 + attempt)
        if r.status_code >= 400:
            raise StackError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        pending = set(dag_ids)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            found = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 1000})["dags"]}
            pending -= found
            if pending:
                time.sleep(2.0)
        if pending:
            errors = self.api("GET", "/importErrors").get("import_errors", [])
            detail = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors) or "no import errors"
            raise StackError(f"DAGs not parsed within {timeout:.0f}s: {sorted(pending)} ({detail})")

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any], logical_date: str | None = None) -> str:
        body = {"conf": conf, "logical_date": logical_date}
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self.api("GET", path, params={"map_index": map_index, "deserialize": True})["value"]
        except StackError:
            return None


def _alive(pid: int) -> bool:
    """Whether the process still runs. One this process started and that has exited is reaped here.

    Until it is reaped, an exited child is a zombie, which ``kill(pid, 0)`` still finds: a stack
    started and stopped by the same process (``make demo``, the integration tests) would otherwise
    wait out the whole stop timeout, and a component that died at start would look alive.
    """
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not a child of this process (a stack left running by `make demo KEEP=1`)
    else:
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the number now belongs to another user
        return False
    return True


def _running(pid: int) -> bool:
    """Whether ``pid`` runs: reaped if it is an exited child of this process; a zombie runs nothing."""
    if not _alive(pid):
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _scan(ids: set[str], groups: set[int]) -> tuple[dict[int, psutil.Process], dict[int, set[int]]]:
    """The processes that carry one of ``ids``, and the members of each of ``groups``."""
    me = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    ours: dict[int, psutil.Process] = {}
    by_group: dict[int, set[int]] = {g: set() for g in groups}
    for proc in psutil.process_iter():
        if proc.pid in me:
            continue
        try:
            pgid = os.getpgid(proc.pid)
            if pgid in by_group:
                by_group[pgid].add(proc.pid)
            if proc.environ().get(STACK_ID_ENV) in ids:
                ours[proc.pid] = proc
        except (psutil.Error, OSError):
            continue  # gone meanwhile, or another user's
    return ours, by_group


def _send(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)  # psutil checks that the pid still names the same process
        except psutil.Error:
            pass


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (alive := [p for p in procs if _running(p.pid)]) and time.monotonic() < deadline:
        psutil.wait_procs(alive, timeout=0.2)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    stack = AirflowStack()
    if args[:1] == ["stop"]:
        running, count = stack.running(), len(stack.processes())
        stack.stop()
        print(f"stopped: {', '.join(running) or 'no component was running'} ({count} processes in all)")
        return 0
    if args[:1] == ["status"]:
        for c in COMPONENTS:
            print(f"{c:14s} {'running, pid ' + str(stack.pid(c)) if stack.pid(c) else 'stopped'}")
        print(f"{len(stack.processes())} processes of this stack are running (`make stop` ends them all)")
        return 0
    print("usage: python -m tradewind_dev.stack status|stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
