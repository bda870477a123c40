"""One JSON line per request: the access log, and for /predict a CloudWatch EMF record.

CloudWatch Logs turns a line's ``_aws`` block into metrics (namespace Volcast, dimensions
Service and Route): ``Latency`` (ms), ``Requests`` and ``ServerErrors`` (1 on a 5xx). Every
line carries the request id, method, path, status, latency and client for people reading the
logs. Route is the matched route's path template (or "unmatched"), never the raw path.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from core.monitoring import emf_record

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SERVICE = "api"
REQUEST_ID_HEADER = b"x-request-id"
#: Where the API key check (api/auth.py) leaves the caller's key id: a field of the line (not
#: a dimension: a metric per client would multiply the bill), so usage per key is a Logs
#: Insights query away. Never the key.
KEY_ID_SCOPE = "volcast.api_key_id"
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


#: The metrics of a metered line, by name: their units.
_UNITS = {"Latency": "Milliseconds", "Requests": "Count", "ServerErrors": "Count"}


def access_record(
    route: str, latency_ms: float, status: int, timestamp_ms: int | None = None, **fields: Any
) -> dict[str, Any]:
    """The access line of one request; an EMF record for a metered route."""
    latency = round(latency_ms, 3)
    if route not in METERED_ROUTES:
        return {"Service": SERVICE, "Route": route, "Latency": latency, "status": status, **fields}
    values = {"Latency": latency, "Requests": 1, "ServerErrors": 1 if status >= 500 else 0}
    metrics = {name: (value, _UNITS[name]) for name, value in values.items()}
    dimensions = {"Service": SERVICE, "Route": route}
    record = emf_record(dimensions, metrics, timestamp_ms=timestamp_ms)
    return {**record, "status": status, **fields}


#: The EMF directive of a metered line (names and units only: the same for every request).
_DIRECTIVE = json.dumps(
    emf_record({"Service": SERVICE, "Route": ""}, {n: (0, u) for n, u in _UNITS.items()})["_aws"][
        "CloudWatchMetrics"
    ],
    separators=(",", ":"),
)
_SERVICE_JSON = json.dumps(SERVICE)


def access_line(
    route: str,
    latency_ms: float,
    status: int,
    *,
    request_id: str,
    method: str,
    path: str,
    client: str | None,
    key_id: str | None = None,
    timestamp_ms: int | None = None,
) -> str:
    """``access_record(...)`` (with log="access" and these fields) as compact JSON: the very text
    json.dumps(record, separators=(",", ":")) gives (tests compare them), written out directly.
    Building the nested dicts and encoding them cost ~4x as much per request."""
    quote = _quote  # json.dumps's own escaper for text, non-ASCII as \u escapes
    peer = "null" if client is None else quote(client)
    key = "null" if key_id is None else quote(key_id)
    tail = (
        f',"status":{status},"log":"access","request_id":{quote(request_id)},'
        f'"method":{quote(method)},"path":{quote(path)},"client":{peer},"key_id":{key}}}'
    )
    latency = repr(round(latency_ms, 3))  # how json.dumps writes a float
    head = f'"Service":{_SERVICE_JSON},"Route":{quote(route)},"Latency":{latency}'
    if route not in METERED_ROUTES:
        return f"{{{head}{tail}"
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    errors = 1 if status >= 500 else 0
    return (
        f'{{"_aws":{{"Timestamp":{stamp},"CloudWatchMetrics":{_DIRECTIVE}}},{head},'
        f'"Requests":1,"ServerErrors":{errors}{tail}'
    )


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
            line = access_line(
                route,
                (time.perf_counter() - started) * 1000.0,
                status,
                request_id=request_id.decode(),
                method=scope["method"],
                path=scope["path"],
                client=client[0] if client else None,
                key_id=scope.get(KEY_ID_SCOPE),
            )
            self.emit(line)


def _request_id(scope: Scope) -> bytes:
    """The caller's X-Request-ID when it is sane (API Gateway/ALB pass one), else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _CLIENT_REQUEST_ID.match(value):
            return value
    return os.urandom(16).hex().encode()  # 128 random bits, as hex (uuid4's object costs 5x)
