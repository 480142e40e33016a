"""The standard gRPC health service (grpc.health.v1.Health, proto/health.proto).

SERVING for service "" and the node service exactly when node/health.py calls
the node ready - the same verdict as /readyz - else NOT_SERVING; other
service names are unknown (NOT_FOUND for Check, SERVICE_UNKNOWN for Watch).
Watch re-evaluates every half second and sends only changes, until the client
goes away or the node stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc  # type: ignore[import-untyped]

from quorumdb.proto import health_pb2, health_pb2_grpc

from . import health

__all__ = ["HealthService", "SERVICE_NAME"]

SERVICE_NAME = "quorumdb.node.v1.Node"
_WATCH_PERIOD = 0.5


class HealthService(health_pb2_grpc.HealthServicer):
    """grpc.health.v1: SERVING when node/health.py calls the node ready."""

    def __init__(self, node: health.AssessedNode) -> None:
        self._node = node

    async def _status(self, service: str) -> health_pb2.HealthCheckResponse.ServingStatus:
        if service not in ("", SERVICE_NAME):
            return health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        assessment = await health.assess(self._node)
        if assessment.verdict.ready:
            return health_pb2.HealthCheckResponse.SERVING
        return health_pb2.HealthCheckResponse.NOT_SERVING

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> health_pb2.HealthCheckResponse:  # noqa: N802
        status = await self._status(request.service)
        if status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(  # noqa: N802
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        last = None
        while True:
            status = await self._status(request.service)
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if self._node.stopping:
                return
            await asyncio.sleep(_WATCH_PERIOD)
