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


def _fleet_plan(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """The recorded image bump grown to ``n`` replaced containers (each with its config run) in
    groups of ten: the recorded steps of dns-1, renamed, so each is still the engine's own shape."""
    preview = recorded()
    steps = preview["steps"]
    template = [s for s in steps if s["urn"].rsplit("::", 1)[-1] in ("dns-1", "dns-1-config")]
    grown = [s for s in steps if s["urn"].rsplit("::", 1)[-1] not in ("dns-1", "dns-1-config", "dns-2", "dns-2-config")]
    containers = {}
    for i in range(n):
        name = f"web-{i:04d}"
        grown += [json.loads(json.dumps(s).replace("dns-1", name)) for s in template]
        containers[name] = {"group": f"web{i // 10:03d}", "node": f"pve{i % 2 + 1}"}
    preview["steps"] = grown
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "preview.json").write_text(json.dumps(preview))
    (plan / "meta.json").write_text((FIXTURE / "meta.json").read_text())
    shape = tmp_path / "stack-shape.yaml"
    shape.write_text(json.dumps({"config": {"fabric:containers": containers}}))
    return plan, shape


def test_a_thousand_changes_stay_readable_counted_collapsed_and_within_githubs_limit(tmp_path: Path) -> None:
    plan, shape = _fleet_plan(tmp_path, 1000)
    comment = render("prod", plan, shape, environ={})
    assert len(comment) <= 65536, len(comment)  # GitHub refuses a longer comment body
    # Counted: every replace is in the counts, by kind, before any detail.
    assert "| replace | ContainerLegacy | 1000 |" in comment and "| replace | Command | 1000 |" in comment
    assert comment.index("changes, counted:") < comment.index("<details>")
    # Collapsed: the rows sit in one <details> block, destructive first, and what did not fit is counted.
    details = comment[comment.index("<details>") : comment.index("</details>")]
    shown = [ln for ln in details.splitlines() if ln.startswith("| web-")]
    assert 100 < len(shown) < 2000
    more = [ln for ln in details.splitlines() if ln.startswith("... and ")]
    assert len(more) == 1 and more[0].endswith("every change is in the saved plan (preview.json).")
    assert int(more[0].split()[2]) + len(shown) + _others(comment) == len(summary_rows(plan, shape))
    # Findings and the diagram are short: names capped, groups counted instead of 1000 boxes.
    blocked = [ln for ln in comment.splitlines() if ln.startswith("- **BLOCKED**")]
    assert blocked and all(len(ln) < 2000 for ln in blocked)
    assert any(" more" in ln for ln in blocked)
    assert "```mermaid" not in comment
    # The plan summary's own Markdown (plan_summary's CLI, the gate's output) is collapsed the same way.
    from ops.stack.blast_radius import shape_of
    from ops.stack.plan_summary import groups_of, summarize

    markdown = summarize(json.loads((plan / "preview.json").read_text()), groups_of(shape), shape_of(shape)).markdown()
    assert len(markdown) < 65536 and "<details>" in markdown and "| replace | ContainerLegacy | 1000 |" in markdown
    assert "1001 containers replaced or deleted (ungrouped 1, web000 10, web001 10," in comment  # db-1 too


def _others(comment: str) -> int:
    """Rows of the details table that are not a web container (the images, the removed db-1)."""
    details = comment[comment.index("<details>") : comment.index("</details>")]
    return sum(
        1 for ln in details.splitlines() if ln.startswith("| ") and not ln.startswith(("| web-", "| resource", "| ---"))
    )


def test_a_small_plan_keeps_the_plain_table_and_the_diagram() -> None:
    comment = render("e2e", FIXTURE, STACK_FILE, environ={})
    assert "<details>" not in comment and "```mermaid" in comment


def summary_rows(plan: Path, shape: Path) -> list[object]:
    """Every significant change of the plan, as the comment counts them."""
    from ops.stack.blast_radius import shape_of
    from ops.stack.plan_summary import groups_of, summarize

    summary = summarize(json.loads((plan / "preview.json").read_text()), groups_of(shape), shape_of(shape))
    return [c for c in summary.changes if c.op != "same"]
