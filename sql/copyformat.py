"""COPY's text and CSV formats: an incremental reader and a row writer (no I/O, no SQL).

`CopyReader` is fed the bytes of CopyData messages as they arrive, split
anywhere (inside a UTF-8 character, a CSV quoted field or a line end), and
hands back complete records: lists of field strings, None for NULL. It keeps
only the unfinished tail between calls, so memory is bounded by the longest
record, never by the input. `CopyWriter` renders a row of already formatted
field texts (None for NULL) as one line.

The rules are PostgreSQL's (copyfromparse.c, copyto.c):

* text: fields split on the delimiter; a field equal to the NULL string
  *before* de-escaping is NULL; backslash escapes ``\\b \\f \\n \\r \\t \\v``,
  octal ``\\NNN``, hex ``\\xHH`` and ``\\<any>`` (the character itself); a
  line ``\\.`` ends the data.
* CSV: fields split on the delimiter outside quotes; inside quotes the
  escape character (by default the quote itself, so ``""``) escapes the quote;
  quoted fields may span lines; an *unquoted* field equal to the NULL string
  is NULL (a quoted one never is, unless FORCE_NULL); ``\\.`` alone ends the data.
* lines end with LF or CR LF.

Errors are `QuorumError` 22P04 (bad_copy_file_format) with PostgreSQL's
messages; `line` tells the caller which input line a record started on.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

from quorumdb.storage.errors import QuorumError

from .clientsyntax import CopyOptions

__all__ = ["CopyReader", "CopyWriter", "BadCopyFormat"]


class BadCopyFormat(QuorumError):
    sqlstate = "22P04"


_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9a-fA-F]{1,2}")


def _unescape_text(field: str) -> str:
    """De-escape one text-format field (it contains a backslash)."""
    out: list[str] = []
    i, n = 0, len(field)
    while i < n:
        c = field[i]
        if c != "\\" or i + 1 == n:
            out.append(c)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            m = _OCTAL.match(field, i + 1)
            assert m is not None
            out.append(chr(int(m.group(), 8) & 0xFF))
            i = m.end()
        elif nxt == "x" and i + 2 < n and field[i + 2] in "0123456789abcdefABCDEF":
            m = _HEX.match(field, i + 2)
            assert m is not None
            out.append(chr(int(m.group(), 16)))
            i = m.end()
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


class CopyReader:
    """Splits COPY input into records (see the module docstring)."""

    def __init__(self, options: CopyOptions, columns: int) -> None:
        self.options = options
        self.columns = columns
        self.line = 0  # input lines consumed so far
        self.ended = False  # saw the \. end-of-data marker
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._tail = ""
        self._csv = options.format == "csv"
        self._skip_header = options.header

    def feed(self, data: bytes) -> list[list[str | None]]:
        if self.ended:
            return []
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise QuorumError(
                f'invalid byte sequence for encoding "UTF8": 0x{data[exc.start:exc.start + 1].hex()}',
                sqlstate="22021",
            ) from None
        return self._records(self._tail + text, final=False)

    def finish(self) -> list[list[str | None]]:
        """The records still buffered once the input ended (CopyDone)."""
        if self.ended:
            return []
        try:
            text = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise QuorumError(
                'invalid byte sequence for encoding "UTF8"', sqlstate="22021"
            ) from None
        return self._records(self._tail + text, final=True)

    def _records(self, text: str, final: bool) -> list[list[str | None]]:
        out: list[list[str | None]] = []
        pos = 0
        while not self.ended:
            if self._csv:
                end, record = self._csv_record(text, pos, final)
            else:
                end, record = self._text_record(text, pos, final)
            if end < 0:
                break
            pos = end
            if record is None:
                continue
            if self._skip_header:
                self._skip_header = False
                self._check_header(record)
                continue
            out.append(record)
        self._tail = "" if self.ended else text[pos:]
        if final and self._tail:
            raise BadCopyFormat("unterminated CSV quoted field")
        return out

    def _check_header(self, record: list[str | None]) -> None:
        if not self.options.header_match:
            return
        expected = getattr(self, "header_names", None)
        if expected is not None and [f or "" for f in record] != list(expected):
            raise BadCopyFormat("column name mismatch in header line")

    # ---- text --------------------------------------------------------------------------

    def _text_record(self, text: str, pos: int, final: bool) -> tuple[int, list[str | None] | None]:
        nl = text.find("\n", pos)
        if nl < 0:
            if not final or pos >= len(text):
                return -1, None
            nl = len(text)
        line = text[pos:nl]
        if line.endswith("\r"):
            line = line[:-1]
        self.line += 1
        if line == "\\.":
            self.ended = True
            return nl + 1, None
        return nl + 1, self._text_fields(line)

    def _text_fields(self, line: str) -> list[str | None]:
        opts = self.options
        delimiter, null = opts.delimiter, opts.null
        if "\\" not in line:
            return [None if f == null else f for f in line.split(delimiter)]
        # Split on delimiters that are not escaped, then de-escape each field.
        raw_fields: list[str] = []
        start = i = 0
        n = len(line)
        while i < n:
            c = line[i]
            if c == "\\":
                i += 2
                continue
            if c == delimiter:
                raw_fields.append(line[start:i])
                start = i + 1
            i += 1
        raw_fields.append(line[start:])
        return [
            None if f == null else (_unescape_text(f) if "\\" in f else f) for f in raw_fields
        ]

    # ---- CSV ----------------------------------------------------------------------------

    def _csv_record(self, text: str, pos: int, final: bool) -> tuple[int, list[str | None] | None]:
        opts = self.options
        quote, escape, delimiter, null = opts.quote, opts.escape, opts.delimiter, opts.null
        nl = text.find("\n", pos)
        if nl >= 0 and quote not in text[pos:nl]:
            line = text[pos:nl]
            self.line += 1
            if line.endswith("\r"):
                line = line[:-1]
            if line == "\\.":
                self.ended = True
                return nl + 1, None
            return nl + 1, [None if f == null else f for f in line.split(delimiter)]
        # Slow path: a state machine over the characters; quoted fields may span lines.
        fields: list[str | None] = []
        field: list[str] = []
        quoted = in_quotes = False
        i, n = pos, len(text)
        lines = 1
        while i < n:
            c = text[i]
            if in_quotes:
                if c == escape and escape != quote:
                    if i + 1 == n and not final:
                        return -1, None
                    if i + 1 < n and text[i + 1] in (quote, escape):
                        field.append(text[i + 1])
                        i += 2
                        continue
                if c == quote:
                    if escape == quote:
                        if i + 1 == n and not final:
                            return -1, None  # "" or the closing quote: the next byte decides
                        if i + 1 < n and text[i + 1] == quote:
                            field.append(quote)
                            i += 2
                            continue
                    in_quotes = False
                    i += 1
                    continue
                if c == "\n":
                    lines += 1
                field.append(c)
                i += 1
            elif c == quote:
                in_quotes = quoted = True
                i += 1
            elif c == delimiter:
                fields.append(self._csv_value(field, quoted, null))
                field, quoted = [], False
                i += 1
            elif c == "\r" and (i + 1 == n or text[i + 1] == "\n"):
                if i + 1 == n and not final:
                    return -1, None
                i += 1  # CR LF: the LF ends the record
            elif c == "\n":
                return i + 1, self._csv_finish(fields, field, quoted, null, lines)
            else:
                field.append(c)
                i += 1
        if not final or in_quotes or pos >= n:
            return -1, None  # an unfinished record stays in the tail
        return n, self._csv_finish(fields, field, quoted, null, lines)

    def _csv_finish(
        self, fields: list[str | None], field: list[str], quoted: bool, null: str, lines: int
    ) -> list[str | None] | None:
        fields.append(self._csv_value(field, quoted, null))
        self.line += lines
        if len(fields) == 1 and fields[0] == "\\." and not quoted:
            self.ended = True
            return None
        return fields

    @staticmethod
    def _csv_value(chars: list[str], quoted: bool, null: str) -> str | None:
        value = "".join(chars)
        if not quoted and value == null:
            return None
        return value


class CopyWriter:
    """Renders rows of field texts as COPY lines (text or CSV, with the options' characters)."""

    def __init__(self, options: CopyOptions, column_names: Sequence[str]) -> None:
        self.options = options
        self._csv = options.format == "csv"
        self._force = set(column_names) if options.force_quote_all else set(
            options.force_quote or ()
        )
        self._force_index = [name in self._force for name in column_names]
        d = options.delimiter
        escapes = {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                   "\t": "\\t", "\v": "\\v"}  # fmt: skip
        escapes.setdefault(d, "\\" + d)  # control characters keep their letter escape
        self._text_escapes = str.maketrans(escapes)
        self._csv_special = {d, options.quote, "\n", "\r"}
        if options.escape != options.quote:
            self._csv_special.add(options.escape)

    def header(self, names: Sequence[str]) -> bytes:
        if self._csv:
            return self.row(list(names), header=True)
        return (self.options.delimiter.join(names) + "\n").encode()

    def row(self, fields: Sequence[str | None], header: bool = False) -> bytes:
        opts = self.options
        out: list[str] = []
        if not self._csv:
            for f in fields:
                out.append(opts.null if f is None else f.translate(self._text_escapes))
            return (opts.delimiter.join(out) + "\n").encode()
        quote, escape = opts.quote, opts.escape
        for i, f in enumerate(fields):
            if f is None:
                out.append(opts.null)
                continue
            force = not header and self._force_index[i] if i < len(self._force_index) else False
            if (
                force
                or f == opts.null
                or any(ch in self._csv_special for ch in f)
                or f.startswith("\\.")
            ):
                body = f.replace(escape, escape + escape) if escape != quote else f
                body = body.replace(quote, escape + quote)
                out.append(quote + body + quote)
            else:
                out.append(f)
        return (opts.delimiter.join(out) + "\n").encode()
