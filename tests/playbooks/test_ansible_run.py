"""fabric.runtime.ansible_run and the drift front end's plumbing: recap parsing, secrets handling, exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import fabric.runtime.ansible_run as ar
import ops.config.drift as dc
from ops.stack.cli import main as stack_main

REPORT: dict[str, Any] = {
    "plays": [
        {
            "play": {"name": "p"},
            "tasks": [
                {
                    "task": {"name": "os_hardening : Write the hardening sysctls"},
                    "hosts": {"h1": {"changed": True, "diff": [{"before": "a\n", "after": "b\n"}]}},
                },
                {
                    "task": {"name": "runtime : Create the profiles' directories"},
                    "hosts": {
                        "h1": {
                            "changed": True,
                            "results": [
                                {"changed": False, "_ansible_item_label": "/srv/a"},
                                {"changed": True, "item": {"path": "/srv/b", "mode": "0750"}},
                            ],
                        },
                        "h2": {"changed": False},
                    },
                },
                {
                    "task": {
                        "name": "baseline : Write the baseline files",
                        "duration": {"start": "2026-11-29T10:00:00.250000Z", "end": "2026-11-29T10:00:01.000000Z"},
                    },
                    "hosts": {"h1": {"changed": True, "changed_paths": ["/etc/a.conf", "/etc/b.d"]}},
                },
                {
                    "task": {"name": "bootstrap : Check keys"},
                    "hosts": {"h2": {"failed": True, "msg": "no keys"}},
                },
            ],
        }
    ],
    "stats": {
        "h1": {"ok": 10, "changed": 2, "failures": 0, "unreachable": 0, "skipped": 1, "rescued": 0, "ignored": 0},
        "h2": {"ok": 3, "changed": 0, "failures": 1, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0},
    },
}


def test_parse_recap_counts_and_names() -> None:
    recap = ar.parse_recap(REPORT, returncode=2)
    assert recap.hosts["h1"].changed == 2 and recap.hosts["h1"].skipped == 1
    assert [t.describe() for t in recap.hosts["h1"].changed_tasks] == [
        "os_hardening : Write the hardening sysctls",
        "runtime : Create the profiles' directories [/srv/b]",
        "baseline : Write the baseline files [/etc/a.conf, /etc/b.d]",
    ]
    assert "-a\n+b\n" in recap.hosts["h1"].changed_tasks[0].diff


def test_parse_recap_times_each_task() -> None:
    recap = ar.parse_recap(REPORT)
    assert recap.slowest_tasks(1) == [("baseline : Write the baseline files", 0.75)]
    assert len(recap.task_seconds) == 4  # tasks without timestamps count as 0 s, not dropped
    assert recap.hosts["h2"].failed == 1 and recap.hosts["h2"].failed_tasks == ("bootstrap : Check keys",)
    assert recap.changed == 2 and recap.failed == 1 and not recap.succeeded


def test_run_playbook_passes_vars_in_a_private_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_run(
        cmd: list[str], env: dict[str, str], timeout: float | None, cancel: object = None
    ) -> subprocess.CompletedProcess[str]:
        vars_arg = cmd[cmd.index("-e") + 1]
        vars_path = Path(vars_arg[1:])
        seen["mode"] = stat.S_IMODE(vars_path.stat().st_mode)
        seen["vars"] = json.loads(vars_path.read_text())
        seen["inventory"] = json.loads(Path(cmd[cmd.index("-i") + 1]).read_text())
        seen["cmd"], seen["env"] = cmd, env
        return subprocess.CompletedProcess(cmd, 0, stdout="warning noise\n" + json.dumps(REPORT), stderr="")

    monkeypatch.setattr(ar, "_run_bounded", fake_run)
    secret = "s3cr3t-value"
    recap = ar.run_playbook(ar.ChrootTarget(tmp_path, name="h1"), "playbooks/site.yml", {"token": secret}, check=True)
    assert seen["mode"] == 0o600
    assert seen["vars"] == {"token": secret}
    assert not any(secret in part for part in seen["cmd"])
    assert "--check" in seen["cmd"]
    assert seen["env"]["ANSIBLE_STDOUT_CALLBACK"] == "ansible.posix.json"
    assert seen["env"]["ANSIBLE_CONFIG"].endswith("playbooks/ansible.cfg")
    host = seen["inventory"]["all"]["hosts"]["h1"]
    assert host["ansible_connection"] == "community.general.chroot"
    assert "ANSIBLE_STRATEGY" not in seen["env"]  # Mitogen has no chroot connection
    assert recap.changed == 2 and recap.check
    assert not Path(seen["cmd"][seen["cmd"].index("-e") + 1][1:]).exists()  # removed afterwards


def test_run_playbook_without_recap_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_recap(
        cmd: list[str], env: dict[str, str], timeout: float | None, cancel: object = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR! boom")

    monkeypatch.setattr(ar, "_run_bounded", no_recap)
    with pytest.raises(ar.AnsibleRunError, match="boom"):
        ar.run_playbook(ar.ChrootTarget(tmp_path), "playbooks/site.yml", {})


def test_ssh_runs_use_mitogen_unless_opted_out(tmp_path: Path) -> None:
    ssh = [ar.SshTarget("10.0.0.5", name="dns-1"), ar.SshTarget("10.0.0.6", name="dns-2")]
    env = ar.mitogen_env(ssh, {})
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    assert ar.mitogen_env(ssh, {"SAMAKIA_ANSIBLE_STRATEGY": "linear"}) == {}
    assert ar.mitogen_env([*ssh, ar.ChrootTarget(tmp_path)], {}) == {}


def test_a_timeout_stops_every_process_the_run_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # A grandchild that outlives its parent unless the whole session is stopped.
    cmd = ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"]
    with pytest.raises(ar.AnsibleRunError, match="timed out"):
        ar._run_bounded(cmd, dict(os.environ), timeout=1)
    grandchild = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # reaped by init shortly after the kill
            os.kill(grandchild, 0)
            time.sleep(0.1)


def _fake_recap(changed: int, failed: int = 0) -> ar.Recap:
    tasks = tuple(ar.ChangedTask("r", f"role : task {i}") for i in range(changed))
    return ar.Recap(
        hosts={"r": ar.HostRecap(ok=5, changed=changed, failed=failed, changed_tasks=tasks)}, returncode=0, duration_s=1
    )


@pytest.mark.parametrize(("changed", "failed", "code"), [(0, 0, 0), (2, 0, 1), (0, 1, 2)])
def test_drift_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], changed: int, failed: int, code: int
) -> None:
    monkeypatch.setattr(dc, "run_playbook", lambda *a, **k: _fake_recap(changed, failed))
    assert stack_main(["drift-config", "--root", "r"]) == code
    out = capsys.readouterr().out
    if code == 1:
        assert "DRIFT: r: role : task 0\nDRIFT: r: role : task 1\n" in out
        assert "configuration drift: 1 of 1 target(s)" in out
    if code == 0:
        assert "CLEAN: r\nconfiguration drift: none\n" in out
    if code == 2:
        assert "ERROR: r: failed=1" in out


def test_drift_on_an_empty_targets_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "targets.json"
    empty.write_text("[]")
    assert stack_main(["drift-config", "--targets-file", str(empty)]) == 2
    assert "no targets" in capsys.readouterr().err


def test_target_options_only_go_with_drift_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        stack_main(["up", "--root", "r"])
    assert exit_.value.code == 2
    assert "only go with drift-config" in capsys.readouterr().err


def test_drift_targets_file_groups_by_vars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[list[str], dict[str, Any]]] = []

    def fake(targets: list[ar.Target], playbook: Path, extra: dict[str, Any], **kw: Any) -> ar.Recap:
        calls.append(([t.inventory_name for t in targets], extra))
        return ar.Recap(hosts={t.inventory_name: ar.HostRecap(ok=1) for t in targets}, returncode=0, duration_s=0)

    monkeypatch.setattr(dc, "run_playbook", fake)
    f = tmp_path / "targets.json"
    f.write_text(
        json.dumps(
            [
                {"root": "/a", "vars": {"fabric_runtime_profiles": ["dns"]}},
                {"root": "/b", "vars": {"fabric_runtime_profiles": ["dns"]}},
                {
                    "host": "10.0.0.5",
                    "user": "samakia",
                    "name": "edge-1",
                    "vars": {"fabric_runtime_profiles": ["edge"]},
                },
            ]
        )
    )
    assert stack_main(["drift-config", "--targets-file", str(f)]) == 0
    assert calls == [
        (["/a", "/b"], {"fabric_runtime_profiles": ["dns"]}),
        (["edge-1"], {"fabric_runtime_profiles": ["edge"]}),
    ]


def test_collections_installed_from_the_pinned_wheel() -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [str(repo / "scripts/collections.sh")], capture_output=True, text=True, timeout=300, check=True
    )
    assert proc.stdout == ""  # already installed: silent and fast
    site = Path(ar.ansible_playbook_bin()).parent.parent
    found = {}
    for name in ("community/general", "ansible/posix"):
        manifests = list(site.glob(f"lib/python3*/site-packages/ansible_collections/{name}/MANIFEST.json"))
        assert manifests, name
        found[name] = json.loads(manifests[0].read_text())["collection_info"]["version"]
    assert found == {"community/general": "11.4.2", "ansible/posix": "2.1.0"}
    env = ar.ansible_env(os.environ)
    listing = subprocess.run(
        [str(Path(ar.ansible_playbook_bin()).with_name("ansible-doc")), "-t", "connection", "-l"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    assert "community.general.chroot" in listing
