"""Handing mails to the institution's SMTP server (stdlib ``smtplib``: STARTTLS, AUTH)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from . import outbox
from .outbox import OutgoingMail, RetryPolicy


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; ``host`` empty means no server (mails wait in the outbox)."""

    host: str = ""
    port: int = 587
    user: str = ""
    password: str = ""
    starttls: bool = True
    ca_file: str | None = None
    from_address: str = "cauce@localhost"
    from_name: str = "Cauce"
    timeout: float = 30.0

    @property
    def configured(self) -> bool:
        """Tell whether a server is named."""
        return bool(self.host)

    @classmethod
    def from_mapping(cls, config: Mapping[str, object]) -> SmtpSettings:
        """Read ``CAUCE_SMTP_*`` keys (app config or environment)."""
        def text(key: str, default: str = "") -> str:
            value = config.get(key)
            return default if value in (None, "") else str(value)

        return cls(
            host=text("CAUCE_SMTP_HOST"), port=int(text("CAUCE_SMTP_PORT", "587")),
            user=text("CAUCE_SMTP_USER"), password=text("CAUCE_SMTP_PASSWORD"),
            starttls=text("CAUCE_SMTP_STARTTLS", "1").lower() not in ("0", "false", "no"),
            ca_file=text("CAUCE_SMTP_CA_FILE") or None,
            from_address=text("CAUCE_SMTP_FROM", "cauce@localhost"),
            timeout=float(text("CAUCE_SMTP_TIMEOUT", "30")))


@dataclass(frozen=True)
class Delivery:
    """What became of one mail: accepted, or the error and whether retrying can help."""

    mail: OutgoingMail
    error: str | None = None
    permanent: bool = False


def build_message(settings: SmtpSettings, mail: OutgoingMail) -> EmailMessage:
    """Return the MIME message: plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = formataddr((settings.from_name, settings.from_address))
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    domain = settings.from_address.rpartition("@")[2] or "localhost"
    # The same id on every try: a copy sent twice (worker died after the server accepted it)
    # is recognisable as one mail.
    message["Message-ID"] = make_msgid(idstring=f"cauce-mail-{mail.id}", domain=domain)
    message.set_content(mail.body_text)
    message.add_alternative(mail.body_html, subtype="html")
    return message


def send_batch(settings: SmtpSettings, mails: Iterable[OutgoingMail]) -> list[Delivery]:
    """Send mails over one SMTP session; a failure to connect fails them all (retry later)."""
    batch = list(mails)
    if not batch:
        return []
    try:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except OSError as error:
        return [Delivery(m, f"No se pudo conectar con el servidor de correo: {error}")
                for m in batch]
    results: list[Delivery] = []
    try:
        client.ehlo()
        if settings.starttls:
            context = ssl.create_default_context(cafile=settings.ca_file)
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password)
        for mail in batch:
            try:
                client.send_message(build_message(settings, mail))
            except smtplib.SMTPRecipientsRefused as error:
                results.append(Delivery(mail, f"Destinatario rechazado: {error.recipients}",
                                        permanent=True))
            except smtplib.SMTPResponseException as error:
                results.append(Delivery(mail, f"{error.smtp_code} {error.smtp_error!r}",
                                        permanent=500 <= error.smtp_code < 600))
            else:
                results.append(Delivery(mail))
    except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
        done = {d.mail.id for d in results}
        results += [Delivery(m, f"Error del servidor de correo: {error}") for m in batch
                    if m.id not in done]
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    return results


@dataclass(frozen=True)
class MailRound:
    """What one round of the worker did with the outbox."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    no_server: bool = False


def send_round(writer: Callable[[], Any], now: Callable[[], datetime], settings: SmtpSettings,
               policy: RetryPolicy, limit: int = 100) -> MailRound:
    """Claim due mails, hand them to the server with no transaction open, record the outcome."""
    if not settings.configured:
        return MailRound(no_server=True)
    with writer.begin() as session:  # type: ignore[attr-defined]
        claim, mails = outbox.claim_mails(session, now(), limit, policy)
    if not mails:
        return MailRound()
    deliveries = send_batch(settings, mails)
    sent, retried, dead = 0, 0, 0
    with writer.begin() as session:  # type: ignore[attr-defined]
        moment = now()
        sent = outbox.mark_sent(session, claim, [d.mail.id for d in deliveries if not d.error],
                                moment)
        for delivery in deliveries:
            if delivery.error is None:
                continue
            fate = outbox.mark_failed(session, claim, delivery.mail, delivery.error, moment,
                                      policy, permanent=delivery.permanent)
            dead += fate == outbox.DEAD
            retried += fate == outbox.PENDING
    return MailRound(sent=sent, retried=retried, dead=dead)
