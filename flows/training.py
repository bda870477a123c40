"""Model flows: weekly training behind the gate, the canary, and the long backtest."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger

from core import steps
from flows import artifacts, tasks
from flows.alerting import ALERT_HOOKS
from flows.runtime import context, dated_run_name


class CanaryFailed(RuntimeError):
    """A model failed its canary: it must not serve, and the run should show red."""


@flow(
    name="train",
    flow_run_name=dated_run_name("train"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
def train(asof: dt.date | None = None) -> dict:
    """Champion upkeep + challenger + gate. A refused challenger is a normal, completed run
    (the artifact says why); a model to serve that fails its canary fails the run."""
    result = tasks.train(context(), asof)
    summary = result.to_dict()
    artifacts.publish_train(summary)
    get_run_logger().info("gate: %s", summary["gate"]["reason"])
    get_run_logger().info("serving: %s", result.serving_reason)
    if result.canary_failed:
        raise CanaryFailed(f"a model to serve failed its canary: {result.serving_reason}")
    return summary


@flow(
    name="canary",
    flow_run_name=dated_run_name("canary"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
def canary(version: str | None = None) -> dict:
    """Re-score the last feature days with ``version`` (default: the serving one) as served.

    Compared with production when checking another version; production alone is checked for
    finite, plausible forecasts.
    """
    ctx = context()
    current = tasks.serving_version(ctx)
    version = version or current
    if version is None:
        raise steps.NoModelError("no model is promoted yet: nothing to check")
    result = tasks.canary(ctx, version, current if current != version else None)
    if not result["passed"]:
        raise CanaryFailed(f"{version} failed its canary: {result['reason']}")
    return result


@flow(
    name="evaluate",
    flow_run_name=dated_run_name("evaluate"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
def evaluate(
    start: dt.date = dt.date(2012, 1, 3),
    refit_every: int = 21,
    source: str | None = None,
    csv_dir: str | None = None,
) -> dict:
    """Walk-forward backtest from the source; charts are stored in the lake and linked."""
    ctx = context(source, csv_dir)
    with tempfile.TemporaryDirectory(prefix="volcast-eval-") as tmp:
        report = tasks.evaluate(ctx, Path(tmp), start, refit_every)
        name = f"{report['end']}-refit{refit_every}"
        stored = tasks.store_evaluation(ctx, Path(tmp), name)
    artifacts.publish_evaluation(report, stored)
    return {"stored": stored, "improvement_pct": report["improvement_pct"]}
