"""A download -> raw.market rows -> curated.market_daily: each day's return from one download.

Why returns are taken inside one download. Vendors (Yahoo, TradingView) anchor adjusted
closes on the latest bar of each download, so a dividend rescales every earlier adjusted close.
The ratio of two adjusted closes is right only when both come from the same download: the
adjusted close of t-1 stored yesterday and the one of t downloaded today straddle an ex-date
without its dividend (SPY 2024-03-15: -0.00999 instead of -0.00689). So the ingest step
downloads the previous session too and stores, with each bar, its total log return

    ret_t = log(adj_close_t / adj_close_{t-1}),  both from the same download,

which no later download changes (a later dividend rescales both closes by the same factor).
The adjusted level itself is not stored: it is a property of the download, not of the day.
For a file that has only adjusted prices (yfinance ``auto_adjust``, TLT/HYG in the real
folder) ``adj_close`` = ``close`` and the same ratio gives the same total return; for CBOE
indices it is the index change. See docs/data-contracts.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.calendar import trading_days

RAW_MARKET_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "ret", "volume")
CURATED_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "ret")


def download_returns(download: pd.DataFrame) -> pd.Series:
    """``log(adj_close_t / adj_close_{t-1})`` per row, both closes from ``download``.

    ``download`` is a source frame (symbol, date, ..., adj_close). The previous close must be
    the symbol's row on the previous XNYS session; a row without one (a symbol's first day,
    the first row of the download, a row after a gap) gets NaN, never a return that spans
    two sessions. Aligned on ``download``'s index.
    """
    if download.empty:
        return pd.Series(np.nan, index=download.index, dtype="float64")
    frame = download.sort_values(["symbol", "date"], kind="stable")
    sessions = trading_days(frame["date"].min(), frame["date"].max())
    ordinal = pd.Series(sessions.get_indexer(pd.DatetimeIndex(frame["date"])), index=frame.index)
    by_symbol = frame.groupby("symbol", sort=False)
    previous = by_symbol["adj_close"].shift(1)
    consecutive = ordinal - ordinal.groupby(frame["symbol"], sort=False).shift(1) == 1
    ret = np.log(frame["adj_close"] / previous).where(consecutive)
    return ret.reindex(download.index).astype("float64")


def raw_bars(download: pd.DataFrame) -> pd.DataFrame:
    """A source frame as raw.market rows: the adjusted close replaced by the day's ``ret``."""
    out = download.assign(ret=download_returns(download))
    return out.loc[:, list(RAW_MARKET_COLUMNS)].reset_index(drop=True)


def curate(raw: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Curated rows for dates >= ``start``: the bars and their stored returns, no volume.

    ``ret`` comes from raw.market as stored (see the module docstring): curating reads no
    earlier session, so an incremental day and a backfill give the same rows.
    """
    frame = raw.sort_values(["symbol", "date"], kind="stable")
    frame = frame.loc[frame["date"] >= start, list(CURATED_COLUMNS)]
    return frame.reset_index(drop=True)
