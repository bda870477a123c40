"""What every flow shares: settings from the environment plus run parameters, the retry
policy for transient failures, and run names that carry the date."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from core import steps
from core.calendar import latest_trading_day
from core.config import Settings, settings_with
from core.transient import is_transient


def context(source: str | None = None, csv_dir: str | Path | None = None) -> steps.Context:
    """The run's settings and lake; also sends core's step lines to the run's log."""
    route_core_logs()
    return steps.Context.from_settings(settings_with(source, csv_dir))


class _InARun(logging.Filter):
    """Pass records made inside a flow or task run: only those belong to a run's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def route_core_logs() -> None:
    """core's loggers (one INFO line per step) into the flow run's log in the Prefect UI.

    Prefect attaches its API handler to the loggers named in PREFECT_LOGGING_EXTRA_LOGGERS but
    leaves their level unset, so they inherit the root logger's WARNING and every INFO line was
    dropped before reaching it: that is why `core` set there showed nothing. Here the level is
    INFO, and the handler is added when that setting did not add one (idempotent, no duplicate
    lines). Records still propagate to the console handler: the container log (CloudWatch on
    ECS) carries the same lines.
    """
    logger = logging.getLogger("core")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, APILogHandler) for h in logger.handlers):
        handler = APILogHandler()
        handler.addFilter(_InARun())
        logger.addHandler(handler)


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


def run_day() -> str:
    """The current flow run's day as its name carries it: ``day`` or ``asof`` (else the latest
    closed session), or "<start>..<end>". Titles show it beside the data's as-of day."""
    params = flow_run.parameters
    if params.get("start") or params.get("end"):
        return f"{params.get('start') or 'history'}..{params.get('end') or 'latest'}"
    return str(trading_day_or_latest(params.get("day") or params.get("asof")))


def dated_run_name(prefix: str) -> Callable[[], str]:
    """A flow_run_name callable: "<prefix>-<day>" or "<prefix>-<start>..<end>"."""

    def name() -> str:
        return f"{prefix}-{run_day()}"

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
