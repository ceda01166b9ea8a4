"""The local stacks this runner brings up on the embedded local Proxmox, and where each one lives.

``local`` is the embedded local fabric (``Pulumi.local.yaml``: 127.0.0.2, 10.77.0.0/24, state in
``.state``). ``local-fleet`` (``Pulumi.local-fleet.yaml``) is 24 containers for configuration at
fleet scale, kept apart from it: its own local Proxmox address, template mirror port, network,
state directory and LXC names. Its stack file is written for lane 0; under a test lane
(``SAMAKIA_TEST_LANE``) :meth:`LocalStack.rewrite` moves its addresses and ports in the working
copy Pulumi reads and in the bridges the local Proxmox creates, so two lanes can run it side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops.localpve.lane import LANE, loopback, lxc_tag, port, subnet


@dataclass(frozen=True)
class LocalStack:
    """Where one local stack's services and state live."""

    name: str
    state: str
    """The state directory, relative to the project."""
    pve_host: str
    mirror_port: int
    tag: str = ""
    """Marks its LXC containers' and bridges' names."""
    moves: tuple[tuple[str, str], ...] = ()
    """Text the stack file holds for lane 0, and what it becomes in this lane."""

    def rewrite(self, text: str) -> str:
        """The stack file's text moved to this lane (unchanged in lane 0)."""
        for old, new in self.moves:
            text = text.replace(old, new)
        return text

    def state_dir(self, project: Path) -> Path:
        return project / self.state

    @property
    def rewriter(self) -> Callable[[str], str] | None:
        return self.rewrite if any(old != new for old, new in self.moves) else None


FLEET_PVE, FLEET_MIRROR, FLEET_NET = 21, 8087, 87


def fleet_stack(lane: int = LANE) -> LocalStack:
    """``local-fleet`` in ``lane``: every lane-0 address of its stack file moved."""
    return LocalStack(
        "local-fleet",
        ".state/local-fleet",
        loopback(FLEET_PVE, lane),
        port(FLEET_MIRROR, lane),
        lxc_tag("g", lane),
        (
            (f"10.{FLEET_NET}.0.", subnet(FLEET_NET, lane)),
            (f"127.0.0.{FLEET_PVE}:", f"{loopback(FLEET_PVE, lane)}:"),
            (f"127.0.0.1:{FLEET_MIRROR}", f"127.0.0.1:{port(FLEET_MIRROR, lane)}"),
        ),
    )


LOCAL_STACKS = {
    # make up's own: tied to 127.0.0.2 and 10.77.0.0/24 whatever the lane (README, "The two commands").
    "local": LocalStack("local", ".state", "127.0.0.2", 8099),
    "local-fleet": fleet_stack(),
}
"""Every stack ``python -m ops.stack`` runs on the local Proxmox, by name."""
