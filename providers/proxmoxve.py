"""Stand-in for ``proxmoxve`` 8.6.0: templates, LXC containers and HA resources over the PVE API.

Replacement, defaults and computed values are not written here: they come from the upstream
provider's own schema (bpg/terraform-provider-proxmox v0.112.0, dumped into
``providers/conformance/`` and mapped to Pulumi names by ``providers.upstream_schema``). What a
schema cannot show is coded by hand, each with the upstream function it follows: the container's
CustomizeDiff (VMID, disk shrink), delete (shutdown, then DELETE without purge), and what a
failed update leaves in the state. ``read`` maps the live config back to the input shape, so
``pulumi refresh`` sees drift.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any
from urllib.parse import quote

from fabric.tokens import UNKNOWN
from providers import upstream_schema
from providers.base import PartialUpdateError, Props, Provider, ProviderError, serve, top_key
from providers.pve_api import PveApi, PveApiError

CT = "ContainerLegacy"
FILE = "File"
HA = "Haresource"
MEMBER = "Membership"
#: What upstream's create sends beyond the program's inputs: its schema defaults for the console
#: (enabled, ``tty`` mode, 2 ttys), the CPU (amd64, no limit) and ``template`` (container.go,
#: containerCreateCustom; the values in providers/conformance/bpg-v0.112.0.json).
CREATE_DEFAULTS = {"arch": "amd64", "cmode": "tty", "console": 1, "cpulimit": 0, "template": 0, "tty": 2}
#: Config keys whose change makes upstream reboot a running container (containerUpdate, rebootRequired).
REBOOT_KEYS = frozenset({"memory", "swap", "hostname", "nameserver", "searchdomain", "net0"})
#: How often upstream asks for a container's delete before giving up (retry.go, NewTaskOperation).
DELETE_ATTEMPTS = 3
#: PVE's own wording when a guest or HA resource is gone.
GONE = ("does not exist", "no such resource", "not found")


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _ha_args(props: Props) -> dict[str, Any]:
    """An HA resource's settings as the PVE API names them; unset ones left out."""
    args = {
        "state": props.get("state"),
        "group": props.get("group"),
        "max_restart": _int(props.get("maxRestart")),
        "max_relocate": _int(props.get("maxRelocate")),
        "comment": props.get("comment"),
    }
    return {k: v for k, v in args.items() if v is not None}


def _int(value: Any) -> int | None:
    """Numbers arrive from the engine as floats; PVE's integer parameters refuse ``1.0``."""
    return None if value is None else int(value)


def _flags(features: Props) -> str:
    # In upstream's order (proxmox/nodes/containers/containers_types.go, CustomFeatures.EncodeValues).
    return ",".join(f"{k}=1" for k in ("fuse", "keyctl", "nesting") if features.get(k))


def _net(nic: Props, ipv4: Props) -> str:
    parts = [f"name={nic.get('name', 'eth0')}", f"bridge={nic.get('bridge', 'vmbr0')}"]
    if nic.get("vlanId"):
        parts.append(f"tag={int(nic['vlanId'])}")
    if ipv4.get("address"):
        parts.append(f"ip={ipv4['address']}")
    if ipv4.get("gateway"):
        parts.append(f"gw={ipv4['gateway']}")
    return ",".join(parts)


def _parse_kv(text: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in text.split(",") if "=" in p)


def _size_gb(rootfs: str) -> int:
    m = re.search(r"size=(\d+)([GMT]?)", rootfs)
    if not m:
        return 0
    value, unit = int(m[1]), m[2] or "G"
    return {"M": value // 1024, "G": value, "T": value * 1024}[unit]


def config_args(p: Props) -> dict[str, Any]:
    """The PVE config parameters for a container's inputs (shared by create and update)."""
    init = p.get("initialization") or {}
    ipv4 = ((init.get("ipConfigs") or [{}])[0] or {}).get("ipv4") or {}
    dns = init.get("dns") or {}
    args: dict[str, Any] = {
        "hostname": init.get("hostname"),
        "cores": int((p.get("cpu") or {}).get("cores", 1)),
        "memory": int((p.get("memory") or {}).get("dedicated", 512)),
        "swap": int((p.get("memory") or {}).get("swap", 0)),
        "onboot": int(_truthy(p.get("startOnBoot", True))),
        "protection": int(_truthy(p.get("protection", False))),
        "tags": ";".join(sorted(p.get("tags") or [])),
        "description": p.get("description", ""),
        "features": _flags(p.get("features") or {}),
    }
    nics = p.get("networkInterfaces") or []
    if nics:
        args["net0"] = _net(nics[0], ipv4)
    if dns.get("servers"):
        args["nameserver"] = " ".join(dns["servers"])
    if dns.get("domain"):
        args["searchdomain"] = dns["domain"]
    return {k: v for k, v in args.items() if v not in (None, "")}


def mount_point_args(p: Props) -> dict[str, str]:
    """mpN config values of the container's mount points, in the order given.

    As bpg's ``containerCreate`` (proxmoxtf/resource/container/container.go): the volume as
    given (an existing volume id here), ``mp=`` the path, and only the options that differ
    from PVE's defaults; ``backup`` is PVE's flag for vzdump.
    """
    out = {}
    for i, mp in enumerate(p.get("mountPoints") or []):
        parts = [str(mp["volume"]), f"mp={mp['path']}"]
        if _truthy(mp.get("backup", False)):
            parts.append("backup=1")
        if mp.get("size"):
            parts.append(f"size={mp['size']}")
        out[f"mp{i}"] = ",".join(parts)
    return out


def _read_mount_points(cfg: dict[str, Any], given: list[Any]) -> list[Props]:
    out = []
    for i in range(len(cfg)):
        value = cfg.get(f"mp{i}")
        if value is None:
            break
        volume, *options = str(value).split(",")
        opts = _parse_kv(",".join(options))
        mp: Props = {**(given[i] if i < len(given) else {}), "volume": volume, "path": opts.get("mp", "")}
        mp["backup"] = _truthy(opts.get("backup", 0))
        if "size" in opts:
            mp["size"] = opts["size"]
        out.append(mp)
    return out


def _set_default(props: Props, parts: list[str], value: Any) -> None:
    """Fill ``value`` at ``parts`` where the program left it unset, inside blocks it did set."""
    head, rest = parts[0], parts[1:]
    if not rest:
        props.setdefault(head, value)
        return
    child = props.get(head)
    for item in child if isinstance(child, list) else [child]:
        if isinstance(item, dict):
            _set_default(item, rest, value)


def _mark_unknown(props: Props, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        if head not in props:
            props[head] = UNKNOWN
        return
    child = props.get(head)
    for item in child if isinstance(child, list) else [child]:
        if isinstance(item, dict):
            _mark_unknown(item, rest)


def _keep_prior(props: Props, prior: Any, parts: list[str]) -> None:
    if not isinstance(prior, dict):
        return
    head, rest = parts[0], parts[1:]
    if not rest:
        if props.get(head) is None and head in prior:
            props[head] = prior[head]
        return
    child, was = props.get(head), prior.get(head)
    if isinstance(child, list):
        for item, old in zip(child, was if isinstance(was, list) else [], strict=False):
            if isinstance(item, dict):
                _keep_prior(item, old, rest)
    elif isinstance(child, dict):
        _keep_prior(child, was, rest)


def _copy(props: Props) -> Props:
    out: Props = {}
    for k, v in props.items():
        if isinstance(v, dict):
            out[k] = _copy(v)
        elif isinstance(v, list):
            out[k] = [_copy(i) if isinstance(i, dict) else i for i in v]
        else:
            out[k] = v
    return out


class ProxmoxProvider(Provider):
    version = "8.6.0"
    package = "proxmoxve"
    #: What ``update`` applies in place (PUT config, resize, start/stop, HA update). Every other
    #: change must be a replacement upstream, or the stand-in would drop it silently: the
    #: conformance test (providers/upstream_schema.py, divergences) holds the two together.
    in_place = {  # noqa: RUF012
        CT: (
            "initialization.hostname",
            "initialization.ipConfigs",
            "initialization.dns",
            "cpu.cores",
            "memory.dedicated",
            "memory.swap",
            "disk.size",
            "startOnBoot",
            "protection",
            "tags",
            "description",
            "features.nesting",
            "features.keyctl",
            "features.fuse",
            "networkInterfaces.name",
            "networkInterfaces.bridge",
            "networkInterfaces.vlanId",
            "started",
        ),
        # fwprovider/cluster/ha/resource_haresource.go, Update: PUTs to the sid in the *state*;
        # a new resource_id is only recorded (not RequiresReplace), and so it is here.
        HA: ("resourceId", "state", "group", "maxRestart", "maxRelocate", "comment"),
        # fwprovider/nodes/resource_download_file.go, Update: these flags change only the state.
        FILE: ("overwrite", "overwriteUnmanaged", "uploadTimeout", "verify"),
    }

    def replaces(self, typ: str, rid: str, olds: Props, news: Props, paths: list[str]) -> list[str]:
        facts = upstream_schema.facts()[typ]
        keys = {top_key(p) for p in paths if upstream_schema.forces_replace(facts, p)}
        if typ == CT:
            # container.go, Container(): CustomizeDiff ForceNewIf(vm_id) when the new VMID is not
            # the resource's id, and ForceNewIf(disk) when a size shrinks (PVE only grows a disk).
            vmid = news.get("vmId")
            if rid and isinstance(vmid, int | float) and str(int(vmid)) != rid:
                keys.add("vmId")
            old_size = (olds.get("disk") or {}).get("size")
            new_size = (news.get("disk") or {}).get("size")
            if isinstance(old_size, int | float) and isinstance(new_size, int | float) and new_size < old_size:
                keys.add("disk")
        return sorted(keys)

    def check(self, typ: str, news: Props) -> Props:
        """Upstream's scalar defaults filled in, as the bridge's Check does (state matches upstream's)."""
        facts = upstream_schema.facts().get(typ)
        if facts is None:
            return news
        out = _copy(news)
        for path, value in sorted(facts.defaults.items()):
            if isinstance(value, dict | list):
                continue  # block defaults (DefaultFunc lists): see docs/engine.md
            _set_default(out, path.split("."), value)
        return out

    def preview_outputs(self, typ: str, props: Props) -> Props:
        facts = upstream_schema.facts().get(typ)
        out = _copy(props)
        for path in sorted(facts.computed if facts else ()):
            _mark_unknown(out, path.split("."))
        return out

    def preview_update(self, typ: str, olds: Props, news: Props) -> Props:
        """Computed attributes the program leaves unset keep their prior values, also inside blocks.

        Terraform's proposed new state (hashicorp/terraform internal/plans/objchange/objchange.go,
        proposedNewAttributes and proposedNewNestingList: list blocks paired by index), which the
        bridge's preview of an update shows: an in-place update keeps a container's MAC address.
        """
        out = super().preview_update(typ, olds, news)
        facts = upstream_schema.facts().get(typ)
        for path in sorted(facts.computed if facts else ()):
            _keep_prior(out, olds, path.split("."))
        return out

    def api(self) -> PveApi:
        cfg = self.config
        # Like the Go provider: trust the system pool, which SSL_CERT_FILE can point elsewhere.
        verify: str | bool = False if _truthy(cfg.get("insecure", False)) else os.environ.get("SSL_CERT_FILE") or True
        endpoint = cfg.get("endpoint") or os.environ.get("PROXMOX_VE_ENDPOINT")
        if not endpoint:
            raise ProviderError("the proxmoxve provider needs an endpoint (config or PROXMOX_VE_ENDPOINT)")
        # Credentials as upstream reads them (bpg/terraform-provider-proxmox v0.112.0,
        # fwprovider/provider.go Configure): the environment first, a provider config value over it.
        # The fabric sets none in config, so they never enter state.
        return PveApi(
            endpoint,
            verify,
            username=cfg.get("username") or os.environ.get("PROXMOX_VE_USERNAME"),
            password=cfg.get("password") or os.environ.get("PROXMOX_VE_PASSWORD"),
            api_token=cfg.get("apiToken") or os.environ.get("PROXMOX_VE_API_TOKEN"),
        )

    # -- create ----------------------------------------------------------------------------------
    def create(self, typ: str, props: Props) -> tuple[str, Props]:
        if typ == FILE:
            return self._create_file(props)
        if typ == CT:
            return self._create_ct(props)
        if typ == HA:
            return self._create_ha(props)
        if typ == MEMBER:
            return self._create_member(props)
        raise ProviderError(f"{typ} is not supported by the stand-in provider")

    def _create_member(self, p: Props) -> tuple[str, Props]:
        # fwprovider/pools/pool_membership.go, Create -> proxmox/pools/pool.go, UpdatePool:
        # PUT /pools?poolid=<pool> (the form PVE 8 added) with vms and allow-move.
        api, pool, vmid = self.api(), p["poolId"], int(p["vmId"])
        api.put(f"/pools?poolid={quote(pool, safe='')}", vms=str(vmid), **{"allow-move": 1})
        return f"{pool}/vm/{vmid}", {**p, "type": "vm"}

    def _create_file(self, p: Props) -> tuple[str, Props]:
        api, node, store = self.api(), p["nodeName"], p["datastoreId"]
        volid = f"{store}:{p['contentType']}/{p['fileName']}"
        content = api.get(f"/nodes/{node}/storage/{store}/content")
        if any(c["volid"] == volid for c in content):
            if not _truthy(p.get("overwriteUnmanaged", False)):
                raise ProviderError(f"{volid} already exists on {node} and is not managed by this stack")
            # As upstream: the unmanaged file goes, the download (checksum-verified) replaces it.
            upid = api.delete(f"/nodes/{node}/storage/{store}/content/{quote(volid, safe='')}")
            if isinstance(upid, str) and upid.startswith("UPID"):
                api.wait(node, upid)
        # fwprovider/nodes/resource_download_file.go, Create -> getURLMetadata: the metadata first
        # (GET .../query-url-metadata), then download-url; an unreachable URL fails here.
        api.get(
            f"/nodes/{node}/query-url-metadata",
            url=p["url"],
            **{"verify-certificates": int(_truthy(p.get("verify", True)))},
        )
        # The same parameters as upstream's download (proxmox/nodes/storage/download_url.go, via
        # resource_download_file.go Create): the path's node and storage repeated, and the TLS flag.
        args = {
            "url": p["url"],
            "content": p["contentType"],
            "filename": p["fileName"],
            "node": node,
            "storage": store,
            "verify-certificates": int(_truthy(p.get("verify", True))),
        }
        if p.get("checksum"):
            args |= {"checksum": p["checksum"], "checksum-algorithm": p.get("checksumAlgorithm", "sha256")}
        api.wait(node, api.post(f"/nodes/{node}/storage/{store}/download-url", **args))
        outs = self._read_file(api, volid, p)
        if outs is None:
            raise ProviderError(f"{volid}: the download finished but the file is not on the storage")
        return volid, outs

    def _create_ct(self, p: Props) -> tuple[str, Props]:
        api, node, vmid = self.api(), p["nodeName"], int(p["vmId"])
        init = p.get("initialization") or {}
        disk = p.get("disk") or {}
        started = _truthy(p.get("started", True))
        args = (
            config_args(p)
            | CREATE_DEFAULTS
            | {
                "vmid": vmid,
                "ostemplate": p["operatingSystem"]["templateFileId"],
                "ostype": p["operatingSystem"].get("type", "unmanaged"),
                "unprivileged": int(_truthy(p.get("unprivileged", False))),
                "rootfs": f"{disk.get('datastoreId', 'local-lvm')}:{int(disk.get('size', 4))}",
                "storage": disk.get("datastoreId", "local-lvm"),
                "start": int(started),
            }
            | mount_point_args(p)
        )
        keys = (init.get("userAccount") or {}).get("keys")
        if keys:
            args["ssh-public-keys"] = "\n".join(keys)
        if p.get("poolId"):
            args["pool"] = p["poolId"]
        api.wait(node, api.post(f"/nodes/{node}/lxc", **args))
        # proxmox/nodes/containers/containers.go, StartContainer: the create task started it
        # (``start``), so the start that follows finds it running and sends nothing.
        if started and api.get(f"/nodes/{node}/lxc/{vmid}/status/current").get("status") != "running":
            api.wait(node, api.post(f"/nodes/{node}/lxc/{vmid}/status/start"))
        outs = self._read_ct(api, str(vmid), p)
        if outs is None:
            raise ProviderError(f"CT {vmid} was created but cannot be read back")
        return str(vmid), outs

    def _create_ha(self, p: Props) -> tuple[str, Props]:
        api = self.api()
        # proxmox/cluster/ha/resources/resources.go, Create: the sid and its type (ct/vm).
        sid = str(p["resourceId"])
        api.post("/cluster/ha/resources", sid=sid, type=sid.split(":", 1)[0], **_ha_args(p))
        outs = self._read_ha(api, str(p["resourceId"]), p)
        if outs is None:
            raise ProviderError(f"HA resource {p['resourceId']} was created but cannot be read back")
        return str(p["resourceId"]), outs

    # -- read --------------------------------------------------------------------------------------
    def read(self, typ: str, rid: str, props: Props) -> Props | None:
        api = self.api()
        if typ == FILE:
            return self._read_file(api, rid, props)
        if typ == CT:
            return self._read_ct(api, rid, props)
        if typ == HA:
            return self._read_ha(api, rid, props)
        if typ == MEMBER:
            return self._read_member(api, props)
        return props

    def _read_ha(self, api: PveApi, sid: str, p: Props) -> Props | None:
        # fwprovider/cluster/ha/resource_haresource.go, Read: GET /cluster/ha/resources/{sid};
        # a missing resource leaves the state, so an HA entry removed by hand shows as drift.
        try:
            got = api.get(f"/cluster/ha/resources/{quote(sid, safe='')}")
        except PveApiError as err:
            if err.status == 404 or any(g in str(err) for g in GONE):
                return None
            raise
        read = {
            "resourceId": sid,
            "type": got.get("type", sid.split(":", 1)[0]),
            "state": got.get("state", "started"),
            "group": got.get("group"),
            "comment": got.get("comment"),
            "maxRestart": int(got["max_restart"]) if "max_restart" in got else None,
            "maxRelocate": int(got["max_relocate"]) if "max_relocate" in got else None,
        }
        return {**{k: v for k, v in p.items() if k not in read}, **{k: v for k, v in read.items() if v is not None}}

    def _read_member(self, api: PveApi, p: Props) -> Props | None:
        # fwprovider/pools/pool_membership.go, Read: GET /pools/{pool}; a guest no longer in the
        # pool removes the membership from the state (drift).
        pool, vmid = p["poolId"], int(p["vmId"])
        try:
            members = api.get(f"/pools/{quote(pool, safe='')}").get("members", [])
        except PveApiError as err:
            if err.status == 404 or any(g in str(err) for g in GONE):
                return None
            raise
        if not any(m.get("vmid") is not None and int(m["vmid"]) == vmid for m in members):
            return None
        return {**p, "type": "vm"}

    def _read_file(self, api: PveApi, volid: str, p: Props) -> Props | None:
        store = volid.split(":", 1)[0]
        for item in api.get(f"/nodes/{p['nodeName']}/storage/{store}/content"):
            if item["volid"] == volid:
                return {**p, "size": item.get("size", 0)}
        return None

    def _read_ct(self, api: PveApi, rid: str, p: Props) -> Props | None:
        node = p["nodeName"]
        try:
            cfg = api.get(f"/nodes/{node}/lxc/{rid}/config")
            status = api.get(f"/nodes/{node}/lxc/{rid}/status/current")
        except PveApiError as err:
            if err.status in (404, 500) and ("does not exist" in str(err) or err.status == 404):
                return None
            raise
        net = _parse_kv(cfg.get("net0", ""))
        init = dict(p.get("initialization") or {})
        init["hostname"] = cfg.get("hostname")
        old_ip = {  # defaults only: the address and gateway are what PVE says
            k: v
            for k, v in (((init.get("ipConfigs") or [{}])[0] or {}).get("ipv4") or {}).items()
            if k not in ("address", "gateway")
        }
        read_ip = {k: v for k, v in (("address", net.get("ip")), ("gateway", net.get("gw"))) if v}
        init["ipConfigs"] = [{**((init.get("ipConfigs") or [{}])[0] or {}), "ipv4": {**old_ip, **read_ip}}]
        if "nameserver" in cfg or "searchdomain" in cfg:
            init["dns"] = {
                **(init.get("dns") or {}),  # keeps upstream's defaults (the deprecated `server`)
                **{
                    k: v
                    for k, v in (
                        ("servers", cfg.get("nameserver", "").split() or None),
                        ("domain", cfg.get("searchdomain")),
                    )
                    if v
                },
            }
        old_nics = p.get("networkInterfaces") or [{}]
        nic: dict[str, Any] = {
            **(old_nics[0] or {}),
            "name": net.get("name", "eth0"),
            "bridge": net.get("bridge"),
            "macAddress": net.get("hwaddr"),
        }
        nic["vlanId"] = int(net["tag"]) if net.get("tag") else 0  # upstream's default: no VLAN
        features = _parse_kv(cfg.get("features", ""))
        rootfs = cfg.get("rootfs", "")
        # container.go, containerRead: pool_id is not read back (only set at create), so a guest
        # moved out of its pool is not drift here; pool.Membership reads it (the fabric uses that).
        return {
            **p,
            "vmId": int(rid),
            "cpu": {**(p.get("cpu") or {}), "cores": int(cfg.get("cores", 1))},
            "memory": {
                **(p.get("memory") or {}),
                "dedicated": int(cfg.get("memory", 512)),
                "swap": int(cfg.get("swap", 0)),
            },
            "disk": {**(p.get("disk") or {}), "datastoreId": rootfs.split(":", 1)[0], "size": _size_gb(rootfs)},
            "tags": sorted(t for t in str(cfg.get("tags", "")).split(";") if t),
            "unprivileged": _truthy(cfg.get("unprivileged", 0)),
            "startOnBoot": _truthy(cfg.get("onboot", 0)),
            "protection": _truthy(cfg.get("protection", 0)),
            "features": {**(p.get("features") or {}), **{k: k in features for k in ("nesting", "keyctl", "fuse")}},
            "description": cfg.get("description", p.get("description")),
            "started": status.get("status") == "running",
            "networkInterfaces": [nic],
            "initialization": init,
            **({"mountPoints": _read_mount_points(cfg, list(p.get("mountPoints") or []))} if "mp0" in cfg else {}),
        }

    # -- update ------------------------------------------------------------------------------------
    def update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        try:
            return self._update(typ, rid, olds, news)
        except PveApiError as err:
            # As the bridge does with an SDKv2 resource that does not use d.Partial: the error,
            # with the planned state (old outputs overlaid by the new inputs) recorded anyway.
            raise PartialUpdateError(str(err), rid, {**olds, **news}) from err

    def _update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        api = self.api()
        if typ == CT:
            node = news["nodeName"]
            before, after = config_args(olds), config_args(news)
            changed = {k: v for k, v in after.items() if str(before.get(k)) != str(v)}
            # container.go, containerUpdate: a changed block is sent whole (memory with swap).
            if {"memory", "swap"} & set(changed):
                changed |= {"memory": after["memory"], "swap": after["swap"]}
            removed = [
                k
                for k in ("description", "tags", "features", "nameserver", "searchdomain")
                if k in before and k not in after
            ]
            body = dict(changed)
            if removed:
                body["delete"] = ",".join(removed)
            rootfs = self._grow_disk(api, node, rid, olds, news)
            if rootfs:
                body["rootfs"] = rootfs
            if body:
                api.put(f"/nodes/{node}/lxc/{rid}/config", **body)
            want, running = _truthy(news.get("started", True)), _truthy(olds.get("started", True))
            if want != running:
                api.wait(node, api.post(f"/nodes/{node}/lxc/{rid}/status/{'start' if want else 'stop'}"))
            elif want and REBOOT_KEYS & set(body):
                # containerUpdate's last step: a running container is rebooted when memory, the
                # hostname, DNS or the network changed (rebootRequired; timeout 300).
                api.wait(node, api.post(f"/nodes/{node}/lxc/{rid}/status/reboot", timeout=300))
            outs = self._read_ct(api, rid, news)
            if outs is None:
                raise ProviderError(f"CT {rid} disappeared during the update")
            return outs
        if typ == HA:
            api.put(f"/cluster/ha/resources/{quote(rid, safe='')}", **_ha_args(news))
            read = self._read_ha(api, rid, news)
            return {**read, "resourceId": news["resourceId"]} if read else dict(news)
        if typ == FILE:
            return {**olds, **news}
        raise ProviderError(f"{typ}: every change replaces it")

    @staticmethod
    def _grow_disk(api: PveApi, node: str, rid: str, olds: Props, news: Props) -> str | None:
        """container.go, containerUpdate: a larger disk.size is a resize of rootfs in place
        (PUT .../resize), then the whole ``rootfs`` (volume, size in bytes, acl/quota/replicate)
        goes into the config update, which PVE refuses for a protected container (pve-container
        ``PVE::LXC::Config::update_pct_config``: "can't update CT N drive 'rootfs'"); a smaller
        size never gets here (CustomizeDiff replaces the container). Returns that value."""
        old = int(float((olds.get("disk") or {}).get("size") or 0))
        new = int(float((news.get("disk") or {}).get("size") or 0))
        if not new > old > 0:
            return None
        upid = api.put(f"/nodes/{node}/lxc/{rid}/resize", disk="rootfs", size=f"{new}G")
        if isinstance(upid, str) and upid.startswith("UPID"):
            api.wait(node, upid)
        volume = str(api.get(f"/nodes/{node}/lxc/{rid}/config").get("rootfs", "")).split(",", 1)[0]
        return f"acl=0,size={new << 30},quota=0,replicate=0,volume={volume}"

    # -- delete ------------------------------------------------------------------------------------
    def delete(self, typ: str, rid: str, props: Props) -> None:
        api = self.api()
        if typ == CT:
            self._delete_ct(api, rid, props)
        elif typ == FILE:
            node, store = props["nodeName"], rid.split(":", 1)[0]
            upid = api.delete(f"/nodes/{node}/storage/{store}/content/{quote(rid, safe='')}")
            if isinstance(upid, str) and upid.startswith("UPID"):
                api.wait(node, upid)
        elif typ == HA:
            # fwprovider/cluster/ha/resource_haresource.go, Delete: a resource already gone is fine.
            try:
                api.delete(f"/cluster/ha/resources/{quote(rid, safe='')}")
            except PveApiError as err:
                if not (err.status == 404 or any(g in str(err) for g in GONE)):
                    raise
        elif typ == MEMBER:
            # fwprovider/pools/pool_membership.go, Delete: PUT /pools?poolid=<pool> vms=<id> delete=1.
            api.put(f"/pools?poolid={quote(props['poolId'], safe='')}", vms=str(int(props["vmId"])), delete=1)

    @staticmethod
    def _delete_ct(api: PveApi, rid: str, props: Props) -> None:
        """container.go, containerDelete: shut down (forceStop, timeout below the delete timeout),
        wait for "stopped", then DELETE without purge. PVE itself refuses a container with
        ``protection`` set or one still under HA (its message is the error); nothing here
        lifts either: releasing them is the fabric's job (fabric/container.py)."""
        node = props["nodeName"]
        try:
            status = api.get(f"/nodes/{node}/lxc/{rid}/status/current")
        except PveApiError as err:
            if err.status == 404 or any(g in str(err) for g in GONE):
                return  # already gone
            raise
        if status.get("status") != "stopped":
            timeout = int(float(props.get("timeoutDelete") or 60))
            upid = api.post(f"/nodes/{node}/lxc/{rid}/status/shutdown", forceStop=1, timeout=max(1, timeout - 5))
            api.wait(node, upid)
        # proxmox/nodes/containers/containers.go, DeleteContainer: a task operation of
        # proxmox/retry/retry.go (NewTaskOperation: 3 attempts, 1 s then 2 s apart) retried on any
        # 5xx but "does not exist" (IsTransientAPIError), so a refusal is asked three times.
        for attempt in range(DELETE_ATTEMPTS):
            try:
                upid = api.delete(f"/nodes/{node}/lxc/{rid}")
                break
            except PveApiError as err:
                gone = any(g in str(err) for g in GONE)
                if gone or (err.status or 0) < 500 or attempt == DELETE_ATTEMPTS - 1:
                    raise
                time.sleep(2**attempt)
        api.wait(node, upid)


if __name__ == "__main__":
    upstream_schema.facts()  # before the first RPC: the SDK's lazy submodules load on one thread
    serve(ProxmoxProvider())
