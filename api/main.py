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
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig

from api.access_log import AccessLogMiddleware
from api.request_body import PREDICT_BODY_OPENAPI, document_request_models, predict_request
from api.schemas import (
    ErrorMessage,
    HealthResponse,
    PredictResponse,
    VersionResponse,
)
from api.scorer import WARM_TIMEOUT_S, ScorerProcess, ScorerUnavailable
from core.config import Settings
from core.models.inference import STORED_DRIVERS
from core.models.registry import code_version
from core.serving import (
    FeatureVectorError,
    Forecast,
    NoFeaturesError,
    NoModelAvailable,
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
    404: {"model": ErrorMessage, "description": "No features for that date."},
    503: {
        "model": ErrorMessage,
        "description": "No model is promoted (or loadable) yet, or "
        "scoring is unavailable for a moment.",
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
        await anyio.to_thread.run_sync(serving.refresh)  # first load, before any request
        serving.start(serving.settings.serving_refresh_seconds)
        try:
            yield
        finally:
            serving.stop()
            serving.before_swap.remove(warm_scorer)
            await scorer.stop()

    app = FastAPI(
        title="volcast",
        summary="SPY 5-day realized-volatility forecasts with SHAP drivers.",
        version=metadata.version("volcast"),
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra=PREDICT_BODY_OPENAPI,
    )
    async def predict(http: Request) -> Response:
        """Forecast for a date (a lookup) or for a posted feature vector (SHAP per request)."""
        request = await predict_request(http)  # a PredictRequest, or a 422
        state: ServingState = app.state.holder.state  # one snapshot for the whole request
        try:
            model = state.require_model()
            if request.features is not None:
                row = model.row_from_mapping(request.features)
                forecast = await _score(model, row, None, request.top_k)
            else:
                day = state.resolve_day(request.as_of)
                forecast = state.known_forecast(day)
                if forecast is None:
                    forecast = await _score(model, state.row_for_day(day), day, STORED_DRIVERS)
                    state.remember(forecast)
        except (NoModelAvailable, ScorerUnavailable) as exc:
            raise HTTPException(503, str(exc)) from None
        except NoFeaturesError as exc:
            raise HTTPException(404, str(exc)) from None
        except FeatureVectorError as exc:
            raise RequestValidationError(_feature_errors(exc)) from None
        return Response(encoded(forecast, request.top_k), media_type="application/json")

    async def _score(model: ServingModel, row: Any, day: Any, k: int) -> Forecast:
        vol, drivers = await app.state.scorer.score(model, row, k)
        return Forecast(day, vol, drivers, model.version)

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
        model = app.state.holder.state.model
        return VersionResponse(
            api_version=app.version,
            code_version=app.state.code_version,
            model_version=model.version if model else None,
            model_features=list(model.names) if model else [],
        )

    document_request_models(app)
    return app


def _scorer_env(settings: Settings) -> dict[str, str]:
    """The scoring process reads the same lake as this server, whatever the settings' origin."""
    env = {**os.environ, "VOLCAST_LAKE_URI": settings.lake_uri}
    if settings.aws_endpoint_url:
        env["AWS_ENDPOINT_URL"] = settings.aws_endpoint_url
    return env


def encoded(forecast: Forecast, top_k: int) -> bytes:
    """The PredictResponse as JSON bytes, serialized by pydantic (no second validation: it is
    built from typed core objects). A dated forecast does not change while its snapshot lives,
    so its bytes are kept per (forecast, top_k): a repeated date costs a dict lookup."""
    if forecast.as_of is not None:
        key = (id(forecast), top_k)
        kept = _ENCODED.get(key)
        if kept is not None and kept[0] is forecast:  # the id of a live object is unique
            return kept[1]
    body = (
        PredictResponse.model_construct(
            as_of=forecast.as_of,
            rv_5d_hat=forecast.rv_5d_hat,
            top_drivers=forecast.top_drivers[:top_k],
            model_version=forecast.model_version,
            regime=None,
            regime_prob=None,
        )
        .model_dump_json()
        .encode()
    )
    if forecast.as_of is not None:
        if len(_ENCODED) >= _ENCODED_LIMIT:
            _ENCODED.clear()  # a new snapshot's forecasts replace the old ones'
        _ENCODED[key] = (forecast, body)
    return body


#: (id(forecast), top_k) -> (the forecast, kept alive so its id stays its own; its JSON body).
#: Touched on the event loop only.
_ENCODED: dict[tuple[int, int], tuple[Forecast, bytes]] = {}
_ENCODED_LIMIT = 20_000


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with loc, msg and type per error. The offending input is not echoed: it may not be
    valid JSON itself (a NaN read from the body), and rendering it would turn a 422 into a 500.
    """
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


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
    return errors


def _health(serving: ServingHolder) -> HealthResponse:
    state = serving.state
    model, fresh = state.model, state.freshness
    return HealthResponse(
        status="ok" if model is not None else "no_model",
        detail=None if model is not None else state.no_model_reason,
        model_version=model.version if model else None,
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
