"""The values a benchmark run produces: measurements, comparison rows and targets.

A `Row` is one line of the report: the same metric measured on PostgreSQL
(the anchor) and on QuorumDB, their ratio and, where the project has set
one, a `Target`. Workloads decide what is comparable and build the rows;
this module only computes from them, with no I/O, so the arithmetic that
decides "target met" is tested on plain values.

Conventions (they keep the JSON and the table unambiguous):

* the ratio is always QuorumDB / PostgreSQL, whatever the metric: for TPS
  below 1 means slower, for latency or time above 1 means slower
  (`higher_is_better` says which way is good);
* a measurement that could not be taken is not dropped but recorded with
  status "failed" (and its error) or "not available" (and the reason), so a
  configuration QuorumDB does not support yet is visible in every report;
* a target is met only by an "ok" measurement; a failed one fails the
  target, an unavailable one leaves it open (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OK",
    "FAILED",
    "UNAVAILABLE",
    "Measurement",
    "Target",
    "Row",
]

OK = "ok"
FAILED = "failed"
UNAVAILABLE = "not available"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One figure from one system; `details` holds everything else worth keeping."""

    value: float | None
    status: str = OK
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, error: str, details: Mapping[str, Any] | None = None) -> Measurement:
        return cls(None, FAILED, error, dict(details or {}))

    @classmethod
    def unavailable(cls, reason: str) -> Measurement:
        return cls(None, UNAVAILABLE, reason)

    @property
    def ok(self) -> bool:
        return self.status == OK and self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "status": self.status,
            "error": self.error,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for QuorumDB: a minimum ratio to PostgreSQL, or an absolute maximum.

    kind "ratio_at_least": QuorumDB/PostgreSQL >= threshold (for throughput);
    with `require_zero_failed`, QuorumDB's run must also have had no failed
    transaction (details["failed_transactions"] == 0).
    kind "quorumdb_below": QuorumDB's value < threshold, in the row's unit.
    """

    kind: str
    threshold: float
    require_zero_failed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("ratio_at_least", "quorumdb_below"):
            raise ValueError(f"unknown target kind {self.kind!r}")

    def describe(self, unit: str) -> str:
        if self.kind == "ratio_at_least":
            text = f">= {self.threshold:.2f}x PostgreSQL"
            return text + ", 0 failed" if self.require_zero_failed else text
        return f"< {self.threshold:g} {unit}"

    def evaluate(self, row: Row) -> bool | None:
        quorumdb = row.quorumdb
        if quorumdb is None or quorumdb.status == UNAVAILABLE:
            return None
        if not quorumdb.ok:
            return False
        assert quorumdb.value is not None
        if self.kind == "quorumdb_below":
            return quorumdb.value < self.threshold
        ratio = row.ratio
        if ratio is None:  # the anchor is missing: nothing to compare with
            return None
        met = ratio >= self.threshold
        if self.require_zero_failed:
            met = met and quorumdb.details.get("failed_transactions") == 0
        return met

    def to_dict(self, unit: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "threshold": self.threshold,
            "require_zero_failed": self.require_zero_failed,
            "text": self.describe(unit),
        }


@dataclass(frozen=True, slots=True)
class Row:
    """One compared metric: what, in which unit, on each system, and the goal if any."""

    workload: str
    case: str
    metric: str
    unit: str
    higher_is_better: bool
    postgresql: Measurement | None
    quorumdb: Measurement | None
    target: Target | None = None

    @property
    def key(self) -> str:
        return f"{self.workload}/{self.case}/{self.metric}"

    @property
    def ratio(self) -> float | None:
        """QuorumDB / PostgreSQL, when both were measured and PostgreSQL's value is not 0."""
        pg, qdb = self.postgresql, self.quorumdb
        if pg is None or qdb is None or not pg.ok or not qdb.ok:
            return None
        assert pg.value is not None and qdb.value is not None
        if pg.value == 0:
            return None
        return qdb.value / pg.value

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "key": self.key,
            "workload": self.workload,
            "case": self.case,
            "metric": self.metric,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "postgresql": self.postgresql.to_dict() if self.postgresql else None,
            "quorumdb": self.quorumdb.to_dict() if self.quorumdb else None,
            "ratio": round(ratio, 4) if ratio is not None else None,
            "target": self.target.to_dict(self.unit) if self.target else None,
            "target_met": self.target.evaluate(self) if self.target else None,
        }
