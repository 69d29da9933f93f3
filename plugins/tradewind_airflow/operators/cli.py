"""A Tradewind stage as a subprocess of the worker: the local form of every heavy stage.

``python -m tradewind <stage> <arguments>`` runs with the worker's environment plus what the
operator adds (the MLflow tracking URI, the lake's credentials). Its progress lines (stderr) stream
into the task log as they come; its outcome is the JSON document it prints on stdout, read on a
thread of its own so that a large outcome and a long log can never block each other on full pipes.
Exit code 2 means the stage refused its input: the task fails without retries (a retry would be
refused too). Exit code 3 means the stage ran and said no (a quarantined batch): its outcome is
returned and the operator decides. ``on_kill`` stops the subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from tradewind.stages.outcome import BAD_INPUT, REJECTED


class StageSubprocessMixin(BaseOperator):
    """Run ``python -m tradewind <arguments>`` and return its stdout as JSON."""

    _proc: subprocess.Popen[str] | None = None
    # The module run with ``python -m``: the one CLI of the stages.
    stage_module = "tradewind"

    def run_stage(
        self, arguments: Sequence[str], what: str, env: Mapping[str, str] | None = None, rejected_ok: bool = False
    ) -> Any:
        """The stage's outcome; with ``rejected_ok`` exit 3 returns it too (else it fails the task)."""
        command = [sys.executable, "-m", self.stage_module, *map(str, arguments)]
        self.log.info("Running: %s", " ".join(command[1:]))
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **dict(env or {})},
        )
        stdout, stderr = self._proc.stdout, self._proc.stderr
        assert stdout is not None
        assert stderr is not None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{what} stdout") as pool:
            result = pool.submit(stdout.read)
            for line in stderr:
                self.log.info("%s", line.rstrip())
            code = self._proc.wait()
            out = result.result()
        if code == BAD_INPUT:
            raise AirflowFailException(f"the {what} refused its input (exit 2); see the lines above. {out[-500:]}")
        if code == REJECTED and rejected_ok:
            return json.loads(out)
        if code != 0:
            raise RuntimeError(f"the {what} failed with exit code {code}")
        return json.loads(out)

    def on_kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
