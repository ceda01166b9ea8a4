"""A Pulumi stack as the operator tools drive it: the CLI, its environment, its working config."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fabric.runtime.controller_client import STACK_ENV

FAST_ENV = {"PULUMI_SKIP_CHECKPOINTS": "true"}
"""What every engine run of the stack runner gets (the caller's environment wins if it sets it).

The engine's snapshot manager serializes the whole snapshot after every step by default
(pulumi/pkg v3.274.1 backend/snapshot.go, ``defaultServiceLoop`` -> ``saveSnapshot`` ->
``SerializeDeploymentWithMetadata``) and the DIY backends write it out each time: work in
proportion to the resources so far, per resource, so a run's engine CPU grows with the square of
the stack's size. ``PULUMI_SKIP_CHECKPOINTS`` selects ``unsafeServiceLoop``, which applies each
step to the snapshot in memory and serializes (and checks) it once, when the run ends, also when
it fails or is cancelled. A preview persists nothing anyway (``backend.DiscardPersister``). An
apply killed outright writes nothing: what it created is found again in PVE by the next run's
adoption (ops/stack/adoption.py); docs/engine.md, "The fast path and what a killed run leaves",
argues the trade and docs/benchmarks.md measures it. ``PULUMI_SKIP_CHECKPOINTS=false`` in the
caller's environment restores the per-step checkpoint.
"""

FAST_COMMANDS = ("preview", "up", "destroy", "refresh")
"""The engine runs that get ``FAST_ENV``."""


@dataclass
class Workspace:
    """Where a stack runs: the project directory and the environment Pulumi gets."""

    project_dir: Path
    stack: str
    env: dict[str, str]
    config_file: Path | None = None
    """Where Pulumi reads and writes the stack's config, when not the committed stack file."""

    def __post_init__(self) -> None:
        # The engine hands its environment to the commands: the policy runner keys the apply's
        # warm Ansible controller by this stack (fabric.runtime.controller_client).
        self.env[STACK_ENV] = self.stack

    def argv(self, *args: str) -> list[str]:
        """The ``pulumi`` command line for ``args`` on this stack and its working config."""
        cmd = ["pulumi", *args, "--stack", self.stack, "--non-interactive"]
        if self.config_file is not None and args[0] not in ("stack", "cancel"):  # these read no config
            cmd += ["--config-file", str(self.config_file)]
        return cmd

    def env_for(self, *args: str) -> dict[str, str]:
        """The environment for ``pulumi *args``: an engine run also gets ``FAST_ENV``."""
        return {**FAST_ENV, **self.env} if args and args[0] in FAST_COMMANDS else self.env

    def pulumi(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = self.argv(*args)
        env = self.env_for(*args)
        # stdin is never the caller's: the engine's commands (Ansible above all) must not share it.
        result = subprocess.run(
            cmd, cwd=self.project_dir, env=env, text=True, capture_output=capture, check=False, stdin=subprocess.DEVNULL
        )
        if check and result.returncode != 0:
            detail = (result.stdout or "")[-2000:] + (result.stderr or "")[-2000:] if capture else ""
            raise SystemExit(f"pulumi {args[0]} failed (exit {result.returncode}){': ' + detail if detail else ''}")
        return result

    def _stack_cmd(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        cmd = ["pulumi", "stack", *args, self.stack, "--non-interactive"]
        return subprocess.run(
            cmd, cwd=cwd, env=self.env, text=True, capture_output=True, check=False, stdin=subprocess.DEVNULL
        )

    def ensure_stack(self) -> None:
        if self._stack_cmd("select", cwd=self.project_dir).returncode == 0:
            return
        if self.config_file is None:
            result = self._stack_cmd("init", cwd=self.project_dir)
        else:
            # `stack init` writes the new passphrase salt into the stack file it finds: let it
            # find a scratch one, and carry the salt into the working copy.
            with tempfile.TemporaryDirectory() as scratch:
                shutil.copy(self.project_dir / "Pulumi.yaml", scratch)
                result = self._stack_cmd("init", cwd=Path(scratch))
                made = Path(scratch) / f"Pulumi.{self.stack}.yaml"
                salt = (
                    [ln for ln in made.read_text().splitlines() if ln.startswith("encryptionsalt:")]
                    if made.exists()
                    else []
                )
                if salt:
                    with self.config_file.open("a") as fh:
                        fh.write(salt[0] + "\n")
        if result.returncode != 0:
            raise SystemExit(f"pulumi stack init {self.stack} failed: {result.stderr.strip()}")

    def outputs(self) -> dict[str, Any]:
        out = self.pulumi("stack", "output", "--json", capture=True).stdout
        return dict(json.loads(out or "{}"))


def working_config(
    project_dir: Path,
    stack: str,
    state: Path,
    extra_ssh_keys: list[str] | None = None,
    rewrite: Callable[[str], str] | None = None,
) -> Path:
    """A working copy of the committed stack file under ``.state``.

    Pulumi writes into the config file it uses (the passphrase's salt, normalised values);
    that salt belongs to this checkout's generated passphrase, so it must never reach Git.
    The copy takes the committed intent afresh on every run and keeps only its own salt.
    ``extra_ssh_keys`` (the local fabric's generated public key, whose private half stays under
    ``.state``) are added to the containers' default keys, so the configuration can log in;
    ``rewrite`` moves a lane-aware local stack's addresses (``ops.stack.local_stacks``).
    """
    committed = project_dir / f"Pulumi.{stack}.yaml"
    working = state / "stacks" / committed.name
    salt = ""
    if working.exists():
        salt = next((line for line in working.read_text().splitlines() if line.startswith("encryptionsalt:")), "")
    working.parent.mkdir(parents=True, exist_ok=True)
    text = committed.read_text()
    if rewrite is not None:
        text = rewrite(text)
    if extra_ssh_keys:
        body = yaml.safe_load(text) or {}
        defaults = body.setdefault("config", {}).setdefault("fabric:containerDefaults", {})
        defaults["sshKeys"] = list(defaults.get("sshKeys") or []) + [
            k for k in extra_ssh_keys if k not in (defaults.get("sshKeys") or [])
        ]
        text = yaml.safe_dump(body, sort_keys=False)
    working.write_text(text.rstrip("\n") + "\n" + (salt + "\n" if salt else ""))
    return working
