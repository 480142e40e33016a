"""`NodeClient`: cluster-cli's connection to one node's gRPC service, and what a failed
call means for the exit code.

Two kinds of failure, because scripts need to tell them apart:

* `Unreachable` (exit 3): the node at --addr cannot be reached at all, or
  the connection broke during the call (a transport failure: no QuorumDB
  error came back).
* `OperationFailed` (exit 1): the node answered and refused or failed the
  operation; the message is QuorumDB's, with its SQLSTATE when it has one.

Before the first call the channel must become ready within the connect
timeout, so "node down" is reported as such rather than as whatever the
first call's deadline happens to produce.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc  # type: ignore[import-untyped]

from quorumdb.node.grpc_errors import RemoteError
from quorumdb.proto import node_pb2_grpc

__all__ = ["NodeClient", "Unreachable", "OperationFailed", "DEFAULT_ADDR"]

DEFAULT_ADDR = "127.0.0.1:6432"
_MAX_MESSAGE_BYTES = 64 << 20


class Unreachable(Exception):
    """The node cannot be reached (exit code 3)."""


class OperationFailed(Exception):
    """The node answered with an error (exit code 1)."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        hint: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.hint = hint
        self.detail = detail


class NodeClient:
    def __init__(self, addr: str, *, timeout: float, connect_timeout: float = 5.0) -> None:
        self.addr = addr
        self.timeout = timeout
        self._connect_timeout = min(connect_timeout, timeout)
        self._channel = grpc.insecure_channel(
            addr,
            options=(
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ),
        )
        self._stub = node_pb2_grpc.NodeStub(self._channel)
        self._ready = False

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _connect(self) -> None:
        if self._ready:
            return
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self._connect_timeout)
        except grpc.FutureTimeoutError:
            raise Unreachable(
                f"cannot reach a QuorumDB node at {self.addr} "
                f"(no gRPC connection within {self._connect_timeout:g}s)"
            ) from None
        self._ready = True

    def call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        """A unary call; raises Unreachable or OperationFailed."""
        self._connect()
        try:
            return getattr(self._stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise self._failure(exc) from None

    def stream(self, method: str, request: Any, *, timeout: float | None = None) -> Iterator[Any]:
        """A server-streaming call's messages; raises Unreachable or OperationFailed."""
        self._connect()
        try:
            yield from getattr(self._stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: grpc.RpcError) -> Exception:
        remote = RemoteError.from_rpc_error(exc)
        if not remote.from_quorumdb:
            if remote.code == grpc.StatusCode.UNAVAILABLE:
                return Unreachable(f"lost the connection to {self.addr}: {remote.message}")
            if remote.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return OperationFailed(
                    f"no answer from {self.addr} within {self.timeout:g}s (raise --timeout?)"
                )
            if remote.code == grpc.StatusCode.UNIMPLEMENTED:
                return OperationFailed(
                    f"{self.addr} does not serve this call (not a QuorumDB node?)"
                )
        return OperationFailed(
            remote.message, sqlstate=remote.sqlstate, hint=remote.hint, detail=remote.detail
        )
