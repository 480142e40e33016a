"""The node's HTTP endpoint (--http-listen): /metrics, /healthz and /readyz.

* ``GET /metrics`` - this node's registry (node/metrics.py) in the Prometheus
  text format.
* ``GET /healthz`` - liveness: 200 while the process runs and serves, 503
  once it is shutting down. A node cut off from the cluster is still
  healthy: restarting it would not help (what container healthchecks use).
* ``GET /readyz`` - readiness: 200 when node/health.py calls the node ready
  (a leader is known and this node has caught up), else 503; the JSON body
  says why either way, e.g. ``{"ready": false, "health": "catching-up",
  "reason": "applied 120 of 3400 committed entries", ...}``.

A deliberately small HTTP/1.1 server on the node's event loop: one request
per connection (``Connection: close``), GET and HEAD only, the request head
bounded in size and time. That is all probes and Prometheus need, and it
avoids a thread per listener.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import health
from .config import Address
from .log import fields
from .metrics import NodeMetrics

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)

_HEAD_LIMIT = 16 << 10
_READ_TIMEOUT = 5.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class HttpServer:
    def __init__(self, node: health.AssessedNode, metrics: NodeMetrics, address: Address) -> None:
        self._node = node
        self._metrics = metrics
        self._address = address
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle,
            self._address.host,
            self._address.port,
            reuse_address=True,
            limit=_HEAD_LIMIT,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("http listening", extra=fields(address=f"{self._address.host}:{self.port}"))

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
            log.info("http stopped")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            method, target = _request_line(head)
            if method is None:
                status, content_type, body = 400, "text/plain", b"bad request\n"
            elif method not in ("GET", "HEAD"):
                status, content_type, body = 405, "text/plain", b"only GET and HEAD\n"
            else:
                status, content_type, body = await self._route(target)
            writer.write(
                _response(status, content_type, b"" if method == "HEAD" else body, len(body))
            )
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        except Exception:
            log.exception("http request failed")
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _route(self, target: str) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._metrics.registry)
        if path == "/healthz":
            if self._node.stopping:
                return 503, "application/json", _json({"status": "stopping"})
            return (
                200,
                "application/json",
                _json({"status": "ok", "node_id": self._metrics.node_id}),
            )
        if path == "/readyz":
            assessment = await health.assess(self._node)
            verdict = assessment.verdict
            body: dict[str, Any] = {
                "ready": verdict.ready,
                "health": verdict.health.value,
                "reason": verdict.reason,
                "node_id": self._metrics.node_id,
            }
            status = assessment.status
            if status is not None:
                body.update(
                    role=status.role.value,
                    term=status.term,
                    leader=status.leader,
                    commit_index=status.commit_index,
                    applied_index=status.applied_index,
                    leader_commit_index=assessment.leader_commit_index,
                )
            return (200 if verdict.ready else 503), "application/json", _json(body)
        return 404, "text/plain", b"not found; try /metrics, /healthz or /readyz\n"


def _request_line(head: bytes) -> tuple[str | None, str]:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None, ""
    return parts[0], parts[1]


def _json(value: dict[str, Any]) -> bytes:
    return (json.dumps(value) + "\n").encode()


def _response(status: int, content_type: str, body: bytes, length: int) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
