"""The whole lifecycle with the real engine and the stand-in providers against the local Proxmox,
on real LXC containers.

The tests run in file order and share one fabric: each starts from the state the previous
one left, as an operator's day would. Configuration reaches the containers over SSH with
pinned host keys; services are asked over the bridge from the host.
"""

from __future__ import annotations

import json
from pathlib import Path

from fabric.repo_checks import SECRET_VAR
from fabric.tokens import COMMAND, CONTAINER
from ops.stack import plan_summary
from ops.stack.blast_radius import OVERRIDE_LABEL, findings, shape_of
from ops.stack.cli import run_action
from ops.stack.drift import config_drift_check, drift_check, repair_config_drift
from ops.stack.plan_summary import summarize

from . import timeline
from .conftest import STACK, SUBNET, LocalFabric, read_secret_values, record_preview
from .probes import postgres_answers, resolve, resolver_serving

CONTAINERS = {"dns-1": 1101, "dns-2": 1102, "db-1": 1201}
NODES = {"dns-1": "pve1", "dns-2": "pve2", "db-1": "pve1"}
V1, V2 = "debian12-base_1.0.0_amd64.tar.zst", "debian12-base_1.1.0_amd64.tar.zst"
GROUPS = {"dns-1": "dns", "dns-2": "dns", "db-1": "database"}
ADDRESSES = {"dns-1": SUBNET + "11", "dns-2": SUBNET + "12", "db-1": SUBNET + "21"}
# db-1's data volume: on the local PVE's directory storage, owned by the reserved VMID 9000.
VOLUME = "local-data:9000/subvol-9000-db-1-pgdata.subvol"
ROW = "id=1 written before the image bump\n"
ROW_PATH = "/var/lib/postgresql/row"  # inside db-1, on its data volume
# The HA entries the e2e stack asks for (conftest): a replace must leave them as they were.
HA = {"ct:1101": ("ha-dns", "started", 1), "ct:1201": ("ha-db", "started", 2)}


def volume_dir(f: LocalFabric) -> Path:
    return Path(f.pve.call(lambda: f.pve.pve.volume_dir(VOLUME)))


def mp0(f: LocalFabric) -> str:
    return str(f.api.get("/nodes/pve1/lxc/1201/config").get("mp0", ""))


def ha_entries(f: LocalFabric) -> dict[str, tuple[str, str, int]]:
    """PVE's HA resources: sid -> (group, state, max_restart)."""
    entries = f.api.get("/cluster/ha/resources")
    return {e["sid"]: (e.get("group"), e["state"], int(e.get("max_restart", 1))) for e in entries}


def dns_up() -> dict[str, bool]:
    """The query loop's probe: does each resolver answer a DNS query from the host right now?"""
    return {name: resolver_serving(ADDRESSES[name]) for name in ("dns-1", "dns-2")}


def templates(f: LocalFabric, node: str) -> set[str]:
    return {
        c["volid"].rsplit("/", 1)[-1]
        for c in f.api.get(f"/nodes/{node}/storage/local/content")
        if c["content"] == "vztmpl"
    }


def running(f: LocalFabric) -> set[int]:
    """The containers LXC itself reports running."""
    assert f.pve.pve.lxc is not None
    return {vmid for vmid, state in f.pve.pve.lxc.states().items() if state == "RUNNING"}


def up(f: LocalFabric, *extra: str) -> None:
    f.pulumi("up", "--yes", "--skip-preview", *extra)


def test_up_from_empty_creates_every_container_as_intended(fabric: LocalFabric) -> None:
    preview = fabric.preview_json()
    creates = {s["urn"].rsplit("::", 1)[-1] for s in preview["steps"] if s["op"] == "create"}
    assert set(CONTAINERS) <= creates
    # `make up`'s own action (a preview from refreshed state, then an up from refreshed state).
    assert run_action(fabric.ws, "up") == 0
    cts = fabric.api.containers()
    assert set(cts) == set(CONTAINERS.values())
    for name, vmid in CONTAINERS.items():
        node, cfg = cts[vmid]["node"], cts[vmid]["config"]
        assert node == NODES[name]
        assert cfg["hostname"] == name
        assert int(cfg["unprivileged"]) == 1
        assert f"ip={ADDRESSES[name]}/24" in cfg["net0"]
        assert f"gw={SUBNET}1" in cfg["net0"]
    db = cts[1201]["config"]
    assert int(db["memory"]) == 1024 and int(db["cores"]) == 2 and int(db["swap"]) == 256
    assert "size=8G" in db["rootfs"]
    assert set(db["tags"].split(";")) == {"local", "database"}
    assert V1 in templates(fabric, "pve1") and V1 in templates(fabric, "pve2")
    # db-1 mounts its data volume by id: a volume it does not own, backed up with it.
    assert mp0(fabric).split(",")[0] == VOLUME and "mp=/var/lib/postgresql" in mp0(fabric) and "backup=1" in mp0(fabric)
    volumes = fabric.api.get("/nodes/pve1/storage/local-data/content", vmid=9000)
    assert [v["volid"] for v in volumes] == [VOLUME]
    assert ha_entries(fabric) == HA
    # Real containers: LXC runs them, with the settings the API holds.
    assert running(fabric) == set(CONTAINERS.values())
    for name, vmid in CONTAINERS.items():
        assert fabric.image_of(vmid) == "debian12-base@1.0.0"
        assert fabric.attach(vmid, "hostname").stdout.strip() == name
        assert f"{ADDRESSES[name]}/24" in fabric.attach(vmid, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    lxc = fabric.pve.pve.lxc
    assert lxc is not None
    assert "lxc.idmap = u 0 100000 65536" in (lxc.ct_dir(1201) / "config").read_text()
    assert fabric.cgroup(1201, "memory.limit_in_bytes") == str(1024 << 20)
    # The config policies ran the real playbooks over SSH: the admin user exists, root login is closed.
    for vmid in CONTAINERS.values():
        assert fabric.attach(vmid, "id", "-u", "samakia").returncode == 0
        assert "permitrootlogin no" in fabric.attach(vmid, "sshd", "-T").stdout.lower()


def test_host_keys_are_pinned_from_first_contact(fabric: LocalFabric) -> None:
    lxc = fabric.pve.pve.lxc
    assert lxc is not None
    for name, vmid in CONTAINERS.items():
        pinned = (fabric.project / ".state" / "known_hosts" / name).read_text()
        trusted = {line.split()[1] for line in lxc.host_keys_file(vmid).read_text().splitlines()}
        recorded = {line.split()[2] for line in pinned.splitlines() if line and not line.startswith("#")}
        # What the container presented at first contact is what the node generated at create.
        assert recorded and recorded <= trusted, name


def listening(f: LocalFabric, vmid: int, port: int) -> set[str]:
    """The local addresses a container's sockets listen on for ``port`` (``ss`` inside it)."""
    found = set()
    for line in f.attach(vmid, "ss", "-Hlntu").stdout.splitlines():
        address, _, bound = line.split()[4].rpartition(":")
        if bound == str(port):
            found.add(address.strip("[]").split("%")[0])
    return found


def test_services_answer_over_the_bridge(fabric: LocalFabric) -> None:
    for name in ("dns-1", "dns-2"):
        assert resolve(ADDRESSES[name], "localhost.") == "127.0.0.1", name
        # Each listens on loopback and its container's own address only, never on every address.
        bound = listening(fabric, CONTAINERS[name], 53)
        assert ADDRESSES[name] in bound and bound <= {"127.0.0.1", "::1", ADDRESSES[name]}, (name, bound)
    assert postgres_answers(ADDRESSES["db-1"])
    bound = listening(fabric, 1201, 5432)
    assert ADDRESSES["db-1"] in bound and bound <= {"127.0.0.1", "::1", ADDRESSES["db-1"]}, bound


def test_second_preview_shows_no_changes(fabric: LocalFabric) -> None:
    fabric.pulumi("preview", "--expect-no-changes")


def _bump(fabric: LocalFabric, version: str, old: str, new: str, record: str = "") -> None:
    """Move every container to another image: the dns group rolls, db-1 keeps its data volume."""
    fabric.set_config("images.base", f"debian12-base@{version}")
    fabric.set_config("images.db", f"debian12-base@{version}")
    if record:  # `make record-fixtures`: the PR comment's fixture is this bump, with db-1 also removed
        record_preview(fabric, record, drop=("db-1",))
    preview = fabric.preview_json()
    stack_file = fabric.project / f"Pulumi.{STACK}.yaml"
    summary = summarize(preview, GROUPS, shape_of(stack_file))
    assert summary.replaced == ["db-1", "dns-1", "dns-2"], summary.markdown()
    for change in summary.changes:
        if change.type == CONTAINER:
            assert change.image_change == (old, new), summary.markdown()
    policies = {c.name for c in summary.changes if c.type == COMMAND and c.op == "replace"}
    assert {"dns-1-config", "dns-2-config", "db-1-config"} <= policies, summary.markdown()
    assert "db-1-pgdata" not in policies, "a container's replace never touches its data volume"
    # The plan rolls the dns group (the engine's own preview shows dns-2 waiting for dns-1)...
    assert summary.rollout["dns-2"] == "dns 2/2 after dns-1", summary.markdown()
    # ...but it still takes down every container of the stack: the PR gate blocks it, the label passes it.
    assert [f.rule for f in summary.findings] == ["whole-stack"], summary.markdown()
    saved = fabric.project / "preview.json"
    saved.write_text(json.dumps(preview))
    # The gate validates the stack file against its project (the copy this tier runs in), as CI does.
    gate = [str(saved), "--stack-file", str(stack_file), "--project-dir", str(fabric.project), "--strict"]
    assert plan_summary.main(gate) == 1
    assert plan_summary.main([*gate, "--labels", OVERRIDE_LABEL]) == 0
    mark = len(fabric.pve.pve.events)
    with timeline.record(dns_up) as seen:
        up(fabric)
    # The query loop (DNS queries from the host) never found both resolvers silent; each was silent
    # once, and dns-2 only after dns-1 answered again.
    assert seen.samples and seen.all_down_at() == [], seen.transitions()
    assert seen.outages("dns-1") == 1 and seen.outages("dns-2") == 1, seen.transitions()
    first_back, second_down = seen.last_down("dns-1"), seen.first_down("dns-2")
    assert first_back is not None and second_down is not None and first_back < second_down, seen.transitions()
    # The local PVE's event log: one resolver absent at a time.
    events = [(e["event"], e["vmid"]) for e in fabric.pve.pve.events[mark:] if e["vmid"] in (1101, 1102)]
    assert events == [("destroyed", 1101), ("started", 1101), ("destroyed", 1102), ("started", 1102)], events
    # Both replaced resolvers answer.
    for name in ("dns-1", "dns-2"):
        assert resolve(ADDRESSES[name], "localhost.") == "127.0.0.1", name
    # db-1 was replaced and mounts the same volume: the new container reads the data written
    # inside the old one, and postgres (its cluster on that volume) answers again.
    assert mp0(fabric).split(",")[0] == VOLUME
    assert fabric.attach(1201, "cat", ROW_PATH).stdout == ROW
    assert postgres_answers(ADDRESSES["db-1"])
    # HA after the replace: PVE refuses to delete an HA resource's container, so the release step
    # removed each entry before its container went; the new containers are under HA again, in the
    # same group and state.
    assert ha_entries(fabric) == HA


def test_data_on_the_volume_is_written_before_the_bump(fabric: LocalFabric) -> None:
    # Written inside the running container, on the path its data volume is mounted at; the node
    # keeps it in the volume's directory, not in the container's root.
    fabric.attach(1201, "sh", "-c", f"echo '{ROW.strip()}' > {ROW_PATH}")
    assert (volume_dir(fabric) / "row").read_text() == ROW


def test_image_bump_replaces_exactly_the_containers_using_it(fabric: LocalFabric) -> None:
    _bump(fabric, "1.1.0", "debian12-base@1.0.0", "debian12-base@1.1.0", record="preview-image-bump")
    assert fabric.image_of(1101) == "debian12-base@1.1.0"
    assert fabric.image_of(1102) == "debian12-base@1.1.0"
    assert fabric.image_of(1201) == "debian12-base@1.1.0"
    # The old template is retained on storage: rollback needs it.
    assert {V1, V2} <= templates(fabric, "pve1")
    fabric.pulumi("preview", "--expect-no-changes")


def test_rollback_restores_the_previous_image(fabric: LocalFabric) -> None:
    _bump(fabric, "1.0.0", "debian12-base@1.1.0", "debian12-base@1.0.0")
    assert fabric.image_of(1101) == "debian12-base@1.0.0"
    assert fabric.image_of(1201) == "debian12-base@1.0.0"
    assert fabric.attach(1201, "cat", ROW_PATH).stdout == ROW
    # The replaced resolver was configured again: it answers.
    assert resolve(ADDRESSES["dns-1"], "localhost.") == "127.0.0.1"
    fabric.pulumi("preview", "--expect-no-changes")


def test_removing_a_data_volume_from_code_is_flagged_by_the_gate(fabric: LocalFabric) -> None:
    # Renaming the volume in code removes the old one (a new, empty one would take its place).
    fabric.set_config("containers.db-1.mountPoints[0].name", "pgdata2")
    try:
        preview = fabric.preview_json()
    finally:
        fabric.set_config("containers.db-1.mountPoints[0].name", "pgdata")
    found = {f.rule: f.resources for f in findings(preview, shape_of(fabric.project / f"Pulumi.{STACK}.yaml"))}
    assert found.get("data-volume-delete") == ("db-1-pgdata",), found
    fabric.pulumi("preview", "--expect-no-changes")


def test_configuration_drift_is_detected_and_repaired_from_git(fabric: LocalFabric, capsys) -> None:  # type: ignore[no-untyped-def]
    # An SSH hotfix made by hand inside the container.
    fabric.attach(1201, "sh", "-c", "echo 'PasswordAuthentication yes' >> /etc/ssh/sshd_config")
    capsys.readouterr()
    assert config_drift_check(fabric.ws, only=["db-1-config"]) == 1
    report = capsys.readouterr().out
    assert "DRIFT: db-1-config: ssh_hardening" in report, report
    # Resolution: the documented repair re-applies exactly the drifted policy from Git, nothing else.
    before = command_ids(fabric)
    assert repair_config_drift(fabric.ws, only=["db-1-config", "dns-1-config"]) == 0
    assert "PasswordAuthentication yes" not in fabric.attach(1201, "cat", "/etc/ssh/sshd_config").stdout
    after = command_ids(fabric)
    assert after["db-1-config"] != before["db-1-config"]  # re-run
    assert after["dns-1-config"] == before["dns-1-config"]  # clean, so untouched
    assert config_drift_check(fabric.ws, only=["db-1-config"]) == 0


def command_ids(f: LocalFabric) -> dict[str, str]:
    state = json.loads(f.pulumi("stack", "export").stdout)
    return {r["urn"].rsplit("::", 1)[-1]: r["id"] for r in state["deployment"]["resources"] if r["type"] == COMMAND}


def test_drift_is_detected_and_named(fabric: LocalFabric, capsys) -> None:  # type: ignore[no-untyped-def]
    fabric.api.put("/nodes/pve1/lxc/1101/config", memory=2048)
    # Behind the API's back, on the node: one container stopped, one destroyed, with LXC's tools.
    fabric.lxc("lxc-stop", "--kill", vmid=1201)
    fabric.lxc("lxc-stop", "--kill", vmid=1102)
    fabric.lxc("lxc-destroy", vmid=1102)
    # The API reports what is real: one stopped, one gone.
    assert 1102 not in fabric.api.containers()
    assert fabric.api.get("/nodes/pve1/lxc/1201/status/current")["status"] == "stopped"
    capsys.readouterr()
    assert drift_check(fabric.ws) == 1  # drift, not "could not run" (2)
    report = capsys.readouterr().out
    assert "dns-1" in report and "dns-2" in report and "db-1" in report


def test_failed_create_task_leaves_no_phantom_and_next_up_converges(fabric: LocalFabric) -> None:
    # The drift above is reconciled through a failed create first: re-creating dns-2 (destroyed
    # behind the API's back) ends in TASK ERROR (fakepve's catalogue of real PVE errors).
    fail = fabric.pve.pve.fail
    fabric.pve.call(lambda: fail("POST", "/nodes/pve2/lxc", error="found_lock_trying_remove_lock", times=1))
    failed = fabric.pulumi("up", "--yes", "--skip-preview", "--refresh", check=False)
    assert failed.returncode != 0
    assert "TASK ERROR" in failed.stdout + failed.stderr or "lock" in failed.stdout + failed.stderr
    state = json.loads(fabric.pulumi("stack", "export").stdout)
    resources = state["deployment"].get("resources", [])
    dns2 = [r for r in resources if r["urn"].endswith("::dns-2") and r["type"] == CONTAINER]
    assert dns2 == [], "a failed create leaves no container in the state"
    assert 1102 not in fabric.api.containers()
    # The next up converges: every drift reconciled.
    up(fabric, "--refresh")
    cts = fabric.api.containers()
    assert int(cts[1101]["config"]["memory"]) == 512
    assert fabric.cgroup(1101, "memory.limit_in_bytes") == str(512 << 20)
    assert 1102 in cts
    assert running(fabric) == set(CONTAINERS.values())
    # The re-created resolver was configured again (new instance, new host key pinned): it answers.
    assert resolve(ADDRESSES["dns-2"], "localhost.") == "127.0.0.1"
    assert postgres_answers(ADDRESSES["db-1"])
    assert drift_check(fabric.ws) == 0
    fabric.pulumi("preview", "--expect-no-changes", "--refresh")


def test_locked_container_fails_clearly_then_converges(fabric: LocalFabric) -> None:
    fabric.pve.call(lambda: fabric.pve.pve.snapshot_lock(1201, lock="backup"))
    fabric.set_config("containers.db-1.memoryMb", "1536")
    failed = fabric.pulumi("up", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0
    assert "locked" in failed.stdout + failed.stderr
    fabric.pve.call(lambda: fabric.pve.pve.unlock(1201))
    # As upstream (terraform-plugin-sdk Resource.Apply + the bridge's Update): the rejected update
    # recorded the planned memory, so a plain `up` sees nothing to do and PVE keeps the old value...
    up(fabric)
    assert int(fabric.api.containers()[1201]["config"]["memory"]) == 1024
    # ...and a refresh reads the real value back, so `up --refresh` converges.
    up(fabric, "--refresh")
    assert int(fabric.api.containers()[1201]["config"]["memory"]) == 1536
    assert fabric.cgroup(1201, "memory.limit_in_bytes") == str(1536 << 20)  # running, after upstream's reboot
    fabric.pulumi("preview", "--expect-no-changes", "--refresh")


def test_no_credential_in_state_even_decrypted_nor_in_logs(fabric: LocalFabric) -> None:
    # --show-secrets decrypts everything, as anyone holding the state passphrase (a PR job) could.
    exported = fabric.pulumi("stack", "export", "--show-secrets").stdout
    state = json.loads(exported)
    provider = [r for r in state["deployment"]["resources"] if r["type"] == "pulumi:providers:proxmoxve"]
    assert provider and provider[0]["inputs"]["endpoint"].startswith("https://")
    assert not {"password", "apiToken"} & set(provider[0]["inputs"])  # read from the environment instead
    text = exported + "".join(fabric.logs)
    for value in read_secret_values(fabric.project):
        assert value not in text
    assert "PRIVATE KEY" not in text
    # What a policy hands Ansible sits in state as the command's stdin, in plaintext: the
    # validation refuses credential-like variables, so none is there (fabric.repo_checks).
    requests = [
        json.loads(r["inputs"]["stdin"])
        for r in json.loads(exported)["deployment"]["resources"]
        if r.get("type") == COMMAND and isinstance((r.get("inputs") or {}).get("stdin"), str)
    ]
    # Health checks and data-volume runs also take stdin; only a policy's request carries vars.
    policies = [request for request in requests if "vars" in request]
    assert policies, "the local stack applies config policies"
    for request in policies:
        assert not [k for k in request["vars"] if SECRET_VAR.search(k)], request["vars"]


def test_destroy_removes_containers_and_keeps_templates(fabric: LocalFabric) -> None:
    fabric.pulumi("destroy", "--yes")
    assert fabric.api.containers() == {}
    assert running(fabric) == set()
    assert {V1, V2} <= templates(fabric, "pve1")
    assert V1 in templates(fabric, "pve2")


def test_state_dir_is_outside_git(fabric: LocalFabric) -> None:
    assert (fabric.project / ".state" / "pulumi").is_dir()
    assert Path(".state/").as_posix() in (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
