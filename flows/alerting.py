"""Failed and crashed flow runs reach a human through CloudWatch, not only through Prefect.

prefect 3.9's ``flow-run execute`` exits 0 once a flow's failure is reported to Prefect, so an
ECS "task stopped non-zero" rule misses ordinary flow failures. Every flow is therefore declared
with ``flows.runtime.volcast_flow``, which sets ``on_failure=ALERT_HOOKS, on_crashed=ALERT_HOOKS``:
the hook prints one EMF line
(core.monitoring.flow_failure_metric) to stdout, the container's log stream, which CloudWatch
Logs turns into ``Volcast FlowRunsFailed {Service=pipeline}``; the alarm
``<env>-flow-run-failed`` notifies the SNS topic (terraform/modules/monitoring). Locally the
line is just a readable log line. A container killed outright (out of memory, Spot) runs no
hook: the batch-task-failed rule reports those from the exit code.
"""

from __future__ import annotations

import logging
from typing import Any

from core.monitoring import FLOW_FAILURE_METRIC, PIPELINE_DIMENSIONS, flow_failure_metric, print_emf

log = logging.getLogger(__name__)

#: What terraform/modules/monitoring's flow_run_failed alarm watches (tests/infra checks both).
FAILURE_METRIC = FLOW_FAILURE_METRIC
DIMENSIONS = PIPELINE_DIMENSIONS


def report_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect state hook (on_failure, on_crashed): one EMF line on stdout, flushed. Never
    raises: a hook that fails must not hide the flow's own failure."""
    try:
        record = flow_failure_metric(
            flow=str(flow.name),
            flow_run=str(flow_run.name),
            flow_run_id=str(flow_run.id),
            state=str(state.name),
            message=str(state.message or ""),
        )
        print_emf(record, compact=True)
    except Exception:  # the hook must not mask the run's failure
        log.exception("could not emit the flow failure metric")


#: The state hooks of every flow (``flows.runtime.volcast_flow``).
ALERT_HOOKS = [report_failure]
