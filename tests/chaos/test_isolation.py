"""The isolation checker on hand-made histories: a cut-off node acknowledging a write and a
deposed leader answering anything are caught; what the rules allow passes."""

from __future__ import annotations

from typing import Any

from .checkers.isolation import check_isolation, isolation_windows
from .history import History, Op


def ops(*rows: tuple[Any, ...]) -> list[Op]:
    """Rows (process, type, f, value, time[, node[, error]])."""
    h = History()
    for row in rows:
        process, type_, f, value, at, *rest = row
        node = rest[0] if rest else None
        error = rest[1] if len(rest) > 1 else None
        h.append(Op(process, type_, f, value, at, node=node, error=error))
    return h.snapshot()


def nemesis(f: str, value: Any, at: float) -> tuple[Any, ...]:
    return ("nemesis", "info", f, value, at)


PARTITION = nemesis("partition", {"groups": [[0], [1, 2]], "mode": "stall"}, 1.0)
HEAL = nemesis("heal", None, 5.0)


def test_a_write_acknowledged_by_the_minority_before_the_heal_is_caught():
    verdict = check_isolation(
        {
            "w": ops(
                PARTITION,
                (0, "invoke", "write", 7, 2.0, 0),
                (0, "ok", "write", None, 3.0, 0),
                HEAL,
            )
        }
    )
    assert verdict.kinds == {"minority acknowledged a write"}, verdict.summary()


def test_minority_writes_acknowledged_after_the_heal_or_on_the_majority_pass():
    verdict = check_isolation(
        {
            "w": ops(
                PARTITION,
                (0, "invoke", "write", 7, 2.0, 0),  # stalled, delivered after the heal
                (1, "invoke", "incr", None, 2.0, 1),  # on the majority
                (1, "ok", "incr", None, 2.5, 1),
                (2, "invoke", "read", None, 2.0, 0),  # reads are not this rule's business
                (2, "ok", "read", 3, 2.5, 0),
                (3, "invoke", "cas", (1, 2), 2.0, 0),  # a swap that did not happen: a read
                (3, "ok", "cas", False, 2.5, 0),
                HEAL,
                (0, "ok", "write", None, 6.0, 0),
            )
        }
    )
    assert verdict.valid is True, verdict.summary()
    assert verdict.stats["minority_writes"] == 1  # the swap that did not happen only read


def test_a_one_way_cut_isolates_the_node_that_cannot_send():
    cut = nemesis("cut", {"links": [[0, 1], [0, 2]], "mode": "reset", "members": [0, 1, 2]}, 1.0)
    (window,) = isolation_windows(ops(cut, HEAL))
    assert (window.rule, window.node, window.start, window.end) == ("minority", 0, 1.0, 5.0)
    verdict = check_isolation(
        {"w": ops(cut, (0, "invoke", "add", 3, 2.0, 0), (0, "ok", "add", None, 2.1, 0), HEAL)}
    )
    assert verdict.kinds == {"minority acknowledged a write"}


def test_windows_without_any_write_sent_to_the_minority_are_undecided():
    verdict = check_isolation({"w": ops(PARTITION, HEAL)})
    assert verdict.valid is None and verdict.stats["minority_windows"] == 1


def test_a_paused_leader_cut_off_before_it_resumes_needs_no_writes_of_its_own():
    history = ops(
        *PAUSE,
        nemesis("partition", {"groups": [[0], [1, 2]], "mode": "stall"}, 3.0),
        (0, "invoke", "read", None, 2.5, 0),
        nemesis("resume", 0, 4.0),
        (0, "unknown", "read", None, 4.9, 0, "57P01: terminating connection"),
        nemesis("heal", None, 5.0),
    )
    verdict = check_isolation({"w": history})
    assert verdict.valid is True, verdict.summary()
    assert verdict.stats["minority_windows"] == 0 and verdict.stats["deposed_windows"] == 1


PAUSE = [
    nemesis("pause", 0, 1.0),
    nemesis("deposed", {"node": 0, "term": 3, "leader": 1, "leader_term": 4}, 2.0),
]


def test_a_deposed_leader_answering_a_read_or_a_write_is_caught():
    verdict = check_isolation(
        {
            "w": ops(
                *PAUSE,
                (0, "invoke", "read", None, 2.5, 0),
                (1, "invoke", "transfer", {"id": 1}, 2.6, 0),
                nemesis("resume", 0, 4.0),
                (0, "ok", "read", 5, 4.1, 0),
                (1, "ok", "transfer", None, 9.0, 0),  # even long after the resume
            )
        }
    )
    assert [a["f"] for a in verdict.anomalies] == ["read", "transfer"], verdict.summary()
    assert verdict.kinds == {"deposed leader answered"}


def test_a_deposed_leader_that_refuses_passes_and_counts_as_tested():
    verdict = check_isolation(
        {
            "w": ops(
                (5, "invoke", "write", 8, 0.5, 0),  # before the pause: may be acknowledged
                nemesis("pause", 0, 1.0),
                (0, "invoke", "write", 7, 1.5, 0),  # before the new election: in the window
                *PAUSE[1:],
                (1, "invoke", "read", None, 2.5, 0),
                (2, "invoke", "read", None, 2.5, 0),
                (3, "invoke", "read", {"stale": True}, 2.5, 0),  # stale reads are exempt
                (4, "invoke", "read", None, 2.5, 1),  # another node
                (4, "ok", "read", 1, 2.6, 1),
                nemesis("resume", 0, 4.0),
                (1, "unknown", "read", None, 4.1, 0, "57P01: terminating connection"),
                (2, "unknown", "read", None, 4.2, 0, "timeout after 2.0s; OperationalError"),
                (3, "ok", "read", {"total": 10}, 4.3, 0),
                (0, "unknown", "write", None, 4.4, 0, "08007: unknown"),
                (1, "invoke", "read", None, 4.5, 0),  # after the resume: relayed, may pass
                (1, "ok", "read", 7, 4.6, 0),
                (5, "ok", "write", None, 4.7, 0),
            )
        }
    )
    assert verdict.valid is True, verdict.summary()
    assert verdict.stats["deposed_answers"] == 2  # 57P01 and 08007; a timeout proves nothing


def test_a_deposed_leader_resumed_into_a_partition_answers_nothing_until_the_heal():
    history = ops(
        *PAUSE,
        nemesis("partition", {"groups": [[0], [1, 2]], "mode": "stall"}, 3.0),
        (0, "invoke", "read", None, 3.5, 0),  # sent before the resume
        nemesis("resume", 0, 4.0),
        (1, "invoke", "read", None, 4.5, 0),  # after the resume, before the heal
        (1, "ok", "read", 7, 4.8, 0),
        (0, "unknown", "read", None, 4.9, 0, "57P01: terminating connection"),
        (2, "invoke", "write", 7, 4.5, 0),
        (2, "unknown", "write", None, 4.9, 0, "57P01: terminating connection"),
        nemesis("heal", None, 5.0),
    )
    verdict = check_isolation({"w": history})
    assert verdict.kinds == {"deposed leader answered"}
    assert [a["invoked"] for a in verdict.anomalies] == [4.5]


def test_a_pause_without_a_new_election_sets_no_rule():
    history = ops(
        nemesis("pause", 0, 1.0),
        (0, "invoke", "write", 7, 1.5, 0),
        nemesis("resume", 0, 4.0),
        (0, "ok", "write", None, 4.1, 0),
    )
    assert isolation_windows(history) == []
    assert check_isolation({"w": history}).valid is True
