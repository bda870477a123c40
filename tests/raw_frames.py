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
