"""The history of a chaos run: what every client invoked and how it ended.

Every operation a client issues is recorded twice: an ``invoke`` entry before
the first byte leaves, and a completion when the client knows its fate:

* ``ok``: the database acknowledged it (a committed write, a read's result);
* ``fail``: it certainly did not take effect (the server said so with a
  definite error such as 40001, or it failed before COMMIT was sent);
* ``unknown``: it may or may not have taken effect (connection lost, 08007,
  the client's timeout). An unknown write is treated by the checkers as
  "may have taken effect at any time after its invocation".

The nemesis records its actions as ``info`` entries (process "nemesis"), so a
saved history also tells when nodes were killed, paused or partitioned.
Timestamps are `time.monotonic()` seconds of the test process, comparable
across all threads of one run.

A history is saved and loaded as JSON lines, one `Op` per line, so a failing
run can be replayed through the checkers (and kept as a regression test).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "Op",
    "History",
    "Recorder",
    "pair_up",
    "json_key",
    "load_history",
    "save_history",
    "COMPLETIONS",
]

INVOKE = "invoke"
COMPLETIONS = ("ok", "fail", "unknown")
INFO = "info"


@dataclass(frozen=True, slots=True)
class Op:
    """One entry of a history (see the module docstring for `type`)."""

    process: int | str  # a client thread's number, or "nemesis"
    type: str  # invoke | ok | fail | unknown | info
    f: str  # the operation: "transfer", "read", "write", "cas", "add", "incr", "kill", ...
    value: Any = None  # the argument (invoke) or the result (ok)
    time: float = 0.0
    key: Any = None  # the register or counter the operation is about, if any
    node: int | None = None  # which node the client was connected to
    error: str | None = None  # SQLSTATE and message of a fail or unknown
    index: int = -1  # position in the history, assigned when recorded

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=_jsonable)

    @classmethod
    def from_json(cls, line: str) -> Op:
        raw = json.loads(line)
        value = raw.get("value")
        return cls(**{**raw, "value": _tupled(value)})


def _jsonable(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value)  # type: ignore[type-var]
    raise TypeError(f"not JSON serializable: {value!r}")


def _tupled(value: object) -> object:
    """JSON has no tuples: lists of scalars come back as tuples (hashable values)."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        return {k: _tupled(v) for k, v in value.items()}
    return value


@dataclass
class History:
    """An append-only, thread-safe list of `Op`s."""

    ops: list[Op] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def append(self, op: Op) -> Op:
        with self._lock:
            op = replace(op, index=len(self.ops))
            self.ops.append(op)
            return op

    def invoke(
        self,
        process: int | str,
        f: str,
        value: Any = None,
        *,
        key: Any = None,
        node: int | None = None,
    ) -> Op:
        return self.append(Op(process, INVOKE, f, value, time.monotonic(), key, node))

    def complete(
        self, invocation: Op, type: str, value: Any = None, *, error: str | None = None
    ) -> Op:
        """Record the completion of `invocation`: ok, fail or unknown."""
        if type not in COMPLETIONS:
            raise ValueError(f"not a completion type: {type!r}")
        return self.append(
            Op(
                invocation.process,
                type,
                invocation.f,
                value,
                time.monotonic(),
                invocation.key,
                invocation.node,
                error,
            )
        )

    def info(self, f: str, value: Any = None) -> Op:
        """A nemesis (or harness) event."""
        return self.append(Op("nemesis", INFO, f, value, time.monotonic()))

    def snapshot(self) -> list[Op]:
        with self._lock:
            return list(self.ops)

    def __len__(self) -> int:
        return len(self.ops)


class Recorder:
    """One client process's view of a `History`: invoke, then exactly one completion."""

    def __init__(self, history: History, process: int) -> None:
        self.history = history
        self.process = process

    def invoke(self, f: str, value: Any = None, *, key: Any = None, node: int | None = None) -> Op:
        return self.history.invoke(self.process, f, value, key=key, node=node)

    def ok(self, invocation: Op, value: Any = None) -> Op:
        return self.history.complete(invocation, "ok", value)

    def fail(self, invocation: Op, error: str) -> Op:
        return self.history.complete(invocation, "fail", error=error)

    def unknown(self, invocation: Op, error: str) -> Op:
        return self.history.complete(invocation, "unknown", error=error)


def pair_up(ops: Iterable[Op]) -> list[tuple[Op, Op | None]]:
    """(invocation, completion) per client operation, in invocation order.

    A completion is matched to the open invocation of the same process; an
    invocation never completed (the run ended first) pairs with None, which
    checkers must treat like ``unknown``.
    """
    open_ops: dict[int | str, list[Any]] = {}
    order: list[list[Any]] = []  # [invocation, completion or None]
    for op in ops:
        if op.type == INVOKE:
            if op.process in open_ops:
                raise ValueError(f"process {op.process} invoked twice without completing: {op}")
            pair = [op, None]
            open_ops[op.process] = pair
            order.append(pair)
        elif op.type in COMPLETIONS:
            pending = open_ops.pop(op.process, None)
            if pending is None:
                raise ValueError(f"completion without an invocation: {op}")
            pending[1] = op
    return [(invocation, completion) for invocation, completion in order]


def json_key(key: Any) -> Any:
    """An object key as it was before a JSON round trip turned it into a string."""
    return int(key) if isinstance(key, str) and key.lstrip("-").isdigit() else key


def save_history(ops: Iterable[Op], path: str | Path) -> None:
    with open(path, "w") as f:
        for op in ops:
            f.write(op.to_json() + "\n")


def load_history(path: str | Path) -> list[Op]:
    with open(path) as f:
        return [Op.from_json(line) for line in f if line.strip()]
