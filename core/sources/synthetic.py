"""Offline, seeded market data that behaves like markets, for `make run`, tests and demos.

Why a model and not noise: every downstream piece (HAR-RV, VIX features, the promotion
gate) only makes sense if volatility clusters, reacts asymmetrically to losses and is
priced by VIX with a premium. White noise would make every model look the same.

Model (one trading day per step, from ``ORIGIN`` on the XNYS calendar):

* SPY total log return ``r_t = mu_s + e_t``, ``e_t = sigma_t z_t`` with standardized
  Student-t(6) ``z_t``, floored at the -20% market-wide circuit breaker, and GJR-GARCH(1,1)
  variance (the ``gamma`` term is the leverage effect: losses raise tomorrow's variance more
  than gains). A two-state Markov regime
  (calm / stress) scales the GARCH intercept, so stress episodes reach 40-80% vol, and
  gives stress a negative drift (crashes, not just wide days).
* VIX = the model's own 22-day expected volatility, times a variance-risk premium, plus
  AR(1) log noise. VIX3M uses a 63-day horizon that mean-reverts to the *calm* level plus a
  term premium: contango in calm markets, inversion in stress.
* TLT and HYG returns load on the standardized SPY shock (negative / positive) with vols
  tied to SPY's, and drift up / down in stress.
* Each ETF's log price is pulled weakly (half-life ~4 years) towards its expected-drift
  trend, a valuation anchor that keeps 26-year paths at realistic levels (SPY ~100-1000)
  without touching daily dynamics.
* OHLC from a gap + intraday range model; adjusted closes from quarterly (SPY) or monthly
  (TLT, HYG) dividends, anchored to 1 at ``ADJ_ANCHOR`` like a vendor snapshot taken then.

Determinism: the random draws for day ``i`` come from a generator keyed by
``(seed, i // BLOCK)``, and nothing is normalized over the sample, so a value at a date
depends only on the seed and the date, never on the requested range.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from core.calendar import DateLike, trading_days
from core.config import SYMBOLS
from core.sources.base import (
    RAW_COLUMNS,
    check_known,
    date_bounds,
    empty_frame,
    finalize,
    normalize_symbols,
)

log = logging.getLogger(__name__)

ORIGIN = pd.Timestamp("2000-01-03")
ADJ_ANCHOR = pd.Timestamp("2026-12-31")
BLOCK = 256
TRADING_DAYS = 252.0

# GJR-GARCH(1,1) on SPY, daily units.
ALPHA, GAMMA, BETA = 0.005, 0.19, 0.87
PHI = ALPHA + GAMMA / 2 + BETA  # persistence
T_DF = 6.0
CALM_VOL = 0.160  # annualized long-run vol in the calm regime
STRESS_OMEGA_MULT = 9.0  # stress long-run vol = CALM_VOL * 3 ~ 48%
MAX_VOL = 0.80  # ceiling on annualized conditional vol (2008 and 2020 peaked near 80-90%)
#: SPY's worst day: the market-wide circuit breaker halts trading for the day at -20%.
CIRCUIT_BREAKER = math.log(0.8)
P_ENTER_STRESS = 1 / 1000
P_EXIT_STRESS = 1 / 60
STRESS_SHARE = P_ENTER_STRESS / (P_ENTER_STRESS + P_EXIT_STRESS)  # long-run time in stress
OMEGA_CALM = CALM_VOL**2 / TRADING_DAYS * (1 - PHI)
V_CALM = OMEGA_CALM / (1 - PHI)
V_MAX = MAX_VOL**2 / TRADING_DAYS

# Annualized total-return drifts (log) by regime, and dividend yields.
SPY_MU = {0: 0.105, 1: -0.30}
TLT_MU = {0: 0.030, 1: 0.10}
HYG_MU = {0: 0.060, 1: -0.15}
DIV_YIELD = {"SPY": 0.018, "TLT": 0.030, "HYG": 0.055}
DIV_MONTHS = {"SPY": (3, 6, 9, 12), "TLT": tuple(range(1, 13)), "HYG": tuple(range(1, 13))}
ANCHOR_PULL = 1 / 1500  # daily mean reversion of log price towards its trend
START_PRICE = {"SPY": 120.0, "TLT": 80.0, "HYG": 95.0}
BASE_VOLUME = {"SPY": 8.0e7, "TLT": 1.2e7, "HYG": 1.8e7}

# Implied vol: VIX = 100 * (VRP_MULT * model vol + premium) * noise.
VRP_MULT = 1.08
VIX_PREMIUM = 0.012
VIX3M_PREMIUM = 0.028
VIX_NOISE_AR, VIX_NOISE_SD = 0.85, 0.035

# Columns of the per-day normal draws: idiosyncratic TLT/HYG returns, overnight-gap noise,
# volume noise, the VIX noise innovation; and of the exponential draws: high/low extensions.
_N_NORMAL = 11  # 0 TLT, 1 HYG | 2-4 gaps SPY/TLT/HYG | 5-7 volumes | 8 VIX noise | 9-10 VIX gaps
_N_EXP = 10  # (high, low) for SPY 0-1, TLT 2-3, HYG 4-5, VIX 6-7, VIX3M 8-9


@dataclass(frozen=True)
class _Draws:
    """All random inputs for days 0..n-1 (one row per day)."""

    z: np.ndarray  # standardized Student-t SPY shocks
    uniform: np.ndarray  # regime switching
    normal: np.ndarray  # (n, _N_NORMAL)
    exp: np.ndarray  # (n, _N_EXP)


def _draws(seed: int, n: int) -> _Draws:
    """Draws for the first ``n`` days; block-keyed so a prefix never depends on ``n``."""
    blocks = [np.random.default_rng([seed, b]) for b in range(-(-n // BLOCK))]
    scale = math.sqrt(T_DF / (T_DF - 2))
    z = np.concatenate([g.standard_t(T_DF, size=BLOCK) / scale for g in blocks])[:n]
    uniform = np.concatenate([g.random(BLOCK) for g in blocks])[:n]
    normal = np.concatenate([g.standard_normal((BLOCK, _N_NORMAL)) for g in blocks])[:n]
    expo = np.concatenate([g.standard_exponential((BLOCK, _N_EXP)) for g in blocks])[:n]
    return _Draws(z=z, uniform=uniform, normal=normal, exp=expo)


def _garch(z: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regime path, today's variance ``sigma2_t`` and tomorrow's ``sigma2_{t+1}``.

    A scalar loop: the recursion is inherently sequential, and ~7,000 float steps take a
    few milliseconds.
    """
    n = len(z)
    regime = np.empty(n, dtype=np.int8)
    sig2 = np.empty(n)
    sig2_next = np.empty(n)
    state, s2 = 0, V_CALM
    for i, (zi, ui) in enumerate(zip(z.tolist(), uniform.tolist(), strict=True)):
        if state == 0 and ui < P_ENTER_STRESS:
            state = 1
        elif state == 1 and ui < P_EXIT_STRESS:
            state = 0
        regime[i], sig2[i] = state, s2
        e = math.sqrt(s2) * zi
        omega = OMEGA_CALM * (STRESS_OMEGA_MULT if state else 1.0)
        s2 = min(omega + (ALPHA + (GAMMA if e < 0 else 0.0)) * e * e + BETA * s2, V_MAX)
        sig2_next[i] = s2
    return regime, sig2, sig2_next


def _term_vol(sig2_next: np.ndarray, long_run: np.ndarray, horizon: int) -> np.ndarray:
    """Annualized mean expected GARCH vol over the next ``horizon`` days."""
    weight = (1 - PHI**horizon) / (horizon * (1 - PHI))
    return np.sqrt(TRADING_DAYS * (long_run + (sig2_next - long_run) * weight))


def _ex_dividend_days(days: pd.DatetimeIndex, months: Sequence[int]) -> np.ndarray:
    """Bool per day: first session on/after the 15th of each dividend month."""
    frame = pd.DataFrame({"day": days})
    eligible = frame["day"].dt.month.isin(months) & (frame["day"].dt.day >= 15)
    first = frame.loc[eligible].groupby(frame["day"].dt.to_period("M"))["day"].transform("min")
    return frame["day"].isin(first).to_numpy()


@cache
def _anchor_ex_counts() -> dict[str, int]:
    """Number of ex-dividend days from ORIGIN to ADJ_ANCHOR, per symbol (fixed)."""
    days = trading_days(ORIGIN, ADJ_ANCHOR)
    return {sym: int(_ex_dividend_days(days, m).sum()) for sym, m in DIV_MONTHS.items()}


def _ohlc(
    close: np.ndarray,
    prev_close: np.ndarray,
    sigma: np.ndarray,
    gap_share: float,
    gap_noise: np.ndarray,
    exp_hi: np.ndarray,
    exp_lo: np.ndarray,
    range_scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open, high, low around a close path: an overnight gap then an intraday range.

    High/low extend beyond the open-close body by exponential amounts proportional to the
    day's vol, so ``high >= max(open, close)`` and ``low <= min(open, close)`` by design.
    """
    move = np.log(close / prev_close)
    opn = prev_close * np.exp(gap_share * move + 0.25 * sigma * gap_noise)
    high = np.maximum(opn, close) * np.exp(range_scale * sigma * exp_hi)
    low = np.minimum(opn, close) * np.exp(-range_scale * sigma * exp_lo)
    return opn, high, low


def _ar1(shocks: np.ndarray, coef: float) -> np.ndarray:
    """``y_t = coef * y_{t-1} + shocks_t`` from ``y_{-1} = 0``.

    A scalar loop rather than ``scipy.signal.lfilter``: importing scipy.signal costs ~2 s,
    the loop ~2 ms.
    """
    out = np.empty(len(shocks))
    y = 0.0
    for i, x in enumerate(shocks.tolist()):
        y = coef * y + x
        out[i] = y
    return out


def _anchored(price_ret: np.ndarray, trend: float) -> np.ndarray:
    """Cumulative log price: ``trend * t`` plus an AR(1) deviation fed by ``price_ret - trend``.

    Equivalent to adding ``-ANCHOR_PULL * deviation_{t-1}`` to each day's return.
    """
    deviation = _ar1(price_ret - trend, 1.0 - ANCHOR_PULL)
    return trend * np.arange(1, len(price_ret) + 1) + deviation


def _frame(sym: str, days: pd.DatetimeIndex, *columns: np.ndarray) -> pd.DataFrame:
    data = dict(zip(RAW_COLUMNS[2:], columns, strict=True))
    return pd.DataFrame({"symbol": sym, "date": days, **data})


def _prev(values: np.ndarray, first: float) -> np.ndarray:
    return np.concatenate([[first], values[:-1]])


@lru_cache(maxsize=8)
def _simulate(seed: int, n: int) -> pd.DataFrame:
    """The first ``n`` XNYS days from ORIGIN for all five symbols (long frame, cached)."""
    days = trading_days(ORIGIN, ORIGIN + pd.Timedelta(days=int(n * 1.6) + 30))[:n]
    if len(days) < n:
        raise ValueError(f"the XNYS calendar has fewer than {n} sessions after {ORIGIN.date()}")
    d = _draws(seed, n)
    nrm, ex = d.normal, d.exp
    regime, sig2, sig2_next = _garch(d.z, d.uniform)
    stress = regime == 1
    sigma = np.sqrt(sig2)
    shock = d.z  # standardized SPY shock, shared by TLT/HYG
    vol_ratio = sigma / math.sqrt(V_CALM)

    def drift(mu: dict[int, float]) -> np.ndarray:
        return np.where(stress, mu[1], mu[0]) / TRADING_DAYS

    tlt_sigma = 0.14 / math.sqrt(TRADING_DAYS) * vol_ratio**0.25
    hyg_sigma = 0.35 * sigma + 0.02 / math.sqrt(TRADING_DAYS)
    total_ret = {
        "SPY": np.maximum(drift(SPY_MU) + sigma * shock, CIRCUIT_BREAKER),
        "TLT": drift(TLT_MU) + tlt_sigma * (-0.35 * shock + math.sqrt(1 - 0.35**2) * nrm[:, 0]),
        "HYG": drift(HYG_MU) + hyg_sigma * (0.70 * shock + math.sqrt(1 - 0.70**2) * nrm[:, 1]),
    }
    sigmas = {"SPY": sigma, "TLT": tlt_sigma, "HYG": hyg_sigma}

    trend = {
        sym: ((1 - STRESS_SHARE) * mu[0] + STRESS_SHARE * mu[1] - DIV_YIELD[sym]) / TRADING_DAYS
        for sym, mu in (("SPY", SPY_MU), ("TLT", TLT_MU), ("HYG", HYG_MU))
    }
    out: dict[str, pd.DataFrame] = {}
    anchors = _anchor_ex_counts()
    for k, sym in enumerate(("SPY", "TLT", "HYG")):
        per_payment = DIV_YIELD[sym] / len(DIV_MONTHS[sym])
        is_ex = _ex_dividend_days(days, DIV_MONTHS[sym])
        n_ex = np.cumsum(is_ex)
        price_ret = total_ret[sym] + np.log1p(-per_payment) * is_ex
        close = START_PRICE[sym] * np.exp(_anchored(price_ret, trend[sym]))
        opn, high, low = _ohlc(
            close,
            _prev(close, START_PRICE[sym]),
            sigmas[sym],
            gap_share=0.3,
            gap_noise=nrm[:, 2 + k],
            exp_hi=ex[:, 2 * k],
            exp_lo=ex[:, 2 * k + 1],
            range_scale=0.55,
        )
        adj = close * (1 - per_payment) ** (anchors[sym] - n_ex)
        volume = np.round(BASE_VOLUME[sym] * vol_ratio**0.7 * np.exp(0.25 * nrm[:, 5 + k]))
        out[sym] = _frame(sym, days, opn, high, low, close, adj, volume)

    # Implied vols: regime-aware 22d view for VIX, calm-reverting 63d view for VIX3M.
    long_run = np.where(stress, V_CALM * STRESS_OMEGA_MULT, V_CALM)
    noise = _ar1(VIX_NOISE_SD * nrm[:, 8], VIX_NOISE_AR)
    vix = 100 * (VRP_MULT * _term_vol(sig2_next, long_run, 22) + VIX_PREMIUM) * np.exp(noise)
    vix3m_vol = _term_vol(sig2_next, np.full(n, V_CALM), 63)
    vix3m = 100 * (VRP_MULT * vix3m_vol + VIX3M_PREMIUM) * np.exp(0.7 * noise)
    for k, (sym, level) in enumerate((("VIX", vix), ("VIX3M", vix3m))):
        opn, high, low = _ohlc(
            level,
            _prev(level, level[0]),
            np.full(n, 0.04),
            gap_share=0.5,
            gap_noise=nrm[:, 9 + k],
            exp_hi=ex[:, 6 + 2 * k],
            exp_lo=ex[:, 7 + 2 * k],
            range_scale=0.8,
        )
        out[sym] = _frame(sym, days, opn, high, low, level, level, np.full(n, np.nan))

    return pd.concat(list(out.values()), ignore_index=True)


class SyntheticSource:
    """Seeded market simulator; offline and deterministic (see the module docstring)."""

    name = "synthetic"
    is_synthetic = True

    def __init__(self, seed: int = 7) -> None:
        self.seed = int(seed)

    def fetch(self, symbols: Sequence[str], start: DateLike, end: DateLike) -> pd.DataFrame:
        wanted = normalize_symbols(symbols)
        check_known(wanted, SYMBOLS, self.name)
        lo, hi = date_bounds(start, end)
        n = len(trading_days(ORIGIN, hi))
        if n == 0 or not wanted:
            return empty_frame()
        frame = _simulate(self.seed, n)
        rows = frame["symbol"].isin(wanted) & frame["date"].between(lo, hi)
        log.debug("synthetic seed=%d: %d rows for %s", self.seed, int(rows.sum()), wanted)
        return finalize(frame.loc[rows], self.name, lo, hi)

    def __repr__(self) -> str:
        return f"SyntheticSource(seed={self.seed})"
