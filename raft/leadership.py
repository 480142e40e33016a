"""`LeadershipGuard`: leader stickiness, pre-vote, check-quorum support and the leader lease.

pysyncobj implements plain Raft elections: any follower whose timer fires
raises its term and asks for votes, and any node that sees a higher term
steps down. That lets a node that was partitioned, or just joined, depose a
healthy leader, and it makes a read lease impossible (a follower may vote for
someone else a moment after acknowledging the leader). This module adds the
three standard fixes, as pure rules over a `CoreView` (the adapter in
raft/pysyncobj_glue.py) and explicit ``now`` values, so they can be tested
without sockets:

* **Leader stickiness.** A follower drops a RequestVote while it has heard
  from its current leader within the minimum election timeout, and a leader
  drops them altogether (check quorum steps it down if it really lost the
  majority). A node counts its own start as "heard from a leader", so a fast
  restart cannot hand out a vote that breaks a lease either. Vote requests of
  a leadership transfer that the leader started are marked and exempt.
* **Pre-vote.** When a follower's election timer is about to fire, it first
  asks the others whether they *would* vote for it (they would if they have
  not heard from a leader within the minimum election timeout and its log is
  at least as up to date as theirs). Only with a majority of yes does it let
  pysyncobj start the real election and raise its term. Without this, a node
  that cannot win keeps raising its term and, with stickiness on, never
  rejoins.
* **Lease.** Heartbeats carry their send time; a follower that accepted the
  sender as its leader in that term echoes it back. The lease holds until
  ``lease_duration`` after the send time of the heartbeat that the majority
  (counting the leader) acknowledged most recently - counted from the *send*
  time, so acknowledgements that a paused leader processes after resuming
  prove nothing new. It also requires that the leader applied the first entry
  of its own term. Followers will not vote for another node for the minimum
  election timeout after they receive a heartbeat, which is after it was sent,
  and ``lease_duration`` is well below it: while the lease holds, no other
  leader can have been elected. A leadership transfer ends the lease at once.

A follower that notices its leader's TCP connection drop (usually: the
process died) shortens its stickiness to the end of any lease its own
acknowledgements could still back (last contact + ``lease_duration`` + a
margin) and starts pre-vote right then instead of waiting for its election
timer: a new leader about half a second after a kill -9, and still no vote
that could overlap a lease if the drop was only a reset connection. A node stuck at a higher term than the
leader (it won pre-vote but lost the election) tells the leader, which then
steps down so that a new election at a higher term includes it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

__all__ = ["CoreView", "LeadershipGuard", "majority"]

log = logging.getLogger("quorumdb.raft.leadership")

Message = dict[str, Any]
_NEVER = -math.inf
_LEASE_MARGIN = 0.05  # clock-rate differences and processing delay, with room to spare
# Pre-vote starts this long before pysyncobj's own timer would fire, so that a pause
# (GC) between our check and pysyncobj's cannot let it start an election unasked.
_PRE_VOTE_MARGIN = 0.05


def majority(voters: int) -> int:
    return voters // 2 + 1


class CoreView(Protocol):
    """What the guard reads from (and the one thing it sets on) the Raft core."""

    def is_leader(self) -> bool: ...

    def term(self) -> int: ...

    def leader(self) -> Hashable | None: ...

    def last_log(self) -> tuple[int, int]:
        """(index, term) of the last log entry."""
        ...

    def voting_peers(self) -> Iterable[Hashable]: ...

    def election_deadline(self) -> float: ...

    def set_election_deadline(self, when: float) -> None: ...

    def transfer_in_progress(self) -> bool:
        """True after this node received the leader's TimeoutNow, until its election starts."""
        ...

    def leader_ready(self) -> bool:
        """This node leads and has applied the first entry of its term."""
        ...


class LeadershipGuard:
    def __init__(
        self,
        view: CoreView,
        send: Callable[[Hashable, Message], object],
        *,
        min_timeout: float,
        max_timeout: float,
        lease_duration: float,
        now: float,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._view = view
        self._send = send
        self._min = min_timeout
        self._max = max_timeout
        self._lease_duration = lease_duration
        self._rng = rng
        self._lease_duration = lease_duration
        self._leader_contact = now  # our start counts as having heard from a leader
        self._sticky_until = now + min_timeout
        self._round = 0
        self._round_term = 0
        self._grants: set[Hashable] = set()
        self._authorized = False
        self._transfer_term = -1
        self._acks: dict[Hashable, float] = {}
        self._lease_term = -1
        self._lease_until = 0.0
        self._lease_blocked_until = 0.0
        self._lease_blocked_term = -1  # the block only holds in the term the transfer began
        self._stale_notice_at: dict[Hashable, float] = {}

    # ---- stickiness ----------------------------------------------------------

    def on_leader_message(self, now: float) -> None:
        """An append_entries from the node we now accept as leader was processed."""
        self._leader_contact = now
        self._sticky_until = now + self._min

    def heard_from_leader_recently(self, now: float) -> bool:
        return now < self._sticky_until

    def drop_vote_request(self, message: Message, now: float) -> bool:
        if message.get("transfer"):
            return False
        return self._view.is_leader() or self.heard_from_leader_recently(now)

    def on_disconnected(self, node: Hashable, now: float) -> None:
        view = self._view
        if view.is_leader():
            self._acks.pop(node, None)
            self.refresh(now)
        elif node == view.leader():
            # Most likely the leader's process died. Stay loyal only as long as a lease
            # backed by our acknowledgements could last, then elect without waiting for
            # the election timer. Jitter keeps the followers from colliding.
            self._sticky_until = min(
                self._sticky_until, self._leader_contact + self._lease_duration + _LEASE_MARGIN
            )
            soon = max(now, self._sticky_until) + self._rng() * 0.15 * self._min
            log.debug("connection to the leader %s dropped: pre-vote at +%.3fs", node, soon - now)
            if view.election_deadline() > soon:
                view.set_election_deadline(soon)

    # ---- pre-vote -------------------------------------------------------------

    def before_tick(self, now: float) -> None:
        """Run before pysyncobj's tick: turn a firing election timer into a pre-vote round."""
        view = self._view
        if view.is_leader():
            self._authorized = False
            return
        if view.transfer_in_progress():
            # The leader asked us to take over: elect at once, votes marked as a transfer.
            self._transfer_term = view.term() + 1
            return
        if self._authorized or view.election_deadline() > now + _PRE_VOTE_MARGIN:
            return
        view.set_election_deadline(now + self._min + (self._max - self._min) * self._rng())
        self._round += 1
        self._round_term = view.term() + 1
        self._grants = {None}  # our own
        last_index, last_term = view.last_log()
        peers = list(view.voting_peers())
        log.debug("pre-vote round %d for term %d", self._round, self._round_term)
        for peer in peers:
            self._send(
                peer,
                {
                    "type": "pre_vote",
                    "round": self._round,
                    "term": self._round_term,
                    "last_log_index": last_index,
                    "last_log_term": last_term,
                },
            )
        self._maybe_authorize(len(peers) + 1)

    def after_tick(self) -> None:
        # An authorized election started during the tick (or could not start because
        # no peer is connected, in which case the next round asks again).
        self._authorized = False

    def answer_pre_vote(self, message: Message, now: float) -> Message:
        view = self._view
        last_index, last_term = view.last_log()
        log_ok = (message["last_log_term"], message["last_log_index"]) >= (last_term, last_index)
        granted = (
            not view.is_leader()
            and not self.heard_from_leader_recently(now)
            and message["term"] > view.term()
            and log_ok
        )
        log.debug(
            "pre-vote for term %d: %s (leader contact %.3fs ago, log ok %s)",
            message["term"],
            "granted" if granted else "refused",
            now - self._leader_contact,
            log_ok,
        )
        return {
            "type": "pre_vote_response",
            "round": message["round"],
            "term": message["term"],
            "granted": granted,
        }

    def on_pre_vote_response(self, node: Hashable, message: Message) -> None:
        view = self._view
        if (
            not message.get("granted")
            or message.get("round") != self._round
            or message.get("term") != self._round_term
            or view.is_leader()
            or view.term() + 1 != self._round_term
        ):
            return
        self._grants.add(node)
        self._maybe_authorize(len(list(view.voting_peers())) + 1)

    def _maybe_authorize(self, voters: int) -> None:
        if not self._authorized and len(self._grants) >= majority(voters):
            log.debug(
                "pre-vote round %d won: starting the election for term %d",
                self._round,
                self._round_term,
            )
            self._authorized = True
            self._view.set_election_deadline(0.0)  # pysyncobj starts the election next tick

    def mark_vote_request(self, message: Message) -> None:
        if message.get("term") == self._transfer_term:
            message["transfer"] = True

    # ---- a node stuck at a higher term ---------------------------------------

    def stale_term_notice(self, node: Hashable, message: Message, now: float) -> Message | None:
        """Reply for an append_entries from a leader whose term is below ours (rate-limited)."""
        term = self._view.term()
        if message.get("term", term) >= term:
            return None
        if now - self._stale_notice_at.get(node, _NEVER) < self._min / 2:
            return None
        self._stale_notice_at[node] = now
        return {"type": "stale_term", "term": term}

    # ---- lease ----------------------------------------------------------------

    def stamp(self, message: Message, now: float) -> None:
        """Leader: tag an outgoing append_entries with its send time."""
        message["lease"] = now

    def on_lease_ack(self, node: Hashable, term: int, sent_at: float, now: float) -> None:
        view = self._view
        if not view.is_leader() or term != view.term():
            return
        if self._lease_term != term:
            self._reset_lease(term)
        if sent_at > self._acks.get(node, _NEVER):
            self._acks[node] = sent_at
            self.refresh(now)

    def refresh(self, now: float) -> None:
        view = self._view
        if not view.is_leader():
            self._lease_until = 0.0
            self._lease_term = -1
            self._acks.clear()
            return
        term = view.term()
        if self._lease_term != term:
            self._reset_lease(term)
        blocked = now < self._lease_blocked_until and self._lease_blocked_term == term
        if blocked or not view.leader_ready():
            self._lease_until = 0.0
            return
        peers = list(view.voting_peers())
        need = majority(len(peers) + 1) - 1  # acknowledgements besides our own
        if need <= 0:
            self._lease_until = math.inf
            return
        sent = sorted((self._acks.get(p, _NEVER) for p in peers), reverse=True)
        self._lease_until = max(0.0, sent[need - 1] + self._lease_duration)

    def _reset_lease(self, term: int) -> None:
        self._lease_term = term
        self._acks.clear()
        self._lease_until = 0.0

    def end_lease(self, now: float, until: float) -> None:
        """A leadership transfer started: no lease until `until` (or `resume_lease`) in this
        term. Leading again later means a new term, where the block no longer applies."""
        self._lease_blocked_until = until
        self._lease_blocked_term = self._view.term()
        self._lease_until = 0.0

    def resume_lease(self, now: float) -> None:
        self._lease_blocked_until = 0.0
        self.refresh(now)

    @property
    def lease_until(self) -> float:
        return self._lease_until
