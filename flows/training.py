"""Model flows: weekly training behind the gate, the canary, and the long backtest."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import Completed, State

from core import steps
from core.steps.reports import train_verdict
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
def train(asof: dt.date | None = None) -> State:
    """Champion upkeep + challenger + gate. The run's state says what happened in the runs
    list: Promoted, Refused (a normal outcome: the champion stays) or Unchanged (a re-train on
    the same data and code), with the one-line reason as its message; a model to serve that
    fails its canary fails the run.

    Args:
        asof: Train as of the close of this session (labels known then); null = the newest
            day with features. The run is named after this day, or after the latest closed
            session when null; the artifact shows both days when they differ.
    """
    result = tasks.train(context(), asof)
    artifacts.publish_train(result)
    name, message = train_verdict(result)
    get_run_logger().info("%s: %s", name, message)
    get_run_logger().info("serving: %s", result.serving_reason)
    if result.canary_failed:
        raise CanaryFailed(f"a model to serve failed its canary: {result.serving_reason}")
    return Completed(name=name, message=message, data=result.to_dict())


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

    Args:
        version: A registered model version id (`volcast models list`); null = the one
            serving now.
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
    """Walk-forward backtest from the source; charts are stored in the lake and linked.

    Args:
        start: First out-of-sample session (YYYY-MM-DD).
        refit_every: Sessions between refits of every model (21 = monthly).
        source: Market data source, synthetic | csv | yahoo; null = the worker's
            VOLCAST_SOURCE. A lake holds one source's data: another source is refused.
        csv_dir: Folder of per-symbol CSV files on the worker, for source csv; null = the
            worker's VOLCAST_CSV_DIR.
    """
    ctx = context(source, csv_dir)
    with tempfile.TemporaryDirectory(prefix="volcast-eval-") as tmp:
        report = tasks.evaluate(ctx, Path(tmp), start, refit_every)
        name = f"{report['end']}-refit{refit_every}"
        stored = tasks.store_evaluation(ctx, Path(tmp), name)
    artifacts.publish_evaluation(report, stored, tasks.evaluation_chart_links(ctx, name))
    return {"stored": stored, "improvement_pct": report["improvement_pct"]}
