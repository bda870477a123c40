"""The forecast band on /predict: stored with each prediction, computed from the version's two
quantiles for a posted vector or a date scored on request, and null where there is none."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core import contracts, steps
from core.config import Settings
from core.lake import Lake
from core.models.bands import Band
from tests.api.conftest import STARLETTE_HTTPX, ServedLake, api_client
from tests.api.test_api_contract import _features

pytestmark = pytest.mark.filterwarnings(STARLETTE_HTTPX)

BAND = Band(level=0.8, q_lo=-0.35, q_hi=0.45, n_errors=756, source="test")


def _with_band(root: Path, version: str) -> tuple[str, list[str]]:
    """The served model's files registered again with a band, promoted, and the last three
    feature days re-scored with it; returns (version, those days)."""
    ctx = steps.Context.from_settings(Settings(lake_uri=str(root)))
    registry = steps.model_registry(ctx)
    meta = registry.show(version)
    keep = ("kind", "features", "training_data", "params", "metrics", "gate", "drift")
    banded = registry.register(
        registry.load_files(version),
        {**{k: meta[k] for k in keep if k in meta}, "band": BAND.to_dict()},
        version=f"{version}-band",
    )
    steps.promote(ctx, banded, override="test: the same model with a band")
    days = ctx.lake.partitions(contracts.FEATURES)[-3:]
    steps.infer(ctx, days[0], days[-1])
    return banded, [d.date().isoformat() for d in days]


def test_predict_carries_the_band(lake_copy: Path, served_lake: ServedLake) -> None:
    version, days = _with_band(lake_copy, served_lake.version)
    stored = Lake(str(lake_copy)).read(contracts.PREDICTIONS, days[0], days[-1])
    assert stored["rv_5d_lo"].notna().all()
    first_predicted = served_lake.prepared.first_prediction_date  # scored without a band
    with api_client(lake_copy) as client:
        body = client.post("/predict", json={"as_of": days[-1]}).json()
        assert body["model_version"] == version and body["band_level"] == 0.8
        assert body["rv_5d_lo"] == float(stored["rv_5d_lo"].iloc[-1])  # a lookup
        assert body["rv_5d_hi"] == float(stored["rv_5d_hi"].iloc[-1])
        assert body["rv_5d_lo"] < body["rv_5d_hat"] < body["rv_5d_hi"]

        posted = client.post("/predict", json={"features": _features(lake_copy, days[-1])})
        vector = posted.json()
        assert posted.status_code == 200 and vector["as_of"] is None
        assert vector["rv_5d_lo"] == pytest.approx(vector["rv_5d_hat"] * math.exp(BAND.q_lo))
        assert vector["rv_5d_hi"] == pytest.approx(vector["rv_5d_hat"] * math.exp(BAND.q_hi))

        # a date this version never stored (scored on request) gets its band too
        computed = client.post("/predict", json={"as_of": first_predicted}).json()
        assert computed["rv_5d_hi"] == pytest.approx(computed["rv_5d_hat"] * math.exp(0.45))


def test_a_version_without_band_answers_null_bounds(served_lake: ServedLake) -> None:
    with api_client(served_lake.root) as client:
        body = client.post("/predict", json={}).json()
    assert body["rv_5d_hat"] > 0
    assert body["rv_5d_lo"] is None and body["rv_5d_hi"] is None and body["band_level"] is None
