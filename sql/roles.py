"""Roles: CREATE/ALTER/DROP ROLE (and USER), stored in the replicated catalog, with
SCRAM-SHA-256 verifiers for password authentication.

A role is one msgpack value under ``(CATALOG, "role", name)``: its
attributes (LOGIN, SUPERUSER, ...) and, if it has a password, PostgreSQL's
SCRAM-SHA-256 verifier ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``
(base64), never the password itself. A plaintext password in CREATE/ALTER
ROLE is turned into a verifier on the node that runs the statement (the
leader), with a fresh random salt, so the write set replicas apply carries
only the verifier; a client may also send a verifier it computed itself
(psql's ``\\password`` does), which is stored as it is.

Roles are transactional like any catalog write (a CREATE ROLE rolled back
never existed), and need no catalog version bump: no plan depends on them.
`lookup_role` reads the newest applied state of the local replica, which is
what authentication at connection time needs.

Privileges: in this version a role may create, alter and drop roles if it
is a superuser or has CREATEROLE; a session whose user has no stored role
(trust authentication with any name) counts as a superuser, as every user
of a trust-mode server effectively is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import msgpack

from quorumdb.storage import keycode
from quorumdb.storage.errors import (
    DuplicateObject,
    FeatureNotSupported,
    QuorumError,
    UndefinedObject,
)
from quorumdb.storage.mvcc import MVCC

from . import keys
from .clientsyntax import AlterRole, CreateRole, DropRole, RoleOptions, register
from .result import Notice, StatementResult
from .txn import Transaction

if TYPE_CHECKING:
    from .client import ClientSession

__all__ = [
    "Role",
    "ScramVerifier",
    "make_verifier",
    "parse_verifier",
    "lookup_role",
    "all_roles",
    "role_key",
    "BOOTSTRAP_OID",
]

ROLE_PREFIX = keycode.encode((keys.CATALOG, "role"))
SCRAM_ITERATIONS = 4096
BOOTSTRAP_OID = 10  # PostgreSQL's bootstrap superuser; owner of every object here
_FIRST_ROLE_OID = 16384


def role_key(name: str) -> bytes:
    return ROLE_PREFIX + keycode.encode_one(name)


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    oid: int
    login: bool = False
    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    inherit: bool = True
    replication: bool = False
    bypassrls: bool = False
    connection_limit: int = -1
    password: str | None = None  # a SCRAM verifier, never plaintext
    valid_until: str | None = None

    def encode(self) -> bytes:
        return msgpack.packb(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> Role:
        raw = msgpack.unpackb(data)
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


# ---- SCRAM-SHA-256 verifiers --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScramVerifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def __str__(self) -> str:
        b64 = base64.b64encode
        return (
            f"SCRAM-SHA-256${self.iterations}:{b64(self.salt).decode()}"
            f"${b64(self.stored_key).decode()}:{b64(self.server_key).decode()}"
        )


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def saslprep(password: str) -> bytes:
    """RFC 4013 SASLprep as PostgreSQL applies it: the prepared UTF-8 bytes, or the raw
    bytes if the password is not a valid SASLprep string (PostgreSQL's fallback)."""
    if password.isascii():
        return password.encode()
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c
        for c in password
        if not stringprep.in_table_b1(c)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    if any(check(c) for c in normal for check in prohibited):
        return password.encode()
    return normal.encode()


def make_verifier(
    password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> ScramVerifier:
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ScramVerifier(
        iterations, salt, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")
    )


def parse_verifier(text: str) -> ScramVerifier | None:
    """A stored or client-supplied verifier; None if `text` is not one."""
    try:
        scheme, params, keys_ = text.split("$")
        if scheme != "SCRAM-SHA-256":
            return None
        iterations, salt = params.split(":")
        stored, server = keys_.split(":")
        b64 = base64.b64decode
        verifier = ScramVerifier(
            int(iterations), b64(salt, validate=True), b64(stored, validate=True),
            b64(server, validate=True),
        )  # fmt: skip
    except (ValueError, TypeError):
        return None
    if verifier.iterations < 1 or len(verifier.stored_key) != 32 or len(verifier.server_key) != 32:
        return None
    return verifier


# ---- reading roles ----------------------------------------------------------------------


def lookup_role(mvcc: MVCC, name: str) -> Role | None:
    """The role as of the newest state this replica applied (for authentication)."""
    raw = mvcc.get(role_key(name), mvcc.applied_index)
    return Role.decode(raw) if raw is not None else None


def all_roles(txn: Transaction) -> Iterator[Role]:
    start, end = keycode.prefix_range(ROLE_PREFIX)
    for _, value in txn.scan(start, end):
        yield Role.decode(value)


def _get(txn: Transaction, name: str) -> Role | None:
    raw = txn.get_latest(role_key(name))
    return Role.decode(raw) if raw is not None else None


# ---- statements ---------------------------------------------------------------------------


def _check_privilege(session: ClientSession, txn: Transaction, action: str) -> None:
    me = _get(txn, session.user)
    if me is not None and not (me.superuser or me.createrole):
        raise QuorumError(f"permission denied to {action} role", sqlstate="42501")


def _password(options: RoleOptions, notices: list[Notice]) -> tuple[bool, str | None]:
    """(given, verifier text or None) from the PASSWORD option."""
    if not options.password_given:
        return False, None
    text = options.password
    if text is None:
        return True, None
    if text == "":
        notices.append(Notice("empty string is not a valid password, clearing password"))
        return True, None
    if text.startswith("SCRAM-SHA-256$"):
        verifier = parse_verifier(text)
        if verifier is None:
            raise QuorumError("invalid SCRAM secret", sqlstate="22023")
        return True, str(verifier)
    if text.startswith("md5") and len(text) == 35:
        raise FeatureNotSupported(
            "MD5 password hashes are not supported", hint="Use SCRAM-SHA-256."
        )
    return True, str(make_verifier(text))


_FLAGS = ("login", "superuser", "createdb", "createrole", "inherit", "replication", "bypassrls")


def _apply(role: Role, options: RoleOptions, notices: list[Notice]) -> Role:
    changes: dict[str, Any] = {
        flag: getattr(options, flag) for flag in _FLAGS if getattr(options, flag) is not None
    }
    if options.connection_limit is not None:
        changes["connection_limit"] = options.connection_limit
    if options.valid_until is not None:
        changes["valid_until"] = options.valid_until
    given, verifier = _password(options, notices)
    if given:
        changes["password"] = verifier
    return replace(role, **changes)


async def create_role(session: ClientSession, stmt: CreateRole) -> StatementResult:
    notices: list[Notice] = []
    if stmt.name.startswith("pg_"):
        raise QuorumError(
            f'role name "{stmt.name}" is reserved',
            sqlstate="42939",
            detail='Role names starting with "pg_" are reserved.',
        )
    oid = _FIRST_ROLE_OID + session.db.counters.next_id()

    def work(txn: Transaction) -> None:
        _check_privilege(session, txn, "create")
        if _get(txn, stmt.name) is not None:
            raise DuplicateObject(f'role "{stmt.name}" already exists')
        role = _apply(Role(stmt.name, oid, login=stmt.user), stmt.options, notices)
        txn.put(role_key(stmt.name), role.encode())

    await session.in_statement(work)
    return StatementResult("CREATE ROLE", notices=tuple(notices))


async def alter_role(session: ClientSession, stmt: AlterRole) -> StatementResult:
    notices: list[Notice] = []

    def work(txn: Transaction) -> None:
        role = _get(txn, stmt.name)
        if role is None:
            raise UndefinedObject(f'role "{stmt.name}" does not exist')
        if stmt.name != session.user or any(
            getattr(stmt.options, f) is not None for f in _FLAGS
        ):
            _check_privilege(session, txn, "alter")
        txn.lock(role_key(stmt.name))
        txn.put(role_key(stmt.name), _apply(role, stmt.options, notices).encode())

    await session.in_statement(work)
    return StatementResult("ALTER ROLE", notices=tuple(notices))


async def drop_role(session: ClientSession, stmt: DropRole) -> StatementResult:
    notices: list[Notice] = []

    def work(txn: Transaction) -> None:
        _check_privilege(session, txn, "drop")
        for name in stmt.names:
            if name == session.user:
                raise QuorumError("current user cannot be dropped", sqlstate="55006")
            if _get(txn, name) is None:
                if stmt.if_exists:
                    notices.append(Notice(f'role "{name}" does not exist, skipping'))
                    continue
                raise UndefinedObject(f'role "{name}" does not exist')
            txn.lock(role_key(name))
            txn.delete(role_key(name))

    await session.in_statement(work)
    return StatementResult("DROP ROLE", notices=tuple(notices))


register(CreateRole, create_role)
register(AlterRole, alter_role)
register(DropRole, drop_role)
