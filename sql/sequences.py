"""Sequences and the object-id allocator: counters that never hand a value out twice.

Like PostgreSQL's sequences these counters are not transactional: a value
taken by `nextval` stays taken when the transaction rolls back, and the
transaction does not carry it in its write set. Instead the leader reserves
*blocks* of values through the replicated log: the counter's state under
`keys.counter_key(id)` is the last value reserved, ``[last, is_called]``,
and a reservation is one Raft entry that moves it forward, conditional on
the version the leader read (a `Write` with ``expect_ts``). Values of the
block are then handed out from memory.

Invariants:

* A value is handed out only from a block whose reservation is applied, so
  it is durable on a majority before anyone sees it.
* Reservations are conditional: two leaders (an old one that has not noticed
  yet, and the new one) can never both reserve the same range; the loser
  gets 40001 and re-reads. After a leader change the new leader starts after
  the last reserved value: the old leader's unused values are lost (a gap,
  as PostgreSQL has after a crash), never repeated.
* `setval` and RESTART write the state directly and drop this node's cached
  block for that counter.

Reservations block the calling thread (the session's, on the asyncio loop)
for one commit: they happen once per block, and expression evaluation,
where `nextval` runs, is synchronous.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import msgpack

from quorumdb.storage.errors import QuorumError, SerializationFailure
from quorumdb.storage.mvcc import Write, WriteSet

from . import keys
from .catalog import SequenceDef
from .engine import Engine
from .engine.commands import TxnCommand

__all__ = ["Counters", "sequence_bounds", "type_bounds", "DEFAULT_BLOCK"]

DEFAULT_BLOCK = 32
_RETRIES = 20

_TYPE_BOUNDS = {21: (-(1 << 15), (1 << 15) - 1), 23: (-(1 << 31), (1 << 31) - 1)}
_INT8_BOUNDS = (-(1 << 63), (1 << 63) - 1)


def type_bounds(type_oid: int) -> tuple[int, int]:
    """The range of the sequence's data type (smallint, integer or bigint)."""
    return _TYPE_BOUNDS.get(type_oid, _INT8_BOUNDS)


def sequence_bounds(type_oid: int, increment: int) -> tuple[int, int]:
    """PostgreSQL's default MINVALUE/MAXVALUE for a sequence of this type and direction."""
    low, high = _TYPE_BOUNDS.get(type_oid, _INT8_BOUNDS)
    return (1, high) if increment > 0 else (low, -1)


@dataclass(slots=True)
class _Block:
    next: int  # the next value to hand out
    last: int  # the last value reserved (inclusive)
    increment: int


class Counters:
    """The node's sequence caches and the id allocator (see the module docstring)."""

    def __init__(self, engine: Engine, *, block: int = DEFAULT_BLOCK) -> None:
        self._engine = engine
        self._block_size = block
        self._blocks: dict[int, _Block] = {}
        self._lock = threading.Lock()

    # ---- object ids ------------------------------------------------------------

    def next_id(self) -> int:
        """A fresh object or data id (ids start at 1 and are never reused)."""
        with self._lock:
            block = self._blocks.get(0)
            if block is None or block.next > block.last:
                block = self._reserve(0, 1, 1, 1, (1 << 62), False, self._block_size)
            value = block.next
            block.next += 1
            return value

    # ---- sequences ------------------------------------------------------------------

    def nextval(self, seq: SequenceDef) -> int:
        with self._lock:
            block = self._blocks.get(seq.id)
            if block is None or _exhausted(block):
                block = self._reserve(
                    seq.id,
                    seq.start,
                    seq.increment,
                    seq.min_value,
                    seq.max_value,
                    seq.cycle,
                    max(seq.cache, self._block_size),
                    seq.name,
                )
            value = block.next
            block.next += block.increment
            return value

    def setval(self, seq: SequenceDef, value: int, is_called: bool = True) -> int:
        if not seq.min_value <= value <= seq.max_value:
            raise QuorumError(
                f'setval: value {value} is out of bounds for sequence "{seq.name}" '
                f"({seq.min_value}..{seq.max_value})",
                sqlstate="22003",
            )
        with self._lock:
            self._blocks.pop(seq.id, None)
            for _ in range(_RETRIES):
                _, version = self._state(seq.id)
                if self._write(seq.id, [value, is_called], version):
                    return value
            raise _contention()

    def restart(self, seq: SequenceDef, value: int | None = None) -> None:
        """ALTER SEQUENCE ... RESTART [WITH value], TRUNCATE ... RESTART IDENTITY."""
        self.setval_unchecked(seq.id, seq.start if value is None else value)

    def setval_unchecked(self, counter_id: int, value: int) -> None:
        with self._lock:
            self._blocks.pop(counter_id, None)
            for _ in range(_RETRIES):
                _, version = self._state(counter_id)
                if self._write(counter_id, [value, False], version):
                    return
            raise _contention()

    def forget(self, counter_id: int) -> None:
        """Drop this node's cached values (the counter's definition changed)."""
        with self._lock:
            self._blocks.pop(counter_id, None)

    def clear(self) -> None:
        """Leadership lost: cached blocks may not be handed out by anyone else any more."""
        with self._lock:
            self._blocks.clear()

    def peek(self, counter_id: int) -> tuple[int, bool] | None:
        """The replicated state [last reserved, is_called], for tests and diagnostics."""
        state, _ = self._state(counter_id)
        return state

    # ---- reservation --------------------------------------------------------------

    def _state(self, counter_id: int) -> tuple[tuple[int, bool] | None, int]:
        mvcc = self._engine.mvcc
        found = mvcc.get_version(keys.counter_key(counter_id), mvcc.applied_index)
        if found is None or found[0] is None:
            return None, found[1] if found else 0
        last, called = msgpack.unpackb(found[0])
        return (last, called), found[1]

    def _write(self, counter_id: int, state: list[object], version: int) -> bool:
        command = TxnCommand(
            WriteSet((Write(keys.counter_key(counter_id), msgpack.packb(state), version),))
        )
        result = self._engine.commit_now(command)
        if isinstance(result.error, SerializationFailure):
            return False
        result.raise_error()
        return True

    def _reserve(
        self,
        counter_id: int,
        start: int,
        increment: int,
        low: int,
        high: int,
        cycle: bool,
        count: int,
        name: str = "",
    ) -> _Block:
        for _ in range(_RETRIES):
            state, version = self._state(counter_id)
            if state is None:
                first = start
            else:
                last, called = state
                first = last + increment if called else last
            if first > high or first < low:
                if not cycle:
                    bound = "maximum" if increment > 0 else "minimum"
                    raise QuorumError(
                        f'nextval: reached {bound} value of sequence "{name}" '
                        f"({high if increment > 0 else low})",
                        sqlstate="2200H",
                    )
                first = low if increment > 0 else high
            reserved = first + increment * (count - 1)
            reserved = min(reserved, high) if increment > 0 else max(reserved, low)
            # keep `reserved` on the sequence's grid of values
            reserved = first + ((reserved - first) // increment) * increment
            if self._write(counter_id, [reserved, True], version):
                block = _Block(first, reserved, increment)
                self._blocks[counter_id] = block
                return block
        raise _contention()


def _exhausted(block: _Block) -> bool:
    if block.increment > 0:
        return block.next > block.last
    return block.next < block.last


def _contention() -> SerializationFailure:
    return SerializationFailure("could not reserve sequence values: too much contention")
