"""The gRPC resource-provider protocol, once, for the stand-in providers.

A provider subclasses ``Provider`` and implements ``create``/``read``/``update``/``delete`` per
resource type, plus the input keys whose change forces a replacement. Diffs compare the
program's new inputs with the state (as refreshed by ``read``), restricted to the keys the
program sets, so drift of a managed setting shows and computed values (a generated MAC) do not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN  # the engine's sentinel for a value not known until apply

SIG_KEY = "4dabf18193072939515e22adb298388d"
Props = dict[str, Any]


def plain(value: Any) -> Any:
    """Strip the engine's secret wrappers: a provider works with the values themselves."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == "1b47061264138c4ac30d75fd1eb44270":
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_dict(message: struct_pb2.Struct | None) -> Props:
    return plain(json_format.MessageToDict(message)) if message is not None else {}


def to_struct(props: Props) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(_drop_none(props))
    return s


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def has_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def project(old: Any, new: Any) -> Any:
    """``old`` restricted to the shape of ``new``: keys ``new`` does not set are not compared."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: project(old.get(k), v) for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [project(o, n) for o, n in zip(old, new, strict=True)]
    return old


def same(old: Any, new: Any) -> bool:
    if isinstance(new, float) and isinstance(old, int | float):
        return float(old) == new
    if isinstance(new, dict) and isinstance(old, dict):
        return all(same(old.get(k), v) for k, v in new.items())
    if isinstance(new, list) and isinstance(old, list):
        return len(old) == len(new) and all(same(o, n) for o, n in zip(old, new, strict=True))
    return bool(old == new)


def changed_keys(olds: Props, news: Props, old_inputs: Props | None = None, ignore: Iterable[str] = ()) -> list[str]:
    """Keys the program sets differently from the state, plus keys it no longer sets at all."""
    skip = set(ignore)
    changed = {k for k, v in news.items() if not same(project(olds.get(k), v), v)}
    removed = set(old_inputs or {}) - set(news)
    return sorted((changed | removed) - skip)


def diff_paths(old: Any, new: Any, base: str = "") -> list[str]:
    """Leaf paths where ``new`` (the program's inputs) differs from ``old`` (the state).

    Only what ``new`` sets is compared (as ``project``); a list of objects of another length is
    one change at the list itself. Paths look like ``disk.size`` and ``networkInterfaces[0].bridge``.
    """
    if isinstance(new, dict):
        olds = old if isinstance(old, dict) else {}
        out: list[str] = []
        for k, v in new.items():
            out += diff_paths(olds.get(k), v, f"{base}.{k}" if base else k)
        return out
    if isinstance(new, list) and new and all(isinstance(v, dict) for v in new):
        if not isinstance(old, list) or len(old) != len(new):
            return [base]
        out = []
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            out += diff_paths(o, n, f"{base}[{i}]")
        return out
    return [] if same(old, new) else [base]


def top_key(path: str) -> str:
    """``networkInterfaces[0].bridge`` -> ``networkInterfaces``."""
    return path.split(".", 1)[0].split("[", 1)[0]


def type_name(urn: str) -> str:
    """``proxmoxve:index/containerLegacy:ContainerLegacy`` -> ``ContainerLegacy``."""
    return urn.split("::")[-2].rsplit("$", maxsplit=1)[-1].rsplit(":", 1)[-1]


def stack_of(urn: str) -> str:
    """``urn:pulumi:local::samakia-fabric::type::name`` -> ``local``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


#: Stacks that only ever run against the embedded local Proxmox: the local fabric and the engine tier's.
LOCAL_STACKS = ("local", "e2e")


def is_local_stack(stack: str) -> bool:
    """``local``, ``e2e`` and their ``-*`` variants (e.g. ``local-prod``, ``e2e-prod``)."""
    return any(stack == name or stack.startswith(name + "-") for name in LOCAL_STACKS)


class ProviderError(RuntimeError):
    """An error the engine shows the operator as the resource's failure."""


class PartialUpdateError(ProviderError):
    """An update that failed part-way, with the state to record anyway.

    Mirrors the Terraform bridge: terraform-plugin-sdk/v2 helper/schema/resource.go
    (Resource.Apply) returns ``data.State()`` with the error, which (no ``d.Partial``) holds the
    *planned* values; pulumi-terraform-bridge pkg/tfbridge/provider.go (Provider.Update) turns
    that into ``initializationError(id, props, reasons)``, an ``ErrorResourceInitFailed`` detail.
    The engine then records the new inputs and those planned outputs, so the next ``up`` sees no
    diff and does not retry; only a refresh (which reads the real value back) shows the change.
    """

    def __init__(self, message: str, rid: str, state: Props) -> None:
        super().__init__(message)
        self.rid, self.state = rid, state


class Provider(provider_pb2_grpc.ResourceProviderServicer):  # type: ignore[misc]
    """Shared protocol handling; subclasses implement the resources."""

    version = "0.0.0"
    package = "unknown"
    """The Pulumi package this stands in for (``proxmoxve``, ``command``)."""
    #: type -> input keys whose change replaces the resource
    replace_keys: dict[str, tuple[str, ...]] = {}  # noqa: RUF012 (read-only class data)
    #: type -> input paths ``update`` applies in place (checked against upstream where known)
    in_place: dict[str, tuple[str, ...]] = {}  # noqa: RUF012
    #: type -> output keys only the provider knows (unknown during preview)
    computed_keys: dict[str, tuple[str, ...]] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self.config: Props = {}
        self.engine: Any = None
        """The engine's log service (set by ``serve`` from the address the engine passes)."""
        self._current = threading.local()

    def log(self, message: str) -> None:
        """An info line on the resource being worked on, shown by the engine as it arrives."""
        if self.engine is None or not message:
            return
        from pulumi.runtime.proto import engine_pb2

        # If the engine went away the output is still in the failure message.
        with contextlib.suppress(grpc.RpcError):
            self.engine.Log(
                engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn=getattr(self._current, "urn", ""))
            )

    # -- resource operations, per type --------------------------------------------------------
    def create(self, typ: str, props: Props) -> tuple[str, Props]:
        raise ProviderError(f"{typ}: create is not supported")

    def read(self, typ: str, rid: str, props: Props) -> Props | None:
        return props

    def update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        raise ProviderError(f"{typ}: update is not supported")

    def delete(self, typ: str, rid: str, props: Props) -> None:
        return None

    def replaces(self, typ: str, rid: str, olds: Props, news: Props, paths: list[str]) -> list[str]:
        """Top-level keys whose change (at ``paths``) replaces the resource."""
        keys = self.replace_keys.get(typ, ())
        return sorted({top_key(p) for p in paths if top_key(p) in keys})

    def check(self, typ: str, news: Props) -> Props:
        """The inputs as the provider will store them (upstream fills in its defaults)."""
        return news

    def preview_outputs(self, typ: str, props: Props) -> Props:
        """A create's outputs in a preview: what the provider computes is unknown."""
        return {**props, **{k: UNKNOWN for k in self.computed_keys.get(typ, ()) if k not in props}}

    def preview_update(self, typ: str, olds: Props, news: Props) -> Props:
        """An update's outputs in a preview: the new inputs over the old state."""
        return {**olds, **news}

    # -- protocol -------------------------------------------------------------------------------
    def GetPluginInfo(self, request: Any, context: Any) -> Any:  # noqa: N802
        return plugin_pb2.PluginInfo(version=self.version)

    def GetSchema(self, request: Any, context: Any) -> Any:  # noqa: N802
        return provider_pb2.GetSchemaResponse(schema="{}")

    def CheckConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._local_only(request.urn, context)
        return provider_pb2.CheckResponse(inputs=request.news)

    def _local_only(self, urn: str, context: Any) -> None:
        """A stand-in never touches anything but the embedded local fabric."""
        stack = stack_of(urn) if urn else ""
        if stack and not is_local_stack(stack):
            name = self.package
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"stack '{stack}' is not a local stack, but the registered {name} provider is Samakia Fabric's "
                f"stand-in (providers/{name}.py), which runs only the local fabric "
                "(stacks 'local', 'e2e' and their '-*' variants). "
                f"Install the real plugin: `pulumi plugin install resource {name} {self.version}` on a runner "
                f"that reaches the plugin host, or put pulumi-resource-{name} in the directory named by "
                "SAMAKIA_PROVIDER_BINARIES and run scripts/engine.sh (docs/engine.md).",
            )

    def DiffConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        olds = to_dict(request.old_inputs if request.HasField("old_inputs") else request.olds)
        changed = changed_keys(olds, to_dict(request.news))
        kind = provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(changes=kind, diffs=changed)

    def Configure(self, request: Any, context: Any) -> Any:  # noqa: N802
        cfg = to_dict(request.args) if request.HasField("args") else {}
        for key, value in request.variables.items():  # 'proxmoxve:config:endpoint' -> endpoint
            cfg.setdefault(key.rsplit(":", 1)[-1], value)
        self.config = cfg
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True)

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._local_only(request.urn, context)
        typ, news = type_name(request.urn), to_dict(request.news)
        checked = self.check(typ, news)
        if checked is news:
            return provider_pb2.CheckResponse(inputs=request.news)
        return provider_pb2.CheckResponse(inputs=to_struct(checked))

    def Diff(self, request: Any, context: Any) -> Any:  # noqa: N802
        typ, olds, news = type_name(request.urn), to_dict(request.olds), to_dict(request.news)
        old_inputs = to_dict(request.old_inputs) if request.HasField("old_inputs") else None
        changed = changed_keys(olds, news, old_inputs, request.ignoreChanges)
        paths = [p for k in changed for p in (diff_paths(olds.get(k), news[k], k) if k in news else [k])]
        replaces = self.replaces(typ, request.id, olds, news, paths)
        detailed = {
            p: provider_pb2.PropertyDiff(
                kind=provider_pb2.PropertyDiff.UPDATE_REPLACE
                if top_key(p) in replaces
                else provider_pb2.PropertyDiff.UPDATE,
                inputDiff=True,
            )
            for p in paths
        }
        kind = provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(
            changes=kind, replaces=replaces, diffs=changed, detailedDiff=detailed, hasDetailedDiff=True
        )

    def Create(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._current.urn = request.urn
        typ, props = type_name(request.urn), to_dict(request.properties)
        if request.preview:
            return provider_pb2.CreateResponse(id="", properties=to_struct(self.preview_outputs(typ, props)))
        rid, outs = self._guard(context, self.create, typ, props)
        return provider_pb2.CreateResponse(id=rid, properties=to_struct(outs))

    def Read(self, request: Any, context: Any) -> Any:  # noqa: N802
        typ, props = type_name(request.urn), to_dict(request.properties)
        outs = self._guard(context, self.read, typ, request.id, props)
        if outs is None:  # gone: the engine drops it from the state
            return provider_pb2.ReadResponse(id="")
        inputs = to_dict(request.inputs) if request.HasField("inputs") else {}
        refreshed = {k: project(outs.get(k), v) for k, v in inputs.items()}
        return provider_pb2.ReadResponse(id=request.id, properties=to_struct(outs), inputs=to_struct(refreshed))

    def Update(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._current.urn = request.urn
        typ, olds, news = type_name(request.urn), to_dict(request.olds), to_dict(request.news)
        if request.preview:
            return provider_pb2.UpdateResponse(properties=to_struct(self.preview_update(typ, olds, news)))
        if not changed_keys(olds, news):
            # pulumi-terraform-bridge pkg/tfbridge/provider.go, Update: no diff (e.g. the empty
            # update the engine sends for a resource with init errors) returns the old state as is.
            return provider_pb2.UpdateResponse(properties=request.olds)
        try:
            outs = self.update(typ, request.id, olds, news)
        except PartialUpdateError as err:
            context.abort_with_status(init_failed(err.rid, err.state, str(err)))
        except Exception as err:
            self._abort(context, err)
        return provider_pb2.UpdateResponse(properties=to_struct(outs))

    def Delete(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._current.urn = request.urn
        self._guard(context, self.delete, type_name(request.urn), request.id, to_dict(request.properties))
        return empty_pb2.Empty()

    def Cancel(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def _guard(self, context: Any, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as err:
            self._abort(context, err)

    @staticmethod
    def _abort(context: Any, err: Exception) -> None:
        if os.environ.get("SAMAKIA_PROVIDER_DEBUG"):
            traceback.print_exc(file=sys.stderr)
        context.abort(grpc.StatusCode.UNKNOWN, str(err))


class _Status(grpc.Status):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, bytes], ...]) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


def init_failed(rid: str, state: Props, reason: str) -> grpc.Status:
    """An ``ErrorResourceInitFailed`` error, as the bridge's ``initializationError`` builds it."""
    from pulumi.runtime.proto import status_pb2

    detail = provider_pb2.ErrorResourceInitFailed(id=rid, properties=to_struct(state), reasons=[reason])
    status = status_pb2.Status(code=grpc.StatusCode.UNKNOWN.value[0], message=reason)
    status.details.add().Pack(detail)
    return _Status(grpc.StatusCode.UNKNOWN, reason, (("grpc-status-details-bin", status.SerializeToString()),))


def exit_with_engine(every_s: float = 1.0) -> None:
    """End this provider, and the commands it runs, within ``every_s`` of its engine's death.

    Nothing tells a plugin that the engine was SIGKILLed: the stand-ins kept serving, parented to
    init, for good. Upstream's Go plugins find out through a health check every 5 minutes (read:
    pulumi/pulumi sdk/v3 v3.272.0, go/pulumi/provider/main.go, which starts
    go/common/util/rpcutil/health.go ``Healthcheck`` with ``5*time.Minute``). The engine is our
    parent, so we watch that: when it dies we are re-parented and ``getppid`` changes. Not
    PR_SET_PDEATHSIG: it fires when the parent's forking *thread* ends, which the Go runtime of the
    CLI may do at any time.

    The engine starts every plugin as the leader of a process group of its own
    (go/common/util/cmdutil/child_unix.go, ``RegisterProcessGroup``) and a command stays in it, so
    killing the group ends a running command too: its result has nobody to go to, and the next
    apply runs it again. A provider that leads no group (started by hand) only exits.
    """
    engine = os.getppid()

    def watch() -> None:
        while os.getppid() == engine:
            time.sleep(every_s)
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpgrp(), signal.SIGKILL)  # this process included
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-engine", daemon=True).start()


def serve(provider: Provider) -> None:
    """Serve on a loopback port and print it, as the engine expects of a plugin; exit with the engine."""
    exit_with_engine()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    )
    if len(sys.argv) > 1 and ":" in sys.argv[1]:  # the engine passes its own address first
        from pulumi.runtime.proto import engine_pb2_grpc

        provider.engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(sys.argv[1]))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.time_ns():x}"
