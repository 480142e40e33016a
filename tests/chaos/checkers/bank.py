"""Bank checker: transfers between accounts never create, destroy or lose money.

Operations, as the bank workload records them:

* ``transfer`` value {"id", "from", "to", "amount"}: ok = committed (the
  debit, the credit and the ledger row in one transaction); fail = certainly
  not committed (insufficient funds, 40001, failed before COMMIT ...);
* ``read`` value {"stale": bool}: ok value {"balances": [[id, balance], ...]}
  or {"total", "min", "count"} - one statement, one snapshot;
* ``final`` (process "final", key = node): ok value {"balances": [...],
  "ledger": [[id, from, to, amount], ...]}, read from every replica after
  the faults healed and the replicas caught up.

Anomalies: a read whose total differs from the initial total, a negative
balance, a missing account; an acknowledged transfer missing from a final
ledger, a failed one present, a ledger row nobody attempted (or with other
amounts); final balances that are not the initial balances plus the ledger;
replicas whose final states differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..history import Op, pair_up
from ..verdict import Verdict

__all__ = ["check_bank"]


def check_bank(ops: Iterable[Op], *, accounts: int, initial_balance: int) -> Verdict:
    verdict = Verdict("bank")
    expected_total = accounts * initial_balance
    attempted: dict[int, dict[str, Any]] = {}
    outcome: dict[int, str] = {}
    finals: dict[Any, dict[str, Any]] = {}
    reads = 0
    for invocation, completion in pair_up(ops):
        if invocation.f == "transfer":
            transfer = invocation.value
            attempted[transfer["id"]] = transfer
            outcome[transfer["id"]] = completion.type if completion is not None else "unknown"
        elif invocation.f == "read" and completion is not None and completion.type == "ok":
            reads += 1
            _check_read(verdict, completion, expected_total, accounts)
        elif invocation.f == "final" and completion is not None and completion.type == "ok":
            finals[invocation.key] = completion.value
    if not finals:
        verdict.undecided("no final read")
    for node, final in sorted(finals.items(), key=lambda item: str(item[0])):
        _check_final(verdict, node, final, attempted, outcome, accounts, initial_balance)
    states = {_canonical(final) for final in finals.values()}
    if len(states) > 1:
        verdict.anomaly("replicas differ", nodes=sorted(str(n) for n in finals))
    counts = {
        kind: sum(1 for o in outcome.values() if o == kind) for kind in ("ok", "fail", "unknown")
    }
    verdict.stats = {"transfers": len(attempted), **counts, "reads": reads, "finals": len(finals)}
    return verdict


def _check_read(verdict: Verdict, completion: Op, expected_total: int, accounts: int) -> None:
    value = completion.value
    if "balances" in value:
        balances = dict(value["balances"])
        total, count = sum(balances.values()), len(balances)
        low = min(balances.values(), default=0)
    else:
        total, low, count = value["total"], value["min"], value["count"]
    where = {"history_index": completion.index, "node": completion.node}
    if total != expected_total:
        verdict.anomaly("wrong total", total=total, expected=expected_total, **where)
    if count != accounts:
        verdict.anomaly("wrong number of accounts", count=count, expected=accounts, **where)
    if low is not None and low < 0:
        verdict.anomaly("negative balance", min=low, **where)


def _check_final(
    verdict: Verdict,
    node: Any,
    final: dict[str, Any],
    attempted: dict[int, dict[str, Any]],
    outcome: dict[int, str],
    accounts: int,
    initial_balance: int,
) -> None:
    ledger = {row[0]: row for row in final["ledger"]}
    lost = sorted(t for t, o in outcome.items() if o == "ok" and t not in ledger)
    if lost:
        verdict.anomaly("acknowledged transfers lost", node=node, ids=lost[:20], count=len(lost))
    revived = sorted(t for t, o in outcome.items() if o == "fail" and t in ledger)
    if revived:
        verdict.anomaly(
            "failed transfers committed", node=node, ids=revived[:20], count=len(revived)
        )
    for tid, row in ledger.items():
        transfer = attempted.get(tid)
        if transfer is None:
            verdict.anomaly("ledger row never attempted", node=node, row=list(row))
        elif (transfer["from"], transfer["to"], transfer["amount"]) != tuple(row[1:4]):
            verdict.anomaly("ledger row differs", node=node, row=list(row), attempted=transfer)
    expected = dict.fromkeys(range(accounts), initial_balance)
    for _, src, dst, amount in ledger.values():
        expected[src] -= amount
        expected[dst] += amount
    balances = dict(final["balances"])
    if balances != expected:
        verdict.anomaly(
            "balances disagree with the ledger",
            node=node,
            balances=sorted(balances.items()),
            from_ledger=sorted(expected.items()),
        )


def _canonical(final: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tuple(sorted(tuple(b) for b in final["balances"])),
        tuple(sorted(tuple(r) for r in final["ledger"])),
    )
