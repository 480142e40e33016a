"""Everything that reaches into pysyncobj's internals, in one place.

pysyncobj (pinned: 0.3.17, checked at import) is a complete Raft with a
few choices QuorumDB cannot live with. Rather than fork it, this module
subclasses `SyncObj` as `Core` and changes exactly these things, each for a
reason:

1. **Journal.** SyncObj creates its journal inside ``__init__`` through the
   module-level ``pysyncobj.syncobj.createJournal``. That name is replaced
   (once, idempotently) by a dispatcher that returns a `DurableJournal`
   passed as ``conf.journalFile`` and defers to the original for anything
   else, so a plain SyncObj in the same process is unaffected.
2. **Serializer.** pysyncobj's full dump pickles the object and forks (which
   breaks gRPC and copies the process). `Core` replaces its private
   serializer, before the first tick, with `_SnapshotSerializer`: compaction
   takes a state-machine checkpoint in a worker thread, followers that fell
   behind the compacted log receive it in chunks, and the dump loaded at
   startup never replaces a local state that is already ahead of it.
3. **One replicated method**, ``apply(bytes)``: pysyncobj derives method ids
   from names, so there is exactly one, with id 0. The entry's log index
   is ``raftLastApplied + 1`` inside it: ``__applyLogEntries`` applies
   ``raftLastApplied + 1`` onward and increments after each call.
4. **No forwarding, one send per tick.** A follower's SyncObj sends queued
   commands to the leader. `_checkCommandsToApply` fails them with NOT_LEADER
   instead: a node only proposes while it believes it leads. On the leader it
   appends everything queued and then sends once, where pysyncobj sends one
   append_entries per command (the throughput of concurrent proposals).
5. **Sending entries** (``__sendAppendEntries``, rewritten; and `on_progress`
   keeps ``nextIndex`` from going back when an old acknowledgement arrives
   while newer batches are in flight, which made pysyncobj resend them):
   * flow control: at most `window` bytes queued per follower per round
     (pysyncobj keeps sending for a whole heartbeat period, piling up
     unbounded write buffers while a follower catches up);
   * a snapshot is sent a bounded number of chunks per round;
   * messages that carry no log entries to a follower that is behind (snapshot
     chunks) carry ``min(commitIndex, matchIndex)``, not the commit index:
     pysyncobj's follower sets its commit index to ``min(leaderCommit,
     lastLogIndex)`` on *any* append_entries, which would let a follower with
     a stale, conflicting log apply entries that were never committed;
   * a large entry is split into correctly numbered pieces (pysyncobj
     compares the piece offset with the command's length instead of the
     pickled entry's, which can mark a middle piece as the last one).
6. **One clock.** pysyncobj's timers use CLOCK_MONOTONIC_RAW, not
   `time.monotonic` (they differ by a growing offset), so everything in
   raft/ that is compared with them uses `clock` from here.
7. **No deflate for small messages.** pysyncobj's TcpConnection sends every
   message as ``zlib.compress(pickle, 3)``; zlib's set-up alone makes that 25-70 us
   per small message (measured: 69 us for a 533-byte append_entries, against 1 us
   to pickle it), paid on the Raft thread under the GIL for every message both
   ways. `_install_wire_framing` gives ``pysyncobj.tcp_connection`` a ``zlib``
   whose `compress` writes a message under `DEFLATE_FROM` bytes as the same
   format, a zlib stream, in *stored* (uncompressed) blocks: under a microsecond,
   and any pysyncobj peer still reads it. Larger messages (bulk loads, snapshot
   chunks) are still deflated: TcpConnection copies its whole read and write
   buffers for every chunk it moves, so sending them uncompressed doubled the
   time of ``pgbench -i`` (2.95 s -> 6.25 s at scale 1). The stand-in is
   process-wide; since the format is unchanged, nothing else can tell.
8. **Accessors** for the private state the rest of raft/ needs (`CoreView`
   for the leadership guard, status fields), so no other module touches a
   ``_SyncObj__`` name.

If pysyncobj is upgraded, re-read syncobj.py, check every item above, and
update `PINNED_VERSION`.
"""

from __future__ import annotations

import logging
import queue
import struct
import types
import zlib
from collections.abc import Callable, Hashable
from typing import Any

import pysyncobj.pickle as pysyncobj_pickle
import pysyncobj.tcp_connection as _tcp_connection_module
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjException, replicated
from pysyncobj import syncobj as _syncobj_module
from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.monotonic import monotonic as clock
from pysyncobj.node import TCPNode
from pysyncobj.version import VERSION as PYSYNCOBJ_VERSION

from .config import RaftConfig
from .errors import EXIT_SNAPSHOT_FAILED
from .journal import DurableJournal, Entry
from .snapshot import SnapshotMeta, SnapshotStore
from .state import halt
from .transport import RaftTransport

__all__ = ["Core", "PINNED_VERSION", "FAIL_REASON", "RAFT_STATE_NAMES", "clock"]

log = logging.getLogger("quorumdb.raft.core")

PINNED_VERSION = "0.3.17"
if PYSYNCOBJ_VERSION != PINNED_VERSION:  # pragma: no cover - environment check
    raise ImportError(
        f"quorumdb.raft is written against pysyncobj {PINNED_VERSION} internals, "
        f"found {PYSYNCOBJ_VERSION}; see raft/pysyncobj_glue.py before upgrading"
    )

_COMMAND_TYPE = _syncobj_module._COMMAND_TYPE
_REGULAR = bytes([_COMMAND_TYPE.REGULAR])
_RAFT_STATE = _syncobj_module._RAFT_STATE
RAFT_STATE_NAMES = {
    _RAFT_STATE.FOLLOWER: "follower",
    _RAFT_STATE.CANDIDATE: "candidate",
    _RAFT_STATE.LEADER: "leader",
}
_SNAPSHOT_CHUNKS_PER_ROUND = 2
_SLICE = 1024  # entries looked at per message; pysyncobj slices the whole rest of the log


def _install_journal_hook() -> None:
    current = _syncobj_module.createJournal
    if getattr(current, "quorumdb_hook", False):
        return

    def create_journal(journal_file: Any = None) -> Any:
        if isinstance(journal_file, DurableJournal):
            return journal_file
        return current(journal_file)

    create_journal.quorumdb_hook = True  # type: ignore[attr-defined]
    _syncobj_module.createJournal = create_journal


_install_journal_hook()

_STORED_BLOCK = 0xFFFF  # the largest stored deflate block
_STORED_HEADER = struct.Struct("<BHH")  # BFINAL/BTYPE=00, LEN, NLEN
_ADLER = struct.Struct(">I")


def stored_deflate(data: bytes) -> bytes:
    """`data` as a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, 3.2.4):
    what ``zlib.compress(data, 0)`` produces, without zlib's set-up cost."""
    view = memoryview(data)
    size = len(view)
    parts: list[bytes | memoryview] = [b"\x78\x01"]  # deflate, 32 KiB window, no dictionary
    start = 0
    while True:
        chunk = view[start : start + _STORED_BLOCK]
        start += len(chunk)
        parts.append(_STORED_HEADER.pack(start >= size, len(chunk), len(chunk) ^ 0xFFFF))
        parts.append(chunk)
        if start >= size:
            break
    parts.append(_ADLER.pack(zlib.adler32(view)))
    return b"".join(parts)


DEFLATE_FROM = 16 << 10  # messages from this size on are still deflated


def wire_compress(data: bytes, level: int = -1) -> bytes:
    """What pysyncobj's TcpConnection sends for a pickled message (see item 7)."""
    if len(data) < DEFLATE_FROM:
        return stored_deflate(data)
    return zlib.compress(data, level)


def _install_wire_framing() -> None:
    if getattr(_tcp_connection_module.zlib, "quorumdb_hook", False):
        return
    stand_in = types.SimpleNamespace(
        compress=wire_compress, decompress=zlib.decompress, quorumdb_hook=True
    )
    _tcp_connection_module.zlib = stand_in  # type: ignore[assignment]


_install_wire_framing()


def _never_called(*_: object) -> None:  # pragma: no cover
    raise AssertionError("pysyncobj's serializer hooks are replaced by _SnapshotSerializer")


def make_conf(
    config: RaftConfig,
    journal: DurableJournal,
    store: SnapshotStore,
    on_state_changed: Callable[[int, int], None],
) -> SyncObjConf:
    """The SyncObjConf for `config`; the reasons for each value are in raft/config.py."""
    settings: dict[str, Any] = {
        "autoTick": False,
        "autoTickPeriod": config.tick_period,
        "appendEntriesUseBatch": False,
        "appendEntriesPeriod": config.heartbeat_period,
        "raftMinTimeout": config.election_timeout_min,
        "raftMaxTimeout": config.election_timeout_max,
        "leaderFallbackTimeout": config.effective_fallback_timeout,
        "connectionTimeout": config.connection_timeout,
        "connectionRetryTime": config.reconnect_period,
        "appendEntriesBatchSizeBytes": config.append_batch_bytes,
        "commandsQueueSize": config.queue_size,
        "commandsWaitLeader": False,
        "dynamicMembershipChange": True,
        "journalFile": journal,
        "fullDumpFile": store.current_path,
        "serializer": _never_called,
        "deserializer": _never_called,
        "useFork": False,
        "logCompactionMinEntries": config.snapshot_entries,
        "logCompactionMinTime": 10**9,  # compaction is driven by entries and bytes only
        "logCompactionBatchSize": config.snapshot_chunk_bytes,
        "onStateChanged": on_state_changed,
        "bindAddress": config.bind_address,
        "bindRetryTime": 0.1,
        "maxBindRetries": 10,
    }
    settings.update(config.extra)
    return SyncObjConf(**settings)


class Core(SyncObj):
    """SyncObj with one replicated ``apply(bytes)`` and the changes listed above."""

    def __init__(
        self,
        config: RaftConfig,
        journal: DurableJournal,
        store: SnapshotStore,
        *,
        applier: Callable[[int, bytes], object],
        on_state_changed: Callable[[int, int], None],
        on_restored: Callable[[], None],
        state_machine_index: Callable[[], int],
        window_bytes: int,
    ) -> None:
        # Set before SyncObj.__init__, which scans dir(self) for replicated methods.
        self._quorumdb_applier = applier
        self._quorumdb_window = window_bytes
        conf = make_conf(config, journal, store, on_state_changed)
        try:
            super().__init__(
                config.self_address,
                list(config.other_members),
                conf=conf,
                transportClass=RaftTransport,
            )
        except SyncObjException as exc:
            raise OSError(
                f"cannot listen on {config.bind_address or config.self_address}: {exc}"
            ) from exc
        for name in _REQUIRED_INTERNALS:
            if not hasattr(self, name):  # pragma: no cover - environment check
                raise RuntimeError(f"pysyncobj internals changed: {name} is missing")
        if self._methodToID != {"apply_v0": 0}:  # pragma: no cover
            raise RuntimeError(f"expected exactly one replicated method, got {self._methodToID}")
        self._quorumdb_serializer = _SnapshotSerializer(
            store, journal, on_restored=on_restored, state_machine_index=state_machine_index
        )
        self._SyncObj__serializer = self._quorumdb_serializer

    # ---- the replicated method -------------------------------------------------

    @replicated
    def apply(self, command: bytes) -> object:
        return self._quorumdb_applier(self.raftLastApplied + 1, command)

    def propose(self, command: bytes, callback: Callable[[object, int], None]) -> None:
        """Thread-safe: queue `command` for the tick thread and wake it up.

        What ``_applyCommand`` does, except that the wake-up does not depend on
        ``appendEntriesUseBatch``, which `_checkCommandsToApply` flips briefly.
        """
        data = _REGULAR + pysyncobj_pickle.dumps((0, (command,)))
        try:
            self._SyncObj__commandsQueue.put_nowait((data, callback))
        except queue.Full:
            callback(None, FAIL_REASON.QUEUE_FULL)
            return
        self.wake()

    # ---- no forwarding, one send per tick --------------------------------------------

    def _checkCommandsToApply(self) -> None:  # noqa: N802 - pysyncobj's name
        if self._SyncObj__raftState != _RAFT_STATE.LEADER:
            self.fail_queued()
            return
        # pysyncobj sends an append_entries per command; append all that is queued,
        # then send once (one message per follower, and one fsync, per tick).
        conf = self._SyncObj__conf
        last = self._SyncObj__raftLog[-1][1]
        conf.appendEntriesUseBatch = True
        try:
            super()._checkCommandsToApply()
        finally:
            conf.appendEntriesUseBatch = False
        if self._SyncObj__raftLog[-1][1] != last and self.is_leader():
            self._SyncObj__sendAppendEntries()

    def fail_queued(self) -> None:
        """Fail every queued, not yet appended command with NOT_LEADER/MISSING_LEADER."""
        commands = self._SyncObj__commandsQueue
        reason = FAIL_REASON.NOT_LEADER if self._SyncObj__raftLeader else FAIL_REASON.MISSING_LEADER
        while True:
            try:
                _, callback = commands.get_nowait()
            except queue.Empty:
                return
            if callback is not None and not isinstance(callback, tuple):
                callback(None, reason)

    # ---- applying entries: a bounded slice per tick ------------------------------------

    def _SyncObj__applyLogEntries(self) -> bool:  # noqa: N802 - replaces the private method
        """Apply committed entries for at most one heartbeat period per tick.

        pysyncobj applies every committed entry before it looks at its sockets
        again. A backlog (a follower catching up, a burst of large COPY or
        rewrite entries on a loaded machine) then silences the node for as
        long as the whole backlog takes: a leader sends no heartbeats and, on
        its next tick, finds no recent answers and steps down (check quorum);
        a follower answers nothing and looks dead. Here the rest waits for the
        next tick (`poll` does not sleep while a backlog remains), so
        heartbeats and answers keep flowing. At least one entry is applied per
        tick; a single entry is never split.
        """
        commit, applied = self._SyncObj__raftCommitIndex, self._SyncObj__raftLastApplied
        if commit <= applied:
            return False
        deadline = clock() + self._SyncObj__conf.appendEntriesPeriod
        waiting = self._SyncObj__commandsWaitingCommit
        for entry in self._SyncObj__getEntries(applied + 1, commit - applied):
            data, index, term = entry[0], entry[1], entry[2]
            subscribers = waiting.pop(index, [])
            result = self._SyncObj__doApplyCommand(data)
            for subscribed_term, callback in subscribers:
                if subscribed_term == term:
                    callback(result, FAIL_REASON.SUCCESS)
                else:
                    callback(None, FAIL_REASON.DISCARDED)
            self._SyncObj__raftLastApplied += 1
            if clock() >= deadline:
                break
        return True  # appendEntriesUseBatch is off: tell followers the new commit index

    def apply_backlog(self) -> bool:
        """Committed entries are waiting to be applied (tick thread)."""
        return self._SyncObj__raftCommitIndex > self._SyncObj__raftLastApplied  # type: ignore[no-any-return]

    # ---- sending entries -------------------------------------------------------------

    def _SyncObj__sendAppendEntries(self) -> None:  # noqa: N802 - replaces the private method
        conf = self._SyncObj__conf
        self._SyncObj__newAppendEntriesTime = clock() + conf.appendEntriesPeriod
        raft_log = self._SyncObj__raftLog
        connected = self._SyncObj__connectedNodes
        next_index = self._SyncObj__raftNextIndex
        for node in self._SyncObj__otherNodes | self._SyncObj__readonlyNodes:
            if node not in connected:
                self._SyncObj__serializer.cancelTransmisstion(node)
                continue
            if node not in next_index:
                next_index[node] = raft_log[-1][1] + 1
            if next_index[node] > raft_log[0][1]:
                self._send_entries(node)
            else:
                self._send_snapshot(node)

    def _send_entries(self, node: Any) -> None:
        raft_log = self._SyncObj__raftLog
        transport: RaftTransport = self._SyncObj__transport
        next_index = self._SyncObj__raftNextIndex
        batch_bytes = self._SyncObj__conf.appendEntriesBatchSizeBytes
        term, commit = self._SyncObj__raftCurrentTerm, self._SyncObj__raftCommitIndex
        sent = False
        while True:
            first, last = raft_log[0][1], raft_log[-1][1]
            nxt = next_index[node]
            if sent and (nxt > last or transport.backlog(node) >= self._quorumdb_window):
                return
            prev_idx = nxt - 1
            prev_term = raft_log[prev_idx - first][2]
            entries: list[Entry] = []
            if nxt <= last:
                window = raft_log[nxt - first : nxt - first + _SLICE]
                size = count = 0
                for entry in window:  # at least one entry, then up to batch_bytes
                    if count and size + len(entry[0]) > batch_bytes:
                        break
                    size += len(entry[0])
                    count += 1
                entries = window[:count]
            if len(entries) == 1 and len(entries[0][0]) >= batch_bytes:
                self._send_large_entry(node, entries[0], prev_idx, prev_term)
            else:
                transport.send(
                    node,
                    {
                        "type": "append_entries",
                        "term": term,
                        "commit_index": commit,
                        "entries": entries,
                        "prevLogIdx": prev_idx,
                        "prevLogTerm": prev_term,
                    },
                )
            if entries:
                next_index[node] = entries[-1][1] + 1
            sent = True
            if node not in self._SyncObj__connectedNodes:
                return

    def _send_large_entry(self, node: Any, entry: Entry, prev_idx: int, prev_term: int) -> None:
        transport: RaftTransport = self._SyncObj__transport
        batch_bytes = self._SyncObj__conf.appendEntriesBatchSizeBytes
        data = pysyncobj_pickle.dumps(entry)
        for pos in range(0, len(data), batch_bytes):
            if pos == 0:
                kind = "start"
            elif pos + batch_bytes >= len(data):
                kind = "finish"
            else:
                kind = "process"
            transport.send(
                node,
                {
                    "type": "append_entries",
                    "transmission": kind,
                    "data": data[pos : pos + batch_bytes],
                    "term": self._SyncObj__raftCurrentTerm,
                    "commit_index": self._SyncObj__raftCommitIndex,
                    "prevLogIdx": prev_idx,
                    "prevLogTerm": prev_term,
                },
            )

    def _send_snapshot(self, node: Any) -> None:
        transport: RaftTransport = self._SyncObj__transport
        term = self._SyncObj__raftCurrentTerm
        # This follower's log may conflict with ours: only what it is known to share
        # with us may count as committed on its side.
        safe_commit = min(
            self._SyncObj__raftCommitIndex, self._SyncObj__raftMatchIndex.get(node, 0)
        )
        sent = 0
        while sent < _SNAPSHOT_CHUNKS_PER_ROUND and transport.backlog(node) < self._quorumdb_window:
            chunk = self._SyncObj__serializer.getTransmissionData(node)
            if chunk is None:
                break
            transport.send(
                node,
                {
                    "type": "append_entries",
                    "term": term,
                    "commit_index": safe_commit,
                    "serialized": chunk,
                },
            )
            sent += 1
            if chunk[2]:
                self._SyncObj__raftNextIndex[node] = self._SyncObj__raftLog[1][1] + 1
                return
        if sent == 0:  # keep its election timer quiet while we have nothing to send
            transport.send(
                node, {"type": "append_entries", "term": term, "commit_index": safe_commit}
            )

    def on_progress(self, node: Any, message: dict[str, Any], deliver: Callable[[], None]) -> None:
        """Deliver a follower's next_node_idx reply, keeping nextIndex from going back.

        pysyncobj sets nextIndex to the acknowledged position on every success,
        also when the acknowledgement is for an older message while newer ones
        are still in flight (we pipeline). That makes it resend entries the
        follower already has, and the follower then drops and re-adds them.
        """
        before = self._SyncObj__raftNextIndex.get(node) if self.is_leader() else None
        deliver()
        if (
            before is None
            or not message.get("success")
            or message.get("reset")
            or not self.is_leader()
        ):
            return
        next_index = self._SyncObj__raftNextIndex
        if next_index.get(node, 0) < before:
            next_index[node] = before

    # ---- accessors (tick thread) -------------------------------------------------------

    def transport(self) -> RaftTransport:
        return self._SyncObj__transport  # type: ignore[no-any-return]

    def poll(self, timeout: float) -> None:
        self._poller.poll(0.0 if self.apply_backlog() else timeout)

    def wake(self) -> None:
        """Interrupt the tick loop's poll from any thread."""
        self._SyncObj__pipeNotifier.notify()

    def destroy_now(self) -> None:
        """Close sockets and the journal (tick thread, after the loop stopped)."""
        self._doDestroy()

    def is_leader(self) -> bool:
        return self._SyncObj__raftState == _RAFT_STATE.LEADER  # type: ignore[no-any-return]

    def raft_state(self) -> int:
        return self._SyncObj__raftState  # type: ignore[no-any-return]

    def term(self) -> int:
        return self._SyncObj__raftCurrentTerm  # type: ignore[no-any-return]

    def leader(self) -> Hashable | None:
        return self._SyncObj__raftLeader  # type: ignore[no-any-return]

    def leader_address(self) -> str | None:
        leader = self._SyncObj__raftLeader
        return None if leader is None else str(leader.id)

    def last_log(self) -> tuple[int, int]:
        last = self._SyncObj__raftLog[-1]
        return last[1], last[2]

    def log_bounds(self) -> tuple[int, int]:
        raft_log = self._SyncObj__raftLog
        return raft_log[0][1], raft_log[-1][1]

    def voting_peers(self) -> set[Any]:
        return self._SyncObj__otherNodes  # type: ignore[no-any-return]

    def election_deadline(self) -> float:
        return self._SyncObj__raftElectionDeadline  # type: ignore[no-any-return]

    def set_election_deadline(self, when: float) -> None:
        self._SyncObj__raftElectionDeadline = when

    def transfer_in_progress(self) -> bool:
        return self._SyncObj__transferInProgress  # type: ignore[no-any-return]

    def leader_ready(self) -> bool:
        noop = self._SyncObj__noopIDx
        return self.is_leader() and noop is not None and self._SyncObj__raftLastApplied >= noop

    def commit_index(self) -> int:
        return self._SyncObj__raftCommitIndex  # type: ignore[no-any-return]

    def leader_commit_index(self) -> int | None:
        """The leader's commit index as of its last append_entries (this node's own on a
        leader); None until a leader has been heard from."""
        return self._SyncObj__leaderCommitIndex  # type: ignore[no-any-return]

    def last_applied(self) -> int:
        return self._SyncObj__raftLastApplied  # type: ignore[no-any-return]

    def excuse_stall(self, seconds: float) -> None:
        """This node's own tick loop did not run for `seconds` (a starved process, a long
        fsync): move the members' last answer times forward by as much, so that check
        quorum does not blame them for a silence that was ours - they answer what we
        send, and we sent nothing. Only leadership's liveness check reads these times;
        the read lease is computed from acknowledged send times (raft/leadership.py),
        so a stalled leader still loses its lease."""
        times = self._SyncObj__lastResponseTime
        for node in list(times):
            times[node] += seconds

    def response_ages(self, now: float) -> str:
        """How long ago each other member last answered, e.g. "a:1 0.02s, b:2 1.31s"."""
        times = self._SyncObj__lastResponseTime
        return ", ".join(
            f"{node.id} {now - times[node]:.2f}s" if node in times else f"{node.id} never"
            for node in sorted(self._SyncObj__otherNodes, key=lambda n: str(n.id))
        )

    def note_response(self, node: Any, now: float) -> None:
        """Count `node` as responsive for check-quorum (leaderFallbackTimeout)."""
        if node in self._SyncObj__otherNodes:
            self._SyncObj__lastResponseTime[node] = now

    def peer_progress(self) -> list[tuple[str, bool, int | None, int | None]]:
        """(address, connected, match index, next index) per member; indices only on the leader."""
        leader = self.is_leader()
        match, nxt = self._SyncObj__raftMatchIndex, self._SyncObj__raftNextIndex
        return [
            (
                str(node.id),
                node in self._SyncObj__connectedNodes,
                match.get(node) if leader else None,
                nxt.get(node) if leader else None,
            )
            for node in sorted(self._SyncObj__otherNodes, key=lambda n: str(n.id))
        ]

    def snapshot_store(self) -> SnapshotStore:
        return self._quorumdb_serializer.store

    def node_for(self, address: str) -> TCPNode:
        return TCPNode(address)


_REQUIRED_INTERNALS = (
    "_SyncObj__raftLog",
    "_SyncObj__raftState",
    "_SyncObj__raftCurrentTerm",
    "_SyncObj__raftLeader",
    "_SyncObj__raftElectionDeadline",
    "_SyncObj__transferInProgress",
    "_SyncObj__raftCommitIndex",
    "_SyncObj__leaderCommitIndex",
    "_SyncObj__raftLastApplied",
    "_SyncObj__raftNextIndex",
    "_SyncObj__raftMatchIndex",
    "_SyncObj__lastResponseTime",
    "_SyncObj__connectedNodes",
    "_SyncObj__otherNodes",
    "_SyncObj__readonlyNodes",
    "_SyncObj__commandsQueue",
    "_SyncObj__serializer",
    "_SyncObj__transport",
    "_SyncObj__pipeNotifier",
    "_SyncObj__noopIDx",
    "_SyncObj__conf",
    "_SyncObj__newAppendEntriesTime",
    "_SyncObj__commandsWaitingCommit",
    "_SyncObj__getEntries",
    "_SyncObj__doApplyCommand",
)


class _SnapshotSerializer:
    """pysyncobj's Serializer interface over `SnapshotStore` (see item 2 above)."""

    def __init__(
        self,
        store: SnapshotStore,
        journal: DurableJournal,
        *,
        on_restored: Callable[[], None],
        state_machine_index: Callable[[], int],
    ) -> None:
        self.store = store
        self._journal = journal
        self._on_restored = on_restored
        self._state_machine_index = state_machine_index
        self._id: int | None = None

    # compaction ---------------------------------------------------------------------

    def checkSerializing(self) -> tuple[int, int | None]:  # noqa: N802
        state, _ = self.store.poll()
        if state == "idle":
            return SERIALIZER_STATE.NOT_SERIALIZING, None
        if state == "running":
            return SERIALIZER_STATE.SERIALIZING, self._id
        if state == "done":
            return SERIALIZER_STATE.SUCCESS, self._id
        return SERIALIZER_STATE.FAILED, self._id

    def serialize(self, data: tuple[Any, Entry, Entry, Any], id: int) -> None:  # noqa: A002
        _, last, prev, cluster = data
        members = tuple(sorted(str(node.id) for node in cluster))
        if self.store.take(tuple(last), tuple(prev), members, self._state_machine_index()):  # type: ignore[arg-type]
            self._id = id

    # installing ----------------------------------------------------------------------

    def deserialize(self) -> tuple[None, Entry, Entry, set[TCPNode]]:
        """Called by pysyncobj's __loadDumpFile: at startup, and after a snapshot arrived."""
        try:
            received = self.store.take_received()
            if received is not None:
                self._restore(received)
                return None, received.last, received.prev, self._nodes(received)
            meta = self.store.current()
            if meta is None:  # pragma: no cover - pysyncobj only calls us when CURRENT exists
                raise RuntimeError("no snapshot to load")
            self._restore(meta)
            return (None, *self._startup_entries(meta), self._nodes(meta))
        except Exception:  # noqa: BLE001 - pysyncobj would log and carry on half-loaded
            halt(EXIT_SNAPSHOT_FAILED, "loading a snapshot failed")

    def _restore(self, meta: SnapshotMeta) -> None:
        if self.store.restore_if_behind(meta):
            log.info("state machine restored from snapshot %s (index %d)", meta.name, meta.index)
        self._on_restored()

    def _startup_entries(self, meta: SnapshotMeta) -> tuple[Entry, Entry]:
        """(last, prev) to hand pysyncobj so that it keeps the journal if the journal continues
        the snapshot (it clears the journal when they differ from its first two entries)."""
        journal = self._journal
        last_index, last_term = meta.last[1], meta.last[2]
        if len(journal) >= 2:
            first = journal.first_index()
            if first <= last_index - 1 and last_index <= journal.last_index():
                if journal[last_index - first][2] == last_term:
                    return journal[1], journal[0]
        log.warning(
            "journal (%d..%d) does not continue snapshot %s at %d; starting the log there",
            journal.first_index(),
            journal.last_index(),
            meta.name,
            last_index,
        )
        return meta.last, meta.prev

    @staticmethod
    def _nodes(meta: SnapshotMeta) -> set[TCPNode]:
        return {TCPNode(address) for address in meta.members}

    # transmission --------------------------------------------------------------------

    def getTransmissionData(self, transmissionID: Any) -> Any:  # noqa: N802, N803
        return self.store.next_chunk(transmissionID)

    def setTransmissionData(self, data: Any) -> bool:  # noqa: N802
        if data is None:
            return False
        payload, first, last = data
        return self.store.receive(payload, first, last)

    def cancelTransmisstion(self, id: Any) -> None:  # noqa: N802, A002 - pysyncobj's spelling
        self.store.cancel(id)
