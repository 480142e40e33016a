"""A byte-count progress bar for stderr.

On a terminal it redraws one line in place (at most ten times a second); when
stderr is a file or pipe (CI logs, scripts) it prints a line at every tenth of
the way instead, so logs stay readable. Output goes to stderr only: stdout
carries the command's result, which scripts parse.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "human_bytes"]

_WIDTH = 30
_REDRAW_SECONDS = 0.1


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class ProgressBar:
    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._done = 0
        self._last_draw = 0.0
        self._last_tenth = -1
        self._started = time.monotonic()

    def _fraction(self) -> float:
        return 1.0 if self.total == 0 else min(self._done / self.total, 1.0)

    def _line(self) -> str:
        fraction = self._fraction()
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        return (
            f"{self.label} [{bar}] {fraction * 100:5.1f}% "
            f"{human_bytes(self._done)}/{human_bytes(self.total)}"
        )

    def update(self, done: int) -> None:
        self._done = done
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw >= _REDRAW_SECONDS:
                self._last_draw = now
                self.stream.write("\r" + self._line())
                self.stream.flush()
            return
        tenth = int(self._fraction() * 10)
        if tenth > self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        self._done = max(self._done, self.total)
        elapsed = time.monotonic() - self._started
        line = f"{self._line()} in {elapsed:.1f}s"
        if self._tty:
            self.stream.write("\r" + line + "\n")
        elif self._last_tenth < 10:
            self.stream.write(line + "\n")
        self.stream.flush()
