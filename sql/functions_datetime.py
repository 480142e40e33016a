"""Date and time arithmetic and functions, as PostgreSQL computes them.

Adding an interval adds its months first (clamping the day to the month's
end), then its days, then its microseconds; for timestamptz the months and
days are added in the session's time zone, so ``+ '1 day'`` keeps the wall
clock time across a DST change. Subtracting timestamps gives days and time
(``justify_hours``); `age` gives PostgreSQL's symbolic years/months/days.
`extract` returns numeric with PostgreSQL's scales (``second`` has 6
decimals), `date_part` double precision.

now(), current_timestamp and friends read the statement's `ExecContext`
(the transaction's start time comes from the session), so they are never
folded into a cached plan; the values are computed on the leader and reach
replicas only as written data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from quorumdb.storage.errors import FeatureNotSupported, QuorumError

from . import types as T
from . import types_datetime as DT
from .functions import register_function as fn
from .functions import register_operator as op
from .functions_numeric import GENERIC_CMP
from .types_datetime import (
    DATE_NEG_INF,
    DATE_POS_INF,
    TS_NEG_INF,
    TS_POS_INF,
    USECS_PER_DAY,
    USECS_PER_SEC,
    Interval,
    Zone,
)

__all__ = ["timestamp_pl_interval", "interval_mul", "statement_now", "extract_field"]

DATE, TIME, TS, TSTZ, IV = T.DATE, T.TIME, T.TIMESTAMP, T.TIMESTAMPTZ, T.INTERVAL
F8, INT4, TEXT, N = T.FLOAT8, T.INT4, T.TEXT, T.NUMERIC
_HOUR = DT.USECS_PER_HOUR
_MINUTE = DT.USECS_PER_MINUTE
_INFINITE = (TS_NEG_INF, TS_POS_INF)


def _ts_out_of_range() -> QuorumError:
    return QuorumError("timestamp out of range", sqlstate="22008")


def _date_to_ts(days: int) -> int:
    if days == DATE_POS_INF:
        return TS_POS_INF
    if days == DATE_NEG_INF:
        return TS_NEG_INF
    return days * USECS_PER_DAY


def _checked(ts: int) -> int:
    try:
        return DT.check_timestamp(ts)
    except QuorumError:
        raise _ts_out_of_range() from None


# ---- interval arithmetic -------------------------------------------------------------


def _add_months_days(local: int, months: int, days: int) -> int:
    if months:
        y, m, d, *_ = DT.split_timestamp(local)
        time_of_day = local % USECS_PER_DAY
        total = y * 12 + (m - 1) + months
        y, m = divmod(total, 12)
        m += 1
        d = min(d, DT.days_in_month(y, m))
        local = DT.days_from_civil(y, m, d) * USECS_PER_DAY + time_of_day
    if days:
        local += days * USECS_PER_DAY
    return local


def timestamp_pl_interval(ts: int, span: Interval) -> int:
    if ts in _INFINITE:
        return ts
    return _checked(_add_months_days(ts, span.months, span.days) + span.micros)


def _timestamptz_pl_interval(zone: Zone, ts: int, span: Interval) -> int:
    if ts in _INFINITE:
        return ts
    if span.months or span.days:
        local = _add_months_days(zone.to_local(ts), span.months, span.days)
        ts = zone.to_utc(local)
    return _checked(ts + span.micros)


def _justify_hours(months: int, days: int, micros: int) -> Interval:
    whole = int(micros / USECS_PER_DAY)
    micros -= whole * USECS_PER_DAY
    days += whole
    if days > 0 and micros < 0:
        micros += USECS_PER_DAY
        days -= 1
    elif days < 0 and micros > 0:
        micros -= USECS_PER_DAY
        days += 1
    return Interval(months, days, micros)


def _justify_days(span: Interval) -> Interval:
    months, days = span.months, span.days
    whole = int(days / 30)
    days -= whole * 30
    months += whole
    if months > 0 and days < 0:
        days += 30
        months -= 1
    elif months < 0 and days > 0:
        days -= 30
        months += 1
    return Interval(months, days, span.micros)


def _justify_interval(span: Interval) -> Interval:
    months, days, micros = span.months, span.days, span.micros
    if (days > 0 and micros > 0) or (days < 0 and micros < 0):
        whole = int(days / 30)
        days -= whole * 30
        months += whole
    whole_day = int(micros / USECS_PER_DAY)
    micros -= whole_day * USECS_PER_DAY
    days += whole_day
    whole = int(days / 30)
    days -= whole * 30
    months += whole
    if months > 0 and (days < 0 or (days == 0 and micros < 0)):
        days += 30
        months -= 1
    elif months < 0 and (days > 0 or (days == 0 and micros > 0)):
        days -= 30
        months += 1
    if days > 0 and micros < 0:
        micros += USECS_PER_DAY
        days -= 1
    elif days < 0 and micros > 0:
        micros -= USECS_PER_DAY
        days += 1
    return Interval(months, days, micros)


def _ts_mi(a: int, b: int) -> Interval:
    if a in _INFINITE or b in _INFINITE:
        raise QuorumError("cannot subtract infinite timestamps", sqlstate="22008")
    return _justify_hours(0, 0, a - b)


def _tsround(x: float) -> float:
    return round(x * 1e6) / 1e6


def interval_mul(span: Interval, factor: float) -> Interval:
    """PostgreSQL's interval_mul: fractions cascade down to days and time, never up."""
    if math.isnan(factor):
        raise QuorumError("interval out of range", sqlstate="22008")
    month_product = span.months * factor
    day_product = span.days * factor
    if abs(month_product) >= 2**31 or abs(day_product) >= 2**31:
        raise QuorumError("interval out of range", sqlstate="22008")
    months = int(month_product)
    days = int(day_product)
    month_remainder_days = _tsround((month_product - months) * 30)
    sec_remainder = _tsround(
        (day_product - days + month_remainder_days - int(month_remainder_days)) * 86400
    )
    if abs(sec_remainder) >= 86400:
        days += int(sec_remainder / 86400)
        sec_remainder -= int(sec_remainder / 86400) * 86400
    days += int(month_remainder_days)
    micros = round(span.micros * factor + sec_remainder * USECS_PER_SEC)
    if not -(2**63) <= micros < 2**63:
        raise QuorumError("interval out of range", sqlstate="22008")
    return Interval(months, days, micros)


def _interval_div(span: Interval, factor: float) -> Interval:
    if factor == 0:
        raise QuorumError("division by zero", sqlstate="22012")
    return interval_mul(span, 1.0 / factor)


def _interval_add(a: Interval, b: Interval) -> Interval:
    return Interval(a.months + b.months, a.days + b.days, a.micros + b.micros)


def _interval_sub(a: Interval, b: Interval) -> Interval:
    return Interval(a.months - b.months, a.days - b.days, a.micros - b.micros)


def _date_pl_days(d: int, n: int) -> int:
    if d in (DATE_NEG_INF, DATE_POS_INF):
        return d
    return DT.check_date(d + n)


def _date_mi(a: int, b: int) -> int:
    if a in (DATE_NEG_INF, DATE_POS_INF) or b in (DATE_NEG_INF, DATE_POS_INF):
        raise QuorumError("cannot subtract infinite dates", sqlstate="22008")
    return a - b


# ---- comparisons across date, timestamp and timestamptz ---------------------------------


def _cross(convert_left: Callable[..., int] | None, convert_right: Callable[..., int] | None,
           cmp: Callable[[Any, Any], bool], zoned: bool) -> Callable[..., bool]:  # fmt: skip
    lc = convert_left or (lambda v, *z: v)
    rc = convert_right or (lambda v, *z: v)
    if zoned:
        return lambda zone, a, b: cmp(lc(a, zone), rc(b, zone))
    return lambda a, b: cmp(lc(a), rc(b))


def _date_as_tstz(d: int, zone: Zone) -> int:
    return zone.to_utc(_date_to_ts(d))


def _ts_as_tstz(ts: int, zone: Zone) -> int:
    return zone.to_utc(ts)


for _t in (DATE, TIME, TS, TSTZ, IV):
    for _name, _impl in GENERIC_CMP.items():
        op(_name, _t, _t, T.BOOL, _impl)
for _name, _impl in GENERIC_CMP.items():
    op(_name, DATE, TS, T.BOOL, _cross(_date_to_ts, None, _impl, False))
    op(_name, TS, DATE, T.BOOL, _cross(None, _date_to_ts, _impl, False))
    op(_name, DATE, TSTZ, T.BOOL, _cross(_date_as_tstz, None, _impl, True), context="zone", volatility="s")  # fmt: skip
    op(_name, TSTZ, DATE, T.BOOL, _cross(None, _date_as_tstz, _impl, True), context="zone", volatility="s")  # fmt: skip
    op(_name, TS, TSTZ, T.BOOL, _cross(_ts_as_tstz, None, _impl, True), context="zone", volatility="s")  # fmt: skip
    op(_name, TSTZ, TS, T.BOOL, _cross(None, _ts_as_tstz, _impl, True), context="zone", volatility="s")  # fmt: skip

op("+", DATE, INT4, DATE, _date_pl_days)
op("+", INT4, DATE, DATE, lambda n, d: _date_pl_days(d, n))
op("-", DATE, INT4, DATE, lambda d, n: _date_pl_days(d, -n))
op("-", DATE, DATE, INT4, _date_mi)
op("+", DATE, IV, TS, lambda d, i: timestamp_pl_interval(_date_to_ts(d), i))
op("+", IV, DATE, TS, lambda i, d: timestamp_pl_interval(_date_to_ts(d), i))
op("-", DATE, IV, TS, lambda d, i: timestamp_pl_interval(_date_to_ts(d), -i))
op("+", DATE, TIME, TS, lambda d, t: _checked(_date_to_ts(d) + t))
op("+", TIME, DATE, TS, lambda t, d: _checked(_date_to_ts(d) + t))
op("+", TIME, IV, TIME, lambda t, i: (t + i.micros) % USECS_PER_DAY)
op("+", IV, TIME, TIME, lambda i, t: (t + i.micros) % USECS_PER_DAY)
op("-", TIME, IV, TIME, lambda t, i: (t - i.micros) % USECS_PER_DAY)
op("-", TIME, TIME, IV, lambda a, b: Interval(0, 0, a - b))
op("+", TS, IV, TS, timestamp_pl_interval)
op("+", IV, TS, TS, lambda i, ts: timestamp_pl_interval(ts, i))
op("-", TS, IV, TS, lambda ts, i: timestamp_pl_interval(ts, -i))
op("-", TS, TS, IV, _ts_mi)
op("+", TSTZ, IV, TSTZ, _timestamptz_pl_interval, context="zone", volatility="s")
op("+", IV, TSTZ, TSTZ, lambda z, i, ts: _timestamptz_pl_interval(z, ts, i), context="zone", volatility="s")  # fmt: skip
op("-", TSTZ, IV, TSTZ, lambda z, ts, i: _timestamptz_pl_interval(z, ts, -i), context="zone", volatility="s")  # fmt: skip
op("-", TSTZ, TSTZ, IV, _ts_mi)
op("+", IV, IV, IV, _interval_add)
op("-", IV, IV, IV, _interval_sub)
op("-", None, IV, IV, lambda i: -i)
op("*", IV, F8, IV, interval_mul)
op("*", F8, IV, IV, lambda f, i: interval_mul(i, f))
op("/", IV, F8, IV, _interval_div)

# ---- the current time -------------------------------------------------------------------


def statement_now(ctx: Any) -> int:
    """The transaction's start time as a timestamptz (from the session, else the clock)."""
    return ctx.now  # type: ignore[no-any-return]


def _clock_now() -> int:
    return int(round(time.time() * USECS_PER_SEC)) - DT._UNIX_EPOCH_DAYS * USECS_PER_DAY


def _local_now(ctx: Any) -> int:
    return ctx.zone.to_local(ctx.now)  # type: ignore[no-any-return]


for _name in ("now", "transaction_timestamp", "current_timestamp"):
    fn(_name, (), TSTZ, statement_now, volatility="s", context="ctx")
fn("statement_timestamp", (), TSTZ, lambda ctx: ctx.statement_now, volatility="s", context="ctx")
fn("clock_timestamp", (), TSTZ, _clock_now, volatility="v")
fn("localtimestamp", (), TS, _local_now, volatility="s", context="ctx")
fn("current_date", (), DATE, lambda ctx: _local_now(ctx) // USECS_PER_DAY, volatility="s", context="ctx")  # fmt: skip
fn("localtime", (), TIME, lambda ctx: _local_now(ctx) % USECS_PER_DAY, volatility="s", context="ctx")  # fmt: skip


# ---- OVERLAPS --------------------------------------------------------------------------


def _period(start: Any, end: Any) -> tuple[Any, Any] | None:
    """A period with its ends in order; one NULL end makes it the instant at the other
    end (returned as (instant, None)); None if both are NULL."""
    if start is None:
        return None if end is None else (end, None)
    if end is not None and start > end:
        return end, start
    return start, end


def _overlaps(s1: Any, e1: Any, s2: Any, e2: Any) -> bool | None:
    """(s1, e1) OVERLAPS (s2, e2): PostgreSQL's overlaps_timestamp, NULLs included."""
    first, second = _period(s1, e1), _period(s2, e2)
    if first is None or second is None:
        return None
    if first[0] > second[0]:
        first, second = second, first  # the test is symmetric: let `first` start first
    (s1, e1), (s2, e2) = first, second
    if s1 < s2:
        if e1 is None:
            return None
        if s2 < e1:
            return True
        return None if e2 is None else False
    return None if e1 is None or e2 is None else True


def _overlaps_interval(add: Callable[..., Any], first: bool, second: bool, zoned: bool) -> Any:
    """OVERLAPS with (start, interval) periods (`first`/`second`: which ones are)."""

    def end(zone: Any, start: Any, value: Any, is_interval: bool) -> Any:
        if not is_interval or start is None or value is None:
            return None if is_interval else value
        return add(zone, start, value) if zoned else add(start, value)

    def impl(*args: Any) -> bool | None:
        zone, (s1, e1, s2, e2) = (args[0], args[1:]) if zoned else (None, args)
        return _overlaps(s1, end(zone, s1, e1, first), s2, end(zone, s2, e2, second))

    return impl


for _t, _add, _zoned in (
    (TIME, lambda t, i: (t + i.micros) % USECS_PER_DAY, False),
    (TS, timestamp_pl_interval, False),
    (TSTZ, _timestamptz_pl_interval, True),
):
    fn("overlaps", (_t, _t, _t, _t), T.BOOL, _overlaps, strict=False)
    for _first, _second in ((True, True), (False, True), (True, False)):
        fn(
            "overlaps", (_t, IV if _first else _t, _t, IV if _second else _t), T.BOOL,
            _overlaps_interval(_add, _first, _second, _zoned), strict=False,
            **({"context": "zone", "volatility": "s"} if _zoned else {}),
        )  # fmt: skip


# ---- pg_sleep ---------------------------------------------------------------------------

_SLEEP_SLICE = 0.01  # seconds between two checks for statement_timeout and cancel


def _pg_sleep(ctx: Any, seconds: float) -> str:
    """pg_sleep: sleeps in short slices, so statement_timeout (the transaction's
    `interrupt`) and a CancelRequest (raised in the worker thread running the query,
    node/pgcancel.py, between two slices) end it promptly. Returns '' for void."""
    deadline = time.monotonic() + seconds  # NaN and negative: no sleep, as PostgreSQL
    check = ctx.txn.interrupt if ctx.txn is not None else None
    while True:
        if check is not None:
            check()
        left = deadline - time.monotonic()
        if not left > 0:
            return ""
        time.sleep(min(left, _SLEEP_SLICE))


fn("pg_sleep", (T.FLOAT8,), T.TEXT, _pg_sleep, context="ctx", volatility="v")


def _timeofday(zone: Zone) -> str:
    now = _clock_now()
    local = zone.to_local(now)
    y, m, d, hh, mi, ss, us = DT.split_timestamp(local)
    weekday = _DAY_NAMES[(local // USECS_PER_DAY + 6) % 7][:3]
    return f"{weekday} {_MONTH_NAMES[m - 1][:3]} {d:02d} {hh:02d}:{mi:02d}:{ss:02d}.{us:06d} {y} {zone.abbreviation(now)}"  # fmt: skip


fn("timeofday", (), TEXT, _timeofday, volatility="v", context="zone")

# ---- construction -----------------------------------------------------------------------


def _make_date(y: int, m: int, d: int) -> int:
    if y == 0 or not 1 <= m <= 12:
        raise QuorumError(f"date field value out of range: {y}-{m:02d}-{d:02d}", sqlstate="22008")
    year = y if y > 0 else y + 1
    if not 1 <= d <= DT.days_in_month(year, m):
        raise QuorumError(f"date field value out of range: {y}-{m:02d}-{d:02d}", sqlstate="22008")
    return DT.check_date(DT.days_from_civil(year, m, d))


def _time_of(h: int, mi: int, sec: float) -> int:
    if not (0 <= h <= 24 and 0 <= mi <= 59 and 0 <= sec <= 60):
        raise QuorumError(f"time field value out of range: {h}:{mi:02d}:{T.format_float8(sec):0>2}", sqlstate="22008")  # fmt: skip
    return h * _HOUR + mi * _MINUTE + round(sec * USECS_PER_SEC)


def _make_timestamp(y: int, m: int, d: int, h: int, mi: int, sec: float) -> int:
    return _checked(_date_to_ts(_make_date(y, m, d)) + _time_of(h, mi, sec))


def _make_timestamptz(zone: Zone, y: int, m: int, d: int, h: int, mi: int, sec: float, tz: str | None = None) -> int:  # fmt: skip
    local = _make_timestamp(y, m, d, h, mi, sec)
    if tz is not None:
        zone = _zone_arg(tz)
    return _checked(zone.to_utc(local))


def _zone_arg(name: str) -> Zone:
    found = DT.find_zone(name)
    if found is None:
        raise QuorumError(f'time zone "{name}" not recognized', sqlstate="22023")
    return found


fn("make_date", (INT4, INT4, INT4), DATE, _make_date)
fn("make_time", (INT4, INT4, F8), TIME, _time_of)
fn("make_timestamp", (INT4, INT4, INT4, INT4, INT4, F8), TS, _make_timestamp)
fn("make_timestamptz", (INT4, INT4, INT4, INT4, INT4, F8), TSTZ, _make_timestamptz, context="zone", volatility="s")  # fmt: skip
fn("make_timestamptz", (INT4, INT4, INT4, INT4, INT4, F8, TEXT), TSTZ, _make_timestamptz, context="zone", volatility="s")  # fmt: skip
fn("make_interval", (INT4, INT4, INT4, INT4, INT4, INT4, F8), IV,
   lambda y, mo, w, d, h, mi, s: Interval(y * 12 + mo, w * 7 + d, h * _HOUR + mi * _MINUTE + round(s * USECS_PER_SEC)))  # fmt: skip
fn("justify_days", (IV,), IV, _justify_days)
fn("justify_hours", (IV,), IV, lambda i: _justify_hours(i.months, i.days, i.micros))
fn("justify_interval", (IV,), IV, _justify_interval)
fn("isfinite", (DATE,), T.BOOL, lambda d: d not in (DATE_NEG_INF, DATE_POS_INF))
fn("isfinite", (TS,), T.BOOL, lambda t: t not in _INFINITE)
fn("isfinite", (TSTZ,), T.BOOL, lambda t: t not in _INFINITE)
fn("isfinite", (IV,), T.BOOL, lambda i: True)
fn("timezone", (TEXT, TS), TSTZ, lambda z, ts: _checked(_zone_arg(z).to_utc(ts)))
fn("timezone", (TEXT, TSTZ), TS, lambda z, ts: _checked(_zone_arg(z).to_local(ts)))
fn("to_timestamp", (F8,), TSTZ, lambda s: _checked(round(s * USECS_PER_SEC) - DT._UNIX_EPOCH_DAYS * USECS_PER_DAY) if math.isfinite(s) else (TS_POS_INF if s > 0 else TS_NEG_INF))  # fmt: skip


def _date_bin(stride: Interval, source: int, origin: int) -> int:
    if stride.months:
        raise FeatureNotSupported("timestamps cannot be binned into intervals containing months or years")  # fmt: skip
    step = stride.days * USECS_PER_DAY + stride.micros
    if step <= 0:
        raise QuorumError("stride must be greater than zero", sqlstate="22008")
    return origin + (source - origin) // step * step


fn("date_bin", (IV, TS, TS), TS, _date_bin)
fn("date_bin", (IV, TSTZ, TSTZ), TSTZ, _date_bin)

# ---- date_trunc ---------------------------------------------------------------------------

_TRUNC_UNITS = (
    "microseconds", "milliseconds", "second", "minute", "hour", "day", "week", "month",
    "quarter", "year", "decade", "century", "millennium",
)  # fmt: skip
_UNIT_ALIASES = {
    "microsecond": "microseconds", "us": "microseconds", "usec": "microseconds",
    "usecs": "microseconds", "millisecond": "milliseconds", "ms": "milliseconds",
    "msec": "milliseconds", "msecs": "milliseconds", "seconds": "second", "sec": "second",
    "secs": "second", "s": "second", "minutes": "minute", "min": "minute", "mins": "minute",
    "m": "minute", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour", "days": "day",
    "d": "day", "weeks": "week", "w": "week", "months": "month", "mon": "month", "mons": "month",
    "years": "year", "y": "year", "yr": "year", "yrs": "year", "decades": "decade",
    "centuries": "century", "millennia": "millennium", "millenniums": "millennium",
    "quarters": "quarter", "qtr": "quarter",
}  # fmt: skip


def _unit(text: str) -> str:
    word = text.strip().lower()
    return _UNIT_ALIASES.get(word, word)


def _truncate_local(unit: str, ts: int, type_name: str, field_text: str) -> int:
    y, m, d, hh, mi, ss, us = DT.split_timestamp(ts)
    if unit == "microseconds":
        return ts
    if unit == "milliseconds":
        return ts - us % 1000
    if unit == "second":
        return ts - us
    if unit == "minute":
        return ts - ss * USECS_PER_SEC - us
    if unit == "hour":
        return ts - ts % _HOUR
    day_start = ts - ts % USECS_PER_DAY
    if unit == "day":
        return day_start
    if unit == "week":
        days = ts // USECS_PER_DAY
        return (days - (days + 5) % 7) * USECS_PER_DAY  # back to Monday (2000-01-03 was one)
    if unit == "month":
        return DT.make_timestamp(y, m, 1)
    if unit == "quarter":
        return DT.make_timestamp(y, (m - 1) // 3 * 3 + 1, 1)
    if unit == "year":
        return DT.make_timestamp(y, 1, 1)
    # PostgreSQL counts decades, centuries and millennia from year 1 (astronomical 0 is 1 BC).
    if unit == "decade":
        year = (y // 10) * 10 if y > 0 else -((8 - (y - 1)) // 10) * 10
        return DT.make_timestamp(year, 1, 1)
    if unit == "century":
        year = ((y + 99) // 100) * 100 - 99 if y > 0 else -((99 - (y - 1)) // 100) * 100 + 1
        return DT.make_timestamp(year, 1, 1)
    if unit == "millennium":
        year = ((y + 999) // 1000) * 1000 - 999 if y > 0 else -((999 - (y - 1)) // 1000) * 1000 + 1
        return DT.make_timestamp(year, 1, 1)
    raise _bad_unit(field_text, type_name)


def _bad_unit(field_text: str, type_name: str, recognized: bool = True) -> QuorumError:
    if recognized and _unit(field_text) in (*_TRUNC_UNITS, *_EXTRACT_ONLY):
        return FeatureNotSupported(
            f'unit "{field_text.lower()}" not supported for type {type_name}'
        )
    return QuorumError(
        f'unit "{field_text.lower()}" not recognized for type {type_name}', sqlstate="22023"
    )


def _date_trunc_ts(field: str, ts: int) -> int:
    if ts in _INFINITE:
        return ts
    return _truncate_local(_unit(field), ts, "timestamp without time zone", field)


def _date_trunc_tstz(zone: Zone, field: str, ts: int, zone_name: str | None = None) -> int:
    if ts in _INFINITE:
        return ts
    if zone_name is not None:
        zone = _zone_arg(zone_name)
    unit = _unit(field)
    if unit in ("microseconds", "milliseconds", "second", "minute"):
        return _truncate_local(unit, ts, "timestamp with time zone", field)
    local = _truncate_local(unit, zone.to_local(ts), "timestamp with time zone", field)
    return zone.to_utc(local)


def _date_trunc_interval(field: str, span: Interval) -> Interval:
    unit = _unit(field)
    months, days, micros = span.months, span.days, span.micros
    if unit in ("millennium", "century", "decade", "year"):
        per = {"millennium": 12000, "century": 1200, "decade": 120, "year": 12}[unit]
        return Interval(int(months / per) * per, 0, 0)
    if unit == "quarter":
        return Interval(int(months / 3) * 3, 0, 0)
    if unit == "month":
        return Interval(months, 0, 0)
    if unit == "day":
        return Interval(months, days, 0)
    units: dict[str, int] = {"hour": _HOUR, "minute": _MINUTE, "second": USECS_PER_SEC,
                             "milliseconds": 1000, "microseconds": 1}  # fmt: skip
    if unit not in units:
        raise _bad_unit(field, "interval")
    per = units[unit]
    return Interval(months, days, int(micros / per) * per)


fn("date_trunc", (TEXT, TS), TS, _date_trunc_ts)
fn("date_trunc", (TEXT, TSTZ), TSTZ, _date_trunc_tstz, context="zone", volatility="s")
fn("date_trunc", (TEXT, TSTZ, TEXT), TSTZ, _date_trunc_tstz, context="zone", volatility="s")
fn("date_trunc", (TEXT, IV), IV, _date_trunc_interval)

# ---- extract / date_part ------------------------------------------------------------------

_EXTRACT_ONLY = ("dow", "isodow", "doy", "epoch", "isoyear", "julian", "timezone",
                 "timezone_hour", "timezone_minute", "week")  # fmt: skip
_DATE_FIELDS = {"day", "month", "year", "decade", "century", "millennium", "quarter", "week",
                "dow", "isodow", "doy", "epoch", "isoyear", "julian"}  # fmt: skip


def _iso_week(days: int) -> tuple[int, int]:
    """(ISO year, ISO week) of a day number."""
    weekday = (days + 5) % 7  # Monday = 0
    thursday = days - weekday + 3
    year = DT.civil_from_days(thursday)[0]
    first_thursday = DT.days_from_civil(year, 1, 4)
    first_thursday -= (first_thursday + 5) % 7
    first_thursday += 3
    return year, (thursday - first_thursday) // 7 + 1


def _year_number(y: int) -> int:
    return y if y > 0 else y - 1  # astronomical 0 is 1 BC, shown as -1


def extract_field(unit: str, ts: int, is_date: bool, zone_offset: int | None) -> Decimal:
    """extract(unit from a finite local timestamp) as numeric."""
    y, m, d, hh, mi, ss, us = DT.split_timestamp(ts)
    days = ts // USECS_PER_DAY
    if unit == "microseconds":
        return Decimal(ss * USECS_PER_SEC + us)
    if unit == "milliseconds":
        return Decimal(ss * USECS_PER_SEC + us).scaleb(-3)
    if unit == "second":
        return Decimal(ss * USECS_PER_SEC + us).scaleb(-6)
    if unit == "minute":
        return Decimal(mi)
    if unit == "hour":
        return Decimal(hh)
    if unit == "day":
        return Decimal(d)
    if unit == "month":
        return Decimal(m)
    if unit == "quarter":
        return Decimal((m - 1) // 3 + 1)
    if unit == "year":
        return Decimal(_year_number(y))
    if unit == "decade":
        return Decimal(y // 10 if y > 0 else -((8 - (y - 1)) // 10))
    if unit == "century":
        return Decimal((y + 99) // 100 if y > 0 else -((99 - (y - 1)) // 100))
    if unit == "millennium":
        return Decimal((y + 999) // 1000 if y > 0 else -((999 - (y - 1)) // 1000))
    if unit == "week":
        return Decimal(_iso_week(days)[1])
    if unit == "isoyear":
        year = _iso_week(days)[0]
        return Decimal(year if year > 0 else year - 1)
    if unit == "dow":
        return Decimal((days + 6) % 7)
    if unit == "isodow":
        return Decimal((days + 5) % 7 + 1)
    if unit == "doy":
        return Decimal(days - DT.days_from_civil(y, 1, 1) + 1)
    if unit == "julian":
        jd = days + 2451545
        if is_date:
            return Decimal(jd)
        return Decimal(jd) + T.EXACT.divide(Decimal(ts % USECS_PER_DAY), Decimal(USECS_PER_DAY))
    if unit in ("timezone", "timezone_hour", "timezone_minute") and zone_offset is not None:
        if unit == "timezone":
            return Decimal(zone_offset)
        hours = int(zone_offset / 3600)
        return Decimal(hours if unit == "timezone_hour" else int((zone_offset - hours * 3600) / 60))
    raise KeyError(unit)


def _epoch(ts: int, scale: int) -> Decimal:
    return Decimal(ts + DT._UNIX_EPOCH_DAYS * USECS_PER_DAY).scaleb(-6).quantize(Decimal(1).scaleb(-scale))  # fmt: skip


def _infinite_extract(unit: str, negative: bool) -> Decimal | None:
    if unit in ("epoch", "year", "decade", "century", "millennium", "julian", "isoyear"):
        return Decimal("-Infinity") if negative else Decimal("Infinity")
    return None


def _extract_timestamp(field: str, ts: int, type_name: str, zone: Zone | None) -> Decimal | None:
    unit = _unit(field)
    if ts in _INFINITE:
        return _infinite_extract(unit, ts < 0)
    if unit == "epoch":
        return _epoch(ts, 6)
    offset = zone.offset(ts) if zone is not None else None
    local = zone.to_local(ts) if zone is not None else ts
    try:
        return extract_field(unit, local, False, offset)
    except KeyError:
        raise _bad_unit(field, type_name, unit in _EXTRACT_ONLY or unit in _TRUNC_UNITS) from None


def _extract_date(field: str, days: int) -> Decimal | None:
    unit = _unit(field)
    if unit not in _DATE_FIELDS:
        raise _bad_unit(field, "date", unit in _EXTRACT_ONLY or unit in _TRUNC_UNITS)
    if days in (DATE_NEG_INF, DATE_POS_INF):
        return _infinite_extract(unit, days < 0)
    if unit == "epoch":
        return _epoch(days * USECS_PER_DAY, 0)
    return extract_field(unit, days * USECS_PER_DAY, True, None)


def _extract_time(field: str, micros: int) -> Decimal:
    unit = _unit(field)
    if unit == "epoch":
        return Decimal(micros).scaleb(-6)
    if unit in ("microseconds", "milliseconds", "second", "minute", "hour"):
        return extract_field(unit, micros, False, None)
    raise _bad_unit(field, "time without time zone", unit in _EXTRACT_ONLY or unit in _TRUNC_UNITS)


def _extract_interval(field: str, span: Interval) -> Decimal:
    unit = _unit(field)
    months, days, micros = span.months, span.days, span.micros
    year = int(months / 12)
    if unit == "epoch":
        seconds = (
            Decimal(year) * Decimal("31557600")
            + Decimal(months - year * 12) * 30 * 86400
            + Decimal(days) * 86400
        )
        return (seconds * USECS_PER_SEC + micros).scaleb(-6)
    fields = {
        "millennium": lambda: Decimal(int(year / 1000)),
        "century": lambda: Decimal(int(year / 100)),
        "decade": lambda: Decimal(int(year / 10)),
        "year": lambda: Decimal(year),
        "quarter": lambda: Decimal(int((months - year * 12) / 3) + 1),
        "month": lambda: Decimal(months - year * 12),
        "day": lambda: Decimal(days),
        "hour": lambda: Decimal(int(micros / _HOUR)),
        "minute": lambda: Decimal(int((micros % (_HOUR if micros >= 0 else -_HOUR)) / _MINUTE)),
        "second": lambda: Decimal(micros % (_MINUTE if micros >= 0 else -_MINUTE)).scaleb(-6),
        "milliseconds": lambda: Decimal(micros % (_MINUTE if micros >= 0 else -_MINUTE)).scaleb(-3),
        "microseconds": lambda: Decimal(micros % (_MINUTE if micros >= 0 else -_MINUTE)),
    }
    compute = fields.get(unit)
    if compute is None:
        raise _bad_unit(field, "interval", unit in _EXTRACT_ONLY)
    return compute()  # type: ignore[no-any-return]


def _as_float(f: Callable[..., Decimal | None]) -> Callable[..., float | None]:
    def call(*args: Any) -> float | None:
        result = f(*args)
        return None if result is None else float(result)

    return call


def _ts_extract(field: str, ts: int) -> Decimal | None:
    return _extract_timestamp(field, ts, "timestamp without time zone", None)


def _tstz_extract(zone: Zone, field: str, ts: int) -> Decimal | None:
    return _extract_timestamp(field, ts, "timestamp with time zone", zone)


fn("extract", (TEXT, TS), N, _ts_extract)
fn("extract", (TEXT, TSTZ), N, _tstz_extract, context="zone", volatility="s")
fn("extract", (TEXT, DATE), N, _extract_date)
fn("extract", (TEXT, TIME), N, _extract_time)
fn("extract", (TEXT, IV), N, _extract_interval)
fn("date_part", (TEXT, TS), F8, _as_float(_ts_extract))
fn("date_part", (TEXT, TSTZ), F8, _as_float(_tstz_extract), context="zone", volatility="s")
fn("date_part", (TEXT, DATE), F8, _as_float(lambda f, d: _extract_timestamp(f, _date_to_ts(d), "timestamp without time zone", None)))  # fmt: skip
fn("date_part", (TEXT, TIME), F8, _as_float(_extract_time))
fn("date_part", (TEXT, IV), F8, _as_float(_extract_interval))

# ---- age ----------------------------------------------------------------------------------


def _age_fields(local1: int, local2: int) -> Interval:
    if local1 in _INFINITE or local2 in _INFINITE:
        raise QuorumError("cannot subtract infinite timestamps", sqlstate="22008")
    y1, m1, d1, h1, mi1, s1, u1 = DT.split_timestamp(local1)
    y2, m2, d2, h2, mi2, s2, u2 = DT.split_timestamp(local2)
    fields = [u1 - u2, s1 - s2, mi1 - mi2, h1 - h2, d1 - d2, m1 - m2, y1 - y2]
    flip = local1 < local2
    if flip:
        fields = [-f for f in fields]
    us, sec, mins, hours, mday, mon, year = fields
    while us < 0:
        us += USECS_PER_SEC
        sec -= 1
    while sec < 0:
        sec += 60
        mins -= 1
    while mins < 0:
        mins += 60
        hours -= 1
    while hours < 0:
        hours += 24
        mday -= 1
    while mday < 0:
        if flip:
            mday += DT.days_in_month(y1, m1)
        else:
            mday += DT.days_in_month(y2, m2)
        mon -= 1
    while mon < 0:
        mon += 12
        year -= 1
    sign = -1 if flip else 1
    micros = ((hours * 60 + mins) * 60 + sec) * USECS_PER_SEC + us
    return Interval(sign * (year * 12 + mon), sign * mday, sign * micros)


def _age_midnight(ctx: Any, ts: int) -> Interval:
    today = ctx.zone.to_local(ctx.now) // USECS_PER_DAY * USECS_PER_DAY
    return _age_fields(today, ts)


def _age_midnight_tz(ctx: Any, ts: int) -> Interval:
    today = ctx.zone.to_local(ctx.now) // USECS_PER_DAY * USECS_PER_DAY
    return _age_fields(today, ctx.zone.to_local(ts))


fn("age", (TS, TS), IV, _age_fields)
fn("age", (TSTZ, TSTZ), IV, lambda z, a, b: _age_fields(z.to_local(a), z.to_local(b)), context="zone")  # fmt: skip
fn("age", (TS,), IV, _age_midnight, context="ctx", volatility="s")
fn("age", (TSTZ,), IV, _age_midnight_tz, context="ctx", volatility="s")

# ---- generate_series over timestamps -------------------------------------------------------


def _series(start: int, stop: int, step: Interval, add: Callable[[int, Interval], int]) -> Iterator[tuple[int]]:  # fmt: skip
    if step.span() == 0:
        raise QuorumError("step size cannot equal zero", sqlstate="22023")
    forward = step.span() > 0
    current = start
    while (current <= stop) if forward else (current >= stop):
        yield (current,)
        current = add(current, step)


fn("generate_series", (TS, TS, IV), TS, lambda a, b, s: _series(a, b, s, timestamp_pl_interval), returns_set=True)  # fmt: skip
fn("generate_series", (TSTZ, TSTZ, IV), TSTZ,
   lambda z, a, b, s: _series(a, b, s, lambda t, i: _timestamptz_pl_interval(z, t, i)),
   returns_set=True, context="zone", volatility="s")  # fmt: skip

_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")  # fmt: skip
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

from . import functions_format  # noqa: E402, F401  (to_char and friends)
