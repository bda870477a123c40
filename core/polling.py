"""A background poll: call a function every N seconds in a daemon thread until stopped.

What the API's long-lived holders share (the serving snapshot, the API keys): each re-reads
its source on an interval, and the first read happens before ``start`` (at start-up).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Poller:
    """Calls ``poll`` every ``interval_s`` seconds (after each wait, not at start) in a daemon
    thread named ``name``. ``poll`` must not raise: a raise ends the thread. ``start`` twice
    is a no-op; ``stop`` waits up to ``join_timeout_s`` for the running call to finish."""

    def __init__(self, poll: Callable[[], object], name: str, join_timeout_s: float = 30.0):
        self.poll, self.name, self.join_timeout_s = poll, name, join_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, interval_s: float) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_s,), name=self.name, daemon=True
        )
        self._thread.start()

    def _loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout_s)
            self._thread = None
