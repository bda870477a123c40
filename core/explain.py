"""SHAP top drivers: which features pushed a forecast up or down, by how much.

Contributions are in the model's raw space (log variance for the CatBoost candidate): they add
up, with the expected value, to the raw prediction, which is what makes them explanations
rather than importances. They are CatBoost's TreeSHAP values (exact; read from per-leaf tables,
core.models.tree_shap; tests hold them to CatBoost's own call and to ``shap.TreeExplainer``)
plus the exact linear SHAP values of the HAR-X offset the trees boost from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Driver = dict[str, float | str]


class Explainable(Protocol):
    feature_names: tuple[str, ...] | None

    def shap_values(self, X: pd.DataFrame | NDArray[np.float64]) -> tuple[NDArray, float]: ...


def rank_drivers(
    names: Sequence[str], values: NDArray[np.float64], contributions: NDArray[np.float64], k: int
) -> list[list[Driver]]:
    """For each row, the ``k`` features with the largest |contribution|, largest first.

    Ties keep the feature order (stable sort), so the same input always gives the same list.
    """
    if k < 1:
        raise ValueError("top_k must be at least 1")
    values = np.atleast_2d(values)
    contributions = np.atleast_2d(contributions)
    k = min(k, len(names))
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    rows = np.arange(len(order))[:, None]
    top_values, top_shap = values[rows, order], contributions[rows, order]
    return [
        [
            {"feature": names[j], "value": float(v), "shap": float(s)}
            for j, v, s in zip(idx, vals, shaps, strict=True)
        ]
        for idx, vals, shaps in zip(order, top_values, top_shap, strict=True)
    ]


def top_drivers(model: Explainable, X: pd.DataFrame, k: int = 5) -> list[list[Driver]]:
    """Top ``k`` SHAP drivers for each row of the feature frame ``X``."""
    names = list(model.feature_names or ())
    matrix = X.loc[:, names].to_numpy(dtype=np.float64)
    contributions, _ = model.shap_values(matrix)
    return rank_drivers(names, matrix, contributions, k)


def mean_abs_shap(model: Explainable, X: pd.DataFrame) -> pd.Series:
    """Global importance: mean |SHAP| per feature over the rows of ``X``, largest first."""
    names = list(model.feature_names or ())
    contributions, _ = model.shap_values(X.loc[:, names].to_numpy(dtype=np.float64))
    return pd.Series(np.abs(contributions).mean(axis=0), index=names).sort_values(ascending=False)


def vol_effect_pct(shap: float) -> float:
    """How much one contribution moves the forecast vol, in percent of it.

    Contributions add up in log variance, so one of size s multiplies the forecast variance by
    exp(s) and the vol by exp(s / 2), the other features held where they are: the forecast is
    100 * (exp(s / 2) - 1) percent higher (negative: lower) than without it. Exact for both
    served kinds as long as the forecast stays inside its clip (HAR-X) or floor (CatBoost).
    """
    return 100.0 * float(np.expm1(0.5 * shap))
