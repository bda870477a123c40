"""Feature drift: PSI against training deciles, the training windows' own PSI as the null, the
report a daily infer emits, and the EMF record the alarm reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.models.drift import (
    THRESHOLD,
    bin_counts,
    bin_edges,
    drift_reference,
    feature_drift,
    psi,
    window_psis,
)
from core.monitoring import drift_metric


def _training(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ar = np.zeros(n)
    for t in range(1, n):  # a persistent feature, like a 22-day vol
        ar[t] = 0.98 * ar[t - 1] + rng.normal(0, 0.2)
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2010-01-04", periods=n),
            "persistent": np.exp(ar) * 0.15,
            "noisy": rng.normal(0, 1, n),
            "few_values": rng.integers(0, 3, n).astype(float),
        }
    )


def test_the_training_distribution_gives_zero() -> None:
    x = _training()["noisy"].to_numpy()
    edges = bin_edges(x)
    expected = bin_counts(x, edges) / x.size
    assert len(edges) == 9 and np.allclose(expected, 0.1, atol=0.001)
    assert psi(expected, bin_counts(x, edges)) == pytest.approx(0.0, abs=1e-12)
    fresh = np.random.default_rng(9).normal(0, 1, 200_000)  # the same distribution, new draws
    assert psi(expected, bin_counts(fresh, edges)) < 0.005


def test_a_shifted_feature_raises_psi_past_the_threshold() -> None:
    train = _training()
    reference = drift_reference(train, ["persistent", "noisy", "few_values"])
    recent = train.tail(20).copy()
    recent["noisy"] = recent["noisy"] + 3.0  # three standard deviations
    report = feature_drift(recent, reference)
    assert report.max_excess.feature == "noisy" and report.max_psi.feature == "noisy"
    assert report.max_excess.psi > THRESHOLD and report.max_excess.excess > THRESHOLD
    assert report.drifting
    assert [f.feature for f in report.top(1)] == ["noisy"]
    out = report.to_dict(k=2)
    assert out["max_excess_feature"] == "noisy" and len(out["top"]) == 2
    assert out["sessions"] == 20 and out["end"] == train["date"].iloc[-1].date().isoformat()


def test_a_window_of_the_training_data_has_no_excess() -> None:
    """A persistent feature's 20 sessions sit in a few deciles: large raw PSI, yet nothing the
    training data did not show itself."""
    train = _training()
    reference = drift_reference(train, ["persistent", "noisy"])
    report = feature_drift(train.iloc[1000:1020], reference)
    persistent = next(f for f in report.features if f.feature == "persistent")
    assert persistent.psi > THRESHOLD  # the raw figure alone would alarm
    assert all(f.excess == 0.0 for f in report.features) and not report.drifting
    assert reference["features"]["persistent"]["null_psi"] >= persistent.psi


def test_window_psis_equal_one_psi_per_window() -> None:
    x = _training(300)["persistent"].to_numpy()
    edges = bin_edges(x)
    expected = bin_counts(x, edges) / x.size
    fast = window_psis(x, edges, expected, 20)
    slow = [psi(expected, bin_counts(x[i : i + 20], edges)) for i in range(len(x) - 19)]
    assert fast.shape == (281,)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_repeated_edges_are_merged_and_values_beyond_training_count() -> None:
    train = _training()
    edges = np.asarray(drift_reference(train, ["few_values"])["features"]["few_values"]["edges"])
    assert list(edges) == sorted(set(edges)) and len(edges) <= 3  # 3 distinct values
    beyond = train.tail(20).assign(few_values=7.0)  # never seen in training
    report = feature_drift(beyond, drift_reference(train, ["few_values"]))
    assert report.max_psi.psi > 1.0


def test_missing_features_and_empty_windows_are_errors() -> None:
    train = _training()
    reference = drift_reference(train, ["noisy"])
    with pytest.raises(KeyError, match="noisy"):
        feature_drift(train[["date", "persistent"]].tail(20), reference)
    with pytest.raises(ValueError, match="no recent feature rows"):
        feature_drift(train.head(0), reference)
    with pytest.raises(ValueError, match="at least 20"):
        drift_reference(train.head(10), ["noisy"])


def test_the_emf_record_names_the_metrics_the_alarm_reads() -> None:
    train = _training()
    recent = train.tail(20).assign(noisy=lambda f: f["noisy"] + 3.0)
    report = feature_drift(recent, drift_reference(train, ["noisy", "persistent"])).to_dict()
    record = json.loads(json.dumps(drift_metric(report)))
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Volcast" and directive["Dimensions"] == [["Service"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"FeatureDriftMaxPSI", "FeatureDriftMaxExcessPSI"}
    assert record["Service"] == "model"
    assert record["FeatureDriftMaxExcessPSI"] == report["max_excess_psi"] > THRESHOLD
    assert record["max_excess_feature"] == "noisy"
