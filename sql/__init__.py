"""SQL: parser adapter over pglast, planner, executor, catalog, sessions.

The entry points are `Database` and `Session` (`sql/session.py`); they are
imported lazily so that `quorumdb.sql.engine`, `quorumdb.sql.result` and
`quorumdb.sql.errors` stay cheap to import (no pglast) for `raft/` and `node/`.
See `sql/README.md` for the life of a query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .result import Column, Notice, StatementResult
    from .session import Database, Session

__all__ = ["Database", "Session", "StatementResult", "Column", "Notice"]


def __getattr__(name: str) -> Any:
    if name in ("Database", "Session"):
        from . import session

        return getattr(session, name)
    if name in ("StatementResult", "Column", "Notice"):
        from . import result

        return getattr(result, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
