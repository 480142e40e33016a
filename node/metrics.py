"""`NodeMetrics`: this node's Prometheus metrics, in a registry of its own.

One `CollectorRegistry` per node (never prometheus-client's global default),
so that several nodes in one process (tests, embedding) do not mix their
numbers and nothing a library registers globally leaks into /metrics.

Two kinds of metrics:

* **Events**, counted where they happen by cheap hooks: statements by type
  and errors by SQLSTATE (`statement`/`error`, called by the PostgreSQL
  server, node/pgserver.py), commits by outcome with their latency (an
  `Engine` wrapper), applied Raft entries with the apply latency (a
  `StateMachine` wrapper). The hot path does one dict lookup of a cached
  label child and one `inc()`: no label dicts are built per statement.
* **State**, read only when /metrics is scraped (`_StateCollector`): Raft
  term, role, commit/applied index, connections, RocksDB and journal sizes.
  The Raft values are racy single reads of the Raft thread's fields, which is
  what a gauge is anyway; nothing here waits for the Raft thread.

Metric names follow Prometheus conventions (`_total` for counters, base
units: seconds, bytes); the list with meanings is in docs/operations.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from quorumdb.raft import RaftNode, Role
from quorumdb.sql.engine import Command, CommandResult, Engine
from quorumdb.storage.store import Store

__all__ = ["NodeMetrics", "MetricsSource", "VERSION", "directory_bytes"]

VERSION = "0.1.0"

# Statement types and SQLSTATEs come from our own code, so they are a small set;
# the cap only guards against a bug turning them into unbounded label values.
_MAX_LABEL_VALUES = 200
_OTHER = "OTHER"

# Commit latency: a Raft round trip with an fsync on each side, from well under a
# millisecond (no fsync, loopback) to seconds (a failover in between).
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_APPLY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)


class MetricsSource(Protocol):
    """What the state collector reads at scrape time (node/server.py's `Node`)."""

    @property
    def raft(self) -> RaftNode | None: ...

    @property
    def store(self) -> Store | None: ...

    def connection_count(self) -> int: ...

    def journal_dir(self) -> str | None: ...


def directory_bytes(path: str) -> int:
    """Total size of the files under `path` (0 if it does not exist)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue  # removed while we looked (compaction, snapshot cleanup)
    return total


class _LabelCache:
    """label value -> the counter's child, created once; what the hot path goes through."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[str, Any] = {}

    def inc(self, value: str) -> None:
        child = self._children.get(value)
        if child is None:
            child = self._child(value)
        child.inc()

    def _child(self, value: str) -> Any:
        if len(self._children) >= _MAX_LABEL_VALUES:
            value = _OTHER
            if value in self._children:
                return self._children[value]
        child = self._children[value] = self._counter.labels(value)
        return child


class NodeMetrics:
    """The metrics of one node; `registry` is what /metrics renders."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.registry = CollectorRegistry()
        registry = self.registry
        info = Gauge(
            "quorumdb_node_info",
            "Always 1; the labels say which node and version this is.",
            ["node_id", "version"],
            registry=registry,
        )
        info.labels(node_id, VERSION).set(1)
        self._statements = _LabelCache(
            Counter(
                "quorumdb_statements",
                "SQL statements completed on this node, by command tag (SELECT, INSERT, ...).",
                ["type"],
                registry=registry,
            )
        )
        self._errors = _LabelCache(
            Counter(
                "quorumdb_errors",
                "Errors sent to clients of this node, by SQLSTATE.",
                ["sqlstate"],
                registry=registry,
            )
        )
        commits = Counter(
            "quorumdb_commits",
            "Transactions this node committed for its clients, by outcome: committed, "
            "rejected (a deterministic failure such as 40001 when applied), failed "
            "(not committed or outcome unknown: leadership lost, timeout).",
            ["outcome"],
            registry=registry,
        )
        self._committed = commits.labels("committed")
        self._rejected = commits.labels("rejected")
        self._failed = commits.labels("failed")
        self._commit_seconds = Histogram(
            "quorumdb_commit_duration_seconds",
            "Time from proposing a transaction's writes to their being applied on this node.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._applied = Counter(
            "quorumdb_raft_entries_applied",
            "Raft log entries applied to this replica's state machine.",
            registry=registry,
        )
        self._apply_seconds = Histogram(
            "quorumdb_apply_duration_seconds",
            "Time to apply one Raft log entry to this replica's RocksDB store.",
            buckets=_APPLY_BUCKETS,
            registry=registry,
        )
        ProcessCollector(namespace="", registry=registry)

    # ---- hooks on the hot path ----------------------------------------------------

    def statement(self, tag: str) -> None:
        """A statement completed with CommandComplete `tag` ("INSERT 0 1")."""
        self._statements.inc(tag.partition(" ")[0])

    def error(self, sqlstate: str) -> None:
        """An ErrorResponse with `sqlstate` went to a client."""
        self._errors.inc(sqlstate)

    # ---- wrappers -----------------------------------------------------------------

    def instrument_engine(self, engine: Engine) -> Engine:
        return _MeasuredEngine(engine, self)  # type: ignore[return-value]

    def instrument_state_machine(self, state_machine: Any) -> Any:
        return _MeasuredStateMachine(state_machine, self)

    def watch(self, source: MetricsSource) -> None:
        """Report `source`'s state (Raft, storage, connections) at every scrape."""
        self.registry.register(_StateCollector(source))


class _MeasuredEngine:
    """An `Engine` that counts and times `commit`; everything else is the wrapped engine's.

    The methods SQL calls per statement are bound straight to the wrapped
    engine's, so reads pay nothing for the wrapper."""

    def __init__(self, inner: Engine, metrics: NodeMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self.read_ts = inner.read_ts
        self.is_writable = inner.is_writable
        self.describe = inner.describe

    @property
    def mvcc(self) -> Any:
        return self._inner.mvcc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def commit(self, command: Command) -> CommandResult:
        metrics = self._metrics
        started = time.perf_counter()
        try:
            result = await self._inner.commit(command)
        except BaseException:
            metrics._failed.inc()
            raise
        metrics._commit_seconds.observe(time.perf_counter() - started)
        (metrics._committed if result.error is None else metrics._rejected).inc()
        return result


class _MeasuredStateMachine:
    """A raft `StateMachine` that counts and times `apply` (on the Raft thread)."""

    def __init__(self, inner: Any, metrics: NodeMetrics) -> None:
        self._inner = inner
        self._observe: Callable[[float], None] = metrics._apply_seconds.observe
        self._count = metrics._applied.inc
        self.applied_index = inner.applied_index
        self.snapshot = inner.snapshot
        self.restore = inner.restore

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def apply(self, index: int, command: bytes) -> object:
        started = time.perf_counter()
        result = self._inner.apply(index, command)
        self._observe(time.perf_counter() - started)
        self._count()
        return result


_ROLE_NAMES = tuple(role.value for role in Role)


class _StateCollector(Collector):
    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        source = self._source
        yield GaugeMetricFamily(
            "quorumdb_connections",
            "PostgreSQL client connections open on this node (local sessions and relays).",
            value=source.connection_count(),
        )
        store = source.store
        if store is not None:
            mvcc = store.mvcc
            try:
                size = store.size_bytes()
                applied = mvcc.applied_index
            except Exception:  # noqa: BLE001 - closed under us during shutdown
                size, applied = 0, 0
            yield GaugeMetricFamily(
                "quorumdb_store_bytes",
                "RocksDB size of this replica (SST files and memtables).",
                value=size,
            )
            yield GaugeMetricFamily(
                "quorumdb_store_applied_index",
                "Index of the last entry in this replica's MVCC store (its newest read timestamp).",
                value=applied,
            )
            yield GaugeMetricFamily(
                "quorumdb_gc_watermark",
                "MVCC garbage collection has removed the versions no reader at or above this "
                "index can see.",
                value=mvcc.gc_watermark,
            )
            yield GaugeMetricFamily(
                "quorumdb_gc_pending_keys",
                "Keys written since garbage collection last looked at them (it collects them "
                "once no snapshot can see their older versions).",
                value=mvcc.dirty_count,
            )
        journal = source.journal_dir()
        if journal is not None:
            yield GaugeMetricFamily(
                "quorumdb_raft_journal_bytes",
                "Size of the Raft journal on disk.",
                value=directory_bytes(journal),
            )
        raft = source.raft
        if raft is None:
            return
        role = raft.role()
        yield GaugeMetricFamily("quorumdb_raft_term", "Current Raft term.", value=raft.term())
        family = GaugeMetricFamily(
            "quorumdb_raft_role", "1 for this node's current Raft role.", labels=["role"]
        )
        for name in _ROLE_NAMES:
            family.add_metric([name], 1.0 if name == role.value else 0.0)
        yield family
        yield GaugeMetricFamily(
            "quorumdb_raft_leader_known",
            "1 if this node knows a leader (itself included).",
            value=1.0 if raft.leader_address() is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "quorumdb_raft_commit_index", "Raft commit index.", value=raft.commit_index()
        )
        yield GaugeMetricFamily(
            "quorumdb_raft_applied_index",
            "Last Raft log entry applied on this node.",
            value=raft.applied_index(),
        )
        yield GaugeMetricFamily(
            "quorumdb_raft_lease_valid",
            "1 while this node holds the leader read lease.",
            value=1.0 if raft.lease_valid() else 0.0,
        )
