"""A real self-hosted Prefect server on 127.0.0.1 (temporary home, free port) and a lake with
a promoted model, fed from CSV exports so tests can make the source late or wrong."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from core import steps
from core.calendar import shift_trading_days
from core.config import Settings
from core.sources import SyntheticSource
from tests.conftest import REPO, free_port
from tests.raw_frames import write_csv_folder

BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT_S = 150
SETUP_START, SETUP_END = "2019-01-02", "2022-06-30"
SMALL_GATE = {
    "VOLCAST_GATE_WINDOW_SESSIONS": "60",
    "VOLCAST_GATE_REFIT_EVERY": "30",
    "VOLCAST_CANARY_DAYS": "10",
}


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]  # what a client, a deploy or a worker process needs


def prefect_env(home: Path, api_url: str) -> dict[str, str]:
    # The server fetches Prefect's collection registry from GitHub when a work pool is created
    # and falls back to its bundled copy: a closed loopback proxy makes that fail at once,
    # without even a DNS lookup, so the tests' traffic stays on 127.0.0.1.
    closed_proxy = f"http://127.0.0.1:{free_port()}"
    return {
        "HTTPS_PROXY": closed_proxy,
        "HTTP_PROXY": closed_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PREFECT_CLI_WRAP_LINES": "false",
    }


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = prefect_env(home, api_url)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops all of it
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(api_url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prefect server did not start:\n{(home / 'server.log').read_text()}"
                )
            time.sleep(0.5)
        yield PrefectServer(api_url, env)
    finally:
        stop_group(server)
        log.close()


def stop_group(process: subprocess.Popen, grace_s: float = 20) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(grace_s)


@pytest.fixture(scope="session")
def prefect_client_settings(prefect_server: PrefectServer) -> Iterator[None]:
    """Point this process's Prefect client (flows run in-process, API reads) at the server."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    with temporary_settings(
        {PREFECT_API_URL: prefect_server.api_url, PREFECT_HOME: prefect_server.env["PREFECT_HOME"]}
    ):
        yield
        # Send buffered logs and events while the server still listens, not at exit.
        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)


@dataclass(frozen=True)
class MarketLake:
    """A lake built from CSV exports up to SETUP_END with a promoted model, and the raw rows
    of the sessions after it, for tests to publish (late, complete or broken)."""

    lake: Path
    csv_dir: Path
    raw: pd.DataFrame  # every synthetic bar through the sessions the tests use
    next_days: list[str]

    def env(self, lake: Path, csv_dir: Path) -> dict[str, str]:
        return {
            "VOLCAST_LAKE_URI": str(lake),
            "VOLCAST_SOURCE": "csv",
            "VOLCAST_CSV_DIR": str(csv_dir),
            **SMALL_GATE,
        }

    def publish(self, csv_dir: Path, through: str) -> None:
        write_csv_folder(self.raw.loc[self.raw["date"] <= pd.Timestamp(through)], csv_dir)

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.lake, dest)
        return dest


@pytest.fixture(scope="session")
def market_lake(tmp_path_factory) -> MarketLake:
    root = tmp_path_factory.mktemp("market")
    next_days = [shift_trading_days(SETUP_END, k).date().isoformat() for k in (1, 2, 3, 4)]
    raw = SyntheticSource(seed=11).fetch(
        ["SPY", "VIX", "VIX3M", "TLT", "HYG"], SETUP_START, next_days[-1]
    )
    market = MarketLake(root / "lake", root / "csv", raw, next_days)
    market.publish(market.csv_dir, SETUP_END)
    settings = Settings(
        lake_uri=str(market.lake),
        source="csv",
        csv_dir=market.csv_dir,
        **{k.removeprefix("VOLCAST_").lower(): v for k, v in SMALL_GATE.items()},
    )
    ctx = steps.Context.from_settings(settings)
    steps.backfill(ctx, SETUP_START, SETUP_END, progress=False)
    trained = steps.train(ctx)  # the HAR-X(VIX) baseline becomes the first champion
    assert trained.production_after is not None, trained.serving_reason
    return market


__all__ = ["REPO", "MarketLake", "PrefectServer", "stop_group"]
