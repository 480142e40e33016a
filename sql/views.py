"""Views: stored queries, expanded where they are used.

A view is stored as the SQL text of its query plus its column names
(`catalog.ViewDef`). CREATE VIEW plans the query once against the current
catalog, which validates it and yields its output columns and the tables it
reads (`plan_view`). Wherever a query names the view, the planner replaces
the name by the view's query as a subquery in FROM (`expand_view`, the hook
the planner calls when a FROM name resolves to a view), so a view is always
planned against the catalog of the query that uses it.

Invariant: a view's query text is deparsed by PostgreSQL's own deparser
(pglast, in sql/parser.py) and re-parses to the same tree.
"""

from __future__ import annotations

from functools import lru_cache

from quorumdb.storage.errors import DuplicateColumn, QuorumError

from . import ast
from .catalog import Catalog, TableDef, ViewDef
from .parser import parse

__all__ = ["plan_view", "view_query", "expand_view", "referenced_objects"]


@lru_cache(maxsize=256)
def view_query(sql: str) -> ast.Statement:
    """The parsed query of a view (cached by text)."""
    (stmt,) = parse(sql)
    return stmt


def expand_view(view: ViewDef, ref: ast.TableName) -> ast.SubqueryRef:
    """FROM view [AS alias(cols)] -> FROM (view's query) AS alias(view columns)."""
    columns = ref.column_aliases + view.columns[len(ref.column_aliases) :]
    return ast.SubqueryRef(
        view_query(view.sql),  # type: ignore[arg-type]
        ref.alias or view.name,
        columns,
        location=ref.location,
    )


def _walk(node: object, found: list[object]) -> None:
    if isinstance(node, ast.TableName):
        found.append(node)
        return
    if isinstance(node, (tuple, list)):
        for item in node:
            _walk(item, found)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:  # type: ignore[attr-defined]
            _walk(getattr(node, name, None), found)


def referenced_objects(query: ast.Statement, catalog: Catalog) -> tuple[int, ...]:
    """Ids of the tables and views a view's query names (what it directly depends on)."""
    found: list[object] = []
    _walk(query, found)
    ids: list[int] = []
    for item in found:
        if isinstance(item, ast.TableName):
            target = catalog.lookup(item.name, item.schema)
            if isinstance(target, (TableDef, ViewDef)) and target.id not in ids:
                ids.append(target.id)
    return tuple(ids)


def plan_view(
    query: ast.Statement, names: tuple[str, ...], catalog: Catalog
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Validate a view's query: (its column names, the ids of what it reads)."""
    from .planner import plan_statement

    plan = plan_statement(query, catalog, None)
    if plan.columns is None:
        raise QuorumError("views must be defined by a query", sqlstate="42601")
    if len(names) > len(plan.columns):
        raise QuorumError(
            "CREATE VIEW specifies more column names than columns", sqlstate="42601"
        )
    columns = names + tuple(c.name for c in plan.columns[len(names) :])
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise DuplicateColumn(f'column "{name}" specified more than once')
        seen.add(name)
    return columns, referenced_objects(query, catalog)
