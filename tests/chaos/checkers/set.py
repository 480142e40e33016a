"""Set checker: every acknowledged insert is present - in every read after it and at the end
on every replica - and nothing else is.

Operations, as the set workload records them:

* ``add`` value = a unique element: ok = the INSERT committed;
* ``read``: ok value = the elements (one SELECT, one snapshot), linearizable;
* ``final`` (process "final", key = node): ok value = the elements on that
  replica, read with stale reads after the replicas caught up.

Anomalies: a read or a final state without an element whose insert was
acknowledged before the read began ("lost"); an element whose insert failed
("revived"), or that nobody had tried to insert when the read ended
("phantom"); replicas whose final sets differ.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

from ..history import Op, pair_up
from ..verdict import Verdict

__all__ = ["check_set"]


def check_set(ops: Iterable[Op]) -> Verdict:
    verdict = Verdict("set")
    acked_at: dict[Any, float] = {}  # element -> when its insert was acknowledged
    invoked_at: dict[Any, float] = {}
    failed: set[Any] = set()
    reads: list[tuple[Op, Op]] = []
    finals: dict[Any, tuple[Op, frozenset[Any]]] = {}
    unknown = 0
    for invocation, completion in pair_up(ops):
        if invocation.f == "add":
            invoked_at[invocation.value] = invocation.time
            if completion is None or completion.type == "unknown":
                unknown += 1
            elif completion.type == "ok":
                acked_at[invocation.value] = completion.time
            else:
                failed.add(invocation.value)
        elif invocation.f == "read" and completion is not None and completion.type == "ok":
            reads.append((invocation, completion))
        elif invocation.f == "final" and completion is not None and completion.type == "ok":
            finals[invocation.key] = (completion, frozenset(completion.value))
    acks = sorted((t, e) for e, t in acked_at.items())
    ack_times = [t for t, _ in acks]
    for invocation, completion in reads:
        present = frozenset(completion.value)
        # Acknowledged before this read was invoked: the read must see it.
        due = [e for _, e in acks[: bisect.bisect_left(ack_times, invocation.time)]]
        _check_contents(
            verdict, "read", present, due, failed, invoked_at, completion.time, completion
        )
    if not finals:
        verdict.undecided("no final read")
    for _node, (completion, present) in sorted(finals.items(), key=lambda item: str(item[0])):
        _check_contents(
            verdict, "final", present, list(acked_at), failed, invoked_at, math.inf, completion
        )
    if len({present for _, present in finals.values()}) > 1:
        verdict.anomaly("replicas differ", nodes=sorted(str(n) for n in finals))
    verdict.stats = {
        "adds": len(invoked_at),
        "ok": len(acked_at),
        "fail": len(failed),
        "unknown": unknown,
        "reads": len(reads),
        "finals": len(finals),
    }
    return verdict


def _check_contents(
    verdict: Verdict,
    what: str,
    present: frozenset[Any],
    due: list[Any],
    failed: set[Any],
    invoked_at: dict[Any, float],
    ended: float,
    completion: Op,
) -> None:
    where = {
        "history_index": completion.index,
        "node": completion.key if what == "final" else completion.node,
    }
    lost = sorted(e for e in due if e not in present)
    if lost:
        verdict.anomaly(
            f"{what}: acknowledged inserts missing", elements=lost[:20], count=len(lost), **where
        )
    revived = sorted(e for e in present if e in failed)
    if revived:
        verdict.anomaly(
            f"{what}: failed inserts present", elements=revived[:20], count=len(revived), **where
        )
    phantom = sorted(e for e in present if invoked_at.get(e, math.inf) > ended)
    if phantom:
        verdict.anomaly(
            f"{what}: elements nobody inserted", elements=phantom[:20], count=len(phantom), **where
        )
