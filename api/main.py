"""The volcast HTTP API: POST /predict, GET /health, GET /version (contract: docs/api.md).

Only HTTP here. The snapshot, its refresh and the scoring live in core.serving: this module
maps them and their errors to status codes. Served by gunicorn with uvicorn workers
(`gunicorn -c api/gunicorn.conf.py api.main:app`); each worker loads the snapshot once at
start-up and polls the lake in a background thread.

Dated requests are a lookup, answered on the event loop. Anything that runs SHAP (a posted
vector, a date not scored yet by this version) goes to the worker's scoring process
(api/scorer.py): the event loop never runs SHAP, and SHAP never waits for the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.access_log import AccessLogMiddleware
from api.auth import open_api_keys, require_api_key
from api.docs import NO_FEATURES_EXAMPLE, NO_MODEL_EXAMPLE, use_served_examples
from api.request_body import PREDICT_BODY_OPENAPI, document_request_models, predict_request
from api.schemas import (
    ErrorMessage,
    HealthResponse,
    PredictResponse,
    VersionResponse,
)
from api.scorer import WARM_TIMEOUT_S, ScorerProcess, ScorerUnavailable
from core.config import Settings
from core.errors import NoModelError
from core.features import FEATURE_UNITS, UNIT_DESCRIPTIONS
from core.labels import HORIZON_SESSIONS
from core.models.bands import BAND_LEVEL
from core.models.inference import STORED_DRIVERS
from core.models.registry import code_version
from core.serving import (
    FeatureVectorError,
    Forecast,
    NoFeaturesError,
    ServingHolder,
    ServingModel,
    ServingState,
)

log = logging.getLogger(__name__)

#: volcast's metrics are its EMF log lines (api/access_log.py); FastAPI's OpenTelemetry
#: instrumentation (on by default) would only add per-request provider checks and spans.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "No X-API-Key header (where keys are configured)."},
    403: {"model": ErrorMessage, "description": "Unknown or revoked API key."},
    404: {
        "model": ErrorMessage,
        "description": "No features for that date.",
        "content": {"application/json": {"example": {"detail": NO_FEATURES_EXAMPLE}}},
    },
    503: {
        "model": ErrorMessage,
        "description": "No model is promoted (or loadable) yet, or "
        "scoring is unavailable for a moment.",
        "content": {"application/json": {"example": {"detail": NO_MODEL_EXAMPLE}}},
    },
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app on ``settings`` (default: from the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = ServingHolder(settings or Settings())
        scorer = ScorerProcess(env=_scorer_env(serving.settings))
        loop = asyncio.get_running_loop()

        def warm_scorer(model: ServingModel) -> None:  # runs in the refresh thread
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

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra=PREDICT_BODY_OPENAPI,
        dependencies=[Depends(require_api_key)],
    )
    async def predict(http: Request) -> Response:
        """Forecast for a date (a lookup) or for a posted feature vector (SHAP per request)."""
        request = await predict_request(http)  # a PredictRequest, or a 422
        state: ServingState = app.state.holder.state  # one snapshot for the whole request
        try:
            model = state.require_model()
            if request.features is not None:
                row = model.row_from_mapping(request.features, state.features.names)
                forecast = await _score(model, row, None, request.top_k)
            else:
                day = state.resolve_day(request.as_of)
                forecast = state.known_forecast(day)
                if forecast is None:
                    forecast = await _score(model, state.row_for_day(day), day, STORED_DRIVERS)
                    state.remember(forecast)
        except (NoModelError, ScorerUnavailable) as exc:
            raise HTTPException(503, str(exc)) from None
        except NoFeaturesError as exc:
            raise HTTPException(404, str(exc)) from None
        except FeatureVectorError as exc:
            raise RequestValidationError(_feature_errors(exc)) from None
        body = encoded(forecast, request.top_k, bool(state.synthetic_data))
        return Response(body, media_type="application/json")

    async def _score(model: ServingModel, row: Any, day: Any, k: int) -> Forecast:
        vol, drivers = await app.state.scorer.score(model, row, k)
        return model.forecast(day, vol, drivers)

    @app.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "No model is loaded."}},
    )
    async def health() -> Any:
        """200 only when a model is loaded; data freshness either way."""
        serving: ServingHolder = app.state.holder
        body = _health(serving)
        if body.status != "ok":
            return JSONResponse(body.model_dump(mode="json"), status_code=503)
        return body

    @app.get("/version", response_model=VersionResponse)
    async def version() -> VersionResponse:
        state: ServingState = app.state.holder.state
        model = state.model
        return VersionResponse(
            api_version=app.version,
            code_version=app.state.code_version,
            model_version=model.version if model else None,
            model_kind=model.kind if model else None,
            model_reason=state.model_reason if model else None,
            model_features=list(model.names) if model else [],
        )

    return app


def _scorer_env(settings: Settings) -> dict[str, str]:
    """The scoring process reads the same lake as this server, whatever the settings' origin."""
    env = {**os.environ, "VOLCAST_LAKE_URI": settings.lake_uri}
    if settings.aws_endpoint_url:
        env["AWS_ENDPOINT_URL"] = settings.aws_endpoint_url
    return env


def encoded(forecast: Forecast, top_k: int, synthetic: bool) -> bytes:
    """The PredictResponse as JSON bytes, serialized by pydantic (no second validation: it is
    built from typed core objects). A dated forecast does not change while its snapshot lives,
    so its bytes are kept per (forecast, top_k, synthetic): a repeated date costs a dict
    lookup."""
    key = (id(forecast), top_k, synthetic)
    if forecast.as_of is not None:
        kept = _ENCODED.get(key)
        if kept is not None and kept[0] is forecast:  # the id of a live object is unique
            return kept[1]
    body = (
        PredictResponse.model_construct(
            as_of=forecast.as_of,
            rv_5d_hat=forecast.rv_5d_hat,
            top_drivers=forecast.top_drivers[:top_k],
            model_version=forecast.model_version,
            horizon_sessions=HORIZON_SESSIONS,
            annualized=True,
            synthetic_data=synthetic,
            regime=None,
            regime_prob=None,
            rv_5d_lo=forecast.rv_5d_lo,
            rv_5d_hi=forecast.rv_5d_hi,
            band_level=BAND_LEVEL if forecast.rv_5d_lo is not None else None,
        )
        .model_dump_json()
        .encode()
    )
    if forecast.as_of is not None:
        if len(_ENCODED) >= _ENCODED_LIMIT:
            _ENCODED.clear()  # a new snapshot's forecasts replace the old ones'
        _ENCODED[key] = (forecast, body)
    return body


#: (id(forecast), top_k, synthetic) -> (the forecast, kept alive so its id stays its own; its
#: JSON body). Touched on the event loop only.
_ENCODED: dict[tuple[int, int, bool], tuple[Forecast, bytes]] = {}
_ENCODED_LIMIT = 20_000


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


def _feature_errors(exc: FeatureVectorError) -> list[dict[str, Any]]:
    """The same shape as FastAPI's own 422 errors: one entry per offending feature."""
    errors = [
        {"loc": ["body", "features", n], "msg": f"unknown feature {n!r}", "type": "unknown_feature"}
        for n in exc.unknown
    ]
    errors += [
        {"loc": ["body", "features", n], "msg": f"missing feature {n!r}", "type": "missing_feature"}
        for n in exc.missing
    ]
    errors += [
        {"loc": ["body", "features", n], "msg": "must be a finite number", "type": "finite_number"}
        for n in exc.non_finite
    ]
    errors += [
        {
            "loc": ["body", "features", n],
            "msg": f"outside [{lo:g}, {hi:g}], the domain of {FEATURE_UNITS[n]}: "
            f"{UNIT_DESCRIPTIONS[FEATURE_UNITS[n]]}",
            "type": "out_of_domain",
        }
        for n, (lo, hi) in sorted(exc.out_of_domain.items())
    ]
    return errors


def _health(serving: ServingHolder) -> HealthResponse:
    state = serving.state
    model, fresh = state.model, state.freshness
    return HealthResponse(
        status="ok" if model is not None else "no_model",
        detail=None if model is not None else state.no_model_reason,
        model_version=model.version if model else None,
        model_kind=model.kind if model else None,
        model_reason=state.model_reason if model else None,
        model_created_at=model.created_at if model else None,
        model_loaded_at=model.loaded_at if model else None,
        latest_trading_day=fresh.latest_trading_day,
        latest_feature_date=fresh.latest_feature_date,
        latest_prediction_date=fresh.latest_prediction_date,
        feature_lag_sessions=fresh.feature_lag_sessions,
        prediction_lag_sessions=fresh.prediction_lag_sessions,
        last_refresh_at=serving.last_refresh_at,
        last_refresh_error=serving.last_refresh_error,
    )


app = create_app()
