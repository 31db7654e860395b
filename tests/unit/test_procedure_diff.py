"""Version diffs and the workshop's upload checks, on the real procedures' files (no database)."""

from __future__ import annotations

from pathlib import Path

from engine.library import ProcessLibrary
from engine.procedure_check import check_files, upload_problems, vet_code
from engine.procedure_diff import diff_bundles

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")


def test_a_changed_decision_rule_and_a_changed_timer_are_listed():
    old = LIBRARY.get("sla_followup").bundle
    new = dict(old)
    dmn = next(name for name in old if name.endswith("sla_compliance.dmn"))
    first_rule = new[dmn].index("<rule")
    text_at = new[dmn].index("<text>", first_rule) + len("<text>")
    end = new[dmn].index("</text>", text_at)
    new[dmn] = new[dmn][:text_at] + "&gt;= 99" + new[dmn][end:]
    diff = diff_bundles(old, new).to_json()
    decision = next(c for c in diff["changed"] if c["type"] == "dmn:Decision")
    assert any(change.startswith("Regla 1:") and ">= 99" in change
               for change in decision["changes"])
    assert {"file": dmn, "status": "changed"} in diff["files"]
    assert not diff["added"] and not diff["removed"]


def test_identical_versions_have_no_differences():
    bundle = LIBRARY.get("social_case").bundle
    diff = diff_bundles(bundle, dict(bundle))
    assert not diff.added and not diff.removed and not diff.changed
    assert {status for _name, status in diff.files} == {"unchanged"}


def test_uploads_with_unsafe_names_or_sizes_are_refused_before_parsing():
    problems = upload_problems({"../etc/passwd.bpmn": b"<x/>", "a.bpmn": b"x" * (3 << 20),
                                "notes.txt": b""})
    assert {p.file for p in problems} == {"../etc/passwd.bpmn", "a.bpmn", "notes.txt"}
    assert all(p.severity == "error" and p.message for p in problems)


def test_check_is_the_start_up_pipeline_and_reports_data():
    files = {name: text.encode() for name, text in LIBRARY.get("social_case").bundle.items()}
    assert check_files("social_case", files).ok
    files["social_case.bpmn"] = files["social_case.bpmn"].replace(
        b"<bpmn:script>retention_until", b"<bpmn:script>import os\nretention_until", 1)
    result = check_files("social_case", files)
    assert not result.ok
    problem = result.problems[0]
    assert problem.element_id == "calcular_conservacion" or problem.element_id
    assert "importar" in problem.message and problem.line


def test_the_sandbox_verdict_for_the_editor():
    assert vet_code("condition", "monto > 10") is None
    assert "importar" in (vet_code("script", "import os") or "")
