"""nextval, currval, setval and lastval: a session's side of sequences.

The binder turns these calls into `SessionValue`s (they depend on the session
and change state), so evaluation lands here through
`Session.session_value`. A sequence is named by text, as PostgreSQL's
regclass input reads it: ``'s'``, ``'public.s'``, ``'"Mixed"'`` (unquoted
names fold to lower case) and resolved on the session's search path in the
catalog of its current transaction. Values come from the node's `Counters`
(sql/sequences.py); currval and lastval are per session, as in PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.storage.errors import (
    QuorumError,
    ReadOnlyTransaction,
    UndefinedFunction,
    UndefinedTable,
)

from . import ast
from . import types as T
from .bound import BoundExpr, Const, SessionValue
from .casts import CastContext, find_cast
from .catalog import SequenceDef

if TYPE_CHECKING:
    from .binder import Binder
    from .session import Session

__all__ = ["SequenceFunctions", "parse_relation_name", "SEQUENCE_FUNCTIONS", "bind_sequence_call"]

# Argument types (the sequence is named by text) of each function; lastval takes none.
SEQUENCE_FUNCTIONS = {
    "nextval": ((T.TEXT,),),
    "currval": ((T.TEXT,),),
    "setval": ((T.TEXT, T.INT8), (T.TEXT, T.INT8, T.BOOL)),
    "lastval": ((),),
}


def bind_sequence_call(binder: Binder, node: ast.FuncCall) -> BoundExpr:
    """The binder's hook: nextval('s') and friends become session values.

    A cast of the name to regclass (``'s'::regclass``, as SERIAL defaults are
    often written) is taken as the name. The bound call carries one extra
    argument: the error position of a literal name (PostgreSQL resolves those
    while parsing, so its errors point at them), 0 otherwise."""
    nodes = [
        a.operand
        if i == 0 and isinstance(a, ast.Cast) and a.type.last_name == "regclass"
        else a
        for i, a in enumerate(node.args)
    ]
    args = [binder.bind(a) for a in nodes]
    for wanted in SEQUENCE_FUNCTIONS[node.name]:
        if len(wanted) == len(args) and all(
            a.type.oid == T.UNKNOWN.oid or find_cast(a.type, w, CastContext.IMPLICIT) is not None
            for a, w in zip(args, wanted, strict=True)
        ):
            break
    else:
        shown = ", ".join(str(a.type) for a in args)
        raise UndefinedFunction(
            f"function {node.name}({shown}) does not exist",
            hint="No function matches the given name and argument types. "
            "You might need to add explicit type casts.",
            position=node.location + 1 if node.location >= 0 else None,
        )
    converted = []
    for a, w, n in zip(args, wanted, nodes, strict=True):

        def mismatch(a: BoundExpr = a, w: T.SqlType = w) -> QuorumError:
            return QuorumError(f"cannot cast type {a.type} to {w}", sqlstate="42846")

        converted.append(binder.coerce_literal(a, w, ast.leftmost_location(n), mismatch))
    literal = nodes[0].location + 1 if nodes and isinstance(nodes[0], ast.Literal) else 0
    return SessionValue(T.INT8, node.name, (*converted, Const(T.INT4, literal)))


def parse_relation_name(text: str) -> tuple[str | None, str]:
    """(schema or None, name) from regclass-style text."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if text[i + 1 : i + 2] == '"':
                    current.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch.lower())
        i += 1
    parts.append("".join(current))
    if len(parts) > 2 or any(not p for p in parts):
        raise QuorumError(f"invalid name syntax: {text!r}", sqlstate="42602")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


class SequenceFunctions:
    """The sequence functions of one session (currval/lastval remember its calls)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._current: dict[int, int] = {}  # sequence id -> the last nextval in this session
        self._last: tuple[int, str] | None = None  # (sequence id, name) of the latest nextval
        self._position: int | None = None

    def _sequence(self, name: object) -> SequenceDef:
        session = self._session
        txn = session._txn
        if txn is None:  # pragma: no cover - expressions run inside a transaction
            raise QuorumError("sequence functions need a transaction", sqlstate="XX000")
        schema, relname = parse_relation_name(str(name))
        catalog = session.catalog(txn)
        found = catalog.lookup(relname, schema)
        if found is None:
            shown = f"{schema}.{relname}" if schema else relname
            raise UndefinedTable(f'relation "{shown}" does not exist', position=self._position)
        if not isinstance(found, SequenceDef):
            raise QuorumError(f'"{found.name}" is not a sequence', sqlstate="42809")
        return found

    def call(self, name: str, args: tuple[object, ...]) -> object:
        """`args` end with the error position of a literal sequence name (0: none)."""
        *args_list, position = args
        args = tuple(args_list)
        self._position = int(position) or None  # type: ignore[call-overload]
        if name == "lastval":
            if self._last is None:
                raise QuorumError("lastval is not yet defined in this session", sqlstate="55000")
            return self._current[self._last[0]]
        if args[0] is None:
            return None
        seq = self._sequence(args[0])
        counters = self._session.db.counters
        if name == "nextval":
            self._check_writable(name)
            value = counters.nextval(seq)
            self._current[seq.id] = value
            self._last = (seq.id, seq.name)
            return value
        if name == "currval":
            if seq.id not in self._current:
                raise QuorumError(
                    f'currval of sequence "{seq.name}" is not yet defined in this session',
                    sqlstate="55000",
                )
            return self._current[seq.id]
        assert name == "setval"
        if args[1] is None:
            return None
        self._check_writable(name)
        is_called = True if len(args) < 3 or args[2] is None else bool(args[2])
        value = counters.setval(seq, int(args[1]), is_called)  # type: ignore[call-overload]
        if is_called:
            self._current[seq.id] = value
            self._last = (seq.id, seq.name)
        return value

    def _check_writable(self, name: str) -> None:
        txn = self._session._txn
        if txn is not None and txn.read_only:
            raise ReadOnlyTransaction(f"cannot execute {name}() in a read-only transaction")
