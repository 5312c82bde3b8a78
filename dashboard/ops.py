"""Operations: ``/metrics`` for Prometheus, a request-body size limit, and refused commands as HTTP errors."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.hub import Hub
from monitor.commands import CommandFailed
from monitor.metrics import make_registry
from monitor.service import Service

log = logging.getLogger(__name__)

#: Largest request body accepted (the API takes small JSON documents; notes are 4,000 characters).
MAX_BODY_BYTES = 1_048_576


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413 and a reason, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self._refuse(send, 400, "invalid Content-Length header")
                return
            if too_big:
                await self._refuse(send, 413, f"request body too large: {int(declared)} bytes (limit {self.max_bytes})")
                return
        if declared is None and _may_have_body(scope):
            # Streamed (chunked) body: read it here, up to the limit, so the route never sees a partial one.
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    await self._refuse(send, 413, f"request body too large: over {self.max_bytes} bytes (streamed)")
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

            async def replaying_receive() -> Message:
                return replay.pop() if replay else await receive()

            await self.app(scope, replaying_receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        body = JSONResponse({"detail": detail}, status_code=status).body
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _may_have_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    return scope.get("method") in ("POST", "PUT", "PATCH") or b"transfer-encoding" in headers


def install(app: FastAPI, service: Service, hub: Hub | None = None, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Add ``/metrics``, the body limit and the command-error mapping to ``app``."""
    registry = make_registry(service, hub)
    epoch = service.bus.epoch
    if hub is not None and epoch:  # several processes on one event log: one seq space, one epoch
        hub.epoch = epoch
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    @app.exception_handler(CommandFailed)
    async def command_failed(_request: Request, exc: CommandFailed) -> Response:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own answer, but ASCII-escaped: an input it echoes may hold an unpaired surrogate
        # (valid JSON "\ud800"), which no UTF-8 encoder takes; the answer must stay a 422, never a 500.
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        # A number or text the database cannot hold (an id beyond 64 bits, a value too long): the
        # client's input, not a server fault. Routes should bound their parameters; this is the net.
        log.warning(
            "refused %s %s: value out of range for the database (%s)",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return JSONResponse({"detail": "a value in the request is out of range"}, status_code=422)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def ingest_app(service: Any) -> FastAPI:
    """An ingest process's own small HTTP face: ``/api/health`` and ``/metrics`` for the operators."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="ivmon ingest", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    # Sessions close here (commands from web processes): their review summaries are computed here too.
    from dashboard.review.data import SummaryKeeper

    service.sessions.add_listener(SummaryKeeper(service.engine, service.alarms))

    from dashboard.api.system import health_for
    from dashboard.auth import Auth
    from dashboard.headers import SecurityHeaders

    # Logins made through any web process hold here too (the database is shared): they see the details.
    app.state.auth = Auth(service.engine)
    app.add_middleware(SecurityHeaders)

    @app.get("/api/health")
    def health(request: Request) -> dict[str, Any]:
        return health_for(request, service.health())

    install(app, service)
    return app
