"""LeadershipGuard rules (stickiness, pre-vote, lease) against a fake Raft core."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from quorumdb.raft.leadership import LeadershipGuard, majority

MIN, MAX, LEASE = 1.0, 2.0, 0.5


@dataclass
class FakeCore:
    leader_flag: bool = False
    current_term: int = 5
    leader_node: str | None = None
    log: tuple[int, int] = (100, 5)
    peers: tuple[str, ...] = ("b", "c")
    deadline: float = 50.0
    transferring: bool = False
    ready: bool = True
    sent: list[tuple[str, dict]] = field(default_factory=list)

    def is_leader(self) -> bool:
        return self.leader_flag

    def term(self) -> int:
        return self.current_term

    def leader(self) -> str | None:
        return self.leader_node

    def last_log(self) -> tuple[int, int]:
        return self.log

    def voting_peers(self) -> tuple[str, ...]:
        return self.peers

    def election_deadline(self) -> float:
        return self.deadline

    def set_election_deadline(self, when: float) -> None:
        self.deadline = when

    def transfer_in_progress(self) -> bool:
        return self.transferring

    def leader_ready(self) -> bool:
        return self.leader_flag and self.ready


def make(core: FakeCore, now: float = 0.0) -> LeadershipGuard:
    return LeadershipGuard(
        core,
        lambda node, msg: core.sent.append((node, msg)),
        min_timeout=MIN,
        max_timeout=MAX,
        lease_duration=LEASE,
        now=now,
        rng=lambda: 0.5,
    )


def vote(term: int = 6, transfer: bool = False) -> dict:
    msg = {"type": "request_vote", "term": term, "last_log_index": 100, "last_log_term": 5}
    if transfer:
        msg["transfer"] = True
    return msg


def pre_vote(term: int = 6, last: tuple[int, int] = (100, 5), rnd: int = 1) -> dict:
    return {
        "type": "pre_vote",
        "round": rnd,
        "term": term,
        "last_log_index": last[0],
        "last_log_term": last[1],
    }


def test_majority():
    assert [majority(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_a_follower_ignores_votes_while_its_leader_is_alive():
    core = FakeCore(leader_node="a")
    guard = make(core, now=0.0)
    assert guard.drop_vote_request(vote(), now=0.5)  # our own start counts as contact
    assert not guard.drop_vote_request(vote(), now=1.01)
    guard.on_leader_message(now=10.0)
    assert guard.drop_vote_request(vote(), now=10.9)
    assert not guard.drop_vote_request(vote(), now=11.0)


def test_transfer_votes_pass_and_leaders_drop_the_rest():
    core = FakeCore(leader_flag=True)
    guard = make(core)
    assert guard.drop_vote_request(vote(), now=100.0)
    assert not guard.drop_vote_request(vote(transfer=True), now=100.0)
    core.leader_flag = False
    guard.on_leader_message(now=100.0)
    assert not guard.drop_vote_request(vote(transfer=True), now=100.1)


def test_pre_vote_is_granted_only_without_a_live_leader_and_for_an_up_to_date_log():
    core = FakeCore(leader_node="a")
    guard = make(core, now=0.0)
    assert not guard.answer_pre_vote(pre_vote(), now=0.5)["granted"]  # heard from a leader
    assert guard.answer_pre_vote(pre_vote(), now=2.0)["granted"]
    assert not guard.answer_pre_vote(pre_vote(last=(99, 5)), now=2.0)["granted"]  # shorter log
    assert not guard.answer_pre_vote(pre_vote(last=(200, 4)), now=2.0)["granted"]  # older term
    assert guard.answer_pre_vote(pre_vote(last=(50, 6)), now=2.0)["granted"]  # newer term wins
    assert not guard.answer_pre_vote(pre_vote(term=5), now=2.0)["granted"]  # not above our term
    core.leader_flag = True
    assert not guard.answer_pre_vote(pre_vote(), now=2.0)["granted"]
    reply = guard.answer_pre_vote(pre_vote(rnd=7), now=2.0)
    assert reply["type"] == "pre_vote_response" and reply["round"] == 7 and reply["term"] == 6


def test_a_firing_timer_starts_pre_vote_and_only_a_majority_starts_the_election():
    core = FakeCore(deadline=10.0)
    guard = make(core)
    guard.before_tick(now=5.0)
    assert core.sent == [] and core.deadline == 10.0  # not yet
    guard.before_tick(now=10.0)
    assert core.current_term == 5  # pre-vote never raises the term
    assert core.deadline == pytest.approx(10.0 + MIN + (MAX - MIN) * 0.5)  # pysyncobj held back
    assert [(n, m["type"], m["term"]) for n, m in core.sent] == [
        ("b", "pre_vote", 6),
        ("c", "pre_vote", 6),
    ]
    rnd = core.sent[0][1]["round"]
    guard.on_pre_vote_response("b", {"granted": False, "round": rnd, "term": 6})
    assert core.deadline > 10.0
    guard.on_pre_vote_response("c", {"granted": True, "round": rnd - 1, "term": 6})  # stale round
    assert core.deadline > 10.0
    guard.on_pre_vote_response("c", {"granted": True, "round": rnd, "term": 6})
    assert core.deadline == 0.0  # pysyncobj starts the real election on its next tick
    guard.before_tick(now=10.01)
    assert len(core.sent) == 2  # authorized: no new round
    guard.after_tick()


def test_a_single_node_authorizes_itself():
    core = FakeCore(peers=(), deadline=1.0)
    guard = make(core)
    guard.before_tick(now=1.0)
    assert core.deadline == 0.0


def test_a_transfer_skips_pre_vote_and_marks_its_vote_requests():
    core = FakeCore(deadline=0.0, transferring=True)
    guard = make(core)
    guard.before_tick(now=1.0)
    assert core.sent == [] and core.deadline == 0.0
    msg = vote(term=6)
    guard.mark_vote_request(msg)
    assert msg["transfer"] is True
    other = vote(term=7)
    guard.mark_vote_request(other)
    assert "transfer" not in other


def test_leader_connection_drop_elects_as_soon_as_no_lease_can_depend_on_us():
    core = FakeCore(leader_node="a", deadline=100.0)
    guard = make(core, now=0.0)
    guard.on_leader_message(now=50.0)
    guard.on_disconnected("b", now=50.1)  # not the leader: nothing changes
    assert core.deadline == 100.0 and guard.heard_from_leader_recently(50.2)
    guard.on_disconnected("a", now=50.2)
    # Our last acknowledgement (of a heartbeat sent before 50.0) backs the leader's
    # lease until at most 50.0 + LEASE: loyal until then (plus a margin), not longer.
    safe = 50.0 + LEASE + 0.05
    assert core.deadline == pytest.approx(safe + 0.5 * 0.15 * MIN)
    assert guard.heard_from_leader_recently(safe - 0.01)
    assert not guard.answer_pre_vote(pre_vote(), now=safe - 0.01)["granted"]
    assert guard.drop_vote_request(vote(), now=safe - 0.01)
    assert not guard.heard_from_leader_recently(safe)
    assert guard.answer_pre_vote(pre_vote(), now=safe)["granted"]
    assert not guard.drop_vote_request(vote(), now=safe)


def test_lease_counts_from_the_send_time_of_what_a_majority_acknowledged():
    core = FakeCore(leader_flag=True)
    guard = make(core)
    guard.refresh(now=10.0)
    assert guard.lease_until == 0.0  # no acknowledgement yet
    guard.on_lease_ack("b", term=5, sent_at=9.0, now=10.0)
    assert guard.lease_until == 9.0 + LEASE
    # An old acknowledgement processed late (a paused leader) does not extend it.
    guard.on_lease_ack("c", term=5, sent_at=8.0, now=30.0)
    assert guard.lease_until == 9.0 + LEASE
    guard.on_lease_ack("c", term=4, sent_at=29.9, now=30.0)  # another term: ignored
    assert guard.lease_until == 9.0 + LEASE
    guard.on_lease_ack("c", term=5, sent_at=29.9, now=30.0)
    assert guard.lease_until == 29.9 + LEASE


def test_lease_needs_a_majority_in_a_five_node_group():
    core = FakeCore(leader_flag=True, peers=("b", "c", "d", "e"))
    guard = make(core)
    guard.on_lease_ack("b", term=5, sent_at=10.0, now=10.1)
    assert guard.lease_until == 0.0
    guard.on_lease_ack("c", term=5, sent_at=9.0, now=10.1)
    assert guard.lease_until == 9.0 + LEASE  # the second-newest is what a majority confirmed


def test_no_lease_before_the_first_entry_of_the_term_is_applied_or_after_stepping_down():
    core = FakeCore(leader_flag=True, ready=False)
    guard = make(core)
    guard.on_lease_ack("b", term=5, sent_at=9.0, now=9.1)
    assert guard.lease_until == 0.0
    core.ready = True
    guard.refresh(now=9.2)
    assert guard.lease_until == 9.0 + LEASE
    core.leader_flag = False
    guard.refresh(now=9.3)
    assert guard.lease_until == 0.0
    core.leader_flag, core.current_term = True, 6  # a new term starts from nothing
    guard.refresh(now=9.4)
    assert guard.lease_until == 0.0


def test_a_transfer_ends_the_lease_at_once():
    core = FakeCore(leader_flag=True)
    guard = make(core)
    guard.on_lease_ack("b", term=5, sent_at=9.0, now=9.1)
    guard.end_lease(now=9.2, until=20.0)
    assert guard.lease_until == 0.0
    guard.on_lease_ack("c", term=5, sent_at=9.3, now=9.4)
    assert guard.lease_until == 0.0
    guard.resume_lease(now=9.5)
    assert guard.lease_until == 9.3 + LEASE


def test_a_disconnected_peer_no_longer_backs_the_lease():
    core = FakeCore(leader_flag=True)
    guard = make(core)
    guard.on_lease_ack("b", term=5, sent_at=9.0, now=9.1)
    guard.on_disconnected("b", now=9.2)
    assert guard.lease_until == 0.0


def test_stale_term_notices_are_rate_limited():
    core = FakeCore(current_term=7)
    guard = make(core)
    assert guard.stale_term_notice("a", {"term": 7}, now=1.0) is None
    assert guard.stale_term_notice("a", {"term": 6}, now=1.0) == {"type": "stale_term", "term": 7}
    assert guard.stale_term_notice("a", {"term": 6}, now=1.1) is None
    assert guard.stale_term_notice("a", {"term": 6}, now=1.0 + MIN) is not None
