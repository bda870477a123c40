"""`make up` / `make down`: the local stack, started and stopped as one.

up: a self-hosted `prefect server` on 127.0.0.1, the `volcast-local` process pool, the
deployments of prefect.local.yaml, a worker, and the API (gunicorn) when it is installed.
Each process runs in its own process group and its pid is recorded under .stack/, so down
stops exactly what up started (and nothing else). Prefect's home is .stack/prefect: the
stack never touches ~/.prefect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACK = Path(os.environ.get("VOLCAST_STACK_DIR", REPO / ".stack"))
BIN = Path(sys.executable).parent
POOL = "volcast-local"
START_TIMEOUT_S = 180


def _env() -> dict[str, str]:
    port = os.environ.get("PREFECT_PORT", "4200")
    return {
        **os.environ,
        "PREFECT_HOME": str(STACK / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": port,
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "VOLCAST_LAKE_URI": os.environ.get("VOLCAST_LAKE_URI", str(REPO / "lake")),
    }


def _start(name: str, args: list[str], env: dict[str, str]) -> None:
    log = (STACK / f"{name}.log").open("w")
    process = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    (STACK / f"{name}.pid").write_text(str(process.pid))
    print(f"started {name} (pid {process.pid}, log {STACK / name}.log)")


def _wait_http(url: str, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (the API says 503 until a model is promoted)
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{what} did not answer at {url} within {START_TIMEOUT_S} s: see {STACK}/")


def _prefect(env: dict[str, str], *args: str) -> None:
    """A prefect CLI call; its chatter goes to .stack/prefect-cli.log, its failure to stderr."""
    log = STACK / "prefect-cli.log"
    with log.open("a") as out:
        done = subprocess.run(
            [BIN / "prefect", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise SystemExit(f"prefect {' '.join(args)} failed (make down cleans up):\n{tail}")
    print(f"prefect {' '.join(args[:2])}: ok")


def pool_description(env: dict[str, str]) -> str:
    """What the local pool's runs write, for the Prefect UI's work pool page."""
    return (
        f"volcast local stack: flow runs on this machine, writing the lake "
        f"{env['VOLCAST_LAKE_URI']} (source: {env.get('VOLCAST_SOURCE', 'synthetic')})"
    )


def up() -> None:
    if any(STACK.glob("*.pid")):
        raise SystemExit("the stack is already up (or was not stopped): run `make down` first")
    STACK.mkdir(parents=True, exist_ok=True)
    env = _env()
    _start("prefect-server", [str(BIN / "prefect"), "server", "start"], env)
    _wait_http(env["PREFECT_API_URL"] + "/health", "prefect server")
    _prefect(env, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    _prefect(env, "work-pool", "update", POOL, "--description", pool_description(env))
    _prefect(env, "--no-prompt", "deploy", "--all", "--prefect-file", "prefect.local.yaml")
    _start("worker", [str(BIN / "prefect"), "worker", "start", "--pool", POOL], env)
    urls = {"prefect_ui": env["PREFECT_API_URL"].removesuffix("/api")}
    if (REPO / "api" / "gunicorn.conf.py").is_file():
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        api = [str(BIN / "gunicorn"), "-c", "api/gunicorn.conf.py", "api.main:app"]
        _start("api", api, {**env, "HOST": host, "PORT": port})
        urls["api"] = f"http://{host}:{port}"
        _wait_http(f"{urls['api']}/health", "API")
    (STACK / "urls.json").write_text(json.dumps(urls, indent=2))
    print(f"Prefect UI: {urls['prefect_ui']}")
    if "api" in urls:
        print(f"API: {urls['api']}/docs (it answers 503 until a model is promoted)")
    print(
        "run the evening chain now: "
        f"PREFECT_API_URL={env['PREFECT_API_URL']} .venv/bin/prefect deployment run daily/daily"
    )


def down() -> None:
    stopped = []
    for pid_file in sorted(STACK.glob("*.pid")):
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)  # the group: gunicorn workers, flow-run subprocesses
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(pid_file.stem)
        except ProcessLookupError:
            pass  # already gone
        pid_file.unlink()
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) still answers signal 0.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1]]()
