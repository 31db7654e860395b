"""Editor page weight: the KB of JavaScript and CSS the owner's editor page ships, raw and gzip.

Serves the real page (a temp SQLite database, demo people, the owner signed in through the
Flask test client), reads every ``<script src>`` and stylesheet ``<link>`` it names, fetches each
from the app and measures it raw and gzipped (level 6, what a typical reverse proxy sends), and
the same for the case page's diagram viewer for comparison. Needs the bundle (`make assets`).
Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from tests.conftest import DEMO_PASSWORD, FAST_HASHER, WebClient  # noqa: E402

OWNER_ROLE = "propietario_cs"
PAGE = "/procesos/social_case/editar"
# Static imports of an ES module chunk (the DMN editor's dynamic import() is left out: it is
# fetched only when a decision table is opened).
STATIC_IMPORT = re.compile(r'(?:from|import)\s*"(\.{1,2}/[^"]+)"')
ASSET = re.compile(r'<script (?:type="module" )?src="([^"]+)"'
                   r'|<link rel="stylesheet" href="([^"]+)"')


def _kb(size: int) -> float:
    return round(size / 1024, 1)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                          "DATABASE_URL": f"sqlite:///{folder}/bench.db",
                          "DOCUMENTS_DIR": f"{folder}/documents", "SEEDS_DIR": "",
                          "ENGINE_OPTIONS": {"password_hasher": FAST_HASHER}})
        accounts = seed_demo_people(app.extensions["cauce"], DEMO_PASSWORD)
        owner = next(a.username for a in accounts if OWNER_ROLE in a.roles)
        client = WebClient(app.test_client())
        assert client.login(owner).status_code == 302
        page = client.get(PAGE)
        assert page.status_code == 200, page.status_code
        rows = []
        queue = [(script or style, "js" if script else "css")
                 for script, style in ASSET.findall(page.get_data(as_text=True))]
        seen: set[str] = set()
        while queue:
            url, kind = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            body = client.get(url).get_data()
            rows.append({"url": url, "kind": kind, "raw": len(body),
                         "gzip": len(gzip.compress(body, compresslevel=6))})
            if kind == "js":
                queue += [(urljoin(url, found), "js")
                          for found in STATIC_IMPORT.findall(body.decode("utf-8", "replace"))]
        app.extensions["cauce"].sql.dispose()
    print(f"{'asset':55} {'raw KB':>9} {'gzip KB':>9}")
    for row in rows:
        print(f"{row['url']:55} {_kb(row['raw']):>9} {_kb(row['gzip']):>9}")
    totals = {}
    for kind in ("js", "css"):
        chosen = [r for r in rows if r["kind"] == kind]
        totals[kind] = {"raw_kb": _kb(sum(r["raw"] for r in chosen)),
                        "gzip_kb": _kb(sum(r["gzip"] for r in chosen))}
        print(f"{'total ' + kind:55} {totals[kind]['raw_kb']:>9} {totals[kind]['gzip_kb']:>9}")
    print(json.dumps({"bench": "editor_page_weight", "page": PAGE, **{
        f"{kind}_{measure}": value for kind, figures in totals.items()
        for measure, value in figures.items()}}))


if __name__ == "__main__":
    main()
