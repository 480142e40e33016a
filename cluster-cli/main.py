"""The `cluster-cli` command: argument parsing, exit codes and error messages.

Each subcommand is a function in cluster-cli/commands.py; this module only
turns the command line into a call and its outcome into an exit code:

    0  success
    1  the operation failed or was refused (the node answered with an error)
    2  usage error (bad arguments)
    3  the node at --addr cannot be reached

Errors go to stderr as "cluster-cli: error: ..." (with the SQLSTATE and a
hint when the node sent them); results go to stdout, so scripts can parse
them (use --json where offered).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .client import DEFAULT_ADDR, OperationFailed, Unreachable

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_UNREACHABLE"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

_EPILOG = """\
The node to talk to is --addr HOST:PORT (its gRPC port), or QUORUMDB_ADDR,
else 127.0.0.1:6432 - right inside a node's container. Any member will do:
calls that must run on the leader are forwarded to it.

exit codes:
  0  success
  1  the operation failed or was refused (the node answered with an error)
  2  usage error
  3  the node at --addr cannot be reached

`cluster-cli COMMAND --help` describes each command.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with EXIT_USAGE (2, as argparse does) and prints our prefix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"cluster-cli: error: {message}\n")


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--addr",
        metavar="HOST:PORT",
        default=default,
        help=f"gRPC address of any node [env QUORUMDB_ADDR; default {DEFAULT_ADDR}]",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=argparse.SUPPRESS if suppress else 30.0,
        help="give up on the operation after this long (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = _Parser(
        prog="cluster-cli",
        description="Operate a QuorumDB cluster through any node's gRPC service.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(p, suppress=True)
        return p

    p = command(
        "status",
        "every member's role, term, commit/applied index, lag and health",
        "Show the cluster: the node at --addr asks every member for its status and merges "
        "them with the leader's replication progress. LAG is how many committed entries a "
        "member has still to apply; a new member catching up shows it shrinking.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--local", action="store_true", help="only the node at --addr, without asking the others"
    )
    p.set_defaults(run=commands.status)

    p = command(
        "nodes",
        "the members and their addresses",
        "List the members and the addresses they advertise.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=commands.nodes)

    p = command(
        "leader",
        "the current leader",
        "Print the leader's node id and addresses; exit 1 if no leader is known.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=commands.leader)

    p = command(
        "add",
        "add a node to the cluster (through Raft)",
        "Add the node whose Raft listener is at ADDR. Start it first, empty, with\n"
        "  quorumdb serve --join --peer <each existing member's Raft address> ...\n"
        "It catches up from the leader's log or a snapshot; `cluster-cli status` shows "
        "its progress (APPLIED vs COMMIT, LAG). Refused when the leader cannot reach ADDR or "
        "when the cluster lacks the healthy majority the bigger cluster would need, unless "
        "--force.",
    )
    p.add_argument("address", metavar="ADDR", help="the new node's Raft address, HOST:PORT")
    p.add_argument("--force", action="store_true", help="skip the reachability and quorum checks")
    p.add_argument(
        "--wait", action="store_true", help="then wait until the new member has caught up"
    )
    p.set_defaults(run=commands.add)

    p = command(
        "remove",
        "remove a member from the cluster (through Raft)",
        "Remove a member, named by its Raft address or node id. Removing the leader hands "
        "leadership to another member first. Refused when the remaining members would have "
        "no healthy majority (e.g. another member is down), unless --force. Stop the removed "
        "node afterwards; its data directory is not reused.",
    )
    p.add_argument("address", metavar="ADDR", help="Raft address (HOST:PORT) or node id")
    p.add_argument("--force", action="store_true", help="remove even if quorum would be at risk")
    p.set_defaults(run=commands.remove)

    p = command(
        "transfer-leader",
        "hand leadership to another member (planned failover)",
        "Hand leadership to TO (a Raft address or node id), or to the most caught-up "
        "follower, and wait until the new leader is in charge. Use before maintenance on "
        "the leader.",
    )
    p.add_argument("to", metavar="TO", nargs="?", help="the member to lead next (default: any)")
    p.set_defaults(run=commands.transfer_leader)

    p = command(
        "step-down",
        "make the node at --addr stop leading",
        "If the node at --addr leads, it hands leadership to the most caught-up follower "
        "and waits for it to take over; otherwise nothing happens (exit 0).",
    )
    p.set_defaults(run=commands.step_down)

    p = command(
        "backup",
        "write a consistent checkpoint of one replica to PATH",
        "Stream a consistent RocksDB checkpoint of the node at --addr (any member: each "
        "holds the whole database) to the new directory PATH, with a progress bar on "
        "stderr. The backup records the Raft index it contains and a SHA-256 of every file; "
        "it is written to PATH.partial and renamed when complete.",
    )
    p.add_argument("path", metavar="PATH", help="directory to create")
    p.set_defaults(run=commands.backup)

    p = command(
        "restore",
        "prepare a data directory from a backup (offline)",
        "Verify the backup at PATH and lay it into the new or empty data directory DIR, so "
        "that `quorumdb serve --data-dir DIR` starts a NEW cluster from it: without --peer a "
        "single node; for a cluster, restore the same backup into every member's data "
        "directory and start them with --peer as usual. No Raft state is copied: the new "
        "cluster's log continues after the backup's index. Talks to no node.",
    )
    p.add_argument("path", metavar="PATH", help="a directory written by `cluster-cli backup`")
    p.add_argument("--data-dir", metavar="DIR", required=True, help="the data directory to create")
    p.set_defaults(run=commands.restore)

    p = command(
        "sql",
        "run SQL on the leader",
        "Run the SQL text on the leader (the node at --addr forwards it) in a fresh session "
        "and print the results like psql. Several statements separated by ';' run as one "
        "implicit transaction. Errors print their SQLSTATE and exit 1.",
    )
    p.add_argument("sql", metavar="SQL", help='e.g. "SELECT count(*) FROM t"')
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--stale",
        action="store_true",
        help="run on the node at --addr with stale reads instead of on the leader",
    )
    p.set_defaults(run=commands.sql)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.addr = args.addr or os.environ.get("QUORUMDB_ADDR", "").strip() or DEFAULT_ADDR
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    try:
        return int(args.run(args))
    except Unreachable as exc:
        print(f"cluster-cli: error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except OperationFailed as exc:
        prefix = f"[{exc.sqlstate}] " if exc.sqlstate else ""
        print(f"cluster-cli: error: {prefix}{exc.message}", file=sys.stderr)
        if exc.detail:
            print(f"DETAIL: {exc.detail}", file=sys.stderr)
        if exc.hint:
            print(f"HINT: {exc.hint}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("cluster-cli: interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
