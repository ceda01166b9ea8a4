"""Check mode as the configuration drift detector, on a converged and a tampered root."""

from __future__ import annotations

from conftest import Converged, DriftRun, sysctl_file_values

from ops.config import rootfs

# Exactly the tasks that must report a change after the tampering in conftest.tamper(), each
# naming the file it would rewrite (the batched file tasks list their changed paths).
EXPECTED_DRIFT = {
    "ssh_hardening : Write the hardened sshd configuration (validated with sshd -t) and restrict the host keys"
    " [/etc/ssh/sshd_config]",
    "os_hardening : Write the hardening files (sysctls, login.defs, umask, limits, core dumps, modes)"
    " [/etc/sysctl.d/90-samakia-hardening.conf]",
    "os_hardening : Remove unneeded packages",
}


def test_converged_root_is_clean_in_check_mode(drift_run: DriftRun) -> None:
    clean = drift_run.target(drift_run.clean_root)
    assert clean["error"] == ""
    assert clean["drifted"] is False
    assert clean["changed_tasks"] == []


def test_tampered_root_reports_exactly_the_changed_tasks(drift_run: DriftRun) -> None:
    tampered = drift_run.target(drift_run.tampered_root)
    assert tampered["error"] == ""
    assert tampered["drifted"] is True
    assert set(tampered["changed_tasks"]) == EXPECTED_DRIFT
    assert len(tampered["changed_tasks"]) == len(EXPECTED_DRIFT)


def test_drift_command_exits_non_zero_on_drift(drift_run: DriftRun) -> None:
    assert drift_run.returncode == 1, drift_run.stderr
    assert drift_run.report["status"] == "drift"


def test_check_mode_changed_nothing(drift_run: DriftRun, converged: Converged) -> None:
    root = drift_run.tampered_root
    assert "\nPasswordAuthentication yes\n" in (root / "etc/ssh/sshd_config").read_text()
    assert sysctl_file_values(root)["net.ipv4.ip_forward"] == "1"
    status = rootfs.chroot(root, "dpkg-query", "-W", "-f=${Status}", "telnet", check=False).stdout
    assert status == "install ok installed"
    # And the clean root stayed byte-identical where it matters.
    assert "\nPasswordAuthentication no\n" in (converged.root / "etc/ssh/sshd_config").read_text()


def test_extra_vars_never_on_the_command_line(drift_run: DriftRun) -> None:
    assert "ssh-ed25519" not in drift_run.stdout + drift_run.stderr
