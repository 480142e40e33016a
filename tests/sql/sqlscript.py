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
``sleep 0.5`` (alone on a line) lets that many seconds pass, for timeouts
(idle_in_transaction_session_timeout); statements it lets finish print
their output there. A session the server terminated (FATAL) reconnects for
its next command, as psql does.
A line ``# postgres: skip -- reason`` excludes the script from the
comparison with a real PostgreSQL; ``# postgres: differs -- reason`` just
before a block excludes that block's output (the commands still run, so
later blocks compare as usual).

Output: SELECT results as psql's aligned tables (NULL shown as ``NULL``),
other statements as their command tag, notices as ``NOTICE: ...`` /
``WARNING 25001: ...``, errors as ``ERROR 42P01: message (position 15)``
followed by ``DETAIL:``/``HINT:`` lines.

Set ``UPDATE_GOLDEN=1`` to rewrite the expected output from the actual
output; review the diff before committing.
"""

from __future__ import annotations

import asyncio
import re
import time
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
_VARYING_IDS = re.compile(r"\b([Pp]rocess|transaction) \d+")
_SLEEP = re.compile(r"^sleep (?P<seconds>\d+(?:\.\d+)?)$")


@dataclass
class Command:
    line: int
    sql: str | None  # None for "restart" and "sleep"
    session: str = ""
    tags: frozenset[str] = frozenset()
    expect_error: bool = False
    sleep: float | None = None  # seconds, for "sleep"


@dataclass
class Block:
    commands: list[Command]
    expected: list[str]
    pg_differs: str | None = None  # why this block's output differs from PostgreSQL's


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
        differs: str | None = None
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("#") or not line.strip():
                skip = skip or line.strip().lower().startswith("# postgres: skip")
                if line.strip().lower().startswith("# postgres: differs"):
                    differs = line.split("--", 1)[1].strip() if "--" in line else "differs"
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
                blocks.append(Block(pending, expected, differs))
                pending = []
                differs = None
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
            if (sleep := _SLEEP.match(line.strip())) is not None:
                pending.append(Command(start + 1, None, sleep=float(sleep["seconds"])))
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

    def render(self, outputs: list[list[str]], mask_differing: bool = False) -> str:
        """The script with `outputs` under the commands; `mask_differing` replaces the
        output of blocks marked ``# postgres: differs`` (for the comparison)."""
        out: list[str] = []
        for segment in self.segments:
            if isinstance(segment, int):
                reason = self.blocks[segment].pg_differs
                if mask_differing and reason is not None:
                    out.append(f"(output differs from PostgreSQL: {reason})")
                else:
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
    severity: str = "ERROR"  # FATAL when the server ended the session


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
        lines.append(f"{e.severity} {e.sqlstate}: {e.message}{where}")
        if e.detail:
            # Deadlock details name backend pids and transaction ids: they vary.
            lines.append("DETAIL: " + _VARYING_IDS.sub(r"\1 N", e.detail))
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

    async def blocked(self, session: str) -> bool:
        """True while `session`'s current statement waits for a lock another holds."""
        return False

    # How long a blocked statement is watched before the script moves on: PostgreSQL
    # finds a deadlock only after deadlock_timeout, so its backend waits a little.
    settle_seconds = 0.0

    async def close(self) -> None:
        pass


@dataclass
class Mismatch:
    line: int
    message: str


@dataclass
class _Running:
    """A command whose statement is still running (blocked on a lock, as a rule)."""

    command: Command
    task: asyncio.Task[list[Outcome]]


async def _settle(backend: Backend, running: list[_Running], deadline_seconds: float = 20) -> None:
    """Wait until every running command has finished or waits on a lock."""
    deadline = time.monotonic() + deadline_seconds
    quiet_since: float | None = None
    while True:
        active = False
        for r in running:
            if not r.task.done() and not await backend.blocked(r.command.session):
                active = True
        if not active:
            quiet_since = quiet_since or time.monotonic()
            all_done = all(r.task.done() for r in running)
            if all_done or time.monotonic() - quiet_since >= backend.settle_seconds:
                return
        else:
            quiet_since = None
        if time.monotonic() > deadline:
            raise TimeoutError("a statement neither finished nor blocked on a lock")
        await asyncio.sleep(0.005)


async def run_script(
    script: Script, backend: Backend, *, tags: bool = True, notices_first: bool = False
) -> tuple[list[list[str]], list[Mismatch]]:
    """Run every block; returns the actual output per block and expectation failures.

    `notices_first` prints a command's notices before its results: libpq reports
    a notice before the result of the statement preceding the one that raised
    it, so comparisons with PostgreSQL cannot rely on where notices fall.

    Sessions run concurrently: a command that blocks on a lock (c2 updating a
    row c1 holds) stays running while the script goes on, and its output
    appears after the command that let it finish (c1's COMMIT), as in
    PostgreSQL's isolation tester.
    """
    outputs: list[list[str]] = []
    problems: list[Mismatch] = []
    running: list[_Running] = []

    def report(command: Command, outcomes: list[Outcome], lines: list[str]) -> None:
        prefix = f"{command.session}: " if command.session else ""
        failed = any(o.error is not None for o in outcomes)
        if failed != command.expect_error:
            what = "unexpected error" if failed else "expected an error, but the command succeeded"
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

    def finished(lines: list[str]) -> None:
        for r in [r for r in running if r.task.done()]:
            running.remove(r)
            report(r.command, r.task.result(), lines)

    for block in script.blocks:
        lines: list[str] = []
        for command in block.commands:
            if command.sql is None:
                if command.sleep is None:
                    await backend.restart()
                    continue
                await asyncio.sleep(command.sleep)
                await _settle(backend, running)
                finished(lines)
                continue
            prefix = f"{command.session}: " if command.session else ""
            if tags and "plan" in command.tags:
                for outcome in await backend.run(command.session, "EXPLAIN " + command.sql):
                    if outcome.error is None and outcome.columns is not None:
                        lines.extend(prefix + row[0] for row in outcome.rows if row[0] is not None)
            for r in [r for r in running if r.command.session == command.session]:
                # A session runs one statement at a time: wait for its previous one
                # (a lock wait that ends by a timeout, for instance).
                await asyncio.wait_for(asyncio.shield(r.task), 20)
                finished(lines)
            if not running:
                backend.take_writes()
            task = asyncio.ensure_future(backend.run(command.session, command.sql))
            current = _Running(command, task)
            await _settle(backend, [current, *running])
            if task.done():
                report(command, task.result(), lines)
            else:
                running.append(current)
            finished(lines)
        outputs.append(lines)
    if running:
        await _settle(backend, running)
        finished(outputs[-1] if outputs else [])
        for r in running:
            r.task.cancel()
            problems.append(Mismatch(r.command.line, "still blocked at the end of the script"))
    return outputs, problems


RunFn = Callable[[Script, Backend], Awaitable[tuple[list[list[str]], list[Mismatch]]]]
