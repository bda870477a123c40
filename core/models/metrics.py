"""Forecast losses and tests for annualized-volatility forecasts (pure numpy).

Losses are computed on VARIANCE (s2 = realized_vol**2, h = forecast_vol**2) because QLIKE and
MSE on variance are the two common losses that rank forecasts correctly when the realized
measure is only a noisy, unbiased proxy of the true variance (Patton 2011). RMSE on vol is
reported for readability only: it is not robust in that sense.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

# rv_5d labels overlap by 4 days (MA(4) loss differentials): the HAC window must be >= 5.
MIN_DM_LAGS = 5


def _positive(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise ValueError(f"{name} must be finite and strictly positive")
    return arr


def _pair(realized_vol: ArrayLike, forecast_vol: ArrayLike) -> tuple[NDArray, NDArray]:
    s2 = _positive("realized_vol", realized_vol) ** 2
    h = _positive("forecast_vol", forecast_vol) ** 2
    if s2.shape != h.shape:
        raise ValueError(f"length mismatch: realized {s2.size} vs forecast {h.size}")
    return s2, h


def qlike_loss(realized_vol: ArrayLike, forecast_vol: ArrayLike) -> NDArray[np.float64]:
    """Per-observation QLIKE on variance: s2/h - log(s2/h) - 1 (>= 0, 0 iff h == s2)."""
    s2, h = _pair(realized_vol, forecast_vol)
    ratio = s2 / h
    return ratio - np.log(ratio) - 1.0


def squared_error_variance(realized_vol: ArrayLike, forecast_vol: ArrayLike) -> NDArray[np.float64]:
    """Per-observation squared error on variance: (s2 - h)**2."""
    s2, h = _pair(realized_vol, forecast_vol)
    return (s2 - h) ** 2


def qlike(realized_vol: ArrayLike, forecast_vol: ArrayLike) -> float:
    """Mean QLIKE on variance."""
    return float(np.mean(qlike_loss(realized_vol, forecast_vol)))


def rmse_variance(realized_vol: ArrayLike, forecast_vol: ArrayLike) -> float:
    """Root mean squared error on variance (annualized variance units)."""
    return float(np.sqrt(np.mean(squared_error_variance(realized_vol, forecast_vol))))


def rmse_vol(realized_vol: ArrayLike, forecast_vol: ArrayLike) -> float:
    """Root mean squared error on annualized vol (readability only, not proxy-robust)."""
    rv = _positive("realized_vol", realized_vol)
    fv = _positive("forecast_vol", forecast_vol)
    if rv.shape != fv.shape:
        raise ValueError(f"length mismatch: realized {rv.size} vs forecast {fv.size}")
    return float(np.sqrt(np.mean((rv - fv) ** 2)))


def default_dm_lags(n: int) -> int:
    """Newey-West (1994) rule floor(4 (n/100)^(2/9)), but never below MIN_DM_LAGS.

    The overlap of 5-day labels alone needs 4 lags; volatility clustering makes loss
    differentials persistent beyond that, so the data-dependent rule is used when larger.
    """
    return max(MIN_DM_LAGS, math.floor(4.0 * (max(n, 1) / 100.0) ** (2.0 / 9.0)))


def newey_west_variance(x: ArrayLike, lags: int) -> float:
    """HAC long-run variance of a series' mean component, Bartlett weights 1 - k/(lags+1).

    gamma_k = (1/n) sum_{t>=k} e_t e_{t-k} with e = x - mean(x); returns
    gamma_0 + 2 sum_{k=1..lags} w_k gamma_k (non-negative by construction of the kernel).
    """
    if lags < 0:
        raise ValueError("lags must be >= 0")
    arr = np.asarray(x, dtype=np.float64).ravel()
    n = arr.size
    e = arr - arr.mean()
    lrv = float(e @ e) / n
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1.0)) * float(e[k:] @ e[:-k]) / n
    return max(lrv, 0.0)


def diebold_mariano(
    loss_a: ArrayLike, loss_b: ArrayLike, lags: int | None = None
) -> tuple[float, float]:
    """Diebold-Mariano test of equal expected loss; returns (stat, two-sided normal p-value).

    d = loss_a - loss_b; stat = mean(d) / sqrt(HAC_var(d) / n). A negative stat means A has
    the lower loss. ``lags`` defaults to ``default_dm_lags(n)`` (>= 5 for overlapping labels).
    A zero HAC variance (e.g. identical losses) gives (0.0, 1.0) when mean(d) == 0, and an
    infinite stat with p = 0.0 otherwise, never NaN.
    """
    a = np.asarray(loss_a, dtype=np.float64).ravel()
    b = np.asarray(loss_b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError("loss_a and loss_b need the same length >= 2")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("losses must be finite")
    d = a - b
    n = d.size
    lags = default_dm_lags(n) if lags is None else lags
    mean = float(d.mean())
    var = newey_west_variance(d, lags) / n
    scale = max(1.0, float(np.max(np.abs(d))))
    if var <= (1e-15 * scale) ** 2:
        if abs(mean) <= 1e-15 * scale:
            return 0.0, 1.0
        return math.copysign(math.inf, mean), 0.0
    stat = mean / math.sqrt(var)
    return stat, math.erfc(abs(stat) / math.sqrt(2.0))


def mincer_zarnowitz(realized_var: ArrayLike, forecast_var: ArrayLike) -> tuple[float, float]:
    """OLS of realized variance on forecast variance: (intercept, slope); ideal is (0, 1)."""
    y = np.asarray(realized_var, dtype=np.float64).ravel()
    x = np.asarray(forecast_var, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError("need two arrays of the same length >= 2")
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(coef[0]), float(coef[1])


def improvement(candidate_loss: float, reference_loss: float) -> float:
    """Relative loss reduction 1 - candidate/reference (positive = candidate better)."""
    if reference_loss <= 0.0:
        raise ValueError("reference_loss must be > 0")
    return 1.0 - candidate_loss / reference_loss
