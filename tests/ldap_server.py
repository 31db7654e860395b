"""A real OpenLDAP ``slapd`` for the tests: a generated slapd.conf in a temp directory, a
loopback port, StartTLS with a certificate made on the spot, simple binds refused without TLS,
the ppolicy overlay (a locked account cannot bind), and a small tree of people and groups."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.smtp_server import free_port
from tests.tls_cert import make_server_certificate

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
MODULES = "/usr/lib/ldap"
SCHEMAS = "/etc/ldap/schema"
SUFFIX = "dc=iess,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "clave-raiz-ldap"
SERVICE_DN = f"cn=cauce,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "clave-servicio-ldap"
USER_BASE = f"ou=people,{SUFFIX}"
GROUP_BASE = f"ou=groups,{SUFFIX}"


def available() -> bool:
    """Tell whether Debian's slapd is installed (``make install-test`` installs it)."""
    return Path(SLAPD).exists() and Path(SLAPADD).exists()


@dataclass(frozen=True)
class Person:
    """A person of the generated tree."""

    uid: str
    name: str
    password: str
    groups: tuple[str, ...]
    title: str | None = None
    mail: bool = True


PEOPLE = (
    Person("mcarrion", "María Carrión", "clave-de-maria-1", ("trabajo-social",)),
    Person("jtoapanta", "José Toapanta", "clave-de-jose-1", ("seguridad",)),
    Person("rguerrero", "Rocío Guerrero", "clave-de-rocio-1", (),
           title="Coordinadora General de Talento Humano"),
    Person("bloqueado", "Bruno Bloqueado", "clave-de-bruno-1", ("trabajo-social",)),
    Person("inhabilitada", "Inés Inhabilitada", "clave-de-ines-1",
           ("trabajo-social", "cuentas-deshabilitadas")),
)
GROUPS = ("trabajo-social", "seguridad", "cuentas-deshabilitadas")


def group_dn(name: str) -> str:
    """Return a group's DN."""
    return f"cn={name},{GROUP_BASE}"


def person_dn(uid: str) -> str:
    """Return a person's DN."""
    return f"uid={uid},{USER_BASE}"


def _tree() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: iess\no: IESS",
        f"dn: {USER_BASE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUP_BASE}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services",
        f"dn: ou=policies,{SUFFIX}\nobjectClass: organizationalUnit\nou: policies",
        f"dn: cn=default,ou=policies,{SUFFIX}\nobjectClass: applicationProcess\n"
        "objectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE",
        f"dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: cauce\nuserPassword: {SERVICE_PASSWORD}",
    ]
    for person in PEOPLE:
        given, _, family = person.name.partition(" ")
        lines = [f"dn: {person_dn(person.uid)}", "objectClass: inetOrgPerson",
                 f"uid: {person.uid}", f"cn: {person.name}", f"sn: {family}",
                 f"givenName: {given}", f"userPassword: {person.password}"]
        if person.mail:
            lines.append(f"mail: {person.uid}@iess.test")
        if person.title:
            lines.append(f"title: {person.title}")
        if person.uid == "bloqueado":
            # ppolicy: this special value locks the account until an administrator unlocks it.
            lines.append("pwdAccountLockedTime: 000001010000Z")
        entries.append("\n".join(lines))
    for group in GROUPS:
        members = [person_dn(p.uid) for p in PEOPLE if group in p.groups] or [SERVICE_DN]
        entries.append("\n".join([f"dn: {group_dn(group)}", "objectClass: groupOfNames",
                                  f"cn: {group}", *[f"member: {m}" for m in members]]))
    return "\n\n".join(entries) + "\n"




class LdapServer:
    """slapd on a loopback port; ``stop()`` / ``start()`` simulate the directory going down."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.certificate = make_server_certificate(directory / "tls")
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        (self.dir / "data").mkdir(exist_ok=True)
        self.config = self.dir / "slapd.conf"
        self.config.write_text(self._config(), encoding="utf-8")
        tree = self.dir / "tree.ldif"
        tree.write_text(_tree(), encoding="utf-8")
        subprocess.run([SLAPADD, "-f", str(self.config), "-l", str(tree)], check=True,
                       capture_output=True)

    def _config(self) -> str:
        schemas = "\n".join(f"include {SCHEMAS}/{name}.schema"
                            for name in ("core", "cosine", "inetorgperson", "nis"))
        cert = self.certificate
        return f"""{schemas}
pidfile {self.dir}/slapd.pid
modulepath {MODULES}
moduleload back_mdb
moduleload ppolicy
TLSCACertificateFile {cert.ca_file}
TLSCertificateFile {cert.cert_file}
TLSCertificateKeyFile {cert.key_file}
# Simple binds (passwords) only over an encrypted connection: StartTLS is not optional.
security simple_bind=64
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by dn.exact="{SERVICE_DN}" read
    by self read
    by * none
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {self.dir}/data
maxsize 10485760
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{SUFFIX}"
"""

    def start(self) -> None:
        """Start slapd and wait until it answers."""
        self._process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self.config), "-h", self.url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import socket

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd stopped: {self._process.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start in 15 s")

    def stop(self) -> None:
        """Stop slapd."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None

    def modify_group(self, group: str, *, add: str | None = None,
                     remove: str | None = None) -> None:
        """Move a person in or out of a group (as the directory's administrator would)."""
        changes = []
        if add:
            changes.append(f"add: member\nmember: {person_dn(add)}\n-")
        if remove:
            changes.append(f"delete: member\nmember: {person_dn(remove)}\n-")
        ldif = f"dn: {group_dn(group)}\nchangetype: modify\n" + "\n".join(changes) + "\n"
        subprocess.run(["ldapmodify", "-x", "-ZZ", "-H", self.url, "-D", ROOT_DN,
                        "-w", ROOT_PASSWORD], input=ldif.encode(), check=True,
                       capture_output=True,
                       env={"LDAPTLS_CACERT": str(self.certificate.ca_file), "PATH": "/usr/bin"})

    def settings(self, **overrides: object) -> dict[str, object]:
        """Return Cauce's ``CAUCE_LDAP_*`` configuration for this server."""
        return {
            "CAUCE_LDAP_URL": self.url, "CAUCE_LDAP_BIND_DN": SERVICE_DN,
            "CAUCE_LDAP_BIND_PASSWORD": SERVICE_PASSWORD, "CAUCE_LDAP_USER_BASE": USER_BASE,
            "CAUCE_LDAP_USER_FILTER": "(&(objectClass=inetOrgPerson)(uid={username}))",
            "CAUCE_LDAP_GROUP_BASE": GROUP_BASE, "CAUCE_LDAP_START_TLS": "1",
            "CAUCE_LDAP_CA_FILE": str(self.certificate.ca_file),
            "CAUCE_LDAP_DISABLED_GROUP": group_dn("cuentas-deshabilitadas"),
            "CAUCE_LDAP_POSITION_MAP": {
                "groups": {
                    group_dn("trabajo-social"): ["Trabajador/a Social"],
                    group_dn("seguridad"): ["Líder de Seguridad e Higiene Laboral"],
                },
                "attributes": {
                    "title": {"Coordinadora General de Talento Humano":
                              ["Coordinador/a General de Talento Humano"]},
                },
            },
            **overrides,
        }
