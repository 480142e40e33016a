"""Session settings (GUCs): SET, SHOW, RESET and the ParameterStatus values.

Only the settings clients touch on connect are known; each has PostgreSQL's
canonical name (``SHOW datestyle`` answers in a column named "DateStyle")
and default. Unknown names fail like PostgreSQL (42704), except dotted
custom names ("myapp.x"), which PostgreSQL also accepts.

Like PostgreSQL, SET inside a transaction block is undone if the block rolls
back, and SET LOCAL lasts until the end of the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from quorumdb.storage.errors import QuorumError

T = TypeVar("T")

__all__ = [
    "Setting",
    "SETTINGS",
    "SessionSettings",
    "SERVER_VERSION",
    "duration_ms",
    "search_path",
]

SERVER_VERSION = "15.0"


def _invalid(name: str, value: str, detail: str | None = None) -> QuorumError:
    return QuorumError(
        f'invalid value for parameter "{name}": "{value}"', sqlstate="22023", detail=detail
    )


def _join(name: str, values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _encoding(name: str, values: tuple[str, ...]) -> str:
    value = _join(name, values)
    if value.upper().replace("-", "").replace("_", "") in ("UTF8", "UNICODE"):
        return "UTF8"
    raise _invalid(name, value, "QuorumDB supports only the UTF8 encoding.")


def _datestyle(name: str, values: tuple[str, ...]) -> str:
    style, order = "ISO", "MDY"
    for part in ", ".join(values).replace(",", " ").split():
        word = part.upper()
        if word in ("ISO", "SQL", "POSTGRES", "GERMAN"):
            style = {"POSTGRES": "Postgres", "GERMAN": "German"}.get(word, word)
        elif word in ("MDY", "DMY", "YMD"):
            order = word
        elif word in ("US", "NONEURO", "NONEUROPEAN"):
            order = "MDY"
        elif word in ("EURO", "EUROPEAN"):
            order = "DMY"
        else:
            raise _invalid(name, ", ".join(values), f'Unrecognized key word: "{part}".')
    return f"{style}, {order}"


def _int_range(low: int, high: int) -> Callable[[str, tuple[str, ...]], str]:
    def parse(name: str, values: tuple[str, ...]) -> str:
        value = _join(name, values)
        try:
            number = int(value)
        except ValueError:
            raise QuorumError(
                f'invalid value for parameter "{name}": "{value}"', sqlstate="22023"
            ) from None
        if not low <= number <= high:
            raise QuorumError(
                f'{number} is outside the valid range for parameter "{name}" ({low} .. {high})',
                sqlstate="22023",
            )
        return str(number)

    return parse


def _boolean(name: str, values: tuple[str, ...]) -> str:
    value = _join(name, values).lower()
    if value in ("on", "true", "yes", "1", "t", "y"):
        return "on"
    if value in ("off", "false", "no", "0", "f", "n"):
        return "off"
    raise QuorumError(f'parameter "{name}" requires a Boolean value', sqlstate="22023")


def _only(allowed: str) -> Callable[[str, tuple[str, ...]], str]:
    def parse(name: str, values: tuple[str, ...]) -> str:
        value = _join(name, values)
        if value.lower() != allowed.lower():
            raise _invalid(name, value, f"QuorumDB supports only {allowed}.")
        return allowed

    return parse


def _isolation(name: str, values: tuple[str, ...]) -> str:
    value = _join(name, values).lower()
    if value not in ("read committed", "repeatable read", "serializable", "read uncommitted"):
        error = _invalid(name, value)
        error.hint = (
            "Available values: serializable, repeatable read, read committed, read uncommitted."
        )
        raise error
    return "read committed" if value == "read uncommitted" else value


def _read_consistency(name: str, values: tuple[str, ...]) -> str:
    value = _join(name, values).lower()
    if value not in ("linearizable", "stale"):
        raise _invalid(name, value, "Valid values are linearizable and stale.")
    return value


def _timezone(name: str, values: tuple[str, ...]) -> str:
    value = _join(name, values)
    if value.upper() in ("UTC", "GMT", "Z", "ETC/UTC", "0", "+0"):
        return "UTC" if value.upper() != "GMT" else "GMT"
    from .types_datetime import setting_zone_name

    canonical = setting_zone_name(value)
    if canonical is None:
        raise _invalid("TimeZone", value)
    return canonical


_TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_BYTE_UNITS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def duration_ms(text: str) -> int:
    """A canonical duration setting ("0", "250ms", "5s", "1min") in milliseconds."""
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(int(number) * _TIME_UNITS.get(text[len(number) :], 1))


def _duration(name: str, values: tuple[str, ...]) -> str:
    """PostgreSQL's time settings: a number of milliseconds, or with a unit; shown
    in the largest unit that divides it ("90s" stays "90s", "60000" is "1min")."""
    value = _join(name, values).strip()
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = value[len(number) :].strip() or "ms"
    try:
        ms = float(number) * _TIME_UNITS[unit]
    except (KeyError, ValueError):
        numeric = number.replace(".", "", 1).lstrip("-").isdigit()
        raise _invalid(
            name,
            value,
            'Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".'
            if numeric and unit not in _TIME_UNITS
            else None,
        ) from None
    ms = round(ms)
    if not 0 <= ms <= 2147483647:
        raise QuorumError(
            f'{ms} ms is outside the valid range for parameter "{name}" (0 .. 2147483647)',
            sqlstate="22023",
        )
    if ms == 0:
        return "0"
    for unit_name in ("d", "h", "min", "s"):
        size = _TIME_UNITS[unit_name]
        if ms % size == 0:
            return f"{ms // int(size)}{unit_name}"
    return f"{ms}ms"


def _byte_size(low: int) -> Callable[[str, tuple[str, ...]], str]:
    def parse(name: str, values: tuple[str, ...]) -> str:
        value = _join(name, values).strip()
        number = value.rstrip("BkMGT ").strip()
        unit = value[len(number) :].strip() or "B"
        try:
            size = int(number) * _BYTE_UNITS[unit]
        except (KeyError, ValueError):
            raise _invalid(
                name, value, 'Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".'
            ) from None
        if size < low:
            raise QuorumError(
                f'{size} is outside the valid range for parameter "{name}" ({low} .. {1 << 62})',
                sqlstate="22023",
            )
        return str(size)

    return parse


def search_path(value: str, user: str) -> tuple[str, ...]:
    """The schemas of a search_path setting, in order ("$user" is the session's user)."""
    out = []
    for part in value.split(","):
        name = part.strip()
        if name.startswith('"') and name.endswith('"') and len(name) >= 2:
            name = name[1:-1].replace('""', '"')
        else:
            name = name.lower()
        if name == "$user":
            name = user
        if name:
            out.append(name)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str  # canonical spelling
    default: str
    parse: Callable[[str, tuple[str, ...]], str] = _join
    reported: bool = False  # announced in ParameterStatus
    read_only: bool = False
    description: str = ""


SETTINGS: dict[str, Setting] = {
    s.name.lower(): s
    for s in (
        Setting(
            "quorumdb.read_consistency",
            "linearizable",
            _read_consistency,
            description=(
                "linearizable: reads are served by the leader while it knows it leads; "
                "stale: any replica answers from what it has applied (may lag the leader)."
            ),
        ),
        Setting(
            "server_version",
            SERVER_VERSION,
            reported=True,
            read_only=True,
            description="Shows the server version.",
        ),
        Setting(
            "server_version_num",
            "150000",
            read_only=True,
            description="Shows the server version as an integer.",
        ),
        Setting(
            "server_encoding",
            "UTF8",
            reported=True,
            read_only=True,
            description="Shows the server (database) character set encoding.",
        ),
        Setting(
            "client_encoding",
            "UTF8",
            _encoding,
            reported=True,
            description="Sets the client's character set encoding.",
        ),
        Setting(
            "DateStyle",
            "ISO, MDY",
            _datestyle,
            reported=True,
            description="Sets the display format for date and time values.",
        ),
        Setting(
            "IntervalStyle",
            "postgres",
            _only("postgres"),
            reported=True,
            description="Sets the display format for interval values.",
        ),
        Setting(
            "TimeZone",
            "UTC",
            _timezone,
            reported=True,
            description="Sets the time zone for displaying and interpreting time stamps.",
        ),
        Setting(
            "integer_datetimes",
            "on",
            reported=True,
            read_only=True,
            description="Shows whether datetimes are integer based.",
        ),
        Setting(
            "standard_conforming_strings",
            "on",
            _only("on"),
            reported=True,
            description="Causes '...' strings to treat backslashes literally.",
        ),
        Setting(
            "is_superuser",
            "on",
            reported=True,
            read_only=True,
            description="Shows whether the current user is a superuser.",
        ),
        Setting(
            "session_authorization",
            "",
            reported=True,
            read_only=True,
            description="Sets the session user name.",
        ),
        Setting(
            "application_name",
            "",
            reported=True,
            description="Sets the application name to be reported in statistics and logs.",
        ),
        Setting(
            "default_transaction_read_only",
            "off",
            _boolean,
            reported=True,
            description="Sets the default read-only status of new transactions.",
        ),
        Setting(
            "in_hot_standby",
            "off",
            reported=True,
            read_only=True,
            description="Shows whether hot standby is currently active.",
        ),
        Setting(
            "extra_float_digits",
            "1",
            _int_range(-15, 3),
            description="Sets the number of digits displayed for floating-point values.",
        ),
        Setting(
            "search_path",
            '"$user", public',
            description="Sets the schema search order for names that are not schema-qualified.",
        ),
        Setting(
            "default_transaction_isolation",
            "read committed",
            _isolation,
            description="Sets the transaction isolation level of each new transaction.",
        ),
        Setting(
            "transaction_isolation",
            "read committed",
            _isolation,
            description="Sets the current transaction's isolation level.",
        ),
        Setting(
            "transaction_read_only",
            "off",
            _boolean,
            description="Sets the current transaction's read-only status.",
        ),
        Setting(
            "statement_timeout",
            "0",
            _duration,
            description="Sets the maximum allowed duration of any statement.",
        ),
        Setting(
            "lock_timeout",
            "0",
            _duration,
            description="Sets the maximum allowed duration of any wait for a lock.",
        ),
        Setting(
            "idle_in_transaction_session_timeout",
            "0",
            _duration,
            description="Sets the maximum allowed idle time between queries, when in a transaction.",
        ),
        Setting(
            "deadlock_timeout",
            "1s",
            _duration,
            description="Sets the time to wait on a lock before checking for deadlock.",
        ),
        Setting(
            "quorumdb.max_transaction_bytes",
            str(64 << 20),
            _byte_size(1 << 10),
            description="Largest write set (bytes) one transaction may replicate; 54000 beyond.",
        ),
        Setting(
            "quorumdb.max_session_bytes",
            str(256 << 20),
            _byte_size(1 << 10),
            description="Most memory (bytes) a session may buffer for its transaction and "
            "results; 54000 beyond.",
        ),
        Setting(
            "client_min_messages",
            "notice",
            description="Sets the message levels that are sent to the client.",
        ),
        Setting("bytea_output", "hex", description="Sets the output format for bytea."),
        Setting(
            "max_identifier_length",
            "63",
            read_only=True,
            description="Shows the maximum identifier length.",
        ),
        Setting(
            "lc_messages", "C", description="Sets the language in which messages are displayed."
        ),
        Setting("lc_monetary", "C", description="Sets the locale for formatting monetary amounts."),
        Setting("lc_numeric", "C", description="Sets the locale for formatting numbers."),
        Setting("lc_time", "C", description="Sets the locale for formatting date and time values."),
        Setting(
            "synchronous_commit",
            "on",
            description="Sets the current transaction's synchronization level.",
        ),
        Setting("jit", "off", _boolean, description="Allow JIT compilation."),
    )
}


def lookup(name: str) -> Setting | None:
    return SETTINGS.get(name.lower())


class SessionSettings:
    """One session's values, with PostgreSQL's transactional SET semantics."""

    def __init__(
        self, initial: dict[str, str] | None = None, *, fixed: dict[str, str] | None = None
    ) -> None:
        """`initial`: startup-packet options (SET-able); `fixed`: read-only values of this session."""
        self._values: dict[str, str] = dict(fixed or {})
        # Values derived from the settings (parsed timeouts, the search path, what to
        # report): computed once, forgotten whenever a value changes. Every statement
        # needs them, and parsing them again each time was a measurable share of a
        # point SELECT (bench.profile).
        self._memo: dict[object, object] = {}
        self._saved: dict[str, str] | None = None  # values at the start of the transaction block
        self._local: dict[str, str] | None = (
            None  # values to restore at transaction end (SET LOCAL)
        )
        for name, value in (initial or {}).items():
            setting = lookup(name)
            if setting is not None and not setting.read_only:
                self._values[setting.name] = setting.parse(setting.name, (value,))
            elif setting is None and "." in name:
                self._values[name] = value

    def get(self, name: str) -> str:
        setting = lookup(name)
        if setting is None:
            if name in self._values:
                return self._values[name]
            raise QuorumError(f'unrecognized configuration parameter "{name}"', sqlstate="42704")
        return self._values.get(setting.name, setting.default)

    def memo(self, key: object, compute: Callable[[], T]) -> T:
        """`compute()`, remembered until a setting changes (SET, RESET, transaction end,
        ROLLBACK TO): for values derived only from the settings. Do not mutate the result."""
        memo = self._memo
        if key in memo:
            return memo[key]  # type: ignore[return-value]
        value = memo[key] = compute()
        return value

    def canonical(self, name: str) -> str:
        setting = lookup(name)
        return setting.name if setting is not None else name

    def set(
        self,
        name: str,
        values: tuple[str, ...] | None,
        *,
        local: bool = False,
        in_block: bool = False,
    ) -> None:
        """SET name = values (None: DEFAULT)."""
        self._memo.clear()
        setting = lookup(name)
        if setting is None:
            if "." not in name:
                raise QuorumError(
                    f'unrecognized configuration parameter "{name}"', sqlstate="42704"
                )
            key, value = name, ", ".join(values or ())
        else:
            if setting.read_only:
                raise QuorumError(f'parameter "{setting.name}" cannot be changed', sqlstate="55P02")
            key = setting.name
            value = setting.default if values is None else setting.parse(setting.name, values)
        if in_block:
            if self._saved is None:
                self._saved = dict(self._values)
            if local:
                if self._local is None:
                    self._local = {}
                self._local.setdefault(key, self._values.get(key, ""))
        elif local:
            return  # SET LOCAL outside a transaction block has no effect (PostgreSQL warns)
        if values is None and setting is not None:
            self._values.pop(key, None)
        else:
            self._values[key] = value

    def reset(self, name: str | None, *, in_block: bool = False) -> None:
        if name is None:
            for setting in SETTINGS.values():
                if not setting.read_only and setting.name in self._values:
                    self.set(setting.name, None, in_block=in_block)
            return
        self.set(name, None, in_block=in_block)

    def end_transaction(self, committed: bool) -> None:
        """Keep (commit) or undo (rollback) the block's SETs; SET LOCAL always ends here."""
        if self._saved is not None or self._local:
            self._memo.clear()
        if not committed and self._saved is not None:
            self._values = self._saved
        elif self._local:
            for key, previous in self._local.items():
                if previous:
                    self._values[key] = previous
                else:
                    self._values.pop(key, None)
        self._saved = None
        self._local = None

    def abort_transaction(self) -> None:
        """An error aborted the block (without savepoints): as PostgreSQL, undo its SETs
        and SET LOCALs at once, not at the ROLLBACK (idle_in_transaction_session_timeout
        set in the block no longer applies, reported values change back)."""
        self.end_transaction(False)

    def snapshot(self) -> dict[str, str]:
        """The current values (SAVEPOINT keeps them for ROLLBACK TO)."""
        return dict(self._values)

    def restore(self, values: object) -> None:
        """Back to a `snapshot` (ROLLBACK TO SAVEPOINT undoes the SETs after it)."""
        assert isinstance(values, dict)
        self._memo.clear()
        self._values = dict(values)

    def all(self) -> list[tuple[str, str, str]]:
        """(name, value, description) of every known setting, for SHOW ALL."""
        return sorted(
            ((s.name, self.get(s.name), s.description) for s in SETTINGS.values()),
            key=lambda r: r[0].lower(),
        )

    def reported(self) -> dict[str, str]:
        return self.memo(
            "reported", lambda: {s.name: self.get(s.name) for s in SETTINGS.values() if s.reported}
        )
