"""A stage run as a subprocess of the worker: its log streams in, its JSON result comes back whole.

A wide data set's drift summary (or any large result) can pass the pipe's buffer, and its progress lines
can too; neither side may wait on the other.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewind_airflow.operators.cli import StageSubprocessMixin

pytestmark = pytest.mark.unit

CHATTY = """
import json, sys
for i in range(3000):
    print(f"progress line {i} " + "x" * 40, file=sys.stderr, flush=True)
print(json.dumps({"features": [{"column": f"f{i}", "note": "y" * 200} for i in range(1500)]}))
print("last line", file=sys.stderr, flush=True)
sys.exit(int(sys.argv[1]))
"""


class _Step(StageSubprocessMixin):
    stage_module = "chatty_cli"


@pytest.fixture
def cli_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "chatty_cli.py").write_text(CHATTY)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "chatty_cli"


@pytest.mark.timeout(60)
def test_a_large_result_and_a_long_log_both_come_through(cli_module, capsys):
    step = _Step(task_id="step")
    result = step.run_stage(["0"], "chatty step")
    assert len(result["features"]) == 1500  # ~330 KB of JSON, past any pipe buffer
    logged = "".join(capsys.readouterr())  # the task log (Airflow's structured logging prints it)
    assert logged.count("progress line ") == 3000
    assert "last line" in logged


@pytest.mark.timeout(60)
def test_exit_codes_say_refused_or_failed(cli_module):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="the chatty step refused its input"):
        _Step(task_id="a").run_stage(["2"], "chatty step")
    with pytest.raises(RuntimeError, match="the chatty step failed with exit code 1"):
        _Step(task_id="b").run_stage(["1"], "chatty step")
    with pytest.raises(RuntimeError, match="the chatty step failed with exit code 3"):
        _Step(task_id="c").run_stage(["3"], "chatty step")  # a "no" is a failure unless the caller takes it
    assert len(_Step(task_id="d").run_stage(["3"], "chatty step", rejected_ok=True)["features"]) == 1500
