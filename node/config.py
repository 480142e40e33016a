"""Node configuration: the flags of `quorumdb serve`, each also read from QUORUMDB_<FLAG>.

Every option is declared once in `OPTIONS` (flag, help sentence, default,
parser); the argparse parser, the environment lookup and `--help` are all
derived from that table, so they cannot drift apart. Precedence: command
line, then environment (``--pg-listen`` <- ``QUORUMDB_PG_LISTEN``; the
repeatable ``--peer`` <- comma-separated ``QUORUMDB_PEER``), then default.

`NodeConfig` is the validated result, a frozen value; this module reads the
environment only through the mapping it is given, so it is tested with
plain dicts. It is the only module that knows about flags and variables.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .log import FORMATS, LEVELS

EVENT_LOOPS = ("uvloop", "asyncio")

__all__ = [
    "Address",
    "NodeConfig",
    "ConfigError",
    "Option",
    "OPTIONS",
    "add_serve_arguments",
    "resolve",
    "parse_serve_args",
]

ENV_PREFIX = "QUORUMDB_"
_WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """HOST:PORT, or [IPV6]:PORT."""
        text = text.strip()
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise ValueError(f"write IPv6 addresses as [ADDRESS]:PORT, got {text!r}")
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"port must be a number, got {text!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"port must be within 1..65535, got {text!r}")
        return cls(host, port)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    data_dir: Path
    pg_listen: Address
    grpc_listen: Address
    raft_listen: Address
    http_listen: Address
    pg_advertise: Address
    grpc_advertise: Address
    raft_advertise: Address
    http_advertise: Address
    peers: tuple[Address, ...]
    join: bool
    fsync: bool
    snapshot_entries: int
    node_id: str
    max_connections: int
    log_level: str
    log_format: str
    auth: str = "trust"
    superuser: str = "quorumdb"
    superuser_password: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    group_commit: bool = True
    event_loop: str = "uvloop"

    @property
    def clustered(self) -> bool:
        return bool(self.peers) or self.join

    @property
    def storage_dir(self) -> Path:
        """Where the replica's RocksDB store lives (storage.store.Store): DATA_DIR/store."""
        return self.data_dir / "store"

    @property
    def raft_dir(self) -> Path:
        """The Raft journal and snapshots: DATA_DIR/raft (same filesystem as the store)."""
        return self.data_dir / "raft"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return lowered

    return parse


@dataclass(frozen=True, slots=True)
class Option:
    """One flag of `quorumdb serve`.

    kind: "value" (takes an argument), "list" (repeatable; comma-separated in
    the environment), "switch" (--x / --no-x) or "flag" (--x only).
    """

    flag: str
    help: str
    parse: Callable[[str], object]
    default: object = None
    kind: str = "value"
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "--data-dir",
        "Directory that holds this node's data (created if missing); required.",
        Path,
        metavar="DIR",
    ),
    Option(
        "--pg-listen",
        "Address where PostgreSQL clients (psql, drivers) connect.",
        Address.parse,
        Address("127.0.0.1", 5432),
        metavar="HOST:PORT",
    ),
    Option(
        "--grpc-listen",
        "Address of the gRPC service (cluster-cli, statement forwarding, grpc.health.v1).",
        Address.parse,
        Address("127.0.0.1", 6432),
        metavar="HOST:PORT",
    ),
    Option(
        "--raft-listen",
        "Address where this node exchanges Raft messages with the other members; "
        "it is also the node's identity in the cluster.",
        Address.parse,
        Address("127.0.0.1", 7432),
        metavar="HOST:PORT",
    ),
    Option(
        "--http-listen",
        "Address of the HTTP endpoint for /metrics, /healthz and /readyz.",
        Address.parse,
        Address("127.0.0.1", 8432),
        metavar="HOST:PORT",
    ),
    Option(
        "--pg-advertise",
        "Address other nodes and clients use to reach this node's PostgreSQL port (followers route clients to the leader's) (default: --pg-listen; "
        "required when that listens on a wildcard address such as 0.0.0.0 in a cluster).",
        Address.parse,
        metavar="HOST:PORT",
    ),
    Option(
        "--grpc-advertise",
        "Address other nodes and clients use to reach this node's gRPC service (default: --grpc-listen; "
        "required when that listens on a wildcard address such as 0.0.0.0 in a cluster).",
        Address.parse,
        metavar="HOST:PORT",
    ),
    Option(
        "--raft-advertise",
        "Address other nodes and clients use to reach this node's Raft port; it is the node's identity in the cluster (default: --raft-listen; "
        "required when that listens on a wildcard address such as 0.0.0.0 in a cluster).",
        Address.parse,
        metavar="HOST:PORT",
    ),
    Option(
        "--http-advertise",
        "Address other nodes and clients use to reach this node's HTTP endpoint (default: --http-listen; "
        "required when that listens on a wildcard address such as 0.0.0.0 in a cluster).",
        Address.parse,
        metavar="HOST:PORT",
    ),
    Option(
        "--peer",
        "Raft address of another cluster member; repeat the flag once per member "
        "(comma-separated in the environment variable).",
        Address.parse,
        (),
        kind="list",
        metavar="HOST:PORT",
    ),
    Option(
        "--join",
        "Start empty and wait to be added to an existing cluster (cluster-cli add) "
        "instead of forming a new one.",
        _boolean,
        False,
        kind="flag",
    ),
    Option(
        "--fsync",
        "Flush every commit to disk before acknowledging it (default). --no-fsync is "
        "UNSAFE: acknowledged commits can be lost on power failure or OS crash; use it "
        "only for benchmarks and throwaway data.",
        _boolean,
        True,
        kind="switch",
    ),
    Option(
        "--group-commit",
        "Put the commits of concurrent sessions into one Raft entry (default); "
        "--no-group-commit proposes one entry per transaction (to measure the difference).",
        _boolean,
        True,
        kind="switch",
    ),
    Option(
        "--event-loop",
        "The asyncio event loop that serves clients: uvloop (default; libuv, the "
        "fastest) or asyncio (the standard library's, to measure the difference or "
        "to rule uvloop out).",
        _choice(*EVENT_LOOPS),
        "uvloop",
        metavar="LOOP",
    ),
    Option(
        "--snapshot-entries",
        "Compact the Raft log into a RocksDB snapshot after this many entries; a member "
        "that falls further behind catches up from the snapshot.",
        _positive_int,
        50_000,
        metavar="N",
    ),
    Option(
        "--node-id",
        "Name of this node in logs and cluster status (default: its --raft-listen address).",
        str,
        metavar="ID",
    ),
    Option(
        "--max-connections",
        "Most client connections served at once; further clients are refused with SQLSTATE 53300.",
        _positive_int,
        100,
        metavar="N",
    ),
    Option(
        "--auth",
        "How PostgreSQL clients authenticate: trust (any user name, no password) or scram "
        "(SCRAM-SHA-256 against the roles of CREATE ROLE ... PASSWORD, and --superuser).",
        _choice("trust", "scram"),
        "trust",
        metavar="METHOD",
    ),
    Option(
        "--superuser",
        "Name of the built-in superuser, who can log in with --superuser-password under "
        "--auth scram (to create the first roles) and owns every object.",
        str,
        "quorumdb",
        metavar="NAME",
    ),
    Option(
        "--superuser-password",
        "Password of --superuser under --auth scram; held in memory only, never stored. "
        "Prefer the environment variable: a command line is visible to other users.",
        str,
        metavar="PASSWORD",
    ),
    Option(
        "--tls-cert",
        "PEM certificate (chain) for TLS on the PostgreSQL port; with --tls-key, clients "
        "asking for SSL get it (followers terminate TLS and relay to the leader in the clear).",
        Path,
        metavar="FILE",
    ),
    Option(
        "--tls-key",
        "PEM private key of --tls-cert.",
        Path,
        metavar="FILE",
    ),
    Option(
        "--log-level",
        "Least severe log messages to print: " + ", ".join(LEVELS) + ".",
        _choice(*LEVELS),
        "info",
        metavar="LEVEL",
    ),
    Option(
        "--log-format",
        "Log line format: text (for people) or json (one object per line, for log shippers).",
        _choice(*FORMATS),
        "text",
        metavar="FORMAT",
    ),
)


def _describe_default(option: Option) -> str:
    if option.kind == "switch":
        return "on" if option.default else "off"
    if option.default in (None, (), False):
        return ""
    return f"; default {option.default}"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every option on `parser` with default None ("not on the command line")."""
    for option in OPTIONS:
        default = _describe_default(option)
        if option.kind == "switch":
            help_text = f"{option.help} [env {option.env}=true|false; default {default}]"
            parser.add_argument(
                option.flag,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif option.kind == "flag":
            parser.add_argument(
                option.flag,
                dest=option.dest,
                action="store_const",
                const=True,
                default=None,
                help=f"{option.help} [env {option.env}=true]",
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.dest,
                metavar=option.metavar,
                action="append" if option.kind == "list" else "store",
                type=_argparse_type(option),
                default=None,
                help=f"{option.help} [env {option.env}{default}]",
            )


def _argparse_type(option: Option) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.dest  # argparse names the type in its messages
    return convert


class ConfigError(ValueError):
    """A missing or invalid setting; the message names the flag or variable."""


def _from_env(option: Option, raw: str) -> object:
    try:
        if option.kind == "list":
            return tuple(option.parse(item) for item in raw.split(",") if item.strip())
        return option.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{option.env}={raw!r}: {exc}") from None


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> NodeConfig:
    """Merge parsed flags, the environment and the defaults into a validated `NodeConfig`."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for option in OPTIONS:
        value = getattr(args, option.dest, None)
        if value is not None and option.kind == "list":
            value = tuple(value)
        if value is None and env.get(option.env, "").strip():
            value = _from_env(option, env[option.env])
        values[option.dest] = option.default if value is None else value
    if values["data_dir"] is None:
        raise ConfigError("--data-dir (or QUORUMDB_DATA_DIR) is required")
    listeners = {
        name: values[name] for name in ("pg_listen", "grpc_listen", "raft_listen", "http_listen")
    }
    seen: dict[object, str] = {}
    for name, address in listeners.items():
        if address in seen:
            raise ConfigError(
                f"--{name.replace('_', '-')} and --{seen[address].replace('_', '-')} "
                f"both use {address}"
            )
        seen[address] = name
    clustered = bool(values["peer"]) or bool(values["join"])
    for service in ("pg", "grpc", "raft", "http"):
        advertise = values[f"{service}_advertise"]
        if advertise is None:
            listen = values[f"{service}_listen"]
            assert isinstance(listen, Address)
            if clustered and listen.host in _WILDCARDS:
                raise ConfigError(
                    f"--{service}-listen {listen} is a wildcard address: set --{service}-advertise "
                    f"(QUORUMDB_{service.upper()}_ADVERTISE) to the address other nodes can reach"
                )
            advertise = listen
        values[f"{service}_advertise"] = advertise
    if values["node_id"] is None:
        values["node_id"] = str(values["raft_advertise"])
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        raise ConfigError("--tls-cert and --tls-key must be given together")
    values["peers"] = values.pop("peer")
    return NodeConfig(**values)  # type: ignore[arg-type]


def parse_serve_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> NodeConfig:
    """`resolve` for a bare `serve` argument list (tests and embedding)."""
    parser = argparse.ArgumentParser(prog="quorumdb serve")
    add_serve_arguments(parser)
    return resolve(parser.parse_args(list(argv)), environ)
