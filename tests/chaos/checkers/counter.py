"""Counter checker: increments are applied at most once and never lost.

Operations, as the counter workload records them (key = the counter's id):

* ``incr``: ok = the UPDATE ... SET n = n + 1 committed;
* ``read``: ok value = n (linearizable);
* ``final`` (process "final", key = node): ok value {counter id: n} on that
  replica after the replicas caught up.

For every counter: acknowledged <= final <= attempted, where "attempted"
counts increments that did not certainly fail (a replayed journal entry, or a
retried proposal, that applied twice would push the final value above it);
every read lies between the increments acknowledged before it began and
those invoked before it ended that did not fail; a read that began after
another ended never sees a smaller value; replicas agree at the end.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..history import Op, json_key, pair_up
from ..verdict import Verdict

__all__ = ["check_counter"]


def check_counter(ops: Iterable[Op]) -> Verdict:
    verdict = Verdict("counter")
    acked: dict[Any, list[float]] = defaultdict(list)  # completion times of ok increments
    possible: dict[Any, list[float]] = defaultdict(list)  # invocation times of ok/unknown ones
    reads: dict[Any, list[tuple[Op, Op]]] = defaultdict(list)
    finals: dict[Any, dict[Any, int]] = {}
    for invocation, completion in pair_up(ops):
        if invocation.f == "incr":
            if completion is not None and completion.type == "fail":
                continue
            possible[invocation.key].append(invocation.time)
            if completion is not None and completion.type == "ok":
                acked[invocation.key].append(completion.time)
        elif invocation.f == "read" and completion is not None and completion.type == "ok":
            reads[invocation.key].append((invocation, completion))
        elif invocation.f == "final" and completion is not None and completion.type == "ok":
            finals[invocation.key] = {json_key(k): v for k, v in completion.value.items()}
    for times in (*acked.values(), *possible.values()):
        times.sort()
    for key, pairs in reads.items():
        low_times, high_times = acked[key], possible[key]
        for invocation, completion in pairs:
            low = bisect.bisect_left(low_times, invocation.time)
            high = bisect.bisect_right(high_times, completion.time)
            value = completion.value
            if not low <= value <= high:
                verdict.anomaly(
                    "read out of bounds",
                    key=key,
                    value=value,
                    acknowledged_before=low,
                    attempted_by_end=high,
                    history_index=completion.index,
                    node=completion.node,
                )
        _check_monotonic(verdict, key, pairs)
    if not finals:
        verdict.undecided("no final read")
    keys = set(possible) | {k for final in finals.values() for k in final}
    for node, final in sorted(finals.items(), key=lambda item: str(item[0])):
        for key in sorted(keys, key=str):
            value = final.get(key, 0)
            low, high = len(acked[key]), len(possible[key])
            if value < low:
                verdict.anomaly(
                    "acknowledged increments lost",
                    node=node,
                    key=key,
                    final=value,
                    acknowledged=low,
                )
            if value > high:
                verdict.anomaly(
                    "increments applied twice", node=node, key=key, final=value, attempted=high
                )
    if len({tuple(sorted(f.items(), key=str)) for f in finals.values()}) > 1:
        verdict.anomaly("replicas differ", finals={str(n): f for n, f in finals.items()})
    verdict.stats = {
        "counters": len(keys),
        "acknowledged": sum(len(v) for v in acked.values()),
        "attempted": sum(len(v) for v in possible.values()),
        "reads": sum(len(v) for v in reads.values()),
        "finals": len(finals),
    }
    return verdict


def _check_monotonic(verdict: Verdict, key: Any, pairs: list[tuple[Op, Op]]) -> None:
    """A read invoked after another completed must not see less."""
    by_completion = sorted(pairs, key=lambda p: p[1].time)
    best = -1
    best_op: Op | None = None
    j = 0
    for invocation, completion in sorted(pairs, key=lambda p: p[0].time):
        while j < len(by_completion) and by_completion[j][1].time < invocation.time:
            seen = by_completion[j][1]
            if seen.value > best:
                best, best_op = seen.value, seen
            j += 1
        if completion.value < best:
            verdict.anomaly(
                "read went backwards",
                key=key,
                value=completion.value,
                earlier=best,
                history_index=completion.index,
                earlier_index=best_op.index if best_op else None,
            )
