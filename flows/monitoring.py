"""freshness_check: are the latest trading day's predictions there? (the 08:00 alarm's figure)"""

from __future__ import annotations

import json

from prefect import flow, get_run_logger

from core.monitoring import freshness_metric
from flows import tasks
from flows.alerting import ALERT_HOOKS
from flows.runtime import context, dated_run_name


class PredictionsStale(RuntimeError):
    """The latest closed session has no forecast."""


@flow(
    name="freshness-check",
    flow_run_name=dated_run_name("freshness"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
def freshness_check() -> dict:
    """Emit PredictionsStaleSessions as an EMF line on stdout (CloudWatch Logs makes it a
    metric; the alarm also fires when the line is absent) and fail the run when stale."""
    figures = tasks.freshness(context())
    print(json.dumps(freshness_metric(figures)), flush=True)  # stdout: the container log stream
    get_run_logger().info("freshness: %s", figures)
    if not figures["fresh"]:
        raise PredictionsStale(
            f"predictions_daily lags {figures['stale_sessions']} session(s): newest "
            f"{figures['newest_prediction']}, latest trading day {figures['latest_trading_day']}"
        )
    return figures
