"""Golden SQL scripts (toyDB style): SQL commands with their expected output beneath.

File format (``tests/sql/scripts/*.test``)::

    # A comment.
    > CREATE TABLE t (id int PRIMARY KEY, v text)
    > INSERT INTO t VALUES (1, 'a')
    ---
    CREATE TABLE
    INSERT 0 1

    [plan]> SELECT * FROM t WHERE id = 1
    ---
    ...

A block is one or more commands, a ``---`` line and the expected output,
which runs up to the next blank line. A command is
``[session:][[tags]][!]> sql``:

* ``c1:`` / ``c2:`` run the SQL on named sessions (all share one database);
  their output lines are prefixed ``c1: ``;
* ``!`` expects the command to fail (an unexpected error, or a missing
  expected one, fails the test even when rewriting);
* tags: ``plan`` prints the EXPLAIN of the statement first, ``writes`` prints
  every key/value write committed while the command ran (the write sets
  that would be replicated through Raft).

Indented lines after a command continue its SQL. ``restart`` (alone on a
line) closes every session and reopens the store, to check persistence.
A line ``# postgres: skip`` excludes the script from the comparison with a
real PostgreSQL.

Output: SELECT results as psql's aligned tables (NULL shown as ``NULL``),
other statements as their command tag, notices as ``NOTICE: ...`` /
``WARNING 25001: ...``, errors as ``ERROR 42P01: message (position 15)``
followed by ``DETAIL:``/``HINT:`` lines.

Set ``UPDATE_GOLDEN=1`` to rewrite the expected output from the actual
output; review the diff before committing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Command",
    "Block",
    "Script",
    "Outcome",
    "ErrorInfo",
    "render_outcome",
    "run_script",
    "Backend",
]

_COMMAND = re.compile(
    r"^(?:(?P<session>\w+):)?(?:\[(?P<tags>[\w,]+)\])?(?P<fail>!)?> ?(?P<sql>.*)$"
)
_NUMERIC_OIDS = {20, 21, 23, 26, 700, 701, 1700}


@dataclass
class Command:
    line: int
    sql: str | None  # None for "restart"
    session: str = ""
    tags: frozenset[str] = frozenset()
    expect_error: bool = False


@dataclass
class Block:
    commands: list[Command]
    expected: list[str]


@dataclass
class Script:
    path: Path
    segments: list[str | int]  # literal lines, or the index of a block's output
    blocks: list[Block]
    postgres_skip: bool = False

    @classmethod
    def load(cls, path: Path) -> Script:
        lines = path.read_text().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        segments: list[str | int] = []
        blocks: list[Block] = []
        pending: list[Command] = []
        skip = False
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("#") or not line.strip():
                skip = skip or line.strip().lower().startswith("# postgres: skip")
                segments.append(line)
                i += 1
                continue
            if line == "---":
                if not pending:
                    raise ValueError(f"{path}:{i + 1}: '---' without commands")
                segments.append(line)
                i += 1
                expected = []
                while i < len(lines) and lines[i] != "":
                    expected.append(lines[i])
                    i += 1
                segments.append(len(blocks))
                blocks.append(Block(pending, expected))
                pending = []
                continue
            start = i
            text = [line]
            i += 1
            while i < len(lines) and lines[i][:1] in (" ", "\t") and lines[i].strip():
                text.append(lines[i])
                i += 1
            segments.extend(text)
            if line.strip() == "restart":
                pending.append(Command(start + 1, None))
                continue
            m = _COMMAND.match(line)
            if m is None:
                raise ValueError(f"{path}:{start + 1}: not a command: {line!r}")
            sql = "\n".join([m["sql"], *text[1:]])
            tags = frozenset(t for t in (m["tags"] or "").split(",") if t)
            unknown = tags - {"plan", "writes"}
            if unknown:
                raise ValueError(f"{path}:{start + 1}: unknown tags {sorted(unknown)}")
            pending.append(Command(start + 1, sql, m["session"] or "", tags, bool(m["fail"])))
        if pending:
            raise ValueError(f"{path}: commands at the end without '---'")
        return cls(path, segments, blocks, skip)

    def render(self, outputs: list[list[str]]) -> str:
        out: list[str] = []
        for segment in self.segments:
            if isinstance(segment, int):
                out.extend(outputs[segment])
            else:
                out.append(segment)
        return "\n".join(out) + "\n"


# ---- outcomes and their rendering ----------------------------------------------------


@dataclass
class ErrorInfo:
    sqlstate: str
    message: str
    detail: str | None = None
    hint: str | None = None
    position: int | None = None


@dataclass
class Outcome:
    """One statement's result, as text (what a client sees on the wire)."""

    tag: str = ""
    columns: list[tuple[str, int]] | None = None  # (name, type oid)
    rows: list[list[str | None]] = field(default_factory=list)
    notices: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (severity, sqlstate, message)
    error: ErrorInfo | None = None
    empty: bool = False


def _table(columns: list[tuple[str, int]], rows: list[list[str | None]]) -> list[str]:
    footer = f"({len(rows)} row{'' if len(rows) == 1 else 's'})"
    if not columns:
        return ["(no columns)", footer]
    cells = [["NULL" if v is None else v for v in row] for row in rows]
    widths = [len(name) for name, _ in columns]
    for row in cells:
        for j, v in enumerate(row):
            widths[j] = max(widths[j], max((len(part) for part in v.split("\n")), default=0))
    header = []
    for (name, _), w in zip(columns, widths, strict=False):
        left = (w - len(name)) // 2
        header.append(" " * left + name + " " * (w - len(name) - left))
    lines = [(" " + " | ".join(header)).rstrip(), "-" + "-+-".join("-" * w for w in widths) + "-"]
    for row in cells:
        parts = []
        for (_, oid), w, v in zip(columns, widths, row, strict=False):
            parts.append(v.rjust(w) if oid in _NUMERIC_OIDS else v.ljust(w))
        lines.append((" " + " | ".join(parts)).rstrip() or " ")
    lines.append(footer)
    return lines


def render_notices(notices: list[tuple[str, str, str]]) -> list[str]:
    lines = []
    for severity, sqlstate, message in notices:
        code = "" if sqlstate == "00000" else f" {sqlstate}"
        lines.append(f"{severity}{code}: {message}")
    return lines


def render_outcome(outcome: Outcome) -> list[str]:
    lines = render_notices(outcome.notices)
    if outcome.error is not None:
        e = outcome.error
        where = f" (position {e.position})" if e.position else ""
        lines.append(f"ERROR {e.sqlstate}: {e.message}{where}")
        if e.detail:
            lines.append(f"DETAIL: {e.detail}")
        if e.hint:
            lines.append(f"HINT: {e.hint}")
    elif outcome.empty:
        lines.append("EMPTY QUERY")
    elif outcome.columns is not None:
        lines.extend(_table(outcome.columns, outcome.rows))
    else:
        lines.append(outcome.tag)
    return lines


# ---- running -------------------------------------------------------------------------


class Backend:
    """Something that runs SQL for named sessions: QuorumDB, or PostgreSQL for comparison."""

    async def run(self, session: str, sql: str) -> list[Outcome]:
        """Outcomes of the statements of `sql`; a failure is the last outcome."""
        raise NotImplementedError

    async def restart(self) -> None:
        raise NotImplementedError

    def take_writes(self) -> list[str]:
        """Lines describing the writes committed since the last call."""
        return []

    async def close(self) -> None:
        pass


@dataclass
class Mismatch:
    line: int
    message: str


async def run_script(
    script: Script, backend: Backend, *, tags: bool = True, notices_first: bool = False
) -> tuple[list[list[str]], list[Mismatch]]:
    """Run every block; returns the actual output per block and expectation failures.

    `notices_first` prints a command's notices before its results: libpq reports
    a notice before the result of the statement preceding the one that raised
    it, so comparisons with PostgreSQL cannot rely on where notices fall.
    """
    outputs: list[list[str]] = []
    problems: list[Mismatch] = []
    for block in script.blocks:
        lines: list[str] = []
        for command in block.commands:
            if command.sql is None:
                await backend.restart()
                continue
            prefix = f"{command.session}: " if command.session else ""
            if tags and "plan" in command.tags:
                for outcome in await backend.run(command.session, "EXPLAIN " + command.sql):
                    if outcome.error is None and outcome.columns is not None:
                        lines.extend(prefix + row[0] for row in outcome.rows if row[0] is not None)
            backend.take_writes()
            outcomes = await backend.run(command.session, command.sql)
            failed = any(o.error is not None for o in outcomes)
            if failed != command.expect_error:
                what = (
                    "unexpected error" if failed else "expected an error, but the command succeeded"
                )
                problems.append(Mismatch(command.line, what))
            if notices_first:
                notices = [n for o in outcomes for n in o.notices]
                lines.extend(prefix + line for line in render_notices(notices))
                for o in outcomes:
                    o.notices = []
            for outcome in outcomes:
                lines.extend(prefix + line for line in render_outcome(outcome))
            if tags and "writes" in command.tags:
                lines.extend(prefix + line for line in backend.take_writes())
        outputs.append(lines)
    return outputs, problems


RunFn = Callable[[Script, Backend], Awaitable[tuple[list[list[str]], list[Mismatch]]]]
