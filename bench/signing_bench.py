"""Sign time per document: the technical report F01 signed (PAdES, validation data embedded)
``--samples`` times with a demo certificate, then verified. Measures ``engine.signing`` alone
(no database): render once, add the signature fields, sign the first line, sign the second line
over it, verify both. Medians in milliseconds; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import signing  # noqa: E402
from web.social_report import SocialReport, social_report_document  # noqa: E402

REPORT = SocialReport(
    case_number="CS-2026-0001", report_date="09/03/2026", requester="Rosa Chicaiza",
    requester_type="Un familiar", beneficiary="Pedro Chicaiza", beneficiary_unit="Unidad",
    request_date="02/03/2026", channel="Formal, escrito", summary="Situación familiar.",
    background="Solicitud verbal de la madre.", findings="Vulnerabilidad económica.",
    diagnosis="Vulnerabilidad económica y sobrecarga de cuidado.",
    strategies=["Acompañamiento familiar"], conclusions="Caso social confirmado.",
    recommendations="Seguimiento mensual.", prepared_by="ana", reviewed_by="jorge",
    validated=True, review_date="10/03/2026")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ca_key, ca_cert = signing.ensure_demo_ca(Path(folder))
        trust = signing.TrustStore.load(Path(folder) / "ca.pem")
        first = signing.make_person_p12(ca_key, ca_cert, "ana", "Ana Guamán", "frase")
        second = signing.make_person_p12(ca_key, ca_cert, "jorge", "Jorge Cevallos", "frase")
        times: dict[str, list[float]] = {"render": [], "fields": [], "sign_first": [],
                                         "sign_second": [], "verify_both": []}
        size = 0
        for _ in range(args.samples):
            started = time.perf_counter()
            pdf = social_report_document(REPORT, {"ana": "Ana Guamán", "jorge": "Jorge Cevallos"})
            data = pdf.render()
            times["render"].append(time.perf_counter() - started)
            slots = [signing.SignatureSlot(f, f, f, box=pdf.signature_boxes[f])
                     for f in ("elaborado", "revisado")]
            started = time.perf_counter()
            data = signing.add_signature_fields(data, slots)
            times["fields"].append(time.perf_counter() - started)
            now = datetime.now(UTC)
            started = time.perf_counter()
            data = signing.sign_pdf(data, first, "frase", field_name="elaborado",
                                    signer_name="Ana Guamán", reason="Elaborado por",
                                    trust=trust, at=now)
            times["sign_first"].append(time.perf_counter() - started)
            started = time.perf_counter()
            data = signing.sign_pdf(data, second, "frase", field_name="revisado",
                                    signer_name="Jorge Cevallos", reason="Revisado",
                                    trust=trust, at=now)
            times["sign_second"].append(time.perf_counter() - started)
            started = time.perf_counter()
            checks = signing.verify_pdf(data, trust)
            times["verify_both"].append(time.perf_counter() - started)
            assert len(checks) == 2 and all(c.ok for c in checks), checks
            size = len(data)
        figures = {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()}
        for name, value in figures.items():
            print(f"{name:12} {value:8.1f} ms (median of {args.samples})")
        print(json.dumps({"samples": args.samples, "median_ms": figures,
                          "signed_pdf_bytes": size}))


if __name__ == "__main__":
    main()
