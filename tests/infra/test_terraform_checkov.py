"""checkov over terraform/ finds nothing: zero failed checks, every skip inline with a reason.

checkov lives in its own venv (.venv-tools, built by `make test`); it runs offline here: no
policy download (--skip-download, BC_SKIP_MAPPING), no PyPI update check, and a closed
loopback proxy so that any request it might still attempt fails at once instead of leaving.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.infra.terraform_static import REPO, TERRAFORM, tf_files

CHECKOV = REPO / ".venv-tools" / "bin" / "checkov"
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    closed = "http://127.0.0.1:9"  # discard port, nothing listens: a request fails immediately
    env.update(
        BC_SKIP_MAPPING="TRUE",
        CKV_SKIP_PACKAGE_UPDATE_CHECK="true",
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        NO_PROXY="",
        PYTHONWARNINGS="ignore",
    )
    return env


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    if not CHECKOV.exists():
        pytest.skip(
            f"{CHECKOV} is missing: `make test` builds .venv-tools (make .venv-tools/.installed)"
        )
    command = [
        str(CHECKOV),
        "--directory", str(TERRAFORM),
        "--framework", "terraform",
        "--output", "json",
        "--quiet",
        "--compact",
        "--skip-download",
        "--download-external-modules", "false",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=_offline_env(), cwd=REPO
    )
    # Exit code 1 means "failed checks", which the test below reports one by one.
    assert done.returncode in (0, 1), f"checkov crashed ({done.returncode}):\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1, f"expected one terraform report, got {len(reports)}"
    return reports[0]


def test_checkov_parses_every_file(checkov_report: dict) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {summary}"
    assert summary["resource_count"] >= 100, (
        f"checkov saw only {summary['resource_count']} resources"
    )
    assert summary["passed"] > 0


def test_checkov_has_zero_failed_checks(checkov_report: dict) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): "
        f"{c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert not failed, f"{len(failed)} failed checkov checks:\n" + "\n".join(failed)


def test_every_checkov_skip_is_inline_with_a_reason() -> None:
    skips = []
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP.search(line)
            if match:
                skips.append((path, number, match.group(1), (match.group(2) or "").strip()))
    assert skips, "no inline skips found: the pattern or the tree changed"
    unexplained = [f"{p}:{n} {cid}" for p, n, cid, reason in skips if len(reason) < 20]
    assert not unexplained, "checkov skips without a reason:\n" + "\n".join(unexplained)
    config_files = [".checkov.yaml", ".checkov.yml"]
    assert not [f for f in config_files if (REPO / f).exists() or (TERRAFORM / f).exists()], (
        "skips belong inline next to the resource, not in a checkov config file"
    )
