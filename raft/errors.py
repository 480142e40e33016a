"""Errors of the Raft layer, and the one place pysyncobj's FAIL_REASON codes are translated.

pysyncobj reports the fate of a proposal as a small integer. What the caller
needs to know is whether the command *may* have been committed:

* definitely not appended (`NOT_LEADER`, `MISSING_LEADER`, `QUEUE_FULL`):
  safe to retry, on another node for the first two -> `NotLeader` /
  `ProposalQueueFull`;
* appended but definitely not committed (`DISCARDED`: another entry won that
  log index) -> `SerializationFailure` (40001, the client retries);
* outcome unknown (`LEADER_CHANGED`, `UNKNOWN_OUTCOME`, a timeout, losing
  leadership while the entry was in flight) -> `TransactionResolutionUnknown`
  (08007). Never report success or a definite failure for these.

Membership changes and leadership transfers can be refused (`REQUEST_DENIED`)
-> `RequestDenied`.

The classes extend the one hierarchy in `quorumdb.storage.errors`, so the edge
(`node/`) maps them to SQLSTATEs like every other error.
"""

from __future__ import annotations

from pysyncobj import FAIL_REASON

from quorumdb.storage.errors import (
    QuorumError,
    SerializationFailure,
    TransactionResolutionUnknown,
)

__all__ = [
    "NotLeader",
    "ProposalQueueFull",
    "RequestDenied",
    "error_for_fail_reason",
    "EXIT_APPLY_FAILED",
    "EXIT_SNAPSHOT_FAILED",
    "EXIT_JOURNAL_FAILED",
    "EXIT_TICK_FAILED",
]

# Process exit codes of `halt` (raft/state.py): distinct, so that an operator
# (or a supervisor) can tell "a replica refused to diverge" from a crash.
EXIT_APPLY_FAILED = 75
EXIT_SNAPSHOT_FAILED = 76
EXIT_JOURNAL_FAILED = 77
EXIT_TICK_FAILED = 78


class NotLeader(QuorumError):
    """This node is not the leader: nothing was appended; retry on `leader` (if known).

    SQLSTATE 25006 is what PostgreSQL answers for a write sent to a read-only
    standby, the closest existing meaning.
    """

    sqlstate = "25006"
    deterministic = False

    def __init__(self, message: str = "not the Raft leader", *, leader: str | None = None) -> None:
        hint = f"The leader is {leader}." if leader else "No leader is known right now; retry."
        super().__init__(message, hint=hint)
        self.leader = leader


class ProposalQueueFull(QuorumError):
    """The leader's proposal queue is full: nothing was appended; retry later."""

    sqlstate = "53000"
    deterministic = False


class RequestDenied(QuorumError):
    """A membership change or leadership transfer was refused (another one is in
    progress, the leader has not committed its first entry yet, the target is
    unknown or not caught up)."""

    sqlstate = "55000"
    deterministic = False


def error_for_fail_reason(reason: int, *, leader: str | None = None) -> QuorumError:
    """The error to raise for a pysyncobj FAIL_REASON (never called with SUCCESS)."""
    if reason in (FAIL_REASON.NOT_LEADER, FAIL_REASON.MISSING_LEADER):
        return NotLeader(leader=leader)
    if reason == FAIL_REASON.QUEUE_FULL:
        return ProposalQueueFull("too many proposals in flight")
    if reason == FAIL_REASON.DISCARDED:
        return SerializationFailure(
            "could not serialize access: the leader changed and the commit was discarded",
            hint="The transaction might succeed if retried.",
        )
    if reason == FAIL_REASON.REQUEST_DENIED:
        return RequestDenied("request denied by the Raft leader")
    # LEADER_CHANGED, UNKNOWN_OUTCOME and anything newer that we don't know.
    return TransactionResolutionUnknown(
        "the leader changed while the commit was in flight; its outcome is unknown",
        detail=f"pysyncobj fail reason {reason}",
    )
