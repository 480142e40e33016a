"""EXPLAIN and EXPLAIN ANALYZE: the chosen plan as PostgreSQL-style text.

Node names follow PostgreSQL's (Seq Scan, Index Scan, Nested Loop, Hash
Join + Hash, HashAggregate, Sort, Limit, WindowAgg, Append, HashSetOp,
CTE Scan, Recursive Union, ...), with their conditions as indented
properties (Index Cond, Filter, Hash Cond, Join Filter, Group Key, Sort
Key) and children behind ``->``. Costs are never shown (there is no cost
model); a scan in primary-key order over the whole table is still a Seq
Scan, since rows are stored in that order. Subqueries used as values are
listed as ``SubPlan n`` under the node that evaluates them.

EXPLAIN ANALYZE runs the statement (writes included, as in PostgreSQL) with
instrumented row sources and adds ``(actual time=first..total rows=n
loops=l)`` per node (rows per loop; ``TIMING OFF`` leaves the times out)
and, unless ``SUMMARY OFF``, the total execution time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from .bound import BoundExpr, SubPlan, format_expr, transform
from .expr import ExecContext
from .plan import (
    Aggregate,
    CteScan,
    Delete,
    Distinct,
    DistinctOn,
    Explain,
    Filter,
    FunctionScan,
    HashJoin,
    IndexScan,
    Insert,
    KeyLookup,
    KeyRange,
    Limit,
    NestedLoop,
    PlanNode,
    Project,
    ProjectSet,
    RecursiveUnion,
    Result,
    SeqScan,
    SetOp,
    Sort,
    SubqueryScan,
    Update,
    ValuesScan,
    Window,
    WorkTableScan,
)
from .row_locking import LockRows

__all__ = ["explain_lines", "explain_source"]

Row = tuple[Any, ...]
Stats = dict[int, list[float]]


def explain_source(node: Explain) -> Callable[[ExecContext], Iterator[Row]]:
    plan = node.plan
    if not node.analyze:
        lines = tuple((line,) for line in explain_lines(plan.root))
        return lambda ctx: iter(lines)
    from .executor import Executable, RowCompiler, _compile_write

    compiler = RowCompiler(instrument=True)
    exe = Executable(plan)
    with compiler:
        if isinstance(plan.root, (Insert, Update, Delete)):
            _compile_write(exe, plan.root, compiler)
        else:
            exe.query = compiler.rows(plan.root)

    def run(ctx: ExecContext) -> Iterator[Row]:
        ctx.stats = {}
        started = time.perf_counter()
        if exe.query is not None:
            for _ in exe.query(ctx):
                pass
        elif exe.modify is not None:
            exe.modify(ctx)
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(plan.root, (Insert, Update, Delete)) and id(plan.root) not in ctx.stats:
            seconds = elapsed / 1000
            ctx.stats[id(plan.root)] = [0, 1, seconds, seconds]  # writes return no rows
        for line in explain_lines(plan.root, ctx.stats, node.timing):
            yield (line,)
        if node.summary:
            yield (f"Execution Time: {elapsed:.3f} ms",)

    return run


def explain_lines(root: PlanNode, stats: Stats | None = None, timing: bool = True) -> list[str]:
    """The plan as PostgreSQL-style indented text, one line per entry."""
    qualify = len(_relations(root)) > 1
    lines: list[str] = []
    seen: set[int] = set()
    ctes: set[str] = set()

    def walk(node: PlanNode, depth: int, extra: int = 0) -> None:
        name, props, children, exprs = _describe(node, qualify)
        name = _actual(name, node, stats, timing)
        pad = " " * extra
        if depth == 0:
            lines.append(pad + name)
            indent = pad + "  "
        else:
            lines.append(pad + " " * (6 * depth - 4) + "->  " + name)
            indent = pad + " " * (6 * depth + 2)
        for prop in props:
            lines.append(indent + prop)
        for child in children:
            if isinstance(child, tuple):
                if child[0] in ctes:
                    continue  # a CTE's plan is shown at its first reference
                ctes.add(child[0])
                lines.append(indent + child[0])
                walk(child[1], depth + 1, extra + 2)
            else:
                walk(child, depth + 1, extra)
        for e in exprs:
            for sub in _subplans(e):
                if sub.number not in seen:
                    seen.add(sub.number)
                    lines.append(indent + f"SubPlan {sub.number}")
                    walk(sub.plan, depth + 1, extra + 2)

    walk(root, 0)
    return lines


def _actual(name: str, node: PlanNode, stats: Stats | None, timing: bool) -> str:
    if stats is None:
        return name
    entry = stats.get(id(_counted(node)))
    if entry is None:
        return name + " (never executed)"
    rows, loops, total, first = entry
    per_loop = round(rows / loops) if loops else 0
    if timing:
        return name + f" (actual time={first * 1000 / loops:.3f}..{total * 1000 / loops:.3f} rows={per_loop} loops={int(loops)})"  # fmt: skip
    return name + f" (actual rows={per_loop} loops={int(loops)})"


def _counted(node: PlanNode) -> PlanNode:
    """The node whose row source carries the counts (Project is shown as its input)."""
    return node


def _relations(root: PlanNode) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, (SeqScan, KeyLookup, KeyRange, IndexScan)):
            found.add(node.alias or node.table.name)
        elif isinstance(node, (FunctionScan, SubqueryScan, ValuesScan)):
            found.add(node.alias)
        elif isinstance(node, CteScan):
            found.add(node.alias or node.name)
            visit(node.cte)
        for child in _children_of(node):
            visit(child)

    visit(root)
    return found


def _children_of(node: Any) -> list[Any]:
    out = []
    for name in getattr(node, "__dataclass_fields__", {}):
        value = getattr(node, name)
        if isinstance(value, PlanNode):
            out.append(value)
    return out


def _subplans(e: BoundExpr) -> list[SubPlan]:
    found: list[SubPlan] = []

    def visit(node: BoundExpr) -> BoundExpr:
        if isinstance(node, SubPlan):
            found.append(node)
        return transform(node, visit)

    visit(e)
    return found


_JOIN_NAMES = {"inner": "", "left": " Left Join", "right": " Right Join", "full": " Full Join"}


def _describe(node: PlanNode, q: bool) -> tuple[str, list[str], list[Any], list[BoundExpr]]:
    """(name, property lines, children, expressions that may hold subplans)."""

    def f(e: BoundExpr) -> str:
        return format_expr(e, q)

    def cond(label: str, e: BoundExpr | None) -> list[str]:
        return [f"{label}: {_paren(f(e))}"] if e is not None else []

    if isinstance(node, (SeqScan, KeyLookup, KeyRange, IndexScan)):
        table = node.table.name
        on = f" on {table}" + (f" {node.alias}" if node.alias and node.alias != table else "")
        backward = " Backward" if node.reverse else ""
        if isinstance(node, SeqScan):
            return f"Seq Scan{backward}{on}", cond("Filter", node.filter), [], _exprs(node.filter)
        index = node.index.name if isinstance(node, IndexScan) else node.table.pkey_name
        index_cond = _index_cond(node, q)  # "()": a whole index in its order (ORDER BY)
        props = [f"Index Cond: {index_cond}"] if index_cond != "()" else []
        props += cond("Filter", node.filter)
        values: list[BoundExpr] = []
        return f"Index Scan{backward} using {index}{on}", props, [], _exprs(node.filter, *values)
    if isinstance(node, FunctionScan):
        name = node.call.op.name
        alias = f" {node.alias}" if node.alias and node.alias != name else ""
        return (
            f"Function Scan on {name}{alias}",
            cond("Filter", node.filter),
            [],
            [node.call, *_exprs(node.filter)],
        )
    if isinstance(node, ValuesScan):
        return f'Values Scan on "{node.alias}"', [], [], [e for row in node.rows for e in row]
    if isinstance(node, Result):
        return "Result", [], [], []
    if isinstance(node, Filter):
        name, props, children, exprs = _describe(node.source, q)
        if isinstance(node.source, Result):
            return "Result", [f"One-Time Filter: {_paren(f(node.predicate))}"], [], [node.predicate]
        if isinstance(node.source, (Project, SubqueryScan)):
            return "Subquery Scan" if isinstance(node.source, SubqueryScan) else name, props + cond("Filter", node.predicate), children, exprs + [node.predicate]  # fmt: skip
        return name, props + cond("Filter", node.predicate), children, exprs + [node.predicate]
    if isinstance(node, Project):
        name, props, children, exprs = _describe(node.source, q)
        return name, props, children, exprs + list(node.exprs)
    if isinstance(node, ProjectSet):
        return "ProjectSet", [], [node.source], list(node.exprs)
    if isinstance(node, Aggregate):
        if not node.group_by:
            return "Aggregate", [], [node.source], _agg_exprs(node)
        return "HashAggregate", [f"Group Key: {', '.join(f(g) for g in node.group_by)}"], [node.source], _agg_exprs(node)  # fmt: skip
    if isinstance(node, Window):
        return "WindowAgg", [], [node.source], [a for c in node.calls for a in c.args]
    if isinstance(node, Sort):
        keys = []
        for k in node.keys:
            key = f(k.expr) + (" DESC" if k.descending else "")
            if k.nulls_first != k.descending:
                key += " NULLS FIRST" if k.nulls_first else " NULLS LAST"
            keys.append(key)
        return "Sort", [f"Sort Key: {', '.join(keys)}"], [node.source], [k.expr for k in node.keys]
    if isinstance(node, Distinct):
        props = []
        if isinstance(node.source, Project):
            props = [f"Group Key: {', '.join(f(e) for e in node.source.exprs)}"]
        return "HashAggregate", props, [node.source], []
    if isinstance(node, DistinctOn):
        return "Unique", [], [node.source], list(node.keys)
    if isinstance(node, Limit):
        return "Limit", [], [node.source], _exprs(node.limit, node.offset)
    if isinstance(node, LockRows):
        return "LockRows", [], [node.scan], []
    if isinstance(node, NestedLoop):
        return f"Nested Loop{_JOIN_NAMES[node.kind]}", cond("Join Filter", node.condition), [node.left, node.right], _exprs(node.condition)  # fmt: skip
    if isinstance(node, HashJoin):
        pairs = [
            f"({f(lk)} = {f(rk)})" for lk, rk in zip(node.left_keys, node.right_keys, strict=True)
        ]
        hash_cond = pairs[0] if len(pairs) == 1 else "(" + " AND ".join(pairs) + ")"
        props = [f"Hash Cond: {hash_cond}"] + cond("Join Filter", node.condition)
        return f"Hash{_JOIN_NAMES[node.kind]}" if node.kind != "inner" else "Hash Join", props, [node.left, _HashNode(node.right)], _exprs(node.condition)  # fmt: skip
    if isinstance(node, _HashNode):
        return "Hash", [], [node.source], []
    if isinstance(node, SetOp):
        append = _AppendNode(node.left, node.right)
        if node.op == "union":
            return (
                ("Append", [], [node.left, node.right], [])
                if node.all
                else ("HashAggregate", [], [append], [])
            )
        return f"HashSetOp {node.op.capitalize()}{' All' if node.all else ''}", [], [append], []
    if isinstance(node, _AppendNode):
        return "Append", [], [node.left, node.right], []
    if isinstance(node, RecursiveUnion):
        return "Recursive Union", [], [node.base, node.recursive], []
    if isinstance(node, WorkTableScan):
        return f"WorkTable Scan on {node.name}", [], [], []
    if isinstance(node, CteScan):
        alias = f" {node.alias}" if node.alias and node.alias != node.name else ""
        return f"CTE Scan on {node.name}{alias}", [], [(f"CTE {node.name}", node.cte)], []
    if isinstance(node, SubqueryScan):
        return f"Subquery Scan on {node.alias}", [], [node.source], []
    if isinstance(node, Insert):
        props = []
        if node.conflict is not None:
            props.append(f"Conflict Resolution: {'UPDATE' if node.conflict.update else 'NOTHING'}")
            props.append(f"Conflict Arbiter Indexes: {node.conflict.arbiter_name}")
            props += cond("Conflict Filter", node.conflict.where)
        return (
            f"Insert on {node.table.name}",
            props,
            [node.source],
            [v for v in node.values if v is not None],
        )
    if isinstance(node, Update):
        return f"Update on {node.table.name}", [], [node.source], [e for _, e in node.assignments]
    if isinstance(node, Delete):
        return f"Delete on {node.table.name}", [], [node.source], []
    raise TypeError(f"unknown plan node {type(node).__name__}")


class _HashNode:
    """The build side of a hash join, shown as PostgreSQL's Hash node."""

    def __init__(self, source: PlanNode) -> None:
        self.source = source


class _AppendNode:
    """The inputs of a set operation, shown as PostgreSQL's Append node."""

    def __init__(self, left: PlanNode, right: PlanNode) -> None:
        self.left = left
        self.right = right


def _exprs(*exprs: BoundExpr | None) -> list[BoundExpr]:
    return [e for e in exprs if e is not None]


def _agg_exprs(node: Aggregate) -> list[BoundExpr]:
    out: list[BoundExpr] = list(node.group_by)
    for agg in node.aggregates:
        out.extend(agg.args)
        if agg.filter is not None:
            out.append(agg.filter)
    return out


def _paren(text: str) -> str:
    return text if text.startswith("(") and text.endswith(")") else f"({text})"


def _index_cond(node: KeyLookup | KeyRange | IndexScan, q: bool) -> str:
    table = node.table
    if isinstance(node, IndexScan):
        columns = node.index.columns
        prefixes = node.prefixes
    elif isinstance(node, KeyLookup):
        columns = table.primary_key
        prefixes = node.keys
    else:
        columns = table.primary_key
        prefixes = (node.prefix,)
    names = [table.columns[i].name for i in columns]
    conds: list[str] = []
    fixed = len(prefixes[0]) if prefixes else 0
    if len(prefixes) == 1:
        conds.extend(f"({names[i]} = {format_expr(v, q)})" for i, v in enumerate(prefixes[0]))
    elif fixed == 1:
        values = ", ".join(format_expr(p[0], q) for p in prefixes)
        conds.append(f"({names[0]} = ANY (ARRAY[{values}]))")
    else:
        tuples = ", ".join("(" + ", ".join(format_expr(v, q) for v in p) + ")" for p in prefixes)
        conds.append(f"(({', '.join(names[:fixed])}) IN ({tuples}))")
    if not isinstance(node, KeyLookup) and fixed < len(names):
        column = names[fixed]
        if node.lower is not None:
            conds.append(
                f"({column} {'>=' if node.lower_inclusive else '>'} {format_expr(node.lower, q)})"
            )
        if node.upper is not None:
            conds.append(
                f"({column} {'<=' if node.upper_inclusive else '<'} {format_expr(node.upper, q)})"
            )
    if len(conds) == 1:
        return conds[0]
    return "(" + " AND ".join(conds) + ")"
