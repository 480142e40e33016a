"""to_char / to_date / to_timestamp / to_number: PostgreSQL's template formatting.

Date/time templates support the common patterns: HH, HH12, HH24, MI, SS,
MS, US, SSSS, AM/PM (and a.m./p.m.), YYYY, YYY, YY, Y, IYYY, Y,YYY, BC/AD,
MONTH/Month/month, MON/Mon/mon, MM, DAY/Day/day, DY/Dy/dy, DDD, DD, D, ID,
IW, WW, W, CC, Q, J, TZ/tz, OF, quoted text and the FM (fill mode) and
TH/th (ordinal) modifiers. Number templates support 9, 0, ``.``, D, ``,``,
G, S, MI, PL, SG, FM. Anything else is copied through, as PostgreSQL does
with characters that are not patterns.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from quorumdb.storage.errors import InvalidTextRepresentation, QuorumError

from . import types as T
from . import types_datetime as DT
from .functions import register_function as fn
from .types_datetime import USECS_PER_DAY, USECS_PER_SEC, Interval, Zone

__all__ = ["format_datetime", "format_number"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_PATTERNS = sorted(
    [
        "HH24",
        "HH12",
        "HH",
        "MI",
        "SSSSS",
        "SSSS",
        "SS",
        "MS",
        "US",
        "AM",
        "PM",
        "am",
        "pm",
        "A.M.",
        "P.M.",
        "a.m.",
        "p.m.",
        "Y,YYY",
        "YYYY",
        "YYY",
        "YY",
        "Y",
        "IYYY",
        "IYY",
        "IY",
        "BC",
        "AD",
        "bc",
        "ad",
        "B.C.",
        "A.D.",
        "MONTH",
        "Month",
        "month",
        "MON",
        "Mon",
        "mon",
        "MM",
        "DAY",
        "Day",
        "day",
        "DY",
        "Dy",
        "dy",
        "DDD",
        "DD",
        "D",
        "ID",
        "IDDD",
        "IW",
        "WW",
        "W",
        "CC",
        "Q",
        "J",
        "TZ",
        "tz",
        "OF",
        "I",
    ],  # fmt: skip
    key=len,
    reverse=True,
)


def _ordinal(n: int, upper: bool) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return suffix.upper() if upper else suffix


def format_datetime(ts: int, template: str, offset: int | None, abbrev: str | None,
                    is_interval: bool = False) -> str:  # fmt: skip
    """to_char of a local timestamp (microseconds since 2000-01-01)."""
    y, m, d, hh, mi, ss, us = DT.split_timestamp(ts)
    days = ts // USECS_PER_DAY
    year = y if y > 0 else 1 - y
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        if template[i] == '"':
            end = template.find('"', i + 1)
            end = n if end < 0 else end
            out.append(template[i + 1 : end].replace('\\"', '"'))
            i = end + 1
            continue
        if template[i] == "\\" and i + 1 < n:
            out.append(template[i + 1])
            i += 2
            continue
        fill = template.startswith("FM", i)
        if fill:
            i += 2
        for pattern in _PATTERNS:
            if template.startswith(pattern, i):
                break
        else:
            if not fill:
                out.append(template[i])
                i += 1
            continue
        i += len(pattern)
        ordinal = None
        if template.startswith("TH", i) or template.startswith("th", i):
            ordinal = template[i] == "T"
            i += 2
        number: int | None = None
        width = 0
        text: str | None = None
        if pattern in ("HH", "HH12"):
            number, width = (hh % 12) or 12, 2
        elif pattern == "HH24":
            number, width = hh, 2
        elif pattern == "MI":
            number, width = mi, 2
        elif pattern == "SS":
            number, width = ss, 2
        elif pattern == "MS":
            number, width = us // 1000, 3
        elif pattern == "US":
            number, width = us, 6
        elif pattern in ("SSSS", "SSSSS"):
            number = hh * 3600 + mi * 60 + ss
        elif pattern in ("AM", "PM", "am", "pm"):
            text = ("AM" if hh < 12 else "PM") if pattern.isupper() else ("am" if hh < 12 else "pm")
        elif pattern in ("A.M.", "P.M.", "a.m.", "p.m."):
            text = "A.M." if hh < 12 else "P.M."
            text = text if pattern.isupper() else text.lower()
        elif pattern == "Y,YYY":
            text = f"{year // 1000},{year % 1000:03d}"
        elif pattern in ("YYYY", "IYYY"):
            value = year if pattern == "YYYY" else _iso_year(days)
            number, width = value, 4
        elif pattern in ("YYY", "IYY"):
            number, width = year % 1000, 3
        elif pattern in ("YY", "IY"):
            number, width = year % 100, 2
        elif pattern in ("Y", "I"):
            number, width = year % 10, 1
        elif pattern in ("BC", "AD", "bc", "ad"):
            text = "BC" if y <= 0 else "AD"
            text = text if pattern.isupper() else text.lower()
        elif pattern in ("B.C.", "A.D."):
            text = "B.C." if y <= 0 else "A.D."
        elif pattern in ("MONTH", "Month", "month", "MON", "Mon", "mon"):
            name = _MONTHS[m - 1]
            text = _cased(name if len(pattern) > 3 else name[:3], pattern)
            if len(pattern) > 3 and not fill:
                text = text.ljust(9)
        elif pattern == "MM":
            number, width = m, 2
        elif pattern in ("DAY", "Day", "day", "DY", "Dy", "dy"):
            name = _DAYS[(days + 6) % 7]
            text = _cased(name if len(pattern) == 3 else name[:3], pattern)
            if len(pattern) == 3 and not fill:
                text = text.ljust(9)
        elif pattern == "DDD":
            number, width = days - DT.days_from_civil(y, 1, 1) + 1, 3
        elif pattern == "IDDD":
            number, width = (days + 5) % 7 + 1 + 7 * (_iso_week(days) - 1), 3
        elif pattern == "DD":
            number, width = d, 2
        elif pattern == "D":
            number = (days + 6) % 7 + 1
        elif pattern == "ID":
            number = (days + 5) % 7 + 1
        elif pattern == "IW":
            number, width = _iso_week(days), 2
        elif pattern == "WW":
            number, width = (days - DT.days_from_civil(y, 1, 1)) // 7 + 1, 2
        elif pattern == "W":
            number = (d - 1) // 7 + 1
        elif pattern == "CC":
            number, width = (year + 99) // 100 if y > 0 else -((year + 99) // 100), 2
        elif pattern == "Q":
            number = (m - 1) // 3 + 1
        elif pattern == "J":
            number = days + 2451545
        elif pattern in ("TZ", "tz"):
            text = abbrev or ""
            text = text if pattern == "TZ" else text.lower()
        elif pattern == "OF":
            off = offset or 0
            sign = "-" if off < 0 else "+"
            hours, rest = divmod(abs(off), 3600)
            text = f"{sign}{hours:02d}" + (f":{rest // 60:02d}" if rest else "")
        if number is not None:
            text = str(number) if fill else (f"{number:0{width}d}" if number >= 0 else str(number))
            if ordinal is not None:
                text += _ordinal(number, ordinal)
        out.append(text or "")
    return "".join(out)


def _cased(name: str, pattern: str) -> str:
    if pattern.isupper():
        return name.upper()
    if pattern.islower():
        return name.lower()
    return name


def _iso_year(days: int) -> int:
    from .functions_datetime import _iso_week as iso

    return iso(days)[0]


def _iso_week(days: int) -> int:
    from .functions_datetime import _iso_week as iso

    return iso(days)[1]


def _char_timestamp(ts: int, template: str) -> str | None:
    if ts in (DT.TS_NEG_INF, DT.TS_POS_INF):
        return None
    return format_datetime(ts, template, 0, "")


def _char_timestamptz(zone: Zone, ts: int, template: str) -> str | None:
    if ts in (DT.TS_NEG_INF, DT.TS_POS_INF):
        return None
    return format_datetime(zone.to_local(ts), template, zone.offset(ts), zone.abbreviation(ts))


def _char_interval(span: Interval, template: str) -> str:
    micros = span.micros
    ts = (span.months // 12 * 365 + span.days) * USECS_PER_DAY + micros
    return format_datetime(ts, template, None, None, is_interval=True)


# ---- numbers ----------------------------------------------------------------------------


def format_number(value: Any, template: str) -> str:
    """to_char(number, template) for the common digit patterns (see the module docstring)."""
    fill = "FM" in template.upper()
    pattern = re.sub("(?i)FM", "", template)
    tokens = re.findall(r"(?i)MI|PL|SG|.", pattern)
    upper = [t.upper() for t in tokens]
    point = next((k for k, t in enumerate(upper) if t in (".", "D")), None)
    int_slots = [k for k, t in enumerate(upper) if t in ("9", "0") and (point is None or k < point)]
    frac_slots = [
        k for k, t in enumerate(upper) if t in ("9", "0") and point is not None and k > point
    ]
    zero_start = next((k for k in int_slots if upper[k] == "0"), None)
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    negative = number < 0
    rounded = abs(number).quantize(Decimal(1).scaleb(-len(frac_slots)), rounding=ROUND_HALF_UP)
    int_text, _, frac_text = f"{rounded:f}".partition(".")
    int_text = int_text.lstrip("0")
    frac_text = frac_text.ljust(len(frac_slots), "0")
    overflow = len(int_text) > len(int_slots)
    if not int_text and point is None and int_slots:
        int_text = "0"
    out: list[str] = []
    printed = False
    lead = len(int_slots) - len(int_text)
    slot = 0
    frac_index = 0
    explicit_sign = any(t in ("S", "MI", "PL", "SG") for t in upper)
    for k, t in enumerate(upper):
        if t in ("9", "0") and (point is None or k < point):
            if overflow:
                ch = "#"
            elif slot < lead:
                ch = "0" if zero_start is not None and k >= zero_start else " "
            else:
                ch = int_text[slot - lead]
            slot += 1
            printed = printed or ch != " "
            out.append(ch)
        elif t in ("9", "0"):
            out.append("#" if overflow else frac_text[frac_index])
            frac_index += 1
        elif t in (".", "D"):
            out.append(".")
        elif t in (",", "G"):
            out.append("," if printed else ("" if fill else " "))
        elif t == "MI":
            out.append("-" if negative else ("" if fill else " "))
        elif t == "PL":
            out.append("+" if not negative else " ")
        elif t == "SG":
            out.append("-" if negative else "+")
        elif t == "S":
            out.append("\x00")
        else:
            out.append(tokens[k])
    body = "".join(out)
    sign = "-" if negative else ("+" if "S" in upper else " ")
    if "\x00" in body:
        if body.startswith("\x00"):
            body = body[1:]
            stripped = body.lstrip(" ")
            body = body[: len(body) - len(stripped)] + sign + stripped
        else:
            body = body.replace("\x00", sign)
    elif not explicit_sign:
        stripped = body.lstrip(" ")
        pad = body[: len(body) - len(stripped)]
        body = (pad + "-" + stripped) if negative else (" " + body)
    if fill:
        body = body.strip(" ")
        if point is not None:
            keep = max((k for k in frac_slots if upper[k] == "0"), default=None)
            head, dot, tail = body.partition(".")
            min_len = len([k for k in frac_slots if keep is not None and k <= keep])
            while len(tail) > min_len and tail.endswith("0"):
                tail = tail[:-1]
            body = head + dot + tail
    return body


fn("to_char", (T.TIMESTAMP, T.TEXT), T.TEXT, _char_timestamp, volatility="s")
fn("to_char", (T.TIMESTAMPTZ, T.TEXT), T.TEXT, _char_timestamptz, context="zone", volatility="s")
fn("to_char", (T.INTERVAL, T.TEXT), T.TEXT, _char_interval, volatility="s")
for _t in (T.INT4, T.INT8, T.FLOAT4, T.FLOAT8, T.NUMERIC):
    fn("to_char", (_t, T.TEXT), T.TEXT, format_number, volatility="s")

# ---- parsing ---------------------------------------------------------------------------


def _parse_template(text: str, template: str) -> tuple[int, int, int, int]:
    """(days, microseconds of day, zone offset seconds or None as -1, has_zone)."""
    fields = {"year": 2000 if False else None, "month": 1, "day": 1, "hour": 0, "minute": 0,
              "second": 0, "micros": 0, "pm": None}  # fmt: skip
    i = 0
    j = 0
    n = len(template)
    while i < n:
        matched = False
        for pattern in _PATTERNS:
            if template.startswith(pattern, i):
                matched = True
                break
        if template.startswith("FM", i):
            i += 2
            continue
        if not matched:
            if j < len(text) and (text[j] == template[i] or template[i] == " "):
                j += 1
            i += 1
            continue
        i += len(pattern)
        while j < len(text) and text[j] == " " and pattern not in ("MONTH", "Month", "month"):
            j += 1
        if pattern in ("YYYY", "HH24", "HH", "HH12", "MI", "SS", "MM", "DD", "MS", "US", "YY", "DDD", "IYYY"):  # fmt: skip
            width = {"YYYY": 4, "IYYY": 4, "DDD": 3, "MS": 3, "US": 6}.get(pattern, 2)
            m = re.compile(rf"\d{{1,{width}}}" if pattern != "YYYY" else r"\d+").match(text, j)
            if m is None:
                raise InvalidTextRepresentation(
                    f'invalid value "{text[j : j + width]}" for "{pattern}"',
                    detail="Value must be an integer.",
                )
            value = int(m.group(0))
            j = m.end()
            key = {"YYYY": "year", "IYYY": "year", "YY": "year", "HH24": "hour", "HH": "hour",
                   "HH12": "hour", "MI": "minute", "SS": "second", "MM": "month", "DD": "day",
                   "MS": "millis", "US": "micros", "DDD": "doy"}[pattern]  # fmt: skip
            if pattern == "YY":
                value += 2000 if value < 70 else 1900
            if key == "millis":
                fields["micros"] = value * 1000
            else:
                fields[key] = value
        elif pattern.upper() in ("MON", "MONTH"):
            for k, name in enumerate(_MONTHS):
                probe = name if pattern.upper() == "MONTH" else name[:3]
                if text[j : j + len(probe)].lower() == probe.lower():
                    fields["month"] = k + 1
                    j += len(probe)
                    break
            else:
                raise InvalidTextRepresentation(
                    f'invalid value "{text[j : j + 3]}" for "{pattern}"',
                    detail="The given value did not match any of the allowed values for this field.",
                )
        elif pattern.upper() in ("AM", "PM", "A.M.", "P.M."):
            word = text[j : j + len(pattern)].upper()
            fields["pm"] = word.startswith("P")
            j += len(pattern)
        else:
            j += len(pattern)
    year = fields["year"] if fields["year"] is not None else 1
    hour = fields["hour"] or 0
    if fields["pm"] is not None:
        hour = hour % 12 + (12 if fields["pm"] else 0)
    month, day = fields["month"], fields["day"]
    if not 1 <= month <= 12 or not 1 <= day <= DT.days_in_month(year, month):  # type: ignore[operator,arg-type]
        raise QuorumError(f'date/time field value out of range: "{text}"', sqlstate="22008")
    days = DT.days_from_civil(year, month, day)  # type: ignore[arg-type]
    if "doy" in fields:
        days = DT.days_from_civil(year, 1, 1) + fields["doy"] - 1  # type: ignore[operator,arg-type]
    seconds: int = hour * 3600 + fields["minute"] * 60 + fields["second"]  # type: ignore[operator]
    micros = seconds * USECS_PER_SEC + (fields["micros"] or 0)
    return days, micros, -1, 0


def _to_date(text: str, template: str) -> int:
    days, _, _, _ = _parse_template(text, template)
    return DT.check_date(days)


def _to_timestamp(zone: Zone, text: str, template: str) -> int:
    days, micros, _, _ = _parse_template(text, template)
    return DT.check_timestamp(zone.to_utc(days * USECS_PER_DAY + micros))


def _to_number(text: str, template: str) -> Decimal:
    cleaned = "".join(c for c in text if c.isdigit() or c in ".-")
    if not cleaned or cleaned in ("-", "."):
        raise InvalidTextRepresentation('invalid input syntax for type numeric: " "')
    digits_after = 0
    if "." in template or "D" in template.upper():
        after = re.split(r"[.D]", template.upper(), maxsplit=1)[1]
        digits_after = sum(1 for c in after if c in "90")
    value = Decimal(cleaned)
    return value.quantize(Decimal(1).scaleb(-digits_after), rounding=ROUND_HALF_UP)


fn("to_date", (T.TEXT, T.TEXT), T.DATE, _to_date, volatility="s")
fn("to_timestamp", (T.TEXT, T.TEXT), T.TIMESTAMPTZ, _to_timestamp, context="zone", volatility="s")
fn("to_number", (T.TEXT, T.TEXT), T.NUMERIC, _to_number, volatility="s")
