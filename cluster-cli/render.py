"""What cluster-cli prints: aligned tables for people, JSON for scripts.

The JSON shapes are a contract (docs/operations.md documents them): keys are
only ever added, never renamed, and enums are lowercase words ("leader",
"catching-up"), not protobuf numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from quorumdb.proto import node_pb2 as pb

__all__ = [
    "role_name",
    "health_name",
    "table",
    "status_json",
    "status_table",
    "members_json",
    "members_table",
    "sql_json",
    "sql_text",
    "dumps",
]

_ROLE: dict[int, str] = {
    pb.ROLE_UNKNOWN: "unknown",
    pb.ROLE_FOLLOWER: "follower",
    pb.ROLE_CANDIDATE: "candidate",
    pb.ROLE_LEADER: "leader",
    pb.ROLE_STANDALONE: "standalone",
}
_HEALTH: dict[int, str] = {
    pb.HEALTH_UNKNOWN: "unknown",
    pb.HEALTH_HEALTHY: "healthy",
    pb.HEALTH_CATCHING_UP: "catching-up",
    pb.HEALTH_NO_LEADER: "no-leader",
    pb.HEALTH_UNREACHABLE: "unreachable",
    pb.HEALTH_STOPPING: "stopping",
}


def role_name(role: int) -> str:
    return _ROLE.get(role, "unknown")


def health_name(health: int) -> str:
    return _HEALTH.get(health, "unknown")


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell; the columns in `right` are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


# ---- status ---------------------------------------------------------------------------


def _member_json(m: pb.MemberStatus) -> dict[str, Any]:
    return {
        "node_id": m.node_id,
        "raft": m.addresses.raft,
        "pg": m.addresses.pg,
        "grpc": m.addresses.grpc,
        "http": m.addresses.http,
        "role": role_name(m.role) if m.reported else None,
        "term": m.term if m.reported else None,
        "commit_index": m.commit_index if m.reported else None,
        "applied_index": m.applied_index if m.reported else None,
        "match_index": m.match_index if m.HasField("match_index") else None,
        "lag": m.lag if m.reported else None,
        "connected": m.connected,
        "health": health_name(m.health),
        "reason": m.health_reason,
        "self": m.is_self,
    }


def status_json(response: pb.StatusResponse) -> dict[str, Any]:
    leader = next((m for m in response.members if m.role == pb.ROLE_LEADER and m.reported), None)
    node = response.node
    return {
        "leader": leader.node_id if leader is not None else None,
        "leader_raft": leader.addresses.raft if leader is not None else None,
        "term": response.term,
        "answered_by": node.node_id,
        "members": [_member_json(m) for m in response.members],
        "node": {
            "node_id": node.node_id,
            "role": role_name(node.role),
            "term": node.term,
            "leader": node.leader or None,
            "commit_index": node.commit_index,
            "applied_index": node.applied_index,
            "leader_commit_index": node.leader_commit_index,
            "log_first_index": node.log_first_index,
            "log_last_index": node.log_last_index,
            "snapshot_index": node.snapshot_index if node.HasField("snapshot_index") else None,
            "health": health_name(node.health),
            "reason": node.health_reason,
            "store_bytes": node.store_bytes,
            "journal_bytes": node.journal_bytes,
            "connections": node.connections,
            "uptime_seconds": round(node.uptime_seconds, 1),
            "version": node.version,
        },
    }


def _dash(value: object, present: bool) -> str:
    return str(value) if present else "-"


def status_table(response: pb.StatusResponse) -> str:
    data = status_json(response)
    if data["leader"]:
        summary = f"leader {data['leader']} ({data['leader_raft']}), term {data['term']}"
    else:
        summary = f"NO LEADER (term {data['term']})"
    members = response.members
    healthy = sum(1 for m in members if m.health == pb.HEALTH_HEALTHY)
    lines = [f"{summary}; {healthy} of {len(members)} members healthy; asked {data['answered_by']}"]
    rows = []
    for m in members:
        health = health_name(m.health)
        if m.health_reason and m.health != pb.HEALTH_HEALTHY:
            health += f" ({m.health_reason})"
        rows.append(
            [
                (m.node_id or "?") + (" *" if m.is_self else ""),
                m.addresses.raft or "-",
                m.addresses.pg or "-",
                role_name(m.role) if m.reported else "-",
                _dash(m.term, m.reported),
                _dash(m.commit_index, m.reported),
                _dash(m.applied_index, m.reported),
                _dash(m.match_index, m.HasField("match_index")),
                _dash(m.lag, m.reported),
                health,
            ]
        )
    headers = ["ID", "RAFT", "PG", "ROLE", "TERM", "COMMIT", "APPLIED", "MATCH", "LAG", "HEALTH"]
    lines.append(table(headers, rows, right=(4, 5, 6, 7, 8)))
    lines.append("(* = the node that answered; LAG = entries behind the leader's commit index)")
    return "\n".join(lines)


# ---- members ----------------------------------------------------------------------------


def members_json(response: pb.MembersResponse) -> list[dict[str, Any]]:
    return [
        {
            "node_id": m.node_id,
            "raft": m.addresses.raft,
            "pg": m.addresses.pg,
            "grpc": m.addresses.grpc,
            "http": m.addresses.http,
            "leader": m.is_leader,
            "self": m.is_self,
        }
        for m in response.members
    ]


def members_table(response: pb.MembersResponse) -> str:
    rows = [
        [
            (m["node_id"] or "?") + (" *" if m["self"] else ""),
            m["raft"] or "-",
            m["pg"] or "-",
            m["grpc"] or "-",
            m["http"] or "-",
            "leader" if m["leader"] else "",
        ]
        for m in members_json(response)
    ]
    return table(["ID", "RAFT", "PG", "GRPC", "HTTP", ""], rows)


# ---- SQL ------------------------------------------------------------------------------------


def sql_json(response: pb.ExecuteSQLResponse) -> dict[str, Any]:
    return {
        "node_id": response.node_id,
        "results": [
            {
                "columns": [c.name for c in r.columns],
                "rows": [
                    [v.text if v.HasField("text") else None for v in row.values] for row in r.rows
                ],
                "tag": r.tag,
                "notices": list(r.notices),
            }
            for r in response.results
        ],
    }


def sql_text(response: pb.ExecuteSQLResponse) -> str:
    """psql-like output: a table and a row count for results with columns, else the tag."""
    parts = []
    for result in response.results:
        for notice in result.notices:
            parts.append(f"NOTICE:  {notice}")
        if not result.columns:
            parts.append(result.tag)
            continue
        headers = [c.name for c in result.columns]
        rows = [[v.text if v.HasField("text") else "" for v in row.values] for row in result.rows]
        widths = [len(h) for h in headers]
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        parts.append(" " + " | ".join(h.center(widths[i]) for i, h in enumerate(headers)).rstrip())
        parts.append("-" + "-+-".join("-" * w for w in widths) + "-")
        for row in rows:
            parts.append(" " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        count = len(rows)
        parts.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(parts)
