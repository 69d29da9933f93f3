"""A schemathesis pass over the server's own OpenAPI schema: no input is ever answered with a 5xx.

Every operation of the schema (predict, probes, metrics, admin) is fuzzed in schemathesis's
examples, coverage and fuzzing phases, with data that fits the schema and data that does not, and
every response goes through all of schemathesis's checks: never a 5xx, only documented status
codes, content types and headers, bodies of the documented shape, invalid data rejected with a
4xx, valid data accepted, the admin token enforced. The admin operations run once with the token
(so the authenticated paths are fuzzed) and once without (401/403 only).

The cases are sent to a real app serving a champion and a challenger from the session's MLflow
registry, with its lifespan (reload thread, inference-log writer) running. ``@schema.parametrize()``
needs the schema at import time, before fixtures exist, so it is taken from an app built by the
same ``create_app`` with the same settings (without starting that app), and the served app is
checked to publish exactly that schema. (``schemathesis.pytest.from_fixture`` would read it from the fixture, but in
schemathesis 4.32.5 it sets ``request.node._nodeid``, which pytest 9.2 no longer has.)

Bounded (``max_examples``) and derandomized: the same cases on every run, about 15 s in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from mlflow import MlflowClient

from tests.unit.helpers import SPEC_PATH
from tests.unit.serving.conftest import AUTH, TOKEN, LoggedModel, Registry, server_of
from tradewind.data.spec import DatasetSpec, load_spec
from tradewind.serving.app import create_app
from tradewind.serving.config import ServingConfig, parse_serving_config
from tradewind.serving.contract import CHALLENGER, CHAMPION

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=100,  # per operation in the fuzzing phase; the examples and coverage phases add theirs
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _config(model_name: str, **overrides: Any) -> ServingConfig:
    return parse_serving_config(
        {
            "model_name": model_name,
            "dataset": "transactions",
            "reload_interval_s": 3600,
            "challenger_percent": 50,  # both variants answer predict
            "inference_log": {"flush_interval_s": 3600, "flush_rows": 100_000},
            **overrides,
        }
    )


# Invalid data must be refused with one of these; 413 is the documented answer to more instances
# than `maxItems` (schemathesis's default list has no 413).
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})


class ServedApp:
    """The ASGI app the schema's cases are sent to: it hands each request to the module's served app.

    Schemathesis keeps the lifespan of an app it has called running until the process exits. This
    one answers its own lifespan, so the served app runs only the lifespan its fixture starts and
    stops (the reload thread and the inference-log writer end with the module's tests).
    """

    def __init__(self) -> None:
        self.target: FastAPI | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":  # startup, then shutdown
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.target is not None, "a case was sent before the served app started"
        await self.target(scope, receive, send)


SERVED = ServedApp()

# The schema the real app publishes (it needs no model to publish it), from the app's `openapi()`,
# which is what its `/openapi.json` serves; the app is never started.
schema = schemathesis.openapi.from_dict(
    create_app(
        _config("schema-only", inference_log={"enabled": False}), spec=load_spec(SPEC_PATH), admin_token=TOKEN
    ).openapi(),
    config=CONFIG,
)
schema.app = SERVED  # before `include` and `parametrize`, whose copies share it


@pytest.fixture(scope="module")
def served(
    client: MlflowClient,
    logged_models: dict[str, LoggedModel],
    store: str,
    shipped_spec: DatasetSpec,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FastAPI]:
    """The app the cases are sent to: version 1 (model a) champion, version 2 (model b) challenger."""
    registry = Registry(client=client, logged=logged_models)
    registry.point(CHAMPION, registry.add("a"))
    registry.point(CHALLENGER, registry.add("b"))
    log_root: Path = tmp_path_factory.mktemp("fuzz-lake")
    app = create_app(
        _config(registry.name),
        tracking_uri=store,
        spec=shipped_spec,
        log_root=f"file://{log_root}",
        admin_token=TOKEN,
    )
    published = app.openapi()
    for part in ("paths", "components"):
        assert published[part] == schema.raw_schema[part], f"the served app publishes another schema ({part})"
    server_of(app).holder.refresh()
    with TestClient(app):  # the lifespan: models loaded, reload thread and inference-log writer running
        assert server_of(app).holder.deployment.versions() == {CHAMPION: "1", CHALLENGER: "2"}
        SERVED.target = app
        try:
            yield app
        finally:
            SERVED.target = None


def _mislabelled_valid(case: schemathesis.Case) -> bool:
    """A case schemathesis calls valid whose body the documented schema rejects.

    Its coverage phase shifts a bound past 2**53 in floating point: for ``maximum: 2**63 - 1`` its
    "near-boundary" valid integer is 9223372036854775999, which is over the maximum (and refused
    with a 422, rightly). Such a case still goes through every other check.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(case.body, dict | list):
        return False
    operation = schema.raw_schema["paths"][case.operation.path][case.operation.method.lower()]
    body_schema = operation.get("requestBody", {}).get("content", {}).get(case.media_type or "", {}).get("schema")
    return body_schema is not None and not Draft202012Validator(body_schema).is_valid(case.body)


@schema.parametrize()
@FUZZ
@pytest.mark.usefixtures("served")
def test_no_5xx_and_every_answer_as_documented(case: schemathesis.Case) -> None:
    excluded = [schemathesis.checks.positive_data_acceptance] if _mislabelled_valid(case) else None
    case.call_and_validate(headers=AUTH, excluded_checks=excluded)


@schema.include(path_regex="^/admin/").parametrize()
@FUZZ
@pytest.mark.usefixtures("served")
def test_admin_without_the_token_is_refused_as_documented(case: schemathesis.Case) -> None:
    response = case.call_and_validate()
    if case.method.upper() == case.operation.method.upper():
        assert response.status_code in (401, 403), response.text
    else:  # the coverage phase also sends methods the path does not have
        assert response.status_code == 405, response.text
