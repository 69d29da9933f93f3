"""A Tradewind stage as a subprocess of the worker: the local form of every heavy stage.

``python -m tradewind <stage> <arguments>`` runs with the worker's environment plus what the
operator adds (the MLflow tracking URI, the lake's credentials). Its progress lines (stderr) stream
into the task log as they come; its outcome is the JSON document it prints on stdout, read on a
thread of its own so that a large outcome and a long log can never block each other on full pipes.
Exit code 2 means the stage refused its input: the task fails without retries (a retry would be
refused too). Exit code 3 means the stage ran and said no (a quarantined batch): its outcome is
returned and the operator decides.

The stage dies with its task (:mod:`tradewind.procs`): it runs in a process group of its own and, on
Linux, gets SIGKILL when the task's process exits, however it exits (a task killed with SIGKILL, an OOM
kill), so a retry never races a stage left over from the attempt before. ``on_kill`` (the task was
stopped or timed out) and any error in the task while the stage runs end the stage's whole group:
SIGTERM, ``stage_kill_grace_s`` seconds, then SIGKILL. When the stage exits, whatever it left running
in its group is killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from tradewind.procs import start_owned, stop_group, wait_owned
from tradewind.stages.outcome import BAD_INPUT, REJECTED

# How long the stage's pipes may stay open after it exited (a child that left its group holds them).
PIPE_DRAIN_S = 30.0


class StageSubprocessMixin(BaseOperator):
    """Run ``python -m tradewind <arguments>`` and return its stdout as JSON."""

    _proc: subprocess.Popen[str] | None = None
    # The module run with ``python -m``: the one CLI of the stages.
    stage_module = "tradewind"
    # Seconds between SIGTERM and SIGKILL when the task stops the stage.
    stage_kill_grace_s = 10.0

    def run_stage(
        self, arguments: Sequence[str], what: str, env: Mapping[str, str] | None = None, rejected_ok: bool = False
    ) -> Any:
        """The stage's outcome; with ``rejected_ok`` exit 3 returns it too (else it fails the task)."""
        command = [sys.executable, "-m", self.stage_module, *map(str, arguments)]
        self.log.info("Running: %s", " ".join(command[1:]))
        self._proc = proc = start_owned(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **dict(env or {})},
        )
        try:
            code, out = self._communicate(proc, what)
        except BaseException:  # a timeout, a signal: the stage must not outlive the attempt
            stop_group(proc, self.stage_kill_grace_s)
            raise
        if code == BAD_INPUT:
            raise AirflowFailException(f"the {what} refused its input (exit 2); see the lines above. {out[-500:]}")
        if code == REJECTED and rejected_ok:
            return json.loads(out)
        if code != 0:
            raise RuntimeError(f"the {what} failed with exit code {code}")
        return json.loads(out)

    def _communicate(self, proc: subprocess.Popen[str], what: str) -> tuple[int, str]:
        """Stream stderr into the log and collect stdout, each on a thread; the exit code and stdout."""
        assert proc.stdout is not None
        assert proc.stderr is not None
        out: list[str] = []
        readers = [
            threading.Thread(target=_read_into, args=(proc.stdout, out), name=f"{what} stdout", daemon=True),
            threading.Thread(target=self._log_lines, args=(proc.stderr,), name=f"{what} stderr", daemon=True),
        ]
        for reader in readers:
            reader.start()
        code = wait_owned(proc)
        for reader in readers:
            reader.join(PIPE_DRAIN_S)
        if not out:
            raise RuntimeError(f"the {what} exited {code} but its output stayed open for {PIPE_DRAIN_S:.0f}s")
        return code, out[0]

    def _log_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.log.info("%s", line.rstrip())

    def on_kill(self) -> None:
        if self._proc is not None:
            stop_group(self._proc, self.stage_kill_grace_s)


def _read_into(stream: IO[str], sink: list[str]) -> None:
    sink.append(stream.read())
