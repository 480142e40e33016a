"""The COPY sub-protocol on a connection (a mixin of pgserver's `_Connection`).

When a statement's result carries a COPY (`quorumdb.sql.copy.CopyResult`):

* COPY FROM STDIN: CopyInResponse, then the client's CopyData messages are
  fed to the session's `CopyIn` one by one (each is parsed and inserted as
  it arrives, so memory stays bounded), until CopyDone (CommandComplete
  "COPY n") or CopyFail (ErrorResponse 57014). Flush and Sync are ignored
  meanwhile, as PostgreSQL does; any other message is an error (08P01),
  and a client that vanishes mid-COPY ends the connection.
* COPY TO STDOUT: CopyOutResponse, one CopyData per row, CopyDone, then
  CommandComplete "COPY n".

An error while copying in leaves the session in its error state (the
session's `CopyIn` already handled it); the messages the client still sends
for this COPY are dropped by the dispatcher, as in PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from quorumdb.storage.errors import QueryCanceled, QuorumError

from . import pgwire

if TYPE_CHECKING:
    from .pgserver import PgServer

__all__ = ["CopyProtocol"]

_FLUSH_BYTES = 64 << 10


class CopyProtocol:
    """COPY message flows (mixed into `_Connection`)."""

    _server: PgServer
    _send: Any
    _flush: Any
    _read_message: Any
    _out_bytes: int

    async def _copy_statement(self, result: Any) -> None:
        copy = result.copy
        if hasattr(copy, "feed"):
            await self._copy_in(copy)
        else:
            await self._copy_out(copy)

    async def _copy_in(self, copy: Any) -> None:
        self._send(pgwire.copy_in_response(copy.column_count))
        await self._flush()
        while True:
            message = await self._read_message()
            if message is None:
                from .pgserver import _ClientGone

                copy.fail(QueryCanceled("COPY from stdin failed: the client disconnected"))
                raise _ClientGone("client disconnected during COPY")
            if isinstance(message, pgwire.CopyData):
                await copy.feed(message.data)
            elif isinstance(message, pgwire.CopyDone):
                tag = await copy.finish()
                self._send(pgwire.command_complete(tag))
                if self._server.stats is not None:
                    self._server.stats.statement(tag)
                return
            elif isinstance(message, pgwire.CopyFail):
                raise copy.fail(QueryCanceled(f"COPY from stdin failed: {message.message}"))
            elif isinstance(message, pgwire.Flush | pgwire.Sync):
                continue
            else:
                kind = type(message).__name__
                raise copy.fail(
                    QuorumError(
                        f"unexpected message type {kind} during COPY from stdin", sqlstate="08P01"
                    )
                )

    async def _copy_out(self, copy: Any) -> None:
        self._send(pgwire.copy_out_response(copy.column_count))
        pending = 0
        for line in copy.lines():
            message = pgwire.copy_data(line)
            self._send(message)
            pending += len(message)
            if pending >= _FLUSH_BYTES:
                pending = 0
                await self._flush()
                await asyncio.sleep(0)
        self._send(pgwire.copy_done())
        tag = copy.tag()
        self._send(pgwire.command_complete(tag))
        if self._server.stats is not None:
            self._server.stats.statement(tag)
