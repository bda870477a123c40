"""POST /predict: a forecast for a date (a lookup) or for a posted feature vector (SHAP).

Dated requests are answered on the event loop from the snapshot. Anything that runs SHAP (a
posted vector, a date not scored yet by this version) goes to the worker's scoring process
(api/scorer.py): the event loop never runs SHAP, and SHAP never waits for the GIL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from numpy.typing import NDArray

from api.auth import require_api_key
from api.deps import ScorerDep, StateDep
from api.docs import NO_FEATURES_EXAMPLE, NO_MODEL_EXAMPLE
from api.request_body import PREDICT_BODY_OPENAPI, predict_request
from api.routing import DirectRoute
from api.schemas import ErrorMessage, PredictResponse
from api.scorer import ScorerProcess, ScorerUnavailable
from core.errors import NoModelError
from core.features import FEATURE_UNITS, UNIT_DESCRIPTIONS
from core.labels import HORIZON_SESSIONS
from core.models.bands import BAND_LEVEL
from core.models.inference import STORED_DRIVERS
from core.serving import FeatureVectorError, Forecast, NoFeaturesError, ServedVersion

#: DirectRoute: the same typed dependencies, without FastAPI's per-request solver (api/routing.py).
router = APIRouter(tags=["predict"], route_class=DirectRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "No X-API-Key header (where keys are configured)."},
    403: {"model": ErrorMessage, "description": "Unknown or revoked API key."},
    413: {"model": ErrorMessage, "description": "A body over MAX_BODY_BYTES (256 KiB)."},
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


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    openapi_extra=PREDICT_BODY_OPENAPI,
    dependencies=[Depends(require_api_key)],
)
async def predict(http: Request, state: StateDep, scorer: ScorerDep) -> Response:
    """Forecast for a date (a lookup) or for a posted feature vector (SHAP per request)."""
    request = await predict_request(http)  # a PredictRequest, or a 422
    try:
        model = state.require_model()
        if request.features is not None:
            row = model.row_from_mapping(request.features, state.features.names)
            forecast = await _score(scorer, model, row, None, request.top_k)
        else:
            day = state.resolve_day(request.as_of)
            forecast = state.known_forecast(day)
            if forecast is None:
                row = state.row_for_day(day)
                forecast = await _score(scorer, model, row, day, STORED_DRIVERS)
                state.remember(forecast)
    except (NoModelError, ScorerUnavailable) as exc:
        raise HTTPException(503, str(exc)) from None
    except NoFeaturesError as exc:
        raise HTTPException(404, str(exc)) from None
    except FeatureVectorError as exc:
        raise RequestValidationError(_feature_errors(exc)) from None
    body = encoded(forecast, request.top_k, bool(state.synthetic_data))
    return Response(body, media_type="application/json")


async def _score(
    scorer: ScorerProcess, model: ServedVersion, row: NDArray[Any], day: dt.date | None, k: int
) -> Forecast:
    vol, drivers = await scorer.score(model, row, k)
    return model.forecast(day, vol, drivers)


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
