"""Name resolution: the relations and columns an expression can reference.

A `Scope` lists the columns of the relations in FROM (each at its position in
the row the expressions will read) and resolves a column reference the way
PostgreSQL does, with its errors: 42703 ``column "x" does not exist`` plus the
"Perhaps you meant ..." hint for near misses, 42702 for ambiguity, 42P01 for
an unknown or shadowed table qualifier. Joins will add relations to a scope;
nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    relation: str  # the name the relation is known by in this query (alias or table name)
    name: str
    type: SqlType
    index: int  # position in the row the expressions are evaluated against
    table_oid: int = 0
    column_number: int = 0


class Scope:
    """The columns visible to expressions: those of the relations in FROM."""

    def __init__(self, columns: list[ScopeColumn], relations: list[Relation]) -> None:
        self.columns = columns
        self.relations = relations

    EMPTY: Scope

    def resolve(self, parts: tuple[str, ...], location: int) -> ScopeColumn:
        if len(parts) == 1:
            name = parts[0]
            found = [c for c in self.columns if c.name == name]
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

    def check_relation(self, relation: str, schema: str | None, location: int) -> None:
        """Raise PostgreSQL's 42P01 errors unless `relation` names a relation in scope."""
        if any(
            r.visible == relation and (schema is None or r.schema == schema) for r in self.relations
        ):
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

    def _fuzzy_hint(self, name: str, relation: str | None) -> str | None:
        """PostgreSQL's "Perhaps you meant ..." hint: the one or two closest column names."""
        distance = _MAX_FUZZY_DISTANCE + 1
        first: ScopeColumn | None = None
        second: ScopeColumn | None = None
        for c in self.columns:
            if relation is not None and c.relation != relation:
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
