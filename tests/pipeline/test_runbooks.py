"""Every command a runbook names parses as written, and a named test exercises what it does."""

from __future__ import annotations

import re
import shlex
import subprocess

from tests.pipeline.conftest import ROOT

RUNBOOKS = [ROOT / "docs" / "runbooks.md"] + [
    ROOT / "docs" / "runbooks" / name
    for name in ("interrupted-apply.md", "locks.md", "deleted-outside-pulumi.md", "lost-node.md")
]
# make target -> (test file, test function) that exercises the code the target runs.
EXERCISED = {
    # The engine-tier proof of both against the local PVE: tests/e2e/test_reviewed_plan.py.
    "plan": ("tests/unit/test_stack_cli.py", "test_plans_are_keyed_by_tree_and_refuse_uncommitted_changes"),
    "apply-plan": ("tests/unit/test_stack_cli.py", "test_apply_plan_without_a_plan_refuses_before_the_engine"),
    "up": ("tests/unit/test_stack_cli.py", "test_up_and_preview_work_from_refreshed_state_through_the_policy_pack"),
    "preview": (
        "tests/unit/test_stack_cli.py",
        "test_up_and_preview_work_from_refreshed_state_through_the_policy_pack",
    ),
    "drift": ("tests/e2e/test_lifecycle.py", "test_drift_is_detected_and_named"),
    "drift-infra": (
        "tests/e2e/test_prod_shape.py",
        "test_ha_pool_and_protection_changed_outside_pulumi_are_named_by_drift",
    ),
    "repair": ("tests/e2e/test_lifecycle.py", "test_configuration_drift_is_detected_and_repaired_from_git"),
    "image": ("tests/images/test_build.py", "test_sha256_matches_packer_manifest_and_catalog"),
    "catalog-check": ("tests/images/test_catalog_immutability.py", "test_"),
    "publish-image": ("tests/pipeline/test_publish_image.py", "test_publishes_artifact_and_sha256_once"),
    "test-faults": ("tests/faults/test_faults.py", "test_killed_while_a_container_is_created"),
    # The fault tier runs the runner's `up` after every fault, and `unlock` on a killed run's lock.
    "unlock": (
        "tests/faults/test_faults.py",
        "test_a_lock_left_on_another_host_is_reported_then_cleared_without_losing_state",
    ),
    # The runner's `down` after a killed destroy, on the real engine.
    "down": ("tests/faults/test_teardown.py", "test_a_killed_down_is_finished_by_the_next_down"),
}
# Other commands the runbooks name, and the test that exercises them.
OTHER = {
    "git revert": ("tests/e2e/test_lifecycle.py", "test_rollback_restores_the_previous_image"),
    "SAMAKIA_BREAK_GLASS_REASON=": ("tests/unit/test_guard.py", "test_break_glass_is_recorded_in_outputs_and_log"),
    # Proxmox's own commands for removing a dead node: the local PVE models what they leave
    # (ops/localpve/node_loss.py, remove_node), and the lost-node test applies after it.
    **dict.fromkeys(
        ("pvecm delnode ", "ls /etc/pve/nodes/", "rm -r /etc/pve/nodes/"),
        (
            "tests/e2e/test_prod_shape.py",
            "test_a_node_lost_for_good_is_rebuilt_on_a_surviving_node_from_a_reviewed_plan",
        ),
    ),
}


def _commands() -> list[str]:
    """Indented code lines and inline code spans that start with a command."""
    found = []
    for path in RUNBOOKS:
        text = re.sub(r"(?ms)^```.*?^```", "", path.read_text())  # fenced blocks are files, not commands
        found += [ln.strip() for ln in text.splitlines() if ln.startswith("    ") and ln.strip()]
        found += re.findall(r"`((?:make|git) [^`]+)`", text)
    return found


def _exercised(test_file: str, function: str) -> bool:
    return f"def {function}" in (ROOT / test_file).read_text()


def test_every_make_command_parses_and_is_exercised() -> None:
    commands = [c for c in _commands() if " make " in f" {c}"]
    targets = set()
    for command in commands:
        words = shlex.split(command, comments=True)
        words = words[words.index("make") + 1 :]
        targets.add(words[0])
        dry = subprocess.run(["make", "-n", *words], cwd=ROOT, capture_output=True, text=True, check=False)
        assert dry.returncode == 0, f"{command}: {dry.stderr}"
    assert targets, "the runbooks name no make command"
    assert targets <= set(EXERCISED), f"runbook targets without a named test: {targets - set(EXERCISED)}"
    for target in targets:
        assert _exercised(*EXERCISED[target]), f"make {target}: {EXERCISED[target]} is gone"


def test_every_other_command_is_exercised() -> None:
    others = [c for c in _commands() if " make " not in f" {c}" or c.startswith("SAMAKIA_")]
    for command in others:
        prefix = next((p for p in OTHER if command.startswith(p)), None)
        assert prefix, f"runbook command with no test: {command}"
        assert _exercised(*OTHER[prefix])
