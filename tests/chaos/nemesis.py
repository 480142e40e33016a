"""The nemesis: faults injected on a schedule while the workloads run.

Each nemesis is a loop over `Faults` (kill -9, SIGSTOP/SIGCONT, restart,
partitions through the `Network`'s proxies, membership changes) that runs on
its own thread until `Faults.stop` is set, then returns; `Faults.heal` then
undoes whatever is still in effect (heals the network, resumes paused nodes,
starts killed members). Every action is recorded as an ``info`` entry in the
histories, so a saved history shows when each fault began and ended. The
waits between actions are the schedule itself (random within bounds drawn
from the run's seeded rng), not waits for conditions.

The nemeses:

* `LeaderKill`: kill -9 the leader every few seconds, restart it a moment later;
* `LeaderPause`: SIGSTOP the leader until the others have elected a new
  leader in a newer term (recorded as ``deposed``) and for at least 3 s,
  then SIGCONT it - half the time
  into a partition that keeps it from hearing about the new term for a
  while: it must neither acknowledge a write nor serve a linearizable read
  as a deposed leader;
* `Partitions`: random halves, the leader isolated, or the leader's outgoing
  links only (one-way), in stall or reset mode, then healed;
* `RestartAll`: kill -9 every node at once and start them again;
* `SnapshotKills`: with tiny --snapshot-entries every node writes snapshots
  constantly; kill nodes while a snapshot is being taken, received or
  installed, or at random, some twice in a row while they catch up (from a
  snapshot, when they fell behind the compacted log);

Membership changes are in membership.py.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import psycopg

from .client import _shutdown, describe
from .cluster import ChaosCluster
from .history import History, Op
from .proxy import Network
from .verdict import Verdict

__all__ = [
    "Faults",
    "Nemesis",
    "LeaderKill",
    "LeaderPause",
    "Partitions",
    "RestartAll",
    "SnapshotKills",
    "DeposedProbes",
    "nemesis_verdict",
]


class Faults:
    """The nemesis' hands: every action on the cluster, recorded."""

    def __init__(
        self,
        cluster: ChaosCluster,
        network: Network,
        rng: random.Random,
        record: Callable[[str, Any], None],
    ) -> None:
        self.cluster = cluster
        self.network = network
        self.rng = rng
        self.record = record
        self.stop = threading.Event()
        self.counts: dict[str, int] = {}
        # Operations the nemesis itself sends (`DeposedProbes`), checked with the
        # workloads' histories by the isolation checker.
        self.probes = History()

    def wait(self, low: float, high: float) -> bool:
        """Wait a random time in [low, high]; True if the run is over."""
        return self.stop.wait(self.rng.uniform(low, high))

    def note(self, action: str, value: Any) -> None:
        """Count and record an action."""
        self.counts[action] = self.counts.get(action, 0) + 1
        self.record(action, value)

    def members(self) -> list[int]:
        return [n.index for n in self.cluster.members()]

    def leader(self) -> int | None:
        """The member that leads, or None (recorded: a nemesis that wanted one skips a beat)."""
        roles = self.cluster.roles()
        leaders = [i for i, role in roles.items() if role == "leader"]
        if len(leaders) != 1:
            self.record("no-leader", {str(i): role for i, role in roles.items()})
            return None
        return leaders[0]

    def kill(self, *nodes: int) -> None:
        self.note("kill", list(nodes))
        self.cluster.kill(*nodes)

    def start(self, *nodes: int) -> None:
        self.note("start", list(nodes))
        self.cluster.start(*nodes)

    def pause(self, node: int) -> None:
        self.cluster.pause(node)  # returns once every thread of the node is stopped
        self.note("pause", node)

    def resume(self, node: int) -> None:
        self.note("resume", node)
        self.cluster.resume(node)

    # Partitions, cuts and pauses are recorded once in effect, heals and resumes before
    # they happen:
    # the isolation checker's windows must never include a moment the fault was not on.
    def partition(self, groups: list[set[int]], mode: str) -> None:
        self.network.partition(groups, mode)
        self.note("partition", {"groups": [sorted(g) for g in groups], "mode": mode})

    def cut(self, links: list[tuple[int, int]], mode: str) -> None:
        self.network.cut(links, mode)
        self.note(
            "cut",
            {"links": [list(link) for link in links], "mode": mode, "members": self.members()},
        )

    def leader_term(self, node: int) -> int | None:
        """The term `node` leads in, or None if it does not lead (or does not answer)."""
        try:
            with self.cluster.connect(node, stale=True, timeout=2) as conn:
                role = conn.execute("SHOW quorumdb.role").fetchone()
                term = conn.execute("SHOW quorumdb.term").fetchone()
        except Exception:  # noqa: BLE001 - a node in trouble: the nemesis skips a beat
            return None
        if role is None or term is None or role[0] != "leader":
            return None
        return int(term[0])

    def wait_new_leader(self, old: int, term: int, timeout: float) -> tuple[int, int] | None:
        """Poll until a reachable member other than `old` leads in a term after `term`;
        (that member, its term), or None after `timeout` or when the run is over."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            for node in self.cluster.members():
                if node.index == old or not node.reachable():
                    continue
                try:
                    role = self.cluster.show(node.index, "role")
                    newer = int(self.cluster.show(node.index, "term"))
                except Exception:  # noqa: BLE001 - busy or just killed: ask again
                    continue
                if role == "leader" and newer > term:
                    return node.index, newer
            self.stop.wait(0.05)
        return None

    def heal_network(self) -> None:
        self.note("heal", None)
        self.network.heal()

    def heal(self) -> None:
        """Undo every fault still in effect: the network, paused and killed members."""
        self.heal_network()
        for node in self.cluster.members():
            if node.paused:
                self.resume(node.index)
        down = [n.index for n in self.cluster.members() if not n.alive()]
        if down:
            self.start(*down)


class Nemesis(Protocol):
    name: str
    # Actions (`Faults.counts`) the run must have done, each group at least one of its
    # names: a scenario whose faults never happened proves nothing.
    required: tuple[tuple[str, ...], ...]

    def run(self, faults: Faults) -> None:
        """Inject faults until `faults.stop` is set."""
        ...


def nemesis_verdict(nemesis: Nemesis, faults: Faults) -> Verdict:
    verdict = Verdict("nemesis", stats=dict(faults.counts))
    for group in nemesis.required:
        if not any(faults.counts.get(name) for name in group):
            verdict.anomaly("fault never injected", expected=" or ".join(group))
    return verdict


class LeaderKill:
    name = "leader-kill"
    required = (("kill",),)

    def __init__(
        self, every: tuple[float, float] = (2.0, 4.0), down: tuple[float, float] = (0.3, 2.0)
    ) -> None:
        self.every, self.down = every, down

    def run(self, faults: Faults) -> None:
        while not faults.wait(*self.every):
            leader = faults.leader()
            if leader is None:
                continue
            faults.kill(leader)
            stopping = faults.wait(*self.down)
            faults.start(leader)
            if stopping:
                return


class LeaderPause:
    name = "leader-pause"
    required = (("pause",), ("deposed",))

    def __init__(
        self,
        every: tuple[float, float] = (1.0, 2.5),
        paused: tuple[float, float] = (3.0, 6.0),
        isolated: tuple[float, float] = (0.5, 2.0),
        election_deadline: float = 20.0,
        probe_deadline: float = 20.0,
    ) -> None:
        # The election timeout is 1-2 s: a pause of 3 s or more outlives it, and the pause
        # is held longer if no new leader was elected by then.
        self.every, self.paused, self.isolated = every, paused, isolated
        self.election_deadline = election_deadline
        self.probe_deadline = probe_deadline

    def setup_statements(self) -> list[str]:
        return [PROBE_TABLE]

    def run(self, faults: Faults) -> None:
        while not faults.wait(*self.every):
            leader = faults.leader()
            if leader is None:
                continue
            term = faults.leader_term(leader)
            if term is None:
                continue
            probes = DeposedProbes.open(faults, leader)
            faults.pause(leader)
            paused_at = time.monotonic()
            hold = faults.rng.uniform(*self.paused)
            # The pause lasts `hold`, and in any case until the others have elected a new
            # leader (a loaded machine may take longer than the election timeout): only
            # then is the resumed node a deposed leader, which the isolation checker tests.
            elected = faults.wait_new_leader(leader, term, timeout=hold + self.election_deadline)
            if elected is not None:
                faults.note(
                    "deposed",
                    {"node": leader, "term": term, "leader": elected[0], "leader_term": elected[1]},
                )
                probes.send()
            stopping = faults.stop.wait(max(0.0, paused_at + hold - time.monotonic()))
            stopping = stopping or faults.stop.is_set()
            if faults.rng.random() < 0.5:
                # Half the time it wakes up cut off from the others: it cannot learn of the
                # new term, and believes it still leads until check-quorum steps it down.
                others = set(faults.members()) - {leader}
                faults.partition([{leader}, others], "stall")
                faults.resume(leader)
                stopping = faults.wait(*self.isolated) or stopping
                faults.heal_network()
            else:
                faults.resume(leader)
            probes.finish(self.probe_deadline)
            if stopping:
                return


PROBE_TABLE = "CREATE TABLE chaos_probes (id INT PRIMARY KEY)"


class DeposedProbes:
    """A linearizable read and a write sent to a paused leader once it has been deposed.

    Both connections are opened to the leader's own port just before the pause
    and checked to be served by it (`SHOW quorumdb.node` answered with its
    identity, not relayed), so whatever answers them after the resume is the
    deposed leader. The isolation checker requires that neither is ever
    acknowledged. Client threads also send it operations while it is stopped,
    but only those whose connections happen to survive; these two always do, so
    every ``deposed`` is put to the test.
    """

    _ids = iter(range(1, 1 << 62))

    def __init__(self, faults: Faults, node: int, conns: list[psycopg.Connection[Any]]) -> None:
        self.faults, self.node, self.conns = faults, node, conns
        self.threads: list[threading.Thread] = []
        self.cut = False

    @classmethod
    def open(cls, faults: Faults, node: int) -> DeposedProbes:
        conns: list[psycopg.Connection[Any]] = []
        identity = faults.cluster.nodes[node].identity
        try:
            for _ in range(2):
                conn = faults.cluster.connect(node, timeout=2)
                conns.append(conn)
                row = conn.execute("SHOW quorumdb.node").fetchone()
                if row is None or row[0] != identity:
                    raise RuntimeError(f"n{node} relays: it no longer leads")
        except Exception as exc:  # noqa: BLE001 - no probes this time; recorded
            faults.record("probe-unavailable", {"node": node, "error": str(exc)[:200]})
            for conn in conns:
                conn.close()
            conns = []
        return cls(faults, node, conns)

    def send(self) -> None:
        if not self.conns:
            return
        pid = next(self._ids)
        bodies = [
            ("read", None, "SELECT count(*) FROM chaos_probes"),
            ("write", pid, f"INSERT INTO chaos_probes VALUES ({pid})"),
        ]
        for conn, (f, value, sql) in zip(self.conns, bodies, strict=True):
            invocation = self.faults.probes.invoke(f"probe-{f}-{pid}", f, value, node=self.node)
            thread = threading.Thread(
                target=self._run,
                args=(conn, sql, invocation),
                name=f"chaos-probe-{f}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def _run(self, conn: psycopg.Connection[Any], sql: str, invocation: Op) -> None:
        try:
            cur = conn.execute(sql)
            value = cur.fetchone()[0] if cur.description else cur.statusmessage  # type: ignore[index]
        except Exception as exc:  # noqa: BLE001 - the answer we hope for
            error = describe(exc)
            if self.cut:  # not an answer: `finish` gave up on it
                error = f"timeout; {error}"
            self.faults.probes.complete(invocation, "unknown", error=error)
            return
        self.faults.probes.complete(invocation, "ok", value)

    def finish(self, deadline: float) -> None:
        """Wait (up to `deadline` seconds) for the answers, then close the connections."""
        until = time.monotonic() + deadline
        for thread in self.threads:
            thread.join(timeout=max(0.0, until - time.monotonic()))
        self.cut = any(t.is_alive() for t in self.threads)
        for conn in self.conns:
            if self.cut:
                _shutdown(conn)  # unanswered: the thread records "unknown" and ends
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass
        for thread in self.threads:
            thread.join(timeout=5)
        self.conns, self.threads = [], []


class Partitions:
    name = "partition"
    required = (("partition", "cut"),)

    def __init__(
        self, every: tuple[float, float] = (1.5, 3.0), held: tuple[float, float] = (2.5, 5.0)
    ) -> None:
        self.every, self.held = every, held

    def run(self, faults: Faults) -> None:
        rng = faults.rng
        while not faults.wait(*self.every):
            members = faults.members()
            mode = rng.choice(("stall", "stall", "reset"))
            kind = rng.choice(("halves", "isolate-leader", "isolate-leader", "one-way"))
            if kind == "halves":
                shuffled = rng.sample(members, len(members))
                minority = set(shuffled[: len(members) // 2])
            else:
                leader = faults.leader()
                if leader is None:
                    continue
                minority = {leader}
            majority = set(members) - minority
            if kind == "one-way":
                faults.cut([(a, b) for a in minority for b in majority], mode)
            else:
                faults.partition([minority, majority], mode)
            stopping = faults.wait(*self.held)
            faults.heal_network()
            if stopping:
                return


class RestartAll:
    name = "restart-all"
    required = (("kill",),)

    def __init__(
        self, every: tuple[float, float] = (2.5, 4.5), down: tuple[float, float] = (0.1, 1.0)
    ) -> None:
        self.every, self.down = every, down

    def run(self, faults: Faults) -> None:
        while not faults.wait(*self.every):
            members = faults.members()
            faults.kill(*members)
            stopping = faults.wait(*self.down)
            faults.start(*members)
            if stopping:
                return


class SnapshotKills:
    """Kill nodes that write snapshots all the time (tiny --snapshot-entries).

    Half the kills are aimed: the victim's snapshot directory is watched until a
    snapshot is in progress there - being taken (``tmp-*``), received
    (``incoming-*``) or installed (``restore-*``) - and the node is killed at
    that moment. The kill counts (``kill-during-snapshot``, required) only if
    that work is still unfinished once the process is dead. The rest land at
    random; some victims are killed again while they catch up, which after a
    long enough absence means from a snapshot.
    """

    name = "snapshot-kill"
    required = (("kill-during-snapshot",),)

    def __init__(
        self, every: tuple[float, float] = (0.8, 2.5), down: tuple[float, float] = (0.3, 4.0)
    ) -> None:
        self.every, self.down = every, down

    def run(self, faults: Faults) -> None:
        rng = faults.rng
        landed = 0  # kills that certainly interrupted a snapshot
        while not faults.wait(*self.every):
            victim = rng.choice(faults.members())
            # Aim until one kill has landed mid-snapshot (a short run has only a few
            # kills, and the scenario is about exactly that), then half the time.
            aim = landed == 0 or rng.random() < 0.5
            landed += self._kill(faults, victim, aim=aim, timeout=3.0)
            stopping = faults.wait(*self.down)
            faults.start(victim)
            if stopping:
                return
            if rng.random() < 0.5:
                # Again while it is catching up (installing a snapshot, if it fell behind).
                if faults.wait(0.2, 1.2):
                    return
                landed += self._kill(faults, victim, aim=True, timeout=1.0)
                stopping = faults.wait(0.2, 1.0)
                faults.start(victim)
                if stopping:
                    return

    @staticmethod
    def _kill(faults: Faults, victim: int, *, aim: bool, timeout: float) -> int:
        """Kill `victim`, first waiting (up to `timeout`) for a snapshot in progress if
        `aim`; 1 if the kill certainly interrupted one: the work in progress seen just
        before is still there once the process is dead (finished, it would have been
        renamed or removed)."""
        snapshots = os.path.join(faults.cluster.nodes[victim].data_dir, "raft", "snapshots")
        work = _snapshot_in_progress(snapshots, faults.stop, timeout) if aim else None
        faults.kill(victim)  # returns once the process is gone
        if work is None:
            return 0
        if os.path.exists(os.path.join(snapshots, work)):
            faults.note("kill-during-snapshot", {"node": victim, "interrupted": work})
            return 1
        faults.note("kill-after-snapshot", {"node": victim, "finished": work})
        return 0


_IN_PROGRESS = ("tmp-", "incoming-", "restore-")


def _snapshot_in_progress(root: str, stop: threading.Event, timeout: float) -> str | None:
    """Poll a node's snapshot directory `root` (every millisecond, up to `timeout`) until
    a snapshot is being written there; returns that entry's name, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        try:
            names = os.listdir(root)
        except OSError:
            names = []
        for name in names:
            if name.startswith(_IN_PROGRESS):
                return name
        time.sleep(0.001)
    return None
