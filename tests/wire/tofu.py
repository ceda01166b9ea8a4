"""OpenTofu as the wire tier drives it: offline, with upstream's provider through ``dev_overrides``.

The binaries come from ``scripts/wire.sh`` (built from the served Go modules, cached by version).
A CLI config file (``TF_CLI_CONFIG_FILE``) points ``bpg/proxmox`` at the built provider, so OpenTofu
never asks a registry; with a development override, ``tofu init`` is not needed (OpenTofu warns
that the override is active, which is the point). The configuration is written as
``main.tf.json`` from ``tests/wire/scenario.py``. The credential reaches the provider through
its environment (``PROXMOX_VE_PASSWORD``), never through argv or the configuration.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDER_ADDRESS = "registry.opentofu.org/bpg/proxmox"


@dataclass
class Tofu:
    """One OpenTofu working directory with its own state, driving the built provider."""

    bin_dir: Path
    workdir: Path
    env: dict[str, str]
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cli_config = self.workdir / "tofu.tfrc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  dev_overrides {{ "{PROVIDER_ADDRESS}" = {json.dumps(str(self.bin_dir))} }}\n'
            "  direct {}\n"
            "}\n"
        )
        self.env = {
            **self.env,
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "PROXMOX_VE_USERNAME": "root@pam",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "tofu"), *args, "-no-color"],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        self.logs.append(f"$ tofu {' '.join(args)} (exit {result.returncode})\n{result.stdout}{result.stderr}")
        if check and result.returncode != 0:
            raise AssertionError(
                f"tofu {' '.join(args)} exited {result.returncode}:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def write(self, config: dict[str, Any]) -> None:
        (self.workdir / "main.tf.json").write_text(json.dumps(config, indent=1, sort_keys=True))

    def apply(self, config: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        self.write(config)
        return self.run("apply", "-auto-approve", "-parallelism=1", check=check)

    def plan_exit(self, *args: str) -> tuple[int, str]:
        """``tofu plan -detailed-exitcode``: (0 no changes | 2 changes, the plan's text)."""
        result = self.run("plan", "-detailed-exitcode", "-parallelism=1", *args, check=False)
        if result.returncode not in (0, 2):
            raise AssertionError(f"tofu plan failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result.returncode, result.stdout

    def state(self) -> dict[str, dict[str, Any]]:
        """Resource address -> its attribute values, from ``tofu show -json``."""
        shown = json.loads(self.run("show", "-json").stdout or "{}")
        resources = ((shown.get("values") or {}).get("root_module") or {}).get("resources") or []
        return {r["address"]: r["values"] for r in resources}
