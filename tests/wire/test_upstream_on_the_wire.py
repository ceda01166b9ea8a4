"""Upstream's own provider code against the local Proxmox, on real LXC, through OpenTofu.

bpg/terraform-provider-proxmox (its own ``main``, built from the served module by
``scripts/wire.sh``) runs the scenario of ``tests/wire/drive.py``; each test reads what one step
left in the local Proxmox and inside the running container. A failure here is a fidelity gap of
the local Proxmox (``ops/localpve/``): upstream is used against real PVE every day.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.wire.conftest import Wire, wire_bin
from tests.wire.drive import DRIFT_MEMORY, Run
from tests.wire.pve_view import mac, view
from tests.wire.scenario import MOUNT_PATH, NODE, STEPS, VMID, VOLUME_OWNER, tofu_config
from tests.wire.tofu import Tofu

SID = f"ct:{VMID}"
MIB = 1024 * 1024


def test_create_downloads_verified_templates_and_builds_the_container(upstream: Run) -> None:
    step = upstream.steps["create"]
    downloads = [w for w in step.writes if w.startswith(f"POST /nodes/{NODE}/storage/local/download-url")]
    assert len(downloads) == 2 and all("checksum,checksum-algorithm" in w for w in downloads), step.writes
    assert step.view["templates"][NODE]["local"] == [
        f"vztmpl/debian12-base_{v}_amd64.tar.zst" for v in ("1.0.0", "1.1.0")
    ], "both templates downloaded (and their sha256 checked) on the node"
    config = step.view["config"]
    assert config is not None, step.output[-3000:]
    assert config["unprivileged"] == "1" and config["protection"] == "1"
    assert {"nesting=1", "keyctl=1"} <= set(config["features"].split(","))
    assert config["mp0"].startswith(f"local-data:{VOLUME_OWNER}/subvol-{VOLUME_OWNER}-wire-data")
    assert f"mp={MOUNT_PATH}" in config["mp0"]
    assert config["tags"] == "fabric;wire" and config["memory"] == "512"
    assert step.view["status"] == "running" and step.view["lxc"] == "RUNNING"
    inside = step.view["inside"]
    assert "VERSION=1.0.0" in inside["image"]
    assert "samakia-local-fabric" in inside["authorized_keys"], "the SSH key reached root's authorized_keys"
    assert MOUNT_PATH in inside["mounts"].split(), "the data volume is mounted"
    assert inside["uid_map"] == "0 100000 65536", "an unprivileged root"
    assert int(inside["memory_limit"]) == 512 * MIB


def test_ha_resource_is_read_back_after_create_and_pool_holds_the_container(upstream: Run) -> None:
    step = upstream.steps["create"]
    assert "POST /cluster/ha/resources" in " ".join(step.writes)
    assert step.view["ha"][SID]["state"] == "started" and str(step.view["ha"][SID]["max_restart"]) == "2"
    assert step.view["pool"] == [VMID]


def test_update_changes_memory_and_tags_in_place_and_reboots_for_memory(upstream: Run) -> None:
    before, step = upstream.steps["create"], upstream.steps["update"]
    config = step.view["config"]
    assert config["memory"] == "768" and config["tags"] == "fabric;grown"
    assert mac(config) == mac(before.view["config"]), "an update keeps the container (same MAC)"
    assert int(step.view["inside"]["memory_limit"]) == 768 * MIB
    # container.go, containerUpdate: a memory change sets rebootRequired.
    assert step.writes[-1] == f"POST /nodes/{NODE}/lxc/{VMID}/status/reboot [timeout]", step.writes


def test_a_disk_grow_of_a_protected_container_resizes_then_is_refused(upstream: Run) -> None:
    step = upstream.steps["grow-refused"]
    assert "can't update CT 120 drive 'rootfs' - protection mode enabled" in step.output, step.output[-3000:]
    assert step.writes == [
        f"PUT /nodes/{NODE}/lxc/{VMID}/resize [disk,size]",
        f"PUT /nodes/{NODE}/lxc/{VMID}/config [rootfs]",
    ]
    assert "size=5G" in step.view["config"]["rootfs"], "the resize went through before the refusal"


def test_an_unprotected_container_grows_its_disk_in_place(upstream: Run) -> None:
    before, step = upstream.steps["unprotect"], upstream.steps["grow"]
    assert "size=6G" in step.view["config"]["rootfs"]
    assert mac(step.view["config"]) == mac(before.view["config"])


def test_refresh_sees_an_out_of_band_change_and_the_apply_repairs_it(upstream: Run) -> None:
    step = upstream.steps["refresh"]
    assert f"{DRIFT_MEMORY}" in step.output and "768" in step.output, step.output[-3000:]
    assert step.view["config"]["memory"] == "768"


def test_a_protected_container_is_not_deleted_by_a_template_change(upstream: Run) -> None:
    step = upstream.steps["refused"]
    assert "protection" in step.output, step.output[-3000:]
    assert step.view["config"] is not None and step.view["config"]["protection"] == "1", "nothing is lost"


def test_after_the_release_a_template_change_replaces_it_with_ha_and_pool_restored(upstream: Run) -> None:
    before, step = upstream.steps["update"], upstream.steps["replace"]
    config = step.view["config"]
    assert config is not None and mac(config) != mac(before.view["config"]), "a new container"
    assert "VERSION=1.1.0" in step.view["inside"]["image"]
    assert config["protection"] == "1" and config["memory"] == "768"
    assert step.view["ha"][SID]["state"] == "started"
    assert step.view["pool"] == [VMID]


def test_destroy_leaves_only_the_data_volume(upstream: Run) -> None:
    step = upstream.steps["destroy"]
    assert step.view["config"] is None and step.view["lxc"] is None
    assert step.view["ha"] == {} and step.view["pool"] == []
    assert step.view["volumes"] == {"local-data": [f"{VOLUME_OWNER}/subvol-{VOLUME_OWNER}-wire-data.subvol"]}
    assert step.view["templates"][NODE]["local"] == [], "upstream's destroy deletes the downloaded files"


def test_a_template_whose_sha256_differs_is_refused_and_not_kept(wire: Wire, tmp_path: Path) -> None:
    mirror = wire.project / ".state" / "mirror" / "bad"
    mirror.mkdir(parents=True, exist_ok=True)
    (mirror / "bad_1.0.0_amd64.tar.zst").write_bytes(b"not the bytes the catalog names")
    url = wire.site.templates["t1"].url.rsplit("/", 2)[0] + "/bad/bad_1.0.0_amd64.tar.zst"
    file = {
        "node_name": NODE,
        "datastore_id": "local",
        "content_type": "vztmpl",
        "url": url,
        "file_name": "bad_1.0.0_amd64.tar.zst",
        "checksum": hashlib.sha256(b"other bytes").hexdigest(),
        "checksum_algorithm": "sha256",
    }
    tofu = Tofu(wire_bin(), tmp_path / "tofu", dict(wire.env))
    config = tofu_config(wire.site, STEPS["create"])
    result = tofu.apply({**config, "resource": {"proxmox_download_file": {"bad": file}}}, check=False)
    assert result.returncode != 0 and "checksum mismatch" in result.stdout + result.stderr, result.stdout[-3000:]
    assert "vztmpl/bad_1.0.0_amd64.tar.zst" not in view(wire.running)["templates"].get(NODE, {}).get("local", [])
