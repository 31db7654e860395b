"""The transactional outbox: events only with their step, each mail once even with two workers,
back-off while the SMTP server is down, the dead-letter list and its page."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import engine.api as engine_api
from engine import RetryPolicy, SmtpSettings
from engine.outbox import MailRow, NotificationEventRow
from tests.smtp_server import give_everyone_an_address
from web.notifications import renderer

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated")]


def events(engine) -> int:
    with engine.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(NotificationEventRow)))


def queue(engine, app) -> int:
    """Expand recorded events into mails (what the worker does before sending)."""
    with app.app_context():
        return engine.expand_notifications(renderer(app))


def test_a_step_that_rolls_back_leaves_no_notification_behind(walker, engine, monkeypatch):
    walker.start()
    assert events(engine) == 1
    task = walker.task("reasignar_solicitud")

    def fail(self):
        raise RuntimeError("the database went away mid-step")

    # The new task's event is written before the case row: the failure comes after it.
    monkeypatch.setattr(engine_api._Step, "save", fail)
    with pytest.raises(RuntimeError):
        walker.do("reasignar_solicitud")
    monkeypatch.undo()
    assert events(engine) == 1
    assert walker.task("reasignar_solicitud").task_id == task.task_id  # nothing moved
    walker.do("reasignar_solicitud")
    assert events(engine) == 2


def test_two_workers_send_each_mail_exactly_once(walker, engine, app, smtp, reload):
    give_everyone_an_address(engine)
    for _ in range(12):
        walker.start()
    expected = queue(engine, app)
    assert expected >= 24
    settings = SmtpSettings.from_mapping(smtp.settings())
    workers = [reload(), reload()]
    sent = [0, 0]
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            while True:
                outcome = workers[index].send_mail(settings, limit=3)
                sent[index] += outcome.sent
                if outcome.sent == 0 and outcome.retried == 0:
                    return
        except BaseException as error:  # noqa: BLE001 — reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    ids = [item.message["Message-ID"] for item in smtp.received]
    assert len(ids) == expected == len(set(ids)) == sum(sent)
    assert all(sent), f"one worker sent everything: {sent}"
    assert engine.outbox_counts() == {"pending": 0, "sent": expected, "dead": 0}


def test_a_server_that_is_down_is_retried_with_back_off_then_dead_lettered(
        walker, engine, app, smtp, clock, web):
    give_everyone_an_address(engine)
    walker.start()
    mails = queue(engine, app)
    settings = SmtpSettings.from_mapping(smtp.settings())
    policy = RetryPolicy(max_attempts=3, first_wait=timedelta(minutes=1))
    smtp.stop()

    first = engine.send_mail(settings, policy=policy)
    assert (first.sent, first.retried, first.dead) == (0, mails, 0)
    # Not again before the back-off passes.
    assert engine.send_mail(settings, policy=policy).retried == 0
    clock.advance(seconds=59)
    assert engine.send_mail(settings, policy=policy).retried == 0
    clock.advance(seconds=1)
    assert engine.send_mail(settings, policy=policy).retried == mails  # 2nd try
    clock.advance(minutes=1)
    assert engine.send_mail(settings, policy=policy).retried == 0  # now waits 2 minutes
    clock.advance(minutes=1)
    third = engine.send_mail(settings, policy=policy)
    assert (third.retried, third.dead) == (0, mails)
    clock.advance(hours=5)
    assert engine.send_mail(settings, policy=policy).dead == 0  # dead mails stay dead
    dead = engine.outbox_mails(status="dead")
    assert len(dead) == mails and all(m.attempts == 3 for m in dead)
    assert "No se pudo conectar con el servidor de correo" in (dead[0].last_error or "")

    # The admin sees the dead-letter list and puts one back once the server is up again.
    app.config["ADMINS"] = [walker.coordinator]
    admin = web(walker.coordinator)
    page = admin.get("/admin/correo").get_data(as_text=True)
    assert "Lista de fallidos" in page and dead[0].to_address in page
    assert web(walker.leader).get("/admin/correo").status_code == 403
    smtp.start()
    admin.post(f"/admin/correo/{dead[0].id}/reintentar")
    assert engine.send_mail(settings, policy=policy).sent == 1
    assert [r for i in smtp.received for r in i.recipients] == [dead[0].to_address]


def test_a_refused_login_is_retried_not_lost(walker, engine, app, smtp, clock):
    give_everyone_an_address(engine)
    walker.start()
    mails = queue(engine, app)
    wrong = SmtpSettings.from_mapping(smtp.settings(CAUCE_SMTP_PASSWORD="otra"))
    assert engine.send_mail(wrong).retried == mails
    assert smtp.received == []
    clock.advance(minutes=1)
    assert engine.send_mail(SmtpSettings.from_mapping(smtp.settings())).sent == mails


def test_an_event_expanded_by_two_workers_makes_one_mail_per_person(walker, engine, app,
                                                                     reload):
    give_everyone_an_address(engine)
    walker.start()
    first = queue(engine, app)
    # A second worker that read the same event before the first one marked it.
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(MailRow)) == first
    with reload()._writer.begin() as session:
        session.execute(NotificationEventRow.__table__.update().values(expanded_at=None))
    assert queue(engine, app) == 0
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(MailRow)) == first


