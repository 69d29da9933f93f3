"""A Tradewind CLI as a subprocess of the worker: the local form of every heavy step.

The CLI's progress lines (stderr) stream into the task log as they come; its result is the JSON
document it prints on stdout, read on a thread of its own so that a large result and a long log can
never block each other on full pipes. Exit code 2 means the CLI refused its input: the task fails without
retries (a retry would be refused too). ``on_kill`` stops the subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

BAD_INPUT = 2


class CliSubprocessMixin(BaseOperator):
    """Run ``python -m <module> <arguments>`` and return its stdout as JSON."""

    _proc: subprocess.Popen[str] | None = None

    def run_cli(self, module: str, arguments: Sequence[str], what: str) -> Any:
        command = [sys.executable, "-m", module, *map(str, arguments)]
        self.log.info("Running: %s", " ".join(command[1:]))
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        if code != 0:
            raise RuntimeError(f"the {what} failed with exit code {code}")
        return json.loads(out)

    def on_kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
