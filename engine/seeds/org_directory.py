"""Parser for the IESS Reglamento Orgánico Funcional: units, positions and missions."""

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class OrgUnit:
    """One Art. 8 unit: process code, name, parent, responsible position and Art. 10 mission."""

    code: str
    name: str
    parent_code: str | None
    responsible: str | None
    responsible_unit: str | None = None
    mission: str | None = None


@dataclass(frozen=True)
class OrgDirectoryParse:
    """Art. 8 units in source order plus bookkeeping on what was and was not placed."""

    units: tuple[OrgUnit, ...]
    responsible_lines: int
    group_responsible_lines: int
    duplicate_codes: tuple[str, ...]
    unplaced: tuple[str, ...]

    def by_code(self, code: str) -> OrgUnit:
        """The first unit with this code (Art. 8 repeats 5.4.1 after a 2019 reform)."""
        for unit in self.units:
            if unit.code == code:
                return unit
        raise KeyError(code)


_ARTICLE_RE = re.compile(r"^\s*Art[íi]culo\s+(\d+)\s*\.-")
# The second group repairs codes whose inner dot became a space in the PDF ("3.1 3.4.2").
_CODE_RE = re.compile(r"^\s*(\d+(?:\.\d+)*)\.?(?: (\d+(?:\.\d+)+)\.?)?\s+([A-ZÁÉÍÓÚÑ].*)$")
_RESPONSIBLE_RE = re.compile(r"^\s*Responsable(s?)\s*[:;]\s*(.*)$")
_NOTE_RE = re.compile(r"^\s*(NOTA\b|Modificación vigente)")
_PROVINCIAL_UNIT_RE = re.compile(r"^(.+?)\s+(Unidad Provincial\b.*)$")
_FEMININE_RE = re.compile(r"\s*\(\s*(a|as|o|os)\s*\)")

_HEADING10_RE = re.compile(
    r"^\s*[“\"]?(\d+(?:\.\d+)*)\.?\s+([A-ZÁÉÍÓÚÑ][A-ZÁÉÍÓÚÑÜ ,\-]{3,}?)\s*[”\"]?\.?\s*$"
)
_MISSION_RE = re.compile(r"^\s*MISI[OÓ]N\s*:\s*(.*)$", re.IGNORECASE)
_MISSION_END_RE = re.compile(r"^\s*(RESPONSABLES?|ATRIBUCIONES)\b", re.IGNORECASE)
# Running headers the PDF repeats on every page of Art. 10.
_PAGE_FURNITURE = frozenset(
    {
        "TEXTO HISTÓRICO",
        "ILUSTRATIVO PARA",
        "INVESTIGACIÓN JURÍDICA",
        "RESOLUCIONES COMPILADAS",
        "RS. C.D. 535 de 8 de septiembre de 2016.",
        "RS. C.D. 553 de 8 de junio de 2017; y,",
        "RS. C.D. 583 de 22 de mayo de 2019.",
    }
)
_STOPWORDS = frozenset({"de", "del", "la", "las", "los", "el", "y", "en", "al", "a"})


def normalise_position(title: str) -> str:
    """Canonical form of a position title: single spaces, `X(a)` suffixes, no final period."""
    text = _FEMININE_RE.sub(lambda m: f"({m.group(1)})", _collapse(title))
    return text.rstrip(" .;,")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _words(text: str) -> frozenset[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return frozenset(w for w in re.findall(r"[a-z]+", plain) if w not in _STOPWORDS)


def _article_span(lines: list[str], number: int) -> tuple[int, int]:
    start = end = None
    for i, line in enumerate(lines):
        m = _ARTICLE_RE.match(line)
        if not m:
            continue
        if int(m.group(1)) == number and start is None:
            start = i
        elif start is not None and int(m.group(1)) > number:
            end = i
            break
    if start is None:
        return 0, 0
    return start, end if end is not None else len(lines)


class _UnitDraft:
    def __init__(self, code: str, name: str) -> None:
        self.code = code
        self.name_parts = [name]
        # A list shared between drafts when one "Responsables:" line covers a group of units.
        self.responsible_parts: list[str] | None = None


def _parse_article_8(lines: list[str]) -> tuple[list[_UnitDraft], int, int, list[str]]:
    drafts: list[_UnitDraft] = []
    unplaced: list[str] = []
    singles = groups = 0
    target: list[str] | None = None  # where continuation lines go
    in_note = False
    for line in lines[1:]:
        text = _collapse(line)
        if not text:
            continue
        code_match = _CODE_RE.match(line)
        if code_match:
            head, tail, name = code_match.groups()
            draft = _UnitDraft(f"{head}.{tail}" if tail else head, _collapse(name))
            drafts.append(draft)
            target, in_note = draft.name_parts, False
            continue
        resp_match = _RESPONSIBLE_RE.match(line)
        if resp_match:
            in_note = False
            parts = [_collapse(resp_match.group(2))]
            if resp_match.group(1):
                groups += 1
                pending = []
                for draft in reversed(drafts):
                    if draft.responsible_parts is not None:
                        break
                    pending.append(draft)
                for draft in pending:
                    draft.responsible_parts = parts
                target = parts if pending else None
                if not pending:
                    unplaced.append(text)
            else:
                singles += 1
                if drafts and drafts[-1].responsible_parts is None:
                    drafts[-1].responsible_parts = parts
                    target = parts
                else:
                    unplaced.append(text)
                    target = None
            continue
        if _NOTE_RE.match(line):
            in_note, target = True, None
            continue
        if in_note or not drafts:
            continue  # editorial notes and the article's preamble carry no units
        if target is not None:
            target.append(text)
        else:
            unplaced.append(text)
    return drafts, singles, groups, unplaced


def _parse_missions(lines: list[str]) -> list[tuple[str, frozenset[str], str]]:
    """(code, heading words, mission) for every MISIÓN paragraph of Art. 10, in source order."""
    missions: list[tuple[str, frozenset[str], str]] = []
    heading: tuple[str, frozenset[str]] | None = None
    collecting: list[str] | None = None

    def flush() -> None:
        if heading is not None and collecting:
            missions.append((heading[0], heading[1], " ".join(collecting)))

    for line in lines:
        text = _collapse(line)
        if not text or text in _PAGE_FURNITURE:
            continue
        head_match = _HEADING10_RE.match(line)
        if head_match:
            flush()
            collecting = None
            heading = (head_match.group(1), _words(head_match.group(2)))
            continue
        mission_match = _MISSION_RE.match(line)
        if mission_match:
            flush()
            collecting = [mission_match.group(1).strip()] if mission_match.group(1).strip() else []
            continue
        if collecting is not None:
            if _MISSION_END_RE.match(line):
                flush()
                collecting = None
            else:
                collecting.append(text)
    flush()
    return missions


def _mission_for(
    code: str, name: str, missions: list[tuple[str, frozenset[str], str]]
) -> str | None:
    unit_words = _words(name)
    best: tuple[float, int] | None = None
    for index, (mission_code, heading_words, _) in enumerate(missions):
        if not heading_words or not unit_words:
            continue
        overlap = len(heading_words & unit_words) / min(len(heading_words), len(unit_words))
        same_code = mission_code == code
        # A matching code tolerates loose wording; otherwise the shorter name must be contained.
        if (same_code and overlap >= 0.75) or overlap == 1.0:
            # Later entries win ties because reforms restate a numeral after the original.
            score = (overlap + (1.0 if same_code else 0.0), index)
            if best is None or score >= best:
                best = score
    return missions[best[1]][2] if best else None


def parse_org_directory(text: str) -> OrgDirectoryParse:
    """Parse Art. 8 (units, positions) and Art. 10 (missions) of the organic regulation."""
    lines = text.splitlines()
    start8, end8 = _article_span(lines, 8)
    drafts, singles, groups, unplaced = _parse_article_8(lines[start8:end8])
    start10, end10 = _article_span(lines, 10)
    missions = _parse_missions(lines[start10:end10])

    units: list[OrgUnit] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for draft in drafts:
        name = " ".join(draft.name_parts)
        responsible = responsible_unit = None
        if draft.responsible_parts is not None:
            responsible = normalise_position(" ".join(draft.responsible_parts))
            # Provincial lines read "Coordinador(a) Provincial de X Unidad Provincial de X":
            # the position and, as its alternative, the smaller provinces' unit.
            split = _PROVINCIAL_UNIT_RE.match(responsible)
            if split:
                responsible, responsible_unit = split.group(1), split.group(2)
        if draft.code in seen:
            duplicates.append(draft.code)
        seen.add(draft.code)
        units.append(
            OrgUnit(
                code=draft.code,
                name=name,
                parent_code=draft.code.rsplit(".", 1)[0] if "." in draft.code else None,
                responsible=responsible,
                responsible_unit=responsible_unit,
                mission=_mission_for(draft.code, name, missions),
            )
        )
    return OrgDirectoryParse(
        units=tuple(units),
        responsible_lines=singles,
        group_responsible_lines=groups,
        duplicate_codes=tuple(duplicates),
        unplaced=tuple(unplaced),
    )
