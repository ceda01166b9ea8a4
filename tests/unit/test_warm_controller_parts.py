"""The warm controller's pieces that need no container: the trigger's implicit variables, the
per-target recap, the request's round trip, the controller key, what outranks host variables,
and that no playbook reads another target's variables."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from fabric.paths import PLAYBOOKS_DIR
from fabric.playbook_digest import files_digest, outranking_var_names
from fabric.runtime.ansible_run import (
    ChangedTask,
    ChrootTarget,
    HostRecap,
    Recap,
    SshTarget,
    host_recap,
    recap_from_dict,
    recap_to_dict,
)
from fabric.runtime.controller import target_from_dict, target_to_dict
from fabric.runtime.controller_client import STACK_ENV, ControllerKey, controller_socket
from ops.stack.workspace import Workspace


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    copy = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.parametrize("where", ["group_vars/all.yml", "group_vars/all/main.yml", "host_vars/dns-1.yml"])
def test_implicit_vars_beside_the_playbook_are_part_of_the_trigger(playbooks: Path, where: str) -> None:
    before = files_digest(playbooks, "site.yml")
    path = playbooks / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("baseline_motd: hello\n")
    added = files_digest(playbooks, "site.yml")
    path.write_text("baseline_motd: changed\n")
    assert len({before, added, files_digest(playbooks, "site.yml")}) == 3


def test_implicit_vars_beside_an_inventory_are_part_of_the_trigger(playbooks: Path, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    before = files_digest(playbooks, "site.yml", inventory_dir=inventory)
    (inventory / "group_vars" / "all.yml").write_text("x: 1\n")
    assert files_digest(playbooks, "site.yml", inventory_dir=inventory) != before
    assert files_digest(playbooks, "site.yml") == before  # without the inventory: unchanged


def test_a_target_gets_its_own_recap_only() -> None:
    failed = HostRecap(ok=2, failed=1, failed_tasks=("t",), messages=("t: boom",))
    fine = HostRecap(ok=3, changed=1, changed_tasks=(ChangedTask("b", "t2", ("x",), "diff"),))
    batch = Recap(hosts={"a": failed, "b": fine}, returncode=2, duration_s=4.0, stderr_tail="about a and b")
    a, b = host_recap(batch, "a"), host_recap(batch, "b")
    assert (list(a.hosts), a.returncode, a.succeeded) == (["a"], 2, False)
    assert (list(b.hosts), b.returncode, b.succeeded) == (["b"], 0, True)
    assert a.stderr_tail == b.stderr_tail == ""  # the batch's stderr may speak of the other target
    assert recap_from_dict(recap_to_dict(b)) == b
    assert not host_recap(batch, "c").succeeded


def test_targets_round_trip_through_a_request() -> None:
    for target in (
        SshTarget("10.0.0.5", user="samakia", port=2222, private_key=Path("/k"), name="x", ssh_common_args="-o A=b"),
        ChrootTarget(Path("/srv/root"), name="r"),
    ):
        assert target_from_dict(target_to_dict(target)) == target
    with pytest.raises(ValueError, match="unknown target type 'docker'"):
        target_from_dict({"type": "docker"})


def test_controllers_are_keyed_by_stack_policy_and_project(tmp_path: Path) -> None:
    base = ControllerKey("local", "d1", tmp_path)
    others = [ControllerKey("prod", "d1", tmp_path), ControllerKey("local", "d2", tmp_path)]
    others.append(ControllerKey("local", "d1", tmp_path / "other"))
    paths = {controller_socket(k, {}) for k in [base, *others]}
    assert len(paths) == 4
    assert controller_socket(base, {}).parent == tmp_path / ".state" / "controllers"


def test_the_stack_runner_names_the_stack_to_the_commands(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    Workspace(tmp_path, "local-fleet", env)
    assert env[STACK_ENV] == "local-fleet"


def test_what_outranks_host_variables_is_known() -> None:
    names = outranking_var_names(PLAYBOOKS_DIR, "site.yml")
    assert {"packages_present", "runtime_selected", "fabric_facts_booted"} <= names
    assert "fabric_hostname" not in names and "baseline_apt_mirror" not in names


def test_no_playbook_reads_another_targets_variables() -> None:
    """A batch holds several containers in one inventory: a role that read ``hostvars`` or
    ``groups`` could see a sibling's variables. None does (nor may: this test says so)."""
    reads = re.compile(r"\b(hostvars|groups)\b\s*[\[.]|\bplay_hosts\b|\bansible_play_(batch|hosts)\b")
    offenders = [
        f"{p.relative_to(PLAYBOOKS_DIR)}:{n}"
        for p in sorted(PLAYBOOKS_DIR.rglob("*"))
        if p.is_file() and p.suffix in (".yml", ".yaml", ".j2", ".py")
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if reads.search(line)
    ]
    assert offenders == []
