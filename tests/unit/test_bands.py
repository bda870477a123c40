"""Forecast bands: split-conformal ranks, calibration from out-of-sample errors, no look-ahead
in the rolling calibration, measured coverage, and the band a version stores and serves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.models.bands import (
    Band,
    band_report,
    calibrate,
    conformal_quantiles,
    coverage,
    log_errors,
    rolling_bands,
)
from core.models.inference import predictions_frame
from core.models.training import fit_reference, reference_band
from tests.unit.test_baselines import synthetic_features


def _walk_forward_frame(n: int, seed: int = 0, sigma: float = 0.3) -> pd.DataFrame:
    """date, rv_5d, model: log errors iid N(0, sigma^2) around a forecast that wanders."""
    rng = np.random.default_rng(seed)
    hat = np.exp(np.cumsum(rng.normal(0, 0.02, n)) + np.log(0.15))
    realized = hat * np.exp(rng.normal(0.0, sigma, n))
    dates = pd.bdate_range("2012-01-02", periods=n)
    return pd.DataFrame({"date": dates, "rv_5d": realized, "model": hat})


def test_conformal_ranks_are_the_split_conformal_ones() -> None:
    errors = np.arange(1.0, 20.0)[::-1]  # 19 errors, any order
    # k_lo = floor(20 * 0.1) = 2, k_hi = ceil(20 * 0.9) = 18
    assert conformal_quantiles(errors, 0.8) == (2.0, 18.0)
    # 99 errors: k_lo = floor(100 * 0.05) = 5, k_hi = ceil(100 * 0.95) = 95
    assert conformal_quantiles(np.arange(1.0, 100.0), 0.9) == (5.0, 95.0)


def test_too_few_errors_for_the_ranks_is_an_error() -> None:
    with pytest.raises(ValueError, match="too few"):
        conformal_quantiles(np.arange(8.0), 0.8)  # k_lo = floor(9 * 0.1) = 0


def test_calibrated_band_covers_about_its_level_on_exchangeable_errors() -> None:
    calibration, test = _walk_forward_frame(2000, seed=1), _walk_forward_frame(20000, seed=2)
    band = calibrate(calibration, "model")
    assert band is not None and band.n_errors == 2000 and band.level == 0.8
    lo, hi = band.interval(test["model"].to_numpy())
    covered = np.mean((test["rv_5d"] >= lo) & (test["rv_5d"] <= hi))
    assert 0.77 < covered < 0.83
    # a log-normal error of sd 0.3: the 10% and 90% quantiles are -/+ 1.2816 * 0.3
    assert band.q_lo == pytest.approx(-0.3845, abs=0.04)
    assert band.q_hi == pytest.approx(0.3845, abs=0.04)
    assert calibrate(calibration.head(99), "model") is None  # fewer than MIN_ERRORS


def test_rolling_bands_use_only_errors_whose_labels_were_known() -> None:
    frame = _walk_forward_frame(400, seed=3)
    before = rolling_bands(frame, "model", window=150, min_errors=100)
    i = 300
    # Row i may use errors of rows <= i - 5 only: changing the outcome of row i - 4 and later
    # (labels not yet realized at i's close) leaves rows <= i unchanged.
    changed = frame.copy()
    changed.loc[i - 4 :, "rv_5d"] *= 3.0
    after = rolling_bands(changed, "model", window=150, min_errors=100)
    pd.testing.assert_frame_equal(
        before.loc[:i, ["rv_5d_lo", "rv_5d_hi"]], after.loc[:i, ["rv_5d_lo", "rv_5d_hi"]]
    )
    assert not np.allclose(before.loc[i + 5 :, "rv_5d_hi"], after.loc[i + 5 :, "rv_5d_hi"])
    # the band at row i is exactly the conformal band of rows i-154 .. i-5
    errors = log_errors(frame["rv_5d"].to_numpy(), frame["model"].to_numpy())
    q_lo, q_hi = conformal_quantiles(errors[i - 154 : i - 4])
    assert before.loc[i, "rv_5d_lo"] == pytest.approx(frame.loc[i, "model"] * np.exp(q_lo))
    assert before.loc[i, "rv_5d_hi"] == pytest.approx(frame.loc[i, "model"] * np.exp(q_hi))
    assert before.loc[i, "n_errors"] == 150
    # no band before 100 errors were known
    assert before["rv_5d_lo"].isna().sum() == 100 + 4


def test_band_report_has_every_period_the_top_decile_and_widths() -> None:
    frame = _walk_forward_frame(3000, seed=4)
    report = band_report(rolling_bands(frame, "model"))
    assert set(report) == {"full", "2012-2015", "2016-2019", "2020-2026", "top_decile_rv"}
    full = report["full"]
    assert 0.74 < full["coverage"] < 0.86
    assert full["below"] + full["coverage"] + full["above"] == pytest.approx(1.0)
    assert full["mean_width"] > 0 and 0.6 < full["mean_relative_width"] < 0.9
    assert report["top_decile_rv"]["n"] == pytest.approx(0.1 * full["n"], abs=2)
    # the top decile of outcomes is where realized vol most often exceeds the band
    assert report["top_decile_rv"]["above"] > 3 * full["above"]
    assert coverage(frame.assign(rv_5d_lo=np.nan, rv_5d_hi=np.nan, rv_5d_hat=1.0))["n"] == 0


def test_band_round_trips_through_metadata_and_scales_with_the_forecast() -> None:
    band = Band(level=0.8, q_lo=-0.3, q_hi=0.4, n_errors=756, errors_from="2023-01-03")
    again = Band.from_metadata({"band": band.to_dict()})
    assert again == band
    lo, hi = band.interval(np.array([0.1, 0.2]))
    np.testing.assert_allclose(lo, [0.1 * np.exp(-0.3), 0.2 * np.exp(-0.3)])
    np.testing.assert_allclose(hi / lo, np.exp(0.7))
    assert Band.from_metadata({}) is None and Band.from_metadata({"band": None}) is None


def _labelled(n: int) -> pd.DataFrame:
    X = synthetic_features(n, seed=7)
    noise = np.random.default_rng(8).normal(0, 0.25, n)
    y = np.exp((0.3 * np.log(X.rv_cc_22d**2) + 0.6 * np.log(X.vix**2) + noise) / 2)
    return X.assign(date=pd.bdate_range("2015-01-01", periods=n), rv_5d=y)


def test_a_first_champion_stores_its_own_out_of_sample_band_and_predictions_carry_it() -> None:
    data = _labelled(900)
    fitted = fit_reference(data, asof=data["date"].iloc[-1], reason="first champion")
    band = Band.from_metadata(fitted.metadata)
    assert band is not None and band.n_errors == 900 - 254  # after 250 training rows + purge
    assert band.q_lo < 0 < band.q_hi
    table = predictions_frame(fitted.model, data.tail(30), "v1", band)
    assert (table["rv_5d_lo"] < table["rv_5d_hat"]).all()
    assert (table["rv_5d_hat"] < table["rv_5d_hi"]).all()
    np.testing.assert_allclose(table["rv_5d_hi"] / table["rv_5d_hat"], np.exp(band.q_hi))
    # too short a history for 100 out-of-sample errors: no band, null bounds
    short = _labelled(300)
    assert reference_band(short) is None
    no_band = fit_reference(short, asof=short["date"].iloc[-1], reason="first champion")
    assert no_band.metadata["band"] is None
    bare = predictions_frame(no_band.model, short.tail(3), "v2", None)
    assert bare["rv_5d_lo"].isna().all() and bare["rv_5d_hi"].isna().all()
