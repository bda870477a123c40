"""pyproject's runtime dependencies are what the shipped code (core, flows, api) needs: each one
is imported there or run by the API image's command, and every third-party import there comes
from a runtime dependency or one of theirs. Test-only packages belong in the dev extra (the
images install the runtime list alone: docker/Dockerfile)."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib

from packaging.requirements import Requirement

from tests.conftest import REPO

SHIPPED = ("core", "flows", "api")
#: Runtime dependencies no module imports: the API image runs them (`make serve`:
#: gunicorn -c api/gunicorn.conf.py, whose worker_class is uvicorn_worker's; httptools and
#: uvloop are the parser and loop uvicorn picks up when installed).
RUN_NOT_IMPORTED = {"gunicorn", "uvicorn", "uvicorn-worker", "httptools", "uvloop"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _runtime() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the shipped files that import it (standard library and own code left
    out), from every import statement, function-level ones included."""
    owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    roots = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    roots = [node.module.split(".")[0]]
                else:
                    continue
                for root in roots:
                    if root in sys.stdlib_module_names or root in SHIPPED:
                        continue
                    for dist in owners.get(root, [root]):
                        found.setdefault(_name(dist), set()).add(str(path.relative_to(REPO)))
    return found


def _closure(names: set[str]) -> set[str]:
    """``names`` and everything they require when installed (extras left out)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_name(raw))
    return seen


def test_every_runtime_dependency_is_used_by_the_shipped_code() -> None:
    imported = set(_imported_distributions())
    unused = _runtime() - imported - RUN_NOT_IMPORTED
    assert not unused, f"runtime dependencies nothing in {SHIPPED} imports: {sorted(unused)}"


def test_every_shipped_import_comes_from_a_runtime_dependency() -> None:
    available = _closure(_runtime())
    missing = {
        dist: sorted(files)
        for dist, files in _imported_distributions().items()
        if dist not in available
    }
    assert not missing, f"imported by shipped code but not installed by the image: {missing}"
