"""SCRAM-SHA-256 authentication against roles in the catalog, and TLS on the PostgreSQL port.

The server runs in-process with the real SQL layer; clients are libpq-based
(psycopg, psql), so the SASL exchange is checked against PostgreSQL's own
client implementation.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgclient import startup_packet
from serverthread import LocalDatabase, ServerThread

from quorumdb.node.pgauth import Authenticator, ScramExchange
from quorumdb.node.pgserver import server_tls_context
from quorumdb.sql.roles import lookup_role, make_verifier, parse_verifier


def _authenticator(local: LocalDatabase) -> Authenticator:
    return Authenticator(lambda name: lookup_role(local.mvcc, name), "admin", "s3cret")


@pytest.fixture
def local() -> LocalDatabase:
    return LocalDatabase()


@pytest.fixture
def server(local: LocalDatabase) -> Iterator[ServerThread]:
    with ServerThread(local.open, auth=_authenticator(local)) as srv:
        yield srv


def connect(server: ServerThread, user: str, password: str, **kw: str) -> psycopg.Connection:
    return psycopg.connect(server.dsn(user=user, password=password, **kw), autocommit=True)


def test_superuser_password_and_wrong_password(server):
    with connect(server, "admin", "s3cret") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("admin",)
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "admin"'):
        connect(server, "admin", "nope")


def test_unknown_user_fails_exactly_like_a_wrong_password(server):
    with pytest.raises(psycopg.OperationalError) as unknown:
        connect(server, "ghost", "whatever")
    assert 'password authentication failed for user "ghost"' in str(unknown.value)
    assert "28P01" in str(unknown.value.sqlstate or "28P01")


def test_roles_are_stored_as_scram_verifiers_and_follow_alter_and_drop(server, local):
    with connect(server, "admin", "s3cret") as admin:
        admin.execute("CREATE ROLE alice LOGIN PASSWORD 'pw1'")
        stored = lookup_role(local.mvcc, "alice")
        assert stored is not None and stored.password is not None
        assert stored.password.startswith("SCRAM-SHA-256$4096:") and "pw1" not in stored.password
        with connect(server, "alice", "pw1") as alice:
            assert alice.execute("SELECT current_user").fetchone() == ("alice",)
        admin.execute("ALTER ROLE alice PASSWORD 'pw2'")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(server, "alice", "pw1")
        connect(server, "alice", "pw2").close()
        admin.execute("DROP ROLE alice")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(server, "alice", "pw2")


def test_a_role_without_login_is_refused_with_28000(server):
    with connect(server, "admin", "s3cret") as admin:
        admin.execute("CREATE ROLE bob PASSWORD 'pw'")
    with pytest.raises(psycopg.OperationalError, match='role "bob" is not permitted to log in'):
        connect(server, "bob", "pw")


def test_a_client_computed_verifier_is_stored_as_is(server, local):
    verifier = str(make_verifier("from-client"))
    with connect(server, "admin", "s3cret") as admin:
        admin.execute(f"CREATE USER carol PASSWORD '{verifier}'")
    stored = lookup_role(local.mvcc, "carol")
    assert stored is not None and stored.password == verifier
    connect(server, "carol", "from-client").close()


def test_only_superusers_and_createrole_may_manage_roles(server):
    with connect(server, "admin", "s3cret") as admin:
        admin.execute("CREATE USER dave PASSWORD 'pw'")
    with connect(server, "dave", "pw") as dave:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dave.execute("CREATE ROLE eve")
        dave.execute("ALTER ROLE dave PASSWORD 'pw-new'")  # one's own password is fine


def test_psql_logs_in_with_scram(server):
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    out = subprocess.run(
        [psql, "-h", "127.0.0.1", "-p", str(server.port), "-U", "admin", "-d", "db", "-Atc", "SELECT 42"],
        env={**os.environ, "PGPASSWORD": "s3cret", "PGCONNECT_TIMEOUT": "10"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout.strip() == "42", out.stderr


def test_scram_exchange_unit():
    verifier = make_verifier("pencil", salt=b"0123456789abcdef")
    assert parse_verifier(str(verifier)) == verifier
    exchange = ScramExchange("user", verifier)
    first = exchange.first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert first.startswith(b"r=rOprNGfwEbeRWgbNEkqO") and b",i=4096" in first


# ---- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    directory: Path = tmp_path_factory.mktemp("tls")
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_server(local: LocalDatabase, certificate) -> Iterator[ServerThread]:
    cert, key = certificate
    with ServerThread(
        local.open, auth=_authenticator(local), ssl_context=server_tls_context(cert, key)
    ) as srv:
        yield srv


def test_tls_is_used_when_the_client_asks(tls_server):
    with connect(tls_server, "admin", "s3cret", sslmode="require") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with connect(tls_server, "admin", "s3cret", sslmode="disable") as plain:
        assert not plain.pgconn.ssl_in_use


def test_without_tls_sslmode_require_is_refused_and_prefer_falls_back(server):
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        connect(server, "admin", "s3cret", sslmode="require")
    with connect(server, "admin", "s3cret", sslmode="prefer") as conn:
        assert not conn.pgconn.ssl_in_use


def test_bytes_sent_before_the_tls_answer_are_never_executed(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103) + startup_packet({"user": "admin"}))
        answer = sock.recv(1)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert answer == b"S"
    assert b"08P01" in rest and b"unencrypted data" in rest


def test_a_tls_handshake_failure_only_ends_that_connection(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103))
        assert sock.recv(1) == b"S"
        sock.sendall(b"this is not a TLS ClientHello" * 10)
    with connect(tls_server, "admin", "s3cret", sslmode="require") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
