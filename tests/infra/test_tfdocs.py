"""The Terraform READMEs' Inputs/Outputs tables are what tools/tfdocs.py writes from the code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.infra.terraform_static import MODULES, REPO, TERRAFORM, directory
from tools import tfdocs

DOCUMENTED = tfdocs.documented_directories()


def test_every_module_and_the_bootstrap_root_is_documented() -> None:
    modules = {p for p in MODULES.iterdir() if p.is_dir()}
    assert set(DOCUMENTED) == modules | {TERRAFORM / "bootstrap"}


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: str(p.relative_to(REPO)))
def test_readme_tables_match_the_code(path: Path) -> None:
    readme = (path / "README.md").read_text()
    assert tfdocs.render(readme, tfdocs.tables(path)) == readme, (
        f"{path.relative_to(REPO)}/README.md is out of date: run `python -m tools.tfdocs`"
    )


@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: str(p.relative_to(REPO)))
def test_tables_list_every_variable_and_output_with_its_default(path: Path) -> None:
    """The rows, read back from the README, against the parse tests/infra uses elsewhere."""
    found = directory(path)
    section = (path / "README.md").read_text().split(tfdocs.BEGIN)[1].split(tfdocs.END)[0]
    inputs, outputs = section.split("## Outputs")
    rows = {
        cells[0].strip("` "): cells
        for line in inputs.splitlines()
        if line.startswith("| `") and (cells := [c.strip() for c in line.strip("|").split(" | ")])
    }
    assert set(rows) == set(found.variables)
    for name, body in found.variables.items():
        required = rows[name][-1]
        assert required == ("no" if "default" in body else "yes"), name
        if "default" not in body:
            assert rows[name][-2] == "n/a", name
    named_outputs = {line.split("`")[1] for line in outputs.splitlines() if line.startswith("| `")}
    assert named_outputs == found.outputs


def test_known_rows() -> None:
    """A few rows written out in full: defaults, types, heredocs, escapes, flags."""
    ecs = tfdocs.tables(MODULES / "ecs")
    assert "| `api_cpu` | API task CPU units (256 = 0.25 vCPU). | `number` | `256` | no |" in ecs
    assert "| `cpu_architecture` |" in ecs and '| `"X86_64"` | no |' in ecs
    stack = tfdocs.tables(MODULES / "stack")
    assert '`["use1-az1", "use1-az2"]` | no |' in stack
    domain = "| `api_domain_name` | Optional custom domain of the API (with api_certificate_arn)."
    assert domain in stack
    assert "`null` | no |" in stack
    assert "\\<project>-\\<env>" in stack, "an HTML-looking <env> is escaped"
    s3 = tfdocs.tables(MODULES / "s3")
    # a <<-EOT heredoc description, one line; an object type with an optional() default
    assert "| `transitions` | Storage-class tiers per key prefix: STANDARD_IA after" in s3
    assert 'optional(string, "GLACIER_IR")}))` | `[]` | no |' in s3
    prefect = tfdocs.tables(MODULES / "prefect")
    assert "*(sensitive, ephemeral)* | `string` | n/a | yes |" in prefect


def test_a_change_in_the_code_makes_the_readme_stale(tmp_path: Path) -> None:
    copy = tmp_path / "kms"
    shutil.copytree(MODULES / "kms", copy)
    assert tfdocs.stale([copy]) == []
    with (copy / "variables.tf").open("a") as handle:
        handle.write(
            '\nvariable "multi_region" {\n  description = "A | pipe."\n  type        = bool\n'
            "  default     = false\n}\n"
        )
    assert tfdocs.stale([copy]) == [copy / "README.md"]
    assert tfdocs.write([copy]) == [copy / "README.md"]
    readme = (copy / "README.md").read_text()
    assert "| `multi_region` | A \\| pipe. | `bool` | `false` | no |" in readme
    assert tfdocs.stale([copy]) == []
    assert readme.startswith("# kms\n"), "the prose above the markers is kept"


def test_a_readme_without_markers_is_an_error(tmp_path: Path) -> None:
    copy = tmp_path / "kms"
    shutil.copytree(MODULES / "kms", copy)
    (copy / "README.md").write_text("# kms\n\nNo tables here.\n")
    with pytest.raises(tfdocs.MarkerError, match="BEGIN_TF_DOCS"):
        tfdocs.stale([copy])


def test_check_mode_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert tfdocs.main(["--check"]) == 0
    assert capsys.readouterr().out == ""
