"""Stand-in for ``proxmoxve`` 8.6.0: templates, LXC containers and HA resources over the PVE API.

Replacement follows the upstream provider: a container is replaced when its node, VMID,
template, privilege or root-disk storage changes, a template download when anything about it
changes; everything else is an in-place update through ``PUT .../config``. ``read`` maps the
container's live config back to the input shape, so ``pulumi refresh`` sees drift.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

from providers.base import Props, Provider, ProviderError, serve
from providers.pve_api import PveApi, PveApiError

CT = "ContainerLegacy"
FILE = "File"
HA = "Haresource"


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _flags(features: Props) -> str:
    return ",".join(f"{k}=1" for k in ("nesting", "keyctl", "fuse") if features.get(k))


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


class ProxmoxProvider(Provider):
    version = "8.6.0"
    replace_keys = {  # noqa: RUF012
        FILE: ("url", "fileName", "checksum", "checksumAlgorithm", "contentType", "datastoreId", "nodeName"),
        CT: ("nodeName", "vmId", "operatingSystem", "unprivileged", "disk", "mountPoints"),
        HA: ("resourceId",),
    }
    computed_keys = {FILE: ("size",), CT: ("networkInterfaces",)}  # noqa: RUF012

    def api(self) -> PveApi:
        cfg = self.config
        # Like the Go provider: trust the system pool, which SSL_CERT_FILE can point elsewhere.
        verify: str | bool = False if _truthy(cfg.get("insecure", False)) else os.environ.get("SSL_CERT_FILE") or True
        if not cfg.get("endpoint"):
            raise ProviderError("the proxmoxve provider needs an endpoint")
        return PveApi(
            cfg["endpoint"],
            verify,
            username=cfg.get("username"),
            password=cfg.get("password"),
            api_token=cfg.get("apiToken"),
        )

    # -- create ----------------------------------------------------------------------------------
    def create(self, typ: str, props: Props) -> tuple[str, Props]:
        if typ == FILE:
            return self._create_file(props)
        if typ == CT:
            return self._create_ct(props)
        if typ == HA:
            return self._create_ha(props)
        raise ProviderError(f"{typ} is not supported by the stand-in provider")

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
        args = {"url": p["url"], "content": p["contentType"], "filename": p["fileName"]}
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
        args = (
            config_args(p)
            | {
                "vmid": vmid,
                "ostemplate": p["operatingSystem"]["templateFileId"],
                "ostype": p["operatingSystem"].get("type", "unmanaged"),
                "unprivileged": int(_truthy(p.get("unprivileged", False))),
                "rootfs": f"{disk.get('datastoreId', 'local-lvm')}:{int(disk.get('size', 4))}",
            }
            | mount_point_args(p)
        )
        keys = (init.get("userAccount") or {}).get("keys")
        if keys:
            args["ssh-public-keys"] = "\n".join(keys) + "\n"
        if p.get("poolId"):
            args["pool"] = p["poolId"]
        api.wait(node, api.post(f"/nodes/{node}/lxc", **args))
        if _truthy(p.get("started", True)):
            api.wait(node, api.post(f"/nodes/{node}/lxc/{vmid}/status/start"))
        outs = self._read_ct(api, str(vmid), p)
        if outs is None:
            raise ProviderError(f"CT {vmid} was created but cannot be read back")
        return str(vmid), outs

    def _create_ha(self, p: Props) -> tuple[str, Props]:
        api = self.api()
        args = {
            k: v
            for k, v in {
                "sid": p["resourceId"],
                "state": p.get("state"),
                "group": p.get("group"),
                "max_restart": p.get("maxRestart"),
                "max_relocate": p.get("maxRelocate"),
                "comment": p.get("comment"),
            }.items()
            if v is not None
        }
        api.post("/cluster/ha/resources", **args)
        return str(p["resourceId"]), dict(p)

    # -- read --------------------------------------------------------------------------------------
    def read(self, typ: str, rid: str, props: Props) -> Props | None:
        api = self.api()
        if typ == FILE:
            return self._read_file(api, rid, props)
        if typ == CT:
            return self._read_ct(api, rid, props)
        return props

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
        init["ipConfigs"] = [{"ipv4": {k: v for k, v in (("address", net.get("ip")), ("gateway", net.get("gw"))) if v}}]
        if "nameserver" in cfg or "searchdomain" in cfg:
            init["dns"] = {
                k: v
                for k, v in (
                    ("servers", cfg.get("nameserver", "").split() or None),
                    ("domain", cfg.get("searchdomain")),
                )
                if v
            }
        nic: dict[str, Any] = {
            "name": net.get("name", "eth0"),
            "bridge": net.get("bridge"),
            "macAddress": net.get("hwaddr"),
        }
        if net.get("tag"):
            nic["vlanId"] = int(net["tag"])
        features = _parse_kv(cfg.get("features", ""))
        rootfs = cfg.get("rootfs", "")
        return {
            **p,
            "vmId": int(rid),
            "cpu": {**(p.get("cpu") or {}), "cores": int(cfg.get("cores", 1))},
            "memory": {"dedicated": int(cfg.get("memory", 512)), "swap": int(cfg.get("swap", 0))},
            "disk": {**(p.get("disk") or {}), "datastoreId": rootfs.split(":", 1)[0], "size": _size_gb(rootfs)},
            "tags": sorted(t for t in str(cfg.get("tags", "")).split(";") if t),
            "unprivileged": _truthy(cfg.get("unprivileged", 0)),
            "startOnBoot": _truthy(cfg.get("onboot", 0)),
            "protection": _truthy(cfg.get("protection", 0)),
            "features": {k: k in features for k in ("nesting", "keyctl", "fuse")},
            "description": cfg.get("description", p.get("description")),
            "started": status.get("status") == "running",
            "networkInterfaces": [nic],
            "initialization": init,
            **({"mountPoints": _read_mount_points(cfg, list(p.get("mountPoints") or []))} if "mp0" in cfg else {}),
        }

    # -- update ------------------------------------------------------------------------------------
    def update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        api = self.api()
        if typ == CT:
            node = news["nodeName"]
            before, after = config_args(olds), config_args(news)
            changed = {k: v for k, v in after.items() if str(before.get(k)) != str(v)}
            removed = [
                k
                for k in ("description", "tags", "features", "nameserver", "searchdomain")
                if k in before and k not in after
            ]
            if changed or removed:
                body = dict(changed)
                if removed:
                    body["delete"] = ",".join(removed)
                api.put(f"/nodes/{node}/lxc/{rid}/config", **body)
            want, running = _truthy(news.get("started", True)), _truthy(olds.get("started", True))
            if want != running:
                api.wait(node, api.post(f"/nodes/{node}/lxc/{rid}/status/{'start' if want else 'stop'}"))
            outs = self._read_ct(api, rid, news)
            if outs is None:
                raise ProviderError(f"CT {rid} disappeared during the update")
            return outs
        if typ == HA:
            args = {
                k: v
                for k, v in {
                    "state": news.get("state"),
                    "group": news.get("group"),
                    "max_restart": news.get("maxRestart"),
                    "max_relocate": news.get("maxRelocate"),
                }.items()
                if v is not None
            }
            api.put(f"/cluster/ha/resources/{quote(rid, safe='')}", **args)
            return dict(news)
        raise ProviderError(f"{typ}: every change replaces it")

    # -- delete ------------------------------------------------------------------------------------
    def delete(self, typ: str, rid: str, props: Props) -> None:
        api = self.api()
        if typ == CT:
            node = props["nodeName"]
            try:
                status = api.get(f"/nodes/{node}/lxc/{rid}/status/current")
            except PveApiError as err:
                if err.status in (404, 500):
                    return  # already gone
                raise
            if status.get("status") == "running":
                api.wait(node, api.post(f"/nodes/{node}/lxc/{rid}/status/stop"))
            api.wait(node, api.delete(f"/nodes/{node}/lxc/{rid}", purge=1))
        elif typ == FILE:
            node, store = props["nodeName"], rid.split(":", 1)[0]
            upid = api.delete(f"/nodes/{node}/storage/{store}/content/{quote(rid, safe='')}")
            if isinstance(upid, str) and upid.startswith("UPID"):
                api.wait(node, upid)
        elif typ == HA:
            api.delete(f"/cluster/ha/resources/{quote(rid, safe='')}")


if __name__ == "__main__":
    serve(ProxmoxProvider())
