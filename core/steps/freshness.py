"""The freshness check's step: how many sessions the stored forecasts lag (core.monitoring
turns the figure into the alarm's metric)."""

from __future__ import annotations

import pandas as pd

from core import contracts
from core.calendar import latest_trading_day, trading_days
from core.monitoring import lag_sessions
from core.steps.context import Context


def prediction_freshness(ctx: Context, now: pd.Timestamp | None = None) -> dict:
    """How many sessions the newest predictions_daily partition lags the latest closed session.

    0 means the latest closed session has its forecast. With no predictions at all, the lag
    counts every session since the configured history start: as stale as it gets.
    """
    latest = latest_trading_day(now)
    stored = ctx.lake.partitions(contracts.PREDICTIONS)
    newest = stored[-1] if stored else None
    lag = lag_sessions(newest, latest)
    if lag is None:
        lag = len(trading_days(ctx.settings.history_start, latest))
    return {
        "latest_trading_day": latest.date().isoformat(),
        "newest_prediction": newest.date().isoformat() if newest is not None else None,
        "stale_sessions": int(lag),
        "fresh": lag == 0,
    }
