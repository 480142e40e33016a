"""QuorumDB errors at the gRPC edge: SQLSTATE <-> gRPC status code, both directions.

The server ends a failed call with `abort_with(context, error)`: the status
code is chosen from the SQLSTATE (class first, a few exact codes first of
all), the message is "[SQLSTATE] message", and the trailing metadata carries
``quorumdb-sqlstate`` (always) and ``quorumdb-hint`` / ``quorumdb-detail``
(when set). A client (`RemoteError.from_rpc_error`) gets the SQLSTATE back
from the metadata; a failure without it did not come from QuorumDB but from
the transport (node down, connection refused, deadline). The servicers raise
QuorumErrors and wrap each call in `unary_edge` / `streaming_edge`, which do
the aborting; any other exception is logged and becomes INTERNAL (XX000).

Why codes at all when the SQLSTATE is there: generic gRPC tooling (grpcurl,
retry policies, dashboards) understands codes, not SQLSTATEs. UNAVAILABLE is
kept for "try again elsewhere/later" conditions (no leader, not the leader,
shutting down), which is what gRPC clients retry on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped]

from quorumdb.storage.errors import InternalError, QuorumError

__all__ = [
    "SQLSTATE_KEY",
    "HINT_KEY",
    "DETAIL_KEY",
    "code_for",
    "metadata_for",
    "message_for",
    "RemoteError",
    "abort",
    "unary_edge",
    "streaming_edge",
]

log = logging.getLogger(__name__)

SQLSTATE_KEY = "quorumdb-sqlstate"
HINT_KEY = "quorumdb-hint"
DETAIL_KEY = "quorumdb-detail"

_EXACT: dict[str, grpc.StatusCode] = {
    "25006": grpc.StatusCode.UNAVAILABLE,  # not the leader (raft NotLeader) / read-only
    "57P01": grpc.StatusCode.UNAVAILABLE,  # admin shutdown
    "08007": grpc.StatusCode.UNKNOWN,  # transaction resolution unknown: it may have committed
    "40001": grpc.StatusCode.ABORTED,
    "40P01": grpc.StatusCode.ABORTED,
    "57014": grpc.StatusCode.CANCELLED,
    "53300": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "54000": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "0A000": grpc.StatusCode.UNIMPLEMENTED,
    "28P01": grpc.StatusCode.UNAUTHENTICATED,
    "28000": grpc.StatusCode.UNAUTHENTICATED,
    "23505": grpc.StatusCode.ALREADY_EXISTS,
    "42P07": grpc.StatusCode.ALREADY_EXISTS,
    "42710": grpc.StatusCode.ALREADY_EXISTS,
    "42P01": grpc.StatusCode.NOT_FOUND,
    "42703": grpc.StatusCode.NOT_FOUND,
    "42704": grpc.StatusCode.NOT_FOUND,
    "42883": grpc.StatusCode.NOT_FOUND,
    "55000": grpc.StatusCode.FAILED_PRECONDITION,  # request denied (membership, transfer)
}

_BY_CLASS: dict[str, grpc.StatusCode] = {
    "08": grpc.StatusCode.UNAVAILABLE,  # connection exceptions
    "22": grpc.StatusCode.INVALID_ARGUMENT,  # data exceptions
    "23": grpc.StatusCode.FAILED_PRECONDITION,  # integrity constraints
    "25": grpc.StatusCode.FAILED_PRECONDITION,  # invalid transaction state
    "40": grpc.StatusCode.ABORTED,
    "42": grpc.StatusCode.INVALID_ARGUMENT,  # syntax and access rules
    "53": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "54": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "55": grpc.StatusCode.FAILED_PRECONDITION,
    "57": grpc.StatusCode.UNAVAILABLE,
    "58": grpc.StatusCode.INTERNAL,
    "XX": grpc.StatusCode.INTERNAL,
}


def code_for(sqlstate: str) -> grpc.StatusCode:
    exact = _EXACT.get(sqlstate)
    if exact is not None:
        return exact
    return _BY_CLASS.get(sqlstate[:2], grpc.StatusCode.UNKNOWN)


def message_for(error: QuorumError) -> str:
    return f"[{error.sqlstate}] {error.message}"


def metadata_for(error: QuorumError) -> tuple[tuple[str, str], ...]:
    pairs = [(SQLSTATE_KEY, error.sqlstate)]
    # Metadata values must be printable ASCII; anything else would fail the call itself.
    if error.hint:
        pairs.append((HINT_KEY, error.hint.encode("ascii", "replace").decode()))
    if error.detail:
        pairs.append((DETAIL_KEY, error.detail.encode("ascii", "replace").decode()))
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class RemoteError:
    """A failed call as a client sees it."""

    code: grpc.StatusCode
    message: str  # without the "[SQLSTATE] " prefix
    sqlstate: str | None  # None: the failure did not come from QuorumDB
    hint: str | None = None
    detail: str | None = None

    @property
    def from_quorumdb(self) -> bool:
        return self.sqlstate is not None

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> RemoteError:
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = (error.details() if hasattr(error, "details") else None) or str(error)
        metadata = (
            dict(error.trailing_metadata() or ()) if hasattr(error, "trailing_metadata") else {}
        )
        sqlstate = metadata.get(SQLSTATE_KEY)
        if sqlstate and details.startswith(f"[{sqlstate}] "):
            details = details[len(sqlstate) + 3 :]
        return cls(
            code=code,
            message=details,
            sqlstate=sqlstate or None,
            hint=metadata.get(HINT_KEY),
            detail=metadata.get(DETAIL_KEY),
        )


async def abort(context: Any, error: QuorumError) -> None:
    await context.abort(code_for(error.sqlstate), message_for(error), metadata_for(error))


def unary_edge(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The edge of a unary call: a QuorumError raised inside ends the call with its status."""

    @functools.wraps(method)
    async def call(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except QuorumError as exc:
            await abort(context, exc)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("%s failed", method.__name__)
            await abort(context, InternalError("internal error; see the node's log"))

    return call


def streaming_edge(method: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """`unary_edge` for server-streaming calls."""

    @functools.wraps(method)
    async def call(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for message in method(self, request, context):
                yield message
        except QuorumError as exc:
            await abort(context, exc)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("%s failed", method.__name__)
            await abort(context, InternalError("internal error; see the node's log"))

    return call
