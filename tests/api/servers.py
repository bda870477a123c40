"""The API as it runs for real: `gunicorn -c api/gunicorn.conf.py api.main:app` on a free
127.0.0.1 port, stopped (SIGTERM, then its process group if it hangs) by the test that
started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO, free_port

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
COMMAND = [GUNICORN, "-c", "api/gunicorn.conf.py", "api.main:app"]
START_TIMEOUT_S = 120.0


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful) and the exit code; the process group is killed if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise
        return self.process.returncode


@contextmanager
def gunicorn(lake: Path | str, logs: Path, workers: int = 1, **env: str) -> Iterator[Server]:
    """The served app on ``lake``; yields once /health answers 200."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / f"gunicorn-{port}.out", logs / f"gunicorn-{port}.err"
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "VOLCAST_LAKE_URI": str(lake),
        **env,
    }
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            COMMAND, cwd=REPO, env=environment, stdout=out, stderr=err, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", process, stdout, stderr)
    try:
        _wait_healthy(server)
        yield server
    finally:
        server.stop()


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {server.stderr.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(
        f"gunicorn not healthy in {START_TIMEOUT_S} s: {server.stderr.read_text()[-3000:]}"
    )
