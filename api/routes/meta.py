"""GET /health and GET /version: what this worker serves, and how current its data is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import HolderDep, StateDep
from api.schemas import HealthResponse, VersionResponse
from core.serving import ServingHolder

router = APIRouter(tags=["meta"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "No model is loaded."}},
)
async def health(serving: HolderDep) -> Any:
    """200 only when a model is loaded; data freshness either way."""
    body = _health(serving)
    if body.status != "ok":
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return body


# HEAD /health for load balancers and uptime checks that send it: the same status, no body
# (the server drops it), not a second operation in the OpenAPI document.
router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)


@router.get("/version", response_model=VersionResponse)
async def version(request: Request, state: StateDep) -> VersionResponse:
    model = state.model
    return VersionResponse(
        api_version=request.app.version,
        code_version=request.app.state.code_version,
        model_version=model.version if model else None,
        model_kind=model.kind if model else None,
        model_reason=state.model_reason if model else None,
        model_features=list(model.names) if model else [],
    )


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
