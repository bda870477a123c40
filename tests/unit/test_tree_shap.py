"""Tabulated TreeSHAP equals CatBoost's own ShapValues, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest
from catboost import CatBoostRegressor, Pool

from core.models import tree_shap
from core.models.candidate import CandidateModel
from core.models.tree_shap import MAX_DEPTH, ObliviousTreeShap

N_FEATURES = 6


def _training_set(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, N_FEATURES))
    X[:, 2] = np.round(X[:, 2])  # few distinct values: the same borders again and again
    y = X[:, 0] + 0.5 * X[:, 1] ** 2 + X[:, 2] * X[:, 3] + rng.normal(scale=0.3, size=rows)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X, y


def _probe_rows(booster: CatBoostRegressor, seed: int) -> np.ndarray:
    """Random rows, missing, huge and infinite values, and values on, just above and just below
    each border (in float64 and float32 steps: CatBoost compares float32)."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(scale=1.5, size=(300, N_FEATURES))
    rows[rng.random(rows.shape) < 0.1] = np.nan
    rows[:4, :] = [[1e300], [-1e300], [np.inf], [-np.inf]]  # beyond float32 and infinite
    edges = []
    for feature, borders in booster.get_borders().items():
        for border in borders[:: max(1, len(borders) // 8)]:
            b32 = np.float32(border)
            with np.errstate(over="ignore"):  # the outermost borders sit at float32's limits
                steps = (
                    border,
                    np.nextafter(border, np.inf),
                    np.nextafter(border, -np.inf),
                    float(np.nextafter(b32, np.float32(np.inf))),
                    float(np.nextafter(b32, np.float32(-np.inf))),
                )
            for value in steps:
                row = rows[len(edges) % len(rows)].copy()
                row[int(feature)] = value
                edges.append(row)
    return np.vstack([rows, *edges])


MODELS = {
    "depth 4, 300 trees": {"iterations": 300, "depth": 4},
    "depth 6, few rows (empty leaves)": {"iterations": 80, "depth": 6, "rows": 120},
    "depth 6, missing goes right": {"iterations": 80, "depth": 6, "nan_mode": "Max"},
    "depth 1": {"iterations": 40, "depth": 1},
    "depth 8, repeated features": {"iterations": 30, "depth": 8},
}


@pytest.mark.parametrize("spec", MODELS.values(), ids=MODELS.keys())
def test_tables_equal_catboost_shap_values(spec: dict) -> None:
    spec = dict(spec)
    X, y = _training_set(spec.pop("rows", 1500), seed=spec["depth"])
    booster = CatBoostRegressor(**spec, thread_count=1, verbose=False, allow_writing_files=False)
    booster.fit(X, y)
    tables = ObliviousTreeShap.from_catboost(booster, N_FEATURES)
    assert tables is not None
    if spec["depth"] > N_FEATURES:  # some trees test a feature twice: players are features
        assert any(len(set(tested)) < len(tested) for tested in tables.features.tolist())

    rows = _probe_rows(booster, seed=spec["depth"] + 100)
    reference = booster.get_feature_importance(Pool(rows), type="ShapValues", thread_count=1)
    contributions, expected = tables.values(rows)

    np.testing.assert_allclose(contributions, reference[:, :-1], atol=1e-9, rtol=0)
    assert expected == pytest.approx(reference[0, -1], abs=1e-9)
    raw = booster.predict(rows, prediction_type="RawFormulaVal")
    np.testing.assert_allclose(contributions.sum(axis=1) + expected, raw, atol=1e-9, rtol=0)
    # One row at a time gives the same as a batch (the serving path scores single rows).
    single, _ = tables.values(rows[7])
    np.testing.assert_array_equal(single[0], contributions[7])


def test_building_in_several_passes_gives_the_same_tables(monkeypatch) -> None:
    X, y = _training_set(600, seed=5)
    booster = CatBoostRegressor(iterations=60, depth=4, thread_count=1, verbose=False).fit(X, y)
    whole = ObliviousTreeShap.from_catboost(booster, N_FEATURES)
    monkeypatch.setattr(tree_shap, "WORK_FLOATS", 16 * 16 * 4 * 3)  # three trees per pass
    in_passes = ObliviousTreeShap.from_catboost(booster, N_FEATURES)
    assert whole is not None and in_passes is not None
    np.testing.assert_array_equal(in_passes.contributions, whole.contributions)
    assert in_passes.expected_value == pytest.approx(whole.expected_value, abs=1e-12)


def test_what_the_tables_do_not_cover_is_refused() -> None:
    X, y = _training_set(400, seed=1)
    depthwise = CatBoostRegressor(iterations=20, depth=3, grow_policy="Depthwise", verbose=False)
    depthwise.fit(X, y)
    assert ObliviousTreeShap.from_catboost(depthwise, N_FEATURES) is None

    too_deep = CatBoostRegressor(iterations=3, depth=MAX_DEPTH + 1, verbose=False).fit(X, y)
    assert ObliviousTreeShap.from_catboost(too_deep, N_FEATURES) is None

    frame_rows = [
        [f"c{int(v) % 3}", float(x)] for v, x in zip(np.nan_to_num(X[:, 2]), X[:, 0], strict=True)
    ]
    categorical = CatBoostRegressor(iterations=20, depth=3, verbose=False, cat_features=[0])
    categorical.fit(frame_rows, y)
    assert ObliviousTreeShap.from_catboost(categorical, 2) is None


def test_candidate_falls_back_to_catboost_for_other_trees() -> None:
    """A booster the tables refuse still gets exact SHAP values, from CatBoost's own call."""
    X, y = _training_set(400, seed=2)
    X = np.nan_to_num(X)
    model = CandidateModel(feature_names=tuple(f"f{i}" for i in range(N_FEATURES)))
    model.booster_ = CatBoostRegressor(
        iterations=20, depth=3, grow_policy="Depthwise", thread_count=1, verbose=False
    ).fit(X, y)
    contributions, expected = model.shap_values(X[:20])
    reference = model.booster_.get_feature_importance(Pool(X[:20]), type="ShapValues")
    np.testing.assert_allclose(contributions, reference[:, :-1], atol=1e-12, rtol=0)
    assert expected == pytest.approx(reference[0, -1])
