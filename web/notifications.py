"""E-mail notifications in the web layer: the mail templates, the worker's mail round, the
preferences page (``/preferencias/notificaciones``) and the admin's outbox page
(``/admin/correo``, with the dead-letter list)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine import NOTIFICATION_KINDS, Engine, MailRound, Recipient, RetryPolicy, SmtpSettings

from . import engine
from .auth import person
from .formats import fecha_hora

blueprint = Blueprint("notifications", __name__)

_MAIL_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "mail"),
    # Only the .html bodies are escaped; the plain-text ones go out as typed.
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    keep_trailing_newline=True,
)

HEADLINES = {
    "task_offered": ("Nueva tarea: {activity}", "Tiene una tarea nueva en su bandeja."),
    "due_soon": ("Tarea por vencer: {activity}",
                 "Una tarea suya vence en 3 días hábiles o menos."),
    "overdue": ("Tarea vencida: {activity}", "Una tarea suya superó su plazo."),
    "escalation": ("Escalamiento: {activity}",
                   "Se le escala un caso cuyo plazo venció; atiéndalo cuanto antes."),
    "returned": ("Trabajo devuelto: {activity}",
                 "Una revisión le devolvió este trabajo para corregirlo."),
}


def settings(app: Flask) -> SmtpSettings:
    """Return the SMTP settings: app config first, then the environment."""
    keys = ("CAUCE_SMTP_HOST", "CAUCE_SMTP_PORT", "CAUCE_SMTP_USER", "CAUCE_SMTP_PASSWORD",
            "CAUCE_SMTP_STARTTLS", "CAUCE_SMTP_FROM", "CAUCE_SMTP_CA_FILE",
            "CAUCE_SMTP_TIMEOUT")
    return SmtpSettings.from_mapping({key: app.config.get(key, os.environ.get(key))
                                      for key in keys})


def base_url(app: Flask) -> str:
    """Return the address people reach Cauce at (links in mails)."""
    return str(app.config.get("CAUCE_BASE_URL") or os.environ.get("CAUCE_BASE_URL")
               or "http://127.0.0.1:5000").rstrip("/")


def renderer(app: Flask) -> Any:
    """Return the function that writes a mail (subject, text, HTML) from an event."""
    root = base_url(app)

    def render(kind: str, facts: Mapping[str, Any], recipient: Recipient) -> tuple[str, str, str]:
        context: dict[str, Any] = {"person": recipient, "facts": facts,
                                   "preferences_link": f"{root}/preferencias/notificaciones"}
        if kind == "digest":
            day = date.fromisoformat(str(facts["day"])).strftime("%d/%m/%Y")
            subject = f"Cauce: su bandeja del {day}"
            context.update(subject=subject, day=day, link=f"{root}/bandeja")
            name = "digest"
        else:
            title, headline = HEADLINES[kind]
            subject = "Cauce: " + title.format(activity=facts["activity_name"]) + \
                f" ({facts['case_number']})"
            due = facts.get("due_at")
            context.update(subject=subject, headline=headline,
                           link=f"{root}/tareas/{facts['task_id']}",
                           due=fecha_hora(_parse(due)) if due else "")
            name = "notice"
        text = _MAIL_TEMPLATES.get_template(f"{name}.txt").render(context)
        html = _MAIL_TEMPLATES.get_template(f"{name}.html").render(context)
        return subject, text, html

    return render


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)


def mail_round(eng: Engine, app: Flask, *, limit: int = 100,
               policy: RetryPolicy | None = None) -> MailRound:
    """Record due deadline/digest events, expand events into mails, send what is due."""
    eng.scan_notifications()
    eng.expand_notifications(renderer(app))
    return eng.send_mail(settings(app), limit=limit, policy=policy)


def worker_mail_round(eng: Engine) -> None:
    """The worker's mail step (``flask worker``): a failure here never stops the timers."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        outcome = mail_round(eng, app)
    except Exception as error:  # noqa: BLE001 — the worker must keep firing timers
        click.echo(f"Correo: error en la ronda de envío: {error}", err=True)
        return
    if outcome.sent or outcome.retried or outcome.dead:
        click.echo(f"Correo: {outcome.sent} enviado(s), {outcome.retried} por reintentar, "
                   f"{outcome.dead} a la lista de fallidos")


# -- pages --------------------------------------------------------------------------------


@blueprint.route("/preferencias/notificaciones", methods=["GET", "POST"])
def preferences() -> Any:
    """Let a person choose which notifications they receive by e-mail."""
    me = person()
    if request.method == "POST":
        chosen = {k.code: request.form.get(k.code) == "1" for k in NOTIFICATION_KINDS}
        engine().set_notification_preferences(me, chosen)
        flash(_("Preferencias de notificación guardadas."), "success")
        return redirect(url_for("notifications.preferences"))
    current = engine().notification_preferences(me)
    email = engine().person_email(me)
    return render_template("notification_preferences.html", kinds=NOTIFICATION_KINDS,
                           current=current, email=email)


def is_mail_admin() -> bool:
    """Tell whether the signed-in person may see the outbox (``CAUCE_ADMINS`` usernames)."""
    from .auth import current_person

    me = current_person()
    return me is not None and me.username in admins(current_app)


def admins(app: Flask) -> frozenset[str]:
    """Return the usernames of the administrators (config ``ADMINS`` or ``CAUCE_ADMINS``)."""
    configured = app.config.get("ADMINS") or os.environ.get("CAUCE_ADMINS", "")
    if isinstance(configured, str):
        configured = configured.split(",")
    return frozenset(name.strip() for name in configured if name.strip())


@blueprint.route("/admin/correo")
def outbox_page() -> Any:
    """Show the outbox: counts, the dead-letter list and the newest mails."""
    if not is_mail_admin():
        abort(403)
    eng = engine()
    return render_template(
        "mail_admin.html", counts=eng.outbox_counts(), dead=eng.outbox_mails(status="dead"),
        recent=eng.outbox_mails(limit=50), server=settings(current_app).configured)


@blueprint.route("/admin/correo/<int:mail_id>/reintentar", methods=["POST"])
def retry(mail_id: int) -> Any:
    """Put a dead mail back in the queue."""
    if not is_mail_admin():
        abort(403)
    if engine().requeue_mail(mail_id):
        flash(_("El correo volverá a enviarse en la próxima ronda del proceso de fondo."),
              "success")
    else:
        flash(_("Ese correo no está en la lista de fallidos."), "error")
    return redirect(url_for("notifications.outbox_page"))


def init_app(app: Flask) -> None:
    """Register the pages and the template helper for the header's link."""
    app.register_blueprint(blueprint)

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"mail_admin_nav": is_mail_admin}
