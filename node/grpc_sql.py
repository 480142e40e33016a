"""ExecuteSQL on this node: SQL text in a fresh session, the results as protobuf.

`execute` runs the statements of one call in a new session (closed
afterwards, which rolls back anything left open), so a call is what a psql
`-c` is: several statements form one implicit transaction, and a failure
rolls back the whole string and ends the call with the error (the results of
earlier statements are not returned: they were rolled back). Values are sent
in PostgreSQL's text format, NULL as an absent value. A result over
`MAX_RESPONSE_BYTES` fails with 54000 rather than exhausting memory: large
results are a job for a PostgreSQL client.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from quorumdb.proto import node_pb2 as pb
from quorumdb.storage.errors import ProgramLimitExceeded, QuorumError

__all__ = ["execute", "MAX_RESPONSE_BYTES"]

MAX_RESPONSE_BYTES = 32 << 20


async def execute(
    session: Any,
    sql: str,
    *,
    stale: bool,
    node_id: str,
    on_statement: Callable[[str], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> pb.ExecuteSQLResponse:
    """Run `sql` in `session` and close it; raises the statement's QuorumError."""
    response = pb.ExecuteSQLResponse(node_id=node_id)
    try:
        if stale:
            await _drain(session.execute("SET quorumdb.read_consistency = 'stale'"))
        results = session.execute(sql)
        try:
            budget = MAX_RESPONSE_BYTES
            async for result in results:
                out = response.results.add()
                out.notices.extend(n.message for n in result.notices)
                if result.columns is None:
                    for _ in result.rows:
                        pass
                else:
                    for column in result.columns:
                        out.columns.add(name=column.name, type_oid=column.type_oid)
                    budget = _collect_rows(out, result, budget)
                out.tag = result.tag
                if on_statement is not None and not result.empty:
                    on_statement(result.tag)
        finally:
            await results.aclose()
    except QuorumError as exc:
        if on_error is not None:
            on_error(exc.sqlstate)
        raise
    finally:
        closed = session.close()
        if inspect.isawaitable(closed):
            await closed
    return response


def _collect_rows(out: pb.StatementResult, result: Any, budget: int) -> int:
    encoders = [column.encode_text for column in result.columns]
    for row in result.rows:
        message = out.rows.add()
        for encode, value in zip(encoders, row, strict=True):
            cell = message.values.add()
            if value is not None:
                text = encode(value)
                cell.text = (
                    text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
                )
                budget -= len(text)
        budget -= 8 * len(encoders)
        if budget < 0:
            raise ProgramLimitExceeded(
                f"the result is larger than {MAX_RESPONSE_BYTES >> 20} MiB",
                hint="Use LIMIT, or a PostgreSQL client (psql) for large results.",
            )
    return budget


async def _drain(results: AsyncIterator[Any]) -> None:
    async for result in results:
        for _ in result.rows:
            pass
