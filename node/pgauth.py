"""Password authentication: the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677).

`ScramExchange` is a pure state machine (no I/O): fed the client's SASL
messages, it returns the server's answers and finally a verdict. The
connection (node/pgserver.py) frames them as AuthenticationSASL /
SASLContinue / SASLFinal and PasswordMessage ('p') bodies.

Invariants:

* Only verifiers are ever compared: a password never reaches the server
  in any form (SCRAM sends a proof), and stored roles hold verifiers only
  (sql/roles.py).
* An unknown user, a role without a password and a wrong password are
  indistinguishable to the client: an unknown user gets a mock verifier
  whose salt is derived from the user name and a per-process secret (what
  PostgreSQL does), the exchange runs to the end, and all three fail with
  28P01 ``password authentication failed for user "..."``.
* Channel binding (SCRAM-SHA-256-PLUS) is not offered: with TLS terminated on
  a follower that relays to the leader, the leader could not bind to the
  client's channel. A client that insists on it is refused (28000).
* Proofs are compared in constant time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quorumdb.sql.roles import (
    SCRAM_ITERATIONS,
    Role,
    ScramVerifier,
    make_verifier,
    parse_verifier,
)
from quorumdb.storage.errors import InvalidPassword, ProtocolViolation, QuorumError

from . import pgwire

__all__ = [
    "MECHANISM",
    "ScramExchange",
    "AuthFailed",
    "Authenticator",
    "PasswordAuthentication",
    "parse_sasl_initial",
    "mock_verifier",
]

MECHANISM = "SCRAM-SHA-256"
_MOCK_SECRET = secrets.token_bytes(32)


class AuthFailed(InvalidPassword):
    """28P01, FATAL."""


def failed(user: str) -> AuthFailed:
    return AuthFailed(f'password authentication failed for user "{user}"')


def mock_verifier(user: str) -> ScramVerifier:
    """A verifier that matches no password, stable per user name for this process."""
    salt = hmac.new(_MOCK_SECRET, user.encode(), hashlib.sha256).digest()[:16]
    return ScramVerifier(
        SCRAM_ITERATIONS, salt, secrets.token_bytes(32), secrets.token_bytes(32)
    )


def parse_sasl_initial(body: bytes) -> tuple[str, bytes]:
    """SASLInitialResponse: (mechanism, client-first-message)."""
    end = body.find(b"\0")
    if end < 0 or len(body) < end + 5:
        raise ProtocolViolation("malformed SASLInitialResponse message")
    mechanism = body[:end].decode(errors="replace")
    length = int.from_bytes(body[end + 1 : end + 5], "big", signed=True)
    data = body[end + 5 :]
    if length != len(data):
        raise ProtocolViolation("malformed SASLInitialResponse message")
    return mechanism, data


def _attributes(message: str) -> list[tuple[str, str]]:
    out = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ProtocolViolation("malformed SCRAM message")
        out.append((part[0], part[2:]))
    return out


@dataclass(slots=True)
class ScramExchange:
    """One SCRAM-SHA-256 authentication of `user` against `verifier` (None: unknown user)."""

    user: str
    verifier: ScramVerifier | None
    _client_first_bare: str = ""
    _server_first: str = ""
    _nonce: str = ""
    _gs2_header: str = ""
    _real: bool = False  # False: a mock verifier for a user without a password

    def __post_init__(self) -> None:
        if self.verifier is None:
            self._real = False
            self.verifier = mock_verifier(self.user)
        else:
            self._real = True

    def first(self, client_first: bytes) -> bytes:
        """client-first-message -> server-first-message."""
        try:
            text = client_first.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("malformed SCRAM message (invalid UTF-8)") from None
        flag, _, rest = text.partition(",")
        if flag.startswith("p="):
            raise QuorumError(
                "channel binding is not supported by this server", sqlstate="28000"
            )
        if flag not in ("n", "y"):
            raise ProtocolViolation(f'malformed SCRAM message (unexpected channel-binding flag "{flag}")')
        authzid, _, bare = rest.partition(",")
        if authzid:
            raise QuorumError("client uses authorization identity, but it is not supported", sqlstate="0A000")
        self._gs2_header = f"{flag},,"
        attrs = dict(_attributes(bare))
        client_nonce = attrs.get("r")
        if not client_nonce or "n" not in attrs:
            raise ProtocolViolation("malformed SCRAM message (missing nonce or user)")
        self._client_first_bare = bare
        self._nonce = client_nonce + base64.b64encode(secrets.token_bytes(18)).decode()
        verifier = self.verifier
        assert verifier is not None
        salt = base64.b64encode(verifier.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={verifier.iterations}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        """client-final-message -> server-final-message; raises 28P01 on a bad proof."""
        try:
            text = client_final.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("malformed SCRAM message (invalid UTF-8)") from None
        attrs = _attributes(text)
        if len(attrs) < 3 or attrs[0][0] != "c" or attrs[1][0] != "r" or attrs[-1][0] != "p":
            raise ProtocolViolation("malformed SCRAM message (unexpected attributes)")
        binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attrs[0][1] != binding:
            raise ProtocolViolation("SCRAM channel binding check failed")
        if attrs[1][1] != self._nonce:
            raise ProtocolViolation("SCRAM nonce mismatch")
        try:
            proof = base64.b64decode(attrs[-1][1], validate=True)
        except ValueError:
            raise ProtocolViolation("malformed SCRAM message (invalid proof)") from None
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        verifier = self.verifier
        assert verifier is not None
        signature = hmac.new(verifier.stored_key, auth_message, hashlib.sha256).digest()
        if len(proof) != len(signature):
            raise failed(self.user)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), verifier.stored_key)
        if not (ok and self._real):
            raise failed(self.user)
        server_signature = hmac.new(verifier.server_key, auth_message, hashlib.sha256).digest()
        return b"v=" + base64.b64encode(server_signature)


class Authenticator:
    """Who may log in with which verifier (`--auth scram`).

    `lookup(name)` reads a role from the local replica (sql/roles.py). The
    configured superuser (`--superuser`, with `--superuser-password`) logs in
    with a verifier computed at start-up and held only in memory, so a fresh
    cluster has someone who can CREATE ROLE; it is accepted even if a stored
    role of the same name exists."""

    def __init__(
        self,
        lookup: Callable[[str], Role | None],
        superuser: str | None = None,
        superuser_password: str | None = None,
    ) -> None:
        self.lookup = lookup
        self.superuser = superuser
        self._superuser_verifier = (
            make_verifier(superuser_password) if superuser and superuser_password else None
        )

    def credentials(self, user: str) -> tuple[ScramVerifier | None, bool]:
        """(verifier or None, may log in)."""
        if self._superuser_verifier is not None and user == self.superuser:
            return self._superuser_verifier, True
        role = self.lookup(user)
        if role is None or role.password is None:
            return None, False
        return parse_verifier(role.password), role.login


_AUTH_SECONDS = 60.0  # PostgreSQL's authentication_timeout


class PasswordAuthentication:
    """The SASL exchange on a connection (mixed into pgserver's `_Connection`)."""

    _send: Any
    _flush: Any
    _read_message: Any

    async def _authenticate(self, auth: Authenticator, user: str) -> None:
        """Run SCRAM-SHA-256 with the client; raises a FATAL error unless it proves the
        password (bounded by `_AUTH_SECONDS`, so a silent client cannot hold a slot)."""
        try:
            await asyncio.wait_for(self._scram(auth, user), _AUTH_SECONDS)
        except TimeoutError:
            raise QuorumError(
                "canceling authentication due to timeout", sqlstate="08006"
            ) from None

    async def _scram(self, auth: Authenticator, user: str) -> None:
        verifier, may_login = auth.credentials(user)
        exchange = ScramExchange(user, verifier)
        self._send(pgwire.authentication_sasl([MECHANISM]))
        await self._flush()
        mechanism, client_first = parse_sasl_initial(await self._password_message())
        if mechanism != MECHANISM:
            raise ProtocolViolation(
                "client selected an invalid SASL authentication mechanism"
            )
        self._send(pgwire.authentication_sasl_continue(exchange.first(client_first)))
        await self._flush()
        server_final = exchange.final(await self._password_message())
        if not may_login:
            raise QuorumError(f'role "{user}" is not permitted to log in', sqlstate="28000")
        self._send(pgwire.authentication_sasl_final(server_final))

    async def _password_message(self) -> bytes:
        message = await self._read_message()
        if message is None:
            raise ProtocolViolation("the client closed the connection during authentication")
        if not isinstance(message, pgwire.PasswordMessage):
            raise ProtocolViolation(
                f"expected SASL response, got message type {type(message).__name__}"
            )
        return message.data
