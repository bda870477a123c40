"""The API as it runs for real: `gunicorn -c api/gunicorn.conf.py api.main:app` on a free
127.0.0.1 port, stopped (SIGTERM, then its process group if it hangs) by the test that
started it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loadtest.run import start_server
from tests.conftest import free_port


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
    """The served app on ``lake``; yields once every worker answers /health with a 200."""
    port = free_port()
    process = start_server(Path(lake), port, workers, logs, **env)
    server = Server(
        f"http://127.0.0.1:{port}",
        process,
        logs / f"server-{port}.out",
        logs / f"server-{port}.err",
    )
    try:
        yield server
    finally:
        server.stop()
