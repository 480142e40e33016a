"""The cluster as one node sees it: member reports merged into status rows, and the
safety rule for membership changes.

`merge` builds the `MemberStatus` rows of a Status answer from what the
members said about themselves (their local `NodeStatus`, fetched over gRPC
by the answering node) and what the leader tracks about them (match index,
connection). The leader's report is the reference: its member list is the
authoritative membership and its commit index is what lag is measured
against. A member that did not answer is UNREACHABLE; its row keeps what the
others know (its advertised addresses, the leader's view of it).

`membership_problem` says why adding or removing a member now would leave
the cluster without a healthy majority, or None when it is safe. "Healthy"
here is the leader's knowledge: itself, plus every follower it is connected
to whose log is within `QUORUM_WINDOW` entries of the commit index (one that
is further behind cannot acknowledge new entries until it has caught up).
Raft only commits what a majority of the *new* configuration stores, so:

* adding: healthy members >= majority(n + 1) (the new node is empty, it
  does not count yet). With 3 of 3 healthy a 4th can be added; with one of
  three down it cannot: the cluster would need 3 of 4 while only 2 work.
* removing X: healthy members other than X >= majority(n - 1).

Both are pure functions over protobuf messages / `RaftStatus`, so they are
tested without a cluster; so are the helpers that turn a `RaftStatus` into a
report (`fill_node_status`) and a node id or address into a member
(`resolve_member`).
"""

from __future__ import annotations

from collections.abc import Mapping

from quorumdb.proto import node_pb2 as pb
from quorumdb.raft import RaftStatus, Role

from .config import Address

__all__ = [
    "QUORUM_WINDOW",
    "ROLES",
    "majority",
    "healthy_members",
    "membership_problem",
    "merge",
    "fill_node_status",
    "resolve_member",
]

QUORUM_WINDOW = 1000
ROLES = {
    Role.LEADER: pb.ROLE_LEADER,
    Role.FOLLOWER: pb.ROLE_FOLLOWER,
    Role.CANDIDATE: pb.ROLE_CANDIDATE,
}


def majority(voters: int) -> int:
    return voters // 2 + 1


def healthy_members(status: RaftStatus) -> set[str]:
    """Members the leader can count on to acknowledge new entries now (itself included)."""
    healthy = {status.address}
    for peer in status.peers:
        if (
            peer.connected
            and peer.match_index is not None
            and peer.match_index + QUORUM_WINDOW >= status.commit_index
        ):
            healthy.add(peer.address)
    return healthy


def membership_problem(
    status: RaftStatus, *, add: str | None = None, remove: str | None = None
) -> str | None:
    """Why the change would lose the majority (a sentence for the operator), or None."""
    members = set(status.members)
    healthy = healthy_members(status) & members
    down = sorted(members - healthy)
    if add is not None:
        after = len(members) + 1
        if len(healthy) < majority(after):
            return (
                f"adding {add} makes {after} members, which need {majority(after)} working ones "
                f"to commit, but only {len(healthy)} are healthy (not healthy: {', '.join(down)}); "
                "the new node starts empty and cannot be counted until it has caught up"
            )
    if remove is not None:
        remaining = members - {remove}
        healthy_after = healthy - {remove}
        if len(healthy_after) < majority(len(remaining)):
            unhealthy = sorted(remaining - healthy_after)
            return (
                f"removing {remove} leaves {len(remaining)} members, which need "
                f"{majority(len(remaining))} working ones to commit, but only "
                f"{len(healthy_after)} of them are healthy (not healthy: {', '.join(unhealthy)})"
            )
    return None


def _leader_report(
    own: pb.NodeStatus, reports: Mapping[str, pb.NodeStatus]
) -> pb.NodeStatus | None:
    leaders = [r for r in reports.values() if r.role == pb.ROLE_LEADER]
    if own.role == pb.ROLE_LEADER:
        leaders.append(own)
    if not leaders:
        return None
    return max(leaders, key=lambda r: r.term)


def merge(
    own: pb.NodeStatus,
    reports: Mapping[str, pb.NodeStatus],
    failures: Mapping[str, str],
    advertised: Mapping[str, Mapping[str, str]],
) -> list[pb.MemberStatus]:
    """Status rows for every member, sorted by node id.

    `own` is the answering node's report, `reports` the other members' by Raft
    address, `failures` why a member could not be asked, and `advertised` what
    each member advertises over Raft (node_id and service addresses).
    """
    if own.role == pb.ROLE_STANDALONE:
        row = pb.MemberStatus(
            node_id=own.node_id,
            role=own.role,
            term=own.term,
            commit_index=own.commit_index,
            applied_index=own.applied_index,
            connected=True,
            health=own.health,
            health_reason=own.health_reason,
            is_self=True,
            reported=True,
        )
        row.addresses.CopyFrom(own.addresses)
        return [row]
    everyone = dict(reports)
    everyone[own.addresses.raft] = own
    leader = _leader_report(own, reports)
    members = set(leader.members if leader is not None else own.members)
    members.add(own.addresses.raft)  # even if the leader no longer lists it (just removed)
    reference = (
        max((r.commit_index for r in everyone.values()), default=0)
        if leader is None
        else leader.commit_index
    )
    progress = {p.raft_address: p for p in (leader.peers if leader is not None else own.peers)}
    rows = []
    for address in sorted(members):
        report = everyone.get(address)
        info = advertised.get(address, {})
        row = pb.MemberStatus(is_self=address == own.addresses.raft)
        if report is not None:
            row.addresses.CopyFrom(report.addresses)
            row.node_id = report.node_id
            row.role = report.role
            row.term = report.term
            row.commit_index = report.commit_index
            row.applied_index = report.applied_index
            row.lag = max(0, reference - report.applied_index)
            row.health = report.health
            row.health_reason = report.health_reason
            row.reported = True
        else:
            row.node_id = info.get("node_id", "")
            row.addresses.raft = address
            row.addresses.pg = info.get("pg", "")
            row.addresses.grpc = info.get("grpc", "")
            row.addresses.http = info.get("http", "")
            row.health = pb.HEALTH_UNREACHABLE
            row.health_reason = failures.get(address, "did not answer")
        peer = progress.get(address)
        if peer is not None:
            row.connected = peer.connected
            if peer.HasField("match_index"):
                row.match_index = peer.match_index
        else:
            # The leader itself (or, without a leader, the answering node): it is "connected"
            # if it answered.
            row.connected = report is not None
        rows.append(row)
    rows.sort(key=lambda r: (r.node_id == "", r.node_id, r.addresses.raft))
    return rows


def fill_node_status(st: pb.NodeStatus, status: RaftStatus, leader_commit: int | None) -> None:
    """Copy a node's own Raft status into its NodeStatus report."""
    st.role = ROLES.get(status.role, pb.ROLE_UNKNOWN)
    st.term = status.term
    st.leader = status.leader or ""
    st.commit_index = status.commit_index
    st.applied_index = status.applied_index
    st.leader_commit_index = leader_commit or 0
    st.log_first_index = status.log_first_index
    st.log_last_index = status.log_last_index
    if status.snapshot_index is not None:
        st.snapshot_index = status.snapshot_index
    st.members.extend(status.members)
    st.has_quorum = status.has_quorum
    st.lease_valid = status.lease_valid
    for peer in status.peers:
        progress = st.peers.add(raft_address=peer.address, connected=peer.connected)
        if peer.match_index is not None:
            progress.match_index = peer.match_index
        if peer.next_index is not None:
            progress.next_index = peer.next_index


def resolve_member(
    name: str, status: RaftStatus, advertised: dict[str, dict[str, str]]
) -> str | None:
    """A member's Raft address from its Raft address or node id."""
    if name in status.members:
        return name
    try:
        normalized = str(Address.parse(name))
        if normalized in status.members:
            return normalized
    except ValueError:
        pass
    for address in status.members:
        if advertised.get(address, {}).get("node_id") == name:
            return address
    return None
