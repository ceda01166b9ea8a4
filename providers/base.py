"""The gRPC resource-provider protocol, once, for the stand-in providers.

A provider subclasses ``Provider`` and implements ``create``/``read``/``update``/``delete`` per
resource type, plus the input keys whose change forces a replacement. Diffs compare the
program's new inputs with the state (as refreshed by ``read``), restricted to the keys the
program sets, so drift of a managed setting shows and computed values (a generated MAC) do not.
"""

from __future__ import annotations

import os
import sys
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


def type_name(urn: str) -> str:
    """``proxmoxve:index/containerLegacy:ContainerLegacy`` -> ``ContainerLegacy``."""
    return urn.split("::")[-2].rsplit("$", maxsplit=1)[-1].rsplit(":", 1)[-1]


class ProviderError(RuntimeError):
    """An error the engine shows the operator as the resource's failure."""


class Provider(provider_pb2_grpc.ResourceProviderServicer):  # type: ignore[misc]
    """Shared protocol handling; subclasses implement the resources."""

    version = "0.0.0"
    #: type -> input keys whose change replaces the resource
    replace_keys: dict[str, tuple[str, ...]] = {}  # noqa: RUF012 (read-only class data)
    #: type -> output keys only the provider knows (unknown during preview)
    computed_keys: dict[str, tuple[str, ...]] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self.config: Props = {}

    # -- resource operations, per type --------------------------------------------------------
    def create(self, typ: str, props: Props) -> tuple[str, Props]:
        raise ProviderError(f"{typ}: create is not supported")

    def read(self, typ: str, rid: str, props: Props) -> Props | None:
        return props

    def update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        raise ProviderError(f"{typ}: update is not supported")

    def delete(self, typ: str, rid: str, props: Props) -> None:
        return None

    # -- protocol -------------------------------------------------------------------------------
    def GetPluginInfo(self, request: Any, context: Any) -> Any:  # noqa: N802
        return plugin_pb2.PluginInfo(version=self.version)

    def GetSchema(self, request: Any, context: Any) -> Any:  # noqa: N802
        return provider_pb2.GetSchemaResponse(schema="{}")

    def CheckConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        return provider_pb2.CheckResponse(inputs=request.news)

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
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request: Any, context: Any) -> Any:  # noqa: N802
        typ, olds, news = type_name(request.urn), to_dict(request.olds), to_dict(request.news)
        old_inputs = to_dict(request.old_inputs) if request.HasField("old_inputs") else None
        changed = changed_keys(olds, news, old_inputs, request.ignoreChanges)
        replaces = [k for k in changed if k in self.replace_keys.get(typ, ())]
        detailed = {
            k: provider_pb2.PropertyDiff(
                kind=provider_pb2.PropertyDiff.UPDATE_REPLACE if k in replaces else provider_pb2.PropertyDiff.UPDATE,
                inputDiff=True,
            )
            for k in changed
        }
        kind = provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(
            changes=kind, replaces=replaces, diffs=changed, detailedDiff=detailed, hasDetailedDiff=True
        )

    def Create(self, request: Any, context: Any) -> Any:  # noqa: N802
        typ, props = type_name(request.urn), to_dict(request.properties)
        if request.preview:
            outs = {**props, **dict.fromkeys(self.computed_keys.get(typ, ()), UNKNOWN)}
            return provider_pb2.CreateResponse(id="", properties=to_struct(outs))
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
        typ, olds, news = type_name(request.urn), to_dict(request.olds), to_dict(request.news)
        if request.preview:
            return provider_pb2.UpdateResponse(properties=to_struct({**olds, **news}))
        outs = self._guard(context, self.update, typ, request.id, olds, news)
        return provider_pb2.UpdateResponse(properties=to_struct(outs))

    def Delete(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._guard(context, self.delete, type_name(request.urn), request.id, to_dict(request.properties))
        return empty_pb2.Empty()

    def Cancel(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def _guard(self, context: Any, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as err:
            if os.environ.get("SAMAKIA_PROVIDER_DEBUG"):
                traceback.print_exc(file=sys.stderr)
            context.abort(grpc.StatusCode.UNKNOWN, str(err))


def serve(provider: Provider) -> None:
    """Serve on a loopback port and print it, as the engine expects of a plugin."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.time_ns():x}"
