"""Two site stacks end to end: the repository's ``local-site-a`` and ``local-site-b`` (one codebase,
one shared file, one local Proxmox as their shared cluster) applied one at a time with the real
engine; a failing site leaves the other applied and reported; a VMID collision between them is
refused before anything is applied.

Infrastructure only, at the local Proxmox's time scale 0 with containers as API records
(``containers=False``): the point is the stacks, not the configuration, which the lifecycle tier
proves. The containers' ``policy`` is dropped in the scratch copy for that reason (the shared
policy still validates). Addresses and names follow the lane; everything is destroyed at the end,
also on failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.localpve.services import ensure_local_images
from ops.stack.local import local_fabric
from ops.stack.sites import apply_each, report
from ops.stack.workspace import Workspace, working_config
from providers.pve_api import PveApi
from tests.e2e.conftest import LINKED, ROOT, root_api
from tests.lane import loopback, port, subnet
from tests.stack_files import edit_stack

SITES = ("local-site-a", "local-site-b")
PVE_HOST = loopback(23)  # no other tier binds .23
MIRROR_PORT = port(8088)
NET = subnet(82)


def _site_body(stack: str) -> dict[str, Any]:
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text().replace("10.79.0.", NET)
    body = yaml.safe_load(text)
    config = body["config"]
    config["fabric:proxmox"]["endpoint"] = f"https://{PVE_HOST}:8006/"
    config["fabric:imageMirror"] = f"http://127.0.0.1:{MIRROR_PORT}"
    for spec in config["fabric:containers"].values():
        spec.pop("policy", None)
    return dict(body)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Workspace], PveApi, Path]]:
    project = tmp_path_factory.mktemp("sites-project")
    for name in LINKED:
        (project / name).symlink_to(ROOT / name)
    shared = yaml.safe_load((ROOT / "sites" / "shared.yaml").read_text().replace("10.79.0.", NET))
    shared["imageCatalog"] = "catalog.sites.yaml"
    shared["images"] = {"base": "debian12-base@1.0.0"}  # the engine tier's build, cached already
    (project / "sites").mkdir()
    (project / "sites" / "shared.yaml").write_text(yaml.safe_dump(shared, sort_keys=False))
    for stack in SITES:
        (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(_site_body(stack), sort_keys=False))
        ensure_local_images(project, stack, project / ".state" / "mirror")
    with local_fabric(project, SITES[0], pve_host=PVE_HOST, mirror_port=MIRROR_PORT, containers=False) as (ws, pve):
        other = Workspace(project, SITES[1], ws.env, working_config(project, SITES[1], project / ".state"))
        other.ensure_stack()
        workspaces = {SITES[0]: ws, SITES[1]: other}
        api = root_api(ws, pve)
        try:
            yield workspaces, api, project
        finally:
            for w in workspaces.values():
                w.pulumi("destroy", "--yes", "--skip-preview", check=False, capture=True)


def _up(workspaces: dict[str, Workspace], project: Path) -> Any:
    def apply_one(stack: str) -> int:
        ws = workspaces[stack]
        ws.config_file = working_config(project, stack, project / ".state")  # the committed intent afresh
        result = ws.pulumi("up", "--yes", "--skip-preview", check=False, capture=True)
        if result.returncode:
            print(result.stdout[-3000:], result.stderr[-3000:])
        return result.returncode

    return apply_one


def test_two_sites_apply_one_at_a_time_on_one_cluster(sites: tuple[dict[str, Workspace], PveApi, Path]) -> None:
    workspaces, api, project = sites
    outcomes = apply_each(list(SITES), _up(workspaces, project))
    assert all(o.ok for o in outcomes), report(outcomes)
    vmids = {v: c.get("name") for v, c in api.containers().items()}
    assert {2101, 2102, 2201, 2202} <= set(vmids), vmids
    # Each stack's state holds its own site only.
    for stack, ws in workspaces.items():
        names = ws.outputs().get("containers") or {}
        assert {n.split("-")[1] for n in names} == {stack[-1]}, names


def test_a_failing_site_leaves_the_other_applied_and_reported(
    sites: tuple[dict[str, Workspace], PveApi, Path],
) -> None:
    workspaces, api, project = sites
    # Site a's cluster refuses its change (a node the site declares but the cluster does not have);
    # site b adds a container. a runs first and fails; b is applied all the same.
    edit_stack(project, SITES[0], lambda c: c["fabric:nodes"].update({"pve9": {}}))
    edit_stack(project, SITES[0], lambda c: c["fabric:containers"]["web-a-2"].update(node="pve9"))
    new = {"vmid": 2203, "hostname": "web-b-3", "node": "pve1", "nic": {"network": "lan", "address": NET + "113"}}
    edit_stack(project, SITES[1], lambda c: c["fabric:containers"].update({"web-b-3": new}))
    outcomes = apply_each(list(SITES), _up(workspaces, project))
    text = report(outcomes)
    assert [o.ok for o in outcomes] == [False, True], text
    assert text.splitlines()[0] == "1 of 2 stack(s) applied; FAILED: local-site-a"
    containers = api.containers()
    assert 2203 in containers and 2101 in containers  # b's new one; a's untouched one stays
    edit_stack(project, SITES[0], lambda c: c["fabric:containers"]["web-a-2"].update(node="pve2"))
    assert apply_each([SITES[0]], _up(workspaces, project))[0].ok  # the fix applies


def test_a_vmid_collision_between_sites_is_refused_before_any_apply(
    sites: tuple[dict[str, Workspace], PveApi, Path],
) -> None:
    workspaces, api, project = sites
    before = set(api.containers())
    edit_stack(project, SITES[1], lambda c: c["fabric:site"].update(vmidRange={"first": 2150, "last": 2299}))
    edit_stack(
        project,
        SITES[1],
        lambda c: c["fabric:containers"].update(
            {
                "web-b-4": {
                    "vmid": 2160,
                    "hostname": "web-b-4",
                    "node": "pve2",
                    "nic": {"network": "lan", "address": NET + "114"},
                }
            }
        ),
    )
    ws = workspaces[SITES[1]]
    ws.config_file = working_config(project, SITES[1], project / ".state")
    result = ws.pulumi("up", "--yes", "--skip-preview", check=False, capture=True)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert (
        "site.vmidRange: overlaps site 'site-a' (Pulumi.local-site-a.yaml), 2100-2199 on the shared cluster 'local'"
        in out
    )
    assert set(api.containers()) == before  # nothing applied
