"""Is this node able to serve? The one set of rules behind /readyz, the gRPC health
service and the health column of `cluster-cli status`.

A node is *ready* (health HEALTHY) when it can answer a client the way the
cluster promises right now:

* a single node without Raft: always, until it shuts down;
* the leader: while its read lease holds, i.e. a majority acknowledged it
  within the lease (right after an election, and when cut off from the
  majority, it has none: it could neither commit nor read linearizably);
* a follower: when it knows a leader, is connected to it, its log holds
  every entry the leader had committed when they last spoke (commit index >=
  the leader's commit index) and it has applied all but the last few of
  them. A follower cut off from the leader keeps believing in it (pre-vote
  stops it from starting elections it cannot win), so "connected" matters:
  pysyncobj drops a connection that has been silent for its timeout.

`CAUGHT_UP_ENTRIES` absorbs the moment between an entry being committed and
applied (same Raft tick, but a probe can land in between under load); the
log-completeness test above is exact, so a node catching up by snapshot is
never called caught up early.

The rules are pure (callers pass the values they read); `assess` reads them
from a running node: `RaftNode.status()` is answered by the Raft thread, so
it runs in a worker thread, never blocking the event loop.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Protocol

from quorumdb.raft import RaftNode, RaftStatus, Role

__all__ = [
    "Health",
    "Verdict",
    "Assessment",
    "AssessedNode",
    "CAUGHT_UP_ENTRIES",
    "STATUS_TIMEOUT",
    "standalone",
    "member",
    "stopping",
    "assess",
]

CAUGHT_UP_ENTRIES = 32
STATUS_TIMEOUT = 2.0  # a Raft thread that cannot answer in this time is not serving either

CAUGHT_UP_ENTRIES = 32


class Health(enum.Enum):
    HEALTHY = "healthy"
    CATCHING_UP = "catching-up"
    NO_LEADER = "no-leader"
    UNREACHABLE = "unreachable"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class Verdict:
    health: Health
    reason: str  # empty when healthy; otherwise why not, for people

    @property
    def ready(self) -> bool:
        return self.health is Health.HEALTHY


_OK = Verdict(Health.HEALTHY, "")


def stopping() -> Verdict:
    return Verdict(Health.STOPPING, "the node is shutting down")


def standalone() -> Verdict:
    """A single node without Raft serves everything itself."""
    return _OK


def member(status: RaftStatus, leader_commit_index: int | None) -> Verdict:
    """The verdict for a Raft member from its own `status` and the leader's commit index
    as it last heard it (`RaftNode.leader_commit_index`)."""
    if status.role is Role.LEADER:
        if status.lease_valid:
            return _OK
        return Verdict(
            Health.NO_LEADER,
            "leads without a lease: just elected, or no majority acknowledged it recently",
        )
    if status.leader is None:
        return Verdict(Health.NO_LEADER, "no leader known (election in progress or no majority)")
    leader_link = next((p for p in status.peers if p.address == status.leader), None)
    if leader_link is None or not leader_link.connected:
        return Verdict(Health.NO_LEADER, f"not connected to the leader {status.leader}")
    if leader_commit_index is None:
        return Verdict(Health.CATCHING_UP, "has not heard from the leader yet")
    if status.commit_index < leader_commit_index:
        return Verdict(
            Health.CATCHING_UP,
            f"log complete up to {status.commit_index} of the leader's {leader_commit_index}",
        )
    if status.applied_index + CAUGHT_UP_ENTRIES < status.commit_index:
        return Verdict(
            Health.CATCHING_UP,
            f"applied {status.applied_index} of {status.commit_index} committed entries",
        )
    return _OK


class AssessedNode(Protocol):
    @property
    def raft(self) -> RaftNode | None: ...

    @property
    def stopping(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    status: RaftStatus | None  # None for a single node without Raft
    leader_commit_index: int | None


async def assess(node: AssessedNode) -> Assessment:
    """This node's verdict now, with the Raft status it was judged on."""
    raft = node.raft
    if raft is None:
        return Assessment(stopping() if node.stopping else standalone(), None, None)
    loop = asyncio.get_running_loop()
    try:
        status = await loop.run_in_executor(None, raft.status, STATUS_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a stopped or stuck Raft thread
        reason = "the Raft node is not answering" + (f": {exc}" if str(exc) else "")
        verdict = stopping() if node.stopping else Verdict(Health.NO_LEADER, reason)
        return Assessment(verdict, None, None)
    leader_commit = raft.leader_commit_index()
    verdict = stopping() if node.stopping else member(status, leader_commit)
    return Assessment(verdict, status, leader_commit)
