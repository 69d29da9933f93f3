"""HTTP plumbing of the model server, as plain ASGI middleware (no per-request task or copy).

- :class:`RequestIdMiddleware`: every response carries ``X-Request-ID``: the client's, when it is a
  sensible token, else a new one. The endpoint reads it with :func:`request_id_of`.
- :class:`BodyLimitMiddleware`: a body larger than ``max_body_bytes`` is answered 413, from its
  ``Content-Length`` before anything is read, and from the bytes actually received otherwise
  (a chunked body, or a length that lies), before the endpoint parses any of it.
- :class:`EarlyRefusalMiddleware`: reads one path's request body and asks a callback whether to answer
  at once (the model server's overload refusal), before routing, FastAPI's request handling and the
  endpoint: a refusal then costs little more than parsing the HTTP request. Otherwise the body is handed
  on unchanged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Final

from fastapi import HTTPException
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewind.serving.contract import REQUEST_ID_HEADER

SCOPE_KEY: Final = "tradewind.request_id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_of(request: Request) -> str:
    """The id of this request (the client's ``X-Request-ID`` or one made for it)."""
    value = request.scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = given if given is not None and _SAFE_ID.match(given) else uuid.uuid4().hex
        scope[SCOPE_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


def too_large(limit: int) -> str:
    return f"request body is larger than the limit of {limit} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            response = JSONResponse({"detail": too_large(self.max_body_bytes)}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(status_code=413, detail=too_large(self.max_body_bytes))
            return message

        await self.app(scope, counting_receive, send)


class EarlyRefusalMiddleware:
    """POSTs to ``path``: the body is read here and ``refuse(body, scope)`` may answer in place of the app."""

    def __init__(self, app: ASGIApp, path: str, refuse: Callable[[bytes, Scope], Response | None]) -> None:
        self.app = app
        self.path = path
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except HTTPException as err:  # the body limit, raised by an outer middleware's receive
            await JSONResponse({"detail": err.detail}, status_code=err.status_code)(scope, receive, send)
            return
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        response = self.refuse(body, scope)
        if response is not None:
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
