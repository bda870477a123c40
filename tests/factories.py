"""Builders of plausible market frames for tests (seeded, offline, fast).

``market_frame`` is long, one row per (symbol, date) on XNYS sessions, sorted by (symbol,
date); SPY has unadjusted OHLC with quarterly dividends and a total-return ``adj_close`` (as
one download would give it); VIX/VIX3M are index levels in percent points that track SPY's
stochastic vol; TLT/HYG are vendor-adjusted (close == adj_close); ``ret`` is
log(adj_close_t / adj_close_{t-1}), NaN on each symbol's first row. ``curated_frame`` is the
same without ``adj_close``: the shape of ``curated.market_daily``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from core.calendar import trading_days

COLUMNS = ["symbol", "date", "open", "high", "low", "close", "ret", "adj_close"]
CURATED = [c for c in COLUMNS if c != "adj_close"]


def sessions(n_days: int, start: str = "2005-01-03") -> pd.DatetimeIndex:
    """The first ``n_days`` XNYS sessions from ``start`` (the calendar ends ~1 year ahead)."""
    first = pd.Timestamp(start)
    days = trading_days(first, first + pd.Timedelta(days=int(n_days * 1.5) + 10))
    if len(days) < n_days:
        raise ValueError(f"only {len(days)} sessions from {start}; start earlier")
    return days[:n_days]


def _ohlc(
    rng: np.random.Generator, close: np.ndarray, intraday: np.ndarray, spread: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open from the intraday log return ln(C/O); high/low bracket both by a random range."""
    open_ = close * np.exp(-intraday)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, spread)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, spread)))
    return open_, high, low


def symbol_frame(symbol: str, dates, open_, high, low, close, adj_close) -> pd.DataFrame:
    """One symbol's curated rows; ``ret`` from ``adj_close`` (NaN on the first row)."""
    adj = np.asarray(adj_close, dtype="float64")
    columns = {"open": open_, "high": high, "low": low, "close": close, "adj_close": adj}
    frame = pd.DataFrame({k: np.asarray(v, dtype="float64") for k, v in columns.items()})
    frame.insert(0, "symbol", symbol)
    frame.insert(1, "date", pd.DatetimeIndex(dates).astype("datetime64[ns]"))
    frame.insert(6, "ret", np.concatenate([[np.nan], np.diff(np.log(adj))]))
    return frame


def curated_frame(n_days: int, seed: int = 0, start: str = "2005-01-03") -> pd.DataFrame:
    """A random but plausible curated frame for ``n_days`` sessions of all five symbols."""
    return market_frame(n_days, seed, start).loc[:, CURATED]


def market_frame(n_days: int, seed: int = 0, start: str = "2005-01-03") -> pd.DataFrame:
    """``curated_frame`` with the adjusted close of one download next to ``ret``."""
    rng = np.random.default_rng(seed)
    dates = sessions(n_days, start)
    n = len(dates)

    # SPY: AR(1) log-vol around 1%/day, fat-ish tails, 0.4% dividends every 63 sessions.
    log_vol = np.log(0.01) + lfilter([1.0], [1.0, -0.97], rng.normal(0, 0.08, n))
    sigma = np.exp(log_vol)
    ret = sigma * rng.standard_t(6, n) / np.sqrt(1.5)
    adj = 300.0 * np.exp(np.cumsum(ret))
    ex_div = (np.arange(n) % 63) == 40
    # Adjustment ratio adj/close: 1 on the last bar, times (1 - 0.4%) before each ex-date.
    ratio = np.cumprod(np.where(ex_div, 1 - 0.004, 1.0)[::-1])[::-1]
    ratio = np.concatenate([ratio[1:], [1.0]])
    close = adj / ratio
    overnight = 0.3 * sigma * rng.normal(size=n)  # the rest of ret happens open-to-close
    spy = symbol_frame("SPY", dates, *_ohlc(rng, close, ret - overnight, 0.6 * sigma), close, adj)

    # VIX: implied vol above realized (a premium), VIX3M flatter and usually higher.
    vix = 100 * np.sqrt(252) * sigma * 1.15 * np.exp(rng.normal(0, 0.05, n))
    vix3m = vix * np.exp(0.05 - 0.3 * (log_vol - np.log(0.01)) + rng.normal(0, 0.02, n))
    frames = [spy]
    for name, level in (("VIX", vix), ("VIX3M", vix3m)):
        intraday = rng.normal(0, 0.03, n)
        frames.append(symbol_frame(name, dates, *_ohlc(rng, level, intraday, 0.03), level, level))

    for name, vol, price in (("TLT", 0.009, 100.0), ("HYG", 0.004, 80.0)):
        r = rng.normal(0, vol, n)
        level = price * np.exp(np.cumsum(r))
        intraday = 0.7 * r + 0.3 * vol * rng.normal(size=n)
        frames.append(
            symbol_frame(name, dates, *_ohlc(rng, level, intraday, 0.5 * vol), level, level)
        )

    out = pd.concat(frames, ignore_index=True)[COLUMNS]
    return out.sort_values(["symbol", "date"], ignore_index=True)
