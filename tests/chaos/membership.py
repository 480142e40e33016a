"""Membership changes under load: the `Membership` nemesis, and `cluster-cli` to make them.

`Membership` grows the cluster to four members and shrinks it back, again
and again, while the workloads run (see its docstring). The changes are
made the way an operator makes them: `CliMembershipAdmin` runs
``cluster-cli --addr <a member's gRPC> add|remove|transfer-leader ...`` as a
subprocess against any reachable member (the node forwards the call to the
leader). `membership_available` says whether this
tree has cluster-cli and a node gRPC service; until it does, the membership
scenario is skipped and says so. (When it runs, the nemesis verdict fails
the run if no change went through, so a scenario cannot pass by doing
nothing.)
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Protocol

from .cluster import ChaosCluster
from .nemesis import Faults

__all__ = [
    "Membership",
    "MembershipAdmin",
    "CliMembershipAdmin",
    "membership_available",
    "MembershipFailed",
]

CLI = [sys.executable, "-m", "quorumdb.cluster_cli.main"]


class MembershipFailed(Exception):
    """cluster-cli reported a failure (exit code and output in the message)."""


def membership_available() -> bool:
    """This tree has cluster-cli and nodes that serve the gRPC service it talks to."""
    try:
        return all(
            importlib.util.find_spec(module) is not None
            for module in ("quorumdb.cluster_cli.main", "quorumdb.node.grpc_service")
        )
    except ImportError:
        return False


class CliMembershipAdmin:
    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    def _run(self, cluster: ChaosCluster, *args: str) -> str:
        via = [n for n in cluster.members() if n.reachable()]
        if not via:
            raise MembershipFailed("no reachable member to talk to")
        addr = f"127.0.0.1:{via[0].grpc_port}"
        proc = subprocess.run(
            [*CLI, "--addr", addr, "--timeout", str(self.timeout), *args],
            capture_output=True,
            text=True,
            timeout=self.timeout + 15,
        )
        if proc.returncode != 0:
            raise MembershipFailed(
                f"cluster-cli {' '.join(args)} exited {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-500:]}"
            )
        return proc.stdout

    def add(self, cluster: ChaosCluster, node: int, *, wait: bool) -> None:
        self._run(cluster, "add", cluster.nodes[node].identity, *(["--wait"] if wait else []))

    def remove(self, cluster: ChaosCluster, node: int) -> None:
        self._run(cluster, "remove", cluster.nodes[node].identity)

    def transfer_leader(self, cluster: ChaosCluster) -> None:
        self._run(cluster, "transfer-leader")


class MembershipAdmin(Protocol):
    """How the nemesis asks the cluster to change its membership (cluster-cli or gRPC)."""

    def add(self, cluster: ChaosCluster, node: int, *, wait: bool) -> None:
        """Add `node`; with `wait`, return once it has caught up."""
        ...

    def remove(self, cluster: ChaosCluster, node: int) -> None: ...

    def transfer_leader(self, cluster: ChaosCluster) -> None: ...


class Membership:
    """Grow to four members with a fresh node, shrink back to three by removing one - a
    follower, or now and then the leader (which hands leadership over first); repeat.

    Now and then the new node is killed while it catches up, or leadership is
    handed over on purpose (transfer-leader), between the changes. The first
    node is added and a member removed before anything else, so that even a
    short run changes the membership both ways.
    """

    name = "membership"
    required = (("member-added",), ("member-removed",))

    def __init__(self, admin: MembershipAdmin, every: tuple[float, float] = (1.0, 2.5)) -> None:
        self.admin = admin
        self.every = every

    def run(self, faults: Faults) -> None:
        cluster, rng = faults.cluster, faults.rng
        while not faults.wait(*self.every):
            first_cycle = not faults.counts.get("member-removed")
            if not first_cycle and rng.random() < 0.2:
                self._transfer(faults)
            elif len(cluster.members()) <= 3:
                self._add(faults, kill_while_catching_up=not first_cycle and rng.random() < 0.3)
            else:
                self._remove(faults, leader_too=not first_cycle)

    def _add(self, faults: Faults, *, kill_while_catching_up: bool) -> None:
        cluster = faults.cluster
        node = cluster.add_node()
        faults.start(node.index)
        faults.record("add-member", node.index)
        try:
            self.admin.add(cluster, node.index, wait=not kill_while_catching_up)
        except Exception as exc:  # noqa: BLE001 - recorded; the cluster must cope
            faults.note("add-member-failed", f"n{node.index}: {exc}")
            cluster.retire(node.index)
            return
        faults.note("member-added", node.index)
        if kill_while_catching_up:
            # Kill it while it catches up (by log or snapshot), then let it try again.
            if faults.wait(0.1, 1.0):
                return
            faults.kill(node.index)
            if faults.wait(0.3, 1.5):
                return
            faults.start(node.index)

    def _remove(self, faults: Faults, *, leader_too: bool) -> None:
        leader = faults.leader()
        if leader is None:
            return
        members = faults.members()
        followers = [i for i in members if i != leader]
        victim = (
            leader if leader_too and faults.rng.random() < 0.3 else faults.rng.choice(followers)
        )
        faults.record("remove-member", victim)
        try:
            self.admin.remove(faults.cluster, victim)
        except Exception as exc:  # noqa: BLE001 - e.g. refused while a member catches up
            faults.note("remove-member-failed", f"n{victim}: {exc}")
            return
        faults.note("member-removed", victim)
        faults.cluster.retire(victim)

    def _transfer(self, faults: Faults) -> None:
        faults.record("transfer-leader", None)
        try:
            self.admin.transfer_leader(faults.cluster)
        except Exception as exc:  # noqa: BLE001
            faults.note("transfer-leader-failed", str(exc))
            return
        faults.note("leader-transferred", None)
