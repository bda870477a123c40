"""What every step shares: the Context (settings + lake), errors, and step summaries."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from core.calendar import DateLike, to_day, trading_days
from core.config import Settings
from core.lake import Lake, WriteReport

SOURCE_MARKER = "_meta/source.json"


class IngestError(RuntimeError):
    """The source did not deliver complete data for the requested days; nothing was written."""


class StaleDataError(IngestError):
    """The source has not (yet) published every requested day: a later retry may succeed."""


class NoModelError(RuntimeError):
    """No model is promoted (or pinned) yet: nothing can be scored."""


@dataclass(frozen=True)
class Context:
    """What every step needs: settings and the lake they point at."""

    settings: Settings
    lake: Lake

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        return cls(settings, Lake(settings.lake_uri, settings.aws_endpoint_url))


def session_range(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """XNYS sessions in [start, end]; an empty range is a caller error, said plainly."""
    days = trading_days(start, end)
    if days.empty:
        raise ValueError(
            f"no XNYS trading day between {to_day(start).date()} and {to_day(end).date()}"
        )
    return days


def step_summary(step: str, days: pd.DatetimeIndex, *reports: WriteReport, **extra: object) -> dict:
    """The JSON summary every step returns: its range and what each table write did."""
    return {
        "step": step,
        "start": days[0].date().isoformat(),
        "end": days[-1].date().isoformat(),
        **{r.table: r.summary() for r in reports},
        **extra,
    }


def lake_source(ctx: Context) -> dict:
    """Which source filled this lake ({} when empty): shown wherever forecasts are shown."""
    try:
        return json.loads(ctx.lake.get_bytes(SOURCE_MARKER))  # one GET, no HEAD first
    except FileNotFoundError:
        return {}
