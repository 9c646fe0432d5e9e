"""Shared pieces of the HTTP edge: runtime access, bearer-token auth, the body-size limit and error mapping.

Bad input never becomes a 5xx: typed `HeraldError`s, validation errors and malformed JSON all map to a 4xx with a
JSON `{"error": ..., "reason": ...}` body; only a real bug answers 500, with an id that is also in the log.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.errors import HeraldError, InvalidInput, Unauthorized
from bot.runtime import Runtime

log = logging.getLogger(__name__)


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs a sync dependency in the thread pool, a hop per request for an attribute read."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_api_token(request: Request, runtime: RuntimeDep) -> str:
    """Bearer-token auth of the HTTP API as a dependency (async: no thread-pool hop); see `api_actor`."""
    return api_actor(request, runtime)


def api_actor(request: Request, runtime: Runtime) -> str:
    """Bearer-token auth of the HTTP API; returns the actor name used on the timeline."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = runtime.settings.api_token.get_secret_value()
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("a valid 'Authorization: Bearer <HERALD_API_TOKEN>' header is required")
    return request.headers.get("x-herald-actor", "api")


ApiActor = Annotated[str, Depends(require_api_token)]


def check_integration_key(runtime: Runtime, key: str) -> None:
    expected = runtime.settings.integration_key.get_secret_value()
    if not hmac.compare_digest(key.encode(), expected.encode()):
        raise Unauthorized("unknown integration key")


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON, or a clear 4xx (FastAPI would otherwise answer with its own shapes)."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("request body is empty; a JSON document is required")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None


class BodySizeLimit:
    """ASGI middleware refusing bodies over `limit` bytes with 413, by header and by counting the stream."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"error": "payload_too_large", "reason": f"request body is larger than {limit} bytes"},
        status_code=413,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HeraldError)
    async def _herald_error(_request: Request, exc: HeraldError) -> JSONResponse:
        return JSONResponse({"error": exc.kind, "reason": exc.reason}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                problems.append(f"request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})")
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"error": "invalid_input", "reason": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": "http_error", "reason": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s", error_id, exc_info=exc)
        return JSONResponse({"error": "internal", "reason": f"internal error, id {error_id}"}, status_code=500)
