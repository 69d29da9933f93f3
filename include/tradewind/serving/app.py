"""The model server: a FastAPI app over the champion/challenger holder, router, metrics and log.

``create_app()`` wires the parts; each lives in its own module (``models``, ``router``,
``validation``, ``service``, ``metrics``, ``inference_log``, ``middleware``). The endpoints are
the ones ``contract.py`` names; its docstring has the request and response shapes.

The app is meant to run in ONE worker process (``python -m tradewind.serving`` makes sure): the
traffic split set through ``PUT /admin/traffic`` lives in that process. Replicas on Kubernetes are
KServe's business, which splits traffic between revisions itself.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from tradewind.data.spec import ColumnType, DatasetSpec
from tradewind.serving.admission import Admission, Ticket, count_records
from tradewind.serving.config import ServingConfig, load_serving_config
from tradewind.serving.contract import (
    ADMIN_TOKEN_ENV,
    CHALLENGER,
    CHAMPION,
    ENTITY_HEADER,
    HEALTH_PATH,
    METRICS_PATH,
    PREDICT_PATH,
    READY_PATH,
    RELOAD_PATH,
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
    TRAFFIC_PATH,
    VARIANT_HEADER,
)
from tradewind.serving.inference_log import InferenceLogWriter
from tradewind.serving.metrics import CONTENT_TYPE, ServingMetrics
from tradewind.serving.middleware import (
    SCOPE_KEY,
    BodyLimitMiddleware,
    EarlyRefusalMiddleware,
    RequestIdMiddleware,
    request_id_of,
)
from tradewind.serving.models import Deployment, ModelHolder, ModelLoader, RegistryModelLoader, ReloadError
from tradewind.serving.responses import response_model
from tradewind.serving.router import TrafficRouter, TrafficSplit
from tradewind.serving.service import NotReady, Prediction, PredictionService, ScoringError, TooManyInstances
from tradewind.serving.validation import FieldRule, RequestInvalid, RequestValidator
from tradewind.storage import LakePath

log = logging.getLogger(__name__)


# -- response and request models (the OpenAPI schema; predict's answer per task: serving.responses) ----
_ANSWERS = {
    "binary": "The probability of the positive class for each instance",
    "multiclass": "The most probable class and every class's probability for each instance",
    "regression": "The predicted value for each instance",
}


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    detail: list[ErrorItem]


class ErrorMessage(BaseModel):
    detail: str


class VariantInfo(BaseModel):
    version: str


class TrafficState(BaseModel):
    challenger_percent: int = Field(ge=0, le=100)
    shadow: bool
    champion: VariantInfo | None
    challenger: VariantInfo | None


def _whole_number(value: Any) -> Any:
    """``10.0`` is the integer 10 (JSON Schema's ``integer`` takes it); ``10.5``, ``"10"`` and ``true`` stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class TrafficUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    challenger_percent: Annotated[int, BeforeValidator(_whole_number)] = Field(
        ge=0, le=100, description="Share of entities the challenger answers"
    )
    shadow: bool = Field(default=False, description="Champion answers everything; the challenger scores copies")


class ReadyStatus(BaseModel):
    status: Literal["ready", "not ready"]
    champion: str | None = None
    challenger: str | None = None
    reason: str | None = None


class HealthStatus(BaseModel):
    status: Literal["ok"]


def _responses(**codes: tuple[type[BaseModel], str]) -> dict[int | str, dict[str, Any]]:
    return {int(code.removeprefix("r")): {"model": model, "description": text} for code, (model, text) in codes.items()}


# -- the server ------------------------------------------------------------------------------
@dataclass
class ModelServer:
    """Everything one app serves with (``app.state.server``)."""

    config: ServingConfig
    spec: DatasetSpec
    holder: ModelHolder
    router: TrafficRouter
    metrics: ServingMetrics
    service: PredictionService
    inference_log: InferenceLogWriter | None
    admin_token: str | None
    admission: Admission | None = None

    def traffic(self) -> TrafficState:
        split, deployment = self.router.split, self.holder.deployment
        return TrafficState(
            challenger_percent=split.challenger_percent,
            shadow=split.shadow,
            champion=VariantInfo(version=deployment.champion.version) if deployment.champion else None,
            challenger=VariantInfo(version=deployment.challenger.version) if deployment.challenger else None,
        )


def create_app(
    config: ServingConfig | None = None,
    *,
    loader: ModelLoader | None = None,
    spec: DatasetSpec | None = None,
    tracking_uri: str | None = None,
    log_root: str | LakePath | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The model server app.

    ``config``: ``include/config/serving.yaml`` by default. ``loader``: where models come from (the
    MLflow registry at ``tracking_uri``, else ``MLFLOW_TRACKING_URI``, else the embedded store).
    ``spec``: the data set's spec (the profile's, by ``config.dataset``), used for the request
    schema, the routing key column and the inference log's columns. ``log_root``: the storage root
    of the inference log (the profile's ``serving.inference_log_root`` or ``storage.root``; needed
    while the log is enabled). ``admin_token``: the bearer token of the
    admin endpoints (default: the ``TRADEWIND_SERVING_ADMIN_TOKEN`` variable; none disables them).

    The app's lifespan starts the reload thread (which loads the models at once) and the inference
    log's writer, and on shutdown stops both, flushing the log.
    """
    config = config or load_serving_config()
    if spec is None or (log_root is None and config.inference_log.enabled):
        # The profile is the entry point's business (python -m tradewind.serving reads it): the app is given it.
        raise ValueError("create_app needs the data set's spec and, with the inference log on, its log_root")
    router = TrafficRouter(TrafficSplit(config.challenger_percent, config.shadow))

    def on_swap(deployment: Deployment) -> None:
        if deployment.challenger is None and router.split != TrafficSplit():
            log.info("No challenger loaded: traffic split back to 0%% (was %s)", router.split)
            router.reset()
        # Loading a model imports MLflow and builds hundreds of thousands of long-lived objects; a full
        # garbage collection walks them all (~0.2 s with the GIL held: every request in flight waits).
        # Frozen, they are left out of collections (an old model's reference cycles, if any, stay).
        gc.freeze()

    loader = loader or RegistryModelLoader(config.model_name, tracking_uri, threads=config.model_threads)
    holder = ModelHolder(loader, on_swap=on_swap)
    metrics = ServingMetrics()
    writer = None
    if config.inference_log.enabled:
        writer = InferenceLogWriter(
            log_root, spec, config.inference_log, dataset=config.dataset, on_drop=metrics.log_dropped
        )
    token = admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV)
    server = ModelServer(
        config=config,
        spec=spec,
        holder=holder,
        router=router,
        metrics=metrics,
        service=PredictionService(config, spec, holder, router, metrics, writer),
        inference_log=writer,
        admin_token=token or None,
        admission=Admission(config.admission.max_inflight_requests, config.admission.max_inflight_records)
        if config.admission.enabled
        else None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if writer is not None:
            writer.start()
        holder.start(config.reload_interval_s)
        try:
            yield
        finally:
            holder.stop()
            if writer is not None:
                writer.close()

    app = FastAPI(
        title="Tradewind model server",
        version="1",
        summary=f"Scores '{spec.name}' records with the champion (and challenger) of model '{config.model_name}'",
        lifespan=lifespan,
    )
    app.state.server = server
    if server.admission is not None:
        app.add_middleware(EarlyRefusalMiddleware, path=PREDICT_PATH, refuse=_early_refusal(server, server.admission))
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=config.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    _add_error_handlers(app)
    _add_predict(app, server)
    _add_probes(app, server)
    _add_admin(app, server)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 405:
            # Each method of a path is a route of its own, whose 405 would name only its own method.
            allow = ", ".join(_allowed_methods(request))
            err = StarletteHTTPException(405, err.detail, headers={**(err.headers or {}), "Allow": allow})
        return await http_exception_handler(request, err)

    @app.exception_handler(ScoringError)
    async def scoring_failed(request: Request, err: ScoringError) -> Response:
        return JSONResponse({"detail": str(err)}, status_code=500, headers={VARIANT_HEADER: err.variant})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> Response:
        log.error("Unexpected error on %s %s", request.method, request.url.path, exc_info=err)
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the request's path answers to (for the ``Allow`` header of a 405)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return sorted(methods)


def _predict_body_schema(server: ModelServer) -> dict[str, Any]:
    validator = RequestValidator(server.spec)
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["instances"],
                    "properties": {
                        "instances": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": server.config.max_batch_rows,
                            "items": validator.instance_schema(),
                        }
                    },
                },
                "example": {"instances": [_example(validator.rules, server.spec)]},
            }
        },
    }


def _predict_headers() -> list[dict[str, Any]]:
    """The optional request headers of predict (read by the endpoint and the middleware, not by FastAPI)."""
    return [
        {
            "name": ENTITY_HEADER,
            "in": "header",
            "required": False,
            "description": "The routing key: one entity always sees one variant for a given split",
            "schema": {"type": "string"},
        },
        {
            "name": REQUEST_ID_HEADER,
            "in": "header",
            "required": False,
            "description": "The client's id for this request, echoed when it is 1 to 128 of `A-Za-z0-9._:-`, "
            "else replaced by a new one",
            "schema": {"type": "string"},
        },
    ]


def _example(rules: tuple[FieldRule, ...], spec: DatasetSpec) -> dict[str, Any]:
    example: dict[str, Any] = {}
    for rule in rules:
        low = rule.min if rule.min is not None else 1
        values: dict[ColumnType, Any] = {
            ColumnType.numeric: float(low),
            ColumnType.integer: int(low),
            ColumnType.boolean: False,
            ColumnType.timestamp: "2026-01-05T12:00:00Z",
            ColumnType.categorical: (spec.columns[rule.name].categories or ("unknown",))[0]
            if rule.name in spec.columns
            else "value",
            ColumnType.string: "value",
        }
        example[rule.name] = values[rule.type]
    return example


def _add_predict(app: FastAPI, server: ModelServer) -> None:
    headers = {
        REQUEST_ID_HEADER: {"description": "The client's request id, or one made for it", "schema": {"type": "string"}},
        VARIANT_HEADER: {"description": "The variant that answered", "schema": {"type": "string"}},
    }

    limits = server.config
    inline_max_bytes = server.config.inline_max_bytes

    @app.post(
        PREDICT_PATH,
        summary="Score records",
        description=(
            'KServe V1 style: `{"instances": [record, ...]}`. Routed to the champion or the challenger '
            f"by `{ENTITY_HEADER}`, else the first instance's entity column, else the request id."
        ),
        response_model=response_model(server.spec),
        responses={
            200: {"headers": headers, "description": _ANSWERS[server.spec.task]},
            **_responses(
                r413=(ErrorMessage, f"Body over {limits.max_body_bytes} bytes or {limits.max_batch_rows} instances"),
                r422=(ValidationErrorResponse, "Malformed JSON, or an instance breaks the data set's spec"),
                r500=(ErrorMessage, "The model failed on a valid request"),
                r503=(
                    ErrorMessage,
                    f"Overloaded: more work in flight than admission allows (`{RETRY_AFTER_HEADER}` says when to "
                    "retry); or no champion model loaded yet",
                ),
            ),
        },
        openapi_extra={"requestBody": _predict_body_schema(server), "parameters": _predict_headers()},
    )
    async def predict(request: Request) -> Response:
        body = await request.body()
        request_id = request_id_of(request)
        entity = request.headers.get(ENTITY_HEADER)
        inline = len(body) <= inline_max_bytes
        ticket: Ticket | None = None
        if server.admission is not None:
            ticket = server.admission.try_admit(count_records(body))
            if ticket is None:
                return _shed(server, server.admission, body, request_id, entity)
        try:
            if inline and ticket is not None:
                # Scored on the event loop, a request would hold its ticket only while it runs, and the
                # requests queued behind it on the loop would never be counted. One turn of the loop
                # first: every request that arrived with this one is admitted or refused before any is scored.
                await asyncio.sleep(0)
            result = await _score(server, body, request_id, entity, inline=inline)
        finally:
            # Given back before the response is sent: a client that goes away never keeps its share.
            # A shadow copy (scored after the response) is bounded by the worker threads, not here.
            if ticket is not None and server.admission is not None:
                server.admission.release(ticket)
        if isinstance(result, Response):
            return result
        return Response(
            json.dumps(result.body()),
            media_type="application/json",
            headers={VARIANT_HEADER: result.variant},
            background=BackgroundTask(result.shadow) if result.shadow is not None else None,
        )


async def _score(
    server: ModelServer, body: bytes, request_id: str, entity: str | None, *, inline: bool
) -> Prediction | Response:
    """The prediction, or the error response of a request that cannot be scored."""
    try:
        if inline:  # cheaper to score on the event loop than to hand to a worker thread
            return server.service.predict(body, request_id=request_id, entity=entity)
        return await run_in_threadpool(server.service.predict, body, request_id=request_id, entity=entity)
    except RequestInvalid as err:
        return JSONResponse({"detail": err.errors}, status_code=422)
    except TooManyInstances as err:
        return JSONResponse({"detail": str(err)}, status_code=413)
    except NotReady as err:
        return JSONResponse({"detail": f"not ready: {err}"}, status_code=503)


def _early_refusal(server: ModelServer, admission: Admission) -> Callable[[bytes, Scope], Response | None]:
    """Refuse an overload before routing (the refusal costs the scoring thread as little CPU as it can)."""

    def refuse(body: bytes, scope: Scope) -> Response | None:
        if admission.admits(count_records(body)):
            return None  # the endpoint takes its ticket (and may still refuse, if others got there first)
        request_id = scope.get(SCOPE_KEY)
        entity = Headers(scope=scope).get(ENTITY_HEADER)
        return _shed(server, admission, body, request_id if isinstance(request_id, str) else "", entity)

    return refuse


def _shed(server: ModelServer, admission: Admission, body: bytes, request_id: str, entity: str | None) -> Response:
    """503 + Retry-After at once, counted for the variant the request would have gone to."""
    server.metrics.shed_one(server.service.variant_for(body, request_id=request_id, entity=entity))
    retry_after = server.config.admission.retry_after_s
    return JSONResponse(
        {"detail": f"overloaded: {admission.describe()}; retry after {retry_after} s"},
        status_code=503,
        headers={RETRY_AFTER_HEADER: str(retry_after)},
    )


def _add_probes(app: FastAPI, server: ModelServer) -> None:
    @app.get(HEALTH_PATH, summary="The process is up", response_model=HealthStatus)
    async def healthz() -> HealthStatus:
        return HealthStatus(status="ok")

    @app.get(
        READY_PATH,
        summary="Ready when a champion is loaded",
        response_model=ReadyStatus,
        responses=_responses(r503=(ReadyStatus, "No champion loaded; `reason` says why")),
    )
    async def readyz() -> Response:
        reason = server.holder.not_ready_reason()
        versions = server.holder.deployment.versions()
        status = ReadyStatus(
            status="not ready" if reason else "ready",
            champion=versions[CHAMPION],
            challenger=versions[CHALLENGER],
            reason=reason,
        )
        return JSONResponse(status.model_dump(), status_code=503 if reason else 200)

    @app.get(
        METRICS_PATH,
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Text format"}},
    )
    async def metrics() -> Response:
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)


def _add_admin(app: FastAPI, server: ModelServer) -> None:  # noqa: C901  (the admin routes are defined inside; each is short)
    bearer = HTTPBearer(auto_error=False, description=f"The token in the server's {ADMIN_TOKEN_ENV}")

    def require_admin(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:  # noqa: B008
        if server.admin_token is None:
            raise HTTPException(503, f"admin endpoints are disabled: {ADMIN_TOKEN_ENV} is not set on the server")
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), server.admin_token.encode()):
            raise HTTPException(403, "invalid admin token")

    auth = _responses(
        r401=(ErrorMessage, "No bearer token"),
        r403=(ErrorMessage, "Wrong bearer token"),
        r503=(ErrorMessage, f"No admin token configured ({ADMIN_TOKEN_ENV}), or (reload) the registry failed"),
    )
    admin = [Depends(require_admin)]

    @app.get(
        TRAFFIC_PATH,
        summary="The traffic split and the loaded versions",
        response_model=TrafficState,
        responses=auth,
        dependencies=admin,
    )
    async def get_traffic() -> TrafficState:
        return server.traffic()

    @app.put(
        TRAFFIC_PATH,
        summary="Change the traffic split",
        response_model=TrafficState,
        responses={
            **auth,
            **_responses(
                r409=(ErrorMessage, "A split or shadow mode asked for while no challenger is loaded"),
                r422=(ValidationErrorResponse, "The body is not a valid traffic update"),
            ),
        },
        dependencies=admin,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": TrafficUpdate.model_json_schema()}},
            }
        },
    )
    async def put_traffic(request: Request) -> Response:
        try:
            update = TrafficUpdate.model_validate_json(await request.body())
        except ValidationError as err:
            details = err.errors(include_url=False, include_context=False, include_input=False)
            return JSONResponse({"detail": [{**d, "loc": ["body", *d["loc"]]} for d in details]}, status_code=422)
        if (update.challenger_percent > 0 or update.shadow) and server.holder.deployment.challenger is None:
            return JSONResponse({"detail": "no challenger is loaded: only 0% without shadow is possible"}, 409)
        before = server.router.split
        server.router.update(update.challenger_percent, update.shadow)
        log.info(
            "Traffic split: challenger %d%% -> %d%%, shadow %s -> %s",
            before.challenger_percent,
            update.challenger_percent,
            before.shadow,
            update.shadow,
        )
        return JSONResponse(server.traffic().model_dump())

    @app.post(
        RELOAD_PATH,
        summary="Re-read the aliases now",
        response_model=TrafficState,
        responses=auth,
        dependencies=admin,
    )
    async def reload() -> Response:
        try:
            await run_in_threadpool(server.holder.refresh)
        except ReloadError as err:
            return JSONResponse({"detail": f"reload failed: {err}"}, status_code=503)
        return JSONResponse(server.traffic().model_dump())
