"""The PR comment rendered from preview JSON recorded on the engine tier (``make record-fixtures``).

The fixture is the local fabric's image bump (dns-1 and dns-2 to debian12-base 1.1.0) with db-1
removed from the code, as ``pulumi preview --json`` printed it against the local Proxmox
(``tests/e2e/test_lifecycle.py``): every step, reason and dependency in it is the engine's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fabric.tokens import CONTAINER
from ops.stack.pr_comment import MASK, render

FIXTURE = Path(__file__).parent / "fixtures" / "preview-image-bump"
STACK_FILE = FIXTURE / "stack-shape.yaml"  # not Pulumi.e2e.yaml: .gitignore keeps stack files of e2e out


def recorded() -> dict[str, Any]:
    return dict(json.loads((FIXTURE / "preview.json").read_text()))


def rows(comment: str) -> dict[str, list[str]]:
    """The change table: resource name -> [resource, change, why, rollout]."""
    out = {}
    for line in comment.splitlines():
        if line.startswith("| ") and not line.startswith(("| resource", "| ---")):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0].split(" (")[0]] = cells
    return out


def test_every_replace_and_delete_is_listed_with_its_reason() -> None:
    comment = render("e2e", FIXTURE, STACK_FILE, environ={})
    table = rows(comment)
    destructive = {
        s["urn"].rsplit("::", 1)[-1]: s["op"]
        for s in recorded()["steps"]
        if s["op"] in ("replace", "create-replacement", "delete-replaced", "delete")
    }
    assert destructive, "the recording holds replaces and deletes"
    for name, op in destructive.items():
        assert name in table, f"{name} ({op}) is missing from the comment"
        change, why = table[name][1], table[name][2]
        assert change.startswith("replace" if op != "delete" else ("delete", "forget")), table[name]
        assert why not in ("", "-"), f"{name}: no reason given"
    # The reasons a reviewer reads: the image move for the containers, code removal for db-1.
    assert table["dns-1"][2] == table["dns-2"][2] == "image debian12-base@1.0.0 -> debian12-base@1.1.0"
    assert table["db-1"][1:3] == ["delete", "removed from code"]


def test_the_rollout_order_and_the_blast_radius_are_shown() -> None:
    comment = render("e2e", FIXTURE, STACK_FILE, environ={})
    table = rows(comment)
    assert table["dns-1"][3].startswith("dns 1/2")
    assert table["dns-2"][3].startswith("dns 2/2")
    assert "#### Blast radius" in comment


def test_the_diagram_draws_what_is_replaced_per_group_in_order() -> None:
    comment = render("e2e", FIXTURE, STACK_FILE, environ={})
    diagram = comment.split("```mermaid", 1)[1].split("```", 1)[0]
    assert 'subgraph n_g_dns["dns"]' in diagram
    assert 'n_dns_1["dns-1<br/>replace: debian12-base@1.0.0 → debian12-base@1.1.0"]' in diagram
    assert 'n_db_1["db-1<br/>delete: removed from code"]' in diagram
    touched = {
        s["urn"].rsplit("::", 1)[-1]
        for s in recorded()["steps"]
        if s["urn"].split("::")[-2].endswith(CONTAINER) and s["op"] != "same"
    }
    assert all(f'["{name}<br/>' in diagram for name in touched)


def test_secrets_in_the_recorded_preview_are_masked(tmp_path: Path) -> None:
    """A credential that reached the preview (a diagnostic quoting it) and this job's secret values
    never reach the public comment."""
    preview = recorded()
    token = "PVEAPIToken=ci@pve!fabric=0f3c5b7e-1111-2222-3333-444455556666"  # gitleaks:allow (made up)
    preview["diagnostics"] = [{"severity": "error", "message": f"login as {token} failed; passphrase hunter2-x9"}]
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "preview.json").write_text(json.dumps(preview))
    (plan / "meta.json").write_text((FIXTURE / "meta.json").read_text())
    comment = render("e2e", plan, STACK_FILE, environ={"PULUMI_CONFIG_PASSPHRASE": "hunter2-x9"})
    assert token not in comment and "0f3c5b7e" not in comment and "hunter2-x9" not in comment
    assert f"login as {MASK} failed; passphrase {MASK}" in comment
