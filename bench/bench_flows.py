"""The evening chain through the local Prefect stack: how long a deployed `daily` takes.

Brings up `make up`'s stack (flows.local_stack: prefect server, process pool, deployments,
worker) in a temporary folder on free loopback ports, over a synthetic lake with a promoted
model, then triggers `daily` for consecutive sessions one after another and reads each flow
run back from the server: the chain itself (run start -> end), the worker's pick-up delay
(scheduled -> start; a local worker polls, a push pool does not) and trigger -> done.

Run: `python -m bench.bench_flows [--runs 5]` (prints one JSON document).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Timing, emit, loadavg, machine
from loadtest.run import free_port

SETUP_START, SETUP_END = "2019-01-02", "2022-06-30"


def _prepare_lake(lake: Path) -> None:
    from core import steps
    from core.config import Settings

    settings = Settings(lake_uri=str(lake), gate_window_sessions=60, gate_refit_every=30)
    ctx = steps.Context.from_settings(settings)
    steps.backfill(ctx, SETUP_START, SETUP_END, progress=False)
    steps.train(ctx)  # the HAR-X(VIX) baseline becomes the first champion


def run(work: Path, runs: int = 5) -> dict:
    lake = work / "lake"
    _prepare_lake(lake)
    prefect_port = free_port()
    os.environ.update(
        {
            "VOLCAST_STACK_DIR": str(work / "stack"),
            "PREFECT_PORT": str(prefect_port),
            "PORT": str(free_port()),
            "VOLCAST_LAKE_URI": str(lake),
        }
    )
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from core.calendar import shift_trading_days
    from flows import local_stack

    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON document
        local_stack.up()
    stack_up_s = time.perf_counter() - started
    chain, pickup, total = [], [], []
    try:
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{prefect_port}/api"}):
            for k in range(1, runs + 1):
                day = shift_trading_days(SETUP_END, k).date().isoformat()
                t0 = time.perf_counter()
                flow_run = run_deployment("daily/daily", parameters={"day": day}, timeout=600)
                total.append(time.perf_counter() - t0)
                if not flow_run.state.is_completed():
                    raise RuntimeError(f"daily {day} ended {flow_run.state.name}")
                chain.append((flow_run.end_time - flow_run.start_time).total_seconds())
                pickup.append((flow_run.start_time - flow_run.expected_start_time).total_seconds())
    finally:
        with contextlib.redirect_stdout(sys.stderr):
            local_stack.down()
    return {
        "what": "daily (ingest..infer) deployed on a process worker",
        "stack_up_s": round(stack_up_s, 1),
        "flow_run_s": Timing.of(chain).to_dict(),
        "worker_pickup_s": Timing.of(pickup).to_dict(),
        "trigger_to_done_s": Timing.of(total).to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="volcast-bench-flows-") as folder:
        figures = run(Path(folder), args.runs)
    emit({"machine": info, "flows": figures, "loadavg_at_end": loadavg()})


if __name__ == "__main__":
    main()
