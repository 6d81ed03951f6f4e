"""OpenLDAP (Debian's `slapd`) for the stack's second provider, Dex: the stack's people and
groups as a directory, on loopback, as the current user.

`start(password)` writes a slapd.conf and the directory's LDIF into `.stack/ldap/`, loads it
with `slapadd` and starts `slapd -d stats` in the foreground as stack process "ldap" (no
system service, no root, nothing outside the state dir). It returns the `Directory` that
Dex's LDAP connector needs: the URL and a read-only service account (`cn=dex`) whose
password, like the people's, is made at start.

The directory holds the stack's users (tests/stack/people.py) in `ou=people` with
`mail` = `<uid>@example.test`, and their groups in `ou=groups` as `groupOfNames`. One more
person, `erin`, is only in `web-devs`, which is itself a member of `team-a`: Dex's connector
finds `team-a` for her only by following nested groups (`recursionGroupAttr`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.stack import people, procs
from tests.stack.paths import stack_dir

SUFFIX = "dc=example,dc=test"
PEOPLE_DN = f"ou=people,{SUFFIX}"
GROUPS_DN = f"ou=groups,{SUFFIX}"
BIND_DN = f"cn=dex,{SUFFIX}"
# Debian's locations; PATH rarely has /usr/sbin for a non-root user.
SBIN = (Path("/usr/sbin"), Path("/sbin"))
SCHEMAS = ("core", "cosine", "inetorgperson")


@dataclass(frozen=True)
class Directory:
    url: str
    bind_dn: str
    bind_password: str


def ldap_dir() -> Path:
    return stack_dir() / "ldap"


def tool(name: str) -> str:
    found = shutil.which(name) or next((str(d / name) for d in SBIN if (d / name).is_file()), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's slapd (scripts/bootstrap)")
    return found


def ssha(password: str) -> str:
    """RFC 2307 `{SSHA}` of `password`, as slappasswd makes it (so no clear text on disk)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - LDAP's own scheme
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def slapd_conf(state: Path, schema_dir: Path, module_dir: Path) -> str:
    schemas = "\n".join(f"include {schema_dir / s}.schema" for s in SCHEMAS)
    return f"""# Written by tests/stack/ldap_daemon.py for this stack only.
{schemas}
pidfile {state / "slapd.pid"}
modulepath {module_dir}
moduleload back_mdb
database mdb
suffix "{SUFFIX}"
directory {state / "data"}
maxsize 16777216
# Passwords: only to bind with. Everything else: the service account and each person
# themselves may read; nobody may write.
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{BIND_DN}" read
  by self read
  by * none
"""


def ldif(password: str, bind_password: str) -> str:
    """The directory: base, the service account, people, groups (nested where people.NESTED)."""
    entries = [
        [
            f"dn: {SUFFIX}",
            "objectClass: dcObject",
            "objectClass: organization",
            "dc: example",
            "o: Example",
        ],
        [f"dn: {PEOPLE_DN}", "objectClass: organizationalUnit", "ou: people"],
        [f"dn: {GROUPS_DN}", "objectClass: organizationalUnit", "ou: groups"],
        [
            f"dn: {BIND_DN}",
            "objectClass: organizationalRole",
            "objectClass: simpleSecurityObject",
            "cn: dex",
            f"userPassword: {ssha(bind_password)}",
        ],
    ]
    for user in people.directory_users():
        entries.append(
            [
                f"dn: uid={user},{PEOPLE_DN}",
                "objectClass: inetOrgPerson",
                f"uid: {user}",
                f"cn: {user.capitalize()}",
                f"sn: {user.capitalize()}",
                f"mail: {people.email(user)}",
                f"userPassword: {ssha(password)}",
            ]
        )
    for group, members in people.directory_groups().items():
        entry = [f"dn: cn={group},{GROUPS_DN}", "objectClass: groupOfNames", f"cn: {group}"]
        for member in members:
            dn = f"uid={member},{PEOPLE_DN}" if member in people.directory_users() else None
            entry.append(f"member: {dn or f'cn={member},{GROUPS_DN}'}")
        entries.append(entry)
    return "\n\n".join("\n".join(e) for e in entries) + "\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(password: str, timeout: float = 30.0) -> Directory:
    state = ldap_dir()
    shutil.rmtree(state, ignore_errors=True)
    (state / "data").mkdir(parents=True, mode=0o700)
    os.chmod(state, 0o700)
    bind_password = secrets.token_urlsafe(18)
    conf = state / "slapd.conf"
    conf.write_text(slapd_conf(state, Path("/etc/ldap/schema"), Path("/usr/lib/ldap")))
    data = state / "directory.ldif"
    data.write_text(ldif(password, bind_password))
    for path in (conf, data):
        os.chmod(path, 0o600)
    loaded = subprocess.run(
        [tool("slapadd"), "-q", "-f", str(conf), "-l", str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if loaded.returncode != 0:
        raise RuntimeError(f"slapadd failed: {loaded.stderr.strip()[-500:]}")
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    # -d keeps slapd in the foreground (a stack process like the others); `stats` logs each
    # connection and operation (bind DNs, search filters; never a password).
    procs.spawn("ldap", [tool("slapd"), "-d", "stats", "-f", str(conf), "-h", f"{url}/"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ldap" in procs.dead():
            raise RuntimeError(f"slapd exited; see {procs.log_dir() / 'ldap.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Directory(url, BIND_DN, bind_password)
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"slapd not listening on {url} after {timeout:.0f}s")
