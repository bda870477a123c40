"""The lake at cloud latency: the pipeline's commands and the API's cold start on S3 with
SSE-KMS (a moto server), behind a loopback proxy that adds D ms to every round trip and counts
the requests by kind (bench/latency_proxy.py).

Run: `python -m bench.bench_cloud [--delays 0,10,25] [--steps ...] [--local] [--code-dir DIR]`
(prints one JSON document). Per delay D, on a fresh prefix of one bucket (or a fresh folder with
--local), in this order, each step the real command in its own process (imports included, as a
task runs it):

1. ``full_backfill``: ``volcast backfill`` of the real CSVs over FULL_START..FULL_END (all but
   the last MONTH_SESSIONS + 2 sessions of the data);
2. ``month_backfill``: ``volcast backfill`` of the next MONTH_SESSIONS sessions;
3. ``first_daily``: ``volcast daily`` of the data's last session but one: the lake's first
   evening, where nothing serves yet, so it also fits and promotes the HAR-X(VIX) baseline as
   the first champion (once per deployment);
4. ``daily``: ``volcast daily`` of the data's last session: a routine evening (a new day for
   the lake, the champion serving), what every evening costs;
5. ``train``: ``volcast train`` (asof that day, default settings);
6. not timed: the trained version promoted with an override and ``volcast infer`` over every
   feature day at D = 0, so the API has a full history of predictions to load;
7. ``api_cold_start``: gunicorn with the project's config and one worker (the ECS task's
   WEB_CONCURRENCY), from spawn to the first ``GET /health`` 200, API_STARTS times.

Each step reports wall seconds, the CPU seconds of its process tree, and (on S3) the requests
by kind and bytes that went through the proxy, and the moto server's CPU seconds (moto scans
every key of the bucket on each LIST, ~0.1 s per LIST at 24,000 keys: a cost real S3 does not
have, shown apart). Each delay gets its own moto server. ``--build-delay`` runs step 1 at
another delay than the rest (to measure slow code at D without a 40-minute backfill);
``--code-dir`` runs another checkout's code with this venv (before/after comparisons).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    Timing,
    emit,
    loadavg,
    machine,
    market_dir,
    process_tree_cpu_s,
    process_tree_rss_mb,
)
from bench.latency_proxy import Control, spawn
from loadtest.run import free_port

FULL_START = "2007-04-11"
DATA_END = "2026-07-22"  # the last day every real series has
MONTH_SESSIONS = 21
API_STARTS = 3
HEALTH_POLL_S = 0.05
STEP_TIMEOUT_S = 3600
#: The console script (flows.cli:main). A checkout from before it existed (--code-dir) has
#: only run_cli, and its ``main`` is the CLI's option callback.
ENTRY = (
    "import flows.cli as cli; "
    "(cli.main if hasattr(cli, '_skip_exit_collection') else cli.run_cli)()"
)
STEPS = ("full_backfill", "month_backfill", "first_daily", "daily", "train", "api_cold_start")
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def sessions(full_start: str = FULL_START) -> dict[str, str]:
    """The ranges of steps 1-4, from the XNYS calendar and DATA_END."""
    from core.calendar import shift_trading_days

    daily = DATA_END
    first_daily = shift_trading_days(daily, -1)
    month_start = shift_trading_days(first_daily, -MONTH_SESSIONS)
    return {
        "full_start": full_start,
        "full_end": shift_trading_days(month_start, -1).date().isoformat(),
        "month_start": month_start.date().isoformat(),
        "month_end": shift_trading_days(first_daily, -1).date().isoformat(),
        "first_daily": first_daily.date().isoformat(),
        "daily": daily,
    }


@contextmanager
def s3_stack(work: Path) -> Iterator[tuple[str, Control, int]]:
    """A moto server and the latency proxy in front of it, each its own process; a bucket with
    default SSE-KMS under a new key. Yields (bucket, proxy, moto's pid)."""
    import boto3

    os.environ.update(AWS_ENV)  # dummy keys and region for the clients that set up the bucket
    moto_port = free_port()
    logs = (work / "moto.log").open("wb")
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=logs,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proxy, control = spawn(f"127.0.0.1:{moto_port}")
    try:
        moto_url = f"http://127.0.0.1:{moto_port}"
        _wait_for(moto_url)
        kms = boto3.client("kms", endpoint_url=moto_url)
        key = kms.create_key(Description="bench lake key")["KeyMetadata"]["KeyId"]
        s3 = boto3.client("s3", endpoint_url=moto_url)
        bucket = f"volcast-bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        rule = {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        }
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
        yield bucket, control, moto.pid
    finally:
        for process in (proxy, moto):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        logs.close()


def _wait_for(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Runner:
    """Runs the commands of one lake (its URI, endpoint, code) and measures them; with S3, the
    moto server's own CPU too (``moto_pid``)."""

    def __init__(
        self,
        lake: str,
        endpoint: str | None,
        code_dir: Path,
        proxy: Control | None,
        moto_pid: int | None = None,
    ):
        self.lake, self.endpoint, self.code_dir, self.proxy = lake, endpoint, code_dir, proxy
        self.moto_pid = moto_pid
        self.env = {
            **os.environ,
            **AWS_ENV,
            "PYTHONPATH": str(code_dir),
            "VOLCAST_LAKE_URI": lake,
            "PYTHONUNBUFFERED": "1",
        }
        if endpoint:
            self.env["AWS_ENDPOINT_URL"] = endpoint

    def volcast(self, *args: str, delay_ms: float | None = None) -> dict[str, Any]:
        """One CLI command in its own process: wall and CPU seconds, requests by kind."""
        command = [sys.executable, "-c", ENTRY, *args]
        with self._measured(delay_ms) as figures:
            done = subprocess.run(
                command,
                cwd=self.code_dir,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_S,
            )
        if done.returncode != 0:
            raise RuntimeError(f"volcast {' '.join(args)} failed:\n{done.stderr[-4000:]}")
        figures["command"] = "volcast " + " ".join(a for a in args if "/" not in a)
        _progress(figures)
        figures["stdout"] = done.stdout
        return figures

    @contextmanager
    def _measured(self, delay_ms: float | None) -> Iterator[dict[str, Any]]:
        figures: dict[str, Any] = {"loadavg_before": loadavg()}
        if self.proxy is not None:
            if delay_ms is not None:
                self.proxy.set_delay(delay_ms)
            self.proxy.reset()
        cpu, moto = _children_cpu_s(), self._moto_cpu_s()
        started = time.perf_counter()
        yield figures
        figures["wall_s"] = round(time.perf_counter() - started, 3)
        figures["cpu_s"] = round(_children_cpu_s() - cpu, 3)
        if self.proxy is not None:
            figures["s3"] = self.proxy.stats()
            figures["moto_cpu_s"] = round(self._moto_cpu_s() - moto, 3)
        figures["loadavg_after"] = loadavg()

    def _moto_cpu_s(self) -> float:
        return process_tree_cpu_s(self.moto_pid) if self.moto_pid is not None else 0.0

    def api_cold_start(self, delay_ms: float, log_dir: Path) -> dict[str, Any]:
        """gunicorn (one worker) from spawn to the first /health 200; then stopped."""
        port = free_port()
        env = {**self.env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1"}
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        log_dir.mkdir(parents=True, exist_ok=True)
        figures: dict[str, Any] = {"loadavg_before": loadavg()}
        if self.proxy is not None:
            self.proxy.set_delay(delay_ms)
            self.proxy.reset()
        moto = self._moto_cpu_s()
        with (log_dir / f"api-{port}.err").open("wb") as err:
            started = time.perf_counter()
            server = subprocess.Popen(
                [gunicorn, "-c", "api/gunicorn.conf.py", "api.main:app"],
                cwd=self.code_dir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
            try:
                while not _healthy(f"http://127.0.0.1:{port}/health"):
                    if server.poll() is not None:
                        raise RuntimeError(f"the API exited with {server.returncode}")
                    if time.perf_counter() - started > STEP_TIMEOUT_S:
                        raise TimeoutError("the API did not become healthy")
                    time.sleep(HEALTH_POLL_S)
                figures["wall_s"] = round(time.perf_counter() - started, 3)
                figures["cpu_s"] = round(process_tree_cpu_s(server.pid), 3)
                figures["rss_mb"] = round(process_tree_rss_mb(server.pid), 1)
                if self.proxy is not None:
                    figures["s3"] = self.proxy.stats()
                    figures["moto_cpu_s"] = round(self._moto_cpu_s() - moto, 3)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()
        figures["loadavg_after"] = loadavg()
        _progress({"command": "api cold start", **figures})
        return figures


def _progress(figures: dict[str, Any]) -> None:
    """One line per finished step on stderr, so a long run shows where it is."""
    requests = figures.get("s3", {}).get("total")
    print(
        f"bench_cloud: {figures.get('command')}: {figures.get('wall_s')} s, "
        f"{figures.get('cpu_s')} s CPU, {requests} requests",
        file=sys.stderr,
        flush=True,
    )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_delay(
    runner: Runner,
    delay_ms: float,
    build_delay_ms: float,
    steps: tuple[str, ...],
    work: Path,
    full_start: str = FULL_START,
) -> dict[str, Any]:
    """Steps 1-7 on one fresh lake (see the module docstring)."""
    days = sessions(full_start)
    csv = ("--source", "csv", "--csv-dir", str(market_dir()))
    out: dict[str, Any] = {"delay_ms": delay_ms, "ranges": days}
    out["full_backfill"] = runner.volcast(
        "backfill", "--start", days["full_start"], "--end", days["full_end"], *csv,
        delay_ms=build_delay_ms,
    )  # fmt: skip
    out["full_backfill"]["delay_ms"] = build_delay_ms
    if "month_backfill" in steps:
        out["month_backfill"] = runner.volcast(
            "backfill", "--start", days["month_start"], "--end", days["month_end"], *csv,
            delay_ms=delay_ms,
        )  # fmt: skip
    else:  # still needed by the later steps, not timed
        runner.volcast(
            "backfill", "--start", days["month_start"], "--end", days["month_end"], *csv,
            delay_ms=0,
        )  # fmt: skip
    first = runner.volcast("daily", "--date", days["first_daily"], *csv, delay_ms=delay_ms)
    if "first_daily" in steps:
        out["first_daily"] = first
    out["daily"] = runner.volcast("daily", "--date", days["daily"], *csv, delay_ms=delay_ms)
    if "train" in steps or "api_cold_start" in steps:
        train = runner.volcast("train", delay_ms=delay_ms)
        summary = json.loads(train["stdout"])
        train["summary"] = {
            k: summary.get(k) for k in ("asof", "version", "training_rows", "decision")
        }
        out["train"] = train
    if "api_cold_start" in steps:
        version = out["train"]["summary"]["version"]
        if out["train"]["summary"]["decision"] != "promoted":
            runner.volcast("models", "promote", version, "--override", "bench", delay_ms=0)
        first = _first_feature_day(runner)
        prep = runner.volcast("infer", "--start", first, "--end", days["daily"], delay_ms=0)
        out["infer_all_features_prep"] = {k: prep[k] for k in ("wall_s", "cpu_s") if k in prep}
        starts = [runner.api_cold_start(delay_ms, work / "api") for _ in range(API_STARTS)]
        out["api_cold_start"] = {
            "runs": starts,
            "wall": Timing.of([s["wall_s"] for s in starts]).to_dict(),
            "cpu": Timing.of([s["cpu_s"] for s in starts]).to_dict(),
            "rss_mb_max": max(s["rss_mb"] for s in starts),
        }
    for step in ("full_backfill", "month_backfill", "first_daily", "daily", "train"):
        if step in out:
            out[step].pop("stdout", None)
    return out


def _first_feature_day(runner: Runner) -> str:
    code = (
        "import os; from core.lake import Lake; from core import contracts; "
        "lake = Lake(os.environ['VOLCAST_LAKE_URI'], os.environ.get('AWS_ENDPOINT_URL')); "
        "print(lake.partitions(contracts.FEATURES)[0].date())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=runner.code_dir,
        env=runner.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delays", default="0,10,25", help="ms per round trip, comma-separated")
    parser.add_argument("--build-delay", type=float, default=None, help="ms for step 1")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--local", action="store_true", help="a local folder, no S3, no proxy")
    parser.add_argument("--code-dir", type=Path, default=REPO)
    parser.add_argument("--full-start", default=FULL_START, help="a shorter history, for a try")
    args = parser.parse_args()
    market_dir()
    steps = tuple(s for s in args.steps.split(",") if s)
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; known: {STEPS}")
    info = machine()
    started = time.perf_counter()
    code = args.code_dir.resolve()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="volcast-bench-cloud-") as folder:
        work = Path(folder)
        if args.local:
            runner = Runner(str(work / "lake"), None, code, None)
            results.append(run_delay(runner, 0, 0, steps, work, args.full_start))
            results[-1]["delay_ms"] = None
        else:
            for delay in (float(d) for d in args.delays.split(",")):
                # A fresh moto per delay: moto scans every key of a bucket on each LIST, so one
                # lake must not pay for another's keys (S3 does not: a LIST costs its page).
                with s3_stack(work) as (bucket, proxy, moto_pid):
                    lake = f"s3://{bucket}/lake"
                    runner = Runner(lake, proxy.url, code, proxy, moto_pid)
                    build = delay if args.build_delay is None else args.build_delay
                    results.append(run_delay(runner, delay, build, steps, work, args.full_start))
    emit(
        {
            "date": dt.date.today().isoformat(),
            "machine": info,
            "code": str(code),
            "lake": "local folder" if args.local else "S3 (moto server, SSE-KMS) via the proxy",
            "results": results,
            "total_s": round(time.perf_counter() - started, 1),
            "loadavg_at_end": loadavg(),
        }
    )


if __name__ == "__main__":
    main()
