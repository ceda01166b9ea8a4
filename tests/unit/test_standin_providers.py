"""The command stand-in's own logic (the proxmoxve provider is upstream's code, bridged: scripts/proxmoxve/)."""

from __future__ import annotations

from typing import Any

import pytest

from providers.base import changed_keys, is_local_stack, project, same, stack_of
from providers.command import CommandProvider


def test_the_stand_in_refuses_a_non_local_stack() -> None:
    assert stack_of("urn:pulumi:prod::samakia-fabric::command:local:Command::c") == "prod"
    assert is_local_stack("local") and is_local_stack("local-prod") and not is_local_stack("prod")

    class Aborted(Exception):
        pass

    class Context:
        def abort(self, code: Any, message: str) -> None:
            raise Aborted(message)

    with pytest.raises(Aborted, match=r"pulumi plugin install resource command 1\.2\.1"):
        CommandProvider()._local_only("urn:pulumi:prod::samakia-fabric::pulumi:providers:command::p", Context())
    CommandProvider()._local_only("urn:pulumi:local-prod::samakia-fabric::pulumi:providers:command::p", Context())


def test_projection_ignores_computed_values_only() -> None:
    old = {"a": [{"x": 1, "computed": "mac"}], "b": 2}
    assert project(old, {"a": [{"x": 1}]}) == {"a": [{"x": 1}]}
    assert same(1, 1.0) and not same(1, 2.0)
    assert changed_keys({"a": 1}, {}, {"a": 1}) == ["a"], "a setting the program stops setting is a change"


def test_an_unknown_trigger_replaces_a_command() -> None:
    """What the engine asks before a delete-before-replace of the container: the release's diff with
    the container's id unknown (pulumi step_generator.go, calculateDependentReplacements)."""
    from fabric.tokens import UNKNOWN

    release = {"create": "true", "triggers": ["3101"]}
    assert CommandProvider().replaces("Command", "c", release, {**release, "triggers": UNKNOWN}, ["triggers"]) == [
        "triggers"
    ]
