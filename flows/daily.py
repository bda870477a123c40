"""The evening chain: ingest -> features -> infer -> macro, as flows and chained in `daily`.

A task that fails (after its retries, for transient errors) fails its flow, and nothing after
it runs: a contract violation in ingest leaves features and predictions untouched.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.states import Completed

from core.calendar import is_trading_day
from core.steps import MACRO_SOURCE
from flows import artifacts, tasks
from flows.alerting import ALERT_HOOKS
from flows.runtime import context, dated_run_name, day_range, trading_day_or_latest


@flow(
    name="ingest",
    flow_run_name=dated_run_name("ingest"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
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
    if source == MACRO_SOURCE:
        return tasks.macro(context(), lo, hi, required=True)
    return tasks.ingest(context(source, csv_dir), lo, hi)


@flow(
    name="features",
    flow_run_name=dated_run_name("features"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
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
    return [tasks.curate(ctx, lo, hi), tasks.features(ctx, lo, hi), tasks.labels(ctx, lo, hi)]


@flow(
    name="infer",
    flow_run_name=dated_run_name("infer"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
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
    return summary


@flow(
    name="daily",
    flow_run_name=dated_run_name("daily"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
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
    summaries = [
        tasks.ingest(ctx, day, day),
        tasks.curate(ctx, day, day),
        tasks.features(ctx, day, day),
        tasks.labels(ctx, day, day),
    ]
    if tasks.serving_version(ctx) is None:
        summaries.append(tasks.first_champion(ctx, day))
    if tasks.serving_version(ctx) is None:
        get_run_logger().warning("no model serves yet: features written, no forecast")
        summaries.append({"step": "infer", "skipped": "no model serves yet"})
    else:
        summaries.append(tasks.infer(ctx, day, day))
        artifacts.publish_forecast(tasks.forecast(ctx, day))
    # Last: optional macro data (skipped without a FRED key) never holds the forecast back.
    summaries.append(tasks.macro(ctx, day, day))
    return summaries
