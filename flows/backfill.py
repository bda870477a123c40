"""backfill: a date range in chunks, phase by phase, resumable, optionally fanned out.

Locally the chunks of a phase run as concurrent tasks in one process. With
``fan_out_deployment`` set (on ECS), each chunk runs as its own flow run of that deployment,
one container each, so a long history scales out; the parent waits for the phase to finish
before starting the next (see core.steps.chunks for why phases are ordered).
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task, unmapped
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from core.steps.chunks import PHASES, Chunk, Phase, chunk_done, plan_chunks
from flows import tasks
from flows.alerting import ALERT_HOOKS
from flows.runtime import context, dated_run_name, trading_day_or_latest


@task(name="backfill-chunk-run", task_run_name="{phase}-{chunk.start}..{chunk.end}")
def _run_chunk_deployment(
    deployment: str, phase: Phase, chunk: Chunk, known_until: dt.date, source_params: dict
) -> str:
    """One chunk as a flow run of ``deployment``; waits for it and fails if it failed."""
    run = run_deployment(
        deployment,
        parameters={
            "phase": phase,
            "start": chunk.start,
            "end": chunk.end,
            "known_until": known_until.isoformat(),
            **source_params,
        },
        timeout=None,
    )
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"chunk run {run.name} ended {run.state and run.state.name}")
    return run.name


@flow(
    name="backfill",
    flow_run_name=dated_run_name("backfill"),
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
def backfill(
    start: dt.date | None = None,
    end: dt.date | None = None,
    sessions_per_chunk: int = 250,
    fan_out_deployment: str | None = None,
    source: str | None = None,
    csv_dir: str | None = None,
) -> dict:
    """Ingest, curate, features and labels over [start, end] (default: all history).

    Args:
        start: First session (YYYY-MM-DD); null = VOLCAST_HISTORY_START (2007-04-11).
        end: Last session (YYYY-MM-DD); null = the latest closed session.
        sessions_per_chunk: Sessions per chunk; a chunk is the unit of resume and fan-out.
        fan_out_deployment: A deployment (flow/deployment) that runs one chunk per flow run
            (backfill-chunk/backfill-chunk on ECS); null = chunks as tasks in this process.
        source: Market data source, synthetic | csv | yahoo; null = the worker's
            VOLCAST_SOURCE. A lake holds one source's data: another source is refused.
        csv_dir: Folder of per-symbol CSV files on the worker, for source csv; null = the
            worker's VOLCAST_CSV_DIR.
    """
    ctx = context(source, csv_dir)
    lo = start or ctx.settings.history_start
    hi = trading_day_or_latest(end)
    chunks = plan_chunks(lo, hi, sessions_per_chunk)
    source_params = {"source": source, "csv_dir": csv_dir}
    report: dict[str, dict] = {}
    for phase in PHASES:
        todo = [c for c in chunks if not chunk_done(ctx, phase, c)]
        if fan_out_deployment:
            futures = _run_chunk_deployment.map(
                unmapped(fan_out_deployment),
                unmapped(phase),
                todo,
                unmapped(hi),
                unmapped(source_params),
            )
        else:
            futures = tasks.backfill_chunk.map(unmapped(ctx), unmapped(phase), todo, unmapped(hi))
        futures.result()  # raises on the first failed chunk: the next phase must not start
        report[phase] = {
            "chunks": len(chunks),
            "ran": len(todo),
            "skipped": len(chunks) - len(todo),
        }
        get_run_logger().info("backfill %s: %s", phase, report[phase])
    return {"start": str(lo), "end": str(hi), "sessions_per_chunk": sessions_per_chunk, **report}


def _chunk_run_name() -> str:
    p = flow_run.parameters
    return f"backfill-{p['phase']}-{p['start']}..{p['end']}"


@flow(
    name="backfill-chunk",
    flow_run_name=_chunk_run_name,
    on_failure=ALERT_HOOKS,
    on_crashed=ALERT_HOOKS,
)
def backfill_chunk(
    phase: Phase,
    start: str,
    end: str,
    known_until: dt.date | None = None,
    source: str | None = None,
    csv_dir: str | None = None,
) -> dict:
    """One phase over one chunk (what a fanned-out backfill runs per container).

    Args:
        phase: ingest | curate | derive (features and labels).
        start: First session of the chunk (YYYY-MM-DD).
        end: Last session of the chunk (YYYY-MM-DD).
        known_until: The backfill's last session: lets a chunk tell a series that had not
            started yet from a gap; null = the chunk's end.
        source: Market data source, synthetic | csv | yahoo; null = the worker's
            VOLCAST_SOURCE. A lake holds one source's data: another source is refused.
        csv_dir: Folder of per-symbol CSV files on the worker, for source csv; null = the
            worker's VOLCAST_CSV_DIR.
    """
    return tasks.backfill_chunk(context(source, csv_dir), phase, Chunk(start, end), known_until)
