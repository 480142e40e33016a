"""The linearizability search and the register model, on hand-made histories.

Each history is written as (process, type, f, value, time) rows, so the
overlaps are visible at a glance. Both directions matter: a checker that
never says "not linearizable" is worthless, one that rejects valid
histories is useless.
"""

from __future__ import annotations

import math
import random

import pytest

from .checkers.register import RegisterModel, check_register, prune_unobserved, register_calls
from .history import History, Op
from .linearizable import Call, check_linearizable

Row = tuple[int | str, str, str, object, float]


def history(*rows: Row, key: object = "k") -> list[Op]:
    h = History()
    for process, type_, f, value, at in rows:
        h.append(Op(process, type_, f, value, at, key=key))
    return h.snapshot()


def valid(*rows: Row) -> bool | None:
    return check_register(history(*rows)).valid


def test_sequential_reads_and_writes():
    assert valid(
        (0, "invoke", "write", 1, 1.0),
        (0, "ok", "write", None, 2.0),
        (0, "invoke", "read", None, 3.0),
        (0, "ok", "read", 1, 4.0),
    )


def test_a_read_concurrent_with_a_write_may_see_either_value():
    for seen in (0, 1):
        assert valid(
            (0, "invoke", "write", 1, 1.0),
            (1, "invoke", "read", None, 1.5),
            (1, "ok", "read", seen, 2.5),
            (0, "ok", "write", None, 3.0),
        )


def test_a_stale_read_after_a_completed_write_is_not_linearizable():
    verdict = check_register(
        history(
            (0, "invoke", "write", 1, 1.0),
            (0, "ok", "write", None, 2.0),
            (1, "invoke", "read", None, 3.0),
            (1, "ok", "read", 0, 4.0),
        )
    )
    assert verdict.valid is False
    assert verdict.kinds == {"not linearizable"}
    assert verdict.anomalies[0]["stuck"][0]["f"] == "read"


def test_two_reads_may_not_see_new_then_old():
    # Both reads overlap the write, but the second starts after the first ended.
    assert not valid(
        (0, "invoke", "write", 1, 1.0),
        (1, "invoke", "read", None, 2.0),
        (1, "ok", "read", 1, 3.0),
        (2, "invoke", "read", None, 4.0),
        (2, "ok", "read", 0, 5.0),
        (0, "ok", "write", None, 6.0),
    )


def test_a_value_nobody_wrote_is_not_linearizable():
    assert not valid((0, "invoke", "read", None, 1.0), (0, "ok", "read", 7, 2.0))


def test_a_failed_write_must_not_be_seen():
    rows: list[Row] = [
        (0, "invoke", "write", 5, 1.0),
        (0, "fail", "write", None, 2.0),
        (1, "invoke", "read", None, 3.0),
        (1, "ok", "read", 5, 4.0),
    ]
    assert not valid(*rows)
    rows[1] = (0, "unknown", "write", None, 2.0)
    assert valid(*rows)


def test_an_unknown_write_may_take_effect_late_but_not_before_it_was_invoked():
    late = [
        (0, "invoke", "write", 5, 1.0),
        (0, "unknown", "write", None, 2.0),
        (1, "invoke", "read", None, 3.0),
        (1, "ok", "read", 0, 4.0),
        (1, "invoke", "read", None, 10.0),
        (1, "ok", "read", 5, 11.0),  # took effect between 4 and 10: fine
    ]
    assert valid(*late)
    early = [
        (1, "invoke", "read", None, 0.0),
        (1, "ok", "read", 5, 0.5),  # before the write was even invoked
        (0, "invoke", "write", 5, 1.0),
        (0, "unknown", "write", None, 2.0),
    ]
    assert not valid(*early)


def test_an_unknown_write_takes_effect_once():
    assert not valid(
        (0, "invoke", "write", 5, 1.0),
        (0, "unknown", "write", None, 2.0),
        (1, "invoke", "read", None, 3.0),
        (1, "ok", "read", 5, 4.0),
        (2, "invoke", "write", 6, 5.0),
        (2, "ok", "write", None, 6.0),
        (1, "invoke", "read", None, 7.0),
        (1, "ok", "read", 5, 8.0),  # write 5 cannot happen again after write 6
    )


def test_an_invocation_never_completed_counts_as_unknown():
    assert valid(
        (0, "invoke", "write", 5, 1.0),
        (1, "invoke", "read", None, 3.0),
        (1, "ok", "read", 5, 4.0),
    )


def test_compare_and_set_swaps_only_on_a_match_and_a_miss_reads_something_else():
    assert valid(
        (0, "invoke", "cas", (0, 3), 1.0),
        (0, "ok", "cas", True, 2.0),
        (1, "invoke", "cas", (0, 4), 3.0),
        (1, "ok", "cas", False, 4.0),
        (1, "invoke", "read", None, 5.0),
        (1, "ok", "read", 3, 6.0),
    )
    # Two swaps from the same old value cannot both succeed one after the other.
    assert not valid(
        (0, "invoke", "cas", (0, 3), 1.0),
        (0, "ok", "cas", True, 2.0),
        (1, "invoke", "cas", (0, 4), 3.0),
        (1, "ok", "cas", True, 4.0),
    )
    # A miss while the value is certainly the expected one is a stale read.
    assert not valid(
        (0, "invoke", "write", 3, 1.0),
        (0, "ok", "write", None, 2.0),
        (1, "invoke", "cas", (3, 4), 3.0),
        (1, "ok", "cas", False, 4.0),
    )


def test_an_unknown_cas_applies_only_if_it_matched():
    rows: list[Row] = [
        (0, "invoke", "cas", (9, 4), 1.0),
        (0, "unknown", "cas", None, 2.0),
        (1, "invoke", "read", None, 3.0),
        (1, "ok", "read", 4, 4.0),
    ]
    assert not valid(*rows)  # the value was 0, never 9: the swap could not happen
    rows[0] = (0, "invoke", "cas", (0, 4), 1.0)
    assert valid(*rows)


def test_final_reads_count_as_reads_of_every_key():
    ops = history(
        (0, "invoke", "write", 1, 1.0),
        (0, "ok", "write", None, 2.0),
    )
    h = History(list(ops))
    h.append(Op("final", "invoke", "final", None, 5.0, key=0))
    h.append(Op("final", "ok", "final", {"k": 0}, 6.0, key=0))
    verdict = check_register(h.snapshot())
    assert verdict.valid is False  # the acknowledged write 1 was lost
    h2 = History(list(ops))
    h2.append(Op("final", "invoke", "final", None, 5.0, key=0))
    h2.append(Op("final", "ok", "final", {"k": 1}, 6.0, key=0))
    assert check_register(h2.snapshot()).valid is True


def test_keys_are_independent():
    ops = history((0, "invoke", "write", 1, 1.0), (0, "ok", "write", None, 2.0), key="a")
    ops += history((1, "invoke", "read", None, 3.0), (1, "ok", "read", 0, 4.0), key="b")
    h = History()
    for op in sorted(ops, key=lambda o: o.time):
        h.append(op)
    assert check_register(h.snapshot()).valid is True


def test_an_unobserved_unknown_write_is_pruned_but_still_explains_a_failed_swap():
    rows: list[Row] = [
        (0, "invoke", "write", 3, 1.0),
        (0, "ok", "write", None, 2.0),
        (1, "invoke", "write", 9, 3.0),  # never read back: pruned first ...
        (1, "unknown", "write", None, 4.0),
        (2, "invoke", "cas", (3, 4), 5.0),
        (2, "ok", "cas", False, 6.0),  # ... but only write 9 explains this miss
    ]
    calls = register_calls(history(*rows))["k"]
    assert [c.f for c in prune_unobserved(calls)] == ["write", "cas"]
    assert check_linearizable(prune_unobserved(calls), RegisterModel(0)).ok is False
    assert valid(*rows)  # the full search decides


def test_pruning_keeps_unknown_calls_whose_value_was_seen_and_what_they_needed():
    rows: list[Row] = [
        (0, "invoke", "cas", (0, 5), 1.0),
        (0, "unknown", "cas", None, 2.0),
        (1, "invoke", "cas", (5, 6), 1.0),
        (1, "unknown", "cas", None, 2.0),
        (2, "invoke", "write", 7, 1.0),
        (2, "unknown", "write", None, 2.0),
        (3, "invoke", "read", None, 3.0),
        (3, "ok", "read", 6, 4.0),
    ]
    calls = register_calls(history(*rows))["k"]
    assert sorted(str(c.input) for c in prune_unobserved(calls)) == ["(0, 5)", "(5, 6)", "None"]
    assert valid(*rows)


def test_pruning_does_not_hide_a_stale_read():
    assert not valid(
        (0, "invoke", "write", 1, 1.0),
        (0, "ok", "write", None, 2.0),
        *[(p, "invoke", "write", 10 + p, 2.5) for p in range(1, 8)],
        *[(p, "unknown", "write", None, 2.6) for p in range(1, 8)],
        (9, "invoke", "read", None, 3.0),
        (9, "ok", "read", 0, 4.0),
    )


def test_an_exhausted_budget_is_undecided_not_valid():
    rows: list[Row] = []
    for p in range(12):  # twelve concurrent writes and a read nobody can explain
        rows.append((p, "invoke", "write", p + 1, 1.0))
    rows.append((99, "invoke", "read", None, 1.5))
    rows.append((99, "ok", "read", 77, 1.6))
    for p in range(12):
        rows.append((p, "ok", "write", None, 2.0))
    verdict = check_register(history(*rows), budget=50)
    assert verdict.valid is None
    assert verdict.kinds == {"undecided"}


def _random_linearizable(rng: random.Random, n: int) -> list[Call]:
    """A history produced by an actual atomic register: each op takes effect at a
    random instant inside its interval."""
    value = 0
    points = sorted(rng.uniform(0, 100) for _ in range(n))
    calls = []
    for i, point in enumerate(points):
        start, end = point - rng.uniform(0, 5), point + rng.uniform(0, 5)
        kind = rng.choice(("read", "write", "cas"))
        if kind == "read":
            calls.append(Call("read", None, value, True, start, end))
        elif kind == "write":
            value = i + 1
            calls.append(Call("write", value, None, True, start, end))
        else:
            old = rng.choice((value, -1))
            swapped = old == value
            if swapped:
                value = i + 1
            calls.append(Call("cas", (old, i + 1), swapped, True, start, end))
    return calls


@pytest.mark.parametrize("seed", range(20))
def test_histories_of_a_real_atomic_register_are_accepted(seed):
    rng = random.Random(seed)
    calls = _random_linearizable(rng, 60)
    result = check_linearizable(calls, RegisterModel(0))
    assert result.ok is True
    assert len(result.order) == len(calls)


@pytest.mark.parametrize("seed", range(20))
def test_a_corrupted_read_in_a_real_history_is_caught(seed):
    rng = random.Random(seed)
    calls = _random_linearizable(rng, 60)
    reads = [i for i, c in enumerate(calls) if c.f == "read"]
    victim = rng.choice(reads)
    bad = calls[victim]
    calls[victim] = Call("read", None, 10_000, True, bad.invoked, bad.completed)
    assert check_linearizable(calls, RegisterModel(0)).ok is False


def test_unknown_calls_never_complete():
    calls = [Call("write", 1, None, False, 1.0, math.inf), Call("read", None, 1, True, 2.0, 3.0)]
    assert check_linearizable(calls, RegisterModel(0)).ok is True
