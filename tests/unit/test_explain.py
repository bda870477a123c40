"""SHAP drivers: CatBoost SHAP (native and tabulated) equals shap.TreeExplainer, and
contributions add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from catboost import Pool

from core.explain import mean_abs_shap, rank_drivers, top_drivers
from core.features import build_features
from core.labels import build_labels
from core.models.candidate import CandidateModel, CandidateParams
from core.models.tree_shap import ObliviousTreeShap
from tests.factories import curated_frame


@pytest.fixture(scope="module")
def fitted() -> tuple[CandidateModel, pd.DataFrame]:
    curated = curated_frame(900, seed=3)
    data = build_features(curated).merge(build_labels(curated), on="date")
    model = CandidateModel(params=CandidateParams(iterations=60, depth=4), thread_count=1)
    model.fit(data.drop(columns=["date", "rv_5d"]), data["rv_5d"].to_numpy())
    return model, data.drop(columns=["date", "rv_5d"])


def test_catboost_shap_matches_tree_explainer(fitted) -> None:
    model, X = fitted
    matrix = X.to_numpy(dtype=np.float64)[:200]
    native = model.booster_.get_feature_importance(Pool(matrix), type="ShapValues")[:, :-1]
    tables = ObliviousTreeShap.from_catboost(model.booster_, matrix.shape[1])
    assert tables is not None
    reference = shap.TreeExplainer(model.booster_).shap_values(matrix)
    np.testing.assert_allclose(native, reference, atol=1e-6, rtol=0)
    np.testing.assert_allclose(tables.values(matrix)[0], reference, atol=1e-6, rtol=0)


def test_contributions_plus_expected_equal_raw_prediction(fitted) -> None:
    model, X = fitted
    contributions, expected = model.shap_values(X)
    np.testing.assert_allclose(
        contributions.sum(axis=1) + expected, model.raw_prediction(X), atol=1e-6, rtol=0
    )
    assert np.abs(contributions).sum() > 0  # the decomposition is not trivially zero


def test_top_drivers_are_ordered_by_absolute_shap(fitted) -> None:
    model, X = fitted
    drivers = top_drivers(model, X.iloc[-3:], k=5)
    contributions, _ = model.shap_values(X.iloc[-3:])
    assert len(drivers) == 3
    for row, found in enumerate(drivers):
        shaps = [abs(d["shap"]) for d in found]
        assert shaps == sorted(shaps, reverse=True) and len(found) == 5
        assert shaps[0] == pytest.approx(np.abs(contributions[row]).max())
        for d in found:  # each driver carries the row's own feature value
            assert d["value"] == pytest.approx(X.iloc[-3 + row][d["feature"]])


def test_rank_drivers_by_hand() -> None:
    names = ["a", "b", "c"]
    values = np.array([[1.0, 2.0, 3.0]])
    contributions = np.array([[0.1, -0.5, 0.3]])
    assert rank_drivers(names, values, contributions, k=2) == [
        [{"feature": "b", "value": 2.0, "shap": -0.5}, {"feature": "c", "value": 3.0, "shap": 0.3}]
    ]
    assert len(rank_drivers(names, values, contributions, k=10)[0]) == 3
    with pytest.raises(ValueError):
        rank_drivers(names, values, contributions, k=0)


def test_mean_abs_shap_is_sorted(fitted) -> None:
    model, X = fitted
    importance = mean_abs_shap(model, X)
    assert importance.is_monotonic_decreasing and importance.iloc[0] > 0
    assert set(importance.index) == set(model.feature_names)
