"""A real build of the debian12-base template: the artifact, its checksums and its content."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import tarfile
from pathlib import Path

from ops.images.artifact import inspect_artifact, read_packer_manifest, sha256_file
from ops.images.inputs import DEFAULT_MIRROR, template_digest

from .conftest import FAMILY, TEST_VERSION, Built


def test_artifact_is_named_and_cached_outside_the_repo(built: Built) -> None:
    artifact = built.paths["artifact"]
    assert artifact.name == f"{FAMILY}_{TEST_VERSION}_amd64.tar.zst"
    assert artifact.is_file() and artifact.stat().st_size > 10_000_000
    assert not artifact.resolve().is_relative_to(Path(__file__).resolve().parents[2])
    assert artifact.read_bytes()[:4] == b"\x28\xb5\x2f\xfd", "not a zstd frame"


def test_sha256_matches_packer_manifest_and_catalog(built: Built) -> None:
    actual = sha256_file(built.paths["artifact"])
    size = built.paths["artifact"].stat().st_size
    m_size, m_sha = read_packer_manifest(built.paths["manifest"], built.entry.file_name)
    assert (m_sha, m_size) == (actual, size)
    entry = built.catalog.find(FAMILY, TEST_VERSION)
    assert entry is not None
    assert (entry.sha256, entry.size, entry.file_name) == (actual, size, built.paths["artifact"].name)
    manifest = json.loads(built.paths["manifest"].read_text())
    build = manifest["builds"][-1]
    assert build["builder_type"] == "null"
    assert build["custom_data"]["version"] == TEST_VERSION
    assert build["custom_data"]["template_digest"] == built.inputs.template_digest


def test_catalog_entry_records_provenance(built: Built) -> None:
    entry = built.entry
    assert entry.base_suite == "bookworm"
    assert entry.template_digest == template_digest(FAMILY) == built.inputs.template_digest
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", entry.git_commit), entry.git_commit
    assert entry.dev is True  # built with --dev: the catalog check would refuse it
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.built_at)
    assert entry.sources, "no source recorded"
    assert all(
        re.fullmatch(re.escape(DEFAULT_MIRROR) + r"/dists/bookworm/InRelease#sha256=[0-9a-f]{64}", s)
        for s in entry.sources
    ), entry.sources
    assert built.catalog.versions(FAMILY) == [TEST_VERSION]


def test_verification_finds_nothing_wrong(built: Built) -> None:
    inspection = inspect_artifact(built.paths["artifact"], expect_stamp={"VERSION": TEST_VERSION})
    assert inspection.problems == []
    assert inspection.names[0] == "."
    assert all(n.startswith("./") for n in inspection.names[1:])


def test_tar_layout_is_vztmpl_with_numeric_owners(built: Built) -> None:
    raw = subprocess.run(["zstd", "-dcq", str(built.paths["artifact"])], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw[: 2 << 20]), mode="r|") as tar:
        first = [m for _, m in zip(range(50), tar, strict=False)]
    assert first[0].name == "." and first[0].isdir()
    assert all(m.uname == "" and m.gname == "" for m in first), "owner names stored; Proxmox maps numeric ids"
    assert [m.name for m in first] == sorted((m.name for m in first), key=lambda n: n.split("/"))


def test_unpacks_to_a_debian_12_root(rootfs: Path) -> None:
    assert (rootfs / "etc/debian_version").read_text().startswith("12.")
    os_release = (rootfs / "usr/lib/os-release").read_text()
    assert "VERSION_CODENAME=bookworm" in os_release
    assert os.readlink(rootfs / "usr/sbin/init") == "/lib/systemd/systemd"
    assert (rootfs / "usr/lib/systemd/systemd").is_file() and (rootfs / "lib").readlink() == Path("usr/lib")
    assert (rootfs / "usr/sbin/sshd").is_file()
    assert (rootfs / "usr/sbin/ifup").is_file(), "ifupdown: Proxmox writes /etc/network/interfaces"
    bundle = rootfs / "etc/ssl/certs/ca-certificates.crt"
    assert bundle.stat().st_size > 100_000, "ca-certificates (since 1.1.0): the CA bundle must be generated"
    out = subprocess.run(
        ["chroot", str(rootfs), "/usr/bin/python3", "-c", "import sys, json; print(json.dumps(sys.version_info[:2]))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == [3, 11], "the image's own python3 must run (Ansible needs it)"


def test_stamp_says_what_the_image_is(built: Built, rootfs: Path) -> None:
    stamp = dict(
        line.split("=", 1)
        for line in (rootfs / "etc/samakia-image").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert stamp["FAMILY"] == FAMILY
    assert stamp["VERSION"] == TEST_VERSION
    assert stamp["BASE_SUITE"] == "bookworm"
    assert stamp["MIRROR"] == DEFAULT_MIRROR
    assert stamp["TEMPLATE_DIGEST"] == built.inputs.template_digest
    assert stamp["GIT_COMMIT"] == built.entry.git_commit
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp["BUILD_TIME"])


def test_no_host_keys_machine_id_or_environment_data(rootfs: Path) -> None:
    assert sorted(p.name for p in (rootfs / "etc/ssh").glob("ssh_host_*")) == []
    assert (rootfs / "etc/machine-id").read_bytes() == b"", "machine-id must be empty: systemd makes one per container"
    assert not (rootfs / "var/lib/dbus/machine-id").exists()
    assert not (rootfs / "var/lib/systemd/random-seed").exists()
    assert (rootfs / "etc/hostname").read_text().strip() == "localhost"
    assert (rootfs / "etc/resolv.conf").read_bytes() == b""
    assert not (rootfs / "usr/sbin/policy-rc.d").exists(), "services would never start in the container"
    assert list((rootfs / "dev").iterdir()) == [], "LXC provides /dev"


def test_no_users_and_no_passwords(rootfs: Path) -> None:
    users = [line.split(":") for line in (rootfs / "etc/passwd").read_text().splitlines()]
    humans = [u[0] for u in users if 1000 <= int(u[2]) < 65534]
    assert humans == []
    shadow = [line.split(":") for line in (rootfs / "etc/shadow").read_text().splitlines()]
    assert [s[0] for s in shadow if not s[1].startswith(("*", "!"))] == []
    assert list((rootfs / "root").glob(".ssh/*")) == [], "no authorized_keys: Proxmox installs the container's"
    assert list((rootfs / "home").iterdir()) == []


def test_sshd_is_key_only(rootfs: Path, tmp_path: Path) -> None:
    key = rootfs / "run/test_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (rootfs / "run/sshd").mkdir(exist_ok=True)
    devnull = rootfs / "dev/null"  # LXC provides /dev in a container; sshd opens /dev/null
    os.mknod(devnull, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    try:
        out = subprocess.run(
            ["chroot", str(rootfs), "/usr/sbin/sshd", "-T", "-h", "/run/test_host_key"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    finally:
        key.unlink()
        key.with_suffix(".pub").unlink()
        devnull.unlink()
    effective = dict(line.split(" ", 1) for line in out)
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["authenticationmethods"] == "publickey"
    assert effective["permitrootlogin"] == "without-password"
    assert effective["permitemptypasswords"] == "no"
    assert effective["maxauthtries"] == "3"
    assert effective["logingracetime"] == "30"
    enabled = rootfs / "etc/systemd/system/multi-user.target.wants/ssh.service"
    assert enabled.is_symlink(), "sshd must start at boot"


def test_no_logs_caches_or_package_indexes(rootfs: Path) -> None:
    def files(rel: str) -> list[str]:
        found = (rootfs / rel).rglob("*")
        return sorted(str(p.relative_to(rootfs)) for p in found if p.is_file() and not p.is_symlink())

    assert files("var/log") == []
    assert files("var/cache/apt") == []
    assert files("var/lib/apt/lists") == []
    assert [p.name for p in (rootfs / "var/cache/debconf").glob("*-old")] == []
    assert [p.name for p in (rootfs / "var/lib/dpkg").glob("*-old")] == []
    assert list((rootfs / "tmp").iterdir()) == []
    assert list(rootfs.rglob("__pycache__")) == []
    assert [p.name for p in (rootfs / "etc").glob("*-")] == [], "passwd-/shadow- backups"
