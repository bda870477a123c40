"""Reference forecasts of next-5-day annualized vol: HAR-RV, HAR-X(VIX), EWMA, recalibrated VIX.

Every model maps a feature frame to strictly positive annualized vol and is fitted on the same
training window as the candidate (walk_forward passes them identical rows).

Choices, with the evidence (SPY, walk-forward 2012-01-03..2026-07, weekly refits, 3658 rows):

- Insanity filter: every linear forecast of variance is clipped to [min, max] of the training
  target variance (Swanson & White 1997; Bollerslev, Patton & Quaedvlieg 2016). Without it,
  level HAR-X forecast NEGATIVE variance after April 2025 (floored: QLIKE 19.3) and the level
  VIX regression did so 92 times (QLIKE 38.0). The filter never looks at test data.
- HAR-X(VIX), the gate's reference, is OLS on log variance with Duan smearing, clipped:
  QLIKE 0.395 / RMSE var 0.0634, against 0.443 / 0.0662 for the best level variant. It is the
  stronger of the two standard forms on both gate losses, so the gate compares against it.
- HAR-RV stays in levels (Corsi 2009 as published): QLIKE 0.486 / RMSE 0.0688 vs 0.495 / 0.0696
  in logs (the 1-day squared return is often ~0, which hurts the log form).
- VIX recalibration in logs: QLIKE 0.397 / RMSE 0.0661 vs 0.802 / 0.0684 in levels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

# Variance floor (annualized): vol 0.1%. Keeps every forecast strictly positive, so QLIKE
# stays finite, without touching any realistic forecast (SPY vol has never been near it).
VAR_FLOOR = 1e-6
# Floor for log-space regressors: a zero daily return would give log(0); vol 1% is below any
# SPY 5-day realized vol in the sample but keeps the design matrix free of extreme values.
LOG_REGRESSOR_FLOOR = 1e-4

HAR_COLUMNS: tuple[str, ...] = ("rv_cc_1d", "rv_cc_5d", "rv_cc_22d")
EWMA_COLUMN = "rv_ewma_094"


class VolModel(Protocol):
    """What walk_forward needs from a model: a name, fit on vol labels, predict vol."""

    name: str

    def fit(self, X: pd.DataFrame, y_vol: NDArray[np.float64]) -> Self: ...

    def predict(self, X: pd.DataFrame) -> NDArray[np.float64]: ...


def _vol_target(y_vol: NDArray[np.float64] | pd.Series) -> NDArray[np.float64]:
    y = np.asarray(y_vol, dtype=np.float64).ravel()
    if not np.all(np.isfinite(y)) or np.any(y <= 0.0):
        raise ValueError("y_vol must be finite and strictly positive")
    return y


@dataclass
class LinearVarianceModel:
    """OLS of next-5d variance on squared vol columns (with intercept).

    space="variance": rv_5d^2 = a + sum b_j x_j^2 (the standard HAR / HAR-X).
    space="log": log rv_5d^2 = a + sum b_j log x_j^2, mapped back with Duan's smearing factor
    mean(exp(residual)) so the forecast targets E[variance], not its geometric mean.
    Forecasts are clipped to the training range of rv_5d^2 (the insanity filter).
    """

    name: str
    columns: tuple[str, ...]
    space: Literal["variance", "log"] = "variance"
    intercept_: float = field(default=float("nan"), init=False)
    coef_: NDArray[np.float64] = field(default_factory=lambda: np.empty(0), init=False)
    smearing_: float = field(default=1.0, init=False)
    var_min_: float = field(default=VAR_FLOOR, init=False)
    var_max_: float = field(default=float("inf"), init=False)

    def _design(self, X: pd.DataFrame) -> NDArray[np.float64]:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise KeyError(f"{self.name}: missing feature columns {missing}")
        return self.design_matrix(X.loc[:, list(self.columns)].to_numpy(dtype=np.float64))

    def design_matrix(self, vols: NDArray[np.float64]) -> NDArray[np.float64]:
        """Regressors from a (n, len(columns)) array of vols: squared, logged in log space."""
        var = np.asarray(vols, dtype=np.float64) ** 2
        if self.space == "log":
            return np.log(np.maximum(var, LOG_REGRESSOR_FLOOR))
        return var

    def fit(self, X: pd.DataFrame, y_vol: NDArray[np.float64]) -> Self:
        y = _vol_target(y_vol) ** 2
        self.var_min_ = max(float(np.min(y)), VAR_FLOOR)
        self.var_max_ = float(np.max(y))
        if self.space == "log":
            y = np.log(y)
        x = self._design(X)
        design = np.column_stack([np.ones(len(x)), x])
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        self.intercept_, self.coef_ = float(beta[0]), beta[1:]
        if self.space == "log":
            resid = y - design @ beta
            self.smearing_ = float(np.mean(np.exp(resid)))
        return self

    def predict_variance(self, X: pd.DataFrame) -> NDArray[np.float64]:
        return self.variance_from_design(self._design(X))

    def variance_from_design(self, design: NDArray[np.float64]) -> NDArray[np.float64]:
        """Forecast variance from ``design_matrix`` output (the numpy hot path)."""
        if np.isnan(self.intercept_):
            raise RuntimeError(f"{self.name} is not fitted")
        fitted = self.intercept_ + design @ self.coef_
        if self.space == "log":
            fitted = np.exp(fitted) * self.smearing_
        return np.clip(fitted, self.var_min_, self.var_max_)

    def predict(self, X: pd.DataFrame) -> NDArray[np.float64]:
        return np.sqrt(self.predict_variance(X))


def har_rv(space: Literal["variance", "log"] = "variance") -> LinearVarianceModel:
    """HAR-RV (Corsi 2009): daily, weekly, monthly close-to-close variance components."""
    return LinearVarianceModel("har_rv", HAR_COLUMNS, space)


def harx_vix(space: Literal["variance", "log"] = "log") -> LinearVarianceModel:
    """HAR-X(VIX): HAR-RV plus VIX^2 (log form by default, see the module docstring)."""
    return LinearVarianceModel("harx_vix", (*HAR_COLUMNS, "vix"), space)


def vix_recalibrated(space: Literal["variance", "log"] = "log") -> LinearVarianceModel:
    """VIX^2 regressed onto realized variance: corrects the variance risk premium."""
    return LinearVarianceModel("vix_recal", ("vix",), space)


@dataclass
class EwmaBaseline:
    """RiskMetrics EWMA(0.94) vol taken as the forecast as-is: nothing is fitted.

    The feature ``rv_ewma_094`` is already an annualized daily vol; under EWMA the forecast of
    every future day's variance equals today's, so the 5-day average equals it too.
    """

    name: str = "ewma_094"
    column: str = EWMA_COLUMN

    def fit(self, X: pd.DataFrame, y_vol: NDArray[np.float64]) -> Self:
        return self

    def predict(self, X: pd.DataFrame) -> NDArray[np.float64]:
        if self.column not in X.columns:
            raise KeyError(f"{self.name}: missing feature column {self.column}")
        var = X[self.column].to_numpy(dtype=np.float64) ** 2
        return np.sqrt(np.maximum(var, VAR_FLOOR))


def baseline_factories() -> dict[str, Callable[[], VolModel]]:
    """Factories (zero-argument callables) for every baseline, keyed by model name."""
    return {
        "har_rv": har_rv,
        "harx_vix": harx_vix,
        "ewma_094": EwmaBaseline,
        "vix_recal": vix_recalibrated,
    }
