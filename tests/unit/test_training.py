"""The gate on constructed candidates: a better one is promoted, a worse one refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.features import build_features
from core.labels import build_labels
from core.models.candidate import CandidateParams
from core.models.training import GateWindow, content_hash, train_candidate
from tests.factories import curated_frame

WINDOW = GateWindow(sessions=120, refit_every=40, min_train=400)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    curated = curated_frame(1100, seed=5)
    return build_features(curated).merge(build_labels(curated), on="date")


def _train(data: pd.DataFrame, params: CandidateParams | None = None, production=None):
    return train_candidate(
        data,
        asof=data["date"].iloc[-1],
        min_improvement=0.025,
        thread_count=1,
        window=WINDOW,
        params=params,
        production=production,
    )


def test_better_candidate_is_promoted(table: pd.DataFrame) -> None:
    """Next-week vol doubles after TLT rallies: a regime a tree sees and a HAR-X line cannot."""
    rng = np.random.default_rng(0)
    trigger = (table["tlt_ret_5d"] > 0).to_numpy()
    vol = table["rv_cc_22d"].to_numpy() * np.where(trigger, 2.0, 0.7)
    data = table.assign(rv_5d=vol * np.exp(rng.normal(0, 0.05, len(table))))
    outcome = _train(data, CandidateParams(iterations=150, depth=3, learning_rate=0.1))
    gain = outcome.evaluation["improvement_pct"]
    assert outcome.decision.passed, outcome.decision.reason
    assert gain["qlike"] >= 2.5 and gain["rmse_variance"] >= 2.5
    assert outcome.decision.reason.startswith("promoted")


def test_worse_candidate_is_refused(table: pd.DataFrame) -> None:
    """Labels exactly log-linear in the HAR-X(VIX) regressors; an overfitting booster loses."""
    rng = np.random.default_rng(1)
    log_var = 0.3 * np.log(table["rv_cc_22d"] ** 2) + 0.7 * np.log(table["vix"] ** 2)
    data = table.assign(rv_5d=np.exp(0.5 * log_var + rng.normal(0, 0.3, len(table))))
    overfit = CandidateParams(iterations=150, depth=6, learning_rate=0.5, l2_leaf_reg=0.0)
    outcome = _train(data, overfit)
    assert not outcome.decision.passed
    assert "below the 2.5% bar" in outcome.decision.reason
    assert outcome.metadata["gate"]["passed"] is False


def test_candidate_behind_production_is_refused(table: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    trigger = (table["tlt_ret_5d"] > 0).to_numpy()
    vol = table["rv_cc_22d"].to_numpy() * np.where(trigger, 2.0, 0.7)
    data = table.assign(rv_5d=vol * np.exp(rng.normal(0, 0.05, len(table))))
    good = CandidateParams(iterations=150, depth=3, learning_rate=0.1)
    weak = CandidateParams(iterations=10, depth=2, learning_rate=0.05)
    features = tuple(c for c in table.columns if c not in ("date", "rv_5d"))
    outcome = _train(data, weak, production=(good, features))
    assert not outcome.decision.passed
    assert "behind the production model" in outcome.decision.reason


def test_metadata_records_training_data_and_is_reproducible(table: pd.DataFrame) -> None:
    data = table.iloc[:700]
    first = _train(data, CandidateParams(iterations=30, depth=3))
    second = _train(data, CandidateParams(iterations=30, depth=3))
    meta = first.metadata
    assert meta["features"] == [c for c in table.columns if c not in ("date", "rv_5d")]
    assert meta["training_data"]["rows"] == 700
    assert meta["training_data"]["content_hash"] == content_hash(data)
    X = data.drop(columns=["date", "rv_5d"])
    np.testing.assert_array_equal(  # seeded: same data, same forecasts, bit for bit
        first.candidate.predict_vol(X), second.candidate.predict_vol(X)
    )
    assert content_hash(data) != content_hash(data.assign(rv_5d=data["rv_5d"] * 1.0001))
