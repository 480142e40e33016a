"""`Verdict`: what a checker concludes about a history.

``valid`` is True (no anomaly found), False (at least one anomaly, listed in
``anomalies`` with enough context to find it in the saved history), or None
when the checker could not decide (e.g. the linearizability search ran out
of its budget): an undecided verdict fails a run like an invalid one, so a
checker cannot pass by giving up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Verdict"]


@dataclass(slots=True)
class Verdict:
    checker: str
    valid: bool | None = True
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def anomaly(self, kind: str, **details: Any) -> None:
        """Record an anomaly; the verdict becomes invalid."""
        self.valid = False
        self.anomalies.append({"kind": kind, **details})

    def undecided(self, reason: str, **details: Any) -> None:
        if self.valid is not False:
            self.valid = None
        self.anomalies.append({"kind": "undecided", "reason": reason, **details})

    @property
    def kinds(self) -> set[str]:
        return {a["kind"] for a in self.anomalies}

    def summary(self, limit: int = 5) -> str:
        state = {True: "valid", False: "INVALID", None: "UNDECIDED"}[self.valid]
        stats = ", ".join(f"{k}={v}" for k, v in self.stats.items())
        lines = [f"{self.checker}: {state} ({stats})"]
        for anomaly in self.anomalies[:limit]:
            lines.append(f"  - {anomaly}")
        if len(self.anomalies) > limit:
            lines.append(f"  ... and {len(self.anomalies) - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checker": self.checker,
            "valid": self.valid,
            "stats": self.stats,
            "anomalies": self.anomalies,
        }
