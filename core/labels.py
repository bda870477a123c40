"""The forecasting target: SPY realized volatility over the next five sessions.

rv_5d at t = sqrt(252/5 * sum_{i=1..5} ret_{t+i}^2), from the curated SPY ``ret``
(log adjusted-close returns). It is known only after the close of t+5, which is why
walk-forward training purges five sessions between the last label and the first test date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.definitions import ANNUALIZATION, HORIZON_SESSIONS, LABEL


def build_labels(curated: pd.DataFrame) -> pd.DataFrame:
    """``date``, ``rv_5d`` for each SPY session t whose five following returns all exist.

    Sessions are SPY's own rows in date order; the last five sessions have no label yet.
    """
    spy = curated.loc[curated["symbol"] == "SPY", ["date", "ret"]].sort_values("date")
    dates = pd.DatetimeIndex(spy["date"]).astype("datetime64[ns]")
    ret = spy["ret"].to_numpy(dtype="float64")
    n = len(ret) - HORIZON_SESSIONS
    if n <= 0:
        return pd.DataFrame(
            {"date": pd.Series(dtype="datetime64[ns]"), LABEL: pd.Series(dtype="float64")}
        )
    # Row t of the window array holds ret_{t+1} .. ret_{t+5}; each row is summed on its own.
    future_sq = np.ascontiguousarray(sliding_window_view(ret[1:] ** 2, HORIZON_SESSIONS))
    rv = np.sqrt(ANNUALIZATION / HORIZON_SESSIONS * future_sq.sum(axis=1))
    labels = pd.DataFrame({"date": dates[:n], LABEL: rv})
    return labels.loc[np.isfinite(rv)].reset_index(drop=True)
