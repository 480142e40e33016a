"""Routing a follower's client to the leader: a PostgreSQL-protocol-aware relay.

A client may connect to any node. A follower does not run the client's
statements itself (linearizable reads and all writes belong to the leader);
it opens a connection to the leader's PostgreSQL port, replays the client's
startup packet there and relays the byte streams both ways. Everything the
protocol can do (transactions, prepared statements, COPY, authentication)
therefore behaves exactly as on the leader.

The relay parses message frames (type byte + length) in both directions
only to know three things:

* the transaction status of the last ReadyForQuery, and whether a request is
  in flight, so that when the leader is lost the client is told honestly:
  FATAL 08007 ("transaction resolution unknown") if a query or transaction
  was open, 08006 otherwise — never a silent success;
* `SET quorumdb.read_consistency = 'stale'` sent as a simple query while
  idle: the connection then leaves the leader and is served by this replica
  (`RelayOutcome.stale`), after replaying the SETs that succeeded upstream;
* which SETs succeeded (for that replay).

A routed startup packet carries `ROUTED_FROM`; a node that receives one but
is not the leader refuses it (`NOT_LEADER_SQLSTATE`) instead of relaying
again, so two nodes with different ideas about the leader cannot bounce a
connection between them. `connect_upstream` then asks for the leader again
and retries until its deadline: "never silently write to a stale leader".
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from quorumdb.storage.errors import ConnectionFailure, QuorumError, TransactionResolutionUnknown

from . import pgwire

__all__ = [
    "RelayedKeys",
    "forward_cancel",
    "ROUTED_FROM",
    "NOT_LEADER_SQLSTATE",
    "Upstream",
    "RelayOutcome",
    "connect_upstream",
    "relay",
    "is_stale_switch",
]

log = logging.getLogger(__name__)

ROUTED_FROM = "quorumdb.routed_from"
NOT_LEADER_SQLSTATE = "25006"
_PROTOCOL_3 = 196608
_READ = 64 << 10
_STALE_SET = re.compile(
    r"^\s*set\s+(session\s+)?quorumdb\.read_consistency\s*(=|to)\s*'?stale'?\s*;?\s*$",
    re.IGNORECASE,
)
_SET = re.compile(r"^\s*set\s+(?!local\b|transaction\b|session\s+characteristics\b)", re.I)


def is_stale_switch(sql: str) -> bool:
    return bool(_STALE_SET.match(sql))


@dataclass(frozen=True, slots=True)
class Upstream:
    host: str
    port: int


@dataclass(slots=True)
class RelayOutcome:
    """How a relay ended. `stale` holds the SET statement that asked for stale reads
    (to run locally); `settings` the SETs that succeeded upstream, in order."""

    stale: str | None = None
    settings: list[str] = field(default_factory=list)
    lost: QuorumError | None = None  # the leader went away (the client was told)


class RelayedKeys:
    """The BackendKeyData the leader gave relayed clients, so that their CancelRequests
    (which libpq sends to the node it connected to) can be passed on to that leader."""

    def __init__(self) -> None:
        self._keys: dict[tuple[int, int], Upstream] = {}

    def remember(self, pid: int, secret: int, upstream: Upstream) -> None:
        self._keys[(pid, secret)] = upstream

    def forget(self, pid: int, secret: int) -> None:
        self._keys.pop((pid, secret), None)

    def upstream(self, pid: int, secret: int) -> Upstream | None:
        return self._keys.get((pid, secret))

    def __len__(self) -> int:
        return len(self._keys)


async def forward_cancel(upstream: Upstream, pid: int, secret: int, timeout: float = 5.0) -> None:
    """Send a CancelRequest for (pid, secret) to `upstream` (best effort, as libpq does)."""
    packet = struct.pack("!iiii", 16, pgwire.CANCEL_REQUEST_CODE, pid, secret)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(upstream.host, upstream.port), timeout
        )
    except (OSError, TimeoutError) as exc:
        log.info("could not forward a cancel request to the leader: %s", exc)
        return
    try:
        writer.write(packet)
        await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def _startup_packet(params: Mapping[str, str]) -> bytes:
    body = struct.pack("!I", _PROTOCOL_3) + b"".join(
        k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()
    ) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(5)
    (length,) = struct.unpack("!I", head[1:])
    return head + await reader.readexactly(length - 4)


def _error_fields(frame: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in frame[5:].split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


async def connect_upstream(
    resolve: Callable[[], Awaitable[Upstream]],
    params: Mapping[str, str],
    origin: str,
    *,
    timeout: float = 10.0,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Connect to the leader and send the client's startup packet.

    Returns the stream and the leader's first message (already read). Retries
    while the node reached turns out not to be the leader (a leader change in
    progress) or cannot be reached, until `timeout`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    packet = _startup_packet({**params, ROUTED_FROM: origin})
    delay = 0.02
    last: str = "no leader known"
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ConnectionFailure(
                f"could not reach the cluster leader: {last}",
                hint="A leader election may be in progress, or a majority of nodes is down.",
            )
        try:
            upstream = await asyncio.wait_for(resolve(), remaining)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(upstream.host, upstream.port), remaining
            )
        except QuorumError as exc:
            last = exc.message
        except (OSError, TimeoutError) as exc:
            last = f"{exc}"
        else:
            try:
                writer.write(packet)
                await writer.drain()
                first = await asyncio.wait_for(_read_frame(reader), max(remaining, 0.1))
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                last = f"leader at {upstream.host}:{upstream.port} hung up: {exc}"
                writer.close()
            else:
                if first[:1] != b"E":
                    return reader, writer, first
                fields = _error_fields(first)
                writer.close()
                if fields.get("C") != NOT_LEADER_SQLSTATE:
                    return_error = QuorumError(fields.get("M", "refused by the leader"))
                    return_error.sqlstate = fields.get("C", "08006")
                    return_error.severity = "FATAL"
                    raise return_error
                last = fields.get("M", "not the leader")
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 0.25)


class _Tracker:
    """What the relay knows about the conversation (see the module docstring)."""

    def __init__(self) -> None:
        self.status = "I"
        self.in_flight = 0  # simple queries / Syncs sent and not answered by ReadyForQuery yet
        self.pending_sql: deque[str | None] = deque()
        self.set_ok = False
        self.failed = False
        self.settings: list[str] = []
        self.on_key: Callable[[int, int], None] | None = None

    def frontend(self, kind: int, body: bytes) -> None:
        if kind == 0x51:  # Query
            sql = body[:-1].decode(errors="replace")
            self.pending_sql.append(sql if _SET.match(sql) else None)
            self.in_flight += 1
        elif kind == 0x53:  # Sync
            self.pending_sql.append(None)
            self.in_flight += 1

    def backend(self, kind: int, body: bytes) -> None:
        if kind == 0x5A:  # ReadyForQuery
            self.status = chr(body[0])
            if self.pending_sql:
                sql = self.pending_sql.popleft()
                if sql is not None and self.set_ok and not self.failed:
                    self.settings.append(sql)
            self.in_flight = max(0, self.in_flight - 1)
            self.set_ok = self.failed = False
        elif kind == 0x43:  # CommandComplete
            self.set_ok = body.startswith(b"SET\0")
        elif kind == 0x45:  # ErrorResponse
            self.failed = True
        elif kind == 0x4B and len(body) == 8 and self.on_key is not None:  # BackendKeyData
            pid, secret = struct.unpack("!ii", body)
            self.on_key(pid, secret)


async def _pump_backend(
    upstream: asyncio.StreamReader, client: asyncio.StreamWriter, tracker: _Tracker
) -> None:
    buf = bytearray()
    while True:
        data = await upstream.read(_READ)
        if not data:
            return
        client.write(data)
        buf += data
        pos = 0
        while len(buf) - pos >= 5:
            (length,) = struct.unpack_from("!I", buf, pos + 1)
            end = pos + 1 + length
            if end > len(buf):
                break
            tracker.backend(buf[pos], bytes(buf[pos + 5 : end]))
            pos = end
        del buf[:pos]
        await client.drain()


async def _pump_frontend(
    client: asyncio.StreamReader,
    pending: bytes,
    upstream: asyncio.StreamWriter,
    tracker: _Tracker,
) -> str | None:
    """Forward whole frames; returns the stale-switch SET if the client asks for one."""
    buf = bytearray(pending)
    while True:
        pos = 0
        out: list[bytes] = []
        while len(buf) - pos >= 5:
            (length,) = struct.unpack_from("!I", buf, pos + 1)
            end = pos + 1 + length
            if length < 4 or length > pgwire.MAX_MESSAGE_BYTES:
                raise ConnectionFailure("malformed message from the client")
            if end > len(buf):
                break
            kind = buf[pos]
            body = bytes(buf[pos + 5 : end])
            if kind == 0x51 and tracker.status == "I" and tracker.in_flight == 0:
                sql = body[:-1].decode(errors="replace")
                if is_stale_switch(sql):
                    if out:
                        upstream.write(b"".join(out))
                    return sql
            tracker.frontend(kind, body)
            out.append(bytes(buf[pos:end]))
            pos = end
            if kind == 0x58:  # Terminate
                upstream.write(b"".join(out))
                return None
        del buf[:pos]
        if out:
            upstream.write(b"".join(out))
            await upstream.drain()
        data = await client.read(_READ)
        if not data:
            return None
        buf += data


async def relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    pending: bytes,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
    first: bytes,
    *,
    on_backend_key: Callable[[int, int, Upstream], None] | None = None,
) -> RelayOutcome:
    """Relay until either side ends or the client switches to stale reads.

    `on_backend_key(pid, secret, upstream)` learns the key the leader gives the client
    (for forwarding CancelRequests)."""
    tracker = _Tracker()
    peer = upstream_writer.get_extra_info("peername")
    if on_backend_key is not None and isinstance(peer, tuple):
        upstream = Upstream(str(peer[0]), int(peer[1]))
        tracker.on_key = lambda pid, secret: on_backend_key(pid, secret, upstream)
    client_writer.write(first)
    tracker.backend(first[0], first[5:])
    backend = asyncio.ensure_future(_pump_backend(upstream_reader, client_writer, tracker))
    frontend = asyncio.ensure_future(
        _pump_frontend(client_reader, pending, upstream_writer, tracker)
    )
    try:
        done, _ = await asyncio.wait({backend, frontend}, return_when=asyncio.FIRST_COMPLETED)
        if frontend in done:
            stale = frontend.result()
            if stale is not None:
                upstream_writer.write(b"X\x00\x00\x00\x04")  # Terminate the leader session
            return RelayOutcome(stale, tracker.settings)
        exc = backend.exception()
        # The leader went away (killed, or it stepped down and closed the session).
        if tracker.in_flight or tracker.status in ("T", "E"):
            error: QuorumError = TransactionResolutionUnknown(
                "the connection to the leader was lost; the outcome of the transaction is unknown"
            )
        else:
            error = ConnectionFailure("the connection to the leader was lost")
        error.severity = "FATAL"
        if exc is not None and not isinstance(exc, OSError):
            log.error("relay from the leader failed", exc_info=exc)
        client_writer.write(pgwire.error_response_for(error))
        return RelayOutcome(None, tracker.settings, error)
    finally:
        for task in (backend, frontend):
            task.cancel()
        await asyncio.gather(backend, frontend, return_exceptions=True)
        upstream_writer.close()

