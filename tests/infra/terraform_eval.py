"""Evaluate the strings of terraform/ the way plan would, for the parts volcast uses.

No terraform binary exists here, yet AWS checks names, descriptions and tags that plan never
sees (an apostrophe in a security group rule description fails only at apply). This module
instantiates each root (envs/dev, envs/prod, bootstrap) with given variable values, follows
module calls, locals, ``for_each``/``count`` and a few functions, and yields every argument of
every resource instance with its value. Anything it cannot evaluate raises ``Unresolved``
naming the expression, so a check built on it never passes by skipping.

Shapes: ``Instance(root, module, type, name, key, args)`` where ``args`` maps an argument name
to the raw parsed value (python-hcl2) and ``Scope.value(raw)`` evaluates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.infra.terraform_static import blocks, parse

PARSER_KEYS = frozenset({"__is_block__", "__comments__", "__inline_comments__"})
#: What data sources answer in the instantiated roots (an account id has 12 digits).
ACCOUNT_ID = "123456789012"


class Unresolved(Exception):
    """An expression this evaluator does not handle."""


# --------------------------------------------------------------------------------------------
# Expressions: a tokenizer and a recursive-descent parser for HCL's expression subset.
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|(?P<str>\")"
    r"|(?P<op>==|!=|>=|<=|&&|\|\||=>|\.\.\.|[\[\](){}.,:?*!<>=+-]))"
)


_PRECEDENCE = (("||",), ("&&",), ("==", "!="), (">", "<", ">=", "<="))


@dataclass
class _Parser:
    text: str
    pos: int = 0

    def peek(self) -> tuple[str, str] | None:
        match = _TOKEN.match(self.text, self.pos)
        if not match or match.end() == match.start():
            return None
        kind = match.lastgroup or ""
        return kind, match.group(kind)

    def take(self, expected: str | None = None) -> tuple[str, str]:
        match = _TOKEN.match(self.text, self.pos)
        if not match:
            raise Unresolved(f"cannot tokenize {self.text[self.pos :]!r} in {self.text!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if expected is not None and value != expected:
            raise Unresolved(f"expected {expected!r} at {self.text[self.pos :]!r}")
        self.pos = match.end()
        return kind, value

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value

    def end(self) -> bool:
        return not self.text[self.pos :].strip()

    # expr := cond
    def expr(self) -> tuple:
        condition = self.binary()
        if self.at("?"):
            self.take("?")
            yes = self.expr()
            self.take(":")
            no = self.expr()
            return ("cond", condition, yes, no)
        return condition

    def binary(self, level: int = 0) -> tuple:
        """Binary operators by HCL's precedence: || < && < == != < > >= < <=."""
        if level == len(_PRECEDENCE):
            return self.postfix()
        left = self.binary(level + 1)
        while True:
            token = self.peek()
            if not token or token[1] not in _PRECEDENCE[level]:
                return left
            self.take()
            left = ("binop", token[1], left, self.binary(level + 1))

    def postfix(self) -> tuple:
        node = self.primary()
        splatted = False  # after [*], every .attr applies to each element
        while True:
            if self.at("."):
                self.take(".")
                _, name = self.take()
                node = ("splat_attr", node, name) if splatted else ("attr", node, name)
            elif self.at("["):
                self.take("[")
                if self.at("*"):
                    self.take("*")
                    self.take("]")
                    node = ("splat", node)
                    splatted = True
                else:
                    index = self.expr()
                    self.take("]")
                    node = ("index", node, index)
            else:
                return node

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("tmpl", self.template_body())
        if value == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if value == "!":
            return ("not", self.postfix())
        if value == "-":
            return ("neg", self.postfix())
        if value == "[":
            if self.at("for"):
                return self.for_expr("]")
            items = []
            while not self.at("]"):
                items.append(self.expr())
                if self.at(","):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if value == "{":
            if self.at("for"):
                return self.for_expr("}")
            pairs = []
            while not self.at("}"):
                key_kind, key = self.take()
                if key_kind == "str":
                    key = _render_literal(self.template_body())
                self.take("=") if self.at("=") else self.take(":")
                pairs.append((key, self.expr()))
                if self.at(","):
                    self.take(",")
            self.take("}")
            return ("object", pairs)
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "null":
                return ("lit", None)
            if self.at("("):
                self.take("(")
                args = []
                while not self.at(")"):
                    args.append(self.expr())
                    if self.at(","):
                        self.take(",")
                    elif self.at("..."):
                        self.take("...")
                        args[-1] = ("expand", args[-1])
                self.take(")")
                return ("call", value, args)
            return ("ref", value)
        raise Unresolved(f"unexpected {value!r} in {self.text!r}")

    def for_expr(self, closer: str) -> tuple:
        self.take("for")
        names = [self.take()[1]]
        if self.at(","):
            self.take(",")
            names.append(self.take()[1])
        self.take("in")
        collection = self.expr()
        self.take(":")
        key = self.expr()
        value = None
        if closer == "}":
            self.take("=>")
            value = self.expr()
        condition = None
        if self.at("if"):
            self.take("if")
            condition = self.expr()
        self.take(closer)
        return ("for", closer, names, collection, key, value, condition)

    def template_body(self) -> list:
        """Parts of a quoted template after its opening quote: strings and expressions."""
        parts: list = []
        buffer: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise Unresolved(f"unterminated string in {self.text!r}")
            char = self.text[self.pos]
            if char == "\\":
                escaped = self.text[self.pos + 1]
                buffer.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(escaped, escaped))
                self.pos += 2
            elif self.text.startswith("${", self.pos):
                if buffer:
                    parts.append("".join(buffer))
                    buffer = []
                self.pos += 2
                parts.append(self.expr())
                self.take("}")
            elif char == '"':
                self.pos += 1
                if buffer:
                    parts.append("".join(buffer))
                return parts
            else:
                buffer.append(char)
                self.pos += 1


def _render_literal(parts: list) -> str:
    if any(not isinstance(p, str) for p in parts):
        raise Unresolved("an object key with an interpolation")
    return "".join(parts)


def parse_raw(raw: str) -> tuple:
    """python-hcl2's rendering of one value -> an expression tree.

    A quoted literal or template arrives as '"..."', a bare expression as '${...}'.
    """
    if raw.startswith('"') and raw.endswith('"'):
        parser = _Parser(raw, 1)
        tree = ("tmpl", parser.template_body())
    elif raw.startswith("${") and raw.endswith("}"):
        parser = _Parser(raw[2:-1])
        tree = parser.expr()
    else:
        raise Unresolved(f"not an HCL value: {raw!r}")
    if not parser.end() and not (raw.startswith('"') and parser.pos == len(raw)):
        raise Unresolved(f"trailing text in {raw!r}")
    return tree


# --------------------------------------------------------------------------------------------
# Scopes: a module instance (its variables, locals, resources) and the values in it.
# --------------------------------------------------------------------------------------------
def _bodies(path: Path, kind: str) -> dict[tuple[str, ...], dict]:
    found: dict[tuple[str, ...], dict] = {}
    for file in sorted(path.glob("*.tf")):
        for labels, body in blocks(file, kind):
            found[labels] = body
    return found


def _locals(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for file in sorted(path.glob("*.tf")):
        for entry in parse(file).get("locals", []):
            found.update({k: v for k, v in entry.items() if k not in PARSER_KEYS})
    return found


@dataclass
class Scope:
    """One module instance: ``inputs`` are its variables' raw expressions in ``caller``."""

    path: Path
    name: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    caller: Scope | None = None
    each: tuple[Any, Any] | None = None
    count_index: int | None = None
    env: Mapping[str, Any] = field(default_factory=dict)  # loop variables of for-expressions
    #: var.* and local.* of this module instance, shared by its for_each/count/for derivatives
    cache: dict[str, Any] = field(default_factory=dict)

    def _derive(self, **changes: Any) -> Scope:
        fields = {
            "path": self.path, "name": self.name, "inputs": self.inputs, "caller": self.caller,
            "each": self.each, "count_index": self.count_index, "env": self.env,
            "cache": self.cache,
        }  # fmt: skip
        return Scope(**{**fields, **changes})

    def with_each(self, key: Any, value: Any) -> Scope:
        return self._derive(each=(key, value), count_index=None)

    def with_count(self, index: int) -> Scope:
        return self._derive(each=None, count_index=index)

    def with_env(self, **names: Any) -> Scope:
        return self._derive(env={**self.env, **names})

    # -- values ---------------------------------------------------------------------------------
    def value(self, raw: Any) -> Any:
        """Evaluate a raw parsed value (string expression, list, dict, number, bool)."""
        if isinstance(raw, str):
            return self.eval(parse_raw(raw))
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if isinstance(raw, dict):
            return {str(_unquote(k)): self.value(v) for k, v in raw.items() if k not in PARSER_KEYS}
        return raw

    def variable(self, name: str) -> Any:
        key = f"var.{name}"
        if key not in self.cache:
            declared = _bodies(self.path, "variable").get((name,))
            if declared is None:
                raise Unresolved(f"{self.name}: var.{name} is not declared")
            if name in self.inputs and self.caller is not None:
                self.cache[key] = self.caller.value(self.inputs[name])
            elif "default" in declared:
                self.cache[key] = self.value(declared["default"])
            else:
                raise Unresolved(f"{self.name}: var.{name} has no value and no default")
        return self.cache[key]

    def local(self, name: str) -> Any:
        key = f"local.{name}"
        if key not in self.cache:
            found = _locals(self.path)
            if name not in found:
                raise Unresolved(f"{self.name}: local.{name} is not declared")
            self.cache[key] = self._derive(each=None, count_index=None, env={}).value(found[name])
        return self.cache[key]

    def module(self, name: str) -> Scope:
        calls = _bodies(self.path, "module")
        if (name,) not in calls:
            raise Unresolved(f"{self.name}: module.{name} is not declared")
        body = calls[(name,)]
        source = (self.path / str(_unquote(body["source"]))).resolve()
        inputs = {k: v for k, v in body.items() if k not in PARSER_KEYS | META_ARGUMENTS}
        return Scope(source, f"{self.name}.module.{name}", inputs, self)

    def output(self, module: str, name: str) -> Any:
        child = self.module(module)
        outputs = _bodies(child.path, "output")
        if (name,) not in outputs:
            raise Unresolved(f"module.{module} has no output {name}")
        return child.value(outputs[(name,)]["value"])

    # -- evaluation -----------------------------------------------------------------------------
    def eval(self, node: tuple) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            parts = [p if isinstance(p, str) else _to_string(self.eval(p)) for p in node[1]]
            return "".join(parts)
        if kind == "list":
            return [self.eval(item) for item in node[1]]
        if kind == "object":
            return {key: self.eval(value) for key, value in node[1]}
        if kind == "cond":
            return self.eval(node[2]) if self.eval(node[1]) else self.eval(node[3])
        if kind == "not":
            return not self.eval(node[1])
        if kind == "neg":
            return -self.eval(node[1])
        if kind == "binop":
            return _BINOPS[node[1]](self.eval(node[2]), self.eval(node[3]))
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "for":
            return self.for_expr(node)
        if kind in ("ref", "attr", "index", "splat", "splat_attr"):
            return self.reference(node)
        raise Unresolved(f"expression kind {kind}")

    def call(self, name: str, args: list[tuple]) -> Any:
        values: list[Any] = []
        for arg in args:
            if arg[0] == "expand":
                values.extend(self.eval(arg[1]))
            else:
                values.append(self.eval(arg))
        if name not in _FUNCTIONS:
            raise Unresolved(f"function {name}()")
        return _FUNCTIONS[name](*values)

    def for_expr(self, node: tuple) -> Any:
        _, closer, names, collection_node, key_node, value_node, condition = node
        collection = self.eval(collection_node)
        items = collection.items() if isinstance(collection, dict) else enumerate(collection)
        out_list: list[Any] = []
        out_map: dict[str, Any] = {}
        for k, v in items:
            bound = {names[0]: v} if len(names) == 1 else {names[0]: k, names[1]: v}
            inner = self.with_env(**bound)
            if condition is not None and not inner.eval(condition):
                continue
            if closer == "]":
                out_list.append(inner.eval(key_node))
            else:
                out_map[inner.eval(key_node)] = inner.eval(value_node)
        return out_list if closer == "]" else out_map

    def reference(self, node: tuple) -> Any:
        path = _flatten_reference(node)
        if path is None:  # an index or splat on a computed value
            return self._apply(node)
        head = path[0]
        if head in self.env:
            return _walk(self.env[head], path[1:])
        if head == "var":
            return _walk(self.variable(path[1]), path[2:])
        if head == "local":
            return _walk(self.local(path[1]), path[2:])
        if head == "each":
            if self.each is None or self.each[0] is UNKNOWN:
                raise Unresolved(f"{self.name}: each.* where for_each could not be evaluated")
            return _walk(self.each[0] if path[1] == "key" else self.each[1], path[2:])
        if head == "count" and path[1:] == ["index"]:
            if self.count_index is None:
                raise Unresolved(f"{self.name}: count.index outside count")
            return self.count_index
        if head == "module":
            if len(path) == 2:  # the module object itself (module.x[*].out)
                return ModuleRef(self, path[1])
            return _walk(self.output(path[1], path[2]), path[3:])
        if head == "data":
            return _data_source(self, path[1:])
        if head == "path" and path[1:] == ["module"]:
            return str(self.path)
        return self.resource_attribute(path)

    def _apply(self, node: tuple) -> Any:
        kind = node[0]
        base = self.eval(node[1])
        if kind == "attr":
            return _walk(base, [node[2]])
        if kind == "index":
            return _walk(base, [self.eval(node[2])])
        if kind == "splat":
            if isinstance(base, ModuleRef):
                return base.instances()
            return base if isinstance(base, list) else ([] if base is None else [base])
        if kind == "splat_attr":
            return [_walk(item, [node[2]]) for item in base]
        raise Unresolved(f"reference {node}")

    def resource_attribute(self, path: list[Any]) -> Any:
        """``<type>.<name>[<key>].<argument>`` of a resource of this module, as configured."""
        resources = _bodies(self.path, "resource")
        address = (str(path[0]), str(path[1])) if len(path) >= 2 else None
        if address not in resources:
            raise Unresolved(f"{self.name}: reference {'.'.join(map(str, path))}")
        body = resources[address]
        if "for_each" in body:
            refs = {
                key: ResourceRef(self.with_each(key, value), address, body)
                for key, value in _keyed(self.value(body["for_each"])).items()
            }
            return _walk(refs, path[2:])
        if "count" in body:
            refs = [
                ResourceRef(self.with_count(i), address, body)
                for i in range(int(self.value(body["count"])))
            ]
            return _walk(refs, path[2:])
        return _walk(ResourceRef(self, address, body), path[2:])


@dataclass(frozen=True)
class ResourceRef:
    """A resource instance as an expression sees it: its configured arguments, nothing computed."""

    scope: Scope
    address: tuple[str, str]
    body: Mapping[str, Any]

    def get(self, argument: str) -> Any:
        if argument in self.body and argument not in META_ARGUMENTS:
            return self.scope.value(self.body[argument])
        computed = _COMPUTED.get((self.address[0], argument))
        if computed is None:
            raise Unresolved(f"{'.'.join(self.address)}.{argument} is known only after apply")
        region = root_of(self.scope).variable("aws_region")
        return computed(self, f"arn:aws:{{service}}:{region}:{ACCOUNT_ID}")


def _arn(service: str, tail: str, regional: bool = True) -> Callable[[ResourceRef, str], str]:
    """A computed ARN: ``tail`` formats with the resource's configured arguments."""

    def make(ref: ResourceRef, prefix: str) -> str:
        head = prefix.format(service=service)
        if not regional:
            head = (
                f"arn:aws:{service}::{ACCOUNT_ID}" if service == "iam" else f"arn:aws:{service}::"
            )
        return head + tail.format_map(_Arguments(ref))

    return make


class _Arguments(dict):
    def __init__(self, ref: ResourceRef):
        super().__init__()
        self.ref = ref

    def __missing__(self, key: str) -> str:
        value = self.ref.get(key)
        if key == "url":
            value = str(value).removeprefix("https://")
        if key in ("load_balancer_arn",):
            value = str(value).split(":loadbalancer/")[1]
        return str(value)


#: Attributes known only after apply, synthesized as AWS shapes them (ids are fixed fakes):
#: what IAM policies and alarm dimensions of this tree reference.
_COMPUTED: dict[tuple[str, str], Callable[[ResourceRef, str], str]] = {
    ("aws_s3_bucket", "arn"): _arn("s3", ":{bucket}", regional=False),
    ("aws_s3_bucket", "id"): lambda ref, _: str(ref.get("bucket")),
    ("aws_iam_role", "arn"): _arn("iam", ":role/{name}", regional=False),
    ("aws_iam_role", "id"): lambda ref, _: str(ref.get("name")),
    ("aws_iam_policy", "arn"): _arn("iam", ":policy/{name}", regional=False),
    ("aws_iam_user", "arn"): _arn("iam", ":user/{name}", regional=False),
    ("aws_iam_openid_connect_provider", "arn"): _arn("iam", ":oidc-provider/{url}", regional=False),
    ("aws_kms_key", "arn"): _arn("kms", ":key/0123abcd-0000-4000-8000-0123456789ab"),
    ("aws_sns_topic", "arn"): _arn("sns", ":{name}"),
    ("aws_dynamodb_table", "arn"): _arn("dynamodb", ":table/{name}"),
    ("aws_ecr_repository", "arn"): _arn("ecr", ":repository/{name}"),
    ("aws_cloudwatch_log_group", "arn"): _arn("logs", ":log-group:{name}"),
    ("aws_secretsmanager_secret", "arn"): _arn("secretsmanager", ":secret:{name}-AbCdEf"),
    ("aws_ecs_cluster", "arn"): _arn("ecs", ":cluster/{name}"),
    ("aws_ecs_task_definition", "arn"): _arn("ecs", ":task-definition/{family}:1"),
    ("aws_lb", "arn"): _arn("elasticloadbalancing", ":loadbalancer/app/{name}/50dc6c495c0c9188"),
    ("aws_lb", "arn_suffix"): lambda ref, _: f"app/{ref.get('name')}/50dc6c495c0c9188",
    ("aws_lb_target_group", "arn"): _arn(
        "elasticloadbalancing", ":targetgroup/{name}/73e2d6bc24d8a067"
    ),
    ("aws_lb_target_group", "arn_suffix"): lambda ref, _: (
        f"targetgroup/{ref.get('name')}/73e2d6bc24d8a067"
    ),
    ("aws_lb_listener", "arn"): _arn(
        "elasticloadbalancing", ":listener/{load_balancer_arn}/f2f7dc8efc522ab2"
    ),
    ("aws_cloudwatch_metric_alarm", "arn"): _arn("cloudwatch", ":alarm:{alarm_name}"),
    ("aws_cloudwatch_event_rule", "arn"): _arn("events", ":rule/{name}"),
}


@dataclass(frozen=True)
class ModuleRef:
    """A module call as an expression sees it: its outputs."""

    scope: Scope
    name: str

    def get(self, output: str) -> Any:
        return self.scope.output(self.name, output)

    def instances(self) -> list[ModuleRef]:
        body = _bodies(self.scope.path, "module")[(self.name,)]
        count = int(self.scope.value(body["count"])) if "count" in body else 1
        return [self] * count


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


#: for_each keys of a collection only known after apply.
UNKNOWN = _Unknown()


META_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _flatten_reference(node: tuple) -> list[Any] | None:
    if node[0] == "ref":
        return [node[1]]
    if node[0] == "attr":
        inner = _flatten_reference(node[1])
        return None if inner is None else [*inner, node[2]]
    if node[0] == "index" and node[2][0] == "lit":
        inner = _flatten_reference(node[1])
        return None if inner is None else [*inner, node[2][1]]
    return None


def _walk(value: Any, path: list[Any]) -> Any:
    for step in path:
        if isinstance(value, ResourceRef | ModuleRef):
            value = value.get(str(step))
        elif isinstance(value, dict):
            if step not in value:
                raise Unresolved(f"no key {step!r} in {sorted(value)}")
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int):
            value = value[step]
        else:
            raise Unresolved(f"cannot take {step!r} of {value!r}")
    return value


def _keyed(collection: Any) -> dict[str, Any]:
    if isinstance(collection, dict):
        return dict(collection)
    if isinstance(collection, list):
        return {str(item): item for item in collection}
    raise Unresolved(f"for_each over {collection!r}")


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value)
    raise Unresolved(f"cannot interpolate {value!r}")


def _data_source(scope: Scope, path: list[Any]) -> Any:
    kind, attribute = path[0], path[-1]
    if kind == "aws_caller_identity" and attribute == "account_id":
        return ACCOUNT_ID
    if kind == "aws_region" and attribute in ("region", "name"):
        return root_of(scope).variable("aws_region")
    if kind == "aws_partition" and attribute == "partition":
        return "aws"
    raise Unresolved(f"data.{'.'.join(map(str, path))}")


def root_of(scope: Scope) -> Scope:
    while scope.caller is not None:
        scope = scope.caller
    return scope


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value not in (None, ""):
            return value
    raise Unresolved("coalesce() of nothing")


def _one(values: list[Any]) -> Any:
    if len(values) > 1:
        raise Unresolved("one() of several values")
    return values[0] if values else None


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "join": lambda sep, items: sep.join(_to_string(i) for i in items),
    "coalesce": _coalesce,
    "concat": lambda *lists: [item for items in lists for item in items],
    "compact": lambda items: [i for i in items if i not in (None, "")],
    "toset": lambda items: sorted(set(items), key=str),
    "tostring": _to_string,
    "tolist": list,
    "merge": lambda *maps: {k: v for m in maps for k, v in (m or {}).items()},
    "keys": lambda mapping: sorted(mapping),
    "values": lambda mapping: [mapping[k] for k in sorted(mapping)],
    "lookup": lambda mapping, key, default=None: mapping.get(key, default),
    "trimsuffix": lambda text, suffix: text.removesuffix(suffix),
    "one": _one,
    "distinct": lambda items: list(dict.fromkeys(items)),
    "flatten": lambda items: [
        i for item in items for i in (item if isinstance(item, list) else [item])
    ],
    "length": len,
    "contains": lambda items, item: item in items,
    "cidrsubnet": lambda *_: "10.40.0.0/24",
    "jsonencode": lambda value: json.dumps(value, separators=(",", ":")),
    "jsondecode": json.loads,
    "file": lambda path: Path(path).read_text(),
    "sort": lambda items: sorted(items, key=str),
    # Terraform's replace() with a plain substring (a /regex/ is not used in terraform/).
    "replace": lambda text, old, new: _to_string(text).replace(old, new),
}

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "&&": lambda a, b: a and b,
    "||": lambda a, b: a or b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


# --------------------------------------------------------------------------------------------
# Instances: every resource of a root and of the modules it calls.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instance:
    scope: Scope
    type: str
    name: str
    key: Any
    args: Mapping[str, Any]

    @property
    def address(self) -> str:
        suffix = "" if self.key is None else f"[{self.key!r}]"
        return f"{self.scope.name}.{self.type}.{self.name}{suffix}"


def instances(scope: Scope) -> Iterator[Instance]:
    """Every resource instance of ``scope`` and of its module calls (count 0 = none)."""
    for (kind, name), body in _bodies(scope.path, "resource").items():
        args = {k: v for k, v in body.items() if k not in PARSER_KEYS}
        if "for_each" in body:
            try:
                collection = _keyed(scope.value(body["for_each"]))
            except Unresolved:  # keys known only after apply: one instance whose each.* is unknown
                collection = {UNKNOWN: UNKNOWN}
            for key, value in collection.items():
                yield Instance(scope.with_each(key, value), kind, name, key, args)
        elif "count" in body:
            for index in range(_count(scope, body)):
                yield Instance(scope.with_count(index), kind, name, index, args)
        else:
            yield Instance(scope, kind, name, None, args)
    for (module,) in _bodies(scope.path, "module"):
        body = _bodies(scope.path, "module")[(module,)]
        if "count" in body and _count(scope, body) == 0:
            continue
        yield from instances(scope.module(module))


def _count(scope: Scope, body: Mapping[str, Any]) -> int:
    """A count, or 1 when it depends on values known only after apply (checked as present)."""
    try:
        return int(scope.value(body["count"]))
    except Unresolved:
        return 1


def root(path: Path, variables: Mapping[str, Any], name: str | None = None) -> Scope:
    """A root module whose variables take ``variables`` (plain values) or their defaults."""
    scope = Scope(path, name or path.name, {}, None)
    for key, value in variables.items():
        scope.cache[f"var.{key}"] = value
    return scope
