"""Register checker: per-key read / write / compare-and-set must be linearizable.

Each key is an independent register (initial value `initial`, the workload's
rows start at 0) and is checked on its own (linearizability is
compositional). Operations, as the workload records them:

* ``read``: ok value = the value read (None: the row does not exist);
* ``write``: value = the new value; ok means it was committed;
* ``cas``: value = (old, new); ok value = True (swapped) or False (the row's
  value was not `old`, nothing was written - it still *read* something that
  is not `old`, which the model checks);
* ``final`` (process "final", key = node): ok value {key: value} read on that
  replica after everything settled; it counts as one more read of each key.

``fail`` completions certainly had no effect and are left out; reads with an
unknown outcome are left out too (they change nothing); writes and CAS with
an unknown outcome may have happened at any time after their invocation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..history import Op, json_key, pair_up
from ..linearizable import Call, check_linearizable
from ..verdict import Verdict

__all__ = ["RegisterModel", "check_register", "register_calls", "prune_unobserved"]

REGISTER_OPS = ("read", "write", "cas")


class RegisterModel:
    """A single register: the state is its value."""

    def __init__(self, initial: Any = 0) -> None:
        self.initial = initial

    def init(self) -> Any:
        return self.initial

    def step(self, state: Any, call: Call) -> Any | None:
        if call.f == "read":
            return state if call.output == state else None
        if call.f == "write":
            return call.input
        if call.f == "cas":
            old, new = call.input
            if not call.known:
                return new if state == old else state
            if call.output:
                return new if state == old else None
            return state if state != old else None
        raise ValueError(f"unknown register operation {call.f!r}")


def register_calls(ops: Iterable[Op]) -> dict[Any, list[Call]]:
    """The `Call`s of each key (see the module docstring for what is left out)."""
    by_key: dict[Any, list[Call]] = defaultdict(list)
    for invocation, completion in pair_up(ops):
        if invocation.f == "final" and completion is not None and completion.type == "ok":
            for key, value in completion.value.items():
                by_key[json_key(key)].append(
                    Call(
                        "read",
                        None,
                        value,
                        True,
                        invocation.time,
                        completion.time,
                        invocation.index,
                    )
                )
            continue
        if invocation.f not in REGISTER_OPS or invocation.process == "nemesis":
            continue
        if completion is not None and completion.type == "fail":
            continue
        known = completion is not None and completion.type == "ok"
        if not known and invocation.f == "read":
            continue
        assert completion is None or known or completion.type == "unknown"
        by_key[invocation.key].append(
            Call(
                invocation.f,
                invocation.value,
                completion.value if known else None,  # type: ignore[union-attr]
                known,
                invocation.time,
                completion.time if known else math.inf,  # type: ignore[union-attr]
                invocation.index,
            )
        )
    return by_key


def prune_unobserved(calls: list[Call]) -> list[Call]:
    """`calls` without the unknown writes and swaps whose value nobody observed.

    Such a call can always be placed at the very end (its completion is
    unknown), where it changes nothing anybody saw; so if the pruned history
    is linearizable, so is the whole one. (Not conversely: a pruned write may
    be what let a failed swap see another value, so a pruned history that is
    not linearizable proves nothing - the full search decides then.)
    """
    observed = {c.output for c in calls if c.known and c.f == "read"}
    observed |= {c.input[0] for c in calls if c.known and c.f == "cas" and c.output}
    unknown = [c for c in calls if not c.known]
    kept: set[int] = set()
    changed = True
    while changed:  # an unknown swap that is kept needs its old value too
        changed = False
        for i, call in enumerate(unknown):
            new = call.input if call.f == "write" else call.input[1]
            if i not in kept and new in observed:
                kept.add(i)
                changed = True
                if call.f == "cas":
                    observed.add(call.input[0])
    keep = {id(unknown[i]) for i in kept}
    return [c for c in calls if c.known or id(c) in keep]


def check_register(ops: Iterable[Op], *, initial: Any = 0, budget: int = 20_000_000) -> Verdict:
    verdict = Verdict("register")
    by_key = register_calls(ops)
    total = unknown = steps = 0
    for key, calls in sorted(by_key.items(), key=lambda item: str(item[0])):
        total += len(calls)
        unknown += sum(1 for c in calls if not c.known)
        model = RegisterModel(initial)
        pruned = prune_unobserved(calls)
        result = check_linearizable(pruned, model, budget=budget)
        steps += result.steps
        if result.ok is not True and len(pruned) < len(calls):
            result = check_linearizable(calls, model, budget=budget)
            steps += result.steps
        if result.ok is None:
            verdict.undecided("search budget exhausted", key=key, calls=len(calls))
        elif not result.ok:
            verdict.anomaly(
                "not linearizable",
                key=key,
                calls=len(calls),
                linearized=len(result.order),
                state=result.state,
                stuck=[_describe(c) for c in result.stuck],
                last_linearized=[_describe(c) for c in result.order[-5:]],
            )
    verdict.stats = {"keys": len(by_key), "calls": total, "unknown": unknown, "steps": steps}
    return verdict


def _describe(call: Call) -> dict[str, Any]:
    return {
        "f": call.f,
        "input": call.input,
        "output": call.output if call.known else "?",
        "invoked": round(call.invoked, 6),
        "completed": None if math.isinf(call.completed) else round(call.completed, 6),
        "history_index": call.ref,
    }
