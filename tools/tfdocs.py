"""Inputs and Outputs tables of the Terraform READMEs, generated from the code.

    python -m tools.tfdocs           rewrite every README's tables from variables.tf/outputs.tf
    python -m tools.tfdocs --check   exit 1 and name each README that is out of date

Each directory of ``terraform/modules/`` (and ``terraform/bootstrap``) keeps its prose; the part
between terraform-docs' own markers, ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``, is
written here: one row per variable (name, description, type, default, required) and per output
(name, description), in the order the ``.tf`` files declare them. The layout is terraform-docs'
markdown table, so its binary can take over the same markers where it is installed; here the
files are read with python-hcl2 (the parser tests/infra already uses), no terraform needed.
``tests/infra/test_tfdocs.py`` fails while a README differs from what this writes.

Errors: ``MarkerError`` when a README lacks the markers (they are added by hand, once, where the
tables belong).
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import hcl2

REPO = Path(__file__).resolve().parents[1]
TERRAFORM = REPO / "terraform"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
_PARSER_KEYS = frozenset({"__is_block__", "__comments__", "__inline_comments__"})


class MarkerError(ValueError):
    """A README without exactly one BEGIN_TF_DOCS ... END_TF_DOCS pair."""


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    type: str
    default: str | None  # HCL text of the default; None when the variable is required
    flags: tuple[str, ...] = ()  # "sensitive", "ephemeral": shown after the description

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str
    flags: tuple[str, ...] = ()


def documented_directories(terraform: Path = TERRAFORM) -> list[Path]:
    """Every module directory, and the bootstrap root: those with a README and variables."""
    found = [*sorted((terraform / "modules").iterdir()), terraform / "bootstrap"]
    return [d for d in found if (d / "README.md").is_file() and (d / "variables.tf").is_file()]


def _blocks(directory: Path, kind: str) -> Iterator[tuple[str, dict]]:
    """(name, body) of every ``kind "name" {...}`` block of the directory, in file order."""
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for entry in parsed.get(kind, []):
            for label, body in entry.items():
                if label not in _PARSER_KEYS:
                    yield _unquote(label), body


def variables(directory: Path) -> list[Variable]:
    return [
        Variable(
            name=name,
            description=_text(body.get("description", "")),
            type=_expression(body.get("type", "any")),
            default=_hcl(body["default"]) if "default" in body else None,
            flags=_flags(body),
        )
        for name, body in _blocks(directory, "variable")
    ]


def outputs(directory: Path) -> list[Output]:
    return [
        Output(name, _text(body.get("description", "")), _flags(body))
        for name, body in _blocks(directory, "output")
    ]


def _flags(body: dict) -> tuple[str, ...]:
    return tuple(flag for flag in ("sensitive", "ephemeral") if body.get(flag) is True)


def tables(directory: Path) -> str:
    """The markdown between the markers: the Inputs table, then the Outputs table."""
    lines = [
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for v in variables(directory):
        default = "n/a" if v.default is None else _code(v.default)
        required = "yes" if v.required else "no"
        lines.append(
            f"| `{v.name}` | {_described(v.description, v.flags)} | {_code(v.type)} | {default} "
            f"| {required} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    lines += [f"| `{o.name}` | {_described(o.description, o.flags)} |" for o in outputs(directory)]
    return "\n".join(lines)


def render(readme: str, generated: str) -> str:
    """``readme`` with the part between the markers replaced by ``generated``."""
    paired = readme.count(BEGIN) == readme.count(END) == 1
    if not paired or readme.index(BEGIN) > readme.index(END):
        raise MarkerError(f"expected one {BEGIN} ... {END} pair")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{generated}\n{END}{tail}"


def stale(directories: Sequence[Path]) -> list[Path]:
    """READMEs whose tables differ from the code (MarkerError names a README without markers)."""
    out = []
    for directory in directories:
        readme = directory / "README.md"
        text = readme.read_text()
        try:
            if render(text, tables(directory)) != text:
                out.append(readme)
        except MarkerError as exc:
            raise MarkerError(f"{readme}: {exc}") from None
    return out


def write(directories: Sequence[Path]) -> list[Path]:
    """Rewrite the stale READMEs; returns them."""
    changed = stale(directories)
    for readme in changed:
        readme.write_text(render(readme.read_text(), tables(readme.parent)))
    return changed


# ---- HCL values as python-hcl2 returns them -> README text ----------------------------------
def _unquote(value: object) -> str:
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _text(raw: object) -> str:
    """A description: a quoted string or a heredoc (python-hcl2 keeps both as written)."""
    text = _unquote(raw)
    heredoc = re.fullmatch(r"<<(-?)([A-Z_]+)\n(.*?)\n\s*\2", text, re.S)
    if heredoc:
        body = heredoc.group(3)
        text = textwrap.dedent(body) if heredoc.group(1) else body
    text = text.replace('\\"', '"').replace("\\\\", "\\")
    return " ".join(text.split())


def _expression(raw: object) -> str:
    text = str(raw)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _hcl(value: object) -> str:
    """A default value as HCL: strings keep their quotes, null/true/false spelled as in HCL."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = [f"{_unquote(k)} = {_hcl(v)}" for k, v in value.items() if k not in _PARSER_KEYS]
        return "{" + (" " + ", ".join(pairs) + " " if pairs else "") + "}"
    return _expression(value)


def _described(description: str, flags: tuple[str, ...]) -> str:
    """Prose: a `<env>` would be read as an HTML tag, so `<` is escaped (CommonMark `\\<`)."""
    marks = f" *({', '.join(flags)})*" if flags else ""
    return _cell(description).replace("<", "\\<") + marks


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def main(argv: Sequence[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m tools.tfdocs", description=summary)
    parser.add_argument("--check", action="store_true", help="only report stale READMEs (exit 1)")
    args = parser.parse_args(argv)
    directories = documented_directories()
    if args.check:
        found = stale(directories)
        for readme in found:
            print(f"{readme.relative_to(REPO)} is out of date: run python -m tools.tfdocs")
        return 1 if found else 0
    for readme in write(directories):
        print(f"wrote {readme.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
