"""QuorumDB's own SQL syntax tree.

`sql/parser.py` builds it from pglast's JSON parse tree; nothing else sees
pglast. Nodes are frozen, slotted dataclasses, so a parsed statement can be
cached and shared between sessions. The tree is purely syntactic: names are
unresolved, literals untyped (``Literal.kind``), and ``location`` is the
0-based *character* offset of the node in the query string (-1 if unknown),
which errors report 1-based as PostgreSQL does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Node",
    "Expr",
    "Literal",
    "ColumnName",
    "Star",
    "Param",
    "UnaryOp",
    "BinaryOp",
    "BoolOp",
    "Not",
    "IsNull",
    "BooleanTest",
    "Between",
    "InList",
    "Cast",
    "TypeName",
    "FuncCall",
    "Case",
    "Coalesce",
    "NullIf",
    "Default",
    "Statement",
    "TableName",
    "SelectItem",
    "SortKey",
    "Select",
    "Values",
    "Insert",
    "Assignment",
    "Update",
    "Delete",
    "Begin",
    "Commit",
    "Rollback",
    "Savepoint",
    "ReleaseSavepoint",
    "RollbackToSavepoint",
    "SetVariable",
    "SetTransaction",
    "ResetVariable",
    "ShowVariable",
    "Explain",
    "ArrayExpr",
    "SubLink",
    "Quantified",
    "Subscript",
    "MinMax",
    "FrameBound",
    "WindowSpec",
    "Join",
    "SubqueryRef",
    "FunctionRef",
    "FromItem",
    "CommonTable",
    "With",
    "SetOperation",
    "Query",
    "OnConflict",
    "LockingClause",
    "leftmost_location",
]


@dataclass(frozen=True, slots=True)
class Node:
    pass


# ---- expressions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr(Node):
    pass


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A constant. `kind`: "int" (value int), "numeric" (value str, e.g. "1.5"),
    "string" (str), "bool" (bool) or "null" (None)."""

    kind: str
    value: object
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class ColumnName(Expr):
    """`parts` is the dotted name: ("id",), ("t", "id") or ("public", "t", "id")."""

    parts: tuple[str, ...]
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Star(Expr):
    """`*` or `t.*` in a select list."""

    table: str | None = None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Param(Expr):
    """$n (1-based)."""

    number: int
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class UnaryOp(Expr):
    op: str
    operand: Expr
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class BinaryOp(Expr):
    """Any binary operator by its PostgreSQL name: + - * / % ^ = <> < <= > >= || ~~ (LIKE) ..."""

    op: str
    left: Expr
    right: Expr
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    """AND / OR over two or more arguments. `op` is "and" or "or"."""

    op: str
    args: tuple[Expr, ...]
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull(Expr):
    operand: Expr
    negated: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class BooleanTest(Expr):
    """IS [NOT] TRUE / FALSE / UNKNOWN. `test` is "true", "false" or "unknown"."""

    operand: Expr
    test: str
    negated: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False
    symmetric: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class InList(Expr):
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class TypeName(Node):
    """A type as written: names ("pg_catalog", "int4") and modifiers (10,) or (8, 2)."""

    names: tuple[str, ...]
    modifiers: tuple[int, ...] = ()
    array: bool = False
    location: int = field(default=-1, compare=False)

    @property
    def last_name(self) -> str:
        return self.names[-1]


@dataclass(frozen=True, slots=True)
class Cast(Expr):
    operand: Expr
    type: TypeName
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class FuncCall(Expr):
    name: str
    args: tuple[Expr, ...]
    star: bool = False  # count(*)
    distinct: bool = False
    location: int = field(default=-1, compare=False)
    filter: Expr | None = None  # agg(x) FILTER (WHERE ...)
    order_by: tuple[SortKey, ...] = ()  # agg(x ORDER BY y)
    over: WindowSpec | None = None  # a window function call
    sql_syntax: bool = False  # EXTRACT(a FROM b), SUBSTRING(a FROM b), ... (not a plain call)


@dataclass(frozen=True, slots=True)
class ArrayExpr(Expr):
    """ARRAY[a, b, ...]; items may themselves be ArrayExprs (multidimensional)."""

    items: tuple[Expr, ...]
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class SubLink(Expr):
    """A subquery used as an expression.

    `kind`: "scalar" ((SELECT ...)), "exists", "array" (ARRAY(SELECT ...)),
    "any" (x op ANY (SELECT ...), which IN is) or "all" (x op ALL (SELECT ...)).
    `operand` and `op` are set for "any" and "all".
    """

    kind: str
    query: Query
    operand: Expr | None = None
    op: str = ""
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Quantified(Expr):
    """operand op ANY (array) / operand op ALL (array)."""

    op: str
    operand: Expr
    array: Expr
    all: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Subscript(Expr):
    """operand[index] (one subscript, 1-based as in PostgreSQL)."""

    operand: Expr
    index: Expr
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class MinMax(Expr):
    """GREATEST(...) (op "greatest") or LEAST(...) (op "least")."""

    op: str
    args: tuple[Expr, ...]
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Case(Expr):
    """CASE [operand] WHEN .. THEN .. [ELSE ..] END."""

    operand: Expr | None
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Coalesce(Expr):
    args: tuple[Expr, ...]
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class NullIf(Expr):
    left: Expr
    right: Expr
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Default(Expr):
    """DEFAULT in VALUES or SET."""

    location: int = field(default=-1, compare=False)


# ---- statements ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement(Node):
    pass


@dataclass(frozen=True, slots=True)
class TableName(Node):
    name: str
    schema: str | None = None
    alias: str | None = None
    location: int = field(default=-1, compare=False)
    column_aliases: tuple[str, ...] = ()  # FROM t AS x(a, b)


@dataclass(frozen=True, slots=True)
class Join(Node):
    """left JOIN right. `kind`: "inner", "left", "right", "full" or "cross"."""

    kind: str
    left: FromItem
    right: FromItem
    on: Expr | None = None
    using: tuple[str, ...] = ()
    natural: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class SubqueryRef(Node):
    """(SELECT ...) AS alias(columns) in FROM."""

    query: Query
    alias: str | None
    column_aliases: tuple[str, ...] = ()
    lateral: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class FunctionRef(Node):
    """A set-returning function in FROM: generate_series(1, 3) AS g(i)."""

    call: FuncCall
    alias: str | None
    column_aliases: tuple[str, ...] = ()
    ordinality: bool = False
    lateral: bool = False
    location: int = field(default=-1, compare=False)


FromItem = TableName | Join | SubqueryRef | FunctionRef


@dataclass(frozen=True, slots=True)
class FrameBound(Node):
    """One end of a window frame. `kind`: "unbounded preceding", "preceding",
    "current row", "following", "unbounded following"; `offset` for the two
    offset kinds."""

    kind: str
    offset: Expr | None = None


@dataclass(frozen=True, slots=True)
class WindowSpec(Node):
    """OVER (...) or WINDOW name AS (...). `frame_mode` is "range" (the default),
    "rows" or "groups"; `start`/`end` None mean PostgreSQL's default frame."""

    name: str | None = None  # the name a WINDOW clause defines
    ref: str | None = None  # OVER w / OVER (w ORDER BY ...)
    partition_by: tuple[Expr, ...] = ()
    order_by: tuple[SortKey, ...] = ()
    frame_mode: str = "range"
    start: FrameBound | None = None
    end: FrameBound | None = None
    exclude: str | None = None  # "current row", "group", "ties"
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class SelectItem(Node):
    """One select-list entry; `name` is the alias (None: derived as PostgreSQL does)."""

    expr: Expr
    name: str | None = None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class SortKey(Node):
    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default (NULLS LAST ascending)


@dataclass(frozen=True, slots=True)
class LockingClause(Node):
    """FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE [OF tables]: `strength` is one of
    those (lower case); `wait` is "block", "nowait" or "skip" (SKIP LOCKED)."""

    strength: str
    tables: tuple[str, ...] = ()
    wait: str = "block"
    locations: tuple[int, ...] = field(default=(), compare=False)  # of `tables`


@dataclass(frozen=True, slots=True)
class Select(Statement):
    items: tuple[SelectItem, ...]
    from_: tuple[FromItem, ...] = ()
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    order_by: tuple[SortKey, ...] = ()
    limit: Expr | None = None
    offset: Expr | None = None
    distinct: bool = False
    distinct_on: tuple[Expr, ...] = ()
    windows: tuple[WindowSpec, ...] = ()  # the WINDOW clause
    with_: With | None = None
    locking: tuple[LockingClause, ...] = ()  # FOR UPDATE / FOR SHARE ...


@dataclass(frozen=True, slots=True)
class Values(Statement):
    """VALUES (..), (..) as a statement or INSERT source; items may be `Default`."""

    rows: tuple[tuple[Expr, ...], ...]
    order_by: tuple[SortKey, ...] = ()
    limit: Expr | None = None
    offset: Expr | None = None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class CommonTable(Node):
    """One WITH entry: name(columns) AS [NOT] MATERIALIZED (query)."""

    name: str
    columns: tuple[str, ...]
    query: Statement  # a Query, or INSERT/UPDATE/DELETE ... RETURNING
    materialized: bool | None = None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class With(Node):
    ctes: tuple[CommonTable, ...]
    recursive: bool = False


@dataclass(frozen=True, slots=True)
class SetOperation(Statement):
    """left UNION/INTERSECT/EXCEPT [ALL] right, with the ORDER BY/LIMIT of the whole."""

    op: str  # "union", "intersect", "except"
    all: bool
    left: Query
    right: Query
    order_by: tuple[SortKey, ...] = ()
    limit: Expr | None = None
    offset: Expr | None = None
    with_: With | None = None
    location: int = field(default=-1, compare=False)


Query = Select | Values | SetOperation


@dataclass(frozen=True, slots=True)
class OnConflict(Node):
    """ON CONFLICT [(columns) | ON CONSTRAINT name] DO NOTHING / DO UPDATE SET ... [WHERE]."""

    columns: tuple[str, ...]
    constraint: str | None
    action: str  # "nothing" or "update"
    assignments: tuple[Assignment, ...] = ()
    where: Expr | None = None
    target_where: Expr | None = None  # ON CONFLICT (cols) WHERE pred (partial index inference)
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Insert(Statement):
    """`source` None means DEFAULT VALUES."""

    table: TableName
    columns: tuple[tuple[str, int], ...]  # (name, location)
    source: Select | Values | SetOperation | None
    returning: tuple[SelectItem, ...] = ()
    on_conflict: OnConflict | None = None
    with_: With | None = None


@dataclass(frozen=True, slots=True)
class Assignment(Node):
    column: str
    value: Expr
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class Update(Statement):
    table: TableName
    assignments: tuple[Assignment, ...]
    where: Expr | None = None
    from_: tuple[FromItem, ...] = ()
    returning: tuple[SelectItem, ...] = ()
    with_: With | None = None


@dataclass(frozen=True, slots=True)
class Delete(Statement):
    table: TableName
    where: Expr | None = None
    using: tuple[FromItem, ...] = ()
    returning: tuple[SelectItem, ...] = ()
    with_: With | None = None


@dataclass(frozen=True, slots=True)
class Begin(Statement):
    """BEGIN / START TRANSACTION. `tag` is the command tag to answer with."""

    isolation: str | None = None  # "read committed" | "repeatable read" | "serializable"
    read_only: bool | None = None
    tag: str = "BEGIN"


@dataclass(frozen=True, slots=True)
class Commit(Statement):
    pass


@dataclass(frozen=True, slots=True)
class Rollback(Statement):
    pass


@dataclass(frozen=True, slots=True)
class Savepoint(Statement):
    name: str


@dataclass(frozen=True, slots=True)
class ReleaseSavepoint(Statement):
    name: str


@dataclass(frozen=True, slots=True)
class RollbackToSavepoint(Statement):
    name: str


@dataclass(frozen=True, slots=True)
class SetVariable(Statement):
    """SET [LOCAL] name = values; `values` are the textual forms (None: DEFAULT)."""

    name: str
    values: tuple[str, ...] | None
    local: bool = False


@dataclass(frozen=True, slots=True)
class SetTransaction(Statement):
    """SET TRANSACTION ... (session=False) or SET SESSION CHARACTERISTICS AS TRANSACTION ..."""

    isolation: str | None
    read_only: bool | None
    session: bool = False


@dataclass(frozen=True, slots=True)
class ResetVariable(Statement):
    name: str | None  # None: RESET ALL


@dataclass(frozen=True, slots=True)
class ShowVariable(Statement):
    name: str  # "all" for SHOW ALL


@dataclass(frozen=True, slots=True)
class Explain(Statement):
    statement: Statement
    analyze: bool = False
    timing: bool = True  # EXPLAIN ANALYZE: per-node times (off: rows and loops only)
    summary: bool | None = None  # the "Execution Time" line (default: with ANALYZE)


def leftmost_location(node: Node) -> int:
    """Where an expression starts, for error positions: PostgreSQL's exprLocation.

    An operator's own location is the operator token; an error about the whole
    expression points at its leftmost part instead (`a + 1` -> `a`).
    """
    location = getattr(node, "location", -1)
    if isinstance(node, BinaryOp):
        first: Node | None = node.left
    elif isinstance(node, (Cast, IsNull, BooleanTest, InList, Between, Quantified, Subscript)):
        first = node.operand
    elif isinstance(node, BoolOp):
        first = node.args[0] if node.args else None
    else:
        first = None
    if first is not None:
        inner = leftmost_location(first)
        if inner >= 0 and (location < 0 or inner < location):
            return inner
    return location
