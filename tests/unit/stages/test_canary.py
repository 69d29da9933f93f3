"""The canary-verdict stage: a stage judged from two scrapes of the server's metrics, through the one CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.unit.canary.fakes import FakeServer
from tradewind.serving.contract import CHALLENGER, CHAMPION
from tradewind.stages.canary import canary_config
from tradewind.stages.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()


def _scrapes(tmp_path, *, challenger_error_rate: float) -> tuple[str, str]:
    server = FakeServer(seed=3)
    server.serve(CHAMPION, 400)
    start = tmp_path / "start.txt"
    start.write_text(server.text())
    server.serve(CHAMPION, 300)
    server.serve(CHALLENGER, 300, error_rate=challenger_error_rate)
    end = tmp_path / "end.txt"
    end.write_text(server.text())
    return str(start), str(end)


def _verdict(tmp_path, *, challenger_error_rate: float, exit_code: int) -> dict:
    start, end = _scrapes(tmp_path, challenger_error_rate=challenger_error_rate)
    result = runner.invoke(app, ["canary-verdict", "--start", start, "--end", end, "--min-requests", "100"])
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def test_a_healthy_stage_passes_and_keeps_the_champions_baseline(tmp_path):
    verdict = _verdict(tmp_path, challenger_error_rate=0.0, exit_code=0)
    assert verdict["passed"] is True
    assert verdict["figures"]["challenger"]["requests"] == 300
    assert verdict["baseline"]["requests"] == 300  # what the champion served in this stage


def test_a_failing_challenger_exits_3_with_the_breach(tmp_path):
    verdict = _verdict(tmp_path, challenger_error_rate=0.3, exit_code=3)
    assert verdict["passed"] is False
    assert "error" in verdict["summary"]


def test_form_overrides_are_checked_like_the_file():
    assert canary_config({"min_requests": 7, "stages": None}).min_requests == 7
    with pytest.raises(ValueError, match="the canary form"):
        canary_config({"stages": [50, 10]})


def test_a_missing_scrape_is_bad_input(tmp_path):
    result = runner.invoke(app, ["canary-verdict", "--start", str(tmp_path / "no"), "--end", str(tmp_path / "no")])
    assert result.exit_code == 2
    assert "cannot read a scrape" in result.stderr
