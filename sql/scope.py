"""Name resolution: the relations and columns an expression can reference.

A `Scope` lists the columns of the relations in FROM, each at its position
in the row the expressions will read, and resolves a column reference the
way PostgreSQL does, with its errors: 42703 ``column "x" does not exist``
plus the "Perhaps you meant ..." hint for near misses, 42702 for ambiguity,
42P01 for an unknown or shadowed table qualifier.

Joins combine scopes (`Scope.join`): the right side's positions shift past
the left side's. ``USING``/``NATURAL`` merge the named columns: the merged
column is what an unqualified name (and ``*``) refers to, and the joined
relations' own copies stay reachable qualified (``a.x``). A merged column of
a FULL join is computed (COALESCE of both sides), so a `ScopeColumn` carries
either a row position or an expression.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from quorumdb.storage.errors import AmbiguousColumn, SyntaxErrorSQL, UndefinedColumn, UndefinedTable

from .types import SqlType

__all__ = ["pos", "Relation", "ScopeColumn", "Scope"]


def pos(location: int) -> int | None:
    """AST location (0-based, -1 unknown) -> error position (1-based or None)."""
    return location + 1 if location >= 0 else None


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation in FROM: the name it is visible by (its alias, if any) and its real name."""

    visible: str
    table: str
    schema: str | None  # set when visible by its real name (so "public.t.x" resolves)


@dataclass(frozen=True, slots=True)
class ScopeColumn:
    relation: str | None  # the name the relation is known by (None: a merged USING column)
    name: str
    type: SqlType
    index: int  # position in the row the expressions are evaluated against (-1: see expr)
    table_oid: int = 0
    column_number: int = 0
    expr: Any = field(default=None, compare=False)  # a BoundExpr for computed columns
    hidden: bool = False  # merged away by USING/NATURAL: reachable only qualified


class Scope:
    """The columns visible to expressions: those of the relations in FROM.

    `star` is what ``*`` expands to, in order (merged USING columns first)."""

    def __init__(
        self,
        columns: list[ScopeColumn],
        relations: list[Relation],
        star: list[ScopeColumn] | None = None,
    ) -> None:
        self.columns = columns
        self.relations = relations
        self.star = list(columns) if star is None else star

    EMPTY: Scope

    @property
    def width(self) -> int:
        """How many row positions the scope's relations occupy."""
        return 1 + max((c.index for c in self.columns if c.index >= 0), default=-1)

    def shifted(self, offset: int) -> Scope:
        """The same scope over a row whose positions start at `offset`."""
        if offset == 0:
            return self
        mapping = {id(c): _shift(c, offset) for c in self.columns}
        return Scope(
            [mapping[id(c)] for c in self.columns],
            list(self.relations),
            [mapping.get(id(c), _shift(c, offset)) for c in self.star],
        )

    def join(self, right: Scope, merged: list[ScopeColumn] | None = None,
             merged_names: tuple[str, ...] = ()) -> Scope:  # fmt: skip
        """left + right (already shifted to its positions); `merged` are USING columns."""
        if not merged:
            return Scope(self.columns + right.columns, self.relations + right.relations,
                         self.star + right.star)  # fmt: skip
        names = set(merged_names)

        def hide(c: ScopeColumn) -> ScopeColumn:
            return replace(c, hidden=True) if c.name in names and not c.hidden else c

        columns = [hide(c) for c in self.columns] + [hide(c) for c in right.columns] + merged
        star = (
            merged
            + [c for c in self.star if c.name not in names]
            + [c for c in right.star if c.name not in names]
        )
        return Scope(columns, self.relations + right.relations, star)

    def unqualified(self, name: str) -> list[ScopeColumn]:
        return [c for c in self.columns if c.name == name and not c.hidden]

    def resolve(self, parts: tuple[str, ...], location: int) -> ScopeColumn:
        if len(parts) == 1:
            name = parts[0]
            found = self.unqualified(name)
            if not found:
                raise UndefinedColumn(
                    f'column "{name}" does not exist',
                    position=pos(location),
                    hint=self._fuzzy_hint(name, None),
                )
            if len(found) > 1:
                raise AmbiguousColumn(
                    f'column reference "{name}" is ambiguous', position=pos(location)
                )
            return found[0]
        if len(parts) > 3:
            raise SyntaxErrorSQL(
                f"improper qualified name (too many dotted names): {'.'.join(parts)}",
                position=pos(location),
            )
        *qualifier, name = parts
        relation = qualifier[-1]
        schema = qualifier[0] if len(qualifier) == 2 else None
        self.check_relation(relation, schema, location)
        for c in self.columns:
            if c.relation == relation and c.name == name:
                return c
        raise UndefinedColumn(
            f"column {relation}.{name} does not exist",
            position=pos(location),
            hint=self._fuzzy_hint(name, relation),
        )

    def has_relation(self, relation: str, schema: str | None = None) -> bool:
        return any(
            r.visible == relation and (schema is None or r.schema == schema) for r in self.relations
        )

    def check_relation(self, relation: str, schema: str | None, location: int) -> None:
        """Raise PostgreSQL's 42P01 errors unless `relation` names a relation in scope."""
        if self.has_relation(relation, schema):
            return
        for r in self.relations:
            if r.table == relation and r.visible != relation:
                raise UndefinedTable(
                    f'invalid reference to FROM-clause entry for table "{relation}"',
                    hint=f'Perhaps you meant to reference the table alias "{r.visible}".',
                    position=pos(location),
                )
        raise UndefinedTable(
            f'missing FROM-clause entry for table "{relation}"', position=pos(location)
        )

    def relation_columns(self, relation: str) -> list[ScopeColumn]:
        """The columns of `relation`, in its own order (what ``relation.*`` expands to)."""
        return [c for c in self.columns if c.relation == relation]

    def _fuzzy_hint(self, name: str, relation: str | None) -> str | None:
        """PostgreSQL's "Perhaps you meant ..." hint: the one or two closest column names."""
        distance = _MAX_FUZZY_DISTANCE + 1
        first: ScopeColumn | None = None
        second: ScopeColumn | None = None
        for c in self.columns:
            if c.relation is None or (relation is not None and c.relation != relation):
                continue
            d = _levenshtein(c.name, name)
            if d > len(name) // 2:
                continue
            if d < distance:
                distance, first, second = d, c, None
            elif d == distance:
                if second is not None:  # three equally close: suggest nothing this close
                    first = second = None
                    distance = d - 1
                elif first is not None:
                    second = c
        if first is None:
            return None
        if second is None:
            return f'Perhaps you meant to reference the column "{first.relation}.{first.name}".'
        return (
            f'Perhaps you meant to reference the column "{first.relation}.{first.name}" '
            f'or the column "{second.relation}.{second.name}".'
        )


def _shift(c: ScopeColumn, offset: int) -> ScopeColumn:
    if c.index < 0:
        from .bound import shift_columns

        return replace(c, expr=shift_columns(c.expr, offset))
    return replace(c, index=c.index + offset)


_MAX_FUZZY_DISTANCE = 3


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


Scope.EMPTY = Scope([], [])
