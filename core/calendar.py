"""XNYS trading days. All dates in volcast are tz-naive midnight Timestamps (datetime64[ns])."""

from __future__ import annotations

import datetime as dt
from functools import cache

import exchange_calendars as xcals
import pandas as pd

DateLike = str | dt.date | pd.Timestamp

_FIRST = "1993-01-04"


@cache
def _xnys() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("XNYS", start=_FIRST)


def to_day(value: DateLike) -> pd.Timestamp:
    """A date-like value as a tz-naive midnight Timestamp."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("America/New_York").tz_localize(None)
    return ts.normalize()


def trading_days(start: DateLike, end: DateLike) -> pd.DatetimeIndex:
    """XNYS sessions in [start, end], both ends included."""
    start, end = to_day(start), to_day(end)
    if end < start:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    cal = _xnys()
    start = max(start, cal.first_session)
    end = min(end, cal.last_session)
    sessions = cal.sessions_in_range(start, end)
    return (
        pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)
        .astype("datetime64[ns]")
        .rename(None)
    )


def is_trading_day(value: DateLike) -> bool:
    return _xnys().is_session(to_day(value))


def non_trading_days(days: pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The subset of ``days`` that are not XNYS sessions (vectorized)."""
    idx = pd.DatetimeIndex(days).normalize()
    if len(idx) == 0:
        return idx
    sessions = trading_days(idx.min(), idx.max())
    return idx[~idx.isin(sessions)]


def shift_trading_days(value: DateLike, n: int) -> pd.Timestamp:
    """The session ``n`` sessions after (n > 0) or before (n < 0) ``value``.

    ``value`` need not be a session: it is first rolled back to the previous session.
    """
    cal = _xnys()
    day = to_day(value)
    anchor = day if cal.is_session(day) else cal.date_to_session(day, direction="previous")
    return pd.Timestamp(cal.session_offset(anchor, n)).tz_localize(None).normalize()


def latest_trading_day(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The latest session whose close has passed at ``now`` (default: the current time)."""
    cal = _xnys()
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    minute = now.floor("min")
    session = cal.minute_to_past_session(minute) if not cal.is_open_on_minute(minute) else None
    if session is None:  # market open: today's close has not happened yet
        session = cal.previous_session(cal.minute_to_session(minute, direction="none"))
    close = cal.session_close(session)
    if close > minute:
        session = cal.previous_session(session)
    return pd.Timestamp(session).tz_localize(None).normalize()


def day_range(
    day: dt.date | None, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    """A run's [start, end]: one ``day``, or a range whose missing ends are the latest closed
    session (``latest_trading_day``). Raises ValueError when ``day`` comes with start or end."""
    if day is not None and (start is not None or end is not None):
        raise ValueError("pass either day or start/end, not both")
    if day is not None:
        return day, day
    latest = latest_trading_day().date()
    return start or latest, end or latest
