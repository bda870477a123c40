"""One JSON line per request: the access log, and for /predict a CloudWatch EMF record.

CloudWatch Logs turns a line's ``_aws`` block into metrics (namespace Volcast, dimensions
Service and Route): ``Latency`` (ms), ``Requests`` and ``ServerErrors`` (1 on a 5xx). Every
line carries the request id, method, path, status, latency and client for people reading the
logs. Route is the matched route's path template (or "unmatched"), never the raw path.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic_core import to_json

from core.monitoring import emf_record

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SERVICE = "api"
REQUEST_ID_HEADER = b"x-request-id"
_CLIENT_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def write_line(line: str) -> None:
    """One line to stdout as it is (no logger prefix: each line must parse as JSON), flushed so
    a crash loses none. Written directly: a LogRecord per request costs more than the write."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


#: Routes whose lines carry the EMF block. Every other route (/health on each ALB check, /docs,
#: scanners' unmatched paths) is logged but not metered: each metered route adds three custom
#: metrics to the bill (docs/cost.md), and the alarms watch /predict only.
METERED_ROUTES = frozenset({"/predict"})


def access_record(route: str, latency_ms: float, status: int, **fields: Any) -> dict[str, Any]:
    """The access line of one request; an EMF record for a metered route."""
    latency = round(latency_ms, 3)
    if route not in METERED_ROUTES:
        return {"Service": SERVICE, "Route": route, "Latency": latency, "status": status, **fields}
    metrics = {
        "Latency": (latency, "Milliseconds"),
        "Requests": (1, "Count"),
        "ServerErrors": (1 if status >= 500 else 0, "Count"),
    }
    return {**emf_record({"Service": SERVICE, "Route": route}, metrics), "status": status, **fields}


class AccessLogMiddleware:
    """Pure ASGI middleware: request id in and out, latency, one log line per request."""

    def __init__(self, app: ASGIApp, emit: Callable[[str], None] = write_line):
        self.app = app
        self.emit = emit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500  # what the client gets if the app raises before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            client = scope.get("client")
            record = access_record(
                route,
                (time.perf_counter() - started) * 1000.0,
                status,
                log="access",
                request_id=request_id.decode(),
                method=scope["method"],
                path=scope["path"],
                client=client[0] if client else None,
            )
            # pydantic-core's encoder (FastAPI's own dependency): the same compact JSON as
            # json.dumps(record, separators=(",", ":")) for these values at ~1/4 of the cost,
            # except that non-ASCII text stays UTF-8 instead of \u escapes.
            self.emit(to_json(record).decode())


def _request_id(scope: Scope) -> bytes:
    """The caller's X-Request-ID when it is sane (API Gateway/ALB pass one), else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _CLIENT_REQUEST_ID.match(value):
            return value
    return os.urandom(16).hex().encode()  # 128 random bits, as hex (uuid4's object costs 5x)
