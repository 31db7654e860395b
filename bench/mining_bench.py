"""Process-mining benchmark: conformance (token replay) and the discovered map of N cases.

The cases are built as in ``bench/audit_bench.py`` (a few real ones through the engine, copied
at the SQL level); conformance then replays every case's trace on its procedure's net and the
map counts the directly-follows relation. Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_bench import PROCESS, Clock, _copy, _templates  # noqa: E402
from bench.support import arguments, fresh_engine  # noqa: E402
from web.follows_map import render_svg  # noqa: E402


def main() -> None:
    args = arguments(__doc__, cases=10000)
    work = Path(tempfile.mkdtemp(prefix="cauce-mining-bench-"))
    url = args.database or f"sqlite:///{work / 'bench.db'}"
    clock = Clock()
    engine = fresh_engine(url, work / "documents", clock)
    templates = _templates(engine, clock)
    _copy(engine, templates, args.cases)

    started = time.perf_counter()
    report = engine.conformance_report(PROCESS, by=None)
    conformance_s = time.perf_counter() - started
    assert len(report.cases) == args.cases and report.average == 1.0, report.average
    started = time.perf_counter()
    graph = engine.discovered_map(PROCESS, by=None)
    map_s = time.perf_counter() - started
    started = time.perf_counter()
    svg = render_svg(graph, "bench")
    svg_ms = (time.perf_counter() - started) * 1000
    events = sum(len(c.trace) for c in report.cases)
    print(f"conformidad de {args.cases} casos ({events} eventos): {conformance_s:.1f} s "
          f"({args.cases / conformance_s:.0f} casos/s); mapa {map_s:.1f} s; "
          f"SVG {svg_ms:.1f} ms, {len(svg) / 1024:.1f} KB")
    print(json.dumps({"cases": args.cases, "events": events,
                      "conformance_s": round(conformance_s, 2),
                      "cases_per_s": round(args.cases / conformance_s),
                      "map_s": round(map_s, 2), "svg_ms": round(svg_ms, 1)}))


if __name__ == "__main__":
    main()
