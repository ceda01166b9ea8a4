"""The production shape end to end: least-privilege tokens, protection, HA, a pool, two nodes.

The real engine drives upstream's provider code (bpg's, bridged: scripts/proxmoxve/) with tokens
in PVE's format against the local Proxmox, which refuses what PVE refuses: a protected container,
a container under HA, a token without the privilege. Tests run in file order
on one stack, as an operator's day would. Its containers are real LXC containers on a network of
its own (10.81.LANE.0/24), torn down at the end, also on failure. Configuration (Ansible) is off
for this stack (see tests/e2e/stacks/prod-shape.yaml); the `e2e` stack covers it.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from fabric.errors import InputError
from fabric.runtime.health import ssh_banner
from ops.stack.cli import run_action
from ops.stack.drift import drift_check
from ops.stack.plan_summary import main as plan_summary_main
from ops.stack.prepare import preview_workspace
from tests.lane import loopback, port, subnet

from .conftest import ROOT, LocalFabric, lane_fabric, make_project

STACK = "e2e-prod"
PVE_HOST = loopback(8)  # no other e2e file binds 8; 127.0.0.4 is the engine benchmark's
MIRROR_PORT = port(8092)
CONTAINERS = {"dns-1": 3101, "dns-2": 3102, "db-1": 3201}
HA = {"dns-1", "dns-2"}
POOL = "fabric-local"
PREVIEW, APPLY = "preview@pve!ci", "deploy@pve!ci"
CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy"


class ProdShape(LocalFabric):
    tokens: dict[str, str]

    def as_token(self, tokenid: str) -> None:
        self.ws.env["PROXMOX_VE_API_TOKEN"] = f"{tokenid}={self.tokens[tokenid]}"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProdShape]:
    text = (ROOT / "tests" / "e2e" / "stacks" / "prod-shape.yaml").read_text()
    body = yaml.safe_load(text.replace("10.81.0.", subnet(81)))
    body["config"]["fabric:proxmox"]["endpoint"] = f"https://{PVE_HOST}:8006/"
    body["config"]["fabric:imageMirror"] = f"http://127.0.0.1:{MIRROR_PORT}"
    project = make_project(tmp_path_factory, STACK, body)
    with lane_fabric(ProdShape, project, stack=STACK, pve_host=PVE_HOST, mirror_port=MIRROR_PORT, tag="p") as fabric:
        pve, root = fabric.pve, fabric.api
        root.post("/pools", poolid=POOL, comment="the fabric's containers")
        pve.call(lambda: pve.pve.grant_role(PREVIEW.split("!", maxsplit=1)[0], "/", "PVEAuditor"))
        pve.call(lambda: pve.pve.grant_role(APPLY.split("!", maxsplit=1)[0], "/", "FabricApply"))
        pve.call(lambda: pve.pve.grant_role(APPLY.split("!", maxsplit=1)[0], "/storage/local", "FabricTemplates"))
        tokens = {t: pve.call(functools.partial(pve.pve.issue_token, t)) for t in (PREVIEW, APPLY)}  # this run's only
        fabric.tokens = tokens
        fabric.as_token(APPLY)
        try:
            yield fabric
        finally:
            fabric.as_token(APPLY)
            fabric.pulumi("destroy", "--yes", "--skip-preview", check=False)


def up(f: ProdShape, *extra: str) -> None:
    f.pulumi("up", "--yes", "--skip-preview", *extra)


def is_container(urn: str) -> bool:
    """A step on the provider's container resource (its URN type is last in the parent chain)."""
    return urn.split("::")[-2].rsplit("$", 1)[-1] == CONTAINER


def members(f: ProdShape) -> set[int]:
    return {int(m["vmid"]) for m in f.api.get(f"/pools/{POOL}").get("members", []) if "vmid" in m}


def ha_sids(f: ProdShape) -> set[str]:
    return {r["sid"] for r in f.api.get("/cluster/ha/resources")}


def macs(f: ProdShape) -> dict[str, str]:
    cts = f.api.containers()
    return {name: cts[vmid]["config"]["net0"] for name, vmid in CONTAINERS.items()}


def assert_guarded(f: ProdShape) -> None:
    """Every container protected, unprivileged, in the pool; the replicated group under HA."""
    cts = f.api.containers()
    assert set(cts) >= set(CONTAINERS.values())
    for vmid in CONTAINERS.values():
        cfg = cts[vmid]["config"]
        assert int(cfg.get("protection", 0)) == 1 and int(cfg["unprivileged"]) == 1
    assert members(f) >= set(CONTAINERS.values())
    assert ha_sids(f) == {f"ct:{CONTAINERS[n]}" for n in HA}


def test_the_preview_token_cannot_apply(prod: ProdShape) -> None:
    prod.as_token(PREVIEW)
    prod.pulumi("preview")
    failed = prod.pulumi("up", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0
    assert "Permission check failed" in failed.stdout + failed.stderr
    assert not set(prod.api.containers()) & set(CONTAINERS.values()), "nothing half-applied"


def test_up_with_the_apply_token_then_a_no_op_preview(prod: ProdShape) -> None:
    prod.as_token(APPLY)
    up(prod)
    assert_guarded(prod)
    assert {prod.api.containers()[v]["node"] for v in CONTAINERS.values()} == {"pve1", "pve2"}
    # With the same token: a token is a provider input here, so another one is a provider update
    # (until the provider reads its credentials from the environment at run time).
    prod.pulumi("preview", "--expect-no-changes", "--refresh")


def test_image_bump_of_protected_ha_containers_keeps_ha_and_pool(prod: ProdShape) -> None:
    before = macs(prod)
    prod.as_token(APPLY)
    prod.set_config("images.base", "debian12-base@1.1.0")
    up(prod)
    after = macs(prod)
    assert all(before[n] != after[n] for n in CONTAINERS), "every container was re-created"
    assert_guarded(prod)
    prod.pulumi("preview", "--expect-no-changes", "--refresh")


def test_rollback_restores_the_previous_image_with_its_guards(prod: ProdShape) -> None:
    prod.set_config("images.base", "debian12-base@1.0.0")
    up(prod)
    assert_guarded(prod)
    state = json.loads(prod.pulumi("stack", "export").stdout)["deployment"]["resources"]
    templates = {r["outputs"]["operatingSystem"]["templateFileId"] for r in state if r["type"] == CONTAINER}
    assert templates == {"local:vztmpl/debian12-base_1.0.0_amd64.tar.zst"}
    prod.pulumi("preview", "--expect-no-changes", "--refresh")


def test_ssh_key_rotation_replaces_and_the_strict_plan_check_needs_an_override(prod: ProdShape, capsys: Any) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINW7LDfhCcTzN3H8bf4JZnuB/e+FLGIlGiw2JwU8x54s rotated@samakia"
    prod.set_config("containerDefaults.sshKeys[0]", key)
    preview = prod.preview_json()
    replaced = {
        s["urn"].rsplit("::", 1)[-1]
        for s in preview["steps"]
        if s["op"] in ("replace", "create-replacement") and is_container(s["urn"])
    }
    assert replaced == set(CONTAINERS), "upstream: keys force a new container"
    plan = prod.project / "preview.json"
    plan.write_text(json.dumps(preview))
    stack_file = prod.project / f"Pulumi.{STACK}.yaml"
    capsys.readouterr()
    gate = [str(plan), "--stack-file", str(stack_file), "--project-dir", str(prod.project), "--strict"]
    assert plan_summary_main(gate) == 1
    blocked = [line for line in capsys.readouterr().out.splitlines() if line.startswith("**BLOCKED**")]
    assert all(any(name in line for line in blocked) for name in CONTAINERS), blocked
    rebuilt = next(line for line in blocked if "protected-replace" in line)  # also for one container alone
    assert all(f"{name} (initialization)" in rebuilt for name in CONTAINERS), rebuilt
    approved = "x,blast-radius-approved"
    assert plan_summary_main([*gate, "--labels", approved]) == 0
    # Not applied: the key change is reverted, the fabric stays as it is.
    body = yaml.safe_load((ROOT / "tests" / "e2e" / "stacks" / "prod-shape.yaml").read_text())
    prod.set_config("containerDefaults.sshKeys[0]", body["config"]["fabric:containerDefaults"]["sshKeys"][0])
    prod.pulumi("preview", "--expect-no-changes")


def test_disk_grow_of_a_protected_container_succeeds_in_place_with_protection_restored(prod: ProdShape) -> None:
    before = macs(prod)["db-1"]
    prod.set_config("containers.db-1.diskGb", "6")
    preview = prod.preview_json()
    ops = {s["op"] for s in preview["steps"] if s["urn"].endswith("::db-1") and is_container(s["urn"])}
    assert ops == {"update"}, ops
    # Upstream resizes, then sends rootfs in its config update, which PVE refuses while the container
    # is protected; the fabric's grow window lifts protection before and restores it after.
    prod.as_token(APPLY)
    up(prod)
    cfg = prod.api.containers()[CONTAINERS["db-1"]]["config"]
    assert "size=6G" in cfg["rootfs"] and macs(prod)["db-1"] == before
    assert_guarded(prod)
    prod.pulumi("preview", "--expect-no-changes", "--refresh")
    # Upstream read the container back inside the window (protection off), so the state learns of the
    # restored protection at the next refresh, which every runner apply does; then nothing changes,
    # and the window stays shut (it opens only for a grow).
    prod.pulumi("up", "--yes", "--skip-preview", "--refresh", "--expect-no-changes")
    assert_guarded(prod)


def test_ha_pool_and_protection_changed_outside_pulumi_are_named_by_drift(prod: ProdShape, capsys: Any) -> None:
    prod.api.delete(f"/cluster/ha/resources/ct:{CONTAINERS['dns-1']}")
    prod.api.put(f"/pools/{POOL}", vms=str(CONTAINERS["db-1"]), delete=1)
    prod.api.put(f"/nodes/pve2/lxc/{CONTAINERS['dns-2']}/config", protection=0)
    prod.as_token(PREVIEW)
    assert drift_check(prod.ws) != 0
    out = capsys.readouterr().out
    drifted = {line.split()[2]: line for line in out.splitlines() if line.startswith("DRIFT: ")}
    assert {"dns-1-ha", "db-1-pool", "dns-2"} <= set(drifted), out
    assert "protection" in drifted["dns-2"], out
    prod.as_token(APPLY)
    up(prod, "--refresh")
    assert_guarded(prod)


def _git(project: Any, *args: str) -> None:
    cmd = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "commit.gpgsign=false", *args]
    subprocess.run(cmd, cwd=project, check=True, capture_output=True, text=True)


def _answers_ssh(address: str, within_s: float = 60) -> str | None:
    give_up = time.monotonic() + within_s
    while (problem := ssh_banner(address, "")) and time.monotonic() < give_up:
        time.sleep(1)
    return problem


def test_a_node_lost_for_good_is_rebuilt_on_a_surviving_node_from_a_reviewed_plan(prod: ProdShape, capsys: Any) -> None:
    """docs/runbooks/lost-node.md, end to end: pve2 dies with dns-2; the stack file moves it to pve3
    and takes pve2 out of fabric:nodes; the PR's plan names the move; main's apply-plan rebuilds
    it with its guards."""
    prod.as_token(APPLY)
    kept = {n: v for n, v in macs(prod).items() if n != "dns-2"}
    prod.pve.call(lambda: prod.pve.pve.lose_node("pve2"))
    # Unchanged code while the node is down: every run stops, naming the node and what it held.
    with pytest.raises(InputError, match=r"pve2 .*dns-2 \(VMID 3102\).*lost-node.md"), preview_workspace(prod.ws):
        pass
    # The pull request: one line of the stack file.
    committed = prod.project / f"Pulumi.{STACK}.yaml"
    body = yaml.safe_load(committed.read_text())
    assert [n for n, c in body["config"]["fabric:containers"].items() if c["node"] == "pve2"] == ["dns-2"]
    body["config"]["fabric:containers"]["dns-2"]["node"] = "pve3"
    del body["config"]["fabric:nodes"]["pve2"]
    committed.write_text(yaml.safe_dump(body, sort_keys=False))
    (prod.project / ".gitignore").write_text(".state/\nplans/\n")
    _git(prod.project, "init", "-q", "-b", "main")
    _git(prod.project, "add", "-A")
    _git(prod.project, "commit", "-q", "-m", "dns-2: pve2 is lost, move it to pve3")
    prod.set_config("containers.dns-2.node", "pve3")  # the runner's working copy of the stack file
    prod.pulumi("config", "rm", "--path", "fabric:nodes.pve2")
    before = json.loads(prod.pulumi("stack", "export").stdout)
    plans = prod.project / "plans"
    prod.as_token(PREVIEW)  # the PR check's token: it reads, it cannot change anything
    assert run_action(prod.ws, "plan", argparse.Namespace(out=str(plans), plan=None, json=False)) == 0
    assert json.loads(prod.pulumi("stack", "export").stdout) == before, "a preview never changes the state"
    capsys.readouterr()
    gate = [str(plans / STACK / "preview.json"), "--stack-file", str(committed), "--project-dir", str(prod.project)]
    assert plan_summary_main([*gate, "--strict"]) == 0
    summary = capsys.readouterr().out
    assert "moves pve2 (lost) -> pve3; data: no data volume" in summary, summary
    # The operator removes the dead node from the cluster (PVE's side of the runbook), then merges.
    prod.pve.call(lambda: prod.pve.pve.remove_node("pve2"))
    prod.as_token(APPLY)
    assert run_action(prod.ws, "apply-plan", argparse.Namespace(out=None, plan=str(plans / STACK), json=False)) == 0
    out = capsys.readouterr().out
    assert "recovery: dns-2 (VMID 3102): moves pve2 -> pve3" in out, out
    assert prod.api.containers()[CONTAINERS["dns-2"]]["node"] == "pve3"
    assert_guarded(prod)
    assert {n: v for n, v in macs(prod).items() if n != "dns-2"} == kept, "nothing else was touched"
    assert _answers_ssh(subnet(81) + "12") is None, "dns-2 answers on its address"
    prod.pulumi("preview", "--expect-no-changes", "--refresh")


def test_destroy_releases_the_guards_and_removes_everything(prod: ProdShape) -> None:
    prod.pulumi("destroy", "--yes", "--skip-preview")
    assert not set(prod.api.containers()) & set(CONTAINERS.values())
    assert not ha_sids(prod) and not members(prod)
    assert not json.loads(prod.pulumi("stack", "export").stdout)["deployment"].get("resources")
