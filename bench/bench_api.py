"""/predict through gunicorn on this machine: latency and throughput at 1, 10 and 50
concurrent clients, for dated and for posted-vector requests, against the naive reference
(bench/naive.py), plus the raw single-row SHAP cost of the served model and the ceiling it sets,
and the framework's own ceiling: dated /predict against ``reference_app`` below (a trivial
``async def`` FastAPI endpoint returning a constant body of a dated answer's size, same
gunicorn config), interleaved at 50 clients.

Run: `python -m bench.bench_api [--seconds 10] [--reference-only] [--rounds 3]` (prints one JSON
document; ``--rounds``: dated/reference pairs of the framework ceiling).
The load
generator is wrk when installed (`apt-get install wrk`), else bench/loadgen.py; either runs
as its own process. Clients are closed-loop (each sends its next request when the previous
answer arrives), so at 50 clients latency is queueing: p50 ~ clients / throughput. A paced
run (50 clients, ~800 requests/s in total, wrk only) shows latency at a fixed offered load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from catboost import Pool
from fastapi import FastAPI
from fastapi.responses import Response

from api.main import NO_TELEMETRY
from bench.common import Timing, emit, loadavg, machine, nproc, process_tree_cpu_s
from core import contracts
from core.lake import Lake
from core.models.registry import ModelRegistry
from core.models.tree_shap import ObliviousTreeShap
from core.serving.scorer import load_serving_model
from loadtest.lake import PreparedLake, prepare_lake
from loadtest.run import free_port, start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
CLIENTS = (1, 10, 50)
PACED_CLIENTS, PACED_RATE = 50, 800
REFERENCE_CLIENTS, REFERENCE_ROUNDS = 50, 3
#: The constant body reference_app answers (a dated answer captured from the served API).
REFERENCE_BODY_ENV = "VOLCAST_REFERENCE_BODY_FILE"


def _reference_app() -> FastAPI:
    """What the framework allows: POST /predict answering a constant body, nothing else (the
    same FastAPI settings as api.main; no volcast middleware, no parsing, no lookup)."""
    path = os.environ.get(REFERENCE_BODY_ENV)
    body = Path(path).read_bytes() if path else b"{}"
    app = FastAPI(title="reference: a trivial endpoint", telemetry=NO_TELEMETRY)

    @app.post("/predict")
    async def predict() -> Response:
        return Response(body, media_type="application/json")

    return app


#: `gunicorn -c api/gunicorn.conf.py bench.bench_api:reference_app` (with REFERENCE_BODY_ENV).
reference_app = _reference_app()
SHAP_REPS, SHAP_WARMUP = 1000, 50
WRK_SCRIPT = """
local bodies = {%s}
local i = 0
local delay_ms = %s
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i %% #bodies) + 1])
end
if delay_ms > 0 then delay = function() return delay_ms end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("RESULT " .. string.format(
    '{"requests": %%d, "non_2xx": %%d, "errors": %%d, "seconds": %%f, '
    .. '"p50_ms": %%.3f, "p95_ms": %%.3f, "p99_ms": %%.3f}',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000) .. "\\n")
end
"""


def request_bodies(prepared: PreparedLake) -> dict[str, list[dict]]:
    """Dated: latest and the dates with stored predictions; posted: 20 real feature vectors."""
    lake = Lake(str(prepared.root))
    stored = lake.partitions(contracts.PREDICTIONS)
    frame = lake.read(contracts.FEATURES, stored[-20], stored[-1])
    vectors = [{c: float(v) for c, v in r.items() if c != "date"} for r in frame.to_dict("records")]
    dated = [{"as_of": None, "top_k": 5}] + [
        {"as_of": d.date().isoformat(), "top_k": 5} for d in stored
    ]
    return {"dated": dated, "posted": [{"features": v, "top_k": 5} for v in vectors]}


def shap_cost(prepared: PreparedLake) -> dict[str, Any]:
    """Single-row SHAP of the served model: CatBoost's own call (one thread; the ceiling the
    target is defined by), the per-leaf tables volcast uses (core.models.tree_shap), and the
    scorer's full per-row work (tree SHAP + linear offset SHAP + forecast + ranking)."""
    registry = ModelRegistry(Lake(str(prepared.root)))
    model = load_serving_model(registry, prepared.version)
    lake = Lake(str(prepared.root))
    day = lake.partitions(contracts.FEATURES)[-1]
    row = lake.read(contracts.FEATURES, day, day).loc[:, list(model.names)].to_numpy(np.float64)
    booster = model.model.booster_

    def raw_shap() -> object:  # the leanest native call: no helper threads at all
        return booster.get_feature_importance(
            Pool(row, thread_count=1), type="ShapValues", thread_count=1
        )

    tables = ObliviousTreeShap.from_catboost(booster, len(model.names))
    assert tables is not None

    def tables_shap() -> object:
        return tables.values(row)

    def scorer_row() -> object:
        return model.score_row(row[0])

    # Interleaved, so drift in the machine's load hits all alike.
    calls = {"raw": raw_shap, "tables": tables_shap, "scorer": scorer_row}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    cpu = dict.fromkeys(calls, 0.0)
    for i in range(SHAP_REPS + SHAP_WARMUP):
        for name, call in calls.items():
            wall, used = time.perf_counter(), time.process_time()
            call()
            if i >= SHAP_WARMUP:
                samples[name].append(time.perf_counter() - wall)
                cpu[name] += time.process_time() - used
    timing = {name: Timing.of(found) for name, found in samples.items()}
    cores = nproc()
    return {
        "trees": int(booster.tree_count_),
        "depth": int(model.model.params.depth),
        "features": len(model.names),
        "raw_native_shap_one_row": timing["raw"].to_dict("ms"),
        "raw_native_shap_cpu_ms": round(1000 * cpu["raw"] / SHAP_REPS, 3),
        "tables_shap_one_row": timing["tables"].to_dict("ms"),
        "scorer_score_row": timing["scorer"].to_dict("ms"),
        "scorer_score_row_cpu_ms": round(1000 * cpu["scorer"] / SHAP_REPS, 3),
        "cores": cores,
        # The target's ceiling: what CatBoost's own single-row SHAP call allows on all cores.
        "ceiling_requests_per_s": round(cores / timing["raw"].median_s, 1),
        # What the scorer's whole per-row work alone would allow (HTTP not counted).
        "score_row_bound_requests_per_s": round(cores / timing["scorer"].median_s, 1),
    }


def load(url: str, bodies: list[dict], clients: int, seconds: float, work: Path, rate: int = 0):
    """One closed-loop (or paced, wrk only) run; requests/s and latency percentiles."""
    payloads = work / "bodies.json"
    payloads.write_text(json.dumps(bodies))
    if shutil.which("wrk"):
        lua = ", ".join(f"[==[{json.dumps(b)}]==]" for b in bodies)
        delay = round(1000.0 * clients / rate, 3) if rate else 0
        script = work / "bench.lua"
        script.write_text(WRK_SCRIPT % (lua, delay))
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                "--timeout",
                "60s",
                f"-c{clients}",
                f"-d{round(seconds)}s",
                "-s",
                str(script),
                f"{url}/predict",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
        result["requests_per_s"] = round(result["requests"] / result.pop("seconds"), 1)
        return {"generator": "wrk", **result}
    if rate:
        return None
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            f"{url}/predict",
            str(payloads),
            str(clients),
            str(seconds),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {"generator": "bench.loadgen", **json.loads(out)}


def serve(app: str, lake: Path, port: int, logs: Path) -> subprocess.Popen[bytes]:
    """``app`` under gunicorn with 2 workers; the naive app has no /health."""
    ready = "/health" if app == "api.main:app" else "/openapi.json"
    return start_server(lake, port, 2, logs, app=app, ready_path=ready)


def bench_app(app: str, prepared: PreparedLake, bodies: dict, seconds: float, work: Path) -> dict:
    port = free_port()
    server = serve(app, prepared.root, port, work)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        for kind in ("dated", "posted"):
            load(url, bodies[kind], 10, 2, work)  # warm-up: caches, connections
            for clients in CLIENTS:
                cpu_before = process_tree_cpu_s(server.pid)
                run = load(url, bodies[kind], clients, seconds, work)
                cpu = process_tree_cpu_s(server.pid) - cpu_before
                run["server_cpu_ms_per_request"] = (
                    round(1000 * cpu / run["requests"], 3) if run["requests"] else None
                )
                run["loadavg"] = loadavg()
                results[f"{kind}_c{clients}"] = run
        if app == "api.main:app":
            paced = load(url, bodies["dated"], PACED_CLIENTS, seconds, work, rate=PACED_RATE)
            if paced is not None:
                results[f"dated_c{PACED_CLIENTS}_paced_{PACED_RATE}_per_s"] = paced
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return results


def framework_ceiling(
    prepared: PreparedLake,
    bodies: dict,
    seconds: float,
    work: Path,
    pairs: int = REFERENCE_ROUNDS,
) -> dict:
    """Dated /predict vs reference_app at REFERENCE_CLIENTS clients, both under the project's
    gunicorn config with 2 workers, up at the same time, runs alternating (so drift in the
    machine's load hits both alike). The ratio is dated req/s over reference req/s per round."""
    served_port = free_port()
    served = serve("api.main:app", prepared.root, served_port, work)
    try:
        url = f"http://127.0.0.1:{served_port}"
        answer = _post(f"{url}/predict", bodies["dated"][1])
        body_file = work / "reference-body.json"
        body_file.write_bytes(answer)
        ref_port = free_port()
        reference = start_server(
            prepared.root,
            ref_port,
            2,
            work,
            app="bench.bench_api:reference_app",
            ready_path="/openapi.json",
            **{REFERENCE_BODY_ENV: str(body_file)},
        )
        try:
            ref_url = f"http://127.0.0.1:{ref_port}"
            assert _post(f"{ref_url}/predict", bodies["dated"][1]) == answer
            for target in (url, ref_url):
                load(target, bodies["dated"], 10, 2, work)  # warm-up
            rounds = []
            for _ in range(pairs):
                dated = load(url, bodies["dated"], REFERENCE_CLIENTS, seconds, work)
                trivial = load(ref_url, bodies["dated"], REFERENCE_CLIENTS, seconds, work)
                rounds.append(
                    {
                        "dated": dated,
                        "reference": trivial,
                        "ratio": round(dated["requests_per_s"] / trivial["requests_per_s"], 3),
                        "loadavg": loadavg(),
                    }
                )
        finally:
            stop_server(reference)
    finally:
        stop_server(served)
    ratios = [r["ratio"] for r in rounds]
    return {
        "clients": REFERENCE_CLIENTS,
        "body_bytes": len(answer),
        "rounds": rounds,
        "ratio_median": round(float(np.median(ratios)), 3),
        "ratio_min": min(ratios),
    }


def _post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def run(work: Path, seconds: float, rounds: int = REFERENCE_ROUNDS) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    prepared = prepare_lake(work / "lake")
    bodies = request_bodies(prepared)
    cost = shap_cost(prepared)
    served = bench_app("api.main:app", prepared, bodies, seconds, work)
    naive = bench_app("bench.naive:app", prepared, bodies, seconds, work)
    ratios = {
        key: {
            "requests_per_s": round(served[key]["requests_per_s"] / naive[key]["requests_per_s"], 1)
            if naive[key]["requests_per_s"]
            else None,
            "p95_naive_over_served": round(naive[key]["p95_ms"] / served[key]["p95_ms"], 1)
            if served[key]["p95_ms"]
            else None,
        }
        for key in naive
    }
    best_posted = max(served[f"posted_c{c}"]["requests_per_s"] for c in CLIENTS)
    ceiling = framework_ceiling(prepared, bodies, seconds, work, rounds)
    return {
        "framework_ceiling": ceiling,
        "model": cost,
        "served": served,
        "naive": naive,
        "served_over_naive": ratios,
        "posted_best_requests_per_s": best_posted,
        "posted_share_of_ceiling": round(best_posted / cost["ceiling_requests_per_s"], 3),
        "seconds_per_run": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--reference-only", action="store_true", help="only dated /predict vs reference_app"
    )
    parser.add_argument("--rounds", type=int, default=REFERENCE_ROUNDS)
    args = parser.parse_args()
    info = machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="volcast-bench-api-") as folder:
        work = Path(folder)
        if args.reference_only:
            work.mkdir(parents=True, exist_ok=True)
            prepared = prepare_lake(work / "lake")
            bodies = request_bodies(prepared)
            ceiling = framework_ceiling(prepared, bodies, args.seconds, work, args.rounds)
            figures = {"framework_ceiling": ceiling}
        else:
            figures = run(work, args.seconds, args.rounds)
    emit(
        {
            "date": dt.date.today().isoformat(),
            "machine": info,
            "api": figures,
            "total_s": round(time.perf_counter() - started, 1),
            "loadavg_at_end": loadavg(),
        }
    )


if __name__ == "__main__":
    main()
