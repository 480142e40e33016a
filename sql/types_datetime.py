"""date, time, timestamp, timestamptz and interval: representation, text input and output.

Values are PostgreSQL's own representations, so they order, hash, pack and
key-encode as plain ints:

* date: days since 2000-01-01; ``-infinity``/``infinity`` are the int32 bounds;
* time: microseconds since midnight;
* timestamp: microseconds since 2000-01-01 00:00; timestamptz: the same in UTC;
  ``-infinity``/``infinity`` are the int64 bounds;
* interval: `Interval(months, days, micros)`, compared and hashed (as
  PostgreSQL does) by its span with 30-day months and 24-hour days, so
  ``'1 mon' = '30 days'``.

Calendar arithmetic is the proleptic Gregorian calendar on astronomical
years (1 BC is year 0), without Python's datetime range limits. Time zones
(`Zone`) come from the session's TimeZone setting: a name from the tz
database, UTC, or a fixed offset. Only the ISO and "postgres" output styles
exist (DateStyle ISO, IntervalStyle postgres: PostgreSQL's defaults).

Input accepts the common forms of PostgreSQL's parser: ISO 8601 with ``T``
or a space, month names, ``M/D/Y`` (DateStyle MDY), ``BC``, zone offsets
and names, ``epoch``/``infinity``. The words ``now``/``today``/... are
refused (0A000): their value depends on when a cached plan was made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC as PY_UTC
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quorumdb.storage.errors import FeatureNotSupported, QuorumError

from . import types as T

__all__ = [
    "Interval",
    "Zone",
    "zone",
    "USECS_PER_SEC",
    "USECS_PER_DAY",
    "DATE_NEG_INF",
    "DATE_POS_INF",
    "TS_NEG_INF",
    "TS_POS_INF",
    "days_from_civil",
    "civil_from_days",
    "split_timestamp",
    "make_timestamp",
    "parse_date",
    "parse_timestamp",
    "parse_interval",
    "format_date",
    "format_timestamp",
    "format_interval",
    "check_timestamp",
    "check_date",
]

USECS_PER_SEC = 1_000_000
USECS_PER_MINUTE = 60 * USECS_PER_SEC
USECS_PER_HOUR = 60 * USECS_PER_MINUTE
USECS_PER_DAY = 24 * USECS_PER_HOUR
DATE_NEG_INF = -(1 << 31)
DATE_POS_INF = (1 << 31) - 1
TS_NEG_INF = -(1 << 63)
TS_POS_INF = (1 << 63) - 1
_UNIX_EPOCH_DAYS = 10957  # 1970-01-01 -> 2000-01-01

# PostgreSQL's limits: 4714-11-24 BC (Julian day 0) to 5874897-12-31 (dates),
# 294276-12-31 23:59:59.999999 (timestamps).
_MIN_DAY = -2451545  # days_from_civil(-4713, 11, 24)
_MAX_DATE_DAY = 2145031948  # days_from_civil(5874897, 12, 31)
_MAX_TS = 106751983 * USECS_PER_DAY - 1  # days_from_civil(294277, 1, 1): one past the end
_MIN_TS = _MIN_DAY * USECS_PER_DAY


class DatetimeFieldOverflow(QuorumError):
    sqlstate = "22008"


class InvalidDatetimeFormat(QuorumError):
    sqlstate = "22007"


class IntervalFieldOverflow(QuorumError):
    sqlstate = "22015"


# ---- calendar ---------------------------------------------------------------


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 2000-01-01 of the astronomical date y-m-d (Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 - _UNIX_EPOCH_DAYS


def civil_from_days(z: int) -> tuple[int, int, int]:
    """(astronomical year, month, day) of a day number (inverse of `days_from_civil`)."""
    z += 719468 + _UNIX_EPOCH_DAYS
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if is_leap(y) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def split_timestamp(ts: int) -> tuple[int, int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second, microsecond) of a finite timestamp."""
    days, time = divmod(ts, USECS_PER_DAY)
    y, m, d = civil_from_days(days)
    hour, rest = divmod(time, USECS_PER_HOUR)
    minute, rest = divmod(rest, USECS_PER_MINUTE)
    second, micro = divmod(rest, USECS_PER_SEC)
    return y, m, d, hour, minute, second, micro


def make_timestamp(y: int, m: int, d: int, hour: int = 0, minute: int = 0, micros: int = 0) -> int:
    return (
        days_from_civil(y, m, d) * USECS_PER_DAY
        + hour * USECS_PER_HOUR
        + minute * USECS_PER_MINUTE
        + micros
    )


def check_timestamp(ts: int, text: str | None = None) -> int:
    """Raise 22008 unless `ts` is a finite timestamp in PostgreSQL's range (or an infinity)."""
    if _MIN_TS <= ts <= _MAX_TS or ts in (TS_NEG_INF, TS_POS_INF):
        return ts
    raise DatetimeFieldOverflow(
        f'timestamp out of range: "{text}"' if text is not None else "timestamp out of range"
    )


def check_date(days: int, text: str | None = None) -> int:
    if _MIN_DAY <= days <= _MAX_DATE_DAY or days in (DATE_NEG_INF, DATE_POS_INF):
        return days
    raise DatetimeFieldOverflow(
        f'date out of range: "{text}"' if text is not None else "date out of range"
    )


# ---- time zones ---------------------------------------------------------------


class Zone:
    """A session time zone: UTC offsets by instant and the UTC instant of a local time."""

    __slots__ = ("name", "_info", "_fixed")

    def __init__(self, name: str, info: ZoneInfo | None, fixed: int | None) -> None:
        self.name = name
        self._info = info
        self._fixed = fixed  # seconds east of UTC when the offset never changes

    def offset(self, utc_ts: int) -> int:
        """Seconds east of UTC at the instant `utc_ts` (a finite timestamptz)."""
        if self._fixed is not None:
            return self._fixed
        dt = _as_datetime(utc_ts).replace(tzinfo=PY_UTC)
        off = dt.astimezone(self._info).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def local_offset(self, local_ts: int) -> int:
        """Seconds east of UTC that apply to the wall-clock time `local_ts`."""
        if self._fixed is not None:
            return self._fixed
        off = _as_datetime(local_ts).replace(tzinfo=self._info).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def to_local(self, utc_ts: int) -> int:
        if utc_ts in (TS_NEG_INF, TS_POS_INF):
            return utc_ts
        return utc_ts + self.offset(utc_ts) * USECS_PER_SEC

    def to_utc(self, local_ts: int) -> int:
        if local_ts in (TS_NEG_INF, TS_POS_INF):
            return local_ts
        return local_ts - self.local_offset(local_ts) * USECS_PER_SEC

    def abbreviation(self, utc_ts: int) -> str:
        if self._info is None:
            return _offset_text(self._fixed or 0)
        name = _as_datetime(utc_ts).replace(tzinfo=PY_UTC).astimezone(self._info).tzname()
        return name or ""


_DT_MIN = datetime(1, 1, 2)
_DT_MAX = datetime(9999, 12, 30)
_DT_EPOCH = datetime(2000, 1, 1)


def _as_datetime(ts: int) -> datetime:
    """A naive datetime for zone lookups (clamped to Python's range: zones are fixed there)."""
    try:
        dt = _DT_EPOCH + timedelta(microseconds=ts)
    except OverflowError:
        return _DT_MIN if ts < 0 else _DT_MAX
    return min(max(dt, _DT_MIN), _DT_MAX)


_ABBREVIATIONS = {
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "zulu": 0,
    "ut": 0,
    "est": -5 * 3600,
    "edt": -4 * 3600,
    "cst": -6 * 3600,
    "cdt": -5 * 3600,
    "mst": -7 * 3600,
    "mdt": -6 * 3600,
    "pst": -8 * 3600,
    "pdt": -7 * 3600,
    "cet": 3600,
    "cest": 2 * 3600,
    "eet": 2 * 3600,
    "eest": 3 * 3600,
    "bst": 3600,
    "jst": 9 * 3600,
    "ist": 2 * 3600,  # PostgreSQL's default abbreviation set: Israel
}


@lru_cache(maxsize=128)
def zone(name: str | None) -> Zone:
    """The `Zone` of a TimeZone setting (None or unknown-but-validated names: UTC)."""
    if name is None:
        return UTC
    found = find_zone(name)
    return found if found is not None else UTC


def find_zone(name: str) -> Zone | None:
    """A zone by name or offset ('Europe/Paris', 'UTC', '+05:30', 'EST'), or None."""
    key = name.strip()
    lowered = key.lower()
    if lowered in _ABBREVIATIONS and "/" not in key:
        return Zone(key.upper() if lowered != "utc" else "UTC", None, _ABBREVIATIONS[lowered])
    offset = _parse_offset(key)
    if offset is not None:
        # A numeric AT TIME ZONE is POSIX-style: "+05" is five hours WEST.
        return Zone(key, None, -offset)
    posix = _POSIX_RE.fullmatch(key)
    if posix is not None:  # "<+05>-05", "UTC+5": POSIX, offsets counted westwards
        west = _parse_offset(posix.group(2) if posix.group(2)[0] in "+-" else "+" + posix.group(2))
        if west is not None:
            return Zone(key, None, -west)
    try:
        info = ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError, OSError):
        for candidate in _zone_names_lower().get(lowered, ()):
            return Zone(candidate, ZoneInfo(candidate), None)
        return None
    return Zone(key, info, None)


@lru_cache(maxsize=1)
def _zone_names_lower() -> dict[str, tuple[str, ...]]:
    import zoneinfo

    names: dict[str, list[str]] = {}
    for n in zoneinfo.available_timezones():
        names.setdefault(n.lower(), []).append(n)
    return {k: tuple(v) for k, v in names.items()}


_OFFSET_RE = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")
_POSIX_RE = re.compile(r"(<[^>]*>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{2})?)")


def setting_zone_name(value: str) -> str | None:
    """The canonical TimeZone setting for `value`, or None if it names no zone.

    A bare number or offset sets an ISO offset (east of UTC), which PostgreSQL
    shows in POSIX form: SET TIME ZONE -3 shows <-03>+03."""
    text = value.strip()
    plain = re.fullmatch(r"([+-]?)(\d{1,2})(?::(\d{2}))?", text)
    if plain is not None:
        sign = "-" if plain.group(1) == "-" else "+"
        hours = f"{int(plain.group(2)):02d}" + (f":{plain.group(3)}" if plain.group(3) else "")
        opposite = "+" if sign == "-" else "-"
        return f"<{sign}{hours}>{opposite}{hours}"
    found = find_zone(text)
    return found.name if found is not None else None


def _parse_offset(text: str) -> int | None:
    m = _OFFSET_RE.fullmatch(text)
    if m is None:
        if re.fullmatch(r"\d{1,2}", text):  # SET TIME ZONE 5 (hours east, as an ISO offset)
            return int(text) * 3600
        return None
    seconds = int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60 + int(m.group(4) or 0)
    return -seconds if m.group(1) == "-" else seconds


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or secs:
        text += f":{minutes:02d}"
    if secs:
        text += f":{secs:02d}"
    return text


UTC = Zone("UTC", None, 0)


# ---- interval -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Interval:
    """PostgreSQL's interval: months, days and microseconds, kept apart (a month is
    not a fixed number of days), compared by the span with 30-day months."""

    months: int
    days: int
    micros: int

    def span(self) -> int:
        return (self.months * 30 + self.days) * USECS_PER_DAY + self.micros

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Interval) and self.span() == other.span()

    def __hash__(self) -> int:
        return hash(self.span())

    def __lt__(self, other: Interval) -> bool:
        return self.span() < other.span()

    def __le__(self, other: Interval) -> bool:
        return self.span() <= other.span()

    def __gt__(self, other: Interval) -> bool:
        return self.span() > other.span()

    def __ge__(self, other: Interval) -> bool:
        return self.span() >= other.span()

    def __neg__(self) -> Interval:
        return Interval(-self.months, -self.days, -self.micros)

    def __keycode__(self) -> int:
        """Index keys order intervals by span, as PostgreSQL's btree does."""
        return self.span()


_INTERVAL_FIELD_BITS = {
    "year": 1 << 2,
    "month": 1 << 1,
    "day": 1 << 3,
    "hour": 1 << 10,
    "minute": 1 << 11,
    "second": 1 << 12,
}
_FULL_RANGE = 0x7FFF


def interval_typmod(typmods: tuple[int, ...]) -> int:
    """(field mask[, precision]) as the parser hands them over -> our typmod (mask << 16 | precision)."""
    mask = typmods[0]
    precision = typmods[1] if len(typmods) > 1 else 0xFFFF
    return (mask << 16) | precision


def interval_typmod_text(typmod: int) -> str:
    mask, precision = typmod >> 16, typmod & 0xFFFF
    names = [n for n, bit in _INTERVAL_FIELD_BITS.items() if mask & bit]
    text = ""
    if mask != _FULL_RANGE and names:
        text = " " + names[0] if len(names) == 1 else f" {names[0]} to {names[-1]}"
    if precision != 0xFFFF:
        text += f"({precision})"
    return text


def _lowest_field(typmod: int) -> str | None:
    if typmod < 0:
        return None
    mask = typmod >> 16
    if mask == _FULL_RANGE:
        return None
    lowest = None
    for name in ("year", "month", "day", "hour", "minute", "second"):
        if mask & _INTERVAL_FIELD_BITS[name]:
            lowest = name
    return lowest


def apply_interval_typmod(value: Interval, typmod: int) -> Interval:
    """interval YEAR / DAY TO HOUR / (p): drop the fields below the lowest one kept."""
    lowest = _lowest_field(typmod)
    months, days, micros = value.months, value.days, value.micros
    if lowest == "year":
        return Interval(int(months / 12) * 12, 0, 0)
    if lowest == "month":
        return Interval(months, 0, 0)
    if lowest == "day":
        return Interval(months, days, 0)
    if lowest in ("hour", "minute"):
        unit = USECS_PER_HOUR if lowest == "hour" else USECS_PER_MINUTE
        return Interval(months, days, int(micros / unit) * unit)
    precision = typmod & 0xFFFF if typmod >= 0 else 0xFFFF
    if precision < 6:
        unit = 10 ** (6 - precision)
        micros = _round_half_away(micros / unit) * unit
        return Interval(months, days, micros)
    return value


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


# ---- input --------------------------------------------------------------------

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_WEEKDAYS = {
    "sun", "sunday", "mon", "monday", "tue", "tues", "tuesday", "wed", "wednesday",
    "thu", "thur", "thurs", "thursday", "fri", "friday", "sat", "saturday",
}  # fmt: skip
_TIME_RE = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d*))?)?")
_TOKEN_RE = re.compile(r"[a-z][a-z_/]*[a-z]|[a-z]|[+-]\d[\d:]*|\d[\d.:/-]*[\d]|\d|[a-z\d./+-]+")


@dataclass(slots=True)
class _Fields:
    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int = 0
    minute: int = 0
    micros: int = 0  # seconds and fraction
    zone_offset: int | None = None  # seconds east, when the text names a zone
    zone: Zone | None = None
    bc: bool = False
    has_time: bool = False
    two_digit_year: bool = False


class _BadSyntax(Exception):
    pass


class _FieldOverflow(Exception):
    """A field beyond its range (minutes past 59): 22015, not a syntax error."""


class _OutOfRange(Exception):
    def __init__(self, hint: str | None = None) -> None:
        super().__init__(hint)
        self.hint = hint


def _type_word(t: T.SqlType) -> str:
    return {
        T.TIMESTAMP.oid: "timestamp",
        T.TIMESTAMPTZ.oid: "timestamp with time zone",
        T.TIME.oid: "time",
        T.DATE.oid: "date",
    }[t.oid]


def _syntax(t: T.SqlType, text: str) -> QuorumError:
    return InvalidDatetimeFormat(f'invalid input syntax for type {_type_word(t)}: "{text}"')


def _frac_micros(frac: str | None) -> int:
    if not frac:
        return 0
    digits = (frac + "000000")[:7]
    micros = int(digits[:6])
    return micros + (1 if digits[6] >= "5" else 0)


def _parse_fields(t: T.SqlType, text: str) -> _Fields:
    """Split datetime text into fields (PostgreSQL's ParseDateTime + DecodeDateTime, simplified)."""
    s = text.strip().lower()
    f = _Fields()
    # ISO 8601: 2020-01-02T03:04:05
    s = re.sub(r"(\d)t(\d)", r"\1 \2", s)
    s = s.replace(",", " ")
    numbers: list[str] = []
    tokens = s.split()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok in ("am", "a.m.", "pm", "p.m."):
            if not f.has_time or f.hour > 12:
                raise _BadSyntax
            if tok.startswith("p") and f.hour < 12:
                f.hour += 12
            elif tok.startswith("a") and f.hour == 12:
                f.hour = 0
            continue
        if tok in ("bc", "ad"):
            f.bc = tok == "bc"
            continue
        if tok in _WEEKDAYS:
            continue
        if tok in _MONTHS and f.month is None:
            f.month = _MONTHS[tok]
            continue
        m = _TIME_RE.match(tok)
        if m is not None and ":" in tok:
            if f.has_time:
                raise _BadSyntax
            f.has_time = True
            f.hour, f.minute = int(m.group(1)), int(m.group(2))
            f.micros = int(m.group(3) or 0) * USECS_PER_SEC + _frac_micros(m.group(4))
            rest = tok[m.end() :]
            if rest:
                _take_zone(f, rest)
            continue
        if re.fullmatch(r"\d+[-/.][a-z\d]+[-/.][a-z\d]+", tok):
            _take_date(f, re.split(r"[-/.]", tok))
            continue
        if re.fullmatch(r"\d{8}", tok) and f.year is None:
            f.year, f.month, f.day = int(tok[:4]), int(tok[4:6]), int(tok[6:])
            continue
        if tok.isdigit():
            numbers.append(tok)
            continue
        if re.fullmatch(r"\d+-[a-z]+", tok) or re.fullmatch(r"[a-z]+-\d+(-\d+)?", tok):
            _take_date(f, tok.split("-"))
            continue
        if tok[0] in "+-" or tok[0].isalpha():
            _take_zone(f, tok)
            continue
        raise _BadSyntax
    _assign_numbers(f, numbers)
    return f


def _take_zone(f: _Fields, text: str) -> None:
    if f.zone_offset is not None or f.zone is not None:
        raise _BadSyntax
    offset = _parse_offset(text)
    if offset is not None and text[0] in "+-":
        f.zone_offset = offset
        return
    found = find_zone(text)
    if found is None:
        raise _BadSyntax
    f.zone = found


def _take_date(f: _Fields, parts: list[str]) -> None:
    if f.year is not None or f.day is not None:
        raise _BadSyntax
    words = [p for p in parts if not p.isdigit()]
    if len(words) > 1 or any(w not in _MONTHS for w in words):
        raise _BadSyntax
    if len(parts) == 2:  # 8-jan / jan-8
        if words and parts[0] in _MONTHS:
            f.month, f.day = _MONTHS[parts[0]], int(parts[1])
        elif words:
            f.day, f.month = int(parts[0]), _MONTHS[parts[1]]
        else:
            raise _BadSyntax
        return
    a, b, c = parts
    if words:
        if a in _MONTHS:  # jan-08-1999
            f.month, f.day, year = _MONTHS[a], int(b), c
        elif b in _MONTHS:
            if len(a) >= 3:  # 1999-jan-08
                year, f.month, f.day = a, _MONTHS[b], int(c)
            else:  # 08-jan-1999
                f.day, f.month, year = int(a), _MONTHS[b], c
        else:
            raise _BadSyntax
    elif len(a) >= 3:  # ISO year first
        year, f.month, f.day = a, int(b), int(c)
    else:  # DateStyle MDY
        f.month, f.day, year = int(a), int(b), c
        if f.month > 12:
            raise _OutOfRange('Perhaps you need a different "datestyle" setting.')
    f.year = int(year)
    f.two_digit_year = len(year) <= 2


def _assign_numbers(f: _Fields, numbers: list[str]) -> None:
    for n in numbers:
        value = int(n)
        if f.month is not None and f.day is None and len(n) <= 2:
            f.day = value
        elif f.year is None and (len(n) >= 3 or f.day is not None):
            f.year = value
            f.two_digit_year = len(n) <= 2
        else:
            raise _BadSyntax


def _resolve_year(f: _Fields) -> int:
    year = f.year
    assert year is not None
    if f.two_digit_year and not f.bc:
        year += 2000 if year < 70 else 1900
    if f.bc:
        if year <= 0:
            raise _OutOfRange
        year = 1 - year
    elif year == 0:
        raise _OutOfRange
    return year


def _date_days(f: _Fields) -> int:
    if f.year is None or f.month is None or f.day is None:
        raise _BadSyntax
    year = _resolve_year(f)
    if not 1 <= f.month <= 12:
        raise _OutOfRange('Perhaps you need a different "datestyle" setting.')
    if not 1 <= f.day <= days_in_month(year, f.month):
        raise _OutOfRange
    return days_from_civil(year, f.month, f.day)


def _time_micros(f: _Fields) -> int:
    if not (0 <= f.hour <= 24 and 0 <= f.minute <= 59 and 0 <= f.micros <= 60 * USECS_PER_SEC):
        raise _OutOfRange
    total = f.hour * USECS_PER_HOUR + f.minute * USECS_PER_MINUTE + f.micros
    if total > USECS_PER_DAY:
        raise _OutOfRange
    return total


_SPECIAL_TS = {"infinity": TS_POS_INF, "+infinity": TS_POS_INF, "-infinity": TS_NEG_INF}
_RELATIVE = ("now", "today", "tomorrow", "yesterday")


def _special(t: T.SqlType, word: str) -> int | None:
    if word in _RELATIVE:
        raise FeatureNotSupported(
            f"the special value '{word}' is not supported",
            hint="Use now(), current_date or current_timestamp instead.",
        )
    if word == "epoch":
        return -_UNIX_EPOCH_DAYS * (1 if t.oid == T.DATE.oid else USECS_PER_DAY)
    if word in _SPECIAL_TS:
        if t.oid == T.DATE.oid:
            return DATE_POS_INF if _SPECIAL_TS[word] > 0 else DATE_NEG_INF
        return _SPECIAL_TS[word]
    return None


def _out_of_range(text: str, hint: str | None) -> QuorumError:
    return DatetimeFieldOverflow(f'date/time field value out of range: "{text}"', hint=hint)


def parse_date(t: T.SqlType, text: str) -> int:
    word = text.strip().lower()
    special = _special(t, word)
    if special is not None:
        return special
    try:
        f = _parse_fields(t, text)
        days = _date_days(f)
        if f.has_time:
            _time_micros(f)
    except _BadSyntax:
        raise _syntax(t, text) from None
    except _OutOfRange as exc:
        raise _out_of_range(text, exc.hint) from None
    return check_date(days, text)


def parse_timestamp(t: T.SqlType, text: str, zone_: Zone | None = None) -> int:
    """timestamp or timestamptz input; a timestamptz without a zone in the text is
    local time in `zone_` (the session's TimeZone)."""
    word = text.strip().lower()
    special = _special(t, word)
    if special is not None:
        return special
    try:
        f = _parse_fields(t, text)
        local = _date_days(f) * USECS_PER_DAY + _time_micros(f)
    except _BadSyntax:
        raise _syntax(t, text) from None
    except _OutOfRange as exc:
        raise _out_of_range(text, exc.hint) from None
    if t.oid == T.TIMESTAMPTZ.oid:
        if f.zone_offset is not None:
            local -= f.zone_offset * USECS_PER_SEC
        elif f.zone is not None:
            local = f.zone.to_utc(local)
        else:
            local = (zone_ or UTC).to_utc(local)
    result = check_timestamp(local, text)
    if t.typmod >= 0:
        result = round_timestamp(result, t.typmod)
    return result


def round_timestamp(ts: int, precision: int) -> int:
    if precision >= 6 or ts in (TS_NEG_INF, TS_POS_INF):
        return ts
    unit = 10 ** (6 - precision)
    return _round_half_away(ts / unit) * unit if ts < 0 else (ts + unit // 2) // unit * unit


def parse_time(t: T.SqlType, text: str) -> int:
    word = text.strip().lower()
    if word == "allballs":
        return 0
    try:
        f = _parse_fields(t, text)
        if not f.has_time:
            raise _BadSyntax
        micros = _time_micros(f)
    except _BadSyntax:
        raise _syntax(t, text) from None
    except _OutOfRange as exc:
        raise _out_of_range(text, exc.hint) from None
    if t.typmod >= 0:
        micros = round_timestamp(micros, t.typmod)
    return micros


_UNITS: dict[str, tuple[str, int]] = {}
for _names, _unit in (
    (("microsecond", "microseconds", "us", "usec", "usecs", "useconds"), ("us", 1)),
    (("millisecond", "milliseconds", "ms", "msec", "msecs", "mseconds"), ("us", 1000)),
    (("second", "seconds", "s", "sec", "secs"), ("us", USECS_PER_SEC)),
    (("minute", "minutes", "m", "min", "mins"), ("us", USECS_PER_MINUTE)),
    (("hour", "hours", "h", "hr", "hrs"), ("us", USECS_PER_HOUR)),
    (("day", "days", "d"), ("day", 1)),
    (("week", "weeks", "w"), ("day", 7)),
    (("month", "months", "mon", "mons"), ("month", 1)),
    (("year", "years", "y", "yr", "yrs"), ("month", 12)),
    (("decade", "decades"), ("month", 120)),
    (("century", "centuries"), ("month", 1200)),
    (("millennium", "millennia", "millenniums"), ("month", 12000)),
):
    for _name in _names:
        _UNITS[_name] = _unit

_ISO_INTERVAL_RE = re.compile(
    r"p(?:(-?[\d.]+)y)?(?:(-?[\d.]+)m)?(?:(-?[\d.]+)w)?(?:(-?[\d.]+)d)?"
    r"(?:t(?:(-?[\d.]+)h)?(?:(-?[\d.]+)m)?(?:(-?[\d.]+)s)?)?"
)


class _IntervalBuilder:
    """Accumulates fields; fractions cascade down (1.5 mon = 1 mon 15 days) as in PostgreSQL."""

    def __init__(self) -> None:
        self.months = 0
        self.days = 0.0
        self.micros = 0.0

    def add(self, value: float, unit: tuple[str, int]) -> None:
        kind, factor = unit
        if kind == "month":
            total = value * factor
            whole = math.trunc(total)
            self.months += whole
            self.days += (total - whole) * 30
        elif kind == "day":
            total = value * factor
            whole = math.trunc(total)
            self.days += whole
            self.micros += (total - whole) * USECS_PER_DAY
        else:
            self.micros += value * factor

    def result(self) -> Interval:
        whole_days = math.trunc(self.days)
        micros = self.micros + (self.days - whole_days) * USECS_PER_DAY
        return Interval(self.months, whole_days, _round_half_away(micros))


def parse_interval(t: T.SqlType, text: str) -> Interval:
    s = text.strip().lower()
    try:
        value = _parse_interval_text(s, _lowest_field(t.typmod))
    except _FieldOverflow:
        raise IntervalFieldOverflow(f'interval field value out of range: "{text}"') from None
    except (_BadSyntax, ValueError):
        raise InvalidDatetimeFormat(f'invalid input syntax for type interval: "{text}"') from None
    if not (-(1 << 31) <= value.months < (1 << 31) and -(1 << 31) <= value.days < (1 << 31)):
        raise IntervalFieldOverflow(f'interval field value out of range: "{text}"')
    if not -(1 << 63) <= value.micros < (1 << 63):
        raise IntervalFieldOverflow(f'interval field value out of range: "{text}"')
    if t.typmod >= 0:
        value = apply_interval_typmod(value, t.typmod)
    return value


def _parse_interval_text(s: str, lowest: str | None) -> Interval:
    if s.startswith("p"):
        m = _ISO_INTERVAL_RE.fullmatch(s)
        if m is None or s in ("p", "pt"):
            raise _BadSyntax
        b = _IntervalBuilder()
        units = ("year", "month", "week", "day", "hour", "minute", "second")
        for value, unit in zip(m.groups(), units, strict=True):
            if value is not None:
                b.add(float(value), _UNITS[unit])
        return b.result()
    if s.startswith("@"):
        s = s[1:]
    tokens = s.replace(",", " ").split()
    ago = bool(tokens) and tokens[-1] == "ago"
    if ago:
        tokens.pop()
    if not tokens:
        raise _BadSyntax
    b = _IntervalBuilder()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if ":" in tok:
            b.add(_interval_time(tok, lowest), ("us", 1))
            continue
        m = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+))([a-z]*)", tok)
        if m is None:
            raise _BadSyntax
        number = float(m.group(1))
        word: str = m.group(2)
        if not word and i < len(tokens) and tokens[i] in _UNITS:
            word = tokens[i]
            i += 1
        found = _UNITS.get(word) if word else _UNITS[lowest or "second"]
        if found is None:
            raise _BadSyntax
        b.add(number, found)
    result = b.result()
    return -result if ago else result


def _interval_time(tok: str, lowest: str | None) -> float:
    sign = -1 if tok.startswith("-") else 1
    parts = tok.lstrip("+-").split(":")
    if len(parts) > 3 or not all(re.fullmatch(r"\d+(\.\d*)?", p) for p in parts):
        raise _BadSyntax
    if len(parts) == 2 and lowest in ("minute", "second") and "." in parts[1]:
        minutes, seconds = float(parts[0]), float(parts[1])  # MINUTE TO SECOND: mm:ss
        return sign * (minutes * USECS_PER_MINUTE + seconds * USECS_PER_SEC)
    hours = float(parts[0])
    minutes = float(parts[1])
    seconds = float(parts[2]) if len(parts) == 3 else 0.0
    if minutes >= 60 or seconds >= 61:  # PostgreSQL's DecodeTime: a leap second passes
        raise _FieldOverflow
    return sign * (hours * USECS_PER_HOUR + minutes * USECS_PER_MINUTE + seconds * USECS_PER_SEC)


# ---- output -------------------------------------------------------------------


def _year_text(year: int) -> tuple[str, str]:
    """(zero-padded year, " BC" or "") of an astronomical year."""
    if year <= 0:
        return f"{1 - year:04d}", " BC"
    return f"{year:04d}", ""


def _fraction(micros: int) -> str:
    return f".{micros:06d}".rstrip("0") if micros else ""


def format_date(days: int) -> str:
    if days == DATE_POS_INF:
        return "infinity"
    if days == DATE_NEG_INF:
        return "-infinity"
    y, m, d = civil_from_days(days)
    year, era = _year_text(y)
    return f"{year}-{m:02d}-{d:02d}{era}"


def format_time(micros: int) -> str:
    hour, rest = divmod(micros, USECS_PER_HOUR)
    minute, rest = divmod(rest, USECS_PER_MINUTE)
    second, frac = divmod(rest, USECS_PER_SEC)
    return f"{hour:02d}:{minute:02d}:{second:02d}{_fraction(frac)}"


def format_timestamp(ts: int) -> str:
    if ts == TS_POS_INF:
        return "infinity"
    if ts == TS_NEG_INF:
        return "-infinity"
    y, m, d, hour, minute, second, micro = split_timestamp(ts)
    year, era = _year_text(y)
    return f"{year}-{m:02d}-{d:02d} {hour:02d}:{minute:02d}:{second:02d}{_fraction(micro)}{era}"


def format_timestamptz(ts: int, zone_name: str | None = None) -> str:
    if ts in (TS_POS_INF, TS_NEG_INF):
        return format_timestamp(ts)
    z = zone(zone_name)
    offset = z.offset(ts)
    text = format_timestamp(ts + offset * USECS_PER_SEC)
    if text.endswith(" BC"):
        return text[:-3] + _offset_text(offset) + " BC"
    return text + _offset_text(offset)


def format_interval(value: Interval) -> str:
    """IntervalStyle postgres: '1 year 2 mons -3 days +04:05:06.7'."""
    months, days, micros = value.months, value.days, value.micros
    year, mon = int(months / 12), months - int(months / 12) * 12
    parts: list[str] = []
    is_before = False
    for amount, unit in ((year, "year"), (mon, "mon"), (days, "day")):
        if amount == 0:
            continue
        sign = "+" if is_before and amount > 0 else ""
        parts.append(f"{sign}{amount} {unit}{'s' if amount != 1 else ''}")
        is_before = amount < 0
    if not parts or micros != 0:
        minus = micros < 0
        a = abs(micros)
        hour, rest = divmod(a, USECS_PER_HOUR)
        minute, rest = divmod(rest, USECS_PER_MINUTE)
        second, frac = divmod(rest, USECS_PER_SEC)
        sign = "-" if minus else ("+" if is_before else "")
        parts.append(f"{sign}{hour:02d}:{minute:02d}:{second:02d}{_fraction(frac)}")
    return " ".join(parts)
