"""Transaction control and settings statements of a `Session`: BEGIN, COMMIT,
ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO, SET, SET TRANSACTION, RESET, SHOW.

`ControlStatements` is a mixin of `sql.session.Session` (it uses the session's
transaction state: `_txn`, `_in_block`, `_failed`, `settings`); `_UTILITY`
maps each statement type to its handler. These statements run outside the
planner and never take a snapshot of their own.

Semantics are PostgreSQL's: BEGIN in a block warns (25001), COMMIT of a
failed block answers ROLLBACK, COMMIT/ROLLBACK outside a block warn (25P01),
savepoint statements outside a block fail (25P01), ROLLBACK TO a savepoint
revives a failed block and undoes the SETs made after it, SET TRANSACTION
ISOLATION LEVEL after the first query fails (25001).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quorumdb.storage.errors import ActiveSqlTransaction, QuorumError

from . import ast
from . import types as T
from .engine import Isolation
from .result import Column, Notice, StatementResult

if TYPE_CHECKING:
    from .session import Database
    from .settings import SessionSettings
    from .txn import Transaction

__all__ = ["ControlStatements", "_UTILITY"]

_TEXT_ENCODER = T.text_encoder(T.TEXT)


def _no_transaction() -> Notice:
    return Notice("there is no transaction in progress", "25P01", "WARNING")


class ControlStatements:
    """Mixin of `Session`: the handlers of the statements in `_UTILITY`."""

    if TYPE_CHECKING:  # provided by Session
        db: Database
        settings: SessionSettings
        _txn: Transaction | None
        _in_block: bool
        _failed: bool
        _savepoint_settings: list[tuple[str, object]]

        def _new_txn(
            self, isolation: str | None = None, read_only: bool | None = None
        ) -> Transaction: ...

        async def _end_implicit(self) -> None: ...

    async def _begin(self, stmt: ast.Begin) -> StatementResult:
        if self._in_block:
            return StatementResult(
                stmt.tag,
                notices=(Notice("there is already a transaction in progress", "25001", "WARNING"),),
            )
        if self._txn is None:
            self._txn = self._new_txn(stmt.isolation, stmt.read_only)
        self._in_block = True
        return StatementResult(stmt.tag)

    def _end_block(self, committed: bool) -> Transaction | None:
        txn, self._txn = self._txn, None
        self._in_block = self._failed = False
        self._savepoint_settings = []
        self.settings.end_transaction(committed)
        return txn

    async def _commit(self, stmt: ast.Commit) -> StatementResult:
        if not self._in_block:
            await self._end_implicit()
            return StatementResult("COMMIT", notices=(_no_transaction(),))
        if self._failed:
            txn = self._end_block(False)
            if txn is not None:
                txn.rollback()
            return StatementResult("ROLLBACK")
        txn = self._end_block(True)
        if txn is not None:
            await txn.commit()
        return StatementResult("COMMIT")

    async def _rollback(self, stmt: ast.Rollback) -> StatementResult:
        if not self._in_block:
            if self._txn is not None:
                self._txn.rollback()
                self._txn = None
            return StatementResult("ROLLBACK", notices=(_no_transaction(),))
        txn = self._end_block(False)
        if txn is not None:
            txn.rollback()
        return StatementResult("ROLLBACK")

    def _block_txn(self, what: str, savepoint: str | None = None) -> Transaction:
        if not self._in_block:
            raise QuorumError(f"{what} can only be used in transaction blocks", sqlstate="25P01")
        if self._txn is None:  # the block failed and has no savepoint to go back to
            raise QuorumError(f'savepoint "{savepoint}" does not exist', sqlstate="3B001")
        return self._txn

    async def _savepoint(self, stmt: ast.Savepoint) -> StatementResult:
        txn = self._block_txn("SAVEPOINT")
        txn.savepoint(stmt.name)
        self._savepoint_settings.append((stmt.name, self.settings.snapshot()))
        return StatementResult("SAVEPOINT")

    async def _release(self, stmt: ast.ReleaseSavepoint) -> StatementResult:
        txn = self._block_txn("RELEASE SAVEPOINT", stmt.name)
        txn.release(stmt.name)
        self._drop_setting_frames(stmt.name, keep=False)
        return StatementResult("RELEASE")

    async def _rollback_to(self, stmt: ast.RollbackToSavepoint) -> StatementResult:
        txn = self._block_txn("ROLLBACK TO SAVEPOINT", stmt.name)
        txn.rollback_to(stmt.name)
        self._failed = False
        saved = self._drop_setting_frames(stmt.name, keep=True)
        if saved is not None:
            self.settings.restore(saved)
        return StatementResult("ROLLBACK")

    def _drop_setting_frames(self, name: str, keep: bool) -> object | None:
        frames = self._savepoint_settings
        for i in range(len(frames) - 1, -1, -1):
            if frames[i][0] == name:
                saved = frames[i][1]
                del frames[i + 1 if keep else i :]
                return saved
        return None

    async def _set(self, stmt: ast.SetVariable) -> StatementResult:
        if stmt.name in ("transaction_isolation", "transaction_read_only"):
            values = stmt.values or ()
            if stmt.name == "transaction_isolation":
                return await self._set_transaction(
                    ast.SetTransaction(" ".join(values).lower() or None, None)
                )
            return await self._set_transaction(
                ast.SetTransaction(None, values[0].lower() in ("on", "true", "1"))
            )
        notices: tuple[Notice, ...] = ()
        if stmt.local and not self._in_block:
            notices = (
                Notice("SET LOCAL can only be used in transaction blocks", "25P01", "WARNING"),
            )
        self.settings.set(stmt.name, stmt.values, local=stmt.local, in_block=self._in_block)
        return StatementResult("SET", notices=notices)

    async def _set_transaction(self, stmt: ast.SetTransaction) -> StatementResult:
        if stmt.session:
            if stmt.isolation is not None:
                self.settings.set(
                    "default_transaction_isolation", (stmt.isolation,), in_block=self._in_block
                )
            if stmt.read_only is not None:
                value = "on" if stmt.read_only else "off"
                self.settings.set(
                    "default_transaction_read_only", (value,), in_block=self._in_block
                )
            return StatementResult("SET")
        txn = self._txn
        if not self._in_block or txn is None:
            return StatementResult(
                "SET",
                notices=(
                    Notice(
                        "SET TRANSACTION can only be used in transaction blocks", "25P01", "WARNING"
                    ),
                ),
            )
        if stmt.isolation is not None:
            level = Isolation(
                stmt.isolation if stmt.isolation != "read uncommitted" else "read committed"
            )
            if level is not txn.isolation:
                if txn.read_ts >= 0:
                    raise ActiveSqlTransaction(
                        "SET TRANSACTION ISOLATION LEVEL must be called before any query"
                    )
                txn.set_isolation(level)
        if stmt.read_only is not None:
            if not stmt.read_only and txn.read_only and txn.read_ts >= 0:
                raise ActiveSqlTransaction(
                    "transaction read-write mode must be set before any query"
                )
            txn.read_only = stmt.read_only
        return StatementResult("SET")

    async def _reset(self, stmt: ast.ResetVariable) -> StatementResult:
        self.settings.reset(stmt.name, in_block=self._in_block)
        return StatementResult("RESET")

    async def _show(self, stmt: ast.ShowVariable) -> StatementResult:
        name = stmt.name
        if name == "all":
            columns = tuple(
                Column(n, T.TEXT.oid, -1, _TEXT_ENCODER) for n in ("name", "setting", "description")
            )
            return StatementResult("SHOW", columns, self.settings.all())
        txn = self._txn if self._in_block else None
        if name == "transaction_isolation":
            value = (
                txn.isolation.value
                if txn is not None
                else self.settings.get("default_transaction_isolation")
            )
        elif name == "transaction_read_only":
            read_only = (
                txn.read_only
                if txn is not None
                else self.settings.get("default_transaction_read_only") == "on"
            )
            value = "on" if read_only else "off"
        elif name.startswith("quorumdb.") and name[9:] in (node := self.db.engine.describe()):
            value = node[name[9:]]
        else:
            value = self.settings.get(name)
        column = Column(self.settings.canonical(name), T.TEXT.oid, -1, _TEXT_ENCODER)
        return StatementResult("SHOW", (column,), [(value,)])



_UTILITY: dict[type, Any] = {
    ast.Begin: ControlStatements._begin,
    ast.Commit: ControlStatements._commit,
    ast.Rollback: ControlStatements._rollback,
    ast.Savepoint: ControlStatements._savepoint,
    ast.ReleaseSavepoint: ControlStatements._release,
    ast.RollbackToSavepoint: ControlStatements._rollback_to,
    ast.SetVariable: ControlStatements._set,
    ast.SetTransaction: ControlStatements._set_transaction,
    ast.ResetVariable: ControlStatements._reset,
    ast.ShowVariable: ControlStatements._show,
}
