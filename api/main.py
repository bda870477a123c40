"""The volcast HTTP API: POST /predict, GET /health, GET /version (contract: docs/api.md).

Only HTTP here. The snapshot, its refresh and the scoring live in core.serving: the routes
(api/routes/, one APIRouter per resource, with the typed dependencies of api/deps.py) map them
and their errors to status codes. This module builds the app: its lifespan, middleware, error
handlers and routers. Served by gunicorn with uvicorn workers
(`gunicorn -c api/gunicorn.conf.py api.main:app`); each worker reads the snapshot once at
start-up (the served version's metadata, features, stored predictions; the model itself is
loaded by its scoring process, api/scorer.py) and polls the lake in a background thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from api.access_log import AccessLogMiddleware
from api.auth import open_api_keys
from api.docs import use_served_examples
from api.request_body import document_request_models
from api.routes import meta, predict
from api.routing import include_first
from api.scorer import WARM_TIMEOUT_S, ScorerProcess
from core.config import Settings
from core.models.registry import code_version
from core.serving import ServedVersion, ServingHolder

log = logging.getLogger(__name__)

#: volcast's metrics are its EMF log lines (api/access_log.py); FastAPI's OpenTelemetry
#: instrumentation (on by default) would only add per-request provider checks and spans.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app on ``settings`` (default: from the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = ServingHolder(settings or Settings())
        scorer = ScorerProcess(env=_scorer_env(serving.settings))
        loop = asyncio.get_running_loop()

        def warm_scorer(model: ServedVersion) -> None:  # runs in the refresh thread
            warming = asyncio.run_coroutine_threadsafe(scorer.warm(model.version), loop)
            warming.result(WARM_TIMEOUT_S)

        serving.before_swap.append(warm_scorer)
        app.state.holder, app.state.scorer = serving, scorer
        app.state.code_version = code_version()
        app.state.api_keys = keys = await anyio.to_thread.run_sync(open_api_keys, serving.settings)
        if keys is not None:
            keys.start(serving.settings.api_keys_refresh_seconds)
        await anyio.to_thread.run_sync(serving.refresh)  # first load, before any request
        serving.start(serving.settings.serving_refresh_seconds)
        try:
            yield
        finally:
            if keys is not None:
                keys.stop()
            serving.stop()
            serving.before_swap.remove(warm_scorer)
            await scorer.stop()

    app = FastAPIOffline(  # /docs with Swagger UI's assets served by this app, no CDN
        title="volcast",
        summary="SPY 5-day realized-volatility forecasts with SHAP drivers.",
        version=metadata.version("volcast"),
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
    )
    document_request_models(app)  # the body's models under components, then the examples
    use_served_examples(app)
    app.add_middleware(AccessLogMiddleware)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)

    include_first(app, predict.router)  # the hot path: matched first, not nested
    app.include_router(meta.router)
    return app


def _scorer_env(settings: Settings) -> dict[str, str]:
    """The scoring process reads the same lake as this server, whatever the settings' origin."""
    env = {**os.environ, "VOLCAST_LAKE_URI": settings.lake_uri}
    env["VOLCAST_AWS_REGION"] = settings.aws_region
    if settings.aws_endpoint_url:
        env["AWS_ENDPOINT_URL"] = settings.aws_endpoint_url
    return env


#: The status the access line records when the client left before its body arrived (nginx's).
CLIENT_CLOSED_REQUEST = 499


async def _client_disconnect(_request: Request, _exc: Exception) -> Response:
    """The client closed the connection before its body arrived: nobody reads an answer, and
    it is not the server's error (no ServerErrors on the access line, no 5xx alarm). 499, as
    nginx logs it ("client closed request")."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with loc, msg and type per error. The offending input is not echoed: it may not be
    valid JSON itself (a NaN read from the body), and rendering it would turn a 422 into a 500.
    Names in ``loc`` are the client's own keys: a lone surrogate (``"\\ud800x"`` in the body)
    cannot be encoded as UTF-8, so such names are written with backslash escapes.
    """
    assert isinstance(exc, RequestValidationError)
    names = _client_names(exc.body)
    errors = [
        {
            "loc": [names.get(part, _escaped(part)) for part in e.get("loc", ())],
            "msg": _escaped(str(e.get("msg", ""))),
            "type": str(e.get("type")),
        }
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def _escaped(part: object) -> object:
    """A loc part or message as UTF-8-encodable text (ints, list positions, stay as they are)."""
    if isinstance(part, str):
        return part.encode("utf-8", "backslashreplace").decode("utf-8")
    return part if isinstance(part, int) else str(part)


def _client_names(body: object) -> dict[str, object]:
    """pydantic reports a key holding a lone surrogate with U+FFFD in its place: map each such
    rendering of the body's keys (and its feature names) back to the escaped original."""
    dicts = [body] if isinstance(body, dict) else []
    if dicts and isinstance(body.get("features"), dict):
        dicts.append(body["features"])
    keys = [key for d in dicts for key in d if isinstance(key, str)]
    lossy = {key: key.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for key in keys}
    return {shown: _escaped(key) for key, shown in lossy.items() if shown != key}


#: What FastAPI answers when it cannot parse a JSON body at all (not UTF-8, a number beyond
#: Python's 4,300-digit limit, nesting beyond the recursion limit): 400 with this detail.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    """A body FastAPI could not parse is malformed input like any other: 422, not 400."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        reason = type(exc.__cause__).__name__ if exc.__cause__ else "unparsable"
        error = {"loc": ["body"], "msg": f"the body is not JSON text ({reason})"}
        return JSONResponse({"detail": [{**error, "type": "json_invalid"}]}, status_code=422)
    return await http_exception_handler(request, exc)


app = create_app()
