"""The bank, set and counter checkers on hand-made histories: each anomaly is caught, and
histories without one pass (including ones with unknown outcomes)."""

from __future__ import annotations

from typing import Any

from .checkers.bank import check_bank
from .checkers.counter import check_counter
from .checkers.set import check_set
from .history import History, Op, load_history, pair_up, save_history

Row = tuple[Any, str, str, Any, float]


def history(*rows: Row, key: Any = None) -> list[Op]:
    h = History()
    for process, type_, f, value, at in rows:
        h.append(Op(process, type_, f, value, at, key=key))
    return h.snapshot()


def with_finals(ops: list[Op], finals: dict[int, Any], at: float = 100.0) -> list[Op]:
    h = History(list(ops))
    for node, value in finals.items():
        h.append(Op("final", "invoke", "final", None, at, key=node, node=node))
        h.append(Op("final", "ok", "final", value, at + 1, key=node, node=node))
    return h.snapshot()


# ---- history ------------------------------------------------------------------------


def test_histories_round_trip_through_json_lines(tmp_path):
    ops = history(
        (0, "invoke", "cas", (1, 2), 1.0),
        (0, "ok", "cas", True, 2.0),
        (1, "invoke", "transfer", {"id": 1, "from": 0, "to": 1, "amount": 5}, 3.0),
        (1, "unknown", "transfer", None, 4.0),
        ("nemesis", "info", "partition", {"groups": ((0,), (1, 2)), "mode": "stall"}, 5.0),
    )
    save_history(ops, tmp_path / "h.jsonl")
    assert load_history(tmp_path / "h.jsonl") == ops  # JSON lists come back as tuples


def test_pairs_match_completions_to_their_process_and_leave_open_ones_unpaired():
    ops = history(
        (0, "invoke", "read", None, 1.0),
        (1, "invoke", "write", 3, 1.5),
        (0, "ok", "read", 0, 2.0),
        ("nemesis", "info", "kill", [0], 2.5),
    )
    pairs = pair_up(ops)
    assert [(i.f, c.type if c else None) for i, c in pairs] == [("read", "ok"), ("write", None)]


# ---- bank -----------------------------------------------------------------------------


def transfer(
    process: int, tid: int, src: int, dst: int, amount: int, outcome: str, t: float
) -> list[Row]:
    value = {"id": tid, "from": src, "to": dst, "amount": amount}
    return [
        (process, "invoke", "transfer", value, t),
        (process, outcome, "transfer", None, t + 0.5),
    ]


def bank(*rows: Row, finals: dict[int, Any] | None = None) -> Any:
    ops = history(*rows)
    if finals is not None:
        ops = with_finals(ops, finals)
    return check_bank(ops, accounts=2, initial_balance=10)


GOOD_FINAL = {"balances": [[0, 7], [1, 13]], "ledger": [[1, 0, 1, 3]]}


def test_bank_a_consistent_history_passes():
    verdict = bank(
        *transfer(0, 1, 0, 1, 3, "ok", 1.0),
        *transfer(1, 2, 1, 0, 50, "fail", 1.2),
        (2, "invoke", "read", {"stale": False}, 2.0),
        (2, "ok", "read", {"balances": [[0, 7], [1, 13]]}, 2.1),
        (2, "invoke", "read", {"stale": True}, 2.2),
        (2, "ok", "read", {"total": 20, "min": 10, "count": 2}, 2.3),
        finals={0: GOOD_FINAL, 1: GOOD_FINAL},
    )
    assert verdict.valid is True, verdict.summary()
    assert verdict.stats["ok"] == 1 and verdict.stats["fail"] == 1


def test_bank_an_unknown_transfer_may_or_may_not_be_in_the_ledger():
    for final in (
        {"balances": [[0, 10], [1, 10]], "ledger": []},
        {"balances": [[0, 7], [1, 13]], "ledger": [[1, 0, 1, 3]]},
    ):
        assert bank(*transfer(0, 1, 0, 1, 3, "unknown", 1.0), finals={0: final}).valid is True


def test_bank_a_read_with_another_total_or_a_negative_balance_is_caught():
    verdict = bank(
        (2, "invoke", "read", {"stale": False}, 2.0),
        (2, "ok", "read", {"balances": [[0, 7], [1, 10]]}, 2.1),
        (2, "invoke", "read", {"stale": True}, 2.2),
        (2, "ok", "read", {"total": 20, "min": -5, "count": 2}, 2.3),
        (2, "invoke", "read", {"stale": True}, 2.4),
        (2, "ok", "read", {"balances": [[0, 20]]}, 2.5),
        finals={0: {"balances": [[0, 10], [1, 10]], "ledger": []}},
    )
    assert verdict.kinds == {"wrong total", "negative balance", "wrong number of accounts"}


def test_bank_an_acknowledged_transfer_missing_from_the_ledger_is_caught():
    verdict = bank(
        *transfer(0, 1, 0, 1, 3, "ok", 1.0),
        finals={0: GOOD_FINAL, 1: {"balances": [[0, 10], [1, 10]], "ledger": []}},
    )
    assert verdict.kinds == {"acknowledged transfers lost", "replicas differ"}
    assert verdict.anomalies[0]["node"] == 1


def test_bank_a_failed_transfer_in_the_ledger_is_caught():
    verdict = bank(*transfer(0, 1, 0, 1, 3, "fail", 1.0), finals={0: GOOD_FINAL})
    assert verdict.kinds == {"failed transfers committed"}


def test_bank_ledger_rows_nobody_attempted_or_that_differ_are_caught():
    verdict = bank(
        *transfer(0, 1, 0, 1, 4, "unknown", 1.0),
        finals={0: {"balances": [[0, 7], [1, 13]], "ledger": [[1, 0, 1, 3]]}},
    )
    assert "ledger row differs" in verdict.kinds
    verdict = bank(finals={0: GOOD_FINAL})
    assert "ledger row never attempted" in verdict.kinds


def test_bank_balances_that_disagree_with_the_ledger_are_caught():
    # The debit and the credit of one transaction were not applied together.
    verdict = bank(
        *transfer(0, 1, 0, 1, 3, "ok", 1.0),
        finals={0: {"balances": [[0, 7], [1, 10]], "ledger": [[1, 0, 1, 3]]}},
    )
    assert verdict.kinds == {"balances disagree with the ledger"}


def test_bank_without_a_final_read_is_undecided():
    assert bank(*transfer(0, 1, 0, 1, 3, "ok", 1.0)).valid is None


# ---- set -------------------------------------------------------------------------------


def add(process: int, element: int, outcome: str, t: float) -> list[Row]:
    return [(process, "invoke", "add", element, t), (process, outcome, "add", None, t + 0.5)]


def read(process: int, elements: list[int], t: float, until: float | None = None) -> list[Row]:
    return [
        (process, "invoke", "read", None, t),
        (process, "ok", "read", elements, until or t + 0.5),
    ]


def test_set_a_consistent_history_passes():
    ops = history(
        *add(0, 1, "ok", 1.0),
        *add(0, 2, "unknown", 2.0),
        *add(0, 3, "fail", 3.0),
        *read(1, [1], 4.0),
        *read(1, [1, 2], 5.0),
    )
    verdict = check_set(with_finals(ops, {0: [1, 2], 1: [1, 2]}))
    assert verdict.valid is True, verdict.summary()


def test_set_a_read_concurrent_with_an_add_may_miss_it():
    ops = history((0, "invoke", "add", 1, 1.0), *read(1, [], 1.2), (0, "ok", "add", None, 2.0))
    assert check_set(with_finals(ops, {0: [1]})).valid is True


def test_set_a_read_that_misses_an_acknowledged_add_is_caught():
    ops = history(*add(0, 1, "ok", 1.0), *read(1, [], 2.0))
    verdict = check_set(with_finals(ops, {0: [1]}))
    assert verdict.kinds == {"read: acknowledged inserts missing"}


def test_set_lost_failed_and_phantom_elements_and_diverged_replicas_are_caught():
    ops = history(*add(0, 1, "ok", 1.0), *add(0, 2, "fail", 2.0), *read(1, [2, 99], 3.0))
    verdict = check_set(with_finals(ops, {0: [1], 1: [2]}))
    assert verdict.kinds == {
        "read: acknowledged inserts missing",
        "read: failed inserts present",
        "read: elements nobody inserted",
        "final: acknowledged inserts missing",
        "final: failed inserts present",
        "replicas differ",
    }


# ---- counter ---------------------------------------------------------------------------


def incr(process: int, outcome: str, t: float, key: int = 0) -> list[Op]:
    return history(
        (process, "invoke", "incr", None, t), (process, outcome, "incr", None, t + 0.5), key=key
    )


def counter_history(*parts: list[Op], finals: dict[int, Any] | None = None) -> list[Op]:
    h = History()
    for op in sorted((op for part in parts for op in part), key=lambda o: o.time):
        h.append(op)
    ops = h.snapshot()
    return with_finals(ops, finals) if finals is not None else ops


def counter_read(process: int, value: int, t: float, key: int = 0) -> list[Op]:
    return history(
        (process, "invoke", "read", None, t), (process, "ok", "read", value, t + 0.1), key=key
    )


def test_counter_a_consistent_history_passes():
    ops = counter_history(
        incr(0, "ok", 1.0),
        incr(0, "unknown", 2.0),
        incr(0, "fail", 3.0),
        counter_read(1, 1, 4.0),
        counter_read(1, 2, 5.0),
        finals={0: {"0": 2}, 1: {0: 2}},
    )
    verdict = check_counter(ops)
    assert verdict.valid is True, verdict.summary()


def test_counter_lost_and_doubled_increments_are_caught():
    base = [incr(0, "ok", 1.0), incr(0, "fail", 2.0)]
    assert check_counter(counter_history(*base, finals={0: {0: 0}})).kinds == {
        "acknowledged increments lost"
    }
    # One acknowledged and one failed increment: 2 means something applied twice.
    assert check_counter(counter_history(*base, finals={0: {0: 2}})).kinds == {
        "increments applied twice"
    }


def test_counter_reads_out_of_bounds_or_going_backwards_are_caught():
    verdict = check_counter(
        counter_history(
            incr(0, "ok", 1.0),
            incr(0, "ok", 2.0),
            counter_read(1, 1, 3.0),  # two were acknowledged before it began
            counter_read(1, 5, 3.5),  # only two were ever attempted
            finals={0: {0: 2}},
        )
    )
    assert verdict.kinds == {"read out of bounds"}
    assert len(verdict.anomalies) == 2
    verdict = check_counter(
        counter_history(
            incr(0, "unknown", 1.0),
            counter_read(1, 1, 2.0),
            counter_read(1, 0, 3.0),  # the unknown increment cannot be undone
            finals={0: {0: 1}},
        )
    )
    assert verdict.kinds == {"read went backwards"}
