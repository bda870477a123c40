"""raw.market -> curated.market_daily: returns from adjusted closes, on XNYS days only."""

from __future__ import annotations

import numpy as np
import pandas as pd

CURATED_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "ret", "adj_close")


def curate(raw: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Curated rows for dates >= ``start``.

    ``raw`` must reach back at least one session before ``start`` (where history exists) so
    the first day's return uses the previous adjusted close; a symbol's very first day has
    no return (NaN). Returns use adjusted closes so dividends are not losses.
    """
    frame = raw.sort_values(["symbol", "date"], kind="stable")
    previous = frame.groupby("symbol", sort=False)["adj_close"].shift(1)
    frame = frame.assign(ret=np.log(frame["adj_close"] / previous))
    frame = frame.loc[frame["date"] >= start, list(CURATED_COLUMNS)]
    return frame.reset_index(drop=True)
