"""Static reading of terraform/: parsed files, declared names and references, fmt alignment.

No terraform binary exists here, so the checks that `terraform validate` and `terraform fmt`
would make are approximated from the parse (python-hcl2) and the raw text. Only the parts of
the language volcast uses are handled; anything unexpected fails loudly in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import hcl2

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
ENVS = (TERRAFORM / "envs" / "dev", TERRAFORM / "envs" / "prod")
ROOTS = (*ENVS, TERRAFORM / "bootstrap")
#: The composition every env root calls once (tests/infra/test_terraform.py: the roots stay thin).
STACK = MODULES / "stack"

REF = re.compile(r"\b(var|local|module)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?")


def tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def unquote(value: object) -> object:
    """python-hcl2 keeps the quotes of string literals and block labels: drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def parse(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle)


def blocks(path: Path, kind: str) -> Iterator[tuple[tuple[str, ...], dict]]:
    """(labels, body) of every top-level block of a kind (resource, variable, module, ...)."""
    for entry in parse(path).get(kind, []):
        yield from _labelled(entry, ())


def _labelled(entry: dict, labels: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict]]:
    if entry.get("__is_block__"):
        yield labels, entry
        return
    for label, inner in entry.items():
        yield from _labelled(inner, (*labels, str(unquote(label))))


def strings_in(value: object) -> Iterator[str]:
    """Every string inside a parsed value (expressions are strings like "${var.x}")."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key == "__comments__":  # python-hcl2 keeps comments: they are not references
                continue
            yield from strings_in(key)
            yield from strings_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from strings_in(inner)


@dataclass
class Directory:
    """What one Terraform directory (a module or a root) declares and references."""

    path: Path
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    modules: dict[str, dict] = field(default_factory=dict)
    refs: set[tuple[str, str, str | None]] = field(default_factory=set)
    #: (from, to) of every `moved` block: addresses, not references (they name no value)
    moved: list[tuple[str, str]] = field(default_factory=list)

    @property
    def required_variables(self) -> set[str]:
        return {name for name, body in self.variables.items() if "default" not in body}


@cache
def directory(path: Path) -> Directory:
    found = Directory(path)
    for file in sorted(path.glob("*.tf")):
        for (name,), body in blocks(file, "variable"):
            found.variables[name] = body
        for (name,), _ in blocks(file, "output"):
            found.outputs.add(name)
        for entry in parse(file).get("locals", []):
            found.locals.update(k for k in entry if k != "__is_block__")
        for (name,), body in blocks(file, "module"):
            found.modules[name] = body
        for entry in parse(file).get("moved", []):
            found.moved.append((_address(entry["from"]), _address(entry["to"])))
        references = {k: v for k, v in parse(file).items() if k != "moved"}
        for text in strings_in(references):
            found.refs.update(REF.findall(text))
    return found


def _address(raw: str) -> str:
    """A `moved` endpoint as written (python-hcl2 wraps it as an expression: ${module.x})."""
    return str(raw).removeprefix("${").removesuffix("}")


def module_source(root: Path, body: dict) -> Path:
    return (root / str(unquote(body["source"]))).resolve()


# --------------------------------------------------------------------------------------------
# Raw text: comments, statements, and terraform fmt's "=" alignment.
# --------------------------------------------------------------------------------------------
@dataclass
class Line:
    number: int
    text: str
    code: str  # the line with strings blanked and comments removed
    comment: str | None  # trailing or whole-line comment text
    in_heredoc: bool


def lines_of(path: Path) -> list[Line]:
    """Split a file into lines whose code part has string contents and comments removed.

    Strings are blanked (same length) so brackets and "=" inside them are not code; `${...}`
    interpolations inside strings stay blanked too (they are balanced by construction).
    """
    result: list[Line] = []
    heredoc: str | None = None
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if heredoc is not None:
            if raw.strip() == heredoc:
                heredoc = None
            result.append(Line(number, raw, "", None, True))
            continue
        code, comment = _strip(raw)
        opener = re.search(r"<<-?([A-Z_]+)\s*$", code)
        if opener:
            heredoc = opener.group(1)
        result.append(Line(number, raw, code, comment, False))
    return result


def _strip(raw: str) -> tuple[str, str | None]:
    out: list[str] = []
    stack: list[str] = []  # "s" = in string, "i" = in interpolation
    i = 0
    while i < len(raw):
        char = raw[i]
        in_string = bool(stack) and stack[-1] == "s"
        if in_string:
            if char == "\\":
                out.append("  ")
                i += 2
                continue
            if raw.startswith("${", i):
                stack.append("i")
                out.append("  ")
                i += 2
                continue
            if char == '"':
                stack.pop()
                out.append('"')
                i += 1
                continue
            out.append(" ")
            i += 1
            continue
        inside_interpolation = bool(stack)
        if char == '"':
            stack.append("s")
            out.append('"')
        elif inside_interpolation and char == "{":
            stack.append("b")
            out.append(" ")
        elif inside_interpolation and char == "}":
            stack.pop()
            out.append(" ")
        elif not inside_interpolation and (char == "#" or raw.startswith("//", i)):
            return "".join(out).rstrip(), raw[i:]
        else:
            out.append(" " if inside_interpolation else char)
        i += 1
    return "".join(out).rstrip(), None


def _net_brackets(code: str) -> int:
    return sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")


def assignment_column(code: str) -> int | None:
    """Column of the "=" if the line is a single-line attribute (hclwrite's "assign" cell)."""
    match = re.search(r"(?<![=!<>])=(?![=>])", code)
    if match is None or not code[: match.start()].strip():
        return None
    if _net_brackets(code[match.start() :]) != 0:
        return None
    return match.start()


def fmt_problems(path: Path) -> list[str]:
    """Differences from terraform fmt's indentation and "=" / comment alignment."""
    problems: list[str] = []
    lines = lines_of(path)
    indents: list[int] = []
    for line in lines:
        if line.in_heredoc or not line.text.strip():
            continue
        net = _net_brackets(line.code)
        if net < 0:
            closed = -net
            while closed > 0 and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
        expected = 2 * len(indents)
        actual = len(line.text) - len(line.text.lstrip(" "))
        if actual != expected and line.text.strip():
            problems.append(f"{path}:{line.number}: indent {actual}, terraform fmt uses {expected}")
        if net > 0:
            indents.append(net)
    problems += _alignment(path, lines)
    return problems


def _alignment(path: Path, lines: list[Line]) -> list[str]:
    problems: list[str] = []
    chain: list[tuple[Line, int]] = []

    def close() -> None:
        if chain:
            widest = max(len(line.code[:col].rstrip()) for line, col in chain)
            for line, col in chain:
                if col != widest + 1:
                    problems.append(
                        f"{path}:{line.number}: '=' at column {col + 1}, terraform fmt aligns it "
                        f"at {widest + 2}"
                    )
        chain.clear()

    for line in lines:
        column = None if line.in_heredoc else assignment_column(line.code)
        if column is None:
            close()
        else:
            chain.append((line, column))
    close()

    comment_chain: list[Line] = []

    def close_comments() -> None:
        if comment_chain:
            widest = max(len(line.code) for line in comment_chain)
            for line in comment_chain:
                column = len(line.text) - len(line.comment or "")
                if column != widest + 1:
                    problems.append(
                        f"{path}:{line.number}: trailing comment at column {column + 1}, "
                        f"terraform fmt aligns it at {widest + 2}"
                    )
        comment_chain.clear()

    for line in lines:
        if line.comment is not None and line.code.strip():
            comment_chain.append(line)
        else:
            close_comments()
    close_comments()
    return problems
