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

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Self

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
#: The file a saved linear model (the HAR-X(VIX) champion) lives in.
LINEAR_MODEL_FILE = "linear_model.json"
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

    As a served model (the HAR-X(VIX) champion, core.models.servable) it explains itself
    exactly: the forecast before the clip is linear in the design, so its SHAP values are
    ``coef_j * (design_j - training mean_j)`` (Lundberg & Lee 2017, linear models with
    independent features; what ``shap.LinearExplainer`` gives with the training design as
    background). ``raw_prediction`` is that linear forecast (log variance, smearing included,
    in log space; variance in variance space) and ``vol_from_raw`` applies the exponential and
    the clip, so ``expected_value + sum(SHAP) == raw_prediction`` holds exactly.
    """

    name: str
    columns: tuple[str, ...]
    space: Literal["variance", "log"] = "variance"
    intercept_: float = field(default=float("nan"), init=False)
    coef_: NDArray[np.float64] = field(default_factory=lambda: np.empty(0), init=False)
    smearing_: float = field(default=1.0, init=False)
    var_min_: float = field(default=VAR_FLOOR, init=False)
    var_max_: float = field(default=float("inf"), init=False)
    #: Mean of each design column over the training rows (the SHAP background).
    design_means_: NDArray[np.float64] = field(default_factory=lambda: np.empty(0), init=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns the model reads, in design order (one regressor each)."""
        return self.columns

    def _design(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        if not isinstance(X, pd.DataFrame):
            vols = np.atleast_2d(np.asarray(X, dtype=np.float64))
            if vols.shape[1] != len(self.columns):
                raise ValueError(f"{self.name}: numpy input needs columns {self.columns}")
            return self.design_matrix(vols)
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
        self.design_means_ = x.mean(axis=0)
        if self.space == "log":
            resid = y - design @ beta
            self.smearing_ = float(np.mean(np.exp(resid)))
        return self

    def _check_fitted(self) -> None:
        if np.isnan(self.intercept_):
            raise RuntimeError(f"{self.name} is not fitted")

    def raw_from_design(self, design: NDArray[np.float64]) -> NDArray[np.float64]:
        """The linear forecast before the clip: log variance (smearing included) in log space,
        variance in variance space. Shape (n,)."""
        self._check_fitted()
        fitted = self.intercept_ + design @ self.coef_
        if self.space == "log":
            fitted = fitted + np.log(self.smearing_)
        return fitted

    def variance_from_raw(self, raw: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Forecast variance (annualized) from ``raw_from_design``: exp in log space, then the
        clip to the training range."""
        raw = np.asarray(raw, dtype=np.float64)
        variance = np.exp(raw) if self.space == "log" else raw
        return np.clip(variance, self.var_min_, self.var_max_)

    def variance_from_design(self, design: NDArray[np.float64]) -> NDArray[np.float64]:
        """Forecast variance from ``design_matrix`` output (the numpy hot path)."""
        return self.variance_from_raw(self.raw_from_design(design))

    def predict_variance(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        return self.variance_from_design(self._design(X))

    def predict(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        """Forecast annualized vol, shape (n,): a frame with ``columns``, or an (n, k) array of
        their values in ``columns`` order."""
        return np.sqrt(self.predict_variance(X))

    predict_vol = predict

    # -- the served-model interface (core.models.servable) ----------------------------------
    def raw_prediction(self, X: pd.DataFrame | NDArray[np.float64]) -> NDArray[np.float64]:
        """The forecast in the space its SHAP values add up in (see the class docstring)."""
        return self.raw_from_design(self._design(X))

    def vol_from_raw(self, raw: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """Annualized vol from raw predictions (e.g. expected value + the sum of SHAP values)."""
        return np.sqrt(self.variance_from_raw(raw))

    def linear_shap(self, design: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
        """(contributions[n, len(columns)], expected value) of ``raw_from_design``: exact.

        ``coef_j * (design_j - design_means_j)``; the expected value is the raw forecast at the
        training means, so rows sum with it to the raw forecast.
        """
        self._check_fitted()
        contributions = (np.atleast_2d(design) - self.design_means_) * self.coef_
        expected = float(self.raw_from_design(self.design_means_[None, :])[0])
        return contributions, expected

    def shap_values(
        self, X: pd.DataFrame | NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float]:
        """(contributions[n, len(columns)], expected value) in raw space, one column per
        feature of ``feature_names`` (each regressor is one feature)."""
        return self.linear_shap(self._design(X))

    def prepare_serving(self) -> None:
        """Nothing to precompute: a row costs one dot product."""
        self._check_fitted()

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-ready values (``from_dict`` reads them back exactly)."""
        self._check_fitted()
        return {
            "name": self.name,
            "columns": list(self.columns),
            "space": self.space,
            "intercept": self.intercept_,
            "coef": [float(c) for c in self.coef_],
            "smearing": self.smearing_,
            "var_min": self.var_min_,
            "var_max": self.var_max_,
            "means": [float(m) for m in self.design_means_],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LinearVarianceModel:
        """A fitted model from ``to_dict`` output (floats round-trip exactly through JSON)."""
        model = cls(str(values.get("name", "offset")), tuple(values["columns"]), values["space"])
        model.intercept_ = float(values["intercept"])
        model.coef_ = np.asarray(values["coef"], dtype=np.float64)
        model.smearing_ = float(values["smearing"])
        model.var_min_, model.var_max_ = float(values["var_min"]), float(values["var_max"])
        model.design_means_ = np.asarray(values["means"], dtype=np.float64)
        return model

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``LINEAR_MODEL_FILE`` (``to_dict`` as JSON) into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        path = out / LINEAR_MODEL_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return [path]

    @classmethod
    def load(cls, folder: str | Path, thread_count: int = 1) -> LinearVarianceModel:
        """Read a model ``save`` wrote (``thread_count`` is accepted for a common signature)."""
        return cls.from_dict(json.loads((Path(folder) / LINEAR_MODEL_FILE).read_text()))


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
