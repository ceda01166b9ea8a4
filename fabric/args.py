"""Checks shared by the components' args classes (``LxcContainerArgs.validate()`` and the like).

A component's args may hold ``pulumi.Input`` values. Plain values are checked before anything
is registered, against the very field rules of the stack intent (``fabric.intent``), so a
composed program and a stack file obey one set of rules; outputs are known only later and are
left to the provider.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Annotated, Any

import pulumi
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import FabricConfigError, Problem


def known(value: object) -> bool:
    """True for a plain value; False for an ``Output`` or awaitable (or a list holding one) known only later."""
    if isinstance(value, list | tuple):
        return all(known(item) for item in value)
    return not isinstance(value, pulumi.Output) and not inspect.isawaitable(value)


@cache
def _rule(model: type[BaseModel], field: str) -> TypeAdapter[Any]:
    info = model.model_fields[field]
    rule: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(rule)


def check(path: str, value: object, model: type[BaseModel], field: str) -> list[Problem]:
    """Problems of ``value`` under the rule of ``model.field`` (none while the value is unknown)."""
    if not known(value):
        return []
    try:
        _rule(model, field).validate_python(value, strict=True)
    except ValidationError as err:
        return [
            Problem(".".join([path, *(str(p) for p in e["loc"])]), e["msg"].removeprefix("Value error, "), e["input"])
            for e in err.errors(include_url=False)
        ]
    return []


def raise_problems(problems: list[Problem]) -> None:
    """Raise one ``FabricConfigError`` naming every problem, if there is any."""
    if problems:
        raise FabricConfigError(problems)
