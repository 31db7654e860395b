"""Differences between two versions of a procedure, element by element, in Spanish.

Elements are matched by BPMN id across every diagram of the version. For each one the diff
compares what an owner changes and a case feels: name, type, lane, conditions, timers, scripts,
forms (the reference and the form's content), called processes and decision tables; lanes
compare the tasks they hold. DMN decisions are compared rule by rule. Files are listed with
their status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from .library import FORM_PROPERTY
from .xmlsafe import UnsafeXml, parse_untrusted_xml

if TYPE_CHECKING:
    from .api import Engine
    from .views import PersonView

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_NAMESPACES = ("https://www.omg.org/spec/DMN/20191111/MODEL/",
                  "http://www.omg.org/spec/DMN/20180521/MODEL/",
                  "https://www.omg.org/spec/DMN/20230324/MODEL/")
# Containers and definitions that are not elements a person draws.
_SKIPPED = {"definitions", "laneSet", "childLaneSet", "collaboration", "extensionElements",
            "documentation", "incoming", "outgoing", "flowNodeRef", "conditionExpression",
            "script", "timeDate", "timeDuration", "timeCycle", "multiInstanceLoopCharacteristics",
            "standardLoopCharacteristics", "ioSpecification", "dataInput", "dataOutput",
            "inputSet", "outputSet", "dataInputAssociation", "dataOutputAssociation",
            "property", "text"}
FACETS = {
    "name": "Nombre", "type": "Tipo", "lane": "Carril", "condition": "Condición",
    "timer": "Temporizador", "script": "Script", "prescript": "Script previo",
    "postscript": "Script posterior", "form": "Formulario", "called": "Proceso llamado",
    "decision": "Tabla de decisión", "source": "Origen", "target": "Destino",
    "attached": "Adjunto a", "interrupting": "Interrumpe la tarea", "default": "Flujo por defecto",
    "properties": "Propiedades", "loop": "Repetición",
}


@dataclass(frozen=True)
class ElementChange:
    """An element added, removed or changed (with what changed, in Spanish)."""

    id: str
    type: str
    name: str | None
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcedureDiff:
    """Elements added, removed and changed between two versions, and the files' status."""

    added: tuple[ElementChange, ...] = ()
    removed: tuple[ElementChange, ...] = ()
    changed: tuple[ElementChange, ...] = ()
    files: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """Return the diff as the API shows it."""
        def element(e: ElementChange, with_changes: bool) -> dict[str, Any]:
            data: dict[str, Any] = {"id": e.id, "type": e.type, "name": e.name}
            if with_changes:
                data["changes"] = list(e.changes)
            return data
        return {"added": [element(e, False) for e in self.added],
                "removed": [element(e, False) for e in self.removed],
                "changed": [element(e, True) for e in self.changed],
                "files": [{"file": f, "status": s} for f, s in self.files]}


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _type_name(local: str) -> str:
    return f"bpmn:{local[:1].upper()}{local[1:]}"


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip() or None


def _facets(element: etree._Element, lane_of: Mapping[str, str], members: Mapping[str, list[str]],
            ) -> dict[str, Any]:
    local = _local(element.tag)
    facets: dict[str, Any] = {"name": element.get("name"), "type": _type_name(local)}
    element_id = element.get("id", "")
    if local == "lane":
        facets["members"] = sorted(members.get(element_id, []))
    elif element_id in lane_of:
        facets["lane"] = lane_of[element_id]
    facets["condition"] = _text(element.find(f"{{{BPMN}}}conditionExpression"))
    timers = []
    for definition in element.iterfind(f"{{{BPMN}}}timerEventDefinition"):
        for child in definition:
            if _local(child.tag) in ("timeDate", "timeDuration", "timeCycle"):
                timers.append(f"{_local(child.tag)}={_text(child)}")
    facets["timer"] = "; ".join(timers) or None
    facets["script"] = _text(element.find(f"{{{BPMN}}}script"))
    # Only the element's own extensions: a process's descendants carry theirs.
    own = element.find(f"{{{BPMN}}}extensionElements")
    if own is None:
        own = etree.Element("none")
    facets["prescript"] = _text(own.find(f".//{{{SPIFF}}}preScript"))
    facets["postscript"] = _text(own.find(f".//{{{SPIFF}}}postScript"))
    properties = {p.get("name"): p.get("value")
                  for p in own.iterfind(f".//{{{SPIFF}}}property")}
    facets["form"] = properties.pop(FORM_PROPERTY, None)
    facets["properties"] = json.dumps(properties, sort_keys=True) if properties else None
    facets["called"] = element.get("calledElement")
    facets["decision"] = _text(own.find(f".//{{{SPIFF}}}calledDecisionId"))
    facets["source"] = element.get("sourceRef")
    facets["target"] = element.get("targetRef")
    facets["attached"] = element.get("attachedToRef")
    facets["interrupting"] = element.get("cancelActivity")
    facets["default"] = element.get("default")
    loop = element.find(f"{{{BPMN}}}multiInstanceLoopCharacteristics")
    if loop is None:
        loop = element.find(f"{{{BPMN}}}standardLoopCharacteristics")
    facets["loop"] = etree.tostring(loop, encoding="unicode") if loop is not None else None
    return facets


def index_elements(bundle: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Return every drawn BPMN element of a bundle by id, with the facets the diff compares."""
    found: dict[str, dict[str, Any]] = {}
    for name in sorted(bundle):
        if not name.endswith(".bpmn"):
            continue
        try:
            root = parse_untrusted_xml(bundle[name].encode("utf-8")).getroot()
        except UnsafeXml:
            continue  # the check reports it; a diff shows what it can read
        lane_of: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        for lane in root.iter(f"{{{BPMN}}}lane"):
            for ref in lane.iterfind(f"{{{BPMN}}}flowNodeRef"):
                if ref.text:
                    lane_of[ref.text.strip()] = lane.get("id", "")
                    members.setdefault(lane.get("id", ""), []).append(ref.text.strip())
        for element in root.iter():
            local = _local(element.tag)
            if (not isinstance(element.tag, str) or etree.QName(element.tag).namespace != BPMN
                    or not element.get("id") or local in _SKIPPED
                    or local.endswith("EventDefinition")):
                continue
            found[element.get("id", "")] = {**_facets(element, lane_of, members), "file": name}
    return found


def _quote(value: Any) -> str:
    return "—" if value in (None, "", []) else f"«{value}»"


def _element_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                     changed_forms: set[str]) -> list[str]:
    changes = []
    for facet, label in FACETS.items():
        if old.get(facet) != new.get(facet):
            if facet in ("script", "prescript", "postscript", "loop"):
                changes.append(f"{label}: cambió el código")
            else:
                changes.append(f"{label}: {_quote(old.get(facet))} → {_quote(new.get(facet))}")
    if old.get("members") != new.get("members"):
        gained = sorted(set(new.get("members") or []) - set(old.get("members") or []))
        lost = sorted(set(old.get("members") or []) - set(new.get("members") or []))
        if gained:
            changes.append("El carril ahora contiene: " + ", ".join(gained))
        if lost:
            changes.append("El carril ya no contiene: " + ", ".join(lost))
    form = new.get("form")
    if form and form == old.get("form") and form in changed_forms:
        changes.append(f"Formulario: cambió el contenido de {form}")
    return changes


def decisions_of(bundle: Mapping[str, str]) -> list[dict[str, Any]]:
    """Return the DMN decisions of a bundle: id, name, file, inputs, outputs and rules."""
    found = []
    for name in sorted(bundle):
        if not name.endswith(".dmn"):
            continue
        try:
            root = parse_untrusted_xml(bundle[name].encode("utf-8")).getroot()
        except UnsafeXml:
            continue
        for decision in root.iter():
            if _local(decision.tag) != "decision":
                continue
            table = next((c for c in decision if _local(c.tag) == "decisionTable"), None)
            inputs, outputs, rules = [], [], []
            if table is not None:
                for child in table:
                    local = _local(child.tag)
                    if local == "input":
                        expression = next((e for e in child.iter()
                                           if _local(e.tag) == "text"), None)
                        inputs.append(f"{child.get('label') or child.get('id')}"
                                      f" ({_text(expression) or ''})")
                    elif local == "output":
                        outputs.append(child.get("label") or child.get("name") or "")
                    elif local == "rule":
                        rules.append([_text(e) or "-" for entry in child
                                      if _local(entry.tag) in ("inputEntry", "outputEntry")
                                      for e in entry if _local(e.tag) == "text"])
            found.append({"id": decision.get("id"), "name": decision.get("name"),
                          "file": name, "inputs": inputs, "outputs": outputs, "rules": rules,
                          "hit_policy": table.get("hitPolicy", "UNIQUE")
                          if table is not None else None})
    return found


def _decision_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    changes = []
    if old["name"] != new["name"]:
        changes.append(f"Nombre: {_quote(old['name'])} → {_quote(new['name'])}")
    if old["hit_policy"] != new["hit_policy"]:
        changes.append(f"Política de aciertos: {old['hit_policy']} → {new['hit_policy']}")
    if old["inputs"] != new["inputs"]:
        changes.append("Entradas: " + ", ".join(new["inputs"]))
    if old["outputs"] != new["outputs"]:
        changes.append("Salidas: " + ", ".join(new["outputs"]))
    for number in range(max(len(old["rules"]), len(new["rules"]))):
        before = old["rules"][number] if number < len(old["rules"]) else None
        after = new["rules"][number] if number < len(new["rules"]) else None
        if before == after:
            continue
        if before is None:
            changes.append(f"Regla {number + 1} añadida: {' | '.join(after or [])}")
        elif after is None:
            changes.append(f"Regla {number + 1} eliminada: {' | '.join(before)}")
        else:
            changes.append(f"Regla {number + 1}: {' | '.join(before)} → {' | '.join(after)}")
    return changes


def diff_bundles(old: Mapping[str, str], new: Mapping[str, str]) -> ProcedureDiff:
    """Compare two versions' files."""
    files = []
    for name in sorted(set(old) | set(new)):
        status = ("added" if name not in old else "removed" if name not in new
                  else "unchanged" if old[name] == new[name] else "changed")
        files.append((name, status))
    changed_forms = {name.removeprefix("forms/") for name, status in files
                     if status == "changed" and name.startswith("forms/")
                     and not name.endswith(".ui.json")}
    changed_forms |= {name.removeprefix("forms/").removesuffix(".ui.json") + ".json"
                      for name, status in files
                      if status == "changed" and name.endswith(".ui.json")}
    before, after = index_elements(old), index_elements(new)
    added = [ElementChange(i, after[i]["type"], after[i]["name"]) for i in after
             if i not in before]
    removed = [ElementChange(i, before[i]["type"], before[i]["name"]) for i in before
               if i not in after]
    changed = []
    for element_id in before:
        if element_id in after:
            changes = _element_changes(before[element_id], after[element_id], changed_forms)
            if changes:
                changed.append(ElementChange(element_id, after[element_id]["type"],
                                             after[element_id]["name"], tuple(changes)))
    old_decisions = {d["id"]: d for d in decisions_of(old)}
    new_decisions = {d["id"]: d for d in decisions_of(new)}
    for decision_id, decision in new_decisions.items():
        if decision_id not in old_decisions:
            added.append(ElementChange(decision_id, "dmn:Decision", decision["name"]))
        else:
            changes = _decision_changes(old_decisions[decision_id], decision)
            if changes:
                changed.append(ElementChange(decision_id, "dmn:Decision", decision["name"],
                                             tuple(changes)))
    removed.extend(ElementChange(i, "dmn:Decision", d["name"])
                   for i, d in old_decisions.items() if i not in new_decisions)
    return ProcedureDiff(tuple(added), tuple(removed), tuple(changed), tuple(files))


def diff_versions(engine: Engine, process_id: str, from_number: int, to_number: int | None, *,
                  by: PersonView | str) -> ProcedureDiff:
    """Compare version ``from_number`` with ``to_number`` (None: the draft, owners only)."""
    from .procedures import (
        bundle_from_files,
        current_definition,
        get_draft,
        procedure,
        version_definition,
    )

    procedure(engine, process_id, by)  # NotFound for an unknown procedure
    old = version_definition(engine, process_id, from_number).bundle
    if to_number is None:
        draft = get_draft(engine, process_id, by)
        base = current_definition(engine, process_id).bundle
        new = {k: v.decode("utf-8")
               for k, v in bundle_from_files(draft.files, base).items()
               if k in base or not k.startswith("forms/") or k[6:] in str(draft.files["bpmn"])}
    else:
        new = version_definition(engine, process_id, to_number).bundle
    return diff_bundles(old, new)
