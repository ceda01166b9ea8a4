"""The local fabric's bridge keeps its MAC while containers come and go (a real bridge, in a
network namespace of its own: nothing on the host's network is touched)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ops.localpve.lxc import LxcNode, bridge_mac

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, subprocess, sys
from pathlib import Path
from ops.localpve.lxc import LxcNode
node = LxcNode(Path(sys.argv[1]) / "state", base=Path(sys.argv[1]) / "lxc")
dev = node.ensure_bridge("vmbr0", "10.99.0.1", "10.99.0.0/24")
def mac():
    shown = subprocess.run(["ip", "-j", "link", "show", dev], capture_output=True, text=True).stdout
    return json.loads(shown)[0]["address"]
seen = [mac()]
for i in (1, 2):  # two containers' host-side veths, the first with the lowest MAC
    veth = ["ip", "link", "add", f"v{i}", "address", f"fe:00:00:00:00:0{i}", "type", "veth", "peer", "name", f"p{i}"]
    subprocess.run(veth, check=True)
    subprocess.run(["ip", "link", "set", f"v{i}", "master", dev], check=True)
    seen.append(mac())
subprocess.run(["ip", "link", "del", "v1"], check=True)  # the first container is destroyed
seen.append(mac())
print(json.dumps({"dev": dev, "seen": seen}))
"""


def test_the_gateway_mac_survives_a_replaced_container(tmp_path: Path) -> None:
    out = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["dev"] == LxcNode(tmp_path / "state", base=tmp_path / "lxc").host_bridge("vmbr0")
    # Without a fixed address the bridge would take fe:00:00:00:00:01, then change to ...:02.
    assert result["seen"] == [bridge_mac(result["dev"])] * 4, result
