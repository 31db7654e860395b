"""PAdES signatures: each signer's PKCS#12 certificate, signing a document, checking any PDF.

A signer uploads their ``.p12`` once; it is kept exactly as uploaded (PKCS#12 is already
encrypted under the signer's passphrase) and the passphrase is never stored: it is typed again
at every signature. A document carries one signature field per line of its *cuadro de firmas
de responsabilidad*; each responsible person signs their own field, incrementally, so earlier
signatures stay valid. The demo certificate authority (made by ``seed-demo``) lets every demo
person sign; verification trusts the configured roots and never goes to the network.
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .errors import CauceError, PermissionDenied
from .store import Base

DEMO_CA_NAME = "Cauce — Autoridad de Certificación DEMO"
MAX_P12_BYTES = 64 * 1024
SIGNED_EVENT = "document_signed"
_log = logging.getLogger(__name__)


class SigningRefused(CauceError):
    """The certificate or passphrase cannot sign (wrong passphrase, expired, not a .p12)."""

    code = "signing_refused"


# -- tables ------------------------------------------------------------------------------------


class SigningCertificateRow(Base):
    """A person's signing certificate: the PKCS#12 file as uploaded (passphrase-encrypted)."""

    __tablename__ = "signing_certificate"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    p12: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(500))
    issuer: Mapped[str] = mapped_column(String(500))
    serial: Mapped[str] = mapped_column(String(100))
    not_after: Mapped[datetime]
    uploaded_at: Mapped[datetime]


class DocumentSignatureRow(Base):
    """One signed line of a document's cuadro de firmas: who signed it, giving which file."""

    __tablename__ = "document_signature"
    __table_args__ = (UniqueConstraint("case_id", "kind", "revision", "slot"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # Which edition of the document (e.g. the event that produced its content): a document
    # whose content changed is signed anew.
    revision: Mapped[int] = mapped_column(Integer)
    slot: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    sha256: Mapped[str] = mapped_column(ForeignKey("document.sha256"))
    signed_at: Mapped[datetime]


# -- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    """What a PKCS#12 file holds, as people see it."""

    subject: str
    common_name: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    uploaded_at: datetime | None = None


@dataclass(frozen=True)
class SignatureSlot:
    """One line of a cuadro de firmas: the field, its label, who signs it and where it is.

    ``box`` is (page index, x1, y1, x2, y2) in PDF points from the page's lower-left corner.
    """

    field: str
    label: str
    username: str
    box: tuple[int, float, float, float, float] | None = None


@dataclass(frozen=True)
class Signable:
    """A document of a case that its responsible people sign, and its unsigned edition."""

    kind: str
    revision: int
    filename: str
    title: str
    slots: tuple[SignatureSlot, ...]
    # Renders the unsigned edition and says where each line's box is; called only when the
    # PDF is wanted (listing who signs what needs no PDF).
    layout: Callable[[], tuple[bytes, Mapping[str, tuple[int, float, float, float, float]]]] \
        = field(repr=False)

    @property
    def unsigned_pdf(self) -> bytes:
        """Return the document before anyone signed it."""
        return self.layout()[0]

    def placed_slots(self) -> tuple[SignatureSlot, ...]:
        """Return the slots with the boxes of the rendered document."""
        boxes = self.layout()[1]
        return tuple(replace(slot, box=boxes[slot.field]) for slot in self.slots)


@dataclass(frozen=True)
class SignatureView:
    """A signed line of a document."""

    kind: str
    revision: int
    slot: str
    username: str
    sha256: str
    signed_at: datetime


@dataclass(frozen=True)
class SignatureCheck:
    """What the verification page says about one signature of an uploaded PDF."""

    field: str
    signer: str
    signed_at: datetime | None
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_document: bool
    modification: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Tell whether the signature is intact, cryptographically valid and trusted."""
        return self.intact and self.valid and self.trusted


# -- trust ------------------------------------------------------------------------------------


@dataclass
class TrustStore:
    """The roots a signature must chain to, and revocation lists known offline.

    Read from ``paths`` (PEM or DER files; a demo CA's ``ca.crl`` beside it) on first use, and
    again while none was found: the demo CA may be made after the app started.
    """

    paths: tuple[str, ...] = ()
    roots: list[asn1_x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)

    @classmethod
    def load(cls, *paths: str | Path | None) -> TrustStore:
        """Return a store over the given files (missing ones are skipped)."""
        store = cls(paths=tuple(str(p) for p in paths if p))
        store.refresh()
        return store

    def refresh(self) -> None:
        """Read the files again."""
        roots, crls = [], []
        for path in map(Path, self.paths):
            if not path.is_file():
                continue
            roots.extend(_read_certificates(path.read_bytes()))
            crl_file = path.with_name("ca.crl")
            if crl_file.is_file():
                crls.append(asn1_crl.CertificateList.load(crl_file.read_bytes()))
        self.roots, self.crls = roots, crls

    def trusted_roots(self) -> list[asn1_x509.Certificate]:
        """Return the roots, reading the files if none was found yet."""
        if not self.roots and self.paths:
            self.refresh()
        return list(self.roots)

    def context(self, *, at: datetime | None = None) -> Any:
        """Return a pyHanko validation context that never fetches anything."""
        from pyhanko_certvalidator import ValidationContext

        return ValidationContext(trust_roots=self.trusted_roots(), crls=list(self.crls),
                                 allow_fetching=False, revocation_mode="soft-fail",
                                 moment=at)


def _read_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    if pem.detect(data):
        return [asn1_x509.Certificate.load(der) for kind, _h, der in pem.unarmor(data, True)
                if kind == "CERTIFICATE"]
    return [asn1_x509.Certificate.load(data)]


# -- certificates -----------------------------------------------------------------------------


def inspect_p12(data: bytes, passphrase: str) -> CertificateInfo:
    """Open a PKCS#12 file with its passphrase and describe its certificate (SigningRefused)."""
    if not data or len(data) > MAX_P12_BYTES:
        raise SigningRefused("El archivo de certificado está vacío o es demasiado grande")
    try:
        key, cert, _others = pkcs12.load_key_and_certificates(data, passphrase.encode())
    except ValueError:
        raise SigningRefused(
            "La frase de paso no abre el certificado (o el archivo no es un .p12 válido)"
        ) from None
    if key is None or cert is None:
        raise SigningRefused("El archivo .p12 no contiene una clave privada y su certificado")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(), common_name=str(names[0].value) if names else "",
        issuer=cert.issuer.rfc4514_string(), serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc)


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(folded.lower().split())


def subject_matches(info: CertificateInfo, full_name: str) -> bool:
    """Tell whether the certificate names this person (accents and case aside)."""
    return bool(full_name) and _plain(full_name) in _plain(info.common_name or info.subject)


def save_certificate(session: Session, person_id: int, data: bytes, info: CertificateInfo,
                     now: datetime) -> None:
    """Keep (or replace) a person's certificate."""
    row = session.get(SigningCertificateRow, person_id)
    if row is None:
        row = SigningCertificateRow(person_id=person_id)
        session.add(row)
    row.p12, row.subject, row.issuer = data, info.subject, info.issuer
    row.serial, row.not_after, row.uploaded_at = info.serial, info.not_after, now


def find_certificate(session: Session, person_id: int) -> CertificateInfo | None:
    """Return a person's certificate, or None before they uploaded one."""
    row = session.get(SigningCertificateRow, person_id)
    if row is None:
        return None
    cn = row.subject.split("CN=", 1)[1].split(",", 1)[0] if "CN=" in row.subject else ""
    return CertificateInfo(subject=row.subject, common_name=cn, issuer=row.issuer,
                           serial=row.serial, not_before=row.uploaded_at,
                           not_after=row.not_after, uploaded_at=row.uploaded_at)


# -- documents and their signature fields -----------------------------------------------------


def add_signature_fields(pdf: bytes, slots: Sequence[SignatureSlot]) -> bytes:
    """Return the PDF with an empty signature field for every slot (placed at its box)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for slot in slots:
        if slot.box is None:
            raise ValueError(f"signature line {slot.field} has no box")
        page, *box = slot.box
        append_signature_field(writer, SigFieldSpec(
            slot.field, on_page=page, box=(int(box[0]), int(box[1]), int(box[2]), int(box[3]))))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_pdf(pdf: bytes, p12: bytes, passphrase: str, *, field_name: str, signer_name: str,
             reason: str, trust: TrustStore, at: datetime, location: str = "Quito, Ecuador"
             ) -> bytes:
    """Sign one field of the PDF (PAdES baseline, validation data embedded); SigningRefused."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    try:
        signer = signers.SimpleSigner.load_pkcs12_data(
            p12, other_certs=trust.trusted_roots(), passphrase=passphrase.encode())
    except ValueError:
        raise SigningRefused(
            "La frase de paso no abre su certificado: no se firmó nada") from None
    cert = signer.signing_cert
    if cert is None or not (cert.not_valid_before <= at <= cert.not_valid_after):
        raise SigningRefused("Su certificado no está vigente: no se firmó nada")
    style = TextStampStyle(
        stamp_text="Firmado electrónicamente por:\n%(signer)s\nFecha: %(ts)s\n" + reason,
        timestamp_format="%d/%m/%Y %H:%M UTC",
        # pyHanko's standard Courier (WinAnsi: Spanish accents and ñ) needs no embedded font;
        # embedding DejaVu cost seconds per signature.
        text_box_style=TextBoxStyle(font_size=7),
        border_width=1)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, reason=reason, location=location, name=signer_name,
        subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        embed_validation_info=True, validation_context=trust.context(at=at))
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    pdf_signer = signers.PdfSigner(meta, signer=signer, stamp_style=style)
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(writer, output=out, appearance_text_params={"signer": signer_name})
    except Exception:  # noqa: BLE001 — pyHanko's errors become one Spanish sentence
        _log.exception("signing failed")
        raise SigningRefused(
            "No se pudo firmar el documento: el certificado o su cadena no son aceptables "
            "para una firma (uso de clave, vigencia o autoridad de certificación)") from None
    return out.getvalue()


def signed_slots(pdf: bytes) -> set[str]:
    """Return the names of the signature fields already signed in a PDF."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return {s.field_name for s in reader.embedded_signatures}


def verify_pdf(pdf: bytes, trust: TrustStore) -> list[SignatureCheck]:
    """Check every signature of a PDF: integrity, signer, time, chain to a trusted root."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = list(reader.embedded_signatures)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError):
        raise SigningRefused("El archivo no es un PDF legible: no se pueden buscar sus "
                             "firmas") from None
    checks = []
    for embedded in signatures:
        problems: list[str] = []
        try:
            status = validate_pdf_signature(embedded, trust.context())
        except Exception as error:  # noqa: BLE001 — a damaged signature is a finding, not a crash
            checks.append(SignatureCheck(
                field=embedded.field_name, signer=_signer(embedded), signed_at=None,
                intact=False, valid=False, trusted=False, covers_whole_document=False,
                modification="", problems=(f"La firma está dañada y no se puede comprobar "
                                           f"({type(error).__name__})",)))
            continue
        if not status.intact:
            problems.append("El documento cambió después de firmarse: su contenido no es el "
                            "que se firmó")
        elif not status.valid:
            problems.append("La firma no corresponde al certificado del firmante")
        if not status.trusted:
            problems.append("El certificado del firmante no lleva a una autoridad de "
                            "certificación de confianza")
        level = status.modification_level
        modification = level.name if level is not None else ""
        if level is not None and level.name not in ("NONE", "LTA_UPDATES", "FORM_FILLING"):
            problems.append("El documento tiene cambios posteriores a la firma que no son "
                            "firmas ni datos de validación")
        checks.append(SignatureCheck(
            field=embedded.field_name, signer=_signer(embedded),
            signed_at=status.signer_reported_dt, intact=bool(status.intact),
            valid=bool(status.valid), trusted=bool(status.trusted),
            covers_whole_document=status.coverage is not None
            and status.coverage.name == "ENTIRE_FILE", modification=modification,
            problems=tuple(problems)))
    return checks


def _signer(embedded: Any) -> str:
    try:
        return str(embedded.signer_cert.subject.native.get("common_name", ""))
    except Exception:  # noqa: BLE001 — no readable certificate: say nothing rather than crash
        return ""


# -- signing a case's document ----------------------------------------------------------------


def check_signer(document: Signable, slot_field: str, username: str) -> SignatureSlot:
    """Return the slot this person signs, or refuse anyone whose block it is not."""
    slot = next((s for s in document.slots if s.field == slot_field), None)
    if slot is None or slot.username != username:
        raise PermissionDenied(
            "Usted no está en el cuadro de firmas de este documento para esa línea: "
            "solo la persona responsable puede firmarla")
    return slot


def latest_signed(session: Session, case_id: int, kind: str, revision: int) -> str | None:
    """Return the hash of the newest signed edition of a document, if any."""
    return session.scalars(select(DocumentSignatureRow.sha256).where(
        DocumentSignatureRow.case_id == case_id, DocumentSignatureRow.kind == kind,
        DocumentSignatureRow.revision == revision)
        .order_by(DocumentSignatureRow.signed_at.desc(), DocumentSignatureRow.id.desc())
    ).first()


def list_signatures(session: Session, case_id: int) -> list[SignatureView]:
    """Return every signature on a case's documents, oldest first."""
    from .store import PersonRow

    rows = session.execute(
        select(DocumentSignatureRow, PersonRow.username)
        .join(PersonRow, PersonRow.id == DocumentSignatureRow.person_id)
        .where(DocumentSignatureRow.case_id == case_id)
        .order_by(DocumentSignatureRow.signed_at, DocumentSignatureRow.id)).all()
    return [SignatureView(r.kind, r.revision, r.slot, username, r.sha256, r.signed_at)
            for r, username in rows]


# -- the demo certificate authority -----------------------------------------------------------


@dataclass(frozen=True)
class DemoCertificate:
    """A demo person's .p12 file and the passphrase that opens it."""

    username: str
    path: Path
    passphrase: str


def ensure_demo_ca(folder: Path, *, now: datetime | None = None) -> tuple[Any, x509.Certificate]:
    """Return the demo CA's key and certificate, making them (and an empty CRL) the first time."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = folder / "ca.key", folder / "ca.pem"
    now = now or datetime.now(UTC)
    if key_file.exists() and cert_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        return key, cert
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "EC"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cauce DEMO"),
                      x509.NameAttribute(NameOID.COMMON_NAME, DEMO_CA_NAME)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name)
           .last_update(now - timedelta(days=1)).next_update(now + timedelta(days=3650))
           .sign(key, hashes.SHA256()))
    (folder / "ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    return key, cert


def make_person_p12(ca_key: Any, ca_cert: x509.Certificate, username: str, full_name: str,
                    passphrase: str, *, now: datetime | None = None) -> bytes:
    """Issue a signing certificate for a person and return it as a passphrase-protected .p12."""
    now = now or datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "EC"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cauce DEMO"),
                         x509.NameAttribute(NameOID.USER_ID, username),
                         x509.NameAttribute(NameOID.COMMON_NAME, full_name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
            .sign(ca_key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(
        username.encode(), key, cert, [ca_cert],
        serialization.BestAvailableEncryption(passphrase.encode()))


def p12_digest(data: bytes) -> str:
    """Return the SHA-256 of a certificate file (to tell a re-upload of the same file)."""
    return hashlib.sha256(data).hexdigest()


PASSPHRASES_FILE = "frases-de-paso.txt"


def seed_demo_certificates(session: Session, folder: Path, accounts: Sequence[Any], *,
                           now: datetime) -> list[DemoCertificate]:
    """Give every demo person a .p12 from the demo CA, kept as their signing certificate.

    The passphrase is the person's demo password when seed-demo just set it (so the one it
    printed opens both); otherwise the one already listed in ``frases-de-paso.txt``, or a new
    one written there. Existing files that still open are kept.
    """
    import secrets

    from .store import PersonRow

    ca_key, ca_cert = ensure_demo_ca(folder)
    listed: dict[str, str] = {}
    listing = folder / PASSPHRASES_FILE
    if listing.exists():
        for line in listing.read_text(encoding="utf-8").splitlines():
            username, _sep, phrase = line.partition("\t")
            if phrase:
                listed[username] = phrase
    made = []
    for account in accounts:
        phrase = account.password or listed.get(account.username) or secrets.token_urlsafe(9)
        path = folder / f"{account.username}.p12"
        data = path.read_bytes() if path.exists() else b""
        try:
            info = inspect_p12(data, phrase)
        except SigningRefused:
            data = make_person_p12(ca_key, ca_cert, account.username, account.full_name, phrase)
            path.write_bytes(data)
            path.chmod(0o600)
            info = inspect_p12(data, phrase)
        person_id = session.scalars(select(PersonRow.id).where(
            PersonRow.username == account.username)).first()
        if person_id is not None:
            save_certificate(session, person_id, data, info, now)
        listed[account.username] = phrase
        made.append(DemoCertificate(account.username, path, phrase))
    listing.write_text("".join(f"{u}\t{p}\n" for u, p in sorted(listed.items())),
                       encoding="utf-8")
    listing.chmod(0o600)
    return made
