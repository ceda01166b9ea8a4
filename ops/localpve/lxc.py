"""The local Proxmox's containers are real LXC containers, set up the way a PVE node sets them up.

A PVE node keeps each container's intent in ``/etc/pve/lxc/VMID.conf`` and, at every start,
renders an LXC config from it and prepares the root filesystem (hostname, network, DNS) before
``lxc-start``. This module is that part of a node for the local fabric (Debian's ``lxc`` 5.0):

* **create** unpacks the downloaded, checksum-verified template (once per template and id map,
  shared read-only) and gives the container an overlay upper layer of its own, so creating
  and destroying a container is instant; unprivileged containers see the template through
  ``lxc.idmap`` (unpacked through ``lxc-usernsexec``); root's ``authorized_keys`` and fresh SSH
  host keys are written, as PVE does, and the public host keys are kept beside the container
  as the trusted copy;
* **start** renders ``config`` from the PVE config (hostname, veth on the host bridge that
  stands for ``vmbr0``, memory/swap/cores as cgroup v1 limits, bind mounts) and writes
  ``/etc/hostname``, ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/network/interfaces``
  into the root, then runs ``lxc-start``;
* **shutdown/stop/destroy** are ``lxc-stop`` (clean, then ``--kill``) and ``lxc-destroy``;
* :meth:`LxcNode.states` is the truth the API reports: a container stopped or destroyed with
  ``lxc-*`` commands behind the API's back shows so.

Every local fabric instance (``make up``'s, each test session's) gets its own short prefix,
derived from its state directory: container names, the host bridges and the LXC path carry it,
so instances never collide and :meth:`LxcNode.teardown` removes exactly one instance.

Network rule: the bridge exists only on this machine, holds the network's gateway address,
and forwards nothing (``net.ipv4.conf.<bridge>.forwarding = 0``, no NAT).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Where every instance keeps its LXC path. It must be traversable by the unprivileged
# containers' mapped root (uid 100000), which a pytest or checkout directory may not be.
LXC_BASE = Path(os.environ.get("SAMAKIA_LXC_BASE", "/var/lib/samakia-fabric/lxc"))
# PVE's default id map for unprivileged containers (and /etc/subuid, /etc/subgid).
ID_BASE, ID_COUNT = 100000, 65536
LXC_CONFIG_DIR = Path("/usr/share/lxc/config")


class LxcError(RuntimeError):
    """An LXC operation failed; the message is what the PVE task log shows."""


def _run(*cmd: str, timeout: float = 120, input: bytes | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LxcError(f"{cmd[0]} timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        raise LxcError(f"{' '.join(cmd[:2])} failed (exit {proc.returncode}): {' / '.join(detail[-3:])}")
    return proc.stdout.decode(errors="replace")


def bridge_mac(dev: str) -> str:
    """A fixed, locally administered MAC for a fabric bridge, stable per bridge name.

    A Linux bridge without one takes the lowest MAC among its ports and changes it when that port
    leaves (linux net/bridge/br_stp_if.c, br_stp_recalculate_bridge_id; an address set by the
    user is kept). A bridge of veths only would then change the gateway's MAC whenever the
    container holding the lowest port is destroyed, and the other containers' replies to the host
    would go to the old MAC until their neighbour entries expire: a replica replaced one at a time
    looked silent together with its peer. A PVE node's vmbr0 keeps its physical port's MAC.
    """
    digest = hashlib.sha256(dev.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def instance_prefix(state_dir: Path, tag: str = "") -> str:
    """A short, stable name for one local fabric instance (its state directory).

    ``tag`` (at most two characters, e.g. a test lane's) goes in front of the hash, so an
    operator listing ``lxc-ls`` or ``ip link`` sees whose instance a container or bridge is.
    """
    if len(tag) > 2 or (tag and not tag.isalnum()):
        raise LxcError(f"instance tag {tag!r} must be at most two letters or digits")
    return "sf" + tag + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:6]


def split_props(text: str) -> dict[str, str]:
    """PVE's ``key=value,key=value`` property strings (a bare first value is ``volume``)."""
    props: dict[str, str] = {}
    for n, part in enumerate(str(text).split(",")):
        key, eq, val = part.partition("=")
        if eq:
            props[key] = val
        elif part and n == 0:
            props["volume"] = part
    return props


@dataclass(frozen=True)
class Nic:
    """One ``netN`` of a PVE container config."""

    name: str
    bridge: str
    hwaddr: str
    address: str | None  # CIDR
    gateway: str | None

    @classmethod
    def parse(cls, value: str) -> Nic:
        p = split_props(value)
        ip = p.get("ip")
        return cls(p.get("name", "eth0"), p.get("bridge", "vmbr0"), p.get("hwaddr", ""), ip, p.get("gw"))


@dataclass(frozen=True)
class BindMount:
    """An ``mpN`` whose volume is a host directory, bound into the root by the start hook."""

    source: Path
    target: str
    read_only: bool = False


def mount_points(config: Mapping[str, object]) -> list[BindMount]:
    """The host-path mount points of a PVE config, in key order (storage volumes are not real here)."""
    mounts = []
    for key in sorted(k for k in config if k.startswith("mp") and k[2:].isdigit()):
        p = split_props(str(config[key]))
        volume, target = p.get("volume", ""), p.get("mp", "")
        if volume.startswith("/") and target:
            mounts.append(BindMount(Path(volume), target, p.get("ro") in ("1", "true")))
    return mounts


def _traversable(path: Path) -> None:
    # The unprivileged containers' root (uid 100000) must traverse to its root filesystem.
    os.chmod(path, 0o711)  # noqa: S103 (search only, no listing, no writes)


def _ncpus() -> int:
    return len(os.sched_getaffinity(0))


def cgroup_limits(vmid: int, config: Mapping[str, object]) -> dict[str, str]:
    """memory, swap and cores of a PVE config as cgroup v1 settings (what PVE writes on cgroup v1)."""
    memory = int(str(config.get("memory", 512))) << 20
    limits = {"memory.limit_in_bytes": str(memory)}
    if Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists():
        limits["memory.memsw.limit_in_bytes"] = str(memory + (int(str(config.get("swap", 512))) << 20))
    if config.get("cores"):
        n, count = _ncpus(), int(str(config["cores"]))
        limits["cpuset.cpus"] = ",".join(str(c) for c in sorted({(vmid + i) % n for i in range(min(count, n))}))
    return limits


class LxcNode:
    """The LXC side of one local fabric instance: its containers, templates and bridges."""

    def __init__(self, state_dir: Path, base: Path = LXC_BASE, prefix: str | None = None, tag: str = "") -> None:
        self.state_dir = state_dir
        self.prefix = prefix or instance_prefix(state_dir, tag)
        self.base = base
        self.lxcpath = base / self.prefix
        self.templates = base / "templates"
        self._claim: object | None = None

    # ------------------------------------------------------------------ instances

    def claim(self, ephemeral: bool) -> None:
        """Mark this instance as in use by this process; ``ephemeral`` ones (tests) die with it."""
        self.lxcpath.mkdir(parents=True, exist_ok=True)
        _traversable(self.base)
        _traversable(self.lxcpath)
        owner = {"stateDir": str(self.state_dir.resolve()), "ephemeral": ephemeral}
        (self.lxcpath / ".owner.json").write_text(json.dumps(owner))
        fh = (self.lxcpath / ".in-use.lock").open("a")
        fcntl.flock(fh, fcntl.LOCK_EX)
        self._claim = fh

    def release(self) -> None:
        if self._claim is not None:
            self._claim.close()  # type: ignore[attr-defined]
            self._claim = None

    @classmethod
    def cleanup_stale(cls, base: Path = LXC_BASE) -> list[str]:
        """Tear down instances nobody can come back for: a test session that died without its
        teardown (ephemeral, not in use), or a checkout whose state directory is gone."""
        removed = []
        for path in sorted(base.glob("sf*")) if base.is_dir() else []:
            try:
                owner = json.loads((path / ".owner.json").read_text())
            except (OSError, ValueError):
                owner = {"stateDir": "", "ephemeral": True}
            if Path(owner.get("stateDir") or "/nonexistent").exists() and not owner.get("ephemeral"):
                continue
            with (path / ".in-use.lock").open("a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live session holds it
                node = cls(Path(owner.get("stateDir") or "/nonexistent"), base, prefix=path.name)
                node.teardown()
                removed.append(path.name)
        return removed

    # ------------------------------------------------------------------ names

    def name(self, vmid: int) -> str:
        return f"{self.prefix}-{vmid}"

    def command(self, tool: str, vmid: int, *args: str) -> list[str]:
        """``tool`` (an ``lxc-*`` command) addressed to container ``vmid`` of this instance."""
        return [tool, "-n", self.name(vmid), "-P", str(self.lxcpath), *args]

    def vmid_of(self, name: str) -> int | None:
        head, _, tail = name.partition("-")
        return int(tail) if head == self.prefix and tail.isdigit() else None

    def host_bridge(self, pve_bridge: str) -> str:
        """The host bridge standing for a node bridge such as ``vmbr0`` (IFNAMSIZ: 15 characters)."""
        name = f"{self.prefix}{pve_bridge}"
        return name if len(name) <= 15 else self.prefix + hashlib.sha256(pve_bridge.encode()).hexdigest()[:7]

    def ct_dir(self, vmid: int) -> Path:
        return self.lxcpath / self.name(vmid)

    def host_keys_file(self, vmid: int) -> Path:
        """The public SSH host keys generated at create: the trusted copy."""
        return self.ct_dir(vmid) / "ssh_host_keys.pub"

    # ------------------------------------------------------------------ bridges

    def ensure_bridge(self, pve_bridge: str, gateway: str, cidr: str) -> str:
        """Create the host bridge for ``pve_bridge`` holding the gateway address; idempotent."""
        dev = self.host_bridge(pve_bridge)
        net = ipaddress.IPv4Network(cidr)
        address = f"{gateway}/{net.prefixlen}"
        for route in json.loads(_run("ip", "-j", "route", "show") or "[]"):
            dst, other = route.get("dst", ""), route.get("dev", "")
            if dst != "default" and other != dev and ipaddress.IPv4Network(dst, strict=False).overlaps(net):
                raise LxcError(
                    f"network {cidr} for {pve_bridge} overlaps {dst} on {other}: another local fabric"
                    " (or a host network) already uses it; run its `make down` or pick another subnet"
                )
        if not Path("/sys/class/net", dev).exists():
            _run("ip", "link", "add", "name", dev, "address", bridge_mac(dev), "type", "bridge")
        Path(f"/proc/sys/net/ipv4/conf/{dev}/forwarding").write_text("0\n")
        Path(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6").write_text("1\n")
        have = json.loads(_run("ip", "-j", "addr", "show", "dev", dev) or "[]")
        addrs = {f"{a['local']}/{a['prefixlen']}" for i in have for a in i.get("addr_info", [])}
        if address not in addrs:
            _run("ip", "addr", "add", address, "dev", dev)
        _run("ip", "link", "set", dev, "up")
        return dev

    def bridges(self) -> list[str]:
        return sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(self.prefix))

    # ------------------------------------------------------------------ templates

    def unpacked_root(self, artifact: Path, unprivileged: bool) -> Path:
        """Where ``template_root`` keeps ``artifact`` unpacked (per content and id map), made or not."""
        digest = hashlib.sha256()
        with artifact.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return self.templates / f"{digest.hexdigest()[:16]}-{'u' if unprivileged else 'p'}" / "rootfs"

    def template_root(self, artifact: Path, unprivileged: bool) -> Path:
        """The template unpacked once (per content and id map), read-only lower layer of overlays."""
        root = self.unpacked_root(artifact, unprivileged)
        key = root.parent.name
        if root.is_dir():
            return root
        self.templates.mkdir(parents=True, exist_ok=True)
        _traversable(self.base)
        with _locked(self.templates / f"{key}.lock"):
            if root.is_dir():
                return root
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.templates))
            os.chmod(tmp, 0o755)  # noqa: S103 (a root filesystem: its top directory is world-readable)
            staging = tmp / "rootfs"
            staging.mkdir()
            tar = ["tar", "--numeric-owner", "-xpf", "-", "-C", str(staging), "--exclude=./dev/*"]
            if unprivileged:
                os.chown(staging, ID_BASE, ID_BASE)
                idmap = [f"u:0:{ID_BASE}:{ID_COUNT}", f"g:0:{ID_BASE}:{ID_COUNT}"]
                tar = ["lxc-usernsexec", "-m", idmap[0], "-m", idmap[1], "--", *tar]
            with subprocess.Popen(["zstd", "-qdc", str(artifact)], stdout=subprocess.PIPE) as zstd:
                result = subprocess.run(tar, stdin=zstd.stdout, capture_output=True, check=False, timeout=300)
            if zstd.returncode != 0 or result.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise LxcError(f"unpacking {artifact.name} failed: {result.stderr.decode(errors='replace')[-300:]}")
            tmp.rename(root.parent)
        return root

    # ------------------------------------------------------------------ containers

    def exists(self, vmid: int) -> bool:
        return (self.ct_dir(vmid) / "config").is_file()

    def states(self) -> dict[int, str]:
        """vmid -> ``RUNNING``/``STOPPED``/... of every container of this instance, as LXC sees it."""
        if not self.lxcpath.is_dir():
            return {}
        out = _run("lxc-ls", "-P", str(self.lxcpath), "-f", "-F", "NAME,STATE", timeout=30)
        states: dict[int, str] = {}
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and (vmid := self.vmid_of(parts[0])) is not None:
                states[vmid] = parts[1]
        return states

    def create(
        self,
        vmid: int,
        template: Path,
        *,
        unprivileged: bool,
        ssh_keys: str,
        config: Mapping[str, object],
        bridges: Mapping[str, str],
    ) -> None:
        """Give ``vmid`` a root filesystem from ``template``: what ``pct create`` does on a node."""
        lower = self.template_root(template, unprivileged)
        ct = self.ct_dir(vmid)
        if ct.exists():
            raise LxcError(f"container directory {ct.name} already exists")
        self.lxcpath.mkdir(parents=True, exist_ok=True)
        _traversable(self.lxcpath)
        ct.mkdir(mode=0o750)
        shift = ID_BASE if unprivileged else 0
        # The container's own layer (owned by its mapped root) and overlayfs's work directory.
        for layer in (ct / "delta0", ct / "work"):
            layer.mkdir()
            os.chown(layer, shift, shift)
        os.chown(ct, 0, shift)
        (ct / "rootfs.spec").write_text(json.dumps({"lower": str(lower), "unprivileged": unprivileged}))
        try:
            with self._merged(vmid) as root:
                setup = RootSetup(root, shift)
                setup.write("etc/systemd/system/sys-kernel-debug.mount", None, symlink="/dev/null")
                if ssh_keys.strip():
                    setup.mkdir("root/.ssh", 0o700)
                    setup.write("root/.ssh/authorized_keys", ssh_keys.strip() + "\n", 0o600)
                pubs = setup.host_keys()
            (ct / "ssh_host_keys.pub").write_text(pubs)
            (ct / "config").write_text(self.render_config(vmid, config, bridges))
        except Exception:
            shutil.rmtree(ct, ignore_errors=True)
            raise

    def _spec(self, vmid: int) -> dict[str, object]:
        return dict(json.loads((self.ct_dir(vmid) / "rootfs.spec").read_text()))

    def _overlay_options(self, vmid: int) -> str:
        # Mounted by the host (as a PVE node mounts a volume), not inside the container's user
        # namespace: there overlayfs cannot redirect directories, and dpkg's directory renames
        # fail with EXDEV. redirect_dir=on lets a directory of the template be renamed.
        ct, spec = self.ct_dir(vmid), self._spec(vmid)
        return f"lowerdir={spec['lower']},upperdir={ct / 'delta0'},workdir={ct / 'work'},redirect_dir=on"

    def _write_hook(self, vmid: int, mounts: Sequence[BindMount] = ()) -> Path:
        """The LXC hook that mounts the root (and its mount points) before start, unmounts after stop.

        Mount points are bound by the host, as root, into the mounted root: PVE too mounts a
        container's mount points itself before the container starts. An ``lxc.mount.entry`` would
        be mounted from inside the unprivileged container's user namespace, which may not even
        traverse the directory that holds a volume.
        """
        ct = self.ct_dir(vmid)
        hook = ct / "rootfs-hook"
        root = ct / "rootfs"
        mount = f"mount -t overlay overlay -o {self._overlay_options(vmid)} {root}"
        binds = "".join(
            f"    bind {shlex.quote(str(m.source))} {shlex.quote(str(root / m.target.lstrip('/')))}"
            + (" ro" if m.read_only else "")
            + "\n"
            for m in mounts
        )
        hook.write_text(
            "#!/bin/sh\n"
            "# The container's overlay root and its mount points: mounted before start, unmounted after\n"
            "# stop (LXC hooks). A mount point is never bound through a symlink (the container's own:\n"
            "# it could point anywhere on the host).\n"
            "set -e\n"
            "bind() {\n"
            '  if [ -L "$2" ]; then echo "mount point $2 is a symlink" >&2; exit 1; fi\n'
            '  mountpoint -q "$2" || mount --rbind "$1" "$2"\n'
            '  if [ -n "${3:-}" ]; then mount -o remount,bind,ro "$2"; fi\n'
            "}\n"
            'case "${LXC_HOOK_TYPE:-$3}" in\n'
            f"  pre-start)\n    mountpoint -q {root} || {mount}\n{binds}    ;;\n"
            f"  post-stop) if mountpoint -q {root}; then umount -R {root}; fi ;;\n"
            "esac\n"
        )
        os.chmod(hook, 0o700)
        return hook

    @contextlib.contextmanager
    def _merged(self, vmid: int) -> Iterator[Path]:
        """The container's root as it will boot (overlay of template and its own layer), on the host."""
        root = self.ct_dir(vmid) / "rootfs"
        root.mkdir(exist_ok=True)
        mounted = root.is_mount()
        if not mounted:
            _run("mount", "-t", "overlay", "overlay", "-o", self._overlay_options(vmid), str(root))
        try:
            yield root
        finally:
            if not mounted:
                _run("umount", str(root))

    def render_config(
        self,
        vmid: int,
        config: Mapping[str, object],
        bridges: Mapping[str, str],
        volumes: Sequence[BindMount] = (),
    ) -> str:
        """The LXC config for a PVE config, as a node renders it at start.

        ``volumes`` are the storage volumes of its ``mpN`` keys, resolved by the node to host
        directories (host-path ``mpN`` are bind mounts as they stand).
        """
        spec = self._spec(vmid)
        unprivileged = bool(spec["unprivileged"])
        ct = self.ct_dir(vmid)
        lines = [
            "# rendered by the local Proxmox from the container's PVE config at start",
            f"lxc.uts.name = {config.get('hostname', f'CT{vmid}')}",
            f"lxc.arch = {config.get('arch', 'amd64')}",
            f"lxc.include = {LXC_CONFIG_DIR / 'common.conf'}",
        ]
        if unprivileged:
            lines += [
                f"lxc.include = {LXC_CONFIG_DIR / 'userns.conf'}",
                f"lxc.idmap = u 0 {ID_BASE} {ID_COUNT}",
                f"lxc.idmap = g 0 {ID_BASE} {ID_COUNT}",
            ]
        lines += [
            "lxc.apparmor.profile = unconfined",  # this kernel has no AppArmor
            "lxc.signal.halt = SIGRTMIN+3",  # systemd's halt: a clean shutdown
            f"lxc.tty.max = {config.get('tty', 2)}",
            f"lxc.rootfs.path = dir:{ct / 'rootfs'}",
            f"lxc.hook.pre-start = {self._write_hook(vmid, [*mount_points(config), *volumes])}",
            f"lxc.hook.post-stop = {ct / 'rootfs-hook'}",
        ]
        lines += [f"lxc.cgroup.{key} = {value}" for key, value in cgroup_limits(vmid, config).items()]
        for key in sorted(k for k in config if k.startswith("net") and k[3:].isdigit()):
            nic, idx = Nic.parse(str(config[key])), key[3:]
            if nic.bridge not in bridges:
                raise LxcError(f"bridge '{nic.bridge}' does not exist")
            lines += [
                f"lxc.net.{idx}.type = veth",
                f"lxc.net.{idx}.link = {bridges[nic.bridge]}",
                f"lxc.net.{idx}.name = {nic.name}",
                f"lxc.net.{idx}.flags = up",
            ]
            if nic.hwaddr:
                lines.append(f"lxc.net.{idx}.hwaddr = {nic.hwaddr}")
        return "\n".join(lines) + "\n"

    def set_limits(self, vmid: int, config: Mapping[str, object]) -> None:
        """Apply memory, swap and cores to a running container (PVE hot-plugs these)."""
        limits = cgroup_limits(vmid, config)
        keys = list(limits)
        # memsw may never be below memory: when memory grows, raise memsw first.
        if "memory.memsw.limit_in_bytes" in limits:
            growing = int(limits["memory.limit_in_bytes"]) > self._cgroup(vmid, "memory.limit_in_bytes")
            keys.sort(
                key=lambda k: (k != "memory.memsw.limit_in_bytes") if growing else (k == "memory.memsw.limit_in_bytes")
            )
        for key in keys:
            _run(*self.command("lxc-cgroup", vmid, key, limits[key]), timeout=30)

    def _cgroup(self, vmid: int, key: str) -> int:
        out = _run(*self.command("lxc-cgroup", vmid, key), timeout=30).strip()
        return int(out) if out.isdigit() else 0

    def start(
        self,
        vmid: int,
        config: Mapping[str, object],
        bridges: Mapping[str, str],
        volumes: Sequence[BindMount] = (),
        timeout: float = 30,
    ) -> None:
        """Render the config, prepare the root as PVE's pre-start hook does, ``lxc-start``."""
        if not self.exists(vmid):
            raise LxcError(f"container {vmid} has no root filesystem on this node")
        text = self.render_config(vmid, config, bridges, volumes)
        shift = ID_BASE if self._spec(vmid)["unprivileged"] else 0
        with self._merged(vmid) as root:
            setup = RootSetup(root, shift)
            setup.apply(config)
            for mount in [*mount_points(config), *volumes]:
                setup.mount_point(mount.target)
        (self.ct_dir(vmid) / "config").write_text(text)
        log = self.ct_dir(vmid) / "lxc.log"
        log.unlink(missing_ok=True)
        try:
            _run(*self.command("lxc-start", vmid, "-d", "-o", str(log), "-l", "INFO"), timeout=timeout)
        except LxcError as err:
            errors = [ln.split(" - ", 1)[-1] for ln in log.read_text().splitlines() if " ERROR " in ln][:3]
            raise LxcError(f"startup for container '{vmid}' failed: {' / '.join(errors) or err}") from err
        _run(*self.command("lxc-wait", vmid, "-s", "RUNNING", "-t", str(int(timeout))), timeout=timeout + 5)

    def stop(self, vmid: int, *, clean_timeout: float | None = None) -> None:
        """``lxc-stop``: a clean shutdown within ``clean_timeout`` (raises if it did not stop), or a kill."""
        cmd = self.command("lxc-stop", vmid)
        if self.states().get(vmid) != "RUNNING":
            return
        if clean_timeout is None:
            _run(*cmd, "--kill", timeout=30)
        else:
            _run(*cmd, "--nokill", "-t", str(int(clean_timeout)), timeout=clean_timeout + 10)

    def destroy(self, vmid: int) -> None:
        """Remove the container and its own layer (the shared template stays)."""
        self.stop(vmid)
        ct = self.ct_dir(vmid)
        if (ct / "rootfs").is_mount():  # never delete through the mounted root (nor its mount points)
            _run("umount", "-R", str(ct / "rootfs"))
        if (ct / "config").is_file():
            with contextlib.suppress(LxcError):
                _run(*self.command("lxc-destroy", vmid), timeout=60)
        shutil.rmtree(ct, ignore_errors=True)

    def teardown(self) -> None:
        """Stop and remove every container and bridge of this instance (make down, test teardown)."""
        if self.lxcpath.exists():
            for left in sorted(self.lxcpath.iterdir()):
                vmid = self.vmid_of(left.name)
                if vmid is not None and left.is_dir():
                    with contextlib.suppress(LxcError):
                        self.destroy(vmid)
            shutil.rmtree(self.lxcpath, ignore_errors=True)
        for dev in self.bridges():
            with contextlib.suppress(LxcError):
                _run("ip", "link", "delete", dev)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class RootSetup:
    """Writes into a container root as its (mapped) root user would: owner shifted by the id map."""

    def __init__(self, root: Path, shift: int) -> None:
        self.root = root
        self.shift = shift

    def _path(self, rel: str) -> Path:
        # Written as host root into a root the container owns: never follow a symlink out of it.
        path = self.root / rel
        parent, top = path.parent.resolve(), self.root.resolve()
        if parent != top and top not in parent.parents:
            raise LxcError(f"{rel} escapes the container root")
        return path

    def mkdir(self, rel: str, mode: int) -> None:
        path = self._path(rel)
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        os.chown(path, self.shift, self.shift)

    def mount_point(self, target: str) -> None:
        """Where a mount point is bound: an existing directory (never a symlink), else a new one."""
        path = self._path(target.lstrip("/"))
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise LxcError(f"mount point {target} is not a directory in the container's root")
        if not path.exists():
            self.mkdir(target.lstrip("/"), 0o755)

    def write(self, rel: str, text: str | None, mode: int = 0o644, *, symlink: str | None = None) -> None:
        path = self._path(rel)
        if path.is_symlink() or path.exists():
            path.unlink()
        if symlink is not None:
            path.symlink_to(symlink)
            os.lchown(path, self.shift, self.shift)
            return
        assert text is not None
        path.write_text(text)
        os.chmod(path, mode)
        os.chown(path, self.shift, self.shift)

    def host_keys(self) -> str:
        """Fresh SSH host keys, as PVE generates them at create; returns the public halves."""
        _run("ssh-keygen", "-A", "-f", str(self.root))
        pubs = []
        for key in sorted((self.root / "etc" / "ssh").glob("ssh_host_*_key")):
            os.chown(key, self.shift, self.shift)
            pub = key.with_suffix(".pub")
            os.chown(pub, self.shift, self.shift)
            pubs.append(pub.read_text().strip())
        return "\n".join(pubs) + "\n"

    def apply(self, config: Mapping[str, object]) -> None:
        """Hostname, hosts, DNS and network files from the PVE config (PVE's Debian setup)."""
        hostname = str(config.get("hostname", "localhost"))
        domain = str(config.get("searchdomain", "") or "")
        fqdn = f"{hostname}.{domain}" if domain else hostname
        self.write("etc/hostname", hostname + "\n")
        nics = [Nic.parse(str(config[k])) for k in sorted(config) if k.startswith("net") and k[3:].isdigit()]
        own = next(
            (n.address.split("/")[0] for n in nics if n.address and n.address not in ("dhcp", "manual")), "127.0.1.1"
        )
        self.write(
            "etc/hosts",
            f"127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n{own} {fqdn} {hostname}\n",
        )
        servers = str(config.get("nameserver", "") or "").split()
        if servers or domain:
            resolv = (f"search {domain}\n" if domain else "") + "".join(f"nameserver {s}\n" for s in servers)
            self.write("etc/resolv.conf", resolv)
        stanzas = ["auto lo", "iface lo inet loopback", ""]
        for nic in nics:
            if nic.address and "/" in nic.address:
                stanzas += [f"auto {nic.name}", f"iface {nic.name} inet static", f"\taddress {nic.address}"]
                if nic.gateway:
                    stanzas.append(f"\tgateway {nic.gateway}")
                stanzas.append("")
        self.write("etc/network/interfaces", "\n".join(stanzas))
