"""The API's docs: OpenAPI examples taken from what is served, and Swagger UI without a CDN.

Examples anyone can "Try it out" with: the feature-vector example is the newest features_daily
row, restricted to the serving model's features (the HAR-X(VIX) baseline's four while no model
is loaded), so it is valid against the served model and in the model's units (``vix`` is
VIX / 100, not VIX). Each feature's description and unit (core.features) are listed in the
``features`` field's description. The schema is rebuilt when the served model or the newest
feature day changes, and cached otherwise.

The /docs page and its assets (Swagger UI's JS, CSS and favicon) come from the
``fastapi-offline`` package, served by this app under ``/static-offline-docs``: the page
renders without internet access (api.main builds the app with ``FastAPIOffline``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from fastapi import FastAPI

from core.definitions import HORIZON_SESSIONS
from core.features import FEATURE_DESCRIPTIONS, FEATURE_UNITS, UNIT_DESCRIPTIONS
from core.models.bands import BAND_LEVEL
from core.models.servable import new_reference
from core.serving import ServingState

NO_MODEL_EXAMPLE = "no model is promoted yet (artifacts/model/PRODUCTION is absent)"
NO_FEATURES_EXAMPLE = "no features for 2022-12-31 (latest date with features is 2022-12-30)"


def use_served_examples(app: FastAPI) -> None:
    """Make ``app.openapi`` put examples from the served snapshot into the schema."""
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}
    generate = app.openapi  # FastAPI's own, or one that completes it (api.request_body)

    def openapi() -> dict[str, Any]:
        base = cache.get(("base",))
        if base is None:
            base = generate()  # FastAPI's schema, built once
            cache[("base",)] = base
        holder = getattr(app.state, "holder", None)
        state: ServingState | None = holder.state if holder is not None else None
        key = _state_key(state)
        if key not in cache:
            cache.clear()
            cache[("base",)] = base
            cache[key] = with_examples(base, state)
        return cache[key]

    app.openapi = openapi  # type: ignore[method-assign]


def _state_key(state: ServingState | None) -> tuple[Any, ...]:
    if state is None:
        return ("no state",)
    model = state.model.version if state.model is not None else None
    return ("state", model, state.features.newest, max(state.predictions, default=None))


def example_vector(state: ServingState | None) -> dict[str, float] | None:
    """The newest features row as ``{name: value}`` for the serving model's features (the
    HAR-X(VIX) baseline's while none is loaded); None while there are no features."""
    if state is None or state.features.newest is None:
        return None
    names = state.model.names if state.model is not None else new_reference().feature_names
    index = {c: i for i, c in enumerate(state.features.columns)}
    if not all(n in index for n in names):
        return None
    row = state.features.rows[state.features.newest]
    return {n: float(row[index[n]]) for n in names if math.isfinite(float(row[index[n]]))}


def feature_doc(names: tuple[str, ...] | list[str]) -> str:
    """One line per feature: its name, what it is and its unit."""
    return "\n".join(
        f"- `{n}`: {FEATURE_DESCRIPTIONS.get(n, n)}; "
        f"{UNIT_DESCRIPTIONS.get(FEATURE_UNITS.get(n, ''), 'a number')}"
        for n in names
    )


def with_examples(base: dict[str, Any], state: ServingState | None) -> dict[str, Any]:
    """``base`` (FastAPI's schema) with request and response examples from ``state``."""
    schema = copy.deepcopy(base)
    post = schema["paths"]["/predict"]["post"]
    day = state.features.newest if state is not None else None
    examples: dict[str, Any] = {
        "latest": {
            "summary": "The latest forecast",
            "value": {"as_of": None, "top_k": 5},
        }
    }
    if day is not None:
        examples["dated"] = {
            "summary": f"The forecast as of {day.isoformat()}",
            "value": {"as_of": day.isoformat(), "top_k": 3},
        }
    vector = example_vector(state)
    model = state.model if state is not None else None
    if vector is not None and day is not None:
        kind = model.kind if model is not None else "harx_vix"
        examples["vector"] = {
            "summary": f"A feature vector: the {kind} model's features as of {day.isoformat()}",
            "description": "Values in each feature's unit (see the features field): vols are "
            "annualized decimals, so vix = VIX close / 100.",
            "value": {"features": vector, "top_k": 5},
        }
    post["requestBody"]["content"]["application/json"]["examples"] = examples

    names = model.names if model is not None else new_reference().feature_names
    features = schema["components"]["schemas"]["PredictRequest"]["properties"]["features"]
    features["description"] = (
        f"{features.get('description', '')}\n\nThe serving model's features "
        f"({'the HAR-X(VIX) baseline, until a model is loaded' if model is None else model.kind})"
        f":\n{feature_doc(names)}"
    )
    features.pop("examples", None)

    ok = post["responses"]["200"]["content"]["application/json"]
    example = _response_example(state)
    if example is not None:
        ok["examples"] = {"forecast": {"summary": "A stored forecast", "value": example}}
    _error_example(post, "404", NO_FEATURES_EXAMPLE)
    _error_example(post, "503", (state.no_model_reason if state else None) or NO_MODEL_EXAMPLE)
    return schema


def _error_example(post: dict[str, Any], status: str, text: str) -> None:
    content = post["responses"].get(status, {}).get("content", {}).get("application/json")
    if content is not None:
        content["example"] = {"detail": text}


def _response_example(state: ServingState | None) -> dict[str, Any] | None:
    if state is None or not state.predictions:
        return None
    forecast = state.predictions[max(state.predictions)]
    return {
        "as_of": forecast.as_of.isoformat() if forecast.as_of else None,
        "rv_5d_hat": forecast.rv_5d_hat,
        "top_drivers": forecast.top_drivers[:5],
        "model_version": forecast.model_version,
        "horizon_sessions": HORIZON_SESSIONS,
        "annualized": True,
        "synthetic_data": bool(getattr(state, "synthetic_data", False)),
        "regime": None,
        "regime_prob": None,
        "rv_5d_lo": forecast.rv_5d_lo,
        "rv_5d_hi": forecast.rv_5d_hi,
        "band_level": BAND_LEVEL if forecast.rv_5d_lo is not None else None,
    }
