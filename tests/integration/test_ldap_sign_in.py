"""Signing in against a real OpenLDAP slapd (started by the tests on a loopback port, StartTLS
required for binds): roles follow directory groups and attributes, locked and disabled accounts
stay out, a directory that is down says so while local accounts still work."""

from __future__ import annotations

import pytest

from engine import DirectoryUnavailable, InvalidCredentials, LdapSettings
from tests.conftest import DEMO_PASSWORD, WebClient
from tests.ldap_server import PEOPLE, available

pytestmark = [pytest.mark.integration,
              # ldap3 2.9.1 still calls pyasn1's old names (harmless renames).
              pytest.mark.filterwarnings("ignore:tagMap is deprecated"),
              pytest.mark.filterwarnings("ignore:typeMap is deprecated"),
              pytest.mark.skipif(not available(), reason="slapd is not installed "
                                 "(make install-test installs Debian's slapd)")]
PASSWORDS = {p.uid: p.password for p in PEOPLE}


@pytest.fixture
def ldap_app(engine, database_url, tmp_path, ldap, people):
    from app import create_app

    return create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                       "SECRET_KEY": "test-secret", "DOCUMENTS_DIR": str(tmp_path / "docs"),
                       **ldap.settings()})


def sign_in(app, username: str, password: str) -> tuple[WebClient, object]:
    client = WebClient(app.test_client())
    return client, client.login(username, password)


def test_the_right_password_signs_in_with_the_roles_the_directory_groups_give(ldap_app,
                                                                             engine):
    client, response = sign_in(ldap_app, "mcarrion", PASSWORDS["mcarrion"])
    assert response.status_code == 302
    person = engine.person("mcarrion")
    assert person.full_name == "María Carrión" and person.roles == {"trabajador_social"}
    assert engine.person_email(person) == "mcarrion@iess.test"
    assert client.get("/bandeja").status_code == 200


def test_an_attribute_such_as_title_maps_to_a_position_too(ldap_app, engine):
    assert sign_in(ldap_app, "rguerrero", PASSWORDS["rguerrero"])[1].status_code == 302
    assert engine.person("rguerrero").roles >= {"coordinador_th"}


def test_a_wrong_password_is_refused_and_counted_by_the_throttle(ldap_app, engine):
    _client, response = sign_in(ldap_app, "mcarrion", "no-es-la-clave")
    assert response.status_code == 401
    assert "Usuario o contraseña incorrectos" in response.get_data(as_text=True)
    for _ in range(4):
        sign_in(ldap_app, "mcarrion", "no-es-la-clave")
    throttled = sign_in(ldap_app, "mcarrion", PASSWORDS["mcarrion"])[1]
    assert throttled.status_code == 429  # even the right password waits now


def test_an_unknown_name_and_an_empty_password_are_refused(engine, ldap):
    settings = LdapSettings.from_mapping(ldap.settings())
    assert settings is not None
    for username, password in [("nadie", "x"), ("mcarrion", ""), ("*", "clave-de-maria-1")]:
        with pytest.raises(InvalidCredentials):
            engine.sign_in_with_directory(settings, username, password, client="10.0.0.9")


def test_locked_and_disabled_directory_accounts_cannot_sign_in(ldap_app, engine):
    # "bloqueado" carries ppolicy's pwdAccountLockedTime: slapd itself refuses the bind.
    locked = sign_in(ldap_app, "bloqueado", PASSWORDS["bloqueado"])[1]
    assert locked.status_code == 401
    # "inhabilitada" is in the disabled group: her password is right, Cauce says why.
    disabled = sign_in(ldap_app, "inhabilitada", PASSWORDS["inhabilitada"])[1]
    assert disabled.status_code == 401
    assert "deshabilitada en el directorio" in disabled.get_data(as_text=True)
    for username in ("bloqueado", "inhabilitada"):
        with pytest.raises(Exception, match="No existe"):
            engine.person(username)


def test_moving_to_another_group_changes_the_roles_at_the_next_sign_in(ldap_app, engine, ldap):
    assert sign_in(ldap_app, "mcarrion", PASSWORDS["mcarrion"])[1].status_code == 302
    assert engine.person("mcarrion").roles == {"trabajador_social"}
    # A position given in Cauce itself is not the directory's to take away.
    with engine._writer.begin() as session:
        from sqlalchemy import select

        from engine.store import PersonPositionRow, PersonRow

        auditor = engine.directory.ensure_position(
            session, "Auditor/a Interno/a de Talento Humano", source="directory")
        person_id = session.scalars(select(PersonRow.id).where(
            PersonRow.username == "mcarrion")).one()
        session.add(PersonPositionRow(person_id=person_id, position_id=auditor.id))

    ldap.modify_group("trabajo-social", remove="mcarrion")
    ldap.modify_group("seguridad", add="mcarrion")
    assert sign_in(ldap_app, "mcarrion", PASSWORDS["mcarrion"])[1].status_code == 302
    roles = engine.person("mcarrion").roles
    assert "trabajador_social" not in roles and {"lider_seguridad", "auditor_gth"} <= roles


def test_a_directory_that_is_down_says_so_and_local_accounts_still_sign_in(ldap_app, ldap,
                                                                           people):
    ldap.stop()
    response = sign_in(ldap_app, "mcarrion", PASSWORDS["mcarrion"])[1]
    assert response.status_code == 503
    assert "No se pudo contactar el directorio institucional" in response.get_data(as_text=True)
    admin = people["coordinador_th"][0]  # a local account (Cauce password)
    assert sign_in(ldap_app, admin, DEMO_PASSWORD)[1].status_code == 302
    # The outage did not count against the person: they sign in once it is back.
    ldap.start()
    for _ in range(6):
        sign_in(ldap_app, "nadie-" + "x", "y")
    assert sign_in(ldap_app, "mcarrion", PASSWORDS["mcarrion"])[1].status_code == 302


def test_binds_travel_inside_starttls_and_without_it_the_server_refuses_them(engine, ldap):
    import ldap3

    # The server requires an encrypted connection for simple binds.
    plain = ldap3.Connection(ldap3.Server(ldap.url), user="uid=mcarrion,ou=people,dc=iess,"
                             "dc=test", password=PASSWORDS["mcarrion"])
    assert not plain.bind()
    assert plain.result["description"] == "confidentialityRequired"
    plain.unbind()
    # So Cauce signing someone in proves StartTLS was negotiated; turned off, it cannot.
    with_tls = LdapSettings.from_mapping(ldap.settings())
    without = LdapSettings.from_mapping(ldap.settings(CAUCE_LDAP_START_TLS="0"))
    assert with_tls is not None and without is not None
    assert engine.sign_in_with_directory(with_tls, "mcarrion", PASSWORDS["mcarrion"],
                                         client="10.0.0.1").person.username == "mcarrion"
    with pytest.raises(DirectoryUnavailable):
        engine.sign_in_with_directory(without, "jtoapanta", PASSWORDS["jtoapanta"],
                                      client="10.0.0.2")


def test_a_certificate_from_an_unknown_authority_is_refused(engine, ldap, tmp_path):
    from tests.tls_cert import make_server_certificate

    stranger = make_server_certificate(tmp_path / "other-ca")
    settings = LdapSettings.from_mapping(ldap.settings(CAUCE_LDAP_CA_FILE=str(stranger.ca_file)))
    assert settings is not None
    with pytest.raises(DirectoryUnavailable):
        engine.sign_in_with_directory(settings, "mcarrion", PASSWORDS["mcarrion"],
                                      client="10.0.0.3")




# -- /api/login follows the same rule as the HTML form ------------------------------------------


def api_login(app, username: str, password: str):
    return app.test_client().post("/api/login", json={"username": username,
                                                      "password": password})


def test_api_login_signs_in_through_the_directory_with_the_roles_its_groups_give(ldap_app,
                                                                                 engine):
    response = api_login(ldap_app, "mcarrion", PASSWORDS["mcarrion"])
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["token"]
    me = ldap_app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["username"] == "mcarrion"
    assert engine.person("mcarrion").roles == {"trabajador_social"}


def test_api_login_refuses_a_wrong_password_and_a_disabled_directory_account(ldap_app):
    wrong = api_login(ldap_app, "mcarrion", "no-es-la-clave")
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["message"] == "Usuario o contraseña incorrectos"
    disabled = api_login(ldap_app, "inhabilitada", PASSWORDS["inhabilitada"])
    assert disabled.status_code == 401
    assert "deshabilitada en el directorio" in disabled.get_json()["error"]["message"]


def test_api_login_with_the_directory_down_says_so_and_local_accounts_still_work(
        ldap_app, ldap, people):
    ldap.stop()
    down = api_login(ldap_app, "mcarrion", PASSWORDS["mcarrion"])
    assert down.status_code == 503
    assert down.get_json()["error"]["code"] == "directory_unavailable"
    assert "No se pudo contactar el directorio institucional" in \
        down.get_json()["error"]["message"]
    assert api_login(ldap_app, people["coordinador_th"][0], DEMO_PASSWORD).status_code == 200
