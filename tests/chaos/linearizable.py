"""A linearizability checker: Wing & Gong's search with Lowe's memoisation (as Porcupine).

Input: the operations on ONE object (one register key) as `Call`s, each with
its invocation time and its completion time (``math.inf`` when the outcome is
unknown: it may take effect at any moment after its invocation, or never),
and a sequential `Model` of the object. The history is linearizable if some
total order of the calls (a) respects real time - a call that completed
before another was invoked comes first - and (b) is a legal sequential
execution of the model that produces every known output.

The search walks a doubly linked list of call/return events sorted by time.
At a call event it tries to linearize that call now (model step); at a
return event whose call is not linearized yet it backtracks. Every
(set of linearized calls, model state) reached is cached, so no
configuration is explored twice: the search is exponential only in the
number of calls that are concurrent at once. A step budget bounds it; an
exhausted budget is reported as undecided, never as valid.

An unknown call is placed at the end of time, so "it never happened" and
"it happened after everything" are the same for the search; the model must
accept an unknown call in every state (it decides what the call would have
done then).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Call", "Model", "Linearization", "check_linearizable"]

S = TypeVar("S", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Call:
    f: str
    input: Any
    output: Any  # meaningful only if `known`
    known: bool  # False: the outcome is unknown (no output; may or may not have happened)
    invoked: float
    completed: float  # math.inf if not known
    ref: int = -1  # index of the invocation in the history, for reports


class Model(Protocol[S]):
    def init(self) -> S: ...

    def step(self, state: S, call: Call) -> S | None:
        """The state after `call` in `state`, or None if `call` cannot happen there
        (its known output is not what the model would produce)."""
        ...


@dataclass(slots=True)
class Linearization(Generic[S]):
    ok: bool | None  # None: the step budget ran out
    steps: int
    order: list[Call]  # a full linearization if ok; else the longest partial one found
    stuck: list[Call]  # if not ok: calls that completed but could not be placed after `order`
    state: Any  # model state after `order`


def check_linearizable(
    calls: Sequence[Call], model: Model[S], *, budget: int = 2_000_000
) -> Linearization[S]:
    n = len(calls)
    # Event nodes: 0 is the list head; call i has node 2i+1 and return node 2i+2.
    events: list[tuple[float, int, int]] = []
    for i, call in enumerate(calls):
        if call.completed < call.invoked:
            raise ValueError(f"call completes before it is invoked: {call}")
        events.append((call.invoked, 0, 2 * i + 1))
        events.append((call.completed, 1, 2 * i + 2))
    # At equal times calls come first: operations that touch in time are concurrent.
    events.sort()
    size = 2 * n + 1
    nxt = [0] * size
    prv = [0] * size
    order = [node for _, _, node in events]
    chain = [0, *order]
    for a, b in zip(chain, chain[1:], strict=False):
        nxt[a] = b
        prv[b] = a
    end = 0  # "no node": nxt[last] stays 0, and node 0 is never revisited as an entry
    if chain:
        nxt[chain[-1]] = end

    def lift(node: int) -> None:
        ret = node + 1
        nxt[prv[node]] = nxt[node]
        prv[nxt[node]] = prv[node]
        nxt[prv[ret]] = nxt[ret]
        if nxt[ret] != end:
            prv[nxt[ret]] = prv[ret]

    def unlift(node: int) -> None:
        ret = node + 1
        if nxt[ret] != end:
            prv[nxt[ret]] = ret
        nxt[prv[ret]] = ret
        prv[nxt[node]] = node
        nxt[prv[node]] = node

    state: Any = model.init()
    linearized = 0
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []
    best: list[int] = []
    best_state: Any = state
    best_stuck = -1
    steps = 0
    entry = nxt[0]
    while nxt[0] != end:
        steps += 1
        if steps > budget:
            return Linearization(None, steps, [calls[(e - 1) // 2] for e, _ in stack], [], state)
        if entry % 2 == 1:  # a call event
            index = (entry - 1) // 2
            after = model.step(state, calls[index])
            if after is not None:
                mark = linearized | (1 << index)
                if (mark, after) not in seen:
                    seen.add((mark, after))
                    stack.append((entry, state))
                    state = after
                    linearized = mark
                    lift(entry)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:  # a return event whose call is not linearized yet: backtrack
            if len(stack) > len(best) or (len(stack) == len(best) and best_stuck < 0):
                best = [e for e, _ in stack]
                best_state = state
                best_stuck = (entry - 2) // 2
            if not stack:
                break
            entry, state = stack.pop()
            linearized &= ~(1 << ((entry - 1) // 2))
            unlift(entry)
            entry = nxt[entry]
    else:
        return Linearization(True, steps, [calls[(e - 1) // 2] for e, _ in stack], [], state)
    stuck_calls = [calls[best_stuck]] if best_stuck >= 0 else []
    return Linearization(False, steps, [calls[(e - 1) // 2] for e in best], stuck_calls, best_state)
