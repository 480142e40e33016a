"""In-process Raft clusters for tests: N RaftNodes on free loopback ports, one process.

Timing is shortened (elections in 0.4-0.8 s) to keep the tests fast; the
multi-process tests use the production defaults.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from support import free_ports, wait_until

from quorumdb.raft import RaftConfig, RaftNode

from .kvsm import KVStateMachine

__all__ = ["Member", "Cluster", "fast_config"]


def fast_config(address: str, peers: list[str], data_dir: str, **overrides: object) -> RaftConfig:
    settings: dict[str, object] = {
        "self_address": address,
        "peers": tuple(peers),
        "data_dir": data_dir,
        "fsync": False,  # the in-process tests are about logic; durability is tested with processes
        "heartbeat_period": 0.05,
        "election_timeout_min": 0.4,
        "election_timeout_max": 0.8,
        "connection_timeout": 1.5,
        "reconnect_period": 0.05,
        "bind_address": address,
    }
    settings.update(overrides)
    return RaftConfig(**settings)  # type: ignore[arg-type]


@dataclass
class Member:
    address: str
    dir: str
    config: RaftConfig
    sm: KVStateMachine | None = None
    node: RaftNode | None = None

    def start(self) -> Member:
        assert self.node is None
        self.sm = KVStateMachine(os.path.join(self.dir, "sm"))
        self.node = RaftNode(self.config, self.sm)
        return self

    def stop(self) -> None:
        if self.node is not None:
            self.node.destroy()
            self.node = None
        if self.sm is not None:
            self.sm.close()
            self.sm = None

    @property
    def up(self) -> bool:
        return self.node is not None


@dataclass
class Cluster:
    members: list[Member] = field(default_factory=list)

    @classmethod
    def create(cls, root: str, n: int = 3, **overrides: object) -> Cluster:
        ports = free_ports(n)
        addresses = [f"127.0.0.1:{p}" for p in ports]
        members = []
        for i, address in enumerate(addresses):
            d = os.path.join(root, f"n{i}")
            members.append(Member(address, d, fast_config(address, addresses, d, **overrides)))
        return cls(members)

    def start(self) -> Cluster:
        for m in self.members:
            m.start()
        return self

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    def add_spare(self, root: str, name: str, **overrides: object) -> Member:
        """A new node that knows the current members (not yet added to the group)."""
        (port,) = free_ports(1)
        address = f"127.0.0.1:{port}"
        peers = [m.address for m in self.members] + [address]
        d = os.path.join(root, name)
        member = Member(address, d, fast_config(address, peers, d, **overrides))
        self.members.append(member)
        return member

    def up(self) -> list[Member]:
        return [m for m in self.members if m.up]

    def leader(self, among: list[Member] | None = None) -> Member | None:
        leaders = [m for m in (among or self.up()) if m.node is not None and m.node.is_leader()]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, among: list[Member] | None = None, timeout: float = 10.0) -> Member:
        def stable() -> Member | None:
            candidates = among or self.up()
            leader = self.leader(candidates)
            if leader is None:
                return None
            # every live member agrees on who leads
            if all(
                m.node is not None and m.node.leader_address() == leader.address for m in candidates
            ):
                return leader
            return None

        return wait_until(stable, timeout=timeout, message="a stable leader")

    def followers(self) -> list[Member]:
        return [m for m in self.up() if m.node is not None and not m.node.is_leader()]

    def wait_applied(
        self, index: int, members: list[Member] | None = None, timeout: float = 10.0
    ) -> None:
        for m in members or self.up():
            assert m.node is not None
            wait_until(
                lambda m=m: m.node.applied_index() >= index,
                timeout=timeout,
                message=f"{m.address} at {index}",
            )

    def propose(self, command: bytes, timeout: float = 5.0) -> object:
        leader = self.wait_leader()
        assert leader.node is not None
        return leader.node.propose(command).result(timeout)

    def partition(self, member: Member) -> Callable[[], None]:
        """Cut `member` off from everybody (both directions); returns the function that heals it."""
        isolated = member.address
        undo = []
        for m in self.up():
            assert m.node is not None
            transport = m.node._transport
            if m is member:
                transport.drop = lambda _dir, _peer, _msg: True
            else:
                transport.drop = lambda _dir, peer, _msg: peer == isolated
            undo.append(transport)

        def heal() -> None:
            for transport in undo:
                transport.drop = None

        return heal


def with_config(config: RaftConfig, **changes: object) -> RaftConfig:
    return replace(config, **changes)  # type: ignore[arg-type]
