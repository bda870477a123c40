"""The API benchmark's reference point, never deployed (it lives in bench/, not in the API
image): /predict as a first version might ship it. Per request it resolves the model, loads
it from the registry (files checked, written to a temporary folder, loaded from there:
core.models.servable.load_version), reads the date's features from the lake into a DataFrame
and builds a ``shap.TreeExplainer`` on it; predictions_daily is not used. The drivers are the
trees' SHAP values only (the HAR-X offset's exact linear share, which api.main includes, is
left out): the request costs what such a version costs.

Run: `WEB_CONCURRENCY=2 gunicorn -c api/gunicorn.conf.py bench.naive:app` (bench/bench_api.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shap
from fastapi import FastAPI, HTTPException

from api.schemas import PredictRequest, PredictResponse
from core import contracts
from core.config import Settings
from core.explain import rank_drivers
from core.lake import Lake
from core.models.candidate import CandidateModel
from core.models.registry import ModelRegistry
from core.models.servable import load_version

app = FastAPI(title="volcast (naive reference)")


@app.post("/predict", response_model=PredictResponse)
def predict(request: PredictRequest) -> PredictResponse:
    settings = Settings()
    lake = Lake(settings.lake_uri, settings.aws_endpoint_url, settings.aws_region)
    registry = ModelRegistry(lake)
    version = registry.resolve(settings.model_version)
    if version is None:
        raise HTTPException(503, "no model is promoted yet")
    model, _ = load_version(registry, version, thread_count=2)  # from the lake, every request
    if not isinstance(model, CandidateModel):
        raise HTTPException(503, f"the naive reference serves CatBoost models, not {version}")
    names = list(model.feature_names or ())
    if request.features is not None:
        missing = [n for n in names if n not in request.features]
        if missing:
            raise HTTPException(422, f"missing features {missing}")
        frame, as_of = pd.DataFrame([request.features]).loc[:, names], None
    else:
        day = request.as_of or lake.partitions(contracts.FEATURES)[-1].date()
        frame = lake.read(contracts.FEATURES, day, day)
        if frame.empty:
            raise HTTPException(404, f"no features for {day}")
        frame, as_of = frame.loc[:, names], day
    contributions = shap.TreeExplainer(model.booster_).shap_values(frame)
    drivers = rank_drivers(names, frame.to_numpy(np.float64), contributions, request.top_k)[0]
    return PredictResponse(
        as_of=as_of,
        rv_5d_hat=float(model.predict_vol(frame)[0]),
        top_drivers=drivers,
        model_version=version,
    )
