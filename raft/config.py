"""`RaftConfig`: every knob of the Raft layer, with the reasoning behind each default.

The defaults aim at two measured targets on a 3-node loopback cluster with
fsync on (bench/raft_latency.py): one synchronous proposal well under 5 ms
(median), and a new leader within 3 s after the old one is killed.

pysyncobj settings and why (see `to_syncobj_conf`):

* ``appendEntriesUseBatch=False`` (+ its pipe notifier): a proposal wakes the
  Raft thread at once and is sent immediately instead of waiting for the next
  batch period (pysyncobj's default costs ~100 ms per synchronous write).
  Concurrent proposals still pipeline: everything queued during one tick is
  appended, then fsynced once and sent (raft/transport.py groups the sends).
* ``autoTick=False``: RaftNode runs its own tick loop (raft/node.py) so that
  it can group fsyncs at poll boundaries, run pre-vote before pysyncobj's
  election timer fires and replace the serializer before the first tick.
  `tick_period` is the poll timeout of that loop; it only bounds timer
  resolution, because sockets and the proposal pipe wake the loop early.
* ``appendEntriesPeriod`` = `heartbeat_period` (50 ms): heartbeats also renew
  the leader lease and carry the commit index to followers; 20/s per follower
  is cheap and leaves a 20x margin to the minimum election timeout.
* ``raftMinTimeout``/``raftMaxTimeout`` = 1.0/2.0 s: long enough that a busy
  Python process (GC, a slow fsync, a snapshot chunk) does not look dead, short
  enough for a new leader within ~2 s after a silent failure. A kill -9 is
  faster: followers see the TCP connection drop and start pre-vote at once.
* ``leaderFallbackTimeout`` = the maximum election timeout + 0.5 s (check
  quorum): a leader that has not heard from a majority for that long steps
  down, by which time the majority has been able to elect someone else. It
  is not shorter because members of a loaded machine go quiet for a second
  now and then (a RocksDB checkpoint, a starved process): with the minimum
  election timeout, a bulk load on a busy 2-core machine lost its leader to
  followers that were merely slow. It costs nothing in safety: a leader cut
  off from the majority can commit nothing, and its read lease (below)
  expires after `lease_duration` whatever this says.
* ``connectionTimeout`` 3 s (must be >= raftMaxTimeout), ``connectionRetryTime``
  0.2 s (pysyncobj's 5 s default delays a restarted node's return).
* ``commandsWaitLeader=False``, ``dynamicMembershipChange=True``,
  ``useFork=False``; journal, serializer and log compaction are replaced
  (raft/journal.py, raft/snapshot.py, raft/pysyncobj_glue.py).

`lease_duration` must stay below the minimum election timeout with a margin:
followers refuse to vote for anybody else for that long after hearing from
their leader (leader stickiness), which is what makes the lease safe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["RaftConfig"]


@dataclass(frozen=True, slots=True)
class RaftConfig:
    self_address: str  # "host:port" the other members use to reach this node
    peers: tuple[str, ...]  # the other members' addresses (self may be listed; it is ignored)
    data_dir: str  # journal/ and snapshots/ live here (the state machine keeps its own)
    fsync: bool = True  # False: unsafe on power loss (kill -9 is still fine); for benchmarks
    bind_address: str | None = None  # default: all interfaces, port of self_address

    tick_period: float = 0.01
    heartbeat_period: float = 0.05
    election_timeout_min: float = 1.0
    election_timeout_max: float = 2.0
    leader_fallback_timeout: float | None = None  # None: election_timeout_min
    lease_duration: float | None = None  # None: half the minimum election timeout
    connection_timeout: float = 3.0
    reconnect_period: float = 0.2

    proposal_timeout: float = 10.0  # default for propose(); the outcome is then unknown (08007)
    queue_size: int = 100_000
    append_batch_bytes: int = 256 << 10  # entries per append_entries message
    replication_window_bytes: int = 1 << 20  # unsent bytes queued per follower before pausing

    snapshot_entries: int = 50_000  # compact the journal after this many entries ...
    snapshot_bytes: int = 64 << 20  # ... or this many bytes of commands
    snapshot_chunk_bytes: int = 128 << 10  # one chunk of a snapshot sent to a lagging follower
    journal_segment_bytes: int = 32 << 20

    # What this node tells its peers about itself (e.g. its advertised PostgreSQL and
    # gRPC addresses), so any member can route a client to the leader's services.
    info: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    info_period: float = 0.5  # seconds between node_info messages to each peer

    # Passed to SyncObjConf as-is, last (e.g. {"password": ...} to encrypt Raft traffic).
    extra: dict[str, object] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.election_timeout_max <= self.election_timeout_min:
            raise ValueError("election_timeout_max must exceed election_timeout_min")
        if self.heartbeat_period * 3 >= self.election_timeout_min:
            raise ValueError("heartbeat_period must be below a third of election_timeout_min")
        if self.effective_lease_duration >= 0.9 * self.election_timeout_min:
            raise ValueError("lease_duration must stay well below election_timeout_min")
        if self.connection_timeout < self.election_timeout_max:
            raise ValueError("connection_timeout must be >= election_timeout_max")
        if self.snapshot_entries < 2:
            raise ValueError("snapshot_entries must be >= 2")

    @property
    def effective_lease_duration(self) -> float:
        if self.lease_duration is not None:
            return self.lease_duration
        return self.election_timeout_min / 2

    @property
    def effective_fallback_timeout(self) -> float:
        if self.leader_fallback_timeout is not None:
            return self.leader_fallback_timeout
        return self.election_timeout_max + 0.5

    @property
    def other_members(self) -> tuple[str, ...]:
        return tuple(p for p in self.peers if p != self.self_address)

    @property
    def journal_dir(self) -> str:
        return os.path.join(self.data_dir, "journal")

    @property
    def snapshot_dir(self) -> str:
        return os.path.join(self.data_dir, "snapshots")
