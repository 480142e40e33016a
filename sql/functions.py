"""Operators and functions: the catalog of signatures and PostgreSQL's overload resolution.

Every operator and function is registered as one or more `Signature`s, the
way ``pg_operator``/``pg_proc`` list them (argument types may be the
polymorphic pseudo-types ``anyelement``, ``anynonarray``, ``anyarray``,
``anycompatible``, ``anycompatiblearray`` or ``any``). The implementations
live in the family modules (`functions_numeric`, `functions_string`,
`functions_datetime`, `functions_json`, `functions_array`), which register
themselves on import (bottom of this module).

`resolve_binary` / `resolve_unary` / `resolve_function` follow PostgreSQL's
``oper_select_candidate`` / ``func_select_candidate``: an exact match wins;
otherwise the candidates whose arguments the inputs reach by implicit casts
(an untyped literal reaches anything) are narrowed by most exact matches,
then most preferred types, then by resolving the untyped inputs' category
(string wins), then by assuming the untyped inputs have the known inputs'
type. What is left must be one candidate: none gives 42883 ``operator does
not exist``, several 42725 ``is not unique``, with PostgreSQL's wording.

The result is an `Operator`: concrete argument types (the binder converts
the inputs to them), the result type and the implementation. Every
implementation receives non-NULL arguments already converted (unless the
signature is not `strict`) and raises PostgreSQL's errors. `volatility`
decides constant folding ("i" only); `context` asks for the session's
`Zone` ("zone") or the `ExecContext` ("ctx") as the first argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quorumdb.storage.errors import DatatypeMismatch, QuorumError, UndefinedFunction

from . import types as T
from .types import SqlType

__all__ = [
    "Operator",
    "Signature",
    "register_operator",
    "register_function",
    "resolve_binary",
    "resolve_unary",
    "resolve_function",
    "function_exists",
    "resolve_among",
    "operator_error",
    "resolve_function_error",
    "comparison_impl",
    "COMPARISONS",
    "COMMUTED",
    "POLYMORPHIC",
]

Impl = Callable[..., object]
ArgType = SqlType | str  # str: a polymorphic pseudo-type

POLYMORPHIC = frozenset(
    {"anyelement", "anynonarray", "anyarray", "anycompatible", "anycompatiblearray", "any"}
)
_ARRAY_KINDS = frozenset({"anyarray", "anycompatiblearray"})
_COMPATIBLE = frozenset({"anycompatible", "anycompatiblearray"})


@dataclass(frozen=True, slots=True)
class Operator:
    """A resolved operator or function; args are coerced to `args` before `impl` is called."""

    name: str
    args: tuple[SqlType, ...]
    result: SqlType
    impl: Impl = field(compare=False, repr=False)
    infix: bool = True  # rendered as "a + b" (else "name(a, b)")
    volatility: str = "i"  # "i" immutable (folded when planning), "s" stable, "v" volatile
    context: str | None = None  # "zone": impl(zone, *args); "ctx": impl(ctx, *args)
    strict: bool = True  # NULL in any argument gives NULL without calling impl
    returns_set: bool = False  # a set-returning function: impl returns an iterable of tuples
    out_columns: tuple[tuple[str, SqlType], ...] = ()  # a set-returning function's columns


@dataclass(frozen=True, slots=True)
class Signature:
    """One pg_proc / pg_operator entry. `make`, if set, builds the implementation from
    the concrete argument and result types (polymorphic functions need them)."""

    name: str
    args: tuple[ArgType, ...]
    result: ArgType
    impl: Impl | None = None
    make: Callable[[tuple[SqlType, ...], SqlType], Impl] | None = None
    variadic: bool = False  # the last argument ("any") repeats
    volatility: str = "i"
    context: str | None = None
    strict: bool = True
    returns_set: bool = False
    out_columns: tuple[tuple[str, SqlType], ...] = ()


_OPERATORS: dict[str, list[Signature]] = {}
_FUNCTIONS: dict[str, list[Signature]] = {}
_EXACT: dict[tuple[str, tuple[int, ...]], Signature] = {}  # operators by concrete arg oids


def register_operator(
    name: str, left: ArgType | None, right: ArgType, result: ArgType, impl: Impl | None = None,
    **options: Any,
) -> None:  # fmt: skip
    args = (right,) if left is None else (left, right)
    sig = Signature(name, args, result, impl, **options)
    _OPERATORS.setdefault(name, []).append(sig)
    if all(isinstance(a, SqlType) for a in args):
        _EXACT[(name, tuple(a.oid for a in args))] = sig  # type: ignore[union-attr]


def register_function(
    name: str, args: tuple[ArgType, ...], result: ArgType, impl: Impl | None = None,
    **options: Any,
) -> None:  # fmt: skip
    _FUNCTIONS.setdefault(name, []).append(Signature(name, args, result, impl, **options))


def function_exists(name: str) -> bool:
    return name in _FUNCTIONS


# ---- errors -------------------------------------------------------------------------


def operator_error(
    name: str, left: SqlType | None, right: SqlType, position: int | None
) -> QuorumError:
    if left is None:
        return UndefinedFunction(
            f"operator does not exist: {name} {right.base}",
            hint="No operator matches the given name and argument type. You might need to add an explicit type cast.",
            position=position,
        )
    # Messages name types without modifiers, as PostgreSQL's format_type_be does.
    return UndefinedFunction(
        f"operator does not exist: {left.base} {name} {right.base}",
        hint="No operator matches the given name and argument types. You might need to add explicit type casts.",
        position=position,
    )


def resolve_function_error(
    name: str, args: tuple[SqlType, ...], position: int | None
) -> QuorumError:
    shown = ", ".join(str(t.base) for t in args)
    return UndefinedFunction(
        f"function {name}({shown}) does not exist",
        hint="No function matches the given name and argument types. You might need to add explicit type casts.",
        position=position,
    )


def _not_unique(
    name: str, args: tuple[SqlType, ...], position: int | None, is_operator: bool
) -> QuorumError:
    if is_operator:
        shown = f"{args[0]} {name} {args[1]}" if len(args) == 2 else f"{name} {args[0]}"
        return QuorumError(
            f"operator is not unique: {shown}",
            sqlstate="42725",
            hint="Could not choose a best candidate operator. You might need to add explicit type casts.",
            position=position,
        )
    return QuorumError(
        f"function {name}({', '.join(str(a) for a in args)}) is not unique",
        sqlstate="42725",
        hint="Could not choose a best candidate function. You might need to add explicit type casts.",
        position=position,
    )


# ---- candidate selection (PostgreSQL's func_select_candidate) ------------------------


def _implicitly(src: SqlType, dst: SqlType) -> bool:
    from .casts import CastContext, find_cast

    return find_cast(src, dst, CastContext.IMPLICIT) is not None


def _expand(sig: Signature, nargs: int) -> tuple[ArgType, ...] | None:
    """The signature's argument types for `nargs` inputs (variadic "any" repeats)."""
    if sig.variadic:
        fixed = len(sig.args) - 1
        if nargs < len(sig.args):
            return None
        return sig.args[:fixed] + (sig.args[fixed],) * (nargs - fixed)
    return sig.args if len(sig.args) == nargs else None


def _category(t: ArgType) -> str:
    return "P" if isinstance(t, str) else t.category


def _is_preferred(t: ArgType) -> bool:
    return isinstance(t, SqlType) and t.preferred


def _coercible(inputs: tuple[SqlType, ...], targets: tuple[ArgType, ...]) -> bool:
    for given, want in zip(inputs, targets, strict=True):
        if given.oid == T.UNKNOWN.oid or isinstance(want, str):
            continue
        if given == want or _implicitly(given, want):
            continue
        return False
    return _polymorphic_types(inputs, targets) is not None


def _polymorphic_types(
    inputs: tuple[SqlType, ...], targets: tuple[ArgType, ...]
) -> tuple[SqlType | None, SqlType | None] | None:
    """(element type of the anyelement family, of the anycompatible family); None if the
    inputs are inconsistent. An element type is None when only unknown inputs fed it."""
    plain: SqlType | None = None
    compatible: list[SqlType] = []
    for given, want in zip(inputs, targets, strict=True):
        if not isinstance(want, str) or want == "any" or given.oid == T.UNKNOWN.oid:
            continue
        if want in _ARRAY_KINDS:
            if given.element is None:
                return None
            element = given.element
        else:
            if want == "anynonarray" and given.element is not None:
                return None
            element = given.base
        if want in _COMPATIBLE:
            compatible.append(element)
        elif plain is None:
            plain = element
        elif plain != element:
            return None
    compatible_type = None
    if compatible:
        from .binder import common_type

        compatible_type = common_type([(t, -1) for t in compatible], None)
        if compatible_type.oid == T.UNKNOWN.oid:
            return None
    return plain, compatible_type


def _select(
    name: str,
    candidates: list[Signature],
    inputs: tuple[SqlType, ...],
    position: int | None,
    is_operator: bool,
) -> Signature | None:
    """PostgreSQL's candidate selection; None when nothing matches."""
    nargs = len(inputs)
    expanded = [(s, a) for s in candidates if (a := _expand(s, nargs)) is not None]
    # An exact match (an untyped input matching the other argument's type, for operators).
    if is_operator and nargs == 2:
        left, right = inputs
        if left.oid == T.UNKNOWN.oid:
            left = right
        elif right.oid == T.UNKNOWN.oid:
            right = left
        exact = _EXACT.get((name, (left.base.oid, right.base.oid)))
        if exact is not None and left.element is None and right.element is None:
            return exact
    for s, args in expanded:
        if all(isinstance(a, SqlType) and a == i.base for a, i in zip(args, inputs, strict=True)):
            return s
    matching = [(s, a) for s, a in expanded if _coercible(inputs, a)]
    if len(matching) <= 1:
        return matching[0][0] if matching else None
    unknowns = [i for i, t in enumerate(inputs) if t.oid == T.UNKNOWN.oid]

    def keep_best(score: Callable[[tuple[ArgType, ...]], int]) -> None:
        nonlocal matching
        best = max(score(a) for _, a in matching)
        matching = [(s, a) for s, a in matching if score(a) == best]

    keep_best(
        lambda a: sum(
            1 for i, t in zip(inputs, a, strict=True) if i.oid != T.UNKNOWN.oid and t == i.base
        )
    )
    if len(matching) == 1:
        return matching[0][0]
    keep_best(
        lambda a: sum(
            1
            for i, t in zip(inputs, a, strict=True)
            if i.oid != T.UNKNOWN.oid
            and (t == i.base or (_is_preferred(t) and _category(t) == i.category))
        )
    )
    if len(matching) == 1:
        return matching[0][0]
    if not unknowns:
        raise _not_unique(name, inputs, position, is_operator)
    slots: dict[int, tuple[str, bool]] = {}
    resolved = True
    for i in unknowns:
        category: str | None = None
        preferred = False
        conflict = False
        for _, a in matching:
            c, p = _category(a[i]), _is_preferred(a[i])
            if category is None:
                category, preferred = c, p
            elif c == category:
                preferred = preferred or p
            elif c == "S":
                category, preferred = "S", p
            else:
                conflict = True
        if conflict and category != "S":
            resolved = False
            break
        slots[i] = (category or "", preferred)
    if resolved:
        matching = [
            (s, a)
            for s, a in matching
            if all(
                _category(a[i]) == cat and (not pref or _is_preferred(a[i]))
                for i, (cat, pref) in slots.items()
            )
        ]
        if len(matching) == 1:
            return matching[0][0]
    known = {t.base for t in inputs if t.oid != T.UNKNOWN.oid}
    if len(known) == 1 and matching:
        (only,) = known
        assumed = tuple(only for _ in inputs)
        fits = [(s, a) for s, a in matching if _coercible(assumed, a)]
        if len(fits) == 1:
            return fits[0][0]
    if not matching:
        return None
    raise _not_unique(name, inputs, position, is_operator)


def _concrete(
    sig: Signature, inputs: tuple[SqlType, ...], position: int | None, infix: bool
) -> Operator:
    """The Operator for a chosen signature: polymorphic types made concrete."""
    targets = _expand(sig, len(inputs))
    assert targets is not None
    families = _polymorphic_types(inputs, targets)
    assert families is not None
    plain, compatible = families

    def concrete(t: ArgType, given: SqlType | None) -> SqlType:
        if isinstance(t, SqlType):
            return t
        if t == "any":
            if given is None or given.oid == T.UNKNOWN.oid:
                return T.TEXT
            return given
        element = compatible if t in _COMPATIBLE else plain
        if element is None:
            raise DatatypeMismatch(
                "could not determine polymorphic type because input has type unknown",
                position=position,
            )
        return T.array_of(element) if t in _ARRAY_KINDS else element

    args = tuple(concrete(t, i) for t, i in zip(targets, inputs, strict=True))
    result = concrete(sig.result, None) if sig.result not in ("any", "record") else T.TEXT
    impl = sig.make(args, result) if sig.make is not None else sig.impl
    assert impl is not None, sig
    return Operator(
        sig.name, args, result, impl, infix, sig.volatility, sig.context, sig.strict,
        sig.returns_set, sig.out_columns,
    )  # fmt: skip


def resolve_binary(
    name: str, left: SqlType, right: SqlType, position: int | None = None
) -> Operator:
    """The operator `left name right`, or raise 42883/42725 like PostgreSQL."""
    candidates = [s for s in _OPERATORS.get(name, ()) if len(s.args) == 2]
    chosen = _select(name, candidates, (left, right), position, True)
    if chosen is None:
        raise operator_error(name, left, right, position)
    return _concrete(chosen, (left, right), position, True)


def resolve_unary(name: str, arg: SqlType, position: int | None = None) -> Operator:
    candidates = [s for s in _OPERATORS.get(name, ()) if len(s.args) == 1]
    chosen = _select(name, candidates, (arg,), position, True)
    if chosen is None:
        raise operator_error(name, None, arg, position)
    return _concrete(chosen, (arg,), position, True)


def resolve_function(name: str, args: tuple[SqlType, ...], position: int | None = None) -> Operator:
    """A scalar (or set-returning) function by name and argument types."""
    candidates = _FUNCTIONS.get(name, [])
    chosen = _select(name, candidates, args, position, False)
    if chosen is None:
        raise resolve_function_error(name, args, position)
    return _concrete(chosen, args, position, False)


def resolve_among(
    name: str, candidates: list[Signature], args: tuple[SqlType, ...], position: int | None
) -> Operator | None:
    """Function-style resolution over another catalog (aggregates, window functions);
    None when nothing matches (42725 is raised for ambiguity)."""
    chosen = _select(name, candidates, args, position, False)
    return None if chosen is None else _concrete(chosen, args, position, False)


# ---- comparisons (used by sorting, DISTINCT, IN, NULLIF, aggregates) -----------------

COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
COMMUTED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def comparison_impl(t: SqlType, name: str) -> Impl:
    """The comparison `name` between two values of type `t`."""
    return resolve_binary(name, t, t).impl


# The families register their operators and functions.
from . import (  # noqa: E402, F401
    functions_array,
    functions_datetime,
    functions_encoding,
    functions_json,
    functions_numeric,
    functions_string,
)
