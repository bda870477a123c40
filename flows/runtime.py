"""What every flow shares: settings from the environment plus run parameters, the retry
policy for transient failures, and run names that carry the date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from core import steps
from core.calendar import latest_trading_day
from core.config import Settings, settings_with
from core.transient import is_transient


def context(source: str | None = None, csv_dir: str | Path | None = None) -> steps.Context:
    return steps.Context.from_settings(settings_with(source, csv_dir))


def trading_day_or_latest(day: dt.date | str | None) -> dt.date:
    """The run's day: as given, else the latest XNYS session whose close has passed."""
    if day is None:
        return latest_trading_day().date()
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry timeouts, throttling, 5xx and late data, nothing else."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def transient_retries(settings: Settings | None = None) -> dict[str, Any]:
    """Task options: exponential backoff on transient errors, no result caching (the lake
    is the record: a re-run must re-check it, not replay an old result)."""
    settings = settings or Settings()
    return {
        "retries": settings.retry_attempts,
        "retry_delay_seconds": exponential_backoff(settings.retry_backoff_seconds)(
            max(settings.retry_attempts, 1)
        ),
        "retry_condition_fn": retry_if_transient,
        "cache_policy": NO_CACHE,
    }


def dated_run_name(prefix: str) -> Callable[[], str]:
    """A flow_run_name callable: "<prefix>-<day>" or "<prefix>-<start>..<end>"."""

    def name() -> str:
        params = flow_run.parameters
        if params.get("start") or params.get("end"):
            return f"{prefix}-{params.get('start') or 'history'}..{params.get('end') or 'latest'}"
        return f"{prefix}-{trading_day_or_latest(params.get('day') or params.get('asof'))}"

    return name


def day_range(
    day: dt.date | None, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date, dt.date]:
    """A flow's [start, end]: one ``day``, or a range whose missing ends are the latest day."""
    if day is not None and (start is not None or end is not None):
        raise ValueError("pass either day or start/end, not both")
    if day is not None:
        return day, day
    latest = trading_day_or_latest(None)
    return start or latest, end or latest
