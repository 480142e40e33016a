"""`LeaderRouter`: which connections this node serves, and where the leader is.

The leader serves every connection itself. A follower relays a connection to
the leader (node/pgproxy.py), unless the client asked for stale reads in its
startup options (`-c quorumdb.read_consistency=stale`), in which case this
replica serves it. A relayed connection that lands on a node which is not
the leader (any more) is refused with 25006, so the relaying node asks again
instead of bouncing it on.

The leader's PostgreSQL address comes from what the members advertise to
each other over Raft (`RaftNode.member_info`, the ``pg`` entry).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping

from quorumdb.raft import RaftNode
from quorumdb.storage.errors import QuorumError

from .config import Address
from .pgproxy import NOT_LEADER_SQLSTATE, ROUTED_FROM, Upstream

__all__ = ["LeaderRouter", "wants_stale_reads"]

_POLL_SECONDS = 0.02


def wants_stale_reads(options: str) -> bool:
    try:
        words = shlex.split(options)
    except ValueError:
        return False
    for word in words:
        setting = word[2:] if word.startswith("-c") else word
        name, _, value = setting.lstrip("-").partition("=")
        if name.strip().lower() == "quorumdb.read_consistency" and value.strip().lower() == "stale":
            return True
    return False


class LeaderRouter:
    def __init__(self, raft: RaftNode, origin: str) -> None:
        self.raft = raft
        self.origin = origin

    async def route(self, params: Mapping[str, str]) -> Upstream | None:
        if self.raft.is_leader():
            return None
        if params.get(ROUTED_FROM):
            error = QuorumError(
                "this node is not the leader", sqlstate=NOT_LEADER_SQLSTATE
            )
            error.severity = "FATAL"
            raise error
        if wants_stale_reads(params.get("options", "")):
            return None
        return await self.resolve_leader()

    async def resolve_leader(self) -> Upstream:
        """The leader's advertised PostgreSQL address; waits while none is known.

        Callers bound the wait (pgproxy.connect_upstream)."""
        while True:
            leader = self.raft.leader_address()
            if leader is not None:
                info = self.raft.member_info().get(leader)
                if info and info.get("pg"):
                    address = Address.parse(info["pg"])
                    return Upstream(address.host, address.port)
            await asyncio.sleep(_POLL_SECONDS)
