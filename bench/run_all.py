"""Every benchmark, one JSON document on stdout (what `make bench` runs).

Run: `python -m bench.run_all` (prints one JSON document).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import bench_api, bench_flows, bench_model, bench_pipeline
from bench.common import emit, loadavg, machine, market_dir


def main() -> None:
    market_dir()  # fail fast, before minutes of work, if the real data is missing
    started = time.perf_counter()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="volcast-bench-") as folder:
        work = Path(folder)
        pipeline = bench_pipeline.run(work)
        model = bench_model.run(work, real_lake=work / "real_lake")
        api = bench_api.run(work / "api", seconds=10.0)
        flows = bench_flows.run(work / "flows")
    emit(
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": info,
            "pipeline": pipeline,
            "model": model,
            "api": api,
            "flows": flows,
            "total_s": round(time.perf_counter() - started, 1),
            "loadavg_at_end": loadavg(),
        }
    )


if __name__ == "__main__":
    main()
