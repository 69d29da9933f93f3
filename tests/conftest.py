"""Shared test setup: an isolated AIRFLOW_HOME (tests never touch ~/airflow or the demo's), a temporary
folder of each pytest-xdist worker's own, each test's tier marker (from its folder when it has none), and
``--dist-tiers``: with pytest-xdist, one worker per tier with services.

``AIRFLOW__CORE__UNIT_TEST_MODE`` is for Airflow code running in this process (DagBag, operators under
test). The stacks the integration and e2e tiers start never see it: ``tradewind_dev.stack`` leaves the
caller's Airflow settings out of their environment, so they run as a user's Airflow does.
"""

from __future__ import annotations

import ast
import functools
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TIERS = ("unit", "dags", "integration", "e2e", "perf")
SERVICE_TIERS = ("integration", "e2e")
TESTS = Path(__file__).resolve().parent


def _worker_tempdir() -> str | None:
    """Under pytest-xdist, each worker gets a temporary folder of its own (``tempfile``, ``TMPDIR``).

    Tests that compare what the temporary folder holds before and after (no ``tradewind-model-*``
    left behind, say) would otherwise see the folders another worker's test is using at the time.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return None
    own = tempfile.mkdtemp(prefix=f"tradewind-tests-{worker}-")
    os.environ["TMPDIR"] = tempfile.tempdir = own
    return own


_WORKER_TMP = _worker_tempdir()
_HOME = Path(tempfile.mkdtemp(prefix="tradewind-airflow-test-"))
if _WORKER_TMP:  # a worker inherits the controller's environment, its AIRFLOW_HOME too: one of its own instead
    os.environ["AIRFLOW_HOME"] = str(_HOME)
else:
    os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _serialize_ast_parse() -> None:
    """Before CPython 3.11.8, ``ast.parse`` in two threads at once can fail with a SystemError.

    The AST constructor kept its recursion depth in interpreter-wide state, so a thread that parses
    while another is parsing (the GIL can switch during the garbage collections the constructor
    triggers) corrupts it: "AST constructor recursion depth mismatch" (CPython gh-106905, fixed in
    3.11.8). Hypothesis parses sources to describe strategies and the traceback module parses the
    lines it underlines, while the served apps' reload and log-writer threads run, so the tests
    serialize the calls on such an interpreter.
    """
    if sys.version_info >= (3, 11, 8):
        return
    parse = ast.parse
    lock = threading.RLock()

    @functools.wraps(parse)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    ast.parse = serialized


_serialize_ast_parse()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _WORKER_TMP:
        shutil.rmtree(_WORKER_TMP, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test without a tier marker gets its folder's (``tests/<tier>/...``), before ``-m`` selects.

    ``make test`` selects tiers by marker (the fast tiers in parallel, the ones with services apart),
    so a module that forgot its ``pytestmark`` still runs in its tier instead of in neither run.
    """
    for item in items:
        if any(item.get_closest_marker(tier) for tier in TIERS):
            continue
        try:
            folder = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if folder in TIERS:
            item.add_marker(getattr(pytest.mark, folder))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--dist-tiers",
        action="store_true",
        help="with -n: each tier with services (tests/integration, tests/e2e) runs on one worker, its modules one "
        "after another, beside the other tiers; other tests are distributed by file",
    )


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist-tiers``: xdist's scheduling by scope, where a tier with services is one scope.

    ``make test`` runs the integration and e2e tiers this way on two workers: the e2e demo on one,
    the integration modules one after another on the other. By file (``--dist loadfile``), xdist
    hands each worker two files at a time and so queues an integration module behind the demo;
    ``xdist_group`` markers would say the same, but ``--dist loadgroup`` of pytest-xdist 3.8 does not
    group under pytest 9.2 (the group suffix it writes to ``item._nodeid`` is no longer read).
    """
    if not config.getoption("dist_tiers"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TierScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            parts = nodeid.split("/")
            if len(parts) > 2 and parts[0] == TESTS.name and parts[1] in SERVICE_TIERS:
                return parts[1]
            return str(super()._split_scope(nodeid))

    return TierScheduling(config, log)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def validate_k8s() -> Callable[[dict[str, Any]], str]:
    """Strict validation (unknown fields fail) against the schema of the version Terraform targets."""

    import kubernetes_validate

    from tradewind.k8s import K8S_VERSION

    def check(manifest: dict[str, Any]) -> str:
        try:
            return kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            pytest.fail(f"{manifest['kind']} {manifest['metadata'].get('name')}: {path}: {err.message}")

    return check
