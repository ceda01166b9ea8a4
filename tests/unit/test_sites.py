"""Sites as stacks: a shared file for what sites share, and no two sites on one VMID or address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric import FabricConfigError, validate
from fabric.stack_file import read_stack_file
from tests.stack_files import edit_stack

from .conftest import ROOT, STACKS

SITES = ("local-site-a", "local-site-b")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The repository's two site stacks and their shared file, with the unit tier's catalog."""
    (tmp_path / "playbooks").symlink_to(ROOT / "playbooks")
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "shared.yaml").write_text((ROOT / "sites" / "shared.yaml").read_text())
    catalog = yaml.safe_load((STACKS / "catalog.yaml").read_text())
    family = catalog["families"]["debian12-base"]
    family.append({**family[-1], "version": "1.2.0"})  # the version the shared file names
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "catalog.local.yaml").write_text(yaml.safe_dump(catalog))
    for stack in SITES:
        (tmp_path / f"Pulumi.{stack}.yaml").write_text((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return tmp_path


def problems(project: Path, stack: str) -> list[str]:
    raw, secret = read_stack_file(project / f"Pulumi.{stack}.yaml")
    try:
        validate(raw, project_dir=project, secret_keys=secret, stack=stack)
    except FabricConfigError as err:
        return [str(p) for p in err.problems]
    return []


def test_the_two_site_stacks_are_valid_and_share_images_and_policies(project: Path) -> None:
    for stack in SITES:
        raw, secret = read_stack_file(project / f"Pulumi.{stack}.yaml")
        assert "policies" not in raw and "images" not in raw  # only in the shared file
        fabric = validate(raw, project_dir=project, secret_keys=secret, stack=stack)
        assert set(fabric.intent.policies) == {"web"} and set(fabric.images) == {"base"}
        assert fabric.intent.site is not None and fabric.intent.site.cluster == "local"


def test_overlapping_vmid_ranges_on_one_cluster_are_refused_in_both_sites(project: Path) -> None:
    def widen(config: dict[str, Any]) -> None:
        config["fabric:site"]["vmidRange"] = {"first": 2150, "last": 2299}
        for spec in config["fabric:containers"].values():
            spec["vmid"] += 50

    edit_stack(project, "local-site-b", widen)
    for stack, other in (("local-site-b", "site-a"), ("local-site-a", "site-b")):
        found = [p for p in problems(project, stack) if p.startswith("site.vmidRange")]
        assert len(found) == 1 and f"overlaps site '{other}'" in found[0] and "cluster 'local'" in found[0], found


def test_the_same_vmid_ranges_on_different_clusters_are_fine(project: Path) -> None:
    def move(config: dict[str, Any]) -> None:
        config["fabric:site"]["cluster"] = "other"
        config["fabric:site"]["vmidRange"] = {"first": 2100, "last": 2199}
        for spec in config["fabric:containers"].values():
            spec["vmid"] -= 100

    edit_stack(project, "local-site-b", move)
    assert problems(project, "local-site-b") == [] and problems(project, "local-site-a") == []


def test_overlapping_address_ranges_on_a_shared_network_are_refused(project: Path) -> None:
    edit_stack(project, "local-site-b", lambda c: c["fabric:site"]["addressRanges"]["lan"].update(first="10.79.0.90"))
    found = problems(project, "local-site-a")
    assert len(found) == 1 and found[0].startswith("site.addressRanges.lan: shares addresses with site 'site-b'")
    assert "10.79.0.90-10.79.0.199" in found[0]


def test_a_site_without_a_range_on_a_shared_network_claims_the_whole_subnet(project: Path) -> None:
    edit_stack(project, "local-site-b", lambda c: c["fabric:site"].pop("addressRanges"))
    found = problems(project, "local-site-a")
    assert any("10.79.0.0-10.79.0.255" in p for p in found), found


def test_a_container_outside_its_sites_ranges_is_named(project: Path) -> None:
    def stray(config: dict[str, Any]) -> None:
        config["fabric:containers"]["web-a-1"]["vmid"] = 2250
        config["fabric:containers"]["web-a-2"]["nic"]["address"] = "10.79.0.150"

    edit_stack(project, "local-site-a", stray)
    found = problems(project, "local-site-a")
    assert any(p.startswith("containers.web-a-1.vmid: is outside site.vmidRange (2100-2199)") for p in found), found
    assert any(p.startswith("containers.web-a-2.nic.address: is outside site.addressRanges.lan") for p in found)


def test_two_stacks_naming_one_site_are_refused(project: Path) -> None:
    edit_stack(project, "local-site-b", lambda c: c["fabric:site"].update(name="site-a"))
    assert any(
        p.startswith("site.name: is also the name of the site in Pulumi.local-site-b.yaml")
        for p in problems(project, "local-site-a")
    )


def test_a_section_in_both_the_stack_and_the_shared_file_is_refused(project: Path) -> None:
    edit_stack(project, "local-site-a", lambda c: c.update({"fabric:images": {"base": "debian12-base@1.0.0"}}))
    found = problems(project, "local-site-a")
    assert found == [
        "images: is given in the stack file and in sites/shared.yaml: keep it in one place (value not shown)"
    ]


def test_the_shared_file_holds_only_shared_sections(project: Path) -> None:
    shared = project / "sites" / "shared.yaml"
    shared.write_text(shared.read_text() + "nodes: {pve9: {}}\n")
    found = problems(project, "local-site-a")
    assert found == [
        "sites/shared.yaml.nodes: may not be shared; the shared file holds only "
        "imageCatalog, images, policies, groups, connection (value not shown)"
    ]
    edit_stack(project, "local-site-a", lambda c: c.update({"fabric:sharedFile": "../outside.yaml"}))
    found = problems(project, "local-site-a")
    assert any(p.startswith("sharedFile: must be a .yaml file inside the project") for p in found), found
