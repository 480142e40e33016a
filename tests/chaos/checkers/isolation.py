"""Isolation checker: a cut-off node never acknowledges a write, a deposed leader nothing.

It reads the nemesis' ``info`` entries next to the client operations, so it
needs the timeline of faults, not the data; the other checkers would only
notice a wrong answer if it happened to contradict a value, this one notices
the answer itself. Rules:

* **minority** - between a ``partition``/``cut`` (recorded once the links are
  cut) and the next ``heal`` (recorded before healing), a node that cannot
  send to a majority of the members (itself included) is cut off: a write
  invoked on it in that window (transfer, register write, successful
  compare-and-set, set add, counter increment) must not be acknowledged
  before the heal. After the heal it may be: stalled traffic is delivered then.
* **deposed** - the leader P of term T was paused (``pause``, recorded once
  every thread of P is stopped), and while it was stopped another member was
  seen leading in a newer term (``deposed``): nothing a client sent to P
  while it was stopped may ever be acknowledged - no write, no linearizable
  read (stale reads are exempt): P handles it only after it resumed, deposed,
  with its read lease long expired. If P was resumed into a partition, what
  it is sent until the heal must not be acknowledged before the heal either.

Clients connect to a node's real port, so ``Op.node`` is the node that
received the operation: a leader serves it itself, a follower relays it
through the proxies (and so through the partition) to the leader.

The verdict also counts how often each rule was put to the test (writes sent
to a cut-off node, operations a deposed leader still had to answer after it
resumed): a run with such windows where nothing was sent there proves
nothing, and is undecided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..history import Op, pair_up
from ..verdict import Verdict

__all__ = ["check_isolation", "Window", "isolation_windows", "is_write"]

_NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class Window:
    """From `start` until `end`, `node` must not acknowledge: `reads` too, or writes only.

    `answered_after`: ops invoked in the window and still open then were put to the
    test (for a deposed leader: the moment it was resumed)."""

    rule: str
    node: int
    start: float
    end: float
    reads: bool
    answered_after: float | None = None
    ever: float | None = None  # ops invoked in [start, ever] may never be acknowledged
    required: bool = True  # the run must send this window an operation to test


def is_write(invocation: Op, completion: Op | None) -> bool:
    if invocation.f in ("read", "final"):
        return False
    if invocation.f == "cas":
        # A swap that did not happen only read the register.
        return completion is None or completion.type != "ok" or completion.value is not False
    return True


def _stale(invocation: Op) -> bool:
    value = invocation.value
    return isinstance(value, Mapping) and bool(value.get("stale"))


def _cut_off(links: set[tuple[int, int]], members: set[int]) -> set[int]:
    """Members that can send to fewer than a majority of the members, themselves included."""
    majority = len(members) // 2 + 1
    return {
        a
        for a in members
        if 1 + sum(1 for b in members if b != a and (a, b) not in links) < majority
    }


def isolation_windows(ops: Iterable[Op]) -> list[Window]:
    """The windows the nemesis' ``info`` entries describe (see the module docstring)."""
    info = [op for op in ops if op.type == "info"]
    windows: list[Window] = []
    cut: list[tuple[set[int], float, bool]] = []  # cut-off nodes, since when, required
    paused: dict[int, float] = {}  # node -> paused at (SIGSTOP in effect)
    deposed: set[int] = set()  # paused nodes the others have replaced since
    for op in info:
        if op.f in ("partition", "cut"):
            value = op.value
            if op.f == "partition":
                groups = [set(g) for g in value["groups"]]
                members = set().union(*groups)
                links = {
                    (a, b)
                    for i, ga in enumerate(groups)
                    for j, gb in enumerate(groups)
                    if i != j
                    for a in ga
                    for b in gb
                }
            else:
                links = {(int(a), int(b)) for a, b in value["links"]}
                members = set(value.get("members") or {n for link in links for n in link})
            nodes = _cut_off(links, members)
            # A paused leader cut off before it resumes is the deposed rule's case: its
            # clients are stuck on it, so this window need not see writes of its own.
            cut.append((nodes, op.time, not nodes & set(paused)))
        elif op.f == "heal":
            for nodes, since, required in cut:
                windows += [
                    Window("minority", n, since, op.time, reads=False, required=required)
                    for n in nodes
                ]
            cut = []
        elif op.f == "pause":
            paused[int(op.value)] = op.time
        elif op.f == "deposed":
            deposed.add(int(op.value["node"]))
        elif op.f == "resume":
            node = int(op.value)
            paused_at = paused.pop(node, None)
            if paused_at is None or node not in deposed:
                continue
            deposed.discard(node)
            isolated = any(node in nodes for nodes, _, _ in cut)
            end = _heal_after(info, op.time) if isolated else op.time
            windows.append(
                Window(
                    "deposed",
                    node,
                    paused_at,
                    end,
                    reads=True,
                    answered_after=op.time,
                    ever=op.time,
                )
            )
    for nodes, since, required in cut:  # never healed (a history cut short): until the end
        windows += [
            Window("minority", n, since, _NEVER, reads=False, required=required) for n in nodes
        ]
    return windows


def _heal_after(info: list[Op], at: float) -> float:
    return next((op.time for op in info if op.f == "heal" and op.time >= at), _NEVER)


def check_isolation(histories: Mapping[str, Iterable[Op]]) -> Verdict:
    """`histories`: every workload's history of one run (each carries the nemesis' entries)."""
    verdict = Verdict("isolation")
    lists = {name: list(ops) for name, ops in histories.items()}
    windows: list[Window] = []
    for ops in lists.values():
        windows = isolation_windows(ops)
        if windows:
            break
    tested = {"minority": 0, "deposed": 0}
    for name, ops in lists.items():
        for invocation, completion in pair_up(ops):
            if invocation.process in ("final", "nemesis") or invocation.node is None:
                continue
            if _stale(invocation):
                continue
            write = is_write(invocation, completion)
            for w in windows:
                if w.node != invocation.node or not (w.start <= invocation.time <= w.end):
                    continue
                if not (write or w.reads):
                    continue
                if w.rule == "minority" or (
                    w.answered_after is not None
                    and invocation.time <= w.answered_after
                    and (completion is None or completion.time > w.answered_after)
                    and not (completion.error or "").startswith("timeout")  # type: ignore[union-attr]
                ):
                    tested[w.rule] += 1
                if completion is None or completion.type != "ok":
                    continue
                forbidden = completion.time < w.end or (
                    w.ever is not None and invocation.time <= w.ever
                )
                if forbidden:
                    verdict.anomaly(
                        "deposed leader answered"
                        if w.rule == "deposed"
                        else "minority acknowledged a write",
                        workload=name,
                        node=w.node,
                        window=[round(w.start, 6), round(w.end, 6)],
                        f=invocation.f,
                        value=invocation.value,
                        result=completion.value,
                        invoked=round(invocation.time, 6),
                        completed=round(completion.time, 6),
                        history_index=invocation.index,
                    )
    counts = {rule: sum(1 for w in windows if w.rule == rule and w.required) for rule in tested}
    verdict.stats = {
        "minority_windows": counts["minority"],
        "minority_writes": tested["minority"],
        "deposed_windows": counts["deposed"],
        "deposed_answers": tested["deposed"],
    }
    for rule in tested:
        if counts[rule] and not tested[rule]:
            verdict.undecided(f"no operation put the {rule} rule to the test", windows=counts[rule])
    return verdict
