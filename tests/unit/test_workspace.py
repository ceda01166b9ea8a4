"""The environment the stack runner gives the Pulumi CLI, and the lane that moves local addresses."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ops.localpve.lane import lane_from, loopback, port
from ops.stack.workspace import FAST_ENV, Workspace


def _fake_pulumi(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``pulumi`` prints its first argument and the checkpoint setting it got."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text('#!/bin/sh\necho "$1 ${PULUMI_SKIP_CHECKPOINTS:-unset}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_SKIP_CHECKPOINTS"}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}


def test_engine_runs_skip_the_per_step_checkpoints_and_other_commands_are_left_alone(tmp_path: Path) -> None:
    ws = Workspace(project_dir=tmp_path, stack="dev", env=_fake_pulumi(tmp_path))
    said = {cmd: ws.pulumi(cmd, capture=True).stdout.split() for cmd in ("preview", "up", "destroy", "refresh")}
    for cmd in ("preview", "up", "destroy", "refresh"):  # the snapshot is written once, at the end
        assert said[cmd] == [cmd, "true"]
    for cmd in ("stack", "cancel", "config"):
        assert ws.pulumi(cmd, capture=True).stdout.split() == [cmd, "unset"]


def test_the_callers_own_checkpoint_setting_wins(tmp_path: Path) -> None:
    env = {**_fake_pulumi(tmp_path), "PULUMI_SKIP_CHECKPOINTS": "false"}
    ws = Workspace(project_dir=tmp_path, stack="dev", env=env)
    assert ws.pulumi("preview", capture=True).stdout.split() == ["preview", "false"]
    assert ws.pulumi("up", capture=True).stdout.split() == ["up", "false"]
    assert set(FAST_ENV) == {"PULUMI_SKIP_CHECKPOINTS"}
    assert ws.env_for("preview") == env and ws.env_for("stack") is env


def test_lanes_move_addresses_and_ports_and_lane_zero_keeps_them() -> None:
    assert lane_from(None) == lane_from("") == lane_from("0") == 0
    assert (loopback(4, lane=0), port(8097, lane=0)) == ("127.0.0.4", 8097)
    assert (loopback(4, lane=lane_from("6")), port(8097, lane=6)) == ("127.6.0.4", 8697)
    for bad in ("10", "x", "-1"):
        with pytest.raises(SystemExit, match="SAMAKIA_TEST_LANE must be a digit 0-9"):
            lane_from(bad)
