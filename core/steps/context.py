"""What every step shares: the Context (settings + lake), its session range, the lake's source."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.calendar import DateLike, to_day, trading_days
from core.config import Settings
from core.lake import Lake


@dataclass(frozen=True)
class Context:
    """What every step needs: settings and the lake they point at."""

    settings: Settings
    lake: Lake

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        lake = Lake(settings.lake_uri, settings.aws_endpoint_url, settings.aws_region)
        return cls(settings, lake)


def session_range(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """XNYS sessions in [start, end]; an empty range is a caller error, said plainly."""
    days = trading_days(start, end)
    if days.empty:
        raise ValueError(
            f"no XNYS trading day between {to_day(start).date()} and {to_day(end).date()}"
        )
    return days


def lake_source(ctx: Context) -> dict:
    """Which source filled this lake ({} when empty): shown wherever forecasts are shown."""
    return ctx.lake.source()
