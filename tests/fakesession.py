"""A fake SQL session with the API of `quorumdb.sql.session.Session`, for server tests.

It understands a tiny command language instead of SQL; statements are
separated by ';':

    begin | commit | rollback        transaction control (status I/T/E)
    rows N                           N rows of (id int4, name text, note text: NULL every 3rd)
    insert                           tag INSERT 0 1
    error SQLSTATE                   raises QuorumError with detail, hint and position
    rowerror N                       N rows, then an error while rows are being consumed
    notice TEXT                      one NoticeResponse, tag DO
    set NAME VALUE                   changes a reported parameter
    wait                             blocks until `FakeDatabase.release` is set

Every session records what it ran and whether it was closed, and what its
transaction status was when it was closed (to check rollback on disconnect).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from quorumdb.sql.result import Column, Notice, StatementResult
from quorumdb.storage.errors import InFailedTransaction, QuorumError, SyntaxErrorSQL

INT4 = Column("id", 23, 4, lambda v: str(v).encode())
TEXT = Column("name", 25, -1, lambda v: str(v).encode())
VARCHAR10 = Column("note", 1043, -1, lambda v: str(v).encode(), type_modifier=14)


class FakeDatabase:
    def __init__(self) -> None:
        self.sessions: list[FakeSession] = []
        self.release: asyncio.Event | None = None  # created lazily on the server's loop
        self.waiting = 0
        self.refuse: QuorumError | None = None

    def open(self, user: str, database: str) -> FakeSession:
        if self.refuse is not None:
            raise self.refuse
        session = FakeSession(self, user=user, database=database)
        self.sessions.append(session)
        return session


class FakeSession:
    def __init__(self, db: FakeDatabase, *, user: str, database: str) -> None:
        self.db = db
        self.user = user
        self.database = database
        self.transaction_status = "I"
        self.executed: list[str] = []
        self.closed = False
        self.status_at_close: str | None = None
        self._params = {
            "server_version": "15.0 (QuorumDB fake)",
            "server_encoding": "UTF8",
            "client_encoding": "UTF8",
            "DateStyle": "ISO, MDY",
            "integer_datetimes": "on",
            "standard_conforming_strings": "on",
            "TimeZone": "UTC",
            "application_name": "",
        }

    def parameter_status(self) -> dict[str, str]:
        return self._params

    async def execute(self, sql: str) -> AsyncIterator[StatementResult]:
        statements = [s.strip() for s in sql.split(";") if s.strip()]
        if not statements:
            yield StatementResult(tag="", empty=True)
            return
        for statement in statements:
            self.executed.append(statement)
            try:
                result = await self._one(statement)
            except QuorumError:
                if self.transaction_status == "T":
                    self.transaction_status = "E"
                raise
            yield result

    async def _one(self, statement: str) -> StatementResult:
        word, _, rest = statement.partition(" ")
        word = word.lower()
        if self.transaction_status == "E" and word not in ("commit", "rollback"):
            raise InFailedTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )
        if word == "begin":
            self.transaction_status = "T"
            return StatementResult("BEGIN")
        if word in ("commit", "rollback"):
            failed = self.transaction_status == "E"
            self.transaction_status = "I"
            return StatementResult("ROLLBACK" if failed or word == "rollback" else "COMMIT")
        if word == "rows":
            return self._rows(int(rest))
        if word == "rowerror":
            return self._rows(int(rest), fail=True)
        if word == "insert":
            return StatementResult("INSERT 0 1")
        if word == "error":
            raise QuorumError(
                "fake failure",
                sqlstate=rest,
                detail="the detail",
                hint="the hint",
                position=3,
            )
        if word == "notice":
            return StatementResult("DO", notices=(Notice(rest),))
        if word == "set":
            name, _, value = rest.partition(" ")
            self._params = {**self._params, name: value}
            return StatementResult("SET")
        if word == "wait":
            if self.db.release is None:
                self.db.release = asyncio.Event()
            self.db.waiting += 1
            await self.db.release.wait()
            return StatementResult("WAITED")
        raise SyntaxErrorSQL(f'syntax error at or near "{word}"', position=1)

    def _rows(self, n: int, fail: bool = False) -> StatementResult:
        result = StatementResult(tag="SELECT", columns=(INT4, TEXT, VARCHAR10))

        def rows() -> Iterator[tuple[object, ...]]:
            for i in range(n):
                yield (i, f"name-{i}", None if i % 3 == 2 else f"n{i}")
            if fail:
                if self.transaction_status == "T":
                    self.transaction_status = "E"
                raise QuorumError("division by zero", sqlstate="22012")
            result.tag = f"SELECT {n}"  # final only once the rows are consumed

        result.rows = rows()
        return result

    def close(self) -> None:
        self.status_at_close = self.transaction_status
        self.closed = True
        self.transaction_status = "I"
