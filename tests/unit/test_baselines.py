"""Baselines (and the CatBoost candidate, which follows the same fit/predict contract)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.models import baselines
from core.models.candidate import CandidateModel, CandidateParams

FEATURES = ("rv_cc_1d", "rv_cc_5d", "rv_cc_22d", "vix", "rv_ewma_094", "rv_pk_5d", "spy_ret_5d")


def synthetic_features(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(np.log(0.15), 0.4, n))
    return pd.DataFrame(
        {
            "rv_cc_1d": base * np.exp(rng.normal(0, 0.5, n)),
            "rv_cc_5d": base * np.exp(rng.normal(0, 0.25, n)),
            "rv_cc_22d": base * np.exp(rng.normal(0, 0.1, n)),
            "vix": base * 1.2 * np.exp(rng.normal(0, 0.1, n)),
            "rv_ewma_094": base * np.exp(rng.normal(0, 0.15, n)),
            "rv_pk_5d": base * np.exp(rng.normal(0, 0.2, n)),
            "spy_ret_5d": rng.normal(0, 0.02, n),
        }
    )


def test_har_variance_recovers_known_coefficients() -> None:
    X = synthetic_features(400)
    var = 0.01 + 0.1 * X.rv_cc_1d**2 + 0.3 * X.rv_cc_5d**2 + 0.2 * X.rv_cc_22d**2 + 0.4 * X.vix**2
    model = baselines.harx_vix(space="variance").fit(X, np.sqrt(var.to_numpy()))
    assert model.intercept_ == pytest.approx(0.01, abs=1e-10)
    assert model.coef_ == pytest.approx([0.1, 0.3, 0.2, 0.4], abs=1e-10)
    assert model.predict(X) == pytest.approx(np.sqrt(var.to_numpy()), rel=1e-9)


def test_log_har_recovers_coefficients_and_needs_no_smearing_without_noise() -> None:
    X = synthetic_features(400)
    logvar = -0.5 + 0.2 * np.log(X.rv_cc_5d**2) + 0.7 * np.log(X.vix**2)
    har = baselines.LinearVarianceModel("t", ("rv_cc_5d", "vix"), "log")
    har.fit(X, np.exp(logvar.to_numpy() / 2))
    assert har.intercept_ == pytest.approx(-0.5, abs=1e-9)
    assert har.coef_ == pytest.approx([0.2, 0.7], abs=1e-9)
    assert har.smearing_ == pytest.approx(1.0, abs=1e-12)


def test_log_har_smearing_corrects_to_the_mean_of_variance() -> None:
    # log s2 = log x^2 + N(0, 0.5^2): E[s2 | x] = x^2 exp(0.125), smearing ~ exp(0.125)
    X = synthetic_features(20000, seed=1)
    noise = np.random.default_rng(2).normal(0.0, 0.5, len(X))
    y = np.sqrt(X.vix.to_numpy() ** 2 * np.exp(noise))
    model = baselines.vix_recalibrated().fit(X, y)
    assert model.smearing_ == pytest.approx(np.exp(0.125), rel=0.02)


def test_forecasts_positive_and_inside_training_range() -> None:
    X = synthetic_features(300)
    var = 0.05 + X.vix.to_numpy() ** 2 - 0.2 * X.rv_cc_1d.to_numpy() ** 2
    y = np.sqrt(np.maximum(var, 1e-3))
    model = baselines.harx_vix(space="variance").fit(X, y)
    extreme = X.copy()
    extreme["rv_cc_1d"] = 5.0  # pushes the level fit to a negative variance
    assert (model.intercept_ + model._design(extreme) @ model.coef_).min() < 0
    pred = model.predict(extreme)
    assert np.all(pred > 0)
    assert pred.min() == pytest.approx(y.min())  # insanity filter: training minimum
    for factory in baselines.baseline_factories().values():
        out = factory().fit(X, y).predict(extreme)
        assert np.all(np.isfinite(out)) and np.all(out > 0)


def test_ewma_is_the_feature_itself() -> None:
    X = synthetic_features(50)
    model = baselines.EwmaBaseline().fit(X, np.full(50, 0.1))
    assert model.predict(X) == pytest.approx(X.rv_ewma_094.to_numpy())


def test_missing_column_is_named() -> None:
    X = synthetic_features(50).drop(columns=["vix"])
    with pytest.raises(KeyError, match="vix"):
        baselines.harx_vix().fit(X, np.full(50, 0.1))


def test_non_positive_labels_rejected() -> None:
    X = synthetic_features(10)
    with pytest.raises(ValueError):
        baselines.har_rv().fit(X, np.zeros(10))


# -- CatBoost candidate -------------------------------------------------------------------


def _labelled(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    X = synthetic_features(n, seed)
    rng = np.random.default_rng(seed + 1)
    # a non-linear effect the HAR-X offset cannot see: negative returns raise variance
    var = 0.6 * X.rv_pk_5d**2 + 0.4 * X.vix**2 * np.where(X.spy_ret_5d < 0, 1.8, 0.8)
    y = np.sqrt(var.to_numpy() * rng.gamma(5.0, 1 / 5.0, n))
    return X, y


def _small(**kw: object) -> CandidateModel:
    return CandidateModel(
        feature_names=FEATURES, params=CandidateParams(iterations=40, depth=3, **kw)
    )


def test_candidate_is_bit_reproducible_and_positive() -> None:
    X, y = _labelled()
    a = _small().fit(X, y).predict_vol(X)
    b = _small().fit(X, y).predict_vol(X)
    assert np.array_equal(a, b)
    assert np.all(a > 0) and np.all(np.isfinite(a))


def test_candidate_learns_beyond_the_harx_offset() -> None:
    X, y = _labelled(1500)
    model = CandidateModel(feature_names=FEATURES, params=CandidateParams(iterations=150))
    model.fit(X.iloc[:1000], y[:1000])
    harx = baselines.harx_vix().fit(X.iloc[:1000], y[:1000])
    from core.models.metrics import qlike

    test_X, test_y = X.iloc[1000:], y[1000:]
    assert qlike(test_y, model.predict_vol(test_X)) < qlike(test_y, harx.predict(test_X))


def test_candidate_numpy_and_frame_inputs_agree() -> None:
    X, y = _labelled()
    model = _small().fit(X, y)
    frame_pred = model.predict_vol(X.iloc[:5])
    numpy_pred = model.predict_vol(X.loc[:, list(FEATURES)].to_numpy()[:5])
    one_row = model.predict_vol(X.loc[:, list(FEATURES)].to_numpy()[0])
    assert np.array_equal(frame_pred, numpy_pred)
    assert one_row[0] == frame_pred[0]


@pytest.mark.parametrize(
    ("boost_from_harx", "objective"), [(True, "log_rmse"), (False, "log_rmse"), (True, "qlike")]
)
def test_candidate_shap_sums_to_raw_prediction(boost_from_harx: bool, objective: str) -> None:
    X, y = _labelled()
    model = _small(boost_from_harx=boost_from_harx, objective=objective).fit(X, y)
    contrib, expected = model.shap_values(X.iloc[:20])
    assert contrib.shape == (20, len(FEATURES))
    raw = model.raw_prediction(X.iloc[:20])
    assert contrib.sum(axis=1) + expected == pytest.approx(raw, abs=1e-9)
    assert np.exp((raw + model.log_bias_) / 2) == pytest.approx(model.predict_vol(X.iloc[:20]))
    # still exact where the offset's insanity clip binds (far outside the training range)
    extreme = X.iloc[:3].assign(vix=5.0, rv_cc_22d=4.0)
    contrib, expected = model.shap_values(extreme)
    assert contrib.sum(axis=1) + expected == pytest.approx(model.raw_prediction(extreme))


def test_candidate_log_rmse_uses_smearing_qlike_does_not() -> None:
    X, y = _labelled()
    model = _small(objective="log_rmse").fit(X, y)
    assert model.log_bias_ > 0  # E[exp(resid)] > 1 by Jensen for noisy residuals
    # smearing makes the in-sample mean forecast variance match the mean realized variance
    assert np.mean(model.predict_vol(X) ** 2) == pytest.approx(np.mean(y**2), rel=0.1)
    qlike_model = _small(objective="qlike").fit(X, y)
    assert qlike_model.log_bias_ == 0.0  # Gamma/QLIKE fit targets E[s2] directly
    assert np.all(qlike_model.predict_vol(X) > 0)


def test_candidate_save_load_round_trip(tmp_path: Path) -> None:
    X, y = _labelled()
    model = _small().fit(X, y)
    files = model.save(tmp_path / "v1")
    assert {f.name for f in files} == {"model.cbm", "candidate.json"}
    meta = json.loads((tmp_path / "v1" / "candidate.json").read_text())
    assert meta["feature_names"] == list(FEATURES)
    loaded = CandidateModel.load(tmp_path / "v1")
    assert np.array_equal(loaded.predict_vol(X), model.predict_vol(X))
    c1, e1 = model.shap_values(X.iloc[:3])
    c2, e2 = loaded.shap_values(X.iloc[:3])
    assert np.array_equal(c1, c2) and e1 == e2


def test_candidate_early_stopping_on_inner_validation() -> None:
    X, y = _labelled(600)
    noise = np.random.default_rng(9).permutation(y)  # labels unrelated to the features
    params = {"iterations": 120, "depth": 3, "validation_fraction": 0.25}
    signal = CandidateModel(feature_names=FEATURES, params=CandidateParams(**params)).fit(X, y)
    null = CandidateModel(feature_names=FEATURES, params=CandidateParams(**params)).fit(X, noise)
    for model in (signal, null):
        assert 1 <= model.best_iterations_ <= 120
        assert model.booster_ is not None
        assert model.booster_.tree_count_ == model.best_iterations_
    assert null.best_iterations_ < signal.best_iterations_


# -- offset menu: the offset chosen per fit on the purged validation tail -----------------

HARX_OFFSET = ("rv_cc_1d", "rv_cc_5d", "rv_cc_22d", "vix")
RANGE_OFFSET = ("rv_pk_5d", "vix")  # the synthetic label is built from rv_pk_5d and vix


def _menu(menu: tuple[tuple[str, ...], ...], **kw: object) -> CandidateModel:
    params = {"iterations": 60, "depth": 3, "validation_fraction": 0.25, **kw}
    return CandidateModel(
        feature_names=FEATURES, params=CandidateParams(offset_menu=menu, **params)
    )


def test_offset_menu_picks_the_lowest_validation_loss() -> None:
    X, y = _labelled(600)
    model = _menu((HARX_OFFSET, RANGE_OFFSET)).fit(X, y)
    assert len(model.offset_losses_) == 2 and all(np.isfinite(model.offset_losses_))
    assert model.offset_choice_ == int(np.argmin(model.offset_losses_)) == 1
    assert model.harx_ is not None and model.harx_.columns == RANGE_OFFSET
    assert model.booster_ is not None and model.booster_.tree_count_ == model.best_iterations_
    # the choice does not depend on the menu's order
    swapped = _menu((RANGE_OFFSET, HARX_OFFSET)).fit(X, y)
    assert swapped.offset_choice_ == 0 and swapped.harx_ is not None
    assert swapped.harx_.columns == RANGE_OFFSET
    assert np.array_equal(swapped.predict_vol(X), model.predict_vol(X))


def test_offset_menu_of_one_entry_is_the_plain_model() -> None:
    X, y = _labelled(600)
    menu = _menu((HARX_OFFSET,)).fit(X, y)
    plain = CandidateModel(
        feature_names=FEATURES,
        params=CandidateParams(iterations=60, depth=3, validation_fraction=0.25),
    ).fit(X, y)
    assert menu.offset_choice_ == 0 and plain.offset_choice_ is None
    assert np.array_equal(menu.predict_vol(X), plain.predict_vol(X))


def test_offset_menu_is_reproducible_shap_exact_and_round_trips(tmp_path: Path) -> None:
    X, y = _labelled(600)
    model = _menu((HARX_OFFSET, RANGE_OFFSET)).fit(X, y)
    again = _menu((HARX_OFFSET, RANGE_OFFSET)).fit(X, y)
    assert np.array_equal(model.predict_vol(X), again.predict_vol(X))
    assert model.offset_losses_ == again.offset_losses_
    for rows in (X.iloc[:20], X.iloc[:3].assign(vix=5.0, rv_pk_5d=4.0)):  # clip binds too
        contrib, expected = model.shap_values(rows)
        assert contrib.sum(axis=1) + expected == pytest.approx(model.raw_prediction(rows))
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "candidate.json").read_text())
    assert meta["offset_choice"] == model.offset_choice_
    assert meta["harx_offset"]["columns"] == list(RANGE_OFFSET)
    loaded = CandidateModel.load(tmp_path / "m")
    assert loaded.params == model.params and loaded.params.offset_menu[1] == RANGE_OFFSET
    assert loaded.offset_choice_ == model.offset_choice_
    assert loaded.offset_losses_ == model.offset_losses_
    assert np.array_equal(loaded.predict_vol(X), model.predict_vol(X))
    assert np.array_equal(loaded.shap_values(X.iloc[:3])[0], model.shap_values(X.iloc[:3])[0])


def test_offset_menu_needs_a_validation_tail() -> None:
    X, y = _labelled(300)
    with pytest.raises(ValueError, match="validation_fraction"):
        _menu((HARX_OFFSET, RANGE_OFFSET), validation_fraction=0.0).fit(X, y)
