"""A node lost for good, as a Proxmox cluster sees it, for the lost-node recovery path.

Two moments, as on a real cluster (PVE admin guide, "Cluster Manager" -> "Remove a Cluster Node"):

1. **The node dies** (``lose_node``): its containers stop (their real LXC containers are killed:
   the host is gone), every API request routed to it gets fakepve's 595 "No route to host", and
   ``/nodes`` lists it as offline. Its guests stay in the cluster's view with status ``unknown``,
   and their VMIDs stay taken: nothing about them can be read or deleted.
2. **The operator removes it from the cluster** (``remove_node``), which on PVE is
   ``pvecm delnode <node>`` on a surviving node followed by removing its leftover guest configs
   (``/etc/pve/nodes/<node>``); there is no API call for the second half. Only then are its VMIDs
   free again. HA resources and pool definitions are cluster-wide and stay, as on PVE.
"""

from __future__ import annotations

from typing import Any


class NodeLoss:
    """Mixin for ``LocalPve``: lose a node, then remove it from the cluster."""

    cts: list[Any]
    nodes: dict[str, dict[str, Any]]
    lxc: Any

    def lose_node(self, node: str) -> list[int]:
        """The node is gone: kill its real containers and take it offline; the VMIDs it held."""
        held = [ct.vmid for ct in self.cts if ct.node == node]
        if self.lxc is not None:
            running = self.lxc.states()
            for vmid in held:
                if running.get(vmid) == "RUNNING":
                    self.lxc.stop(vmid)  # no clean shutdown: the host lost power
        self.set_node_offline(node)  # type: ignore[attr-defined]
        return held

    def remove_node(self, node: str) -> list[int]:
        """``pvecm delnode`` plus removing its guest configs: its VMIDs are free again."""
        gone = [ct for ct in self.cts if ct.node == node]
        for ct in gone:
            if self.lxc is not None and self.lxc.ct_dir(ct.vmid).exists():
                self.lxc.destroy(ct.vmid)
            self._drop(ct)  # type: ignore[attr-defined]
        self.nodes.pop(node, None)
        return [ct.vmid for ct in gone]
