"""Middleware: request id + access log + metrics, and errors as ``application/problem+json``."""

from __future__ import annotations

import re
import secrets
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.core.errors import GatewayError, NotFound, PayloadTooLarge
from gateway.http.responses import problem
from gateway.keys import METRICS

log = structlog.get_logger("gateway.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _route_name(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id to every log line, time the request, count it."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        request.app[METRICS].observe_request(request.method, route, status, elapsed)
        log.info(
            "http_request",
            method=request.method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
        )


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into ``application/problem+json`` with a stable ``code``."""
    try:
        return await handler(request)
    except GatewayError as exc:
        if exc.http_status >= 500:
            log.error("request_failed", code=exc.code, exc_info=True)
        return problem(exc)
    except web.HTTPRequestEntityTooLarge:
        return problem(PayloadTooLarge())
    except web.HTTPNotFound:
        return problem(NotFound("no such resource"))
    except web.HTTPMethodNotAllowed as exc:
        error = GatewayError(f"{request.method} is not allowed here")
        response = problem(error, status=405, code="method_not_allowed")
        response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return response
    except web.HTTPException:
        raise
    except Exception as exc:
        # The error's class and the request id (bound by ``observe``) say what failed; the
        # traceback carries no statement parameters (the engine hides them, core.db).
        log.exception("unhandled_error", error=type(exc).__name__)
        return problem(GatewayError("an unexpected error occurred; it has been logged"))
