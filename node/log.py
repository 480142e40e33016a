"""Logging for a node process: one line per event, the node id on every line.

`configure` installs a single handler on the root logger, so every line,
including those of libraries (asyncio, pysyncobj, grpc), carries the node id;
calling it again replaces that handler rather than adding a second one.
Modules log through the standard `logging` module and attach structured
fields with `fields(...)`:

    log.info("connection accepted", extra=fields(peer="127.0.0.1:50312", backend_pid=7))

Two formats: ``text`` (``2025-01-02T03:04:05.678Z INFO node=n1 quorumdb.node.pgserver:
connection accepted peer=127.0.0.1:50312 backend_pid=7``) for people, and
``json`` (one object per line: ts, level, node, logger, msg, the fields,
exc) for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["configure", "fields", "LEVELS", "FORMATS"]

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
_FIELDS = "quorumdb_fields"
_HANDLER_NAME = "quorumdb"


def fields(**values: object) -> dict[str, Any]:
    """`extra=` for a log call: structured key/value fields rendered after the message."""
    return {_FIELDS: values}


class _NodeIdFilter(logging.Filter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.node_id = self.node_id
        return True


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record),
            record.levelname,
            f"node={_quote(getattr(record, 'node_id', '-'))}",
            f"{record.name}:",
            record.getMessage(),
        ]
        for key, value in getattr(record, _FIELDS, {}).items():
            parts.append(f"{key}={_quote(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "node": getattr(record, "node_id", None),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, _FIELDS, {}).items():
            entry.setdefault(key, value if isinstance(value, int | float | bool) else str(value))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(
    node_id: str, *, level: str = "info", fmt: str = "text", stream: TextIO | None = None
) -> None:
    """Send every log record of the process to `stream` (stderr) in `fmt`, tagged with `node_id`."""
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_NodeIdFilter(node_id))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
