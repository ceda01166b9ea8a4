"""The scenario, driven once per side: bpg's main through OpenTofu, bpg bridged through Pulumi.

``run_scenario`` performs the same steps against the same local Proxmox with either ``Side``
and records, after each step, what the local Proxmox holds (``pve_view.view``) and the changing
calls the step made (``pve_view.writes``). The steps (intents in ``scenario.STEPS``):

1. ``create``: both templates downloaded with their sha256; the container with the fabric's
   features, a data-volume mount point, an unprivileged root and SSH keys, protected; its pool
   membership and HA resource (whose create reads the resource back).
2. ``update``: memory (hot-plugged) and tags, in place.
3. ``refresh``: memory changed behind the provider's back is seen as drift by a refresh-only
   plan (a refresh), and the next apply puts it back.
4. ``grow-refused``: a disk grow of the protected container: the resize goes through, then PVE
   refuses the ``rootfs`` that upstream puts in the config update.
5. ``refused``: a template change of the protected HA container: the engine removes the HA
   resource and the membership (they follow the container), then PVE refuses the delete of a
   protected container; nothing else is lost.
6. ``replace``: after the fabric's release step (``fabric.runtime.release``), the same apply
   replaces the container; HA and pool membership are restored on the new one.
7. ``unprotect``, then ``grow`` (a disk grow in place), then ``destroy``: everything goes but
   the data volume, owned by another VMID.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fabric.runtime.release import release
from ops.localpve.server import RunningPve
from ops.stack.workspace import Workspace
from tests.wire import scenario
from tests.wire.pve_view import mark, view, writes
from tests.wire.scenario import NODE, STEPS, VMID, Intent, Site
from tests.wire.tofu import Tofu

DRIFT_MEMORY = 1024


class Side(Protocol):
    """One way of applying the scenario's intents."""

    name: str

    def apply(self, intent: Intent, *, expect_failure: bool = False) -> str:
        """Apply ``intent``; return the output (the error's, when ``expect_failure``)."""

    def drift(self) -> str:
        """A refresh-only look at the live state; return the output naming what drifted."""

    def destroy(self) -> str: ...


@dataclass
class Step:
    """What one step left in the local Proxmox and the changing calls it made."""

    view: dict[str, Any]
    writes: list[str]
    output: str


@dataclass
class Run:
    side: str
    steps: dict[str, Step] = field(default_factory=dict)
    seconds: float = 0.0
    """Wall time of the whole scenario on this side (kept in the record, for the reader)."""


@dataclass
class TofuSide:
    """bpg/terraform-provider-proxmox (its own main) driven by OpenTofu."""

    tofu: Tofu
    site: Site
    name: str = "upstream"

    def apply(self, intent: Intent, *, expect_failure: bool = False) -> str:
        result = self.tofu.apply(scenario.tofu_config(self.site, intent), check=not expect_failure)
        if expect_failure:
            assert result.returncode != 0, f"tofu apply was expected to fail:\n{result.stdout[-3000:]}"
        return result.stdout + result.stderr

    def drift(self) -> str:
        code, text = self.tofu.plan_exit("-refresh-only")
        assert code == 2, f"a refresh-only plan saw no drift:\n{text[-3000:]}"
        return text

    def destroy(self) -> str:
        result = self.tofu.run("destroy", "-auto-approve", "-parallelism=1")
        return result.stdout


@dataclass
class PulumiSide:
    """bpg's provider through Pulumi's bridge (scripts/proxmoxve/), driven by the Pulumi engine."""

    ws: Workspace
    site: Site
    name: str = "bridged"
    logs: list[str] = field(default_factory=list)

    def _env(self, intent: Intent) -> None:
        constants = {k: getattr(scenario, k) for k in ("NODE", "VMID", "TEMPLATE_STORE", "DISK_STORE", "POOL")}
        constants["MOUNT_PATH"] = scenario.MOUNT_PATH
        self.ws.env["SAMAKIA_WIRE_SITE"] = json.dumps(self.site.as_json())
        self.ws.env["SAMAKIA_WIRE_INTENT"] = json.dumps(intent.as_json())
        self.ws.env["SAMAKIA_WIRE_CONSTANTS"] = json.dumps(constants)

    def _pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.ws.pulumi(*args, check=False, capture=True)
        self.logs.append(f"$ pulumi {' '.join(args)} (exit {result.returncode})\n{result.stdout}{result.stderr}")
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def apply(self, intent: Intent, *, expect_failure: bool = False) -> str:
        self._env(intent)
        # OpenTofu refreshes before it plans; so does this (pulumi up --refresh).
        result = self._pulumi("up", "--yes", "--skip-preview", "--refresh", "--parallel", "1", check=not expect_failure)
        if expect_failure:
            assert result.returncode != 0, f"pulumi up was expected to fail:\n{result.stdout[-3000:]}"
        return result.stdout + result.stderr

    def drift(self) -> str:
        result = self._pulumi("refresh", "--preview-only", "--diff", check=True)
        return result.stdout

    def destroy(self) -> str:
        return self._pulumi("destroy", "--yes", "--skip-preview", "--parallel", "1").stdout


def _release(running: RunningPve, env: dict[str, str]) -> list[str]:
    """The fabric's release step, as LxcContainer's release command runs it before a delete."""
    return release(
        {
            "SAMAKIA_RELEASE_ENDPOINT": running.url,
            "SAMAKIA_RELEASE_NODE": NODE,
            "SAMAKIA_RELEASE_VMID": str(VMID),
            "SAMAKIA_RELEASE_USER": "root@pam",
            "SAMAKIA_RELEASE_PASSWORD_ENV": "PROXMOX_VE_PASSWORD",
            "PROXMOX_VE_PASSWORD": env["PROXMOX_VE_PASSWORD"],
            "SSL_CERT_FILE": str(running.cafile),
        }
    )


def run_scenario(side: Side, running: RunningPve, env: dict[str, str], api: Any) -> Run:
    """Every step of the scenario through ``side``; see the module docstring."""
    run = Run(side.name)
    start = time.monotonic()

    def step(name: str, action: Any) -> None:
        since = mark(running)
        output = action()
        run.steps[name] = Step(view(running), writes(running, since), output if isinstance(output, str) else "")

    step("create", lambda: side.apply(STEPS["create"]))
    step("update", lambda: side.apply(STEPS["update"]))

    def drifted() -> str:
        api.put(f"/nodes/{NODE}/lxc/{VMID}/config", memory=DRIFT_MEMORY)
        seen = side.drift()
        return seen + "\n" + side.apply(STEPS["update"])

    step("refresh", drifted)
    step("grow-refused", lambda: side.apply(STEPS["grow-refused"], expect_failure=True))
    step("refused", lambda: side.apply(STEPS["replace"], expect_failure=True))

    def released() -> str:
        done = _release(running, env)
        return "\n".join(done) + "\n" + side.apply(STEPS["replace"])

    step("replace", released)
    step("unprotect", lambda: side.apply(STEPS["unprotect"]))
    step("grow", lambda: side.apply(STEPS["grow"]))
    step("destroy", side.destroy)
    run.seconds = round(time.monotonic() - start, 1)
    return run


def record(run: Run, path: Path) -> None:
    """Keep a run's views and calls for a reader (the tier writes them beside its logs)."""
    body: dict[str, Any] = {name: {"view": s.view, "writes": s.writes} for name, s in run.steps.items()}
    body["seconds"] = run.seconds
    path.write_text(json.dumps(body, indent=1, sort_keys=True))
