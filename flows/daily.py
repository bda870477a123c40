"""The evening chain: ingest -> features -> infer -> macro, as flows; `daily` runs the chain
core.steps.daily composes, each step as this module's task.

A task that fails (after its retries, for transient errors) fails its flow, and nothing after
it runs: a contract violation in ingest leaves features and predictions untouched.
"""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger
from prefect.states import Completed

from core import steps
from core.calendar import day_range, is_trading_day
from flows import artifacts, tasks
from flows.runtime import context, trading_day_or_latest, volcast_flow


@volcast_flow("ingest")
def ingest(
    day: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source: str | None = None,
    csv_dir: str | None = None,
) -> dict:
    """Raw daily bars into raw.market (immutable partitions); ``source="fred"``: FRED vintages
    into raw.macro and curated.macro_release_aligned.

    Args:
        day: The XNYS trading day to run, as YYYY-MM-DD; null = the latest closed session
            (the run's name carries the day).
        start: First session of a range (YYYY-MM-DD), instead of day; null = the latest
            closed session.
        end: Last session of a range (YYYY-MM-DD), instead of day; null = the latest closed
            session.
        source: Market data source, synthetic | csv | yahoo, or fred for the FRED macro
            series (needs the worker's VOLCAST_FRED_API_KEY); null = the worker's
            VOLCAST_SOURCE. A lake holds one market source's data: another is refused.
        csv_dir: Folder of per-symbol CSV files on the worker, for source csv; null = the
            worker's VOLCAST_CSV_DIR.
    """
    lo, hi = day_range(day, start, end)
    if source == steps.MACRO_SOURCE:
        return tasks.macro(context(), lo, hi, required=True).to_dict()
    return tasks.ingest(context(source, csv_dir), lo, hi).to_dict()


@volcast_flow("features")
def features(
    day: dt.date | None = None, start: dt.date | None = None, end: dt.date | None = None
) -> list[dict]:
    """Curated bars, features and the labels that became known, from stored raw bars.

    Args:
        day: The XNYS trading day to run, as YYYY-MM-DD; null = the latest closed session
            (the run's name carries the day).
        start: First session of a range (YYYY-MM-DD), instead of day; null = the latest
            closed session.
        end: Last session of a range (YYYY-MM-DD), instead of day; null = the latest closed
            session.
    """
    lo, hi = day_range(day, start, end)
    ctx = context()
    return steps.as_dicts([derive(ctx, lo, hi) for derive in tasks.DERIVED])


@volcast_flow("infer")
def infer(
    day: dt.date | None = None, start: dt.date | None = None, end: dt.date | None = None
) -> dict:
    """predictions_daily with the serving model; publishes the newest day's forecast.

    Args:
        day: The XNYS trading day to run, as YYYY-MM-DD; null = the latest closed session
            (the run's name carries the day).
        start: First session of a range (YYYY-MM-DD), instead of day; null = the latest
            closed session.
        end: Last session of a range (YYYY-MM-DD), instead of day; null = the latest closed
            session.
    """
    lo, hi = day_range(day, start, end)
    ctx = context()
    summary = tasks.infer(ctx, lo, hi)
    artifacts.publish_forecast(tasks.forecast(ctx, hi))
    return summary.to_dict()


@volcast_flow("daily")
def daily(day: dt.date | None = None, source: str | None = None, csv_dir: str | None = None):
    """One evening for one trading day: ingest, curate, features, labels, the first champion
    when nothing serves yet, the forecast, then macro (FRED; skipped without a key).

    Args:
        day: The XNYS trading day to run, as YYYY-MM-DD; null = the latest closed session
            (the run's name carries the day).
        source: Market data source, synthetic | csv | yahoo; null = the worker's
            VOLCAST_SOURCE. A lake holds one source's data: another source is refused.
        csv_dir: Folder of per-symbol CSV files on the worker, for source csv; null = the
            worker's VOLCAST_CSV_DIR.
    """
    day = trading_day_or_latest(day)
    if not is_trading_day(day):
        message = f"{day} is not an XNYS trading day: nothing to ingest, nothing to forecast"
        get_run_logger().info(message)
        return Completed(message=message, data={"day": day.isoformat(), "skipped": message})
    ctx = context(source, csv_dir)
    return steps.as_dicts(steps.daily(ctx, day, run=TASK_STEPS))


def _infer_and_publish(
    ctx: steps.Context, start: dt.date, end: dt.date, version: str | None
) -> steps.Summary:
    """The infer task, then the forecast artifact (before macro: it never waits on FRED)."""
    summary = tasks.infer(ctx, start, end, version)
    artifacts.publish_forecast(tasks.forecast(ctx, end))
    return summary


#: The evening's steps as this flow's tasks; core.steps.daily chains them.
TASK_STEPS = steps.EveningSteps(
    ingest=tasks.ingest,
    derived=tasks.DERIVED,
    serving_version=tasks.serving_version,
    first_champion=tasks.first_champion,
    infer=_infer_and_publish,
    macro=tasks.macro,
)
