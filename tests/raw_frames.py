"""Raw market frames (raw.market shape) for lake and step tests, derived from tests.factories."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.calendar import trading_days
from tests.factories import curated_frame


def raw_market_frame(start: str, end: str, seed: int = 0) -> pd.DataFrame:
    """All five symbols on every session in [start, end], shaped like raw.market."""
    days = trading_days(start, end)
    frame = curated_frame(len(days), seed=seed, start=str(days[0].date()))
    frame = frame.drop(columns="ret").assign(volume=np.nan)
    frame.loc[frame["symbol"].isin(["SPY", "TLT", "HYG"]), "volume"] = 1e6
    return frame.reset_index(drop=True)


def only_day(frame: pd.DataFrame, day: str) -> pd.DataFrame:
    return frame.loc[frame["date"] == pd.Timestamp(day)].reset_index(drop=True)


def write_csv_folder(raw: pd.DataFrame, folder) -> None:
    """raw.market rows as vendor exports: Yahoo CSVs for ETFs, CBOE CSVs for the indices."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, rows in raw.groupby("symbol"):
        table = rows.sort_values("date").assign(Date=rows["date"].dt.strftime("%Y-%m-%d"))
        if symbol in ("VIX", "VIX3M"):
            out = table[["Date", "open", "high", "low", "close"]]
            out.columns = ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"]
        else:
            out = table[["Date", "open", "high", "low", "close", "adj_close", "volume"]]
            out.columns = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
        out.to_csv(folder / f"{symbol}.csv", index=False, float_format="%.10g")
