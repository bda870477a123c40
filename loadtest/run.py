"""`make loadtest`: serve a prepared lake with gunicorn on loopback, run Locust headless for a
bounded time and user count, write its CSV and HTML report, and fail when p95 >= 2 s or more
than 1% of requests got a 5xx. The server checks API keys as in AWS (a local key store with
one key, issued for the run) and every /predict sends it.

Run: `python -m loadtest.run [--lake PATH] [--users 50] [--spawn-rate 10] [--duration 60s]
[--out out/loadtest] [--workers 2]`. Without --lake (or with an empty folder) a synthetic lake
is prepared first (~30 s); an existing prepared lake is reused. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from core import contracts
from core.api_keys import FileKeyStore, create_key
from core.lake import Lake
from loadtest.lake import PreparedLake, describe, prepare_lake

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
P95_LIMIT_MS = 2000.0
SERVER_ERROR_LIMIT = 0.01
SAMPLE_VECTORS = 50
#: `make serve`'s command (and the api image's), started from this venv; the app comes last.
GUNICORN_COMMAND = (str(BIN / "gunicorn"), "-c", "api/gunicorn.conf.py")
APP = "api.main:app"
#: A worker's first load reads the whole features table (docs/api.md).
START_TIMEOUT_S = 180.0
#: Consecutive 200s on new connections before a server counts as up (wait_until_serving).
READY_IN_A_ROW = 8


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for the servers the tests and benchmarks start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_traffic_data(prepared: PreparedLake, path: Path) -> Path:
    """Dates with features and a sample of real feature vectors, for the locustfile."""
    lake = Lake(str(prepared.root))
    days = lake.partitions(contracts.FEATURES)
    sample = lake.read(contracts.FEATURES, days[-SAMPLE_VECTORS], days[-1])
    vectors = [
        {c: float(v) for c, v in row.items() if c != "date"} for row in sample.to_dict("records")
    ]
    path.write_text(json.dumps({"dates": [d.date().isoformat() for d in days], "vectors": vectors}))
    return path


def start_server(
    lake: Path,
    port: int,
    workers: int,
    log_dir: Path,
    app: str = APP,
    ready_path: str = "/health",
    **env: str,
) -> subprocess.Popen[bytes]:
    """The exact serving command on 127.0.0.1:port (``app`` under api/gunicorn.conf.py);
    returns once every worker answers ``ready_path`` with a 200 (see wait_until_serving)."""
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "VOLCAST_LAKE_URI": str(lake),
        **env,
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"server-{port}.out", log_dir / f"server-{port}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        server = subprocess.Popen(
            [*GUNICORN_COMMAND, app],
            cwd=REPO,
            env=environment,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}{ready_path}", server, START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as exc:
        stop_server(server)
        raise type(exc)(f"{exc}: {err_path.read_text()[-3000:]}") from None
    return server


def wait_until_serving(url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Until ``url`` answers 200 READY_IN_A_ROW times in a row, each on a new connection.

    Every worker listens on its own socket and the kernel spreads connections by hash
    (api/gunicorn.conf.py), so one 200 only says that one worker is up: READY_IN_A_ROW of them
    miss a worker still starting with probability 2**-READY_IN_A_ROW (2 workers)."""
    deadline = time.monotonic() + timeout_s
    in_a_row = 0
    while in_a_row < READY_IN_A_ROW:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout_s} s")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                ready = response.status == 200
        except OSError:
            ready = False
        in_a_row = in_a_row + 1 if ready else 0
        if not ready:
            time.sleep(0.25)


def stop_server(server: subprocess.Popen[bytes]) -> int:
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        return server.wait()


def issue_key(folder: Path) -> tuple[Path, str]:
    """A local key store (core.api_keys) with one key: the server checks it on every /predict,
    as in AWS, and Locust sends it. Returns (VOLCAST_API_KEYS for the server, the key)."""
    store = FileKeyStore(folder / "api-keys.json")
    _, key = create_key(store, "loadtest")
    return store.path, key


def run_locust(
    url: str,
    data: Path,
    prefix: Path,
    users: int,
    rate: float,
    duration: str,
    api_key: str | None = None,
) -> None:
    env = {**os.environ, "VOLCAST_LOADTEST_DATA": str(data)}
    if api_key:
        env["VOLCAST_API_KEY"] = api_key
    command = [
        str(BIN / "locust"),
        "-f",
        str(REPO / "loadtest" / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(rate),
        "--run-time",
        duration,
        "--host",
        url,
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--only-summary",
        "--exit-code-on-error",
        "0",  # the thresholds below decide, not Locust's any-failure rule
    ]
    subprocess.run(command, cwd=REPO, env=env, check=True)


def verdict(prefix: Path) -> dict:
    """Thresholds on Locust's CSV: p95 of all requests, share of 5xx answers."""
    with open(f"{prefix}_stats.csv", newline="") as f:
        total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    with open(f"{prefix}_failures.csv", newline="") as f:
        server_errors = sum(
            int(r["Occurrences"]) for r in csv.DictReader(f) if r["Error"].startswith("HTTP 5")
        )
    requests = int(total["Request Count"])
    p95 = float(total["95%"])
    rate = server_errors / requests if requests else 1.0
    problems = []
    if requests == 0:
        problems.append("no requests were made")
    if p95 >= P95_LIMIT_MS:
        problems.append(f"p95 {p95:.0f} ms >= {P95_LIMIT_MS:.0f} ms")
    if rate > SERVER_ERROR_LIMIT:
        problems.append(f"5xx rate {rate:.2%} > {SERVER_ERROR_LIMIT:.0%}")
    return {
        "requests": requests,
        "failures": int(total["Failure Count"]),
        "server_errors": server_errors,
        "server_error_rate": round(rate, 5),
        "requests_per_s": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": p95,
        "p99_ms": float(total["99%"]),
        "passed": not problems,
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", type=Path)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "loadtest")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="volcast-loadtest-") as scratch:
        root = args.lake or Path(scratch) / "lake"
        has_lake = root.is_dir() and any(root.iterdir())
        prepared = describe(root) if has_lake else prepare_lake(root)
        data = write_traffic_data(prepared, args.out / "traffic.json")
        port = free_port()
        keys, key = issue_key(Path(scratch))
        server = start_server(
            prepared.root, port, args.workers, args.out, VOLCAST_API_KEYS=str(keys)
        )
        url = f"http://127.0.0.1:{port}"
        try:
            run_locust(
                url, data, args.out / "locust", args.users, args.spawn_rate, args.duration, key
            )
        finally:
            exit_code = stop_server(server)
    result = verdict(args.out / "locust")
    result |= {"server_exit_code": exit_code, "report": str(args.out / "locust.html")}
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
