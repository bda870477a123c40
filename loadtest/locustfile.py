"""Realistic /predict traffic for Locust: mostly the latest forecast, some historical dates,
some posted feature vectors, a few bad requests (which must get their 4xx, never a 5xx).

Every /predict carries $VOLCAST_API_KEY as X-API-Key when it is set. Data comes from a JSON
file named by $VOLCAST_LOADTEST_DATA (written by loadtest/run.py from the
lake under test): {"dates": [dates with features], "vectors": [{feature: value}, ...]}.
Without it, historical dates and vectors are skipped and only latest/bad traffic runs.

A request fails (in Locust's stats) when its status is not the expected one; failure messages
start with "HTTP <status>" so the runner can count 5xx apart from other failures.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, between, task

_DATA_FILE = os.environ.get("VOLCAST_LOADTEST_DATA")
#: Sent as X-API-Key on every /predict when set (loadtest/run.py issues one for its server).
API_KEY = os.environ.get("VOLCAST_API_KEY")
_HEADERS = {"X-API-Key": API_KEY} if API_KEY else {}
_DATA = json.loads(Path(_DATA_FILE).read_text()) if _DATA_FILE else {"dates": [], "vectors": []}
DATES: list[str] = _DATA["dates"]
VECTORS: list[dict[str, float]] = _DATA["vectors"]

BAD_REQUESTS: list[tuple[str, dict, int]] = [
    ("bad: impossible date", {"as_of": "2022-02-30"}, 422),
    ("bad: top_k out of range", {"top_k": 99}, 422),
    ("bad: unknown feature", {"features": {"not_a_feature": 1.0}}, 422),
    ("bad: weekend", {"as_of": "2022-12-31"}, 404),
]


class ApiClient(FastHttpUser):
    """One HTTP client: a short think time between requests, as a dashboard or a job would."""

    wait_time = between(0.01, 0.1)

    def _post(self, name: str, body: dict, expected: int = 200) -> None:
        with self.client.post(
            "/predict", json=body, name=f"/predict {name}", headers=_HEADERS, catch_response=True
        ) as response:
            if response.status_code == expected:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code} (expected {expected})")

    @task(70)
    def latest(self) -> None:
        self._post("latest", {"top_k": 5})

    @task(15)
    def historical(self) -> None:
        if DATES:
            self._post("historical", {"as_of": random.choice(DATES), "top_k": 5})

    @task(10)
    def posted_vector(self) -> None:
        if VECTORS:
            self._post("vector", {"features": random.choice(VECTORS), "top_k": 5})

    @task(5)
    def bad_request(self) -> None:
        name, body, expected = random.choice(BAD_REQUESTS)
        self._post(name, body, expected)

    @task(2)
    def health(self) -> None:
        with self.client.get("/health", name="/health", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} (expected 200)")
