"""freshness_check: are the latest trading day's predictions there? (the 08:00 alarm's figure)"""

from __future__ import annotations

from prefect import get_run_logger

from core.monitoring import freshness_metric, print_emf
from flows import tasks
from flows.runtime import context, dated_run_name, volcast_flow


class PredictionsStale(RuntimeError):
    """The latest closed session has no forecast."""


@volcast_flow("freshness-check", dated_run_name("freshness"))
def freshness_check() -> dict:
    """Emit PredictionsStaleSessions as an EMF line on stdout (CloudWatch Logs makes it a
    metric; the alarm also fires when the line is absent) and fail the run when stale."""
    figures = tasks.freshness(context())
    print_emf(freshness_metric(figures))  # stdout: the container log stream
    get_run_logger().info("freshness: %s", figures.to_dict())
    if not figures.fresh:
        raise PredictionsStale(
            f"predictions_daily lags {figures.stale_sessions} session(s): newest "
            f"{figures.newest_prediction}, latest trading day {figures.latest_trading_day}"
        )
    return figures.to_dict()
