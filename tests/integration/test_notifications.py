"""E-mail notifications end to end: the engine records events with each step, the worker's
round turns them into mails and hands them to a real SMTP server (aiosmtpd, STARTTLS + AUTH)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import DEMO_PASSWORD, REQUEST
from tests.smtp_server import addressees, give_everyone_an_address
from web.notifications import mail_round

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated")]


@pytest.fixture
def mailing(app, engine, people, smtp):
    """The app pointed at the test SMTP server, everyone with an address; returns a round."""
    app.config.update(smtp.settings(), CAUCE_BASE_URL="https://cauce.iess.test")
    give_everyone_an_address(engine)

    def run() -> list[str]:
        before = len(smtp.received)
        with app.app_context():
            mail_round(engine, app)
        return sorted(r for item in smtp.received[before:] for r in item.recipients)
    return run


def holders(engine, role: str) -> list[str]:
    return sorted(f"{p.username}@iess.test" for p in engine.people_with_role(role))


def addresses(engine) -> list[str]:
    with engine.read_session() as session:
        from sqlalchemy import text

        return list(session.execute(text("SELECT email FROM person")).scalars())


def test_a_task_arriving_mails_the_holders_of_its_role_and_nobody_else(walker, mailing, smtp,
                                                                       engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    assert 2 <= len(holders(engine, task.role)) < len(addresses(engine))

    assert mailing() == holders(engine, task.role)
    # Over STARTTLS, signed in, with a link to the task and nothing else of the case.
    for item in smtp.received:
        assert item.tls and item.login == "cauce"
        assert item.message["Subject"].startswith("Cauce: Nueva tarea:")
        assert f"https://cauce.iess.test/tareas/{task.task_id}" in item.text()
        assert walker.case.number in item.text()
    assert mailing() == []  # each event is mailed once

    # Activity 2 picks the social worker: the next task goes to that one person only.
    walker.do("reasignar_solicitud")
    assert mailing() == [f"{walker.social_worker}@iess.test"]


def test_a_person_who_turned_task_mails_off_gets_none(walker, mailing, web, engine):
    role = "lider_seguridad"
    quiet = engine.people_with_role(role)[0].username
    client = web(quiet)
    page = client.get("/preferencias/notificaciones")
    assert page.status_code == 200 and "Llega una tarea para mí" in page.get_data(as_text=True)
    saved = client.post("/preferencias/notificaciones",
                        data={"due_soon": "1", "overdue": "1"}, follow_redirects=True)
    assert "Preferencias de notificación guardadas" in saved.get_data(as_text=True)
    html = saved.get_data(as_text=True)
    assert 'name="task_offered" value="1" >' in html
    assert 'name="due_soon" value="1" checked' in html

    walker.start()
    assert walker.task("reasignar_solicitud").role == role
    sent = mailing()
    assert sent == [a for a in holders(engine, role) if a != f"{quiet}@iess.test"] and sent


def test_no_mail_ever_carries_the_confidential_content_of_a_case(walker, mailing, smtp, clock):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
        mailing()
    walker.do("validar_informe", report_validated=False, review_observations="Falta la visita.")
    mailing()
    clock.set(datetime(2026, 3, 24, 5, 0, 1, tzinfo=UTC))
    walker.engine.fire_due_timers()
    mailing()
    assert len(smtp.received) >= 6
    secrets = [REQUEST["requester_name"], REQUEST["beneficiary_name"],
               REQUEST["situation_summary"], "Falta la visita", "Vulnerabilidad económica",
               "hacinamiento"]
    for item in smtp.received:
        whole = item.message.as_string() + item.text()
        for secret in secrets:
            assert secret not in whole, (secret, item.message["Subject"])


def test_a_report_sent_back_by_the_review_is_mailed_as_returned_work(walker, mailing, smtp):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    mailing()
    walker.do("validar_informe", report_validated=False, review_observations="Incompleto.")
    assert mailing() == [f"{walker.social_worker}@iess.test"]
    assert smtp.received[-1].message["Subject"].startswith("Cauce: Trabajo devuelto:")


def test_deadlines_mail_por_vencer_then_overdue_and_escalate_to_the_leader(walker, mailing,
                                                                           smtp, clock, engine):
    walker.start()
    walker.do("reasignar_solicitud")
    mailing()
    # Due at the end of Monday 23 March (Quito): Thursday 19 March is 3 working days before.
    clock.set(datetime(2026, 3, 19, 15, 0, tzinfo=UTC))
    assert mailing() == [f"{walker.social_worker}@iess.test"]
    assert smtp.received[-1].message["Subject"].startswith("Cauce: Tarea por vencer:")
    assert "23/03/2026" in smtp.received[-1].text()
    assert mailing() == []  # told once

    clock.set(datetime(2026, 3, 24, 5, 0, 1, tzinfo=UTC))
    assert walker.engine.fire_due_timers() == 1
    sent = mailing()
    leaders = holders(engine, "lider_seguridad")
    assert sorted(sent) == sorted([f"{walker.social_worker}@iess.test", *leaders])
    subjects = {i.message["Subject"].split(":")[1].strip()
                for i in smtp.received[-len(sent):]}
    assert subjects == {"Escalamiento", "Tarea vencida"}


def test_a_daily_digest_goes_once_a_day_to_those_who_asked(walker, mailing, smtp, web, clock,
                                                           engine):
    reader = engine.people_with_role("lider_seguridad")[0].username
    web(reader).post("/preferencias/notificaciones", data={"digest": "1"})
    walker.start()
    mailing()
    clock.set(datetime(2026, 3, 3, 11, 0, tzinfo=UTC))  # 06:00 in Quito: too early
    assert mailing() == []
    clock.set(datetime(2026, 3, 3, 13, 0, tzinfo=UTC))  # 08:00
    assert mailing() == [f"{reader}@iess.test"]
    digest = smtp.received[-1]
    assert digest.message["Subject"] == "Cauce: su bandeja del 03/03/2026"
    assert "Disponibles para mi rol: 1" in digest.text()
    assert "Tareas mías: 0" in digest.text()
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    assert mailing() == []
    clock.set(datetime(2026, 3, 4, 13, 0, tzinfo=UTC))
    assert mailing() == [f"{reader}@iess.test"]


def test_without_a_server_mails_wait_in_the_outbox(walker, app, engine, people, smtp):
    give_everyone_an_address(engine)
    walker.start()
    with app.app_context():
        outcome = mail_round(engine, app)
    assert outcome.no_server
    waiting = engine.outbox_counts()["pending"]
    assert waiting == len(holders(engine, walker.task("reasignar_solicitud").role))
    assert addressees(smtp) == []


def test_someone_without_an_address_is_told_they_will_get_no_notices(engine, web):
    engine.add_person("sin.correo", "Persona Sin Correo", password=DEMO_PASSWORD)
    html = web("sin.correo").get("/preferencias/notificaciones").get_data(as_text=True)
    assert "no tiene una dirección de correo registrada" in html
    assert "Los avisos llegan a" not in html
