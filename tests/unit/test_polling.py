"""core.polling.Poller: the background re-read the API's holders share."""

from __future__ import annotations

import threading
import time

from core.polling import Poller


def test_polls_on_its_interval_until_stopped() -> None:
    calls: list[float] = []
    done = threading.Event()

    def poll() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            done.set()

    poller = Poller(poll, name="test-poll")
    started = time.monotonic()
    poller.start(0.02)
    poller.start(0.02)  # a second start adds no second thread
    assert done.wait(5)
    poller.stop()
    assert not poller.running
    assert calls[0] - started >= 0.02  # the first call waits an interval: start-up read already
    count = len(calls)
    time.sleep(0.1)
    assert len(calls) == count  # nothing after stop
    assert [t.name for t in threading.enumerate()].count("test-poll") == 0


def test_stop_before_start_is_harmless_and_it_can_start_again() -> None:
    hits = threading.Event()
    poller = Poller(hits.set, name="test-poll-again")
    poller.stop()
    poller.start(0.01)
    assert hits.wait(5)
    poller.stop()
    assert not poller.running
