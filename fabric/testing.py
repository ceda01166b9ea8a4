"""Run fabric code under Pulumi mocks and record every registration, options included.

Resource options never reach ``Mocks.new_resource``; the recording monitor keeps the raw
``RegisterResource`` requests so tests can assert on replacement triggers, delete-before-
replace, retain-on-delete, parents and dependencies.

Public: for anyone composing the components who wants to test their program without an
engine or a provider; the project's unit tests and benchmarks use it too::

    from fabric.testing import CONTAINER, run_program

    rec = run_program(my_program, config={"fabric:x": "1"})
    ct = rec.named(CONTAINER, "cache-1")
    assert ct.delete_before_replace and ct.replacement_trigger.startswith("debian12-base@")

Room: above the core; imports ``fabric`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

from fabric import tokens

# The type tokens a test looks registrations up by (``rec.named(CONTAINER, "cache-1")``).
CONTAINER = tokens.CONTAINER
"""The upstream provider's container resource, what ``LxcContainer`` registers."""
FILE = tokens.FILE
"""The upstream provider's downloaded file, what ``Image`` registers."""
HA = tokens.HA
"""The upstream provider's HA resource (``LxcContainerArgs.ha``)."""
COMMAND = tokens.COMMAND
"""``pulumi_command``'s local command, what ``ConfigPolicy`` registers."""

__all__ = [
    "COMMAND",
    "CONTAINER",
    "FILE",
    "HA",
    "FabricMocks",
    "Recording",
    "RecordingMonitor",
    "Registered",
    "is_secret",
    "resolve",
    "run_program",
]


class FabricMocks(pulumi.runtime.Mocks):
    """Ids shaped like the provider's: template volume ids and VMIDs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == FILE:
            return f"{args.inputs['datastoreId']}:vztmpl/{args.inputs['fileName']}", dict(args.inputs)
        if args.typ == CONTAINER:
            return str(int(args.inputs["vmId"])), dict(args.inputs)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@dataclass
class Registered:
    """One resource registration as the engine would receive it."""

    type: str
    """The resource's type token (``proxmoxve:index/containerLegacy:ContainerLegacy``, ...)."""
    name: str
    """The resource's name."""
    urn: str
    """The resource's URN."""
    custom: bool
    """True for a provider resource, False for a component."""
    parent: str
    """The parent's URN (empty at the stack's top level)."""
    inputs: dict[str, Any]
    """The inputs as registered, in the provider's camelCase names, outputs resolved where known."""
    dependencies: list[str]
    """URNs of the resources it depends on."""
    delete_before_replace: bool
    """True when a replacement deletes the old resource first."""
    retain_on_delete: bool
    """True when deleting it from code leaves the real resource in place."""
    replacement_trigger: Any
    """The value whose change replaces the resource (None when unset)."""
    replace_with: list[str]
    """URNs whose replacement replaces this resource too."""
    provider: str
    """The provider reference it was registered with (empty: the default provider)."""
    providers: dict[str, str]
    """The provider references by package, as registered."""


class RecordingMonitor(mocks.MockMonitor):
    """A mock monitor that keeps every ``RegisterResource`` request and registered outputs."""

    def __init__(self, m: pulumi.runtime.Mocks) -> None:
        super().__init__(m)
        self.registered: list[Registered] = []
        """Every registration so far, in order."""
        self.outputs: dict[str, dict[str, Any]] = {}
        """Each component's registered outputs, by URN."""

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        """Record a component's registered outputs, then answer as the mock monitor does."""
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        """Record the raw request (options included), then answer as the mock monitor does."""
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            trigger = (
                rpc.deserialize_property(json_format.MessageToDict(request.replacement_trigger))
                if request.HasField("replacement_trigger")
                else None
            )
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    custom=request.custom,
                    parent=request.parent,
                    inputs=rpc.deserialize_properties(request.object),
                    dependencies=list(request.dependencies),
                    delete_before_replace=request.deleteBeforeReplace,
                    retain_on_delete=request.retainOnDelete,
                    replacement_trigger=trigger,
                    replace_with=list(request.replace_with),
                    provider=request.provider,
                    providers=dict(request.providers),
                )
            )
        return response


@dataclass
class Recording:
    """What one program run registered."""

    registered: list[Registered]
    """Every resource registration but the root stack's, in order."""
    result: Any
    """What the program function returned."""
    outputs: dict[str, dict[str, Any]]
    """URN -> the outputs a component registered with ``register_outputs``."""
    stack_outputs: dict[str, Any]
    """The values the program exported with ``pulumi.export``, resolved."""

    def of_type(self, typ: str) -> list[Registered]:
        """Every registration of one type token (see ``fabric.tokens``)."""
        return [r for r in self.registered if r.type == typ]

    def named(self, typ: str, name: str) -> Registered:
        """The one registration of ``typ`` named ``name``; fails unless there is exactly one."""
        matches = [r for r in self.registered if r.type == typ and r.name == name]
        assert len(matches) == 1, f"{typ} {name}: {len(matches)} registrations"
        return matches[0]


def run_program(
    fn: Callable[[], Any],
    *,
    stack: str = "test",
    preview: bool = True,
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> Recording:
    """Run ``fn`` as a Pulumi program under mocks; return every registration it made.

    ``config`` holds the stack config as the engine passes it (``{"fabric:key": "json or text"}``),
    ``secret_keys`` the keys among them that are secrets. ``preview=False`` runs as an update.
    """
    m = FabricMocks()
    monitor = RecordingMonitor(m)
    pulumi.runtime.set_all_config(config or {}, secret_keys or [])
    settings.ROOT.set(None)  # a fresh root stack per run, so its exports are this run's
    pulumi.runtime.set_mocks(m, project="samakia-fabric", stack=stack, preview=preview, monitor=monitor)
    box: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        box["result"] = fn()

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({}, [])
    root = settings.get_root_resource()
    exports = {k: resolve(v) for k, v in getattr(root, "outputs", {}).items()}
    return Recording(monitor.registered, box.get("result"), monitor.outputs, exports)


def resolve(output: Any) -> Any:
    """The value of an Output once the mocks have settled."""
    return _sync_await(pulumi.Output.from_input(output).future())


def is_secret(output: Any) -> bool:
    """True when the value is a Pulumi secret (state would store it encrypted)."""
    return bool(_sync_await(pulumi.Output.from_input(output).is_secret()))
