"""Every string the interface shows has its English translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_every_interface_string_is_translated_to_english():
    method_map = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "N_": None}
    found = {message for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords) if isinstance(message, str)}
    with (ROOT / "web/translations/en/LC_MESSAGES/messages.po").open("rb") as source:
        catalog = read_po(source)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted(m for m in found if m and m not in translated)
    assert missing == []
    assert len(found) > 100


def test_every_form_field_and_choice_has_an_english_label():
    import json

    missing = []
    for schema_path in sorted((ROOT / "forms").glob("*.json")):
        if schema_path.name.endswith(".ui.json"):
            continue
        schema = json.loads(schema_path.read_text())
        ui = json.loads(schema_path.with_suffix(".ui.json").read_text())
        english = ui.get("en", {})
        if not english.get("title"):
            missing.append(f"{schema_path.name}: title")
        for name, prop in schema.get("properties", {}).items():
            entry = english.get("fields", {}).get(name, {})
            if not entry.get("title"):
                missing.append(f"{schema_path.name}: {name}")
            spanish_choices = ui.get("fields", {}).get(name, {}).get("choices", {})
            for value in spanish_choices:
                if value not in entry.get("choices", {}):
                    missing.append(f"{schema_path.name}: {name}={value}")
            for sub in prop.get("items", {}).get("properties", {}):
                if not entry.get("item_fields", {}).get(sub, {}).get("title"):
                    missing.append(f"{schema_path.name}: {name}/{sub}")
    assert missing == []
