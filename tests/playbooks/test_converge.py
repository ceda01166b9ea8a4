"""Convergence and idempotence on a real Debian root, counted from the JSON recap."""

from __future__ import annotations

from pathlib import Path

from conftest import Converged

from ops.config import rootfs


def test_rootfs_cache_is_keyed_and_pristine(base_root: Path) -> None:
    manifest = base_root.parent / "manifest.json"
    assert manifest.exists()
    assert rootfs.rootfs_key() in str(base_root)
    assert (base_root / "etc/debian_version").read_text().startswith("12.")
    # The cache is never configured in place: no policy stamp, the package to remove is there.
    assert not (base_root / "etc/samakia-fabric").exists()
    status = rootfs.chroot(base_root, "dpkg-query", "-W", "-f=${Status}", "telnet", check=False).stdout
    assert status == "install ok installed"


def test_first_run_converges(converged: Converged) -> None:
    first = converged.first
    assert list(first.hosts) == [str(converged.root)]
    host = first.hosts[str(converged.root)]
    assert host.failed == 0 and host.unreachable == 0
    assert host.changed >= 12, first.summary()  # batched: one task per role writes all its files
    changed = {t.task: t.items for t in host.changed_tasks}
    assert "bootstrap : Create the admin user (key-only, no password)" in changed, sorted(changed)
    assert "os_hardening : Remove unneeded packages" in changed
    # Every role's packages in one apt transaction, before the roles run.
    assert "packages : Install every package the play needs (one transaction)" in changed
    assert not [name for name in changed if name.endswith("Install the profiles' packages")]
    # The batched file tasks name every file they wrote.
    files = {path for items in changed.values() for path in items}
    for path in (
        "/etc/ssh/sshd_config",
        "/etc/sudoers.d/samakia-admin",
        "/etc/login.defs",
        "/etc/samakia-fabric/policy.json",
        "/etc/unbound/unbound.conf.d/samakia.conf",
    ):
        assert path in files, sorted(files)


def test_second_run_reports_no_change(converged: Converged) -> None:
    second = converged.second
    host = second.hosts[str(converged.root)]
    assert host.failed == 0 and host.unreachable == 0
    # The run really visited every role, it was not an empty play.
    roles = {name.split(" : ")[0] for name, _seconds in second.task_seconds}
    assert roles >= {
        "python",
        "fabric_facts",
        "packages",
        "bootstrap",
        "ssh_hardening",
        "os_hardening",
        "baseline",
        "runtime",
    }
    assert host.ok >= 18, second.summary()
    assert host.changed == 0, [t.describe() for t in host.changed_tasks]
    assert host.changed_tasks == ()
    assert second.returncode == 0
