"""The API with the HAR-X(VIX) baseline serving (the first champion): dated and posted requests,
exact linear drivers, and /health and /version naming the kind and why it serves."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core import contracts, steps
from core.config import Settings
from core.lake import Lake
from core.models.servable import load_version
from tests.api.conftest import STARLETTE_HTTPX, api_client

pytestmark = pytest.mark.filterwarnings(STARLETTE_HTTPX)

HARX_FEATURES = ["rv_cc_1d", "rv_cc_5d", "rv_cc_22d", "vix"]


@pytest.fixture(scope="module")
def baseline_lake(base_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first train on a lake: the challenger refused (a bar nothing reaches), the
    baseline promoted; predictions stored for the last 10 feature days."""
    root = tmp_path_factory.mktemp("api-baseline") / "lake"
    shutil.copytree(base_lake, root)
    settings = Settings(
        lake_uri=str(root),
        gate_window_sessions=60,
        gate_refit_every=30,
        canary_days=10,
        gate_min_improvement=0.9,
    )
    ctx = steps.Context.from_settings(settings)
    result = steps.train(ctx)
    assert result.serving_kind == "harx_vix", result.serving_reason
    days = ctx.lake.partitions(contracts.FEATURES)[-10:]
    steps.infer(ctx, days[0], days[-1])
    return root


@pytest.fixture(scope="module")
def client(baseline_lake: Path) -> Iterator[TestClient]:
    with api_client(baseline_lake) as c:
        yield c


def _feature_row(root: Path, day: str) -> dict[str, float]:
    frame = Lake(str(root)).read(contracts.FEATURES, day, day)
    return {c: float(frame[c].iloc[0]) for c in frame.columns if c != "date"}


def test_health_and_version_name_the_kind_and_why(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model_kind"] == "harx_vix"
    assert "first champion" in health["model_reason"]
    version = client.get("/version").json()
    assert version["model_kind"] == "harx_vix"
    assert version["model_features"] == HARX_FEATURES
    assert version["model_version"] == health["model_version"]


def test_dated_forecast_has_exact_linear_drivers(client: TestClient, baseline_lake: Path) -> None:
    body = client.post("/predict", json={"top_k": 5}).json()
    drivers = body["top_drivers"]
    assert sorted(d["feature"] for d in drivers) == sorted(HARX_FEATURES)  # all four, no more
    lake = Lake(str(baseline_lake))
    model, _ = load_version(
        steps.model_registry(steps.Context(Settings(), lake)), body["model_version"]
    )
    row = _feature_row(baseline_lake, body["as_of"])
    values = np.array([[row[n] for n in HARX_FEATURES]])
    contributions, expected = model.shap_values(values)
    by_name = dict(zip(HARX_FEATURES, contributions[0], strict=True))
    for d in drivers:
        assert d["shap"] == pytest.approx(by_name[d["feature"]], abs=1e-12)
        assert d["value"] == row[d["feature"]]
    total = expected + sum(d["shap"] for d in drivers)
    assert float(model.vol_from_raw(total)) == pytest.approx(body["rv_5d_hat"], rel=1e-12)


def test_posted_vectors_score_like_the_stored_forecast(
    client: TestClient, baseline_lake: Path
) -> None:
    dated = client.post("/predict", json={"top_k": 4}).json()
    full_row = _feature_row(baseline_lake, dated["as_of"])  # every features_daily column
    only_model = {n: full_row[n] for n in HARX_FEATURES}
    for features in (full_row, only_model):
        posted = client.post("/predict", json={"features": features, "top_k": 4})
        assert posted.status_code == 200, posted.text
        body = posted.json()
        assert body["as_of"] is None and body["model_version"] == dated["model_version"]
        assert body["rv_5d_hat"] == pytest.approx(dated["rv_5d_hat"], rel=1e-12)
        assert [d["feature"] for d in body["top_drivers"]] == [
            d["feature"] for d in dated["top_drivers"]
        ]


def test_posted_vectors_still_name_what_does_not_fit(
    client: TestClient, baseline_lake: Path
) -> None:
    day = client.post("/predict", json={}).json()["as_of"]
    row = {n: v for n, v in _feature_row(baseline_lake, day).items() if n != "vix"}
    response = client.post("/predict", json={"features": {**row, "not_a_feature": 1.0}})
    assert response.status_code == 422
    errors = {(tuple(e["loc"]), e["type"]) for e in response.json()["detail"]}
    assert errors == {
        (("body", "features", "not_a_feature"), "unknown_feature"),
        (("body", "features", "vix"), "missing_feature"),
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [("vix", 1e300), ("vix", -0.2), ("vix", 15.85), ("rv_cc_1d", 11.0)],
)
def test_posted_values_outside_their_domain_are_422_naming_the_domain(
    client: TestClient, baseline_lake: Path, name: str, value: float
) -> None:
    """A vol above 1,000% or below 0 (VIX in points, a sign slip, an overflow that made the
    SHAP values infinite) is refused by name with the unit, never scored into a clipped answer
    or a null driver."""
    day = client.post("/predict", json={}).json()["as_of"]
    row = _feature_row(baseline_lake, day)
    response = client.post("/predict", json={"features": {**row, name: value}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "features", name] and error["type"] == "out_of_domain"
    assert error["msg"].startswith("outside [0, 10], the domain of vol: annualized volatility")


def test_a_posted_vector_at_its_domain_edge_has_finite_drivers(
    client: TestClient, baseline_lake: Path
) -> None:
    day = client.post("/predict", json={}).json()["as_of"]
    row = _feature_row(baseline_lake, day)
    for edge in (0.0, 10.0):
        response = client.post("/predict", json={"features": {**row, "vix": edge}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert math.isfinite(body["rv_5d_hat"]) and body["rv_5d_hat"] > 0
        assert all(math.isfinite(d["shap"]) for d in body["top_drivers"])
