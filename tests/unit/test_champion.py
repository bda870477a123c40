"""The HAR-X(VIX) champion as a served model: exact linear SHAP drivers, persistence, and the
one way to load either kind from the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap

from core.lake import Lake
from core.models import baselines, servable
from core.models.candidate import CandidateModel, CandidateParams
from core.models.registry import ModelRegistry
from core.models.training import fit_reference
from tests.unit.test_baselines import synthetic_features


@pytest.fixture(scope="module")
def train_test() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    X = synthetic_features(600, seed=3)
    noise = np.random.default_rng(4).normal(0, 0.3, len(X))
    log_var = 0.2 * np.log(X.rv_cc_22d**2) + 0.7 * np.log(X.vix**2) - 0.3 + noise
    y = np.exp(log_var.to_numpy() / 2)
    test = synthetic_features(200, seed=5)
    test.loc[0, "vix"] = 3.0  # far beyond training: the clip binds on this row
    return X, y, test


@pytest.fixture(scope="module")
def champion(train_test) -> baselines.LinearVarianceModel:
    X, y, _ = train_test
    return servable.new_reference().fit(X, y)


def test_shap_values_equal_shap_linear_explainer(champion, train_test) -> None:
    """Interventional linear SHAP with the training design as background (every row)."""
    X, _, test = train_test
    background = champion.design_matrix(X.loc[:, list(champion.columns)].to_numpy())
    design = champion.design_matrix(test.loc[:, list(champion.columns)].to_numpy())
    explainer = shap.LinearExplainer(
        (champion.coef_, champion.intercept_ + np.log(champion.smearing_)),
        shap.maskers.Independent(background, max_samples=len(background)),
    )
    ours, expected = champion.shap_values(test)
    np.testing.assert_allclose(ours, explainer.shap_values(design), rtol=0, atol=1e-9)
    assert expected == pytest.approx(float(explainer.expected_value), abs=1e-9)


def test_drivers_sum_to_the_raw_log_forecast_and_map_to_the_served_vol(
    champion, train_test
) -> None:
    _, _, test = train_test
    contributions, expected = champion.shap_values(test)
    raw = champion.raw_prediction(test)
    np.testing.assert_allclose(expected + contributions.sum(axis=1), raw, rtol=0, atol=1e-12)
    # raw is log variance with the smearing term in it; vol applies exp and the clip
    vol = champion.predict_vol(test)
    np.testing.assert_allclose(champion.vol_from_raw(expected + contributions.sum(axis=1)), vol)
    assert vol[0] ** 2 == champion.var_max_  # the far row is clipped, and still explained
    assert np.sqrt(np.exp(raw[0])) > vol[0]
    # each driver is named by the feature its regressor comes from
    assert champion.feature_names == ("rv_cc_1d", "rv_cc_5d", "rv_cc_22d", "vix")
    assert contributions.shape == (len(test), 4)


def test_the_champion_is_the_gates_reference_recipe(champion, train_test) -> None:
    X, y, test = train_test
    reference = baselines.baseline_factories()["harx_vix"]().fit(X, y)
    np.testing.assert_array_equal(reference.predict(test), champion.predict_vol(test))


def test_save_and_load_are_exact(champion, train_test, tmp_path) -> None:
    _, _, test = train_test
    champion.save(tmp_path)
    loaded = servable.load_model(tmp_path, "harx_vix")
    np.testing.assert_array_equal(loaded.predict_vol(test), champion.predict_vol(test))
    np.testing.assert_array_equal(loaded.shap_values(test)[0], champion.shap_values(test)[0])


def test_numpy_rows_score_like_frames(champion, train_test) -> None:
    _, _, test = train_test
    rows = test.loc[:, list(champion.feature_names)].to_numpy()
    np.testing.assert_array_equal(champion.predict_vol(rows), champion.predict_vol(test))
    with pytest.raises(ValueError, match="numpy input needs columns"):
        champion.predict_vol(rows[:, :3])


def test_fit_reference_needs_a_year_of_labels() -> None:
    X = synthetic_features(100).assign(date=pd.bdate_range("2020-01-01", periods=100))
    data = X.assign(rv_5d=X["rv_cc_22d"])
    with pytest.raises(ValueError, match="at least 252 labelled days"):
        fit_reference(data, asof=data["date"].iloc[-1], reason="test")


def test_registry_loads_each_kind_by_its_metadata(tmp_path, train_test) -> None:
    X, y, test = train_test
    registry = ModelRegistry(Lake(str(tmp_path / "lake")))
    data = X.assign(date=pd.bdate_range("2015-01-01", periods=len(X)), rv_5d=y)
    fitted = fit_reference(data, asof=data["date"].iloc[-1], reason="first champion")
    baseline = registry.register(fitted.files, fitted.metadata)
    model, meta = servable.load_version(registry, baseline)
    assert meta["kind"] == "harx_vix" and isinstance(model, baselines.LinearVarianceModel)
    np.testing.assert_array_equal(model.predict_vol(test), fitted.model.predict_vol(test))

    booster = CandidateModel(params=CandidateParams(iterations=20, depth=2), thread_count=1)
    booster.fit(X, y)
    legacy = {k: v for k, v in fitted.metadata.items() if k != "kind"}  # before kinds existed
    old = registry.register(servable.model_files(booster), {**legacy, "params": {}})
    model, meta = servable.load_version(registry, old)
    assert servable.model_kind(meta) == "catboost" and isinstance(model, CandidateModel)
    assert {i.version: i.kind for i in registry.list()} == {baseline: "harx_vix", old: "catboost"}
    with pytest.raises(ValueError, match="unknown model kind 'garch'"):
        servable.model_kind({"kind": "garch"})
