"""Operational figures: how fresh the predictions are, as CloudWatch Embedded Metric Format.

An EMF record is one JSON log line; CloudWatch Logs turns it into metrics without an API call
or a credential, and locally it is just a readable line in the logs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping

from core.calendar import DateLike, trading_days

NAMESPACE = "Volcast"
#: Dimensions of the pipeline's metrics (freshness, failed flow runs).
PIPELINE_DIMENSIONS = {"Service": "pipeline"}


def emf_record(
    dimensions: Mapping[str, str],
    metrics: Mapping[str, tuple[float, str]],
    timestamp_ms: int | None = None,
) -> dict:
    """One EMF record; ``metrics`` maps a name to (value, unit), e.g. (3.2, "Milliseconds")."""
    items = metrics.items()
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [
                        {"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()
                    ],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _) in items},
    }


def lag_sessions(newest: DateLike | None, latest: DateLike) -> int | None:
    """XNYS sessions after ``newest`` up to and including ``latest`` (0 = current); None when
    nothing is stored. The freshness figure of /health and of the 08:00 alarm."""
    if newest is None:
        return None
    return max(len(trading_days(newest, latest)) - 1, 0)


def freshness_metric(freshness: Mapping[str, object]) -> dict:
    """The EMF record the "predictions missing by 08:00" alarm reads (Maximum > 0 = stale)."""
    return emf_record(
        PIPELINE_DIMENSIONS,
        {"PredictionsStaleSessions": (float(freshness["stale_sessions"]), "Count")},
    )


#: The metric every failed or crashed flow run adds 1 to (terraform/modules/monitoring alarms
#: on its Sum).
FLOW_FAILURE_METRIC = "FlowRunsFailed"
#: A state message is an exception's text: enough to start from, bounded for one log line.
_MESSAGE_LIMIT = 500


#: Dimensions of the model's metrics (feature drift).
MODEL_DIMENSIONS = {"Service": "model"}


def drift_metric(drift: Mapping[str, object]) -> dict:
    """The EMF record of the daily infer's feature drift (core.models.drift.DriftReport
    .to_dict): FeatureDriftMaxPSI and FeatureDriftMaxExcessPSI {Service=model} (the alarm
    reads the excess), with the features that hold them and the model version as plain
    fields."""
    return {
        **emf_record(
            MODEL_DIMENSIONS,
            {
                "FeatureDriftMaxPSI": (float(drift["max_psi"]), "None"),
                "FeatureDriftMaxExcessPSI": (float(drift["max_excess_psi"]), "None"),
            },
        ),
        "log": "feature-drift",
        "max_psi_feature": drift["max_psi_feature"],
        "max_excess_feature": drift["max_excess_feature"],
        "window": f"{drift['start']}..{drift['end']}",
    }


def flow_failure_metric(
    flow: str, flow_run: str, flow_run_id: str, state: str, message: str
) -> dict:
    """The EMF record of one failed or crashed flow run: FlowRunsFailed = 1 {Service=pipeline},
    plus which run it was (plain fields, not dimensions: one metric, not one per flow)."""
    return {
        **emf_record(PIPELINE_DIMENSIONS, {FLOW_FAILURE_METRIC: (1.0, "Count")}),
        "log": "flow-run-failed",
        "flow": flow,
        "flow_run": flow_run,
        "flow_run_id": flow_run_id,
        "state": state,
        "message": message[:_MESSAGE_LIMIT],
    }


def print_emf(record: Mapping, compact: bool = False) -> None:
    """Write ``record`` to stdout as one JSON line, in one write, flushed. ``print`` writes the
    text and its newline separately: with an unbuffered stdout sharing a log stream with
    stderr (a flow run under a worker, a container's log), another line could land between
    them and CloudWatch would no longer parse the record."""
    separators = (",", ":") if compact else None
    sys.stdout.write(json.dumps(record, separators=separators) + "\n")
    sys.stdout.flush()
