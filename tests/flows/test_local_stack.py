"""`make up` / `make down` (flows.local_stack) on free loopback ports and a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.flows.conftest import prefect_env

pytestmark = pytest.mark.integration


def _stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.local_stack", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_up_starts_the_stack_and_down_stops_exactly_it(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    prefect_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "VOLCAST_STACK_DIR": str(stack),
        "PREFECT_PORT": str(prefect_port),
        "PORT": str(api_port),
        "VOLCAST_LAKE_URI": str(tmp_path / "lake"),
        "PREFECT_UI_ENABLED": "false",
        **{k: v for k, v in prefect_env(tmp_path, "").items() if "PROXY" in k},
    }
    pids: dict[str, int] = {}
    up = _stack("up", env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Prefect UI: http://127.0.0.1:{prefect_port}" in up.stdout
        urls = json.loads((stack / "urls.json").read_text())
        api_url = f"http://127.0.0.1:{prefect_port}/api"
        assert _status(f"{api_url}/health") == 200
        request = urllib.request.Request(
            f"{api_url}/deployments/filter",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            deployments = {d["name"]: d for d in json.load(answer)}
        assert {"daily", "train", "freshness-check", "backfill"} <= set(deployments)
        lake = str(tmp_path / "lake")  # the pool and every deployment say which lake they write
        assert all(f"Lake: {lake}." in d["description"] for d in deployments.values())
        with urllib.request.urlopen(f"{api_url}/work_pools/volcast-local", timeout=10) as answer:
            assert f"writing the lake {lake}" in json.load(answer)["description"]
        if "api" in urls:  # an empty lake: the API is up and says no model is loaded
            assert _status(f"{urls['api']}/health") == 503
        pids.update({p.stem: int(p.read_text()) for p in stack.glob("*.pid")})
        assert {"prefect-server", "worker"} <= set(pids) and all(map(_alive, pids.values()))
        again = _stack("up", env)
        assert again.returncode != 0 and "already up" in again.stderr
    finally:
        down = _stack("down", env)
    assert down.returncode == 0, down.stderr
    assert not any(_alive(pid) for pid in pids.values())
    assert not list(stack.glob("*.pid"))
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{prefect_port}/api/health", timeout=2)
