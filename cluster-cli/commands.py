"""The cluster-cli subcommands: one function per command, `(args) -> exit code`.

They raise `Unreachable` / `OperationFailed` (cluster-cli/client.py) for the
exit codes 3 and 1 and print results to stdout; main.py turns the errors
into messages.
"""

from __future__ import annotations

import argparse
import sys
import time

from quorumdb.node import backup as backups
from quorumdb.proto import node_pb2 as pb

from . import render
from .client import NodeClient, OperationFailed
from .progress import ProgressBar, human_bytes

__all__ = [
    "status",
    "nodes",
    "leader",
    "add",
    "remove",
    "transfer_leader",
    "step_down",
    "backup",
    "restore",
    "sql",
]

_POLL_SECONDS = 0.5


def _client(args: argparse.Namespace) -> NodeClient:
    return NodeClient(args.addr, timeout=args.timeout)


def status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.call("Status", pb.StatusRequest(local=args.local))
    if args.local:
        response.members.add(
            node_id=response.node.node_id,
            role=response.node.role,
            term=response.node.term,
            commit_index=response.node.commit_index,
            applied_index=response.node.applied_index,
            health=response.node.health,
            health_reason=response.node.health_reason,
            is_self=True,
            reported=True,
            connected=True,
            addresses=response.node.addresses,
        )
    print(
        render.dumps(render.status_json(response)) if args.json else render.status_table(response)
    )
    return 0


def nodes(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.call("Members", pb.MembersRequest())
    print(
        render.dumps(render.members_json(response)) if args.json else render.members_table(response)
    )
    return 0


def leader(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.call("Members", pb.MembersRequest())
    found = next((m for m in render.members_json(response) if m["leader"]), None)
    if found is None:
        raise OperationFailed("no leader is known right now (election in progress, or no majority)")
    if args.json:
        print(render.dumps(found))
    else:
        print(
            f"{found['node_id'] or '?'}  raft {found['raft'] or '-'}  pg {found['pg'] or '-'}  "
            f"grpc {found['grpc'] or '-'}"
        )
    return 0


def add(args: argparse.Namespace) -> int:
    request = pb.AddMemberRequest(
        raft_address=args.address, force=args.force, timeout_seconds=args.timeout
    )
    with _client(args) as client:
        response = client.call("AddMember", request, timeout=args.timeout + 5)
        print(f"added {args.address}; members: {', '.join(response.members)}")
        if args.wait:
            _wait_caught_up(client, args.address, args.timeout)
        else:
            print("watch it catch up with: cluster-cli status")
    return 0


def _wait_caught_up(client: NodeClient, address: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        response = client.call("Status", pb.StatusRequest())
        row = next((m for m in response.members if m.addresses.raft == address), None)
        if row is not None and row.health == pb.HEALTH_HEALTHY:
            print(f"{address} caught up at applied index {row.applied_index}")
            return
        line = (
            f"{address}: {render.health_name(row.health)} "
            f"(applied {row.applied_index}, lag {row.lag})"
            if row is not None
            else f"{address}: not listed yet"
        )
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if time.monotonic() >= deadline:
            raise OperationFailed(f"{address} did not catch up within {timeout:g}s ({line})")
        time.sleep(_POLL_SECONDS)


def remove(args: argparse.Namespace) -> int:
    request = pb.RemoveMemberRequest(
        member=args.address, force=args.force, timeout_seconds=args.timeout
    )
    with _client(args) as client:
        response = client.call("RemoveMember", request, timeout=args.timeout + 5)
    print(f"removed {args.address}; members: {', '.join(response.members)}")
    print(f"stop the removed node now; leader: {response.leader_id or response.leader or '?'}")
    return 0


def _leadership_line(response: pb.LeadershipResponse, unchanged: str) -> str:
    who = f"{response.leader_id or '?'} ({response.leader or 'unknown'})"
    return f"leader is now {who}" if response.changed else f"{unchanged}; leader is {who}"


def transfer_leader(args: argparse.Namespace) -> int:
    request = pb.TransferLeadershipRequest(to=args.to or "", timeout_seconds=args.timeout)
    with _client(args) as client:
        response = client.call("TransferLeadership", request, timeout=args.timeout + 5)
    print(_leadership_line(response, f"{args.to} already leads"))
    return 0


def step_down(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.call(
            "StepDown", pb.StepDownRequest(timeout_seconds=args.timeout), timeout=args.timeout + 5
        )
    print(_leadership_line(response, f"{args.addr} does not lead, nothing to do"))
    return 0


def backup(args: argparse.Namespace) -> int:
    try:
        writer = backups.BackupWriter(args.path)
    except backups.BackupError as exc:
        raise OperationFailed(str(exc)) from None
    done = False
    try:
        with _client(args) as client:
            bar: ProgressBar | None = None
            received = 0
            manifest = None
            # A backup's duration grows with the database: --timeout bounds each message's
            # wait, not the whole transfer.
            for message in client.stream("Backup", pb.BackupRequest(), timeout=None):
                kind = message.WhichOneof("kind")
                if kind == "header":
                    header = message.header
                    if header.format_version != backups.FORMAT_VERSION:
                        raise OperationFailed(
                            f"the node sends backup format {header.format_version}, "
                            f"this cluster-cli reads {backups.FORMAT_VERSION}"
                        )
                    writer.begin(
                        applied_index=header.applied_index,
                        term=header.term,
                        node_id=header.node_id,
                        raft_address=header.raft_address,
                        created_at=header.created_at,
                        files=[(f.path, f.size) for f in header.files],
                    )
                    bar = ProgressBar(
                        header.total_bytes, f"backup of {header.node_id}@{header.applied_index}"
                    )
                    bar.update(0)
                elif kind == "chunk":
                    chunk = message.chunk
                    writer.write(chunk.file, chunk.offset, chunk.data)
                    received += len(chunk.data)
                    if bar is not None:
                        bar.update(received)
                elif kind == "trailer":
                    if bar is not None:
                        bar.finish()
                    manifest = writer.finish(list(message.trailer.sha256))
            if manifest is None:
                raise OperationFailed("the backup stream ended early (the node stopped?)")
        done = True
    except backups.BackupError as exc:
        raise OperationFailed(f"backup failed: {exc}") from None
    finally:
        if not done:
            writer.abort()
    print(
        f"backup of {manifest.node_id} at applied index {manifest.applied_index}: "
        f"{len(manifest.files)} files, {human_bytes(manifest.total_bytes)} -> {writer.path}"
    )
    return 0


def restore(args: argparse.Namespace) -> int:
    try:
        result = backups.restore(args.path, args.data_dir)
    except backups.BackupError as exc:
        raise OperationFailed(f"restore failed: {exc}") from None
    manifest = result.manifest
    print(
        f"restored the backup of {manifest.node_id or '?'} taken {manifest.created_at} "
        f"(applied index {result.applied_index}, {human_bytes(manifest.total_bytes)}) "
        f"into {result.data_dir}"
    )
    print(
        "next: start a new cluster from it - a single node:\n"
        f"  quorumdb serve --data-dir {result.data_dir}\n"
        "or restore the same backup into every member's data directory and start each "
        "with --peer <the others>; the new cluster's log continues after index "
        f"{result.applied_index}."
    )
    return 0


def sql(args: argparse.Namespace) -> int:
    request = pb.ExecuteSQLRequest(sql=args.sql, stale=args.stale)
    with _client(args) as client:
        response = client.call("ExecuteSQL", request)
    print(render.dumps(render.sql_json(response)) if args.json else render.sql_text(response))
    return 0
