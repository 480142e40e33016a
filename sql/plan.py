"""Plan nodes: what the planner decides and the executor runs.

A plan is a tree of frozen dataclasses; expressions in it are `bound`
expressions evaluated against the rows of the node's input. The tree says
nothing about *how* a node runs (that is `sql/executor.py`), so it can be
printed (`explain`), cached, and rewritten by future optimizer rules.

Row-producing nodes (scans, Filter, Project, Aggregate, Sort, Limit, ...)
yield tuples. Scans of a table can also yield (key, row) pairs, which is how
UPDATE and DELETE know which keys to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .bound import AggCall, BoundExpr, format_expr
from .catalog import ColumnInfo, TableDef
from .types import SqlType

__all__ = [
    "OutputColumn",
    "PlanNode",
    "Result",
    "ValuesScan",
    "SeqScan",
    "KeyLookup",
    "KeyRange",
    "Filter",
    "Project",
    "Aggregate",
    "SortSpec",
    "Sort",
    "Distinct",
    "Limit",
    "Insert",
    "Update",
    "Delete",
    "CreateTable",
    "DropTable",
    "Explain",
    "Plan",
    "explain",
    "aggregate_names",
]


@dataclass(frozen=True, slots=True)
class OutputColumn:
    name: str
    type: SqlType
    table_oid: int = 0
    column_number: int = 0


@dataclass(frozen=True, slots=True)
class PlanNode:
    pass


@dataclass(frozen=True, slots=True)
class Result(PlanNode):
    """One empty row: the input of a SELECT without FROM."""


@dataclass(frozen=True, slots=True)
class ValuesScan(PlanNode):
    rows: tuple[tuple[BoundExpr, ...], ...]


@dataclass(frozen=True, slots=True)
class SeqScan(PlanNode):
    """Every row of the table in primary-key order (reverse: descending)."""

    table: TableDef
    filter: BoundExpr | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class KeyLookup(PlanNode):
    """Point reads of whole primary keys (WHERE id = 5, id IN (1, 2))."""

    table: TableDef
    keys: tuple[tuple[BoundExpr, ...], ...]
    filter: BoundExpr | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class KeyRange(PlanNode):
    """Rows whose primary key starts with `prefix` and whose next key column lies
    between `lower` and `upper` (None: unbounded)."""

    table: TableDef
    prefix: tuple[BoundExpr, ...]
    lower: BoundExpr | None = None
    lower_inclusive: bool = True
    upper: BoundExpr | None = None
    upper_inclusive: bool = True
    filter: BoundExpr | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Filter(PlanNode):
    source: PlanNode
    predicate: BoundExpr


@dataclass(frozen=True, slots=True)
class Project(PlanNode):
    source: PlanNode
    exprs: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class Aggregate(PlanNode):
    """Output rows: group-by values, then aggregate results. Without group-by
    exactly one row comes out, even from no input."""

    source: PlanNode
    group_by: tuple[BoundExpr, ...]
    aggregates: tuple[AggCall, ...]


@dataclass(frozen=True, slots=True)
class SortSpec:
    expr: BoundExpr
    descending: bool = False
    nulls_first: bool = False


@dataclass(frozen=True, slots=True)
class Sort(PlanNode):
    source: PlanNode
    keys: tuple[SortSpec, ...]


@dataclass(frozen=True, slots=True)
class Distinct(PlanNode):
    source: PlanNode


@dataclass(frozen=True, slots=True)
class Limit(PlanNode):
    source: PlanNode
    limit: BoundExpr | None
    offset: BoundExpr | None


@dataclass(frozen=True, slots=True)
class Insert(PlanNode):
    """`values[i]` computes column i from a source row (None: the column's default, NULL)."""

    table: TableDef
    source: PlanNode
    values: tuple[BoundExpr | None, ...]


@dataclass(frozen=True, slots=True)
class Update(PlanNode):
    table: TableDef
    source: PlanNode  # a scan of `table`
    assignments: tuple[tuple[int, BoundExpr], ...]


@dataclass(frozen=True, slots=True)
class Delete(PlanNode):
    table: TableDef
    source: PlanNode  # a scan of `table`


@dataclass(frozen=True, slots=True)
class CreateTable(PlanNode):
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[int, ...]
    pkey_name: str
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class DropTable(PlanNode):
    names: tuple[str, ...]
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class Explain(PlanNode):
    plan: Plan


@dataclass(frozen=True, slots=True)
class Plan:
    """A planned statement. `columns` is None for statements that return no rows;
    `tag` is the command tag's verb ("SELECT", "INSERT", ...)."""

    root: PlanNode
    tag: str
    columns: tuple[OutputColumn, ...] | None = None
    param_types: tuple[SqlType, ...] = ()
    writes: bool = False
    catalog_version: int | None = field(default=None, compare=False)


# ---- EXPLAIN ----------------------------------------------------------------------


def aggregate_names(node: Aggregate) -> list[str]:
    """How each aggregate of `node` is shown: count(*), sum(DISTINCT n)."""
    names = []
    for agg in node.aggregates:
        arg = (
            "*" if agg.arg is None else ("DISTINCT " if agg.distinct else "") + format_expr(agg.arg)
        )
        names.append(f"{agg.func.name}({arg})")
    return names


def _describe(node: PlanNode) -> tuple[str, list[PlanNode]]:
    """(one-line description, children) of a node."""
    if isinstance(node, Result):
        return "Result", []
    if isinstance(node, ValuesScan):
        return f"Values: {len(node.rows)} row{'' if len(node.rows) == 1 else 's'}", []
    if isinstance(node, SeqScan):
        text = f"SeqScan: {node.table.name}{' (reverse)' if node.reverse else ''}"
        return text + (f" filter {format_expr(node.filter)}" if node.filter is not None else ""), []
    if isinstance(node, KeyLookup):
        keys = ", ".join("(" + ", ".join(format_expr(k) for k in key) + ")" for key in node.keys)
        text = f"KeyLookup: {node.table.name} {node.table.pkey_name} {keys}"
        return text + (f" filter {format_expr(node.filter)}" if node.filter is not None else ""), []
    if isinstance(node, KeyRange):
        pk = node.table.primary_key
        names = [node.table.columns[i].name for i in pk]
        conds = [f"{names[i]} = {format_expr(e)}" for i, e in enumerate(node.prefix)]
        column = names[len(node.prefix)] if len(node.prefix) < len(names) else None
        if node.lower is not None:
            conds.append(
                f"{column} {'>=' if node.lower_inclusive else '>'} {format_expr(node.lower)}"
            )
        if node.upper is not None:
            conds.append(
                f"{column} {'<=' if node.upper_inclusive else '<'} {format_expr(node.upper)}"
            )
        text = f"KeyRange: {node.table.name} {node.table.pkey_name} ({' AND '.join(conds)})"
        text += " (reverse)" if node.reverse else ""
        return text + (f" filter {format_expr(node.filter)}" if node.filter is not None else ""), []
    if isinstance(node, Filter):
        return f"Filter: {format_expr(node.predicate)}", [node.source]
    if isinstance(node, Project):
        return f"Project: {', '.join(format_expr(e) for e in node.exprs)}", [node.source]
    if isinstance(node, Aggregate):
        parts = [format_expr(g) for g in node.group_by] + aggregate_names(node)
        prefix = "Aggregate" if not node.group_by else f"HashAggregate ({len(node.group_by)} keys)"
        return f"{prefix}: {', '.join(parts)}", [node.source]
    if isinstance(node, Sort):
        sort_keys = []
        for k in node.keys:
            key = format_expr(k.expr) + (" DESC" if k.descending else "")
            if k.nulls_first != k.descending:
                key += " NULLS FIRST" if k.nulls_first else " NULLS LAST"
            sort_keys.append(key)
        return f"Sort: {', '.join(sort_keys)}", [node.source]
    if isinstance(node, Distinct):
        return "Distinct", [node.source]
    if isinstance(node, Limit):
        parts = []
        if node.limit is not None:
            parts.append(f"limit {format_expr(node.limit)}")
        if node.offset is not None:
            parts.append(f"offset {format_expr(node.offset)}")
        return f"Limit: {' '.join(parts)}", [node.source]
    if isinstance(node, Insert):
        return f"Insert: {node.table.name}", [node.source]
    if isinstance(node, Update):
        sets = ", ".join(
            f"{node.table.columns[i].name} = {format_expr(e)}" for i, e in node.assignments
        )
        return f"Update: {node.table.name} ({sets})", [node.source]
    if isinstance(node, Delete):
        return f"Delete: {node.table.name}", [node.source]
    if isinstance(node, CreateTable):
        return f"CreateTable: {node.name}", []
    if isinstance(node, DropTable):
        return f"DropTable: {', '.join(node.names)}", []
    if isinstance(node, Explain):
        return "Explain", [node.plan.root]
    raise TypeError(f"unknown plan node {type(node).__name__}")


def explain(node: PlanNode) -> list[str]:
    """The plan as an indented tree, one line per node (toyDB style)."""
    lines: list[str] = []

    def walk(n: PlanNode, prefix: str, child_prefix: str) -> None:
        text, children = _describe(n)
        lines.append(prefix + text)
        for i, child in enumerate(children):
            last = i == len(children) - 1
            walk(
                child,
                child_prefix + ("└─ " if last else "├─ "),
                child_prefix + ("   " if last else "│  "),
            )

    walk(node, "", "")
    return lines
