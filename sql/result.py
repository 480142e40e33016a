"""What a statement hands back to the wire protocol.

`node/pgwire.py` turns a `StatementResult` into RowDescription / DataRow /
CommandComplete messages; it never looks at SQL. Values in `rows` are Python
values; each `Column` says how to render them (`encode_text`) and which
PostgreSQL type OID to announce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["Column", "Notice", "StatementResult"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    type_size: int  # pg_type.typlen: 2/4/8 for fixed width, -1 for varlena
    encode_text: Callable[[object], bytes] = field(repr=False, compare=False)
    type_modifier: int = -1
    table_oid: int = 0
    column_number: int = 0


@dataclass(frozen=True, slots=True)
class Notice:
    message: str
    sqlstate: str = "00000"
    severity: str = "NOTICE"


@dataclass(slots=True)
class StatementResult:
    """One statement's outcome.

    `tag` is the CommandComplete tag ("SELECT 5", "INSERT 0 3", "BEGIN").
    For statements that return rows it is only final once `rows` has been
    consumed, so read `tag` after iterating. `columns` is None for statements
    that return no rows (no RowDescription is sent). `empty` marks an empty
    query string (EmptyQueryResponse).
    """

    tag: str
    columns: tuple[Column, ...] | None = None
    rows: Iterable[tuple[object, ...]] = ()
    notices: tuple[Notice, ...] = ()
    empty: bool = False
