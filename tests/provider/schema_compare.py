"""The bridged plugin's Pulumi schema against the ``pulumi_proxmoxve`` Python SDK the program imports.

Both sides are reduced to the same small model, then compared; every difference is one line that
names itself (``ContainerLegacy input initialization.dns.servers: schema says integer, SDK says
array<string>``), so one failure lists them all.

The model of a property is its name, its type, its required flag and (for a resource's own
properties) its secret flag. Types are written the same way on both sides:

- ``string``, ``integer``, ``number``, ``boolean``, ``any``;
- ``array<T>``, ``map<T>``;
- ``object <module>/<Name>`` for a nested object type (``object index/ContainerLegacyInitializationDns``).

The SDK side is read from the generated sources with :mod:`ast`, never by importing them, so what is
compared is what the code generator wrote:

- resource tokens: ``super(X, __self__).__init__('proxmoxve:...', ...)``; function tokens:
  ``pulumi.runtime.invoke('proxmoxve:...', ...)`` and the provider's methods,
  ``pulumi.runtime.call('pulumi:providers:proxmoxve/...', ...)``;
- a resource's inputs: its ``@pulumi.input_type`` class ``<Name>Args`` (``@pulumi.getter`` names the
  property, the return annotation types it, an ``__init__`` parameter without a default makes it
  required, and the resource's ``raise TypeError("Missing required property ...")`` must agree);
  input secrets: ``pulumi.Output.secret(...)`` in ``_internal_init``;
- a resource's outputs: the resource class's getters (``pulumi.Output[Optional[T]]`` is optional),
  output secrets: ``additional_secret_outputs``;
- nested types: ``<Name>Args`` in the module's ``_inputs.py`` (reached from inputs) and ``<Name>`` in
  its ``outputs.py`` (reached from outputs); ``int`` is integer, ``float`` number, ``Sequence`` array,
  ``Mapping`` map.

One rule of Pulumi's schema binder is applied to the schema side: a provider's output properties
are only the string ones (``pkg/codegen/schema/bind.go``, bindProvider: "remove any properties for
the provider resource which are not strings"), so the SDK's ``Provider`` has no other getters.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "proxmoxve"
PROVIDER = "provider"  # the key that names the provider config in compare_resource

_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Any": "any"}
_OBJECT = re.compile(r"object ([\w/]+)")


@dataclass(frozen=True)
class Prop:
    """One property as both sides can state it."""

    type: str
    required: bool
    secret: bool = False


Props = dict[str, Prop]


@dataclass(frozen=True)
class Shape:
    """A resource's (or the provider's) inputs and outputs."""

    inputs: Props
    outputs: Props


@dataclass
class Report:
    """What a comparison looked at, and every difference it found."""

    differences: list[str] = field(default_factory=list)
    resource_tokens: int = 0
    function_tokens: int = 0
    properties: int = 0
    nested_types: set[str] = field(default_factory=set)
    nested_properties: int = 0

    def summary(self) -> str:
        return (
            f"{self.resource_tokens} resource and {self.function_tokens} function tokens, "
            f"{self.properties} resource properties, {len(self.nested_types)} nested types "
            f"({self.nested_properties} nested properties)"
        )


# ----------------------------------------------------------------------------------------------
# Tokens


def type_name(token: str) -> str:
    """``proxmoxve:sdn/zone/VlanDns:VlanDns`` -> ``sdn/zone/VlanDns`` (module and member)."""
    _, module_and_name, member = token.split(":")
    module = module_and_name.rsplit("/", 1)[0] if "/" in module_and_name else "index"
    return f"{module}/{member}"


def compare_tokens(report: Report, kind: str, schema: set[str], sdk: set[str]) -> None:
    """Every token of one kind: the sets must be equal; each token on one side only is named."""
    for token in sorted(sdk - schema):
        report.differences.append(f"{kind} token {token}: in the SDK, not in the schema")
    for token in sorted(schema - sdk):
        report.differences.append(f"{kind} token {token}: in the schema, not in the SDK")
    if kind == "resource":
        report.resource_tokens = len(schema | sdk)
    else:
        report.function_tokens = len(schema | sdk)


# ----------------------------------------------------------------------------------------------
# The schema side


def schema_type(spec: Mapping[str, Any]) -> str:
    """A schema property's (or items') type in the model's notation."""
    ref = spec.get("$ref")
    if ref is not None:
        if ref.startswith("#/types/"):
            return f"object {type_name(ref.removeprefix('#/types/'))}"
        if ref == "pulumi.json#/Any":
            return "any"
        return f"ref {ref}"
    if "oneOf" in spec:
        return "union<" + "|".join(sorted(schema_type(s) for s in spec["oneOf"])) + ">"
    kind = str(spec.get("type", "?"))
    if kind == "array":
        return f"array<{schema_type(spec['items'])}>"
    if kind == "object":
        extra = spec.get("additionalProperties")
        return f"map<{schema_type(extra) if extra else 'any'}>"
    return kind


def schema_props(
    properties: Mapping[str, Mapping[str, Any]], required: list[str], *, only_strings: bool = False
) -> Props:
    """The properties of a resource, the provider or an object type, from the schema."""
    props = {
        name: Prop(schema_type(spec), name in required, bool(spec.get("secret", False)))
        for name, spec in properties.items()
    }
    if only_strings:
        props = {name: prop for name, prop in props.items() if prop.type == "string"}
    return props


def schema_shape(schema: Mapping[str, Any], token: str) -> Shape | None:
    """A resource's (or, for :data:`PROVIDER`, the provider's) inputs and outputs in the schema."""
    spec = schema.get("provider") if token == PROVIDER else schema.get("resources", {}).get(token)
    if spec is None:
        return None
    return Shape(
        inputs=schema_props(spec.get("inputProperties", {}), spec.get("requiredInputs", [])),
        outputs=schema_props(spec.get("properties", {}), spec.get("required", []), only_strings=token == PROVIDER),
    )


def schema_object(schema: Mapping[str, Any], name: str) -> Props | None:
    """A nested object type's properties in the schema, by its ``module/Name``."""
    for token, spec in schema.get("types", {}).items():
        if type_name(token) == name:
            return schema_props(spec.get("properties", {}), spec.get("required", []))
    return None


# ----------------------------------------------------------------------------------------------
# The SDK side


def _dotted(node: ast.expr) -> str:
    """``pulumi.runtime.invoke`` for the expression naming it ("" for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _first_str(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and _dotted(func.value.func) == "super"
    )


def _getter_name(func: ast.FunctionDef) -> str | None:
    """The schema name of a ``@pulumi.getter`` property (None when ``func`` is not one)."""
    for deco in func.decorator_list:
        if _dotted(deco) == "pulumi.getter":
            return func.name
        if isinstance(deco, ast.Call) and _dotted(deco.func) == "pulumi.getter":
            for kw in deco.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
            return func.name
    return None


def _unwrap(node: ast.expr, wrapper: str) -> ast.expr:
    if isinstance(node, ast.Subscript) and _dotted(node.value) == wrapper:
        return node.slice
    return node


class Sdk:
    """The generated sources of one Python SDK, parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._trees: dict[Path, ast.Module] = {}
        self.resources: dict[str, tuple[Path, ast.ClassDef]] = {}
        self.functions: set[str] = set()
        for path in sorted(root.rglob("*.py")):
            tree = self._tree(path)
            for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
                for call in (n for n in ast.walk(cls) if isinstance(n, ast.Call)):
                    token = _first_str(call)
                    if token is not None and _is_super_init(call):
                        self.resources[PROVIDER if token == PACKAGE else token] = (path, cls)
            for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
                token = _first_str(call)
                if token is not None and _dotted(call.func) in {
                    "pulumi.runtime.invoke",
                    "pulumi.runtime.invoke_output",
                    "pulumi.runtime.call",
                }:
                    self.functions.add(token)

    def _tree(self, path: Path) -> ast.Module:
        if path not in self._trees:
            self._trees[path] = ast.parse(path.read_text(), filename=str(path))
        return self._trees[path]

    def resource_tokens(self) -> set[str]:
        return {token for token in self.resources if token != PROVIDER}

    def module_of(self, path: Path) -> str:
        """The schema module of a source file (``index`` for the package's top level)."""
        rel = path.parent.relative_to(self.root).as_posix()
        return "index" if rel == "." else rel

    def _class(self, path: Path, name: str) -> ast.ClassDef | None:
        if not path.exists():
            return None
        for node in self._tree(path).body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                return node
        return None

    # -- types -----------------------------------------------------------------------------------

    def type_of(self, node: ast.expr, module: str) -> tuple[str, bool]:
        """An annotation's type in the model's notation, and whether it is ``Optional``."""
        node = _unwrap(_unwrap(node, "pulumi.Input"), "pulumi.Output")
        optional = isinstance(node, ast.Subscript) and _dotted(node.value) == "Optional"
        if optional:
            assert isinstance(node, ast.Subscript)
            node = node.slice
        return self._plain(node, module), optional

    def _plain(self, node: ast.expr, module: str) -> str:
        node = _unwrap(node, "pulumi.Input")
        name = _dotted(node).removeprefix("_builtins.").removeprefix("builtins.")
        if name in _SCALARS:
            return _SCALARS[name]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            ref = node.value.removeprefix("outputs.")
            if "." not in ref:
                return f"object {module}/{ref.removesuffix('Args')}"
        if isinstance(node, ast.Subscript):
            outer = _dotted(node.value)
            if outer == "Sequence":
                return f"array<{self._plain(node.slice, module)}>"
            if outer == "Mapping" and isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 2:
                return f"map<{self._plain(node.slice.elts[1], module)}>"
            if outer == "Union" and isinstance(node.slice, ast.Tuple):
                return "union<" + "|".join(sorted({self._plain(e, module) for e in node.slice.elts})) + ">"
        return f"unknown<{ast.unparse(node)}>"

    def _props(self, cls: ast.ClassDef, module: str) -> tuple[Props, dict[str, str]]:
        """A class's getters as properties (required from ``__init__``), and python -> schema names."""
        names: dict[str, str] = {}
        props: Props = {}
        init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        required: set[str] = set()
        if init is not None:
            args = init.args
            required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None}
            positional = [a for a in args.args if a.arg not in {"self", "__self__"}]
            first_default = len(positional) - len(args.defaults)
            required |= {a.arg for a in positional[:first_default]}
        for func in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            name = _getter_name(func)
            if name is None or func.returns is None:
                continue
            names[func.name] = name
            kind, _ = self.type_of(func.returns, module)
            props[name] = Prop(kind, func.name in required)
        return props, names

    def input_object(self, name: str) -> Props | None:
        """A nested input type (``<Name>Args`` in the module's ``_inputs.py``) by ``module/Name``."""
        return self._object(name, "_inputs.py", "Args")

    def output_object(self, name: str) -> Props | None:
        """A nested output type (``<Name>`` in the module's ``outputs.py``) by ``module/Name``."""
        return self._object(name, "outputs.py", "")

    def _object(self, name: str, filename: str, suffix: str) -> Props | None:
        module, member = name.rsplit("/", 1)
        directory = self.root if module == "index" else self.root / module
        cls = self._class(directory / filename, member + suffix)
        return None if cls is None else self._props(cls, module)[0]

    # -- resources -------------------------------------------------------------------------------

    def shape(self, token: str) -> tuple[Shape, list[str]] | None:
        """A resource's (or :data:`PROVIDER`'s) inputs and outputs, and the SDK's own inconsistencies."""
        if token not in self.resources:
            return None
        path, cls = self.resources[token]
        module = self.module_of(path)
        args = self._class(path, cls.name + "Args")
        inputs, names = self._props(args, module) if args is not None else ({}, {})
        problems: list[str] = []
        if args is None:
            problems.append(f"no input class {cls.name}Args in {path.name}")

        secret_inputs, raised = _internal_init(cls, names)
        declared = {name for name, prop in inputs.items() if prop.required}
        if raised != declared:
            problems.append(
                f"required inputs of {cls.name}Args.__init__ {sorted(declared)} differ from "
                f"{cls.name}._internal_init's 'Missing required property' {sorted(raised)}"
            )
        inputs = {name: Prop(p.type, p.required, name in secret_inputs) for name, p in inputs.items()}
        unknown = secret_inputs - inputs.keys()
        if unknown:
            problems.append(f"{cls.name}._internal_init makes secret what {cls.name}Args lacks: {sorted(unknown)}")

        secret_outputs = set()
        for node in ast.walk(cls):
            if isinstance(node, ast.keyword) and node.arg == "additional_secret_outputs":
                secret_outputs |= {str(e.value) for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant)}
        outputs: Props = {}
        for func in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            name = _getter_name(func)
            if name is None or func.returns is None:
                continue
            kind, optional = self.type_of(func.returns, module)
            outputs[name] = Prop(kind, not optional, name in secret_outputs)
        return Shape(inputs, outputs), problems


def _internal_init(cls: ast.ClassDef, names: Mapping[str, str]) -> tuple[set[str], set[str]]:
    """The schema names ``_internal_init`` makes secret (``pulumi.Output.secret``) and requires (raises for)."""
    secret: set[str] = set()
    raised: set[str] = set()
    internal = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "_internal_init"), None)
    for node in ast.walk(internal) if internal is not None else ():
        key = _props_key(node) if isinstance(node, ast.Assign) else None
        if key is not None and isinstance(node, ast.Assign) and _calls(node.value, "pulumi.Output.secret"):
            secret.add(names.get(key, key))
        if isinstance(node, ast.Raise) and node.exc is not None:
            match = re.search(r"Missing required property '(\w+)'", ast.unparse(node.exc))
            if match:
                raised.add(names.get(match.group(1), match.group(1)))
    return secret, raised


def _calls(node: ast.expr, name: str) -> bool:
    """Whether the expression calls ``name`` anywhere in it."""
    return any(isinstance(c, ast.Call) and _dotted(c.func) == name for c in ast.walk(node))


def _props_key(node: ast.Assign) -> str | None:
    """``x`` for ``__props__.__dict__["x"] = ...``."""
    if len(node.targets) != 1:
        return None
    target = node.targets[0]
    if (
        isinstance(target, ast.Subscript)
        and _dotted(target.value) == "__props__.__dict__"
        and isinstance(target.slice, ast.Constant)
    ):
        return str(target.slice.value)
    return None


# ----------------------------------------------------------------------------------------------
# The comparison


def _compare_props(
    report: Report, label: str, path: str, schema: Props, sdk: Props, *, secrets: bool
) -> list[tuple[str, str]]:
    """Compare one level; return (path, object type) of the nested types both sides agree on."""
    nested: list[tuple[str, str]] = []
    for name in sorted(schema.keys() | sdk.keys()):
        where = f"{label} {path}{name}"
        if name not in sdk:
            report.differences.append(f"{where}: in the schema ({schema[name].type}), not in the SDK")
            continue
        if name not in schema:
            report.differences.append(f"{where}: in the SDK ({sdk[name].type}), not in the schema")
            continue
        ours, theirs = schema[name], sdk[name]
        if ours.type != theirs.type:
            report.differences.append(f"{where}: schema says {ours.type}, SDK says {theirs.type}")
        if ours.required != theirs.required:
            report.differences.append(f"{where}: schema says {_req(ours.required)}, SDK says {_req(theirs.required)}")
        if secrets and ours.secret != theirs.secret:
            report.differences.append(f"{where}: schema says {_sec(ours.secret)}, SDK says {_sec(theirs.secret)}")
        if ours.type == theirs.type:
            nested += [(f"{path}{name}.", obj) for obj in _OBJECT.findall(ours.type)]
    return nested


def _req(required: bool) -> str:
    return "required" if required else "optional"


def _sec(secret: bool) -> str:
    return "secret" if secret else "not secret"


def compare_resource(report: Report, schema: Mapping[str, Any], sdk: Sdk, token: str, label: str) -> None:
    """One resource (or :data:`PROVIDER`): inputs, outputs and every nested type they reach."""
    theirs = sdk.shape(token)
    ours = schema_shape(schema, token)
    if theirs is None or ours is None:
        report.differences.append(f"{label}: {'not in the SDK' if theirs is None else 'not in the schema'}")
        return
    sdk_shape, problems = theirs
    report.differences += [f"{label}: the SDK disagrees with itself: {p}" for p in problems]
    for side, schema_props_, sdk_props, find in (
        ("input", ours.inputs, sdk_shape.inputs, sdk.input_object),
        ("output", ours.outputs, sdk_shape.outputs, sdk.output_object),
    ):
        report.properties += len(schema_props_.keys() | sdk_props.keys())
        queue = _compare_props(report, f"{label} {side}", "", schema_props_, sdk_props, secrets=True)
        seen: set[str] = set()
        while queue:
            path, name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            report.nested_types.add(f"{side} {name}")
            schema_obj, sdk_obj = schema_object(schema, name), find(name)
            if schema_obj is None or sdk_obj is None:
                where = "the schema" if schema_obj is None else "the SDK"
                report.differences.append(f"{label} {side} {path.rstrip('.')}: type {name} is not in {where}")
                continue
            report.nested_properties += len(schema_obj.keys() | sdk_obj.keys())
            queue += _compare_props(report, f"{label} {side}", path, schema_obj, sdk_obj, secrets=False)
