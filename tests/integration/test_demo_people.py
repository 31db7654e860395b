"""seed-demo gives the demo people e-mail addresses, so a demo's notifications reach someone."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.demo import DEMO_MAIL_DOMAIN, seed_demo_people
from tests.conftest import DEMO_PASSWORD
from web.notifications import mail_round

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated")]


def test_every_demo_person_has_an_address_and_one_given_since_is_kept(engine, people):
    social_worker = people["trabajador_social"][0]
    assert engine.person_email(social_worker) == f"{social_worker}@{DEMO_MAIL_DOMAIN}"
    with engine.sql.begin() as connection:
        connection.execute(text("UPDATE person SET email = 'sofia@institucion.gob.ec' "
                                "WHERE username = :u"), {"u": social_worker})
    accounts = seed_demo_people(engine, DEMO_PASSWORD)  # seed-demo again
    assert all(a.email for a in accounts)
    assert engine.person_email(social_worker) == "sofia@institucion.gob.ec"


def test_a_task_arriving_in_the_demo_is_mailed_to_the_demo_addresses(app, engine, walker,
                                                                     smtp):
    app.config.update(smtp.settings(), CAUCE_BASE_URL="https://cauce.demo")
    walker.start()  # people fixture only: no address was set by the test
    role = walker.task("reasignar_solicitud").role
    with app.app_context():
        mail_round(engine, app)
    received = sorted(r for item in smtp.received for r in item.recipients)
    assert received == sorted(f"{p.username}@{DEMO_MAIL_DOMAIN}"
                              for p in engine.people_with_role(role))
