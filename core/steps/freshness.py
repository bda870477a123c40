"""The freshness check's step: how many sessions the stored forecasts lag (core.monitoring
turns the figure into the alarm's metric)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from core import contracts
from core.calendar import latest_trading_day, trading_days
from core.monitoring import lag_sessions
from core.steps.context import Context
from core.steps.summaries import JsonView


@dataclass(frozen=True, eq=False)
class PredictionFreshness(JsonView):
    """The newest forecast against the latest closed session (ISO dates)."""

    latest_trading_day: str
    newest_prediction: str | None  # None: no forecast stored at all
    stale_sessions: int  # sessions after the newest forecast, up to the latest (0 = fresh)

    @property
    def fresh(self) -> bool:
        return self.stale_sessions == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "latest_trading_day": self.latest_trading_day,
            "newest_prediction": self.newest_prediction,
            "stale_sessions": self.stale_sessions,
            "fresh": self.fresh,
        }


def prediction_freshness(ctx: Context, now: pd.Timestamp | None = None) -> PredictionFreshness:
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
    return PredictionFreshness(
        latest_trading_day=latest.date().isoformat(),
        newest_prediction=newest.date().isoformat() if newest is not None else None,
        stale_sessions=int(lag),
    )
