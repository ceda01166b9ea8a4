"""The local PVE's LXC mapping and the SSH host-key pinning, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.runtime import ssh_hosts
from ops.localpve.lxc import (
    LxcError,
    LxcNode,
    RootSetup,
    bridge_mac,
    cgroup_limits,
    instance_prefix,
    mount_points,
)


def _node(tmp_path: Path, vmid: int = 101, unprivileged: bool = True) -> LxcNode:
    node = LxcNode(tmp_path / "state", base=tmp_path / "lxc")
    ct = node.ct_dir(vmid)
    ct.mkdir(parents=True)
    (ct / "rootfs.spec").write_text(json.dumps({"lower": "/t/rootfs", "unprivileged": unprivileged}))
    return node


CONFIG = {
    "hostname": "db-1",
    "memory": 1024,
    "swap": 256,
    "cores": 2,
    "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:BB:CC,ip=10.77.0.21/24,gw=10.77.0.1,type=veth",
    "mp0": "/srv/volumes/db-1,mp=/var/lib/postgresql",
}


def test_config_maps_pve_settings_to_lxc(tmp_path: Path) -> None:
    node = _node(tmp_path)
    text = node.render_config(101, CONFIG, {"vmbr0": "sfabcdefvmbr0"})
    assert "lxc.uts.name = db-1" in text
    assert "lxc.idmap = u 0 100000 65536" in text and "lxc.idmap = g 0 100000 65536" in text
    ct = node.ct_dir(101)
    assert f"lxc.rootfs.path = dir:{ct / 'rootfs'}" in text
    assert f"lxc.hook.pre-start = {ct / 'rootfs-hook'}" in text and f"lxc.hook.post-stop = {ct / 'rootfs-hook'}" in text
    hook = (ct / "rootfs-hook").read_text()  # the host mounts the overlay of the template and the own layer
    assert f"lowerdir=/t/rootfs,upperdir={ct / 'delta0'},workdir={ct / 'work'},redirect_dir=on" in hook
    assert "lxc.net.0.link = sfabcdefvmbr0" in text and "lxc.net.0.hwaddr = BC:24:11:AA:BB:CC" in text
    assert f"lxc.cgroup.memory.limit_in_bytes = {1024 << 20}" in text
    # Mount points are bound by the host into the mounted root (never through a symlink), not by
    # the unprivileged container itself, and unmounted with the root after stop.
    target = ct / "rootfs" / "var" / "lib" / "postgresql"
    assert f"bind /srv/volumes/db-1 {target}\n" in hook and 'if [ -L "$2" ]; then' in hook
    assert f"umount -R {ct / 'rootfs'}" in hook and "lxc.mount.entry" not in text
    privileged = _node(tmp_path / "p", unprivileged=False).render_config(101, CONFIG, {"vmbr0": "b"})
    assert "lxc.idmap" not in privileged


def test_an_unknown_bridge_fails_as_pve_does(tmp_path: Path) -> None:
    with pytest.raises(LxcError, match="bridge 'vmbr0' does not exist"):
        _node(tmp_path).render_config(101, CONFIG, {})


def test_limits_cover_memory_swap_and_cores() -> None:
    limits = cgroup_limits(101, CONFIG)
    assert limits["memory.limit_in_bytes"] == str(1024 << 20)
    if "memory.memsw.limit_in_bytes" in limits:
        assert limits["memory.memsw.limit_in_bytes"] == str((1024 + 256) << 20)
    assert len(limits["cpuset.cpus"].split(",")) >= 1


def test_only_host_path_mount_points_become_bind_mounts() -> None:
    mounts = mount_points({**CONFIG, "mp1": "local-lvm:vm-101-disk-1,mp=/data", "mp2": "/srv/x,mp=/x,ro=1"})
    assert [(str(m.source), m.target, m.read_only) for m in mounts] == [
        ("/srv/volumes/db-1", "/var/lib/postgresql", False),
        ("/srv/x", "/x", True),
    ]


def test_instances_get_distinct_short_names(tmp_path: Path) -> None:
    a, b = LxcNode(tmp_path / "a"), LxcNode(tmp_path / "b")
    assert instance_prefix(tmp_path / "a") == a.prefix != b.prefix
    assert a.name(1101) != b.name(1101) and a.vmid_of(a.name(1101)) == 1101 and b.vmid_of(a.name(1101)) is None
    assert len(a.host_bridge("vmbr0")) <= 15 and len(a.host_bridge("vmbr-with-a-long-name")) <= 15


def test_a_tag_marks_an_instance_and_keeps_names_short(tmp_path: Path) -> None:
    tagged = LxcNode(tmp_path / "a", tag="e1")
    assert tagged.prefix.startswith("sfe1") and tagged.prefix != LxcNode(tmp_path / "a").prefix
    assert tagged.host_bridge("vmbr0") == f"{tagged.prefix}vmbr0" and len(tagged.host_bridge("vmbr0")) <= 15
    assert tagged.vmid_of(tagged.name(1101)) == 1101
    for bad in ("abc", "e-"):
        with pytest.raises(LxcError, match="instance tag"):
            instance_prefix(tmp_path / "a", bad)


def test_root_setup_never_writes_through_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "host-etc"
    root.mkdir()
    outside.mkdir()
    (root / "etc").symlink_to(outside)
    with pytest.raises(LxcError, match="escapes"):
        RootSetup(root, 0).write("etc/hostname", "x\n")
    assert not (outside / "hostname").exists()


def test_root_setup_writes_pve_style_network_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "network").mkdir(parents=True)
    import os

    RootSetup(root, os.getuid()).apply({**CONFIG, "nameserver": "10.77.0.11 10.77.0.12", "searchdomain": "lab.test"})
    assert (root / "etc" / "hostname").read_text() == "db-1\n"
    assert "10.77.0.21 db-1.lab.test db-1" in (root / "etc" / "hosts").read_text()
    assert (
        root / "etc" / "resolv.conf"
    ).read_text() == "search lab.test\nnameserver 10.77.0.11\nnameserver 10.77.0.12\n"
    interfaces = (root / "etc" / "network" / "interfaces").read_text()
    assert "iface eth0 inet static" in interfaces and "address 10.77.0.21/24" in interfaces
    assert "gateway 10.77.0.1" in interfaces


KEY_A = "10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAA"
KEY_B = "10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBB"


def test_host_keys_are_recorded_then_verified_per_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    presented = [KEY_A]
    monkeypatch.setattr(ssh_hosts, "scan_keys", lambda host, port=22: list(presented))
    first = ssh_hosts.pin_host_key(tmp_path, "db-1", "mac-1", "10.0.0.5")
    assert first.recorded and KEY_A in first.known_hosts.read_text()
    again = ssh_hosts.pin_host_key(tmp_path, "db-1", "mac-1", "10.0.0.5")
    assert not again.recorded
    presented[:] = [KEY_B]  # same container instance, another key: a man in the middle, or tampering
    with pytest.raises(ssh_hosts.HostKeyError, match=r"host key of container db-1 .* changed"):
        ssh_hosts.pin_host_key(tmp_path, "db-1", "mac-1", "10.0.0.5")
    assert KEY_A in first.known_hosts.read_text()  # the pinned key is kept
    replaced = ssh_hosts.pin_host_key(tmp_path, "db-1", "mac-2", "10.0.0.5")  # a new container: new key
    assert replaced.recorded and KEY_B in replaced.known_hosts.read_text()


def test_ssh_options_pin_and_never_skip_checking(tmp_path: Path) -> None:
    opts = " ".join(ssh_hosts.ssh_options(tmp_path / "db-1"))
    assert "StrictHostKeyChecking=yes" in opts and f"UserKnownHostsFile={tmp_path / 'db-1'}" in opts
    assert "GlobalKnownHostsFile=/dev/null" in opts


def test_waiting_for_sshd_is_bounded() -> None:
    with pytest.raises(ssh_hosts.HostKeyError, match=r"did not answer within 1s"):
        ssh_hosts.wait_for_sshd("127.0.0.1", 9, timeout=1, name="nobody")


def test_a_fabric_bridge_has_its_own_fixed_locally_administered_mac() -> None:
    mac = bridge_mac("sfabcdefvmbr0")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01, "locally administered, unicast"
    assert mac == bridge_mac("sfabcdefvmbr0") != bridge_mac("sf12345vmbr0")
    assert len(mac.split(":")) == 6
