"""The served stack as deployed: gunicorn + uvicorn workers from api/gunicorn.conf.py, one JSON
access/EMF line per request on stdout, and the Locust file run headless against it."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from loadtest.run import issue_key, write_traffic_data
from tests.api.conftest import ServedLake
from tests.api.servers import Server, gunicorn
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_every_request_is_one_emf_line(served: Server) -> None:
    marker = "emf-check-"
    bodies = [({}, 200), ({"as_of": "2022-12-31"}, 404), ({"top_k": 0}, 422)]
    with httpx.Client(base_url=served.url) as client:
        for i, (body, status) in enumerate(bodies):
            response = client.post("/predict", json=body, headers={"X-Request-ID": f"{marker}{i}"})
            assert response.status_code == status
    assert "keep-alive" in response.headers.get("connection", "keep-alive")
    # A line is written once its response is sent: the client can read the file first.
    lines = _marked_lines(served.stdout, marker, expected=3)
    assert [x["status"] for x in lines] == [200, 404, 422]
    for line in lines:
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Volcast"
        assert (line["Service"], line["Route"], line["ServerErrors"]) == ("api", "/predict", 0)
        assert line["Latency"] > 0 and line["method"] == "POST"


def _marked_lines(log: Path, marker: str, expected: int, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [json.loads(x) for x in log.read_text().splitlines() if marker in x]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_burst_of_connections_is_spread_over_the_workers(served: Server) -> None:
    """One listening socket per worker (reuse_port): with a shared one, the worker that woke
    first took 47 of 50 connections opened at once."""
    port = int(served.url.rsplit(":", 1)[1])
    workers = psutil.Process(served.process.pid).children()
    assert len(workers) == 2
    connections = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(40)]
    try:
        for conn in connections:  # all connected first: a burst, then one request on each
            conn.sendall(b"GET /version HTTP/1.1\r\nHost: volcast\r\n\r\n")
        for conn in connections:
            assert conn.recv(64).startswith(b"HTTP/1.1 200")
        held = [
            sum(
                c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                for c in worker.net_connections(kind="tcp")
            )
            for worker in workers
        ]
    finally:
        for conn in connections:
            conn.close()
    assert sum(held) == 40
    # By hash, fewer than 8 of 40 on one worker has probability ~4e-5.
    assert min(held) >= 8, held


def test_gunicorn_config_from_environment() -> None:
    probe = (
        "import runpy, json; c = runpy.run_path('api/gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in ('bind', 'workers', 'keepalive', 'worker_class')}))"
    )
    env = {"HOST": "0.0.0.0", "PORT": "8080", "WEB_CONCURRENCY": "3", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    config = json.loads(result.stdout)
    assert config["bind"] == ["0.0.0.0:8080"] and config["workers"] == 3
    assert config["keepalive"] > 60  # above the ALB's default idle timeout
    assert config["worker_class"] == "uvicorn_worker.UvicornWorker"
    defaults = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env={"PATH": ""}, capture_output=True, text=True
    )
    assert json.loads(defaults.stdout)["bind"] == ["127.0.0.1:8000"]


def test_locustfile_runs_clean_against_the_server(served_lake: ServedLake, tmp_path: Path) -> None:
    """Locust sends the run's API key on every /predict to a server that checks keys."""
    data = write_traffic_data(served_lake.prepared, tmp_path / "traffic.json")
    prefix = tmp_path / "smoke"
    keys, key = issue_key(tmp_path)
    with gunicorn(served_lake.root, tmp_path / "logs", VOLCAST_API_KEYS=str(keys)) as served:
        _locust(served.url, data, prefix, key)
        access = [
            json.loads(x) for x in served.stdout.read_text().splitlines() if x.startswith("{")
        ]
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Request Count"]) > 50
    assert int(rows["Aggregated"]["Failure Count"]) == 0, Path(f"{prefix}_failures.csv").read_text()
    for name in ("/predict latest", "/predict historical", "/predict vector"):
        assert int(rows[name]["Request Count"]) > 0
    predict = [x for x in access if x.get("Route") == "/predict"]
    assert predict and all(x["key_id"] == key.split("_")[1] for x in predict)


def test_served_without_keys_says_it_is_open(served: Server) -> None:
    assert "API keys: none configured" in served.stderr.read_text()


def _locust(url: str, data: Path, prefix: Path, key: str) -> None:
    subprocess.run(
        [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            "loadtest/locustfile.py",
            "--headless",
            "--users",
            "5",
            "--spawn-rate",
            "5",
            "--run-time",
            "8s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
        ],
        cwd=REPO,
        env={"VOLCAST_LOADTEST_DATA": str(data), "VOLCAST_API_KEY": key, "PATH": ""},
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_client_that_leaves_mid_body_is_logged_499_not_a_server_error(served: Server) -> None:
    """Content-Length promises 100 bytes, 9 arrive, the client closes: no answer can reach it,
    and the line must not count a ServerError (the 5xx alarm watches that metric)."""
    port = int(served.url.rsplit(":", 1)[1])
    marker = "left-mid-body"
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100\r\nX-Request-ID: {marker}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head.encode() + b'{"as_of":')
    [line] = _marked_lines(served.stdout, marker, expected=1)
    assert (line["status"], line["ServerErrors"], line["Route"]) == (499, 0, "/predict")
