"""Numbers and booleans: arithmetic, comparisons and math functions.

The operator set is PostgreSQL's, cross-type integer and float operators
included (they decide the result type: ``real + smallint`` is double
precision because ``float48pl`` exists). Integer results are range-checked
(22003), float results checked for overflow/underflow, numeric +-* is exact
and / and the transcendental functions use PostgreSQL's result scales
(at least 16 significant digits). NaN compares equal to itself and above
every number.
"""

from __future__ import annotations

import math
import operator
import random as random_module
from collections.abc import Callable, Iterator
from decimal import (
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from typing import Any

from quorumdb.storage.errors import DivisionByZero, NumericValueOutOfRange, QuorumError

from . import types as T
from .functions import register_function as fn
from .functions import register_operator as op

__all__ = ["numeric_div", "dscale", "check_int"]

Impl = Callable[..., Any]
INTS = (T.INT2, T.INT4, T.INT8)
FLOATS = (T.FLOAT4, T.FLOAT8)
_WIDTH = {T.INT2.oid: 0, T.INT4.oid: 1, T.INT8.oid: 2}


def check_int(t: T.SqlType) -> Callable[[int], int]:
    lo, hi, message = T.INT_RANGES[t.oid]

    def check(r: int) -> int:
        if lo <= r <= hi:
            return r
        raise NumericValueOutOfRange(message)

    return check


def _int_ops(t: T.SqlType) -> dict[str, Impl]:
    lo, hi, message = T.INT_RANGES[t.oid]
    check = check_int(t)

    def add(a: int, b: int) -> int:
        r = a + b
        return r if lo <= r <= hi else check(r)

    def sub(a: int, b: int) -> int:
        r = a - b
        return r if lo <= r <= hi else check(r)

    def mul(a: int, b: int) -> int:
        r = a * b
        return r if lo <= r <= hi else check(r)

    def div(a: int, b: int) -> int:
        if b == 0:
            raise DivisionByZero("division by zero")
        q = abs(a) // abs(b)
        return check(q if (a < 0) == (b < 0) else -q)

    def mod(a: int, b: int) -> int:
        if b == 0:
            raise DivisionByZero("division by zero")
        r = abs(a) % abs(b)
        return -r if a < 0 else r

    def neg(a: int) -> int:
        return check(-a)

    return {"+": add, "-": sub, "*": mul, "/": div, "%": mod, "neg": neg}


def _float_ops(narrow: bool) -> dict[str, Impl]:
    def finish(r: float, a: float, b: float, zero_check: bool) -> float:
        if math.isinf(r) and not (math.isinf(a) or math.isinf(b)):
            raise NumericValueOutOfRange("value out of range: overflow")
        if zero_check and r == 0.0 and a != 0.0 and b != 0.0 and not math.isinf(b):
            raise NumericValueOutOfRange("value out of range: underflow")
        if narrow:
            try:
                n = T.to_float4(r)
            except OverflowError:
                raise NumericValueOutOfRange("value out of range: overflow") from None
            if n == 0.0 and r != 0.0:
                raise NumericValueOutOfRange("value out of range: underflow")
            return n
        return r

    def add(a: float, b: float) -> float:
        return finish(a + b, a, b, False)

    def sub(a: float, b: float) -> float:
        return finish(a - b, a, b, False)

    def mul(a: float, b: float) -> float:
        return finish(a * b, a, b, True)

    def div(a: float, b: float) -> float:
        if b == 0.0:
            if a != a:
                return a
            raise DivisionByZero("division by zero")
        return finish(a / b, a, b, True)

    def neg(a: float) -> float:
        return -a

    return {"+": add, "-": sub, "*": mul, "/": div, "neg": neg}


def _first_digit_weight(value: Decimal) -> tuple[int, int]:
    """(weight, first base-10000 digit) as PostgreSQL's NumericVar sees `value`."""
    if value.is_zero():
        return 0, 0
    weight = value.adjusted() // 4
    first = int(abs(value).scaleb(-4 * weight, context=T.EXACT))
    return weight, first


def dscale(value: Decimal) -> int:
    exp = value.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _round_to(value: Decimal, scale: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-scale), context=T.EXACT)


def numeric_div(a: Decimal, b: Decimal) -> Decimal:
    """numeric / numeric with PostgreSQL's result scale (select_div_scale)."""
    if b.is_zero() and not b.is_nan():
        raise DivisionByZero("division by zero")
    if not (a.is_finite() and b.is_finite()):
        if a.is_nan() or b.is_nan() or (a.is_infinite() and b.is_infinite()):
            return Decimal("NaN")
        if a.is_infinite():
            return a if not b.is_signed() else a.copy_negate()
        return Decimal(0)
    w1, d1 = _first_digit_weight(a)
    w2, d2 = _first_digit_weight(b)
    qweight = w1 - w2 - (1 if d1 <= d2 else 0)
    rscale = max(16 - qweight * 4, dscale(a), dscale(b), 0)
    rscale = min(rscale, 1000)
    digits = max(a.adjusted() - b.adjusted() + 2, 1) + rscale + 4
    quotient = Context(prec=digits, rounding=ROUND_HALF_UP).divide(a, b)
    return _round_to(quotient, rscale)


def _numeric_guard(f: Callable[[Decimal, Decimal], Decimal]) -> Impl:
    def guarded(a: Decimal, b: Decimal) -> Decimal:
        try:
            return f(a, b)
        except InvalidOperation:  # inf - inf and friends
            return Decimal("NaN")

    return guarded


def _numeric_mod(a: Decimal, b: Decimal) -> Decimal:
    if b.is_zero():
        raise DivisionByZero("division by zero")
    return T.EXACT.remainder(a, b)


_NUMERIC_OPS: dict[str, Impl] = {
    "+": _numeric_guard(T.EXACT.add),
    "-": _numeric_guard(T.EXACT.subtract),
    "*": _numeric_guard(T.EXACT.multiply),
    "/": numeric_div,
    "%": _numeric_guard(_numeric_mod),
    "neg": Decimal.copy_negate,
}

# ---- comparisons: NaN equals itself and sorts above every number --------------------


def _f_eq(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _f_lt(a: float, b: float) -> bool:
    return a < b or (b != b and a == a)


def _f_le(a: float, b: float) -> bool:
    return a <= b or b != b


def _f_gt(a: float, b: float) -> bool:
    return a > b or (a != a and b == b)


def _f_ge(a: float, b: float) -> bool:
    return a >= b or a != a


def _n_key(a: Decimal) -> tuple[int, Decimal]:
    return (1, Decimal(0)) if a.is_nan() else (0, a)


def _n_cmp(cmp: Callable[[Any, Any], bool]) -> Impl:
    def compare(a: Decimal, b: Decimal) -> bool:
        try:
            return cmp(a, b)
        except InvalidOperation:
            return cmp(_n_key(a), _n_key(b))

    return compare


def _n_eq(a: Decimal, b: Decimal) -> bool:
    return a == b or (a.is_nan() and b.is_nan())


GENERIC_CMP: dict[str, Impl] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLOAT_CMP: dict[str, Impl] = {
    "=": _f_eq,
    "<>": lambda a, b: not _f_eq(a, b),
    "<": _f_lt,
    "<=": _f_le,
    ">": _f_gt,
    ">=": _f_ge,
}
_NUMERIC_CMP: dict[str, Impl] = {
    "=": _n_eq,
    "<>": lambda a, b: not _n_eq(a, b),
    "<": _n_cmp(operator.lt),
    "<=": _n_cmp(operator.le),
    ">": _n_cmp(operator.gt),
    ">=": _n_cmp(operator.ge),
}


def register_comparisons(left: T.SqlType, right: T.SqlType, impls: dict[str, Impl]) -> None:
    for name, impl in impls.items():
        op(name, left, right, T.BOOL, impl)


for _l in INTS:
    _ops = _int_ops(T.INT8)
    for _r in INTS:
        _result = _l if _WIDTH[_l.oid] >= _WIDTH[_r.oid] else _r
        _res_ops = _int_ops(_result)
        for _name in ("+", "-", "*", "/"):
            op(_name, _l, _r, _result, _res_ops[_name])
        register_comparisons(_l, _r, GENERIC_CMP)
    _own = _int_ops(_l)
    op("%", _l, _l, _l, _own["%"])
    op("-", None, _l, _l, _own["neg"])
    op("+", None, _l, _l, lambda a: a)
    _check = check_int(_l)
    op("@", None, _l, _l, lambda a, c=_check: c(abs(a)))
    op("&", _l, _l, _l, operator.and_)
    op("|", _l, _l, _l, operator.or_)
    op("#", _l, _l, _l, operator.xor)
    op("~", None, _l, _l, operator.invert)
    op("<<", _l, T.INT4, _l, lambda a, b, c=_check, w=_l.typlen * 8: _shift(a << (b % w), w))
    op(">>", _l, T.INT4, _l, lambda a, b, w=_l.typlen * 8: a >> (b % w))

for _l in FLOATS:
    for _r in FLOATS:
        _result = T.FLOAT4 if _l is _r is T.FLOAT4 else T.FLOAT8
        _fops = _float_ops(_result is T.FLOAT4)
        for _name in ("+", "-", "*", "/"):
            op(_name, _l, _r, _result, _fops[_name])
        register_comparisons(_l, _r, _FLOAT_CMP)
    op("-", None, _l, _l, operator.neg)
    op("+", None, _l, _l, lambda a: a)
    op("@", None, _l, _l, abs)

for _name in ("+", "-", "*", "/", "%"):
    op(_name, T.NUMERIC, T.NUMERIC, T.NUMERIC, _NUMERIC_OPS[_name])
op("-", None, T.NUMERIC, T.NUMERIC, Decimal.copy_negate)
op("+", None, T.NUMERIC, T.NUMERIC, lambda a: a)
op("@", None, T.NUMERIC, T.NUMERIC, Decimal.copy_abs)
register_comparisons(T.NUMERIC, T.NUMERIC, _NUMERIC_CMP)
register_comparisons(T.BOOL, T.BOOL, GENERIC_CMP)
register_comparisons(T.OID, T.OID, GENERIC_CMP)


def _shift(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


# ---- powers and roots -----------------------------------------------------------------


def _pow(a: float, b: float) -> float:
    if a == 0.0 and b < 0.0:
        raise QuorumError("zero raised to a negative power is undefined", sqlstate="2201F")
    if a < 0.0 and not b.is_integer():
        raise QuorumError(
            "a negative number raised to a non-integer power yields a complex result",
            sqlstate="2201F",
        )
    try:
        return math.pow(a, b)
    except OverflowError:
        raise NumericValueOutOfRange("value out of range: overflow") from None


def _ln_dweight(value: Decimal) -> int:
    """PostgreSQL's estimate_ln_dweight: the decimal weight of ln(value)."""
    if value <= 0:
        return 0
    if Decimal("0.9") <= value <= Decimal("1.1"):
        x = value - 1
        return 0 if x.is_zero() else x.adjusted()
    ln = math.log(float(value)) if value.adjusted() < 300 else float(value.ln(Context(prec=20)))
    return int(math.log10(abs(ln))) if ln != 0 else 0


def _scale(rscale: int, *inputs: Decimal) -> int:
    return min(max([rscale, 0, *(dscale(i) for i in inputs)]), 1000)


def _context(rscale: int, approx_weight: int) -> Context:
    return Context(prec=max(rscale + approx_weight + 10, 30), rounding=ROUND_HALF_EVEN)


def numeric_power(a: Decimal, b: Decimal) -> Decimal:
    if not (a.is_finite() and b.is_finite()):
        return Decimal("NaN")
    if a.is_zero() and b < 0:
        raise QuorumError("zero raised to a negative power is undefined", sqlstate="2201F")
    if a < 0 and b != b.to_integral_value():
        raise QuorumError(
            "a negative number raised to a non-integer power yields a complex result",
            sqlstate="2201F",
        )
    if b == b.to_integral_value() and abs(b) < (1 << 31):
        rscale = _scale(16, a)
        exponent = int(b)
        if a.is_zero():
            return _round_to(Decimal(1) if exponent == 0 else Decimal(0), rscale)
        weight = int(a.adjusted() * exponent) if exponent > 0 else 0
        ctx = _context(rscale, abs(weight))
        try:
            result = ctx.power(a, exponent)
        except (InvalidOperation, OverflowError):
            raise NumericValueOutOfRange("value overflows numeric format") from None
        return _round_to(result, rscale)
    val = float(b) * math.log(abs(float(a))) if not a.is_zero() else 0.0
    weight = int(val * 0.434294481903252)
    rscale = _scale(16 - weight, a, b)
    ctx = _context(rscale, max(weight, 0))
    return _round_to(ctx.power(a, b), rscale)


def _numeric_sqrt(a: Decimal) -> Decimal:
    if a < 0:
        raise QuorumError("cannot take square root of a negative number", sqlstate="2201F")
    if not a.is_finite():
        return a
    weight = (a.adjusted() // 4 if not a.is_zero() else 0) + 1
    rscale = _scale(16 - (weight * 4 // 2 - 1), a)
    return _round_to(_context(rscale, abs(a.adjusted())).sqrt(a), rscale)


def _numeric_exp(a: Decimal) -> Decimal:
    if not a.is_finite():
        return a if not (a.is_infinite() and a < 0) else Decimal(0)
    val = float(a)
    if val > 5000:
        raise NumericValueOutOfRange("value overflows numeric format")
    weight = int(val * 0.434294481903252)
    rscale = _scale(16 - weight, a)
    return _round_to(_context(rscale, abs(weight)).exp(a), rscale)


def _ln_check(a: Decimal) -> None:
    if a.is_zero():
        raise QuorumError("cannot take logarithm of zero", sqlstate="2201E")
    if a < 0:
        raise QuorumError("cannot take logarithm of a negative number", sqlstate="2201E")


def _numeric_ln(a: Decimal) -> Decimal:
    _ln_check(a)
    if not a.is_finite():
        return a
    rscale = _scale(16 - _ln_dweight(a), a)
    return _round_to(_context(rscale, 10).ln(a), rscale)


def _numeric_log(base: Decimal, value: Decimal) -> Decimal:
    _ln_check(base)
    _ln_check(value)
    if base == 1:
        raise DivisionByZero("division by zero")
    result_weight = _ln_dweight(value) - _ln_dweight(base)
    rscale = _scale(16 - result_weight, base, value)
    ctx = _context(rscale, abs(result_weight) + 10)
    return _round_to(ctx.divide(ctx.ln(value), ctx.ln(base)), rscale)


def _float_fn(
    f: Callable[[float], float], domain: Callable[[float], str | None] | None = None
) -> Impl:
    def call(a: float) -> float:
        if domain is not None:
            message = domain(a)
            if message is not None:
                raise QuorumError(message, sqlstate="2201F" if "square" in message else "2201E")
        try:
            return f(a)
        except OverflowError:
            raise NumericValueOutOfRange("value out of range: overflow") from None

    return call


def _ln_domain(a: float) -> str | None:
    if a == 0:
        return "cannot take logarithm of zero"
    if a < 0:
        return "cannot take logarithm of a negative number"
    return None


def _sqrt_domain(a: float) -> str | None:
    return "cannot take square root of a negative number" if a < 0 else None


# ---- rounding ------------------------------------------------------------------------


def _round_numeric(a: Decimal, digits: int = 0) -> Decimal:
    if not a.is_finite():
        return a
    result = a.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=T.EXACT)
    return result if digits >= 0 else result.quantize(Decimal(1), context=T.EXACT)


def _trunc_numeric(a: Decimal, digits: int = 0) -> Decimal:
    if not a.is_finite():
        return a
    result = a.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN, context=T.EXACT)
    return result if digits >= 0 else result.quantize(Decimal(1), context=T.EXACT)


def _ceil_numeric(a: Decimal) -> Decimal:
    if not a.is_finite():
        return a
    return -(-a).quantize(Decimal(1), rounding=ROUND_FLOOR, context=T.EXACT) + 0


def _floor_numeric(a: Decimal) -> Decimal:
    if not a.is_finite():
        return a
    return a.quantize(Decimal(1), rounding=ROUND_FLOOR, context=T.EXACT) + 0


def _sign(a: Any) -> Any:
    if isinstance(a, Decimal):
        if a.is_nan():
            return a
        return Decimal(0) if a.is_zero() else Decimal(1 if a > 0 else -1)
    return 0.0 if a == 0 else math.copysign(1.0, a)


def _gcd(a: Any, b: Any) -> Any:
    return math.gcd(a, b)


def _mod(t: T.SqlType) -> Impl:
    return _NUMERIC_OPS["%"] if t is T.NUMERIC else _int_ops(t)["%"]


def _div(a: Decimal, b: Decimal) -> Decimal:
    if b.is_zero():
        raise DivisionByZero("division by zero")
    return _trunc_numeric(T.EXACT.divide_int(a, b))


def _factorial(n: int) -> Decimal:
    if n < 0:
        raise QuorumError("factorial of a negative number is undefined", sqlstate="2201F")
    if n > 32177:
        raise NumericValueOutOfRange("value overflows numeric format")
    return Decimal(math.factorial(n))


def _width_bucket(value: Any, low: Any, high: Any, count: int) -> int:
    if count <= 0:
        raise QuorumError("count must be greater than zero", sqlstate="2201G")
    if low == high:
        raise QuorumError("lower bound cannot equal upper bound", sqlstate="2201G")
    if low < high:
        if value < low:
            return 0
        if value >= high:
            return count + 1
        return int((value - low) * count / (high - low)) + 1
    if value > low:
        return 0
    if value <= high:
        return count + 1
    return int((low - value) * count / (low - high)) + 1


def _trim_scale(a: Decimal) -> Decimal:
    if not a.is_finite() or a.is_zero():
        return Decimal(0) if a.is_zero() else a
    normal = a.normalize(T.EXACT)
    return normal if normal.as_tuple().exponent <= 0 else normal.quantize(Decimal(1))  # type: ignore[operator]


def _random(ctx: Any) -> float:
    return _session_random(ctx).random()


def _setseed(ctx: Any, seed: float) -> None:
    if not -1.0 <= seed <= 1.0:
        raise QuorumError(
            f"setseed parameter {T.format_float8(seed)} is out of allowed range [-1,1]",
            sqlstate="22023",
        )
    _session_random(ctx).seed(seed)


def _session_random(ctx: Any) -> random_module.Random:
    """The session's generator (seeded by setseed); module-wide when there is no session."""
    session = getattr(ctx, "session", None)
    if session is None:
        return _GLOBAL_RANDOM
    rng = _RANDOMS.get(session)
    if rng is None:
        rng = _RANDOMS[session] = random_module.Random()
    return rng


_GLOBAL_RANDOM = random_module.Random()
try:
    from weakref import WeakKeyDictionary

    _RANDOMS: Any = WeakKeyDictionary()
except ImportError:  # pragma: no cover
    _RANDOMS = {}


F8 = T.FLOAT8
N = T.NUMERIC
op("^", F8, F8, F8, _pow)
op("^", N, N, N, numeric_power)
op("|/", None, F8, F8, _float_fn(math.sqrt, _sqrt_domain))
op("||/", None, F8, F8, math.cbrt)


def _int_abs(t: T.SqlType) -> Impl:
    check = check_int(t)
    return lambda a: check(abs(a))


def _int_lcm(t: T.SqlType) -> Impl:
    check = check_int(t)
    return lambda a, b: check(math.lcm(a, b))


for _t in INTS:
    fn("abs", (_t,), _t, _int_abs(_t))
for _t in FLOATS:
    fn("abs", (_t,), _t, abs)
fn("abs", (N,), N, Decimal.copy_abs)


def _float_rounding(f: Callable[[float], Any]) -> Impl:
    """A float rounding function keeping the sign of zero, as C's rint/ceil/trunc do."""

    def rounded(a: float) -> float:
        if not math.isfinite(a):
            return a
        return math.copysign(float(f(a)), a)

    return rounded


for _name in ("ceil", "ceiling"):
    fn(_name, (F8,), F8, _float_rounding(math.ceil))
    fn(_name, (N,), N, _ceil_numeric)
fn("floor", (F8,), F8, _float_rounding(math.floor))
fn("floor", (N,), N, _floor_numeric)
fn("round", (F8,), F8, _float_rounding(round))
fn("round", (N,), N, _round_numeric)
fn("round", (N, T.INT4), N, _round_numeric)
fn("trunc", (F8,), F8, _float_rounding(math.trunc))
fn("trunc", (N,), N, _trunc_numeric)
fn("trunc", (N, T.INT4), N, _trunc_numeric)
for _t in (T.INT2, T.INT4, T.INT8, N):
    fn("mod", (_t, _t), _t, _mod(_t))
for _name in ("power", "pow"):
    fn(_name, (F8, F8), F8, _pow)
    fn(_name, (N, N), N, numeric_power)
fn("sqrt", (F8,), F8, _float_fn(math.sqrt, _sqrt_domain))
fn("sqrt", (N,), N, _numeric_sqrt)
fn("cbrt", (F8,), F8, math.cbrt)
fn("exp", (F8,), F8, _float_fn(math.exp))
fn("exp", (N,), N, _numeric_exp)
fn("ln", (F8,), F8, _float_fn(math.log, _ln_domain))
fn("ln", (N,), N, _numeric_ln)
fn("log", (F8,), F8, _float_fn(math.log10, _ln_domain))
fn("log", (N,), N, lambda a: _numeric_log(Decimal(10), a))
fn("log", (N, N), N, _numeric_log)
fn("log10", (F8,), F8, _float_fn(math.log10, _ln_domain))
fn("log10", (N,), N, lambda a: _numeric_log(Decimal(10), a))
fn("sign", (F8,), F8, _sign)
fn("sign", (N,), N, _sign)
fn("pi", (), F8, lambda: math.pi)
fn("degrees", (F8,), F8, math.degrees)
fn("radians", (F8,), F8, math.radians)
fn("div", (N, N), N, _div)
for _t in (T.INT4, T.INT8):
    fn("gcd", (_t, _t), _t, _gcd)
    fn("lcm", (_t, _t), _t, _int_lcm(_t))
fn("gcd", (N, N), N, lambda a, b: Decimal(math.gcd(int(a), int(b))))
fn("lcm", (N, N), N, lambda a, b: Decimal(math.lcm(int(a), int(b))))
fn("factorial", (T.INT8,), N, _factorial)
fn("width_bucket", (F8, F8, F8, T.INT4), T.INT4, _width_bucket)
fn("width_bucket", (N, N, N, T.INT4), T.INT4, _width_bucket)
fn("scale", (N,), T.INT4, lambda a: dscale(a) if a.is_finite() else None)
fn("trim_scale", (N,), N, _trim_scale)
fn("random", (), F8, _random, volatility="v", context="ctx")
fn("setseed", (F8,), T.TEXT, _setseed, volatility="v", context="ctx")


def _series(start: Any, stop: Any, step: Any = 1) -> Iterator[tuple[Any]]:
    if step == 0:
        raise QuorumError("step size cannot equal zero", sqlstate="22023")
    if isinstance(start, Decimal) and not (start.is_finite() and stop.is_finite()):
        raise QuorumError("start value cannot be NaN" if start.is_nan() else "stop value cannot be NaN", sqlstate="22023")  # fmt: skip
    current = start
    while (current <= stop) if step > 0 else (current >= stop):
        yield (current,)
        current = current + step


for _t in (T.INT4, T.INT8, N):
    fn("generate_series", (_t, _t), _t, _series, returns_set=True)
    fn("generate_series", (_t, _t, _t), _t, _series, returns_set=True)
