"""`RaftTransport`: pysyncobj's TCP transport with an outbox, and the wire half of the
leadership rules.

Two jobs, both at the point where messages cross the process boundary:

* **Nothing is acknowledged before it is durable.** `send` only queues.
  `flush_outbox` (called by the tick loop before it waits for the network and
  right after) fdatasyncs the journal once and hands every queued message to
  TCP. Everything appended during one tick - many proposals, or the entries
  of many append_entries messages on a follower - shares that one fsync, and
  no acknowledgement or vote can reach a peer before the entries and term it
  reflects are on disk. A leader's append_entries are the one exception: they
  leave before its fsync, so leader and followers fsync in parallel (see
  `flush_outbox` for why that is safe).
* **Node information**: every member periodically tells the others what it
  advertises (``node_info``: e.g. its PostgreSQL and gRPC addresses); the
  latest copy per peer is kept in `peer_info`.
* **Messages pysyncobj does not know about**, routed to `LeadershipGuard`:
  pre-vote requests and answers, lease acknowledgements (piggybacked on the
  follower's next_node_idx reply when there is one), and the stale-term
  notice. Vote requests are dropped while the guard says the leader is
  alive; forwarded proposals (``apply_command``) are dropped in both
  directions, because a node must only propose while it believes it leads.

pysyncobj's unauthenticated admin protocol on the Raft port (utility
commands: add/remove member, transfer, status) is refused.

`drop` is a fault-injection hook for tests (simulated partitions): when set,
a message for which it returns True is silently lost, in either direction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

from pysyncobj.tcp_connection import CONNECTION_STATE
from pysyncobj.transport import TCPTransport

from .journal import DurableJournal
from .leadership import LeadershipGuard

__all__ = ["RaftTransport"]

log = logging.getLogger("quorumdb.raft.transport")

Message = dict[str, Any]


def _payload_size(message: Message) -> int:
    """Rough size of the bulk data in a message, for the replication window."""
    size = 64
    entries = message.get("entries")
    if entries:
        size += sum(len(e[0]) for e in entries)
    data = message.get("data")
    if data:
        size += len(data)
    serialized = message.get("serialized")
    if serialized:
        size += len(serialized[0].get("data", b""))
    return size


class RaftTransport(TCPTransport):
    """Constructed by SyncObj (``transportClass``); `attach` wires it up before the first tick."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:  # noqa: N803
        self._outbox: list[tuple[Hashable, Message]] = []
        self._queued_bytes: dict[Hashable, int] = {}
        self._journal: DurableJournal | None = None
        self._guard: LeadershipGuard | None = None
        self._clock: Callable[[], float] | None = None
        self._replying_to: tuple[Hashable, int, float] | None = None
        self._ack_sent = False
        self.drop: Callable[[str, str, Message], bool] | None = None  # (direction, peer, message)
        self.peer_info: dict[str, dict[str, str]] = {}
        super().__init__(syncObj, selfNode, otherNodes)

    def attach(
        self, journal: DurableJournal, guard: LeadershipGuard, clock: Callable[[], float]
    ) -> None:
        self._journal = journal
        self._guard = guard
        self._clock = clock

    # ---- outgoing ------------------------------------------------------------

    def send(self, node: Any, message: Message) -> bool:
        kind = message.get("type")
        if kind in ("apply_command", "apply_command_response"):
            log.error("not forwarding %s to %s: proposals are only made on the leader", kind, node)
            return False
        guard = self._guard
        if guard is not None and self._clock is not None:
            if kind == "append_entries":
                guard.stamp(message, self._clock())
            elif kind == "request_vote":
                guard.mark_vote_request(message)
            elif kind == "next_node_idx":
                self._piggyback_ack(node, message)
        self._outbox.append((node, message))
        self._queued_bytes[node] = self._queued_bytes.get(node, 0) + _payload_size(message)
        return self.connected(node)

    def connected(self, node: Any) -> bool:
        conn = self._connections.get(node)
        return conn is not None and conn.state == CONNECTION_STATE.CONNECTED

    def backlog(self, node: Any) -> int:
        """Bytes queued for `node` and not yet taken by the kernel."""
        conn = self._connections.get(node)
        pending = conn.getSendBufferSize() if conn is not None else 0
        return pending + self._queued_bytes.get(node, 0)

    def flush_outbox(self) -> None:
        """Send everything queued, in order, around one fdatasync of the journal.

        The leading run of append_entries messages goes out *before* the fsync,
        so the followers store and fsync the new entries while the leader does
        (one fsync on the commit path instead of two in a row). That is safe:
        a follower treats them as uncommitted entries like any others, and the
        commit index they carry only counts entries this leader had fsynced
        (commit indexes are computed at the start of a tick, and every tick
        ends with this flush; RaftNode._run also flushes before the tick).
        Everything else - acknowledgements, votes - waits for the fsync.
        """
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        self._queued_bytes.clear()
        journal = self._journal
        early = 0
        if journal is not None and journal.dirty:
            while early < len(outbox) and outbox[early][1].get("type") == "append_entries":
                early += 1
            self._send_messages(outbox[:early])
            journal.flush()
        self._send_messages(outbox[early:] if early else outbox)

    def _send_messages(self, messages: list[tuple[Hashable, Message]]) -> None:
        drop = self.drop
        for node, message in messages:
            if drop is not None and drop("out", str(node), message):
                continue
            TCPTransport.send(self, node, message)

    def discard_outbox(self) -> None:
        self._outbox.clear()
        self._queued_bytes.clear()

    def _piggyback_ack(self, node: Any, message: Message) -> None:
        replying = self._replying_to
        if replying is None or replying[0] != node or self._ack_sent:
            return
        core = self._syncObj
        _, term, sent_at = replying
        if core._getLeader() == node and core.raftCurrentTerm == term:
            message["lease_ack"] = (term, sent_at)
            self._ack_sent = True

    # ---- incoming ------------------------------------------------------------

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:  # noqa: N802
        """pysyncobj answers "utility" commands (add/remove a member, transfer leadership,
        status) from any client that connects to the Raft port, without authentication.
        Administration goes through RaftNode instead, so such connections are closed."""
        if isinstance(message, list):
            log.warning("refusing a pysyncobj admin command on the Raft port: %r", message[:1])
            conn.disconnect()
            self._unknownConnections.discard(conn)
            return
        super()._onIncomingMessageReceived(conn, message)

    def _onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802 - pysyncobj hook
        if (
            self.drop is not None
            and isinstance(message, dict)
            and self.drop("in", str(node), message)
        ):
            return
        guard, clock = self._guard, self._clock
        if guard is None or clock is None or not isinstance(message, dict):
            super()._onMessageReceived(node, message)
            return
        kind = message.get("type")
        now = clock()
        if kind == "pre_vote":
            self.send(node, guard.answer_pre_vote(message, now))
        elif kind == "pre_vote_response":
            guard.on_pre_vote_response(node, message)
        elif kind == "lease_ack":
            self._on_lease_ack(node, message["term"], message["sent"], now)
        elif kind == "stale_term":
            self._on_stale_term(node, message["term"])
        elif kind == "node_info":
            info = message.get("info")
            if isinstance(info, dict):
                self.peer_info[str(node)] = {str(k): str(v) for k, v in info.items()}
        elif kind in ("apply_command", "apply_command_response"):
            log.error("dropping %s from %s: proposals are never forwarded", kind, node)
        elif kind == "request_vote":
            if not guard.drop_vote_request(message, now):
                super()._onMessageReceived(node, message)
        elif kind == "next_node_idx":
            ack = message.pop("lease_ack", None)
            if ack is not None:
                self._on_lease_ack(node, ack[0], ack[1], now)
            self._syncObj.on_progress(
                node, message, lambda: super(RaftTransport, self)._onMessageReceived(node, message)
            )
        elif kind == "append_entries":
            self._on_append_entries(node, message, now)
        else:
            super()._onMessageReceived(node, message)

    def _on_append_entries(self, node: Any, message: Message, now: float) -> None:
        guard = self._guard
        assert guard is not None
        notice = guard.stale_term_notice(node, message, now)
        if notice is not None:
            self.send(node, notice)
        sent_at = message.get("lease")
        term = message.get("term", -1)
        self._replying_to = (node, term, sent_at) if sent_at is not None else None
        self._ack_sent = False
        try:
            super()._onMessageReceived(node, message)
        finally:
            self._replying_to = None
        core = self._syncObj
        if core._getLeader() == node and core.raftCurrentTerm == term:
            guard.on_leader_message(now)
            if sent_at is not None and not self._ack_sent:
                self.send(node, {"type": "lease_ack", "term": term, "sent": sent_at})

    def _on_lease_ack(self, node: Any, term: int, sent_at: float, now: float) -> None:
        assert self._guard is not None
        core = self._syncObj
        if core._isLeader() and term == core.raftCurrentTerm:
            # The follower accepted us as its leader: that is a response for check-quorum
            # too, even while it is busy installing a snapshot and sends nothing else.
            core.note_response(node, now)
        self._guard.on_lease_ack(node, term, sent_at, now)

    def _on_stale_term(self, node: Any, term: int) -> None:
        core = self._syncObj
        if term > core.raftCurrentTerm:
            log.warning("%s is at term %d, above ours; stepping down so it can rejoin", node, term)
            # A vote request that cannot be granted (empty log) makes pysyncobj adopt
            # the higher term and step down, which is exactly what we want.
            self.deliver(
                node,
                {"type": "request_vote", "term": term, "last_log_index": -1, "last_log_term": -1},
            )

    def deliver(self, node: Any, message: Message) -> None:
        """Hand `message` to pysyncobj as if `node` sent it (bypassing the guard)."""
        super()._onMessageReceived(node, message)

    def _onNodeDisconnected(self, node: Any) -> None:  # noqa: N802 - pysyncobj hook
        log.debug("disconnected from %s", node)
        super()._onNodeDisconnected(node)
        if self._guard is not None and self._clock is not None:
            self._guard.on_disconnected(node, self._clock())
