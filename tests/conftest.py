"""Shared test setup: an isolated AIRFLOW_HOME, so tests never touch ~/airflow or the demo's."""

from __future__ import annotations

import ast
import functools
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="tradewind-airflow-test-"))
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
