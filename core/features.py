"""Daily features for date t, from curated market data up to the close of t (point-in-time).

Every feature is a function of a FINITE backward window of sessions ending at t, so row t
depends on the last ``LOOKBACK_SESSIONS`` sessions only and the incremental daily step can
read just that window. Windows are counted in rows of the session grid (the union of the
curated dates, which are XNYS sessions); a symbol missing on a date makes every window that
covers the date incomplete, and incomplete rows are dropped.

Window reductions are done on explicit numpy windows (one independent reduction per row)
rather than ``pandas.rolling``: pandas' rolling sum/var/mean are online algorithms whose
running accumulators carry floating-point residue across the whole history, so row t would
depend, in its last bits, on data older than its window. Here row t is bit-for-bit the
same whether computed from the full history or from the last ``LOOKBACK_SESSIONS``.

Units: vol-like features are annualized volatilities in decimals (0.16 = 16%); for a window
of n sessions, sqrt(252 / n * sum of the per-day variance proxy). Returns are log returns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.definitions import ANNUALIZATION, CURATED_COLUMNS, SYMBOLS

#: Truncation and decay of the EWMA feature (RiskMetrics lambda; 0.94**126 ~ 4e-4).
EWMA_LAMBDA = 0.94
EWMA_WINDOW = 126
#: Sessions of the SPY drawdown window (the prices of t-62..t: 62 returns).
DRAWDOWN_SESSIONS = 63
#: Window of the VIX percentile, the longest window of all.
PERCENTILE_WINDOW = 252

#: The number of sessions of curated history, ending at and including t, from which row t
#: is computed exactly. Equals the longest window (the 252-session VIX percentile); every
#: other input lies inside it. ``ret`` is read as stored in curated (the ratio to the previous
#: close is taken at ingest), so the window needs no extra leading session.
LOOKBACK_SESSIONS = PERCENTILE_WINDOW

_LN2 = float(np.log(2.0))

#: Feature name -> one-line description. Its key order is the output column order.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    # SPY realized volatility, close-to-close (the HAR-RV set) and longer horizons
    "rv_cc_1d": "SPY close-to-close vol, 1 session: sqrt(252 ret^2)",
    "rv_cc_5d": "SPY close-to-close vol, 5 sessions: sqrt(252/5 sum ret^2)",
    "rv_cc_22d": "SPY close-to-close vol, 22 sessions",
    "rv_cc_63d": "SPY close-to-close vol, 63 sessions",
    # Range estimators on raw OHLC (within-day ratios are adjustment-free)
    "rv_pk_1d": "SPY Parkinson vol, 1 session: ln(H/L)^2 / (4 ln 2)",
    "rv_pk_5d": "SPY Parkinson vol, 5 sessions",
    "rv_pk_22d": "SPY Parkinson vol, 22 sessions",
    "rv_gk_1d": "SPY Garman-Klass vol, 1 session: 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2",
    "rv_gk_5d": "SPY Garman-Klass vol, 5 sessions",
    "rv_gk_22d": "SPY Garman-Klass vol, 22 sessions",
    "rv_rs_1d": "SPY Rogers-Satchell vol, 1 session: ln(H/C) ln(H/O) + ln(L/C) ln(L/O)",
    "rv_rs_5d": "SPY Rogers-Satchell vol, 5 sessions",
    "rv_rs_22d": "SPY Rogers-Satchell vol, 22 sessions",
    "rv_yz_5d": "SPY Yang-Zhang vol, 5 sessions: var(overnight) + k var(open-close) + (1-k) RS",
    "rv_yz_22d": "SPY Yang-Zhang vol, 22 sessions",
    "rv_on_22d": "SPY overnight (close-to-open, dividend-corrected) vol, 22 sessions",
    "rv_ewma_094": "SPY EWMA vol, lambda 0.94, weights truncated at 126 sessions, renormalized",
    "semivol_down_5d": "SPY downside semivol, 5 sessions: sqrt(252/5 sum ret^2 [ret<0])",
    "semivol_down_22d": "SPY downside semivol, 22 sessions",
    "semivol_up_5d": "SPY upside semivol, 5 sessions: sqrt(252/5 sum ret^2 [ret>0])",
    "semivol_up_22d": "SPY upside semivol, 22 sessions",
    "rv_ratio_5_22": "log(rv_cc_5d / rv_cc_22d): short- vs medium-term vol",
    "rv_ratio_22_63": "log(rv_cc_22d / rv_cc_63d): medium- vs long-term vol",
    # Implied volatility
    "vix": "VIX close / 100 (30-day implied vol)",
    "vix3m": "VIX3M close / 100 (3-month implied vol)",
    "vix_term": "VIX / VIX3M: > 1 means an inverted (stressed) term structure",
    "vrp_22d": "vix - rv_cc_22d: variance risk premium in vol points",
    "vix_chg_1d": "log change of the VIX close over 1 session",
    "vix_chg_5d": "log change of the VIX close over 5 sessions",
    "vix_pct_252d": "share of the last 252 VIX closes (t included) <= today's close",
    # Cross-asset: rates and credit
    "tlt_ret_1d": "TLT log return, 1 session",
    "tlt_ret_5d": "TLT log return, 5 sessions",
    "tlt_rv_22d": "TLT close-to-close vol, 22 sessions",
    "hyg_ret_1d": "HYG log return, 1 session",
    "hyg_ret_5d": "HYG log return, 5 sessions",
    "hyg_ret_22d": "HYG log return, 22 sessions (credit drawdown)",
    "hyg_rv_22d": "HYG close-to-close vol, 22 sessions",
    "corr_spy_tlt_63d": "Pearson correlation of SPY and TLT daily returns, 63 sessions",
    # SPY momentum
    "spy_ret_1d": "SPY log return, 1 session",
    "spy_ret_5d": "SPY log return, 5 sessions",
    "spy_ret_22d": "SPY log return, 22 sessions",
    "spy_ret_63d": "SPY log return, 63 sessions",
    "spy_dd_63d": "SPY drawdown: log(P_t / max P over 63 sessions), P the total-return price, <= 0",
    "spy_gap_1d": "SPY overnight return ret - ln(C/O): the dividend-corrected open gap",
}

FEATURE_COLUMNS: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)

#: What a feature's number means, for people (reports, API docs): each unit's description.
UNIT_DESCRIPTIONS: dict[str, str] = {
    "vol": "annualized volatility as a decimal (0.16 = 16%)",
    "vol_points": "a difference of annualized vols as a decimal (0.02 = 2 vol points)",
    "log_return": "a log return or log change as a decimal (0.01 = about +1%)",
    "log_ratio": "the log of a ratio of two vols (0 = equal, +0.1 = about 10% higher)",
    "ratio": "a ratio (1 = equal)",
    "share": "a share between 0 and 1",
    "correlation": "a correlation between -1 and 1",
}
_UNIT_OF_GROUP: dict[str, tuple[str, ...]] = {
    "vol": (
        *(f"rv_{k}_{n}d" for k in ("cc", "pk", "gk", "rs") for n in (1, 5, 22, 63)),
        "rv_yz_5d",
        "rv_yz_22d",
        "rv_on_22d",
        "rv_ewma_094",
        *(f"semivol_{s}_{n}d" for s in ("down", "up") for n in (5, 22)),
        "vix",
        "vix3m",
        "tlt_rv_22d",
        "hyg_rv_22d",
    ),
    "vol_points": ("vrp_22d",),
    "log_return": (
        "vix_chg_1d",
        "vix_chg_5d",
        *(f"{a}_ret_{n}d" for a in ("tlt", "hyg", "spy") for n in (1, 5, 22, 63)),
        "spy_dd_63d",
        "spy_gap_1d",
    ),
    "log_ratio": ("rv_ratio_5_22", "rv_ratio_22_63"),
    "ratio": ("vix_term",),
    "share": ("vix_pct_252d",),
    "correlation": ("corr_spy_tlt_63d",),
}
#: Each unit's domain [lo, hi]: what a feature can be by definition (shares, correlations) or
#: far beyond any market history (vols: 10 = 1,000% annualized, where SPY's worst day in the data,
#: 2020-03-16 with a log return of -0.116, is a 1-session vol of 1.84; log returns: a 99.99% loss
#: is -9.2). A posted feature vector outside it is refused (core.serving): e.g. VIX sent in
#: points (15.85), not as a decimal (0.1585).
UNIT_DOMAINS: dict[str, tuple[float, float]] = {
    "vol": (0.0, 10.0),
    "vol_points": (-10.0, 10.0),
    "log_return": (-10.0, 10.0),
    "log_ratio": (-20.0, 20.0),
    "ratio": (0.0, 100.0),
    "share": (0.0, 1.0),
    "correlation": (-1.0, 1.0),
}
#: Feature name -> its unit (a key of UNIT_DESCRIPTIONS), for every feature column.
FEATURE_UNITS: dict[str, str] = {
    name: unit
    for unit, names in _UNIT_OF_GROUP.items()
    for name in names
    if name in FEATURE_DESCRIPTIONS
}


def format_feature(name: str, value: float) -> str:
    """A feature's value in its natural unit, for people: ``vix`` 0.2131 -> "21.31%",
    ``spy_ret_5d`` -0.012 -> "-1.20% (log)", ``vrp_22d`` 0.031 -> "+3.10 vol pts".
    A name without a unit (not a feature column) is shown as a plain number."""
    unit = FEATURE_UNITS.get(name)
    if unit == "vol":
        return f"{100 * value:.2f}%"
    if unit == "vol_points":
        return f"{100 * value:+.2f} vol pts"
    if unit == "log_return":
        return f"{100 * value:+.2f}% (log)"
    if unit == "share":
        return f"{100 * value:.0f}%"
    if unit in ("log_ratio", "correlation"):
        return f"{value:+.3f}"
    return f"{value:.4g}"


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    """A C-contiguous (len(x), n) array whose row t is x[t-n+1 .. t], NaN before the start.

    Contiguous rows make each row's reduction a fixed sequence of float operations that
    depends on that row's values only (see the module docstring).
    """
    padded = np.concatenate([np.full(n - 1, np.nan), x])
    return np.ascontiguousarray(sliding_window_view(padded, n))


def _wsum(x: np.ndarray, n: int) -> np.ndarray:
    """Backward n-session sum; NaN when any value in the window is NaN or missing."""
    return x.copy() if n == 1 else _windows(x, n).sum(axis=1)


def _vol(per_day_var: np.ndarray, n: int) -> np.ndarray:
    """Annualized vol from an n-session window of a per-day variance proxy."""
    return np.sqrt(ANNUALIZATION / n * _wsum(per_day_var, n))


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([np.full(k, np.nan), x])[: len(x)]


def _yang_zhang(
    overnight: np.ndarray, open_close: np.ndarray, rs: np.ndarray, n: int
) -> np.ndarray:
    """Yang-Zhang (2000) vol over n sessions: sample variances of the window, RS mean."""
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    var_on = _windows(overnight, n).var(axis=1, ddof=1)
    var_oc = _windows(open_close, n).var(axis=1, ddof=1)
    mean_rs = _wsum(rs, n) / n
    return np.sqrt(ANNUALIZATION * (var_on + k * var_oc + (1 - k) * mean_rs))


def _ewma_vol(ret: np.ndarray) -> np.ndarray:
    """EWMA vol with weights truncated at ``EWMA_WINDOW`` sessions (finite memory)."""
    weights = EWMA_LAMBDA ** np.arange(EWMA_WINDOW)[::-1]  # oldest first, like a window row
    weights /= weights.sum()
    return np.sqrt(ANNUALIZATION * (_windows(ret**2, EWMA_WINDOW) * weights).sum(axis=1))


def _drawdown(ret: np.ndarray, n: int) -> np.ndarray:
    """log(P_t / max P over the last n sessions) of a total-return price P, from returns only.

    log(P_t / P_s) is the sum of the returns after s, so the drawdown is the smallest sum of
    the last k returns, k = 0..n-1 (k = 0: P_t itself, 0). No price level is read: levels of
    adjusted closes depend on the download they came from (core.market).
    """
    tail_sums = np.cumsum(_windows(ret, n - 1)[:, ::-1], axis=1)  # last 1, 2, ... returns
    return np.minimum(tail_sums.min(axis=1), 0.0)


def _percentile(x: np.ndarray, n: int) -> np.ndarray:
    """Share of the last n values (t included) that are <= x_t; NaN if any is missing."""
    w = _windows(x, n)
    share = (w <= w[:, -1:]).mean(axis=1)
    return np.where(np.isnan(w).any(axis=1), np.nan, share)


def _corr(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    wx, wy = _windows(x, n), _windows(y, n)
    dx = wx - wx.mean(axis=1, keepdims=True)
    dy = wy - wy.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (dx * dy).sum(axis=1) / np.sqrt((dx**2).sum(axis=1) * (dy**2).sum(axis=1))


def _wide(curated: pd.DataFrame) -> pd.DataFrame:
    """(date) x (field, symbol) on the session grid: the union of the curated dates."""
    missing = [c for c in CURATED_COLUMNS if c not in curated.columns]
    if missing:
        raise ValueError(f"curated market frame lacks columns {missing}")
    fields = ["open", "high", "low", "close", "ret"]
    # pivot (not pivot_table): a duplicated (symbol, date) must fail, not be averaged.
    wide = curated.pivot(index="date", columns="symbol", values=fields)  # noqa: PD010
    full = pd.MultiIndex.from_product([fields, SYMBOLS])
    return wide.reindex(columns=full).sort_index().astype("float64")


def compute_features(curated: pd.DataFrame) -> pd.DataFrame:
    """Every feature on every session of the grid, NaN where a window is incomplete.

    ``build_features`` is this minus the incomplete rows; this form exists so that formulas
    can be checked on a few sessions, long before the 252-session warm-up ends.
    """
    wide = _wide(curated)
    if wide.empty:
        empty = {name: pd.Series(dtype="float64") for name in FEATURE_COLUMNS}
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), **empty})

    def col(field: str, symbol: str) -> np.ndarray:
        return wide[(field, symbol)].to_numpy(dtype="float64", copy=True)

    with np.errstate(invalid="ignore", divide="ignore"):
        o, h, lo, c = (col(f, "SPY") for f in ("open", "high", "low", "close"))
        ret = col("ret", "SPY")
        hl, co = np.log(h / lo), np.log(c / o)
        pk = hl**2 / (4 * _LN2)
        gk = 0.5 * hl**2 - (2 * _LN2 - 1) * co**2
        rs = np.log(h / c) * np.log(h / o) + np.log(lo / c) * np.log(lo / o)
        # ret_t = overnight_t + intraday_t holds exactly in adjusted terms, and the intraday
        # ratio C/O is adjustment-free, so this is log(O_t/C_{t-1}) scaled by the dividend
        # adjustment ratio: no fake gap on ex-dividend days, no need for adj_close_{t-1}.
        overnight = ret - co
        down, up = ret**2 * (ret < 0), ret**2 * (ret > 0)  # NaN ret stays NaN

        f: dict[str, np.ndarray] = {}
        for n in (1, 5, 22, 63):
            f[f"rv_cc_{n}d"] = _vol(ret**2, n)
        for name, proxy in (("pk", pk), ("gk", gk), ("rs", rs)):
            for n in (1, 5, 22):
                f[f"rv_{name}_{n}d"] = _vol(proxy, n)
        for n in (5, 22):
            f[f"rv_yz_{n}d"] = _yang_zhang(overnight, co, rs, n)
        f["rv_on_22d"] = _vol(overnight**2, 22)
        f["rv_ewma_094"] = _ewma_vol(ret)
        for n in (5, 22):
            f[f"semivol_down_{n}d"] = _vol(down, n)
            f[f"semivol_up_{n}d"] = _vol(up, n)
        f["rv_ratio_5_22"] = np.log(f["rv_cc_5d"] / f["rv_cc_22d"])
        f["rv_ratio_22_63"] = np.log(f["rv_cc_22d"] / f["rv_cc_63d"])

        vix_close = col("close", "VIX")
        f["vix"] = vix_close / 100
        f["vix3m"] = col("close", "VIX3M") / 100
        f["vix_term"] = f["vix"] / f["vix3m"]
        f["vrp_22d"] = f["vix"] - f["rv_cc_22d"]
        f["vix_chg_1d"] = np.log(vix_close / _lag(vix_close, 1))
        f["vix_chg_5d"] = np.log(vix_close / _lag(vix_close, 5))
        f["vix_pct_252d"] = _percentile(vix_close, PERCENTILE_WINDOW)

        tlt, hyg = col("ret", "TLT"), col("ret", "HYG")
        f["tlt_ret_1d"] = tlt
        f["tlt_ret_5d"] = _wsum(tlt, 5)
        f["tlt_rv_22d"] = _vol(tlt**2, 22)
        f["hyg_ret_1d"] = hyg
        f["hyg_ret_5d"] = _wsum(hyg, 5)
        f["hyg_ret_22d"] = _wsum(hyg, 22)
        f["hyg_rv_22d"] = _vol(hyg**2, 22)
        f["corr_spy_tlt_63d"] = _corr(ret, tlt, 63)

        for n in (1, 5, 22, 63):
            f[f"spy_ret_{n}d"] = _wsum(ret, n)
        f["spy_dd_63d"] = _drawdown(ret, DRAWDOWN_SESSIONS)
        f["spy_gap_1d"] = overnight

    out = pd.DataFrame({name: f[name] for name in FEATURE_COLUMNS}, index=wide.index)
    out.index = pd.DatetimeIndex(out.index).astype("datetime64[ns]").rename("date")
    return out.reset_index()


def build_features(curated: pd.DataFrame) -> pd.DataFrame:
    """``date`` then ``FEATURE_COLUMNS`` (float64), one row per session where all are finite.

    Warm-up sessions and sessions whose windows cover a missing symbol are dropped, so every
    row is complete and the same whichever slice of history (>= LOOKBACK_SESSIONS) produced it.
    """
    features = compute_features(curated)
    finite = np.isfinite(features[list(FEATURE_COLUMNS)].to_numpy()).all(axis=1)
    return features.loc[finite].reset_index(drop=True)


def feature_domain(name: str) -> tuple[float, float]:
    """[lo, hi] a value of feature ``name`` can take (UNIT_DOMAINS of its unit); a column that
    is not a features_daily feature has no bound: (-inf, inf)."""
    unit = FEATURE_UNITS.get(name)
    return UNIT_DOMAINS[unit] if unit is not None else (-math.inf, math.inf)
