"""Session fixtures of the playbook tier: one real Debian root, converged once, shared.

Order of work (each step reused by every test that needs it):

1. the pristine bookworm root (debootstrap, cached by key) is copied into a tmp dir;
2. ``site.yml`` runs on it through ``community.general.chroot`` (first run), then again
   (second run, must report changed=0 from the JSON recap);
3. the converged root is copied and the copy tampered with (sshd_config edited, a sysctl file
   changed, a removed package reinstalled);
4. the drift command runs once over both roots (check mode): the converged one must be clean,
   the tampered one must name exactly the tasks that would change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from fabric.runtime.ansible_run import ChrootTarget, Recap, run_playbook  # noqa: E402
from ops.config import rootfs  # noqa: E402

ALL_PROFILES = ["dns", "monitoring", "postgresql", "object_storage", "edge"]
ADMIN = "samakia"
POLICY_VERSION = "2026.11.0-test"
HOSTNAME = "pb-test-1"
EDGE_UPSTREAMS = ["10.77.0.31:8080", "10.77.0.32:8080"]
MONITORING_TARGETS = ["localhost:9100", "10.77.0.11:9100"]


@dataclass
class Converged:
    """The converged root and the two recaps that got it there."""

    root: Path
    base: Path
    first: Recap
    second: Recap
    host_sysctls_before: dict[str, str]


@dataclass
class DriftRun:
    """One run of the drift command over a clean and a tampered root."""

    clean_root: Path
    tampered_root: Path
    returncode: int
    report: dict[str, Any]
    stdout: str
    stderr: str
    seconds: float

    def target(self, root: Path) -> dict[str, Any]:
        """The report entry of one root."""
        (entry,) = [t for t in self.report["targets"] if t["target"] == str(root)]
        return entry


@pytest.fixture(scope="session")
def base_root() -> Path:
    """The pristine debootstrap root (built once, cached by suite/mirror/variant/packages)."""
    return rootfs.ensure_rootfs()


@pytest.fixture(scope="session")
def admin_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real ed25519 key pair for the admin user."""
    d = tmp_path_factory.mktemp("keys")
    key = d / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "admin@samakia-test", "-f", str(key)],
        check=True,
    )
    return key, (d / "id_ed25519.pub").read_text().strip()


@pytest.fixture(scope="session")
def policy_vars(admin_keypair: tuple[Path, str]) -> dict[str, Any]:
    """The extra vars ConfigPolicy would pass for one container."""
    return {
        "fabric_hostname": HOSTNAME,
        "fabric_admin_user": ADMIN,
        "fabric_admin_ssh_keys": [admin_keypair[1]],
        "fabric_runtime_profiles": ALL_PROFILES,
        "fabric_policy_version": POLICY_VERSION,
        # Profile settings a stack would pass: the edge's backends, what monitoring scrapes.
        "runtime_edge_upstreams": EDGE_UPSTREAMS,
        "runtime_monitoring_targets": MONITORING_TARGETS,
    }


@pytest.fixture(scope="session")
def vars_file(tmp_path_factory: pytest.TempPathFactory, policy_vars: dict[str, Any]) -> Path:
    """The same vars as a 0600 JSON file (the drift command's --vars-file)."""
    f = tmp_path_factory.mktemp("vars") / "policy-vars.json"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(policy_vars, fh)
    return f


def _host_sysctls(keys: list[str]) -> dict[str, str]:
    out = {}
    for k in keys:
        p = Path("/proc/sys") / k.replace(".", "/")
        if p.exists():
            out[k] = p.read_text().strip()
    return out


SYSCTL_LINE = re.compile(r"^([a-z0-9_.]+)\s*=\s*(\S+)\s*$")


def sysctl_file_values(root: Path) -> dict[str, str]:
    """key -> value of the hardening sysctl file in a root."""
    text = (root / "etc/sysctl.d/90-samakia-hardening.conf").read_text()
    return {m[1]: m[2] for line in text.splitlines() if (m := SYSCTL_LINE.match(line))}


@pytest.fixture(scope="session")
def converged(base_root: Path, tmp_path_factory: pytest.TempPathFactory, policy_vars: dict[str, Any]) -> Converged:
    """Copy the pristine root, run the policy twice, keep both recaps."""
    root = rootfs.copy_root(base_root, tmp_path_factory.mktemp("converged") / "root")
    rootfs.prepare_copy(root)
    # Every sysctl the policy could ever write, read from the host kernel before any run.
    from yaml import safe_load

    defaults = safe_load((REPO / "playbooks/roles/os_hardening/defaults/main.yml").read_text())
    keys = [*defaults["os_hardening_sysctl_namespaced"], *defaults["os_hardening_sysctl_global"]]
    before = _host_sysctls(keys)
    target = ChrootTarget(root=root)
    first = run_playbook(target, "playbooks/site.yml", policy_vars, timeout=1200)
    assert first.succeeded, f"first run failed:\n{first.summary()}\n{first.hosts}\n{first.stderr_tail}"
    rootfs.harvest_apt_archives(root)
    second = run_playbook(target, "playbooks/site.yml", policy_vars, timeout=600)
    return Converged(root=root, base=base_root, first=first, second=second, host_sysctls_before=before)


def tamper(root: Path) -> None:
    """Simulate an SSH hotfix, a sysctl edit and a reinstalled removed package."""
    sshd = root / "etc/ssh/sshd_config"
    text = sshd.read_text()
    assert "\nPasswordAuthentication no\n" in text
    sshd.write_text(text.replace("\nPasswordAuthentication no\n", "\nPasswordAuthentication yes\n"))
    sysctl = root / "etc/sysctl.d/90-samakia-hardening.conf"
    text = sysctl.read_text()
    assert "net.ipv4.ip_forward = 0" in text
    sysctl.write_text(text.replace("net.ipv4.ip_forward = 0", "net.ipv4.ip_forward = 1"))
    debs = sorted(
        "/var/cache/apt/archives/" + p.name
        for pat in ("telnet_*.deb", "inetutils-telnet_*.deb")
        for p in (root / "var/cache/apt/archives").glob(pat)
    )
    assert len(debs) == 2, f"telnet debs missing from the root's apt archive: {debs}"
    rootfs.chroot(root, "dpkg", "-i", *debs)


@pytest.fixture(scope="session")
def drift_run(converged: Converged, tmp_path_factory: pytest.TempPathFactory, vars_file: Path) -> DriftRun:
    """Run the drift command (check mode) over the converged root and a tampered copy."""
    tampered = rootfs.copy_root(converged.root, tmp_path_factory.mktemp("tampered") / "root")
    tamper(tampered)
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.stack",
            "drift-config",
            "--root",
            str(converged.root),
            "--root",
            str(tampered),
            "--vars-file",
            str(vars_file),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"drift command printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from exc
    return DriftRun(converged.root, tampered, proc.returncode, report, proc.stdout, proc.stderr, seconds)
