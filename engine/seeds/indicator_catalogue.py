"""Parser for the IESS 2025 Gobierno por Resultados sheets: per-unit indicators and targets."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

Behaviour = Literal["Continuo", "Discreto"]
TargetKind = Literal["por período", "acumulado"]
Periodicity = Literal["monthly", "quarterly", "four-monthly", "half-yearly", "yearly"]


@dataclass(frozen=True)
class Target:
    """The 2025 target for one period; value is None when the sheet gives none."""

    period: str
    value: Decimal | None


@dataclass(frozen=True)
class Indicator:
    """One indicator with its 2025 targets, as listed under a unit objective."""

    number: str
    code: str | None
    name: str
    behaviour: Behaviour | None
    target_kind: TargetKind | None
    periodicity: Periodicity | None
    targets: tuple[Target, ...]
    objective: str | None
    targets_open: bool = False
    surplus_values: tuple[Decimal, ...] = ()


@dataclass(frozen=True)
class Objective:
    """A unit objective (`Objetivo N. ...`)."""

    number: str
    text: str


@dataclass(frozen=True)
class Strategy:
    """A strategy listed under an objective."""

    number: str | None
    text: str
    objective: str | None


@dataclass(frozen=True)
class Risk:
    """A risk with its rating (`Calificación`), listed under an objective."""

    number: str | None
    text: str
    rating: int | None
    objective: str | None


@dataclass(frozen=True)
class Project:
    """A project row; `organization` is set only for aligned matrix projects."""

    code: str | None
    name: str
    budget: Decimal | None
    phase: str | None
    end_date: date | None
    organization: str | None = None


@dataclass(frozen=True)
class IndicatorUnit:
    """Everything the sheets hold for one unit, merged over all its headings."""

    name: str
    path: tuple[str, ...]
    headings: int
    attributions: tuple[str, ...]
    objectives: tuple[Objective, ...]
    indicators: tuple[Indicator, ...]
    strategies: tuple[Strategy, ...]
    risks: tuple[Risk, ...]
    projects: tuple[Project, ...]


@dataclass(frozen=True)
class IndicatorCatalogueParse:
    """Units in first-appearance order, the institution-wide preamble, and unplaced lines."""

    institution: IndicatorUnit | None
    units: tuple[IndicatorUnit, ...]
    headings: int
    target_blocks: int
    unplaced: tuple[str, ...]

    def unit(self, name: str) -> IndicatorUnit:
        """The first unit whose heading path ends with `name` (provincial names repeat)."""
        for unit in self.units:
            if unit.name == name:
                return unit
        raise KeyError(name)


_INSTITUTION = "Instituto Ecuatoriano de Seguridad Social"
_MONTHS = ("Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic")
_MONTH_GROUP = "|".join(_MONTHS)
_LABEL_RE = re.compile(rf"^({_MONTH_GROUP})(?:\s*-\s*({_MONTH_GROUP}))?$")
_VALUE_RE = re.compile(r"^-?(?:\d[\d,]*\.?\d*|\.\d+)$")
_DIGITS_RE = re.compile(r"^\d+$")
_TAG_RE = re.compile(r"</?[a-z]+>")
_INDICATOR_RE = re.compile(r"^(\d+\.\d+)\.\s*(.+)$")
_CODE_DASHED_RE = re.compile(r"^((?:[A-Z]+-)+\d+)\s*-\s*(.+)$")
_CODE_SHORT_RE = re.compile(r"^([A-Z]+\d+)\s+(.+)$")
_OBJECTIVE_RE = re.compile(r"^Objetivo\s+(\d+)\.\s*(.*)$")
_METAS_RE = re.compile(r"Metas \((Por Período|Acumulado)\)")
_NUMBERED_RE = re.compile(r"^(?:-\s*)?(?:(\d+(?:\.\d+)*)\.\s+)?(.+)$")
_RISK_RE = re.compile(r"^(?:-\s*)?(\d+)\.\s+(.+)$")
_PROJECT_CODE_RE = re.compile(r"^((?:[A-Z][A-Z0-9-]*\s+)?[CI]\d{3})\s+(.+)$")
_SEPARATOR_RE = re.compile(r"^-+$")
_BEHAVIOURS: dict[str, Behaviour] = {"Continuo": "Continuo", "Discreto": "Discreto"}
_KINDS: dict[str, TargetKind] = {"Por Período": "por período", "Acumulado": "acumulado"}
_PERIODICITY_BY_SPAN: dict[int, Periodicity] = {
    1: "monthly",
    3: "quarterly",
    4: "four-monthly",
    6: "half-yearly",
    12: "yearly",
}
_PROSE_HEADINGS = frozenset({"Visión", "Misión"})
_TABLE_HEADERS = frozenset({"Proyecto", "Organización"})
_EMPTY_MARKER = "No hay información capturada"
_OPEN_TARGETS_MARKER = "Metas Sin Cerrar"


def _cells(line: str) -> list[str]:
    return [cell for raw in line.split("\t") if (cell := _TAG_RE.sub("", raw).strip())]


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(" ", "").replace(",", ""))
    except InvalidOperation:
        return None


def _periodicity(labels: list[str]) -> Periodicity | None:
    spans: set[int] = set()
    for label in labels:
        start, _, end = label.partition("-")
        spans.add(_MONTHS.index(end or start) - _MONTHS.index(start) + 1)
    return _PERIODICITY_BY_SPAN.get(spans.pop()) if len(spans) == 1 else None


@dataclass
class _TargetDraft:
    kind: TargetKind | None
    unclosed: bool
    labels: list[str] = field(default_factory=list)
    value_rows: list[list[str]] = field(default_factory=list)


@dataclass
class _IndicatorDraft:
    number: str
    code: str | None
    name: str
    behaviour: Behaviour | None
    objective: str | None
    targets: _TargetDraft | None = None

    def build(self) -> Indicator:
        block = self.targets or _TargetDraft(None, False)
        values = [_decimal(cell) for row in block.value_rows for cell in row]
        # Labels and values pair up in reading order whatever the row layout was.
        targets = tuple(
            Target(label, values[i] if i < len(values) else None)
            for i, label in enumerate(block.labels)
        )
        return Indicator(
            number=self.number,
            code=self.code,
            name=self.name,
            behaviour=self.behaviour,
            target_kind=block.kind,
            periodicity=_periodicity(block.labels),
            targets=targets,
            objective=self.objective,
            targets_open=block.unclosed,
            surplus_values=tuple(v for v in values[len(block.labels) :] if v is not None),
        )


@dataclass
class _UnitDraft:
    path: tuple[str, ...]
    headings: int = 0
    attributions: list[str] = field(default_factory=list)
    objectives: list[Objective] = field(default_factory=list)
    indicators: list[_IndicatorDraft] = field(default_factory=list)
    strategies: list[Strategy] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)

    def build(self) -> IndicatorUnit:
        return IndicatorUnit(
            name=self.path[-1] if self.path else _INSTITUTION,
            path=self.path,
            headings=self.headings,
            attributions=tuple(self.attributions),
            objectives=tuple(self.objectives),
            indicators=tuple(ind.build() for ind in self.indicators),
            strategies=tuple(self.strategies),
            risks=tuple(self.risks),
            projects=tuple(self.projects),
        )


def _heading_path(heading: str) -> tuple[str, ...]:
    parts = [part.strip(" *") for part in heading.strip(" *").split(">")]
    # The year prefixes the first unit only in some headings; it is not part of the name.
    units = [re.sub(r"^2025\s+", "", part) for part in parts[1:]]
    return tuple(part for part in units if part)


def _split_blocks(lines: list[str]) -> list[tuple[str, list[tuple[int, str]]]]:
    """(heading, numbered body lines) for the institution preamble and every unit heading."""
    blocks: list[tuple[str, list[tuple[int, str]]]] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("*") and _INSTITUTION in stripped:
            blocks.append((stripped, []))
        elif stripped.startswith(">") and blocks and not blocks[-1][1]:
            # A long heading wrapped onto the next line.
            blocks[-1] = (f"{blocks[-1][0]} {stripped}", blocks[-1][1])
        elif blocks:
            blocks[-1][1].append((number, line))
    return blocks


class _BlockParser:
    """Walks one unit block line by line, keeping track of the current section."""

    def __init__(self, unit: _UnitDraft, unplaced: list[str]) -> None:
        self.unit = unit
        self.unplaced = unplaced
        self.section = ""
        self.objective: str | None = None
        self.indicator: _IndicatorDraft | None = None
        self.targets: _TargetDraft | None = None
        self.inline_kind: tuple[TargetKind, bool] | None = None
        self.target_blocks = 0

    def reject(self, number: int, text: str) -> None:
        self.unplaced.append(f"line {number}: {text}")

    def feed(self, number: int, line: str) -> None:
        cells = _cells(line)
        if not cells:
            return
        first, text = cells[0], " ".join(cells)
        metas = _METAS_RE.search(text)
        if metas and first != "Indicador":
            self.start_targets(number, text, _KINDS[metas.group(1)])
        elif first == "Indicador":
            self.section, self.targets, self.inline_kind = "indicators", None, None
            if metas:
                # A one-table layout puts the targets header in the indicator header row.
                self.target_blocks += 1
                self.inline_kind = (_KINDS[metas.group(1)], _OPEN_TARGETS_MARKER in text)
        elif self.section_header(first, text):
            self.targets = None
        elif first == _EMPTY_MARKER or first.startswith("Nota:") or _SEPARATOR_RE.match(first):
            pass
        elif _OPEN_TARGETS_MARKER in text and self.targets is not None:
            self.targets.unclosed = True
        elif first in _BEHAVIOURS and len(cells) == 1:
            if self.indicator is not None and self.indicator.behaviour is None:
                self.indicator.behaviour = _BEHAVIOURS[first]
            else:
                self.reject(number, text)
        elif self.section == "indicators":
            self.indicator_line(number, cells, text)
        elif self.section == "attributions":
            self.unit.attributions.append(re.sub(r"^-\s*", "", text))
        elif self.section == "objective":
            self.extend_objective(text)
        elif self.section == "strategies":
            m = _NUMBERED_RE.match(text)
            assert m is not None  # the pattern accepts any non-empty text
            self.unit.strategies.append(Strategy(m.group(1), m.group(2), self.objective))
        elif self.section == "risks":
            self.risk_line(number, cells, text)
        elif self.section in ("projects", "matrix"):
            self.project_line(number, cells)
        elif self.section != "prose":
            self.reject(number, text)

    def section_header(self, first: str, text: str) -> bool:
        objective = _OBJECTIVE_RE.match(text)
        if objective:
            self.objective = objective.group(1)
            self.unit.objectives.append(Objective(objective.group(1), objective.group(2)))
            self.section = "objective"
        elif first == "Atribuciones":
            self.section = "attributions"
        elif first in _PROSE_HEADINGS:
            self.section = "prose"
        elif first == "Estrategia":
            self.section = "strategies"
        elif first.startswith("Riesgos"):
            self.section = "risks"
        elif first.startswith("Proyectos matriciales"):
            self.section = "matrix"
        elif first.startswith("Proyectos"):
            self.section = "projects"
        elif first in _TABLE_HEADERS and self.section in ("projects", "matrix"):
            pass
        else:
            return False
        return True

    def extend_objective(self, text: str) -> None:
        last = self.unit.objectives[-1]
        self.unit.objectives[-1] = replace(last, text=f"{last.text} {text}")

    def start_targets(self, number: int, text: str, kind: TargetKind) -> None:
        self.target_blocks += 1
        block = _TargetDraft(kind, _OPEN_TARGETS_MARKER in text)
        if self.indicator is None or self.indicator.targets is not None:
            self.reject(number, text)
            # Its rows still go to the orphan block so the header alone reports the problem.
            self.targets = block
            return
        self.targets = self.indicator.targets = block

    def indicator_line(self, number: int, cells: list[str], text: str) -> None:
        m = _INDICATOR_RE.match(cells[0])
        if m:
            self.new_indicator(m.group(1), m.group(2), cells[1:])
        elif self.targets is not None and self.target_row(cells):
            pass
        else:
            self.reject(number, text)

    def new_indicator(self, number: str, title: str, rest: list[str]) -> None:
        code: str | None = None
        name = title
        for pattern in (_CODE_DASHED_RE, _CODE_SHORT_RE):
            m = pattern.match(title)
            if m:
                code, name = m.group(1), m.group(2).strip()
                break
        behaviour = next((_BEHAVIOURS[c] for c in rest if c in _BEHAVIOURS), None)
        self.indicator = _IndicatorDraft(number, code, name, behaviour, self.objective)
        self.unit.indicators.append(self.indicator)
        self.targets = None
        if self.inline_kind is not None:
            self.targets = self.indicator.targets = _TargetDraft(*self.inline_kind)
            self.inline_kind = None

    def target_row(self, cells: list[str]) -> bool:
        """Add a row of period labels and/or values; False if the row is neither."""
        block = self.targets
        assert block is not None
        kinds: list[str] = []
        for cell in cells:
            if _LABEL_RE.match(cell):
                kinds.append("label")
            elif _VALUE_RE.match(cell.replace(" ", "")):
                kinds.append("value")
            else:
                return False
        previous = block.value_rows[-1] if block.value_rows else None
        # A row of bare digits under values cut after their decimal point completes them.
        if (
            previous is not None
            and len(cells) == len(previous)
            and all(_DIGITS_RE.match(c) for c in cells)
            and any(p.endswith(".") for p in previous)
        ):
            block.value_rows[-1] = [p + c for p, c in zip(previous, cells, strict=True)]
            return True
        values = []
        for cell, kind in zip(cells, kinds, strict=True):
            if kind == "label":
                block.labels.append(cell.replace(" ", ""))
            else:
                values.append(cell.replace(" ", ""))
        if values:
            block.value_rows.append(values)
        return True

    def risk_line(self, number: int, cells: list[str], text: str) -> None:
        rating = int(cells[-1]) if len(cells) > 1 and _DIGITS_RE.match(cells[-1]) else None
        body = " ".join(cells[:-1]) if rating is not None else text
        m = _RISK_RE.match(body)
        if m:
            self.unit.risks.append(Risk(m.group(1), m.group(2), rating, self.objective))
        else:
            self.reject(number, text)

    def project_line(self, number: int, cells: list[str]) -> None:
        organization = None
        if self.section == "matrix" and len(cells) > 1:
            organization, cells = cells[0], cells[1:]
        m = _PROJECT_CODE_RE.match(cells[0])
        if m is None:
            if len(cells) == 1 and self.unit.projects:
                # The PDF wrapped a long project name onto a line of its own.
                last = self.unit.projects[-1]
                self.unit.projects[-1] = replace(last, name=f"{last.name} {cells[0]}")
            else:
                self.reject(number, " ".join(cells))
            return
        fields = cells[1:]
        budget = _decimal(fields[0]) if fields else None
        phase = fields[1] if len(fields) > 1 else None
        end_date = None
        if len(fields) > 2:
            try:
                end_date = datetime.strptime(fields[2], "%d/%m/%Y").date()
            except ValueError:
                end_date = None
        self.unit.projects.append(
            Project(m.group(1), m.group(2), budget, phase, end_date, organization)
        )


def parse_indicator_catalogue(
    text: str, progress: Callable[[int, int], None] | None = None
) -> IndicatorCatalogueParse:
    """Parse every unit block of the 2025 results sheets; `progress(done, total)` per block."""
    blocks = _split_blocks(text.splitlines())
    drafts: dict[tuple[str, ...], _UnitDraft] = {}
    institution: _UnitDraft | None = None
    unplaced: list[str] = []
    headings = target_blocks = 0
    for done, (heading, body) in enumerate(blocks, start=1):
        path = _heading_path(heading)
        if path:
            headings += 1
            unit = drafts.setdefault(path, _UnitDraft(path))
        else:
            institution = unit = institution or _UnitDraft(())
        unit.headings += 1
        parser = _BlockParser(unit, unplaced)
        for number, line in body:
            parser.feed(number, line)
        target_blocks += parser.target_blocks
        if progress is not None:
            progress(done, len(blocks))
    return IndicatorCatalogueParse(
        institution=institution.build() if institution else None,
        units=tuple(draft.build() for draft in drafts.values()),
        headings=headings,
        target_blocks=target_blocks,
        unplaced=tuple(unplaced),
    )
