"""Source frames (downloads) and raw.market frames for lake and step tests (tests.factories)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.calendar import trading_days
from core.market import raw_bars
from tests.factories import market_frame


def download_frame(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    """All five symbols on every session in [start, end], as a source returns them."""
    days = trading_days(start, end)
    frame = market_frame(len(days), seed=seed, start=str(days[0].date()))
    frame = frame.drop(columns="ret").assign(volume=np.nan)
    frame.loc[frame["symbol"].isin(["SPY", "TLT", "HYG"]), "volume"] = 1e6
    return frame.reset_index(drop=True)


def raw_market_frame(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    """``download_frame`` shaped like raw.market (``ret`` in place of ``adj_close``)."""
    return raw_bars(download_frame(start, end, seed))


def only_day(frame: pd.DataFrame, day: str) -> pd.DataFrame:
    return frame.loc[frame["date"] == pd.Timestamp(day)].reset_index(drop=True)


def write_csv_folder(raw: pd.DataFrame, folder, float_format: str = "%.10g") -> None:
    """A source frame as vendor exports: Yahoo CSVs for ETFs, CBOE CSVs for the indices."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, rows in raw.groupby("symbol"):
        table = rows.sort_values("date").assign(Date=rows["date"].dt.strftime("%Y-%m-%d"))
        if symbol in ("VIX", "VIX3M"):
            out = table[["Date", "open", "high", "low", "close"]]
            out.columns = ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"]
        else:
            out = table[["Date", "open", "high", "low", "close", "adj_close", "volume"]]
            out.columns = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
        out.to_csv(folder / f"{symbol}.csv", index=False, float_format=float_format)
