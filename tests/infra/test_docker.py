"""docker/Dockerfile and .dockerignore: hadolint-clean, and each image runs what the tests run.

No Docker engine here, so the images are checked by reading the Dockerfile: every target's
command must be one the test suite and the Makefile run (a real `volcast` subcommand, the
`make serve` gunicorn command), the health check is executed against a local server, and the
build context is computed from .dockerignore with Docker's matching rules.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app as volcast_app
from tests.conftest import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
HADOLINT = REPO / ".venv-tools" / "bin" / "hadolint"
FLOW_SERVICES = ("ingest", "features", "train", "infer")
SERVICES = (*FLOW_SERVICES, "api")
API_COMMAND = ["gunicorn", "-c", "api/gunicorn.conf.py", "api.main:app"]
# What the package needs at /opt/volcast (docs: the team's names), copied from the context.
RUNTIME_PATHS = {"core", "flows", "api", "prefect.yaml", "pyproject.toml"}


# ---- a small Dockerfile reader (instructions per stage; enough for this one file) ----


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _logical_lines(text: str) -> Iterator[str]:
    """Instructions with their continuation lines joined; comment lines dropped."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def read_stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in _logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert match, f"unreadable FROM line: {line}"
            name = match.group(2) or f"stage{len(stages)}"
            current = stages[name] = Stage(name=name, base=match.group(1))
        else:
            assert current is not None, f"{keyword} before any FROM"
            current.instructions.append((keyword, args))
    return stages


def chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The target stage and the stages it is built FROM, nearest first."""
    out = [stages[target]]
    while out[-1].base in stages:
        out.append(stages[out[-1].base])
    return out


def effective(stages: dict[str, Stage], target: str, keyword: str) -> str | None:
    """The last value of an instruction that a target inherits (CMD, USER, WORKDIR, ...)."""
    for stage in chain(stages, target):
        values = [args for kw, args in stage.instructions if kw == keyword]
        if values:
            return values[-1]
    return None


def exec_form(args: str | None) -> list[str]:
    assert args is not None and args.startswith("["), f"not exec (JSON) form: {args!r}"
    return json.loads(args)


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return read_stages()


# ---- hadolint ----


def _hadolint(dockerfile: Path, tmp_path: Path) -> list[dict]:
    if not HADOLINT.is_file():
        pytest.fail(f"{HADOLINT} is missing: run `make .venv-tools/.installed`")
    # An explicit empty config, so no user-level hadolint.yaml can hide a rule.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    done = subprocess.run(
        [str(HADOLINT), "--config", str(config), "--format", "json", "--no-color",
         "--failure-threshold", "style", str(dockerfile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip().startswith("["), f"hadolint failed: {done.stderr}{done.stdout}"
    return json.loads(done.stdout)


def test_dockerfile_is_hadolint_clean(tmp_path: Path) -> None:
    findings = _hadolint(DOCKERFILE, tmp_path)
    listed = "\n".join(f"  line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert not findings, f"hadolint findings in docker/Dockerfile:\n{listed}"


def test_hadolint_reports_what_it_should(tmp_path: Path) -> None:
    """The linter really runs: a floating tag and an unpinned apt install are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    codes = {f["code"] for f in _hadolint(bad, tmp_path)}
    assert {"DL3007", "DL3008"} <= codes, codes


# ---- the images and their commands ----


def test_every_service_has_a_target(stages: dict[str, Stage]) -> None:
    missing = [s for s in SERVICES if s not in stages]
    assert not missing, f"docker/Dockerfile has no target for {missing} (stages: {list(stages)})"


def test_base_image_is_a_pinned_python_311_slim(stages: dict[str, Stage]) -> None:
    external = {s.base for s in stages.values() if s.base not in stages}
    assert external, "no external base image"
    for image in external:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), (
            f"base image {image!r} is not pinned to an exact python 3.11.x slim-bookworm tag"
        )


def test_multi_stage_runtime_takes_only_the_venv_from_the_builder(
    stages: dict[str, Stage],
) -> None:
    froms = [
        args
        for stage in chain(stages, "api")
        for kw, args in stage.instructions
        if kw == "COPY" and "--from=" in args
    ]
    assert froms == ["--from=builder /opt/venv /opt/venv"], froms
    assert "builder" not in {s.name for s in chain(stages, "api")}, "runtime built FROM builder"


@pytest.mark.parametrize("service", FLOW_SERVICES)
def test_flow_image_runs_a_real_volcast_command(stages: dict[str, Stage], service: str) -> None:
    command = exec_form(effective(stages, service, "CMD"))
    assert command == ["volcast", service], f"{service} image CMD is {command}"
    # The same typer app the e2e tests drive: `volcast <service> --help` must exist.
    result = CliRunner().invoke(volcast_app, [*command[1:], "--help"])
    assert result.exit_code == 0, f"`{' '.join(command)} --help` failed: {result.output}"


def test_entrypoint_is_only_the_init(stages: dict[str, Stage]) -> None:
    """Prefect's ECS push pool replaces CMD with the flow run; an ENTRYPOINT other than the
    init would be prepended to that command and break every flow run."""
    for service in SERVICES:
        entrypoint = exec_form(effective(stages, service, "ENTRYPOINT"))
        assert entrypoint == ["tini", "--"], f"{service}: ENTRYPOINT {entrypoint}"


def _make_recipe(target: str) -> list[str]:
    text = (REPO / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n?)+)", text, re.M)
    assert match, f"the Makefile has no `{target}` target"
    return [line.strip() for line in match.group(1).splitlines()]


def test_api_image_runs_make_serve_command(stages: dict[str, Stage]) -> None:
    command = exec_form(effective(stages, "api", "CMD"))
    assert command == API_COMMAND, f"api image CMD is {command}"
    # `make serve` runs it from the venv: $(BIN)/gunicorn ... is the same command.
    recipe = [shlex.split(line) for line in _make_recipe("serve")]
    runs = [[Path(argv[0]).name, *argv[1:]] for argv in recipe if argv]
    assert command in runs, f"`make serve` runs {recipe}, not {command}"
    # The API tests, the load test and the benchmark start it with the same command.
    from loadtest.run import APP, GUNICORN_COMMAND

    tested = [Path(GUNICORN_COMMAND[0]).name, *GUNICORN_COMMAND[1:], APP]
    assert tested == command, f"loadtest.run.start_server runs {tested}"
    for path in ("api/gunicorn.conf.py", "api/main.py"):
        assert (REPO / path).is_file(), f"the api image's command needs {path}"


def test_api_image_env_makes_gunicorn_listen_on_all_interfaces(
    stages: dict[str, Stage],
) -> None:
    env = dict(
        re.findall(r"(\w+)=(\S+)", " ".join(a for k, a in stages["api"].instructions if k == "ENV"))
    )
    assert env.get("HOST") == "0.0.0.0" and env.get("PORT") == "8000", env
    assert [a for k, a in stages["api"].instructions if k == "EXPOSE"] == ["8000"]
    # Read the real gunicorn config with the image's environment.
    code = "import runpy; print(runpy.run_path('api/gunicorn.conf.py')['bind'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0.0.0.0:8000" in done.stdout, f"gunicorn binds {done.stdout.strip()}"


def _local_env(**extra: str) -> dict[str, str]:
    """The environment without proxy settings: requests stay on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, "NO_PROXY": "*", "no_proxy": "*", **extra}


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012 - one server per test, reset by the fixture

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    _Health.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Health
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_api_healthcheck_follows_health_endpoint(
    stages: dict[str, Stage], health_server: tuple[int, type[_Health]], status: int, healthy: bool
) -> None:
    options, _, command = (effective(stages, "api", "HEALTHCHECK") or "").partition(" CMD ")
    assert "--timeout=" in options and "--interval=" in options, options
    argv = exec_form(command.strip())
    assert argv[0] == "python", f"slim images have no curl: {argv}"
    port, handler = health_server
    handler.status = status
    done = subprocess.run(
        [sys.executable, *argv[1:]], env=_local_env(PORT=str(port)),
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert (done.returncode == 0) is healthy, f"/health {status} -> exit {done.returncode}"
    assert handler.paths == ["/health"], handler.paths


def test_images_run_as_a_fixed_non_root_user(stages: dict[str, Stage]) -> None:
    runs = " ".join(a for s in stages.values() for k, a in s.instructions if k == "RUN")
    created = re.search(r"useradd\b[^&]*--uid (\d+)", runs)
    assert created, "no useradd --uid in the Dockerfile"
    for service in SERVICES:
        user = effective(stages, service, "USER") or "root"
        uid = user.split(":")[0]
        assert uid.isdigit() and uid != "0", f"{service} runs as {user!r}, not a numeric non-root"
        assert uid == created.group(1), f"{service}: USER {uid} is not the created uid"
        assert effective(stages, service, "WORKDIR") == "/opt/volcast", service


def test_runtime_copies_exactly_what_the_package_needs(stages: dict[str, Stage]) -> None:
    copied: set[str] = set()
    for stage in chain(stages, "api"):
        for kw, args in stage.instructions:
            if kw == "COPY" and "--from=" not in args:
                *sources, _dest = args.split()
                copied |= {src.rstrip("/") for src in sources if not src.startswith("--")}
    assert copied == RUNTIME_PATHS, f"runtime copies {sorted(copied)}, needs {RUNTIME_PATHS}"


def _step_args(node: object, step_suffix: str) -> Iterator[dict]:
    """Arguments of every Prefect step named ``...<step_suffix>`` anywhere in prefect.yaml."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.endswith(step_suffix) and isinstance(value, dict):
                yield value
            else:
                yield from _step_args(value, step_suffix)
    elif isinstance(node, list):
        for item in node:
            yield from _step_args(item, step_suffix)


def test_prefect_pull_step_finds_the_code_where_the_image_puts_it(
    stages: dict[str, Stage],
) -> None:
    path = REPO / "prefect.yaml"
    assert path.is_file(), "prefect.yaml is missing: the images copy it, Prefect deploys from it"
    text = path.read_text()
    directories = {
        a.get("directory") for a in _step_args(yaml.safe_load(text), "set_working_directory")
    }
    workdirs = {effective(stages, service, "WORKDIR") for service in FLOW_SERVICES}
    assert directories and directories == workdirs, (
        f"prefect.yaml's set_working_directory {directories} != the images' WORKDIR {workdirs}"
    )
    for name in ("VOLCAST_ECR_REGISTRY", "GITHUB_SHA"):
        assert name in text, f"prefect.yaml does not build image names from ${name}"


def test_code_version_is_stamped_from_a_build_arg(stages: dict[str, Stage]) -> None:
    runtime = [(k, a) for s in chain(stages, "api") for k, a in s.instructions]
    assert ("ARG", 'VOLCAST_CODE_VERSION=""') in runtime
    assert ("ENV", "VOLCAST_CODE_VERSION=$VOLCAST_CODE_VERSION") in runtime


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_image_constraints_agree_with_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"])
    locked = _pins((REPO / "docker" / "constraints.txt").read_text().splitlines())
    drift = {n: (v, locked.get(n)) for n, v in wanted.items() if locked.get(n) != v}
    assert not drift, (
        f"pyproject pin vs docker/constraints.txt: {drift}; run `make docker-constraints`"
    )


# ---- .dockerignore: the build context, with Docker's matching rules ----


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go filepath.Match plus Docker's `**` (any number of directories)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out, i = out[:-2] + "(?:.*/)?", i + 1
            continue
        char = pattern[i]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


def _ignore_rules(path: Path = DOCKERIGNORE) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def sent_to_docker(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a context path survives .dockerignore: the last pattern that matches the path
    or one of its parent directories decides (moby's patternmatcher)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.match(p) for p in prefixes):
            excluded = not negated
    return not excluded


@pytest.mark.parametrize(
    ("patterns", "path", "sent"),
    [
        (["*", "!core"], "core/steps/data.py", True),
        (["*", "!core"], "tests/conftest.py", False),
        (["*", "!core", "**/__pycache__"], "core/models/__pycache__/x.pyc", False),
        (["lake"], "lake/raw.market/date=2024-01-02/part-0.parquet", False),
        (["*.md"], "docs/api.md", True),
    ],
)
def test_context_matcher_follows_docker_rules(
    tmp_path: Path, patterns: list[str], path: str, sent: bool
) -> None:
    ignore = tmp_path / ".dockerignore"
    ignore.write_text("\n".join(patterns) + "\n")
    assert sent_to_docker(path, _ignore_rules(ignore)) is sent


def _context_sources(stages: dict[str, Stage]) -> set[str]:
    sources = set()
    for stage in stages.values():
        for kw, args in stage.instructions:
            if kw == "COPY" and "--from=" not in args:
                sources |= {s.rstrip("/") for s in args.split()[:-1] if not s.startswith("--")}
    return sources


def test_build_context_has_everything_the_dockerfile_copies(stages: dict[str, Stage]) -> None:
    rules = _ignore_rules()
    tracked = subprocess.run(
        ["git", "ls-files", "core", "flows", "api"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    wanted = sorted(_context_sources(stages)) + [p for p in tracked if p.endswith(".py")]
    missing = [p for p in wanted if not sent_to_docker(p, rules)]
    assert not missing, f".dockerignore leaves out files the build copies: {missing[:10]}"
    absent = [p for p in _context_sources(stages) if not (REPO / p).exists()]
    assert not absent, f"the Dockerfile copies paths that do not exist: {absent}"


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".venv-tools/bin/hadolint",
        "lake/raw.market/date=2024-01-02/part-0.parquet",
        "out/eval/evaluation.json",
        "tests/conftest.py",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "core/__pycache__/config.cpython-311.pyc",
        "volcast.egg-info/PKG-INFO",
        "terraform/envs/prod/.terraform/terraform.tfstate",
        "catboost_info/learn_error.tsv",
    ],
)
def test_build_context_leaves_out(path: str) -> None:
    assert not sent_to_docker(path, _ignore_rules()), f".dockerignore sends {path} to Docker"
