"""The snapshot follows the lake without a restart: a hot model swap and rollback under
concurrent requests with zero failures (gunicorn, 2 workers), new partitions picked up, and a
broken pointer that keeps the previous model serving."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from core import contracts
from core.config import Settings
from core.lake import Lake
from core.models.registry import POINTER_KEY, ModelRegistry
from core.serving import ServingHolder
from tests.api.conftest import ServedLake
from tests.api.servers import gunicorn

NEXT_SESSION = "2023-01-03"  # the session after the served lake's last feature date
WAIT_S = 60.0


def _add_feature_day(lake: Lake, source_day: str, new_day: str) -> None:
    frame = lake.read(contracts.FEATURES, source_day, source_day)
    frame["date"] = dt.datetime.fromisoformat(new_day)
    lake.write_partition(contracts.FEATURES, new_day, frame)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not seen within {WAIT_S} s: {what}")


class Traffic:
    """Client threads sending dated, historical and posted requests until stopped."""

    def __init__(self, url: str, features: dict[str, float], old_day: str, clients: int = 4):
        self.url, self.features, self.old_day = url, features, old_day
        self.results: list[tuple[int, str | None, str | None]] = []  # status, version, as_of
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def _run(self, index: int) -> None:
        bodies = [{}, {"as_of": self.old_day}, {"features": self.features, "top_k": 3}]
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            n = index
            while not self._stop.is_set():
                response = client.post("/predict", json=bodies[n % len(bodies)])
                body = response.json() if response.status_code == 200 else {}
                self.results.append(
                    (response.status_code, body.get("model_version"), body.get("as_of"))
                )
                n += 1

    def recent(self, n: int = 30) -> list[tuple[int, str | None, str | None]]:
        return self.results[-n:]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.mark.integration
def test_hot_swap_and_rollback_under_load_have_no_failures(
    served_lake: ServedLake, lake_copy: Path, tmp_path: Path
) -> None:
    lake = Lake(str(lake_copy))
    registry = ModelRegistry(lake)
    last = served_lake.prepared.last_feature_date
    frame = lake.read(contracts.FEATURES, last, last)
    features = {c: float(frame[c].iloc[0]) for c in frame.columns if c != "date"}
    v1, v2 = served_lake.version, served_lake.other_version
    refresh = {"VOLCAST_SERVING_REFRESH_SECONDS": "0.3"}
    with (
        gunicorn(lake_copy, tmp_path / "logs", workers=2, **refresh) as server,
        Traffic(server.url, features, served_lake.prepared.first_feature_date) as traffic,
    ):
        _wait_until(lambda: len(traffic.results) > 50, "traffic flowing")
        registry.promote(v2, override="test: hot swap")
        _wait_until(lambda: all(v == v2 for _, v, _ in traffic.recent()), f"every answer by {v2}")
        registry.rollback()
        _wait_until(lambda: all(v == v1 for _, v, _ in traffic.recent()), f"every answer by {v1}")
        _add_feature_day(lake, last, NEXT_SESSION)
        _wait_until(
            lambda: any(day == NEXT_SESSION for _, _, day in traffic.recent()),
            "the new feature day as the default date",
        )
    statuses = Counter(status for status, _, _ in traffic.results)
    versions = Counter(version for _, version, _ in traffic.results)
    assert statuses == {200: len(traffic.results)}, statuses
    assert versions[v1] > 0 and versions[v2] > 0
    assert server.process.returncode == 0  # graceful stop after the load


def test_new_partitions_are_picked_up_by_a_refresh(
    served_lake: ServedLake, lake_copy: Path
) -> None:
    holder = ServingHolder(Settings(lake_uri=str(lake_copy)))
    assert holder.refresh()
    assert holder.state.resolve_day(None).isoformat() == served_lake.prepared.last_feature_date
    assert not holder.refresh()  # nothing changed: the same snapshot object stays
    before = holder.state
    _add_feature_day(Lake(str(lake_copy)), served_lake.prepared.last_feature_date, NEXT_SESSION)
    assert holder.refresh()
    assert holder.state is not before
    assert holder.state.resolve_day(None).isoformat() == NEXT_SESSION
    assert holder.state.model is before.model  # the model was not reloaded for new data


def test_a_broken_pointer_keeps_the_previous_model(
    served_lake: ServedLake, lake_copy: Path
) -> None:
    holder = ServingHolder(Settings(lake_uri=str(lake_copy)))
    holder.refresh()
    Lake(str(lake_copy)).put_bytes(POINTER_KEY, b"20990101T000000Z-deadbeef")
    assert not holder.refresh()
    assert holder.state.model is not None and holder.state.model.version == served_lake.version
    assert "20990101T000000Z-deadbeef" in (holder.last_refresh_error or "")
    ModelRegistry(Lake(str(lake_copy))).promote(served_lake.other_version, override="test: fix")
    assert holder.refresh() and holder.state.model.version == served_lake.other_version
    assert holder.last_refresh_error is None
