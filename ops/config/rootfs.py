"""A real Debian bookworm root filesystem for the playbook tier, built with debootstrap.

The pristine root is cached under ``$SAMAKIA_CACHE/rootfs/<key>/root``; the key is a digest of
everything that shapes it (suite, mirror, variant, architecture, package set, recipe version),
so changing the package set builds a new one and never reuses a stale root. Tests and the
benchmark work on copies (``cp -a``), never on the cache itself.

The package set mirrors what the product images carry (python3, openssh-server, sudo, systemd)
plus ``telnet``: a package the policy must remove, so the removal is proven on a real dpkg
database. ``/usr/sbin/policy-rc.d`` (exit 101) is installed as in any chroot build: maintainer
scripts must never start daemons on the build host (the policy refuses a chroot without it).

Downloaded .deb files are kept in ``$SAMAKIA_CACHE/apt-archives`` between runs and seeded into
each copy's ``/var/cache/apt/archives``; apt verifies them against the index before use.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from fabric.paths import cache_root

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
ARCH = "amd64"
PACKAGES = (
    "python3",
    "python3-apt",
    "openssh-server",
    "sudo",
    "systemd",
    "systemd-sysv",
    "procps",
    "telnet",  # removed by os_hardening: proves package removal on a real dpkg database
)
RECIPE_VERSION = 1  # bump when the build steps below change

POLICY_RC_D = "#!/bin/sh\n# Chroot build: maintainer scripts must not start services.\nexit 101\n"


def rootfs_spec() -> dict[str, object]:
    """What a cached root is made of: suite, mirror, variant, architecture, packages, recipe."""
    return {
        "suite": SUITE,
        "mirror": MIRROR,
        "variant": VARIANT,
        "arch": ARCH,
        "packages": sorted(PACKAGES),
        "recipe": RECIPE_VERSION,
    }


def rootfs_key() -> str:
    """Digest of the root's spec: the cache key."""
    return hashlib.sha256(json.dumps(rootfs_spec(), sort_keys=True).encode()).hexdigest()[:16]


def _run(cmd: list[str], timeout: float) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed ({proc.returncode}):\n{tail}")


def ensure_rootfs(timeout: float = 1200) -> Path:
    """Return the cached pristine root, building it with debootstrap when absent.

    Concurrent callers serialise on a lock file; a half-built root is never published (it is
    built beside the cache entry and renamed into place with its manifest).
    """
    base = cache_root() / "rootfs"
    base.mkdir(parents=True, exist_ok=True)
    key = rootfs_key()
    entry = base / key
    manifest = entry / "manifest.json"
    with (base / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists():
            return entry / "root"
        work = base / f"{key}.building"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        started = time.monotonic()
        _run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--arch={ARCH}",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(work / "root"),
                MIRROR,
            ],
            timeout,
        )
        policy = work / "root" / "usr" / "sbin" / "policy-rc.d"
        policy.write_text(POLICY_RC_D)
        policy.chmod(0o755)
        (work / "manifest.json").write_text(
            json.dumps(
                {
                    "key": key,
                    **rootfs_spec(),
                    "build_seconds": round(time.monotonic() - started, 1),
                },
                indent=2,
            )
        )
        if entry.exists():
            shutil.rmtree(entry)
        work.rename(entry)
        return entry / "root"


def copy_root(src: Path, dest: Path) -> Path:
    """Copy a root filesystem preserving owners, modes, links and device nodes."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run(["cp", "-a", "--reflink=auto", str(src), str(dest)], 600)
    return dest


def prepare_copy(root: Path) -> None:
    """Make a fresh copy ready to configure: the host's DNS resolver and the cached .debs."""
    host_resolv = Path("/etc/resolv.conf")
    if host_resolv.is_file():
        target = root / "etc" / "resolv.conf"
        target.unlink(missing_ok=True)
        target.write_text(host_resolv.read_text())
    seed_apt_archives(root)


def _archives(root: Path) -> Path:
    return root / "var" / "cache" / "apt" / "archives"


def seed_apt_archives(root: Path) -> int:
    """Copy the cached .deb files into the root's apt archive; return how many were added."""
    store = cache_root() / "apt-archives"
    if not store.is_dir():
        return 0
    added = 0
    for deb in store.glob("*.deb"):
        target = _archives(root) / deb.name
        if not target.exists():
            shutil.copy2(deb, target)
            added += 1
    return added


def harvest_apt_archives(root: Path) -> int:
    """Keep the .deb files a run downloaded for the next session; return how many were new."""
    store = cache_root() / "apt-archives"
    store.mkdir(parents=True, exist_ok=True)
    added = 0
    for deb in _archives(root).glob("*.deb"):
        target = store / deb.name
        if not target.exists():
            tmp = store / f".{deb.name}.tmp"
            shutil.copy2(deb, tmp)
            tmp.rename(target)
            added += 1
    return added


def chroot(root: Path, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command inside the root (nothing else is mounted: no /proc, no /sys)."""
    proc = subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"chroot {root} {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc
