"""SELECT ... FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE [OF t] [NOWAIT | SKIP LOCKED].

`apply_locking` is a plan rewrite (a pure `Plan -> Plan` rule): every scan of
a table the locking clause names (all tables of the query's own FROM when it
names none; never the tables of subqueries or CTEs) is wrapped in a
`LockRows` node. At run time `LockRows` locks each row its scan returns
(`Transaction.lock`) before passing it on:

* a row another transaction holds makes the statement wait and restart on a
  fresh snapshot (READ COMMITTED re-reads the row and re-checks WHERE), a row
  changed since the snapshot fails REPEATABLE READ and SERIALIZABLE with
  40001, as an UPDATE would;
* NOWAIT fails at once with 55P03; SKIP LOCKED leaves the row out.

FOR UPDATE and FOR NO KEY UPDATE take the row's lock exclusively; FOR SHARE
and FOR KEY SHARE share it (so a FOR SHARE blocks writers but not other
FOR SHARE readers). A locking query counts as a write: it cannot run in a
read-only transaction, and its rows are produced before the first one is
returned, inside the statement's restart loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

from quorumdb.storage.errors import FeatureNotSupported, QuorumError

from . import ast
from .expr import ExecContext
from .locks import LockMode
from .plan import (
    Aggregate,
    CteScan,
    Distinct,
    DistinctOn,
    IndexScan,
    KeyLookup,
    KeyRange,
    PlanNode,
    SeqScan,
    SetOp,
    SubqueryScan,
    Window,
)

__all__ = ["LockRows", "apply_locking", "lock_rows", "describe", "locking_verb"]

Row = tuple[Any, ...]
_SCANS = (SeqScan, KeyLookup, KeyRange, IndexScan)
_MODES = {
    "update": LockMode.EXCLUSIVE,
    "no key update": LockMode.EXCLUSIVE,
    "share": LockMode.SHARE,
    "key share": LockMode.SHARE,
}
_REFUSED = (
    (Aggregate, "aggregate functions"),
    (Distinct, "DISTINCT clause"),
    (DistinctOn, "DISTINCT clause"),
    (Window, "window functions"),
    (SetOp, "UNION/INTERSECT/EXCEPT"),
)


@dataclass(frozen=True, slots=True)
class LockRows(PlanNode):
    """Lock every row `scan` returns (see the module docstring)."""

    scan: PlanNode
    strength: str = "update"
    wait: str = "block"


def describe(clause: ast.LockingClause) -> str:
    return f"FOR {clause.strength.upper()}"


def apply_locking(root: PlanNode, clauses: tuple[ast.LockingClause, ...]) -> PlanNode:
    """Wrap the scans of the locked tables in `LockRows` (refusing what PostgreSQL refuses)."""
    what = describe(clauses[0])
    _refuse(root, what)
    wanted: dict[str, ast.LockingClause] = {}
    for clause in clauses:
        for name in clause.tables or ("",):
            wanted.setdefault(name, clause)
    found: set[str] = set()

    def rewrite(node: Any) -> Any:
        if isinstance(node, _SCANS):
            name = node.alias or node.table.name  # type: ignore[attr-defined]
            clause = wanted.get(name) or wanted.get("")
            if clause is None:
                return node
            found.add(name)
            return LockRows(node, clause.strength, clause.wait)
        if isinstance(node, (SubqueryScan, CteScan)) or not isinstance(node, PlanNode):
            return node
        changes = {}
        for f in fields(node):  # type: ignore[arg-type]
            value = getattr(node, f.name)
            if isinstance(value, PlanNode):
                new = rewrite(value)
                if new is not value:
                    changes[f.name] = new
        return replace(node, **changes) if changes else node  # type: ignore[type-var]

    locked = rewrite(root)
    for clause in clauses:
        for i, name in enumerate(clause.tables):
            if name not in found:
                location = clause.locations[i] if i < len(clause.locations) else -1
                raise QuorumError(
                    f'relation "{name}" in {describe(clause)} clause not found in FROM clause',
                    sqlstate="42P01",
                    position=location + 1 if location >= 0 else None,
                )
    return locked  # type: ignore[no-any-return]


def locking_verb(root: PlanNode) -> str | None:
    """"SELECT FOR UPDATE" (or SHARE, ...) if the plan locks rows, for error messages."""
    if isinstance(root, LockRows):
        return f"SELECT FOR {root.strength.upper()}"
    if isinstance(root, (SubqueryScan, CteScan)) or not isinstance(root, PlanNode):
        return None
    for f in fields(root):  # type: ignore[arg-type]
        value = getattr(root, f.name)
        if isinstance(value, PlanNode):
            found = locking_verb(value)
            if found is not None:
                return found
    return None


def _refuse(node: Any, what: str) -> None:
    if isinstance(node, (SubqueryScan, CteScan)) or not isinstance(node, PlanNode):
        return
    for kind, name in _REFUSED:
        if isinstance(node, kind):
            raise FeatureNotSupported(f"{what} is not allowed with {name}")
    for f in fields(node):  # type: ignore[arg-type]
        value = getattr(node, f.name)
        if isinstance(value, PlanNode):
            _refuse(value, what)


def lock_rows(
    node: LockRows, keyed: Callable[[ExecContext], Iterator[tuple[bytes, Row]]]
) -> Callable[[ExecContext], Iterator[Row]]:
    """The row source of a `LockRows` node over its scan's (key, row) source."""
    mode = _MODES[node.strength]
    wait = node.wait
    relation = node.scan.table.name  # type: ignore[attr-defined]

    def rows(ctx: ExecContext) -> Iterator[Row]:
        txn = ctx.txn
        for key, row in keyed(ctx):
            if wait == "block":
                txn.lock(key, mode)
            elif not txn.try_lock(key, mode):
                if wait == "skip":
                    continue
                raise QuorumError(
                    f'could not obtain lock on row in relation "{relation}"', sqlstate="55P03"
                )
            yield row

    return rows
