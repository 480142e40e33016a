"""Numeric literals of a simple-protocol query as parameters (`parameterize`).

Drivers that interpolate values client-side (psycopg2, pgbench -M simple,
most ORMs' raw SQL) send the same statement again and again with other
numbers in it, so a cache keyed by the query text (sql/plancache.py) never
hits and every statement is parsed and planned afresh. `parameterize`
rewrites such a query into a template with ``$n`` in place of its numeric
literals, plus the literals' values and types, so that the session can plan
the template once, as a prepared statement with those parameter types
declared, and run it with each query's values (sql/client.py).

That is only done where a declared parameter means exactly what the literal
meant, so anything unusual leaves the query alone (None) or the literal in
the template (verbatim, so it becomes part of the cache key):

* only single SELECT, INSERT, UPDATE and DELETE statements, without
  comments, dollar quotes, ``$n`` or DISTINCT (whose ON list may be positional);
* only numbers are replaced, typed as PostgreSQL types a numeric literal:
  integer if it fits, bigint if that fits, numeric otherwise. A minus sign is
  left to apply to the parameter, except at the two magnitudes PostgreSQL's
  parser folds into a narrower type (2147483648, 9223372036854775808);
* strings stay in the template as they are (an unknown-typed literal and an
  unknown-typed parameter are not always resolved alike), and a string with
  a prefix (E'', B'', X'', U&'') or glued to a word leaves the query alone;
* once a BY was seen, a number right after BY, a comma or an opening
  parenthesis stays (``ORDER BY 1``, ``GROUP BY (1)`` mean a column);
* a number glued to a word or a dot (``1abc``, ``1..``) leaves the query alone.

Where the grammar requires a literal (type modifiers and the like), the
template does not parse or analyse; the caller then remembers it as not
parameterizable and runs such queries as they are.
"""

from __future__ import annotations

import re

from . import types as T

__all__ = ["parameterize"]

_TOKEN = re.compile(
    r"""
     (?P<ws>[\ \t\n\r\f\v]+)
    |(?P<ident>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
    |(?P<qident>"(?:[^"]|"")*")
    |(?P<string>'(?:[^']|'')*')
    |(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    |(?P<op>[-+*/<>=~!@\#%^&|`?]+|::|[(),;\[\].:])
    """,
    re.VERBOSE,
)
_GLUED = re.compile(r"[A-Za-z0-9_.$\u0080-\U0010ffff]")
_VERBS = frozenset({"select", "insert", "update", "delete"})
_INT4_MAX = 2**31 - 1
_INT8_MAX = 2**63 - 1
_FOLDED = frozenset({"2147483648", "9223372036854775808"})  # negated, one type narrower
_MAX_CHARS = 4096  # longer texts (bulk INSERTs) are not worth a template

Parameterized = tuple[str, tuple[object, ...], tuple[T.SqlType, ...]]


def parameterize(sql: str) -> Parameterized | None:
    """(template with $1.., the numbers' values, their types), or None to run `sql` as is.

    A query without a replaceable number also gives None."""
    if len(sql) > _MAX_CHARS or "$" in sql or "--" in sql or "/*" in sql:
        return None
    parts: list[str] = []
    values: list[object] = []
    types: list[T.SqlType] = []
    pos, end = 0, len(sql)
    by_seen = False
    previous = ""  # the previous significant token, lowercased
    verb_seen = False
    finished = False  # a ';' was seen: only whitespace may follow
    match = _TOKEN.match
    while pos < end:
        m = match(sql, pos)
        if m is None:
            return None
        kind, text, start = m.lastgroup, m.group(), pos
        pos = m.end()
        if kind == "ws":
            parts.append(text)
            continue
        if finished:
            return None
        if kind == "ident":
            word = text.lower()
            if not verb_seen:
                if word not in _VERBS:
                    return None
                verb_seen = True
            if word == "distinct":
                return None
            if word == "by":
                by_seen = True
            parts.append(text)
            previous = word
            continue
        if not verb_seen:
            return None
        if kind == "string":
            before = sql[start - 1] if start else ""
            if before.isalnum() or before in "_&'\"":
                return None
            parts.append(text)
            previous = "'"
            continue
        if kind == "number":
            if pos < end and _GLUED.match(sql, pos):
                return None
            if by_seen and previous in ("by", ",", "("):
                parts.append(text)  # a column position (ORDER BY 1, (1)), or so it may be
                previous = "0"
                continue
            typed = _literal_type(text)
            if typed is None:
                return None
            t, value = typed
            if previous.endswith("-") and text in _FOLDED:
                return None
            values.append(value)
            types.append(t)
            parts.append(f"${len(values)}")
            previous = "0"
            continue
        if kind == "op":
            if text == ";":
                finished = True
        parts.append(text)
        previous = text
    if not values:
        return None
    return "".join(parts), tuple(values), tuple(types)


def _literal_type(text: str) -> tuple[T.SqlType, object] | None:
    """PostgreSQL's type and value of a numeric literal (make_const's rules)."""
    if text.isascii() and text.isdigit():
        value = int(text)
        if value <= _INT4_MAX:
            return T.INT4, value
        if value <= _INT8_MAX:
            return T.INT8, value
    try:
        return T.NUMERIC, T.parse_text(T.NUMERIC, text)
    except Exception:  # noqa: BLE001 - not a number our numeric takes: leave the query alone
        return None
