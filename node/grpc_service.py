"""The node's gRPC service (proto/node.proto) and the standard health service.

Served by `GrpcServer` on --grpc-listen with grpc.aio on the node's own event
loop. Why asyncio rather than grpc's thread pool: ExecuteSQL runs SQL in a
`Session`, and sessions live on the event loop (the PostgreSQL server runs
them there, without locks); everything else either reads racy Raft
fields or waits on a `concurrent.futures.Future` from the Raft thread
(`asyncio.wrap_future`), and the blocking bits (RaftNode.status(), RocksDB
checkpoints, file reads) go to the default executor. No call holds the loop.

Calls that must run on the leader (AddMember, RemoveMember,
TransferLeadership, ExecuteSQL) are forwarded by a follower to the leader's
gRPC address, which members advertise to each other over Raft
(`RaftNode.member_info()`). A forwarded call carries the metadata
``quorumdb-forwarded-from``; a node that receives one and does not lead
answers NotLeader (25006) instead of forwarding again, and the forwarding
node asks again (the leader changed; nothing was done). Only NotLeader is
retried: any other failure of a forwarded call is passed back as it is, so a
statement is never run twice.

Errors: QuorumDB errors become gRPC status codes with the SQLSTATE in the
message and trailing metadata (node/grpc_errors.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc  # type: ignore[import-untyped]

from quorumdb.proto import health_pb2_grpc, node_pb2_grpc
from quorumdb.proto import node_pb2 as pb
from quorumdb.raft import NotLeader, RaftNode, RaftStatus, RequestDenied
from quorumdb.storage.errors import (
    ConnectionFailure,
    InternalError,
    QuorumError,
)
from quorumdb.storage.store import Store

from . import backup, cluster_view, grpc_sql, health
from .config import Address, NodeConfig
from .grpc_errors import RemoteError, streaming_edge, unary_edge
from .grpc_health import SERVICE_NAME, HealthService
from .log import fields
from .metrics import VERSION, directory_bytes

__all__ = ["GrpcServer", "ServedNode", "SERVICE_NAME", "FORWARDED_KEY"]

log = logging.getLogger(__name__)

FORWARDED_KEY = "quorumdb-forwarded-from"

_MAX_MESSAGE_BYTES = 64 << 20
_FANOUT_TIMEOUT = 1.5  # per member asked for its status
_LEADER_WAIT = 5.0  # how long a forwarded call waits for a leader to be known
_DEFAULT_OP_TIMEOUT = 30.0
_REACH_TIMEOUT = 1.0
_BACKUP_CHUNK = 1 << 20
_HEALTH = {
    health.Health.HEALTHY: pb.HEALTH_HEALTHY,
    health.Health.CATCHING_UP: pb.HEALTH_CATCHING_UP,
    health.Health.NO_LEADER: pb.HEALTH_NO_LEADER,
    health.Health.UNREACHABLE: pb.HEALTH_UNREACHABLE,
    health.Health.STOPPING: pb.HEALTH_STOPPING,
}
# Channels to other nodes: retry connecting quickly, so a member that comes back is
# reachable again within a second (gRPC's default backoff grows to two minutes).
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
)


class ServedNode(Protocol):
    """What the services need from the node process (node/server.py's `Node`)."""

    config: NodeConfig

    @property
    def raft(self) -> RaftNode | None: ...

    @property
    def store(self) -> Store | None: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def started_at(self) -> float: ...

    def open_session(self, user: str, database: str) -> Any: ...

    def connection_count(self) -> int: ...

    def journal_dir(self) -> str | None: ...


def _timeout(requested: float, context: grpc.aio.ServicerContext, default: float) -> float:
    wanted = requested if requested > 0 else default
    remaining = context.time_remaining()
    return wanted if remaining is None else max(0.0, min(wanted, remaining - 0.1))


class _Peers:
    """One cached channel per other node's gRPC address."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    def stub(self, address: str) -> node_pb2_grpc.NodeStub:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
            self._channels[address] = channel
        return node_pb2_grpc.NodeStub(channel)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()


class NodeService(node_pb2_grpc.NodeServicer):
    def __init__(
        self,
        node: ServedNode,
        peers: _Peers,
        on_statement: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._node = node
        self._peers = peers
        self._on_statement = on_statement
        self._on_error = on_error

    # ---- status -------------------------------------------------------------------

    async def _local_status(self) -> pb.NodeStatus:
        node, config = self._node, self._node.config
        assessment = await health.assess(node)
        st = pb.NodeStatus(
            node_id=config.node_id,
            version=VERSION,
            uptime_seconds=time.monotonic() - node.started_at,
            connections=node.connection_count(),
            health=_HEALTH[assessment.verdict.health],
            health_reason=assessment.verdict.reason,
        )
        st.addresses.pg = str(config.pg_advertise)
        st.addresses.grpc = str(config.grpc_advertise)
        st.addresses.http = str(config.http_advertise)
        store = node.store
        if store is not None:
            try:
                st.store_bytes = store.size_bytes()
            except Exception:  # noqa: BLE001 - closed under us while stopping
                pass
        journal = node.journal_dir()
        if journal is not None:
            st.journal_bytes = directory_bytes(journal)
        raft = node.raft
        status = assessment.status
        if raft is None:
            st.role = pb.ROLE_STANDALONE
            applied = store.mvcc.applied_index if store is not None else 0
            st.commit_index = st.applied_index = st.leader_commit_index = applied
            st.has_quorum = st.lease_valid = True
            st.leader_id = config.node_id
            return st
        st.addresses.raft = raft.address
        if status is None:
            st.role = cluster_view.ROLES.get(raft.role(), pb.ROLE_UNKNOWN)
            st.term = raft.term()
            return st
        cluster_view.fill_node_status(st, status, assessment.leader_commit_index)
        if status.leader is not None:
            st.leader_id = raft.member_info().get(status.leader, {}).get("node_id", "")
        return st

    @unary_edge
    async def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusResponse:  # noqa: N802
        own = await self._local_status()
        response = pb.StatusResponse(node=own, term=own.term, leader_id=own.leader_id)
        if request.local:
            return response
        raft = self._node.raft
        advertised = raft.member_info() if raft is not None else {}
        reports: dict[str, pb.NodeStatus] = {}
        failures: dict[str, str] = {}
        asked = {own.addresses.raft}

        async def ask(address: str) -> None:
            grpc_address = advertised.get(address, {}).get("grpc")
            if not grpc_address:
                failures[address] = "has not advertised its addresses to this node (down?)"
                return
            try:
                answer = await self._peers.stub(grpc_address).Status(
                    pb.StatusRequest(local=True), timeout=_FANOUT_TIMEOUT
                )
                reports[address] = answer.node
            except grpc.aio.AioRpcError as exc:
                detail = (exc.details() or "").splitlines()[0] if exc.details() else ""
                if len(detail) > 80:
                    detail = detail[:77] + "..."
                failures[address] = f"{grpc_address}: {exc.code().name} {detail}".rstrip()

        pending = [m for m in own.members if m not in asked]
        while pending:
            asked.update(pending)
            await asyncio.gather(*(ask(m) for m in pending))
            # Members the leader knows and this node does not yet (membership just changed).
            known = {m for r in reports.values() if r.role == pb.ROLE_LEADER for m in r.members}
            pending = sorted(known - asked)
        response.members.extend(cluster_view.merge(own, reports, failures, advertised))
        leaders = [m for m in response.members if m.role == pb.ROLE_LEADER and m.reported]
        if leaders:
            top = max(leaders, key=lambda m: m.term)
            response.leader_id = top.node_id
        response.term = max([own.term, *(r.term for r in reports.values())])
        return response

    @unary_edge
    async def Members(self, request: pb.MembersRequest, context: Any) -> pb.MembersResponse:  # noqa: N802
        node, config = self._node, self._node.config
        raft = node.raft
        if raft is None:
            member = pb.Member(node_id=config.node_id, is_leader=True, is_self=True)
            member.addresses.pg = str(config.pg_advertise)
            member.addresses.grpc = str(config.grpc_advertise)
            member.addresses.http = str(config.http_advertise)
            return pb.MembersResponse(members=[member])
        status = await self._raft_status()
        advertised = raft.member_info()
        response = pb.MembersResponse(leader=status.leader or "")
        for address in status.members:
            info = advertised.get(address, {})
            member = pb.Member(
                node_id=info.get("node_id", ""),
                is_leader=address == status.leader,
                is_self=address == raft.address,
            )
            member.addresses.raft = address
            member.addresses.pg = info.get("pg", "")
            member.addresses.grpc = info.get("grpc", "")
            member.addresses.http = info.get("http", "")
            response.members.append(member)
        response.members.sort(key=lambda m: (m.node_id == "", m.node_id, m.addresses.raft))
        return response

    async def _raft_status(self) -> RaftStatus:
        raft = self._require_raft()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, raft.status, health.STATUS_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - stopped or stuck Raft thread
            raise ConnectionFailure(f"the Raft node is not answering: {exc}") from exc

    def _require_raft(self) -> RaftNode:
        raft = self._node.raft
        if raft is None:
            raise _standalone_error()
        return raft

    # ---- forwarding to the leader -------------------------------------------------------

    async def _forward(self, method: str, request: Any, context: Any, timeout: float) -> Any | None:
        """Run `method` on the leader if that is another node; None if this node leads.

        Aborts the call when no leader becomes known in time or the leader fails it."""
        raft = self._require_raft()
        metadata = dict(context.invocation_metadata() or ())
        deadline = time.monotonic() + max(timeout, 0.5)
        while True:
            if raft.is_leader():
                return None
            if FORWARDED_KEY in metadata:  # never forward twice: the origin asks again
                raise NotLeader(leader=raft.leader_address())
            target = await self._leader_grpc(raft, deadline)
            if target is None:
                if raft.is_leader():
                    return None
                raise NotLeader("no leader is known; the cluster may have lost its majority")
            remaining = deadline - time.monotonic()
            try:
                call = getattr(self._peers.stub(target), method)
                return await call(
                    request,
                    timeout=max(remaining, 0.5),
                    metadata=((FORWARDED_KEY, self._node.config.node_id),),
                )
            except grpc.aio.AioRpcError as exc:
                remote = RemoteError.from_rpc_error(exc)
                if remote.sqlstate == NotLeader.sqlstate and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)  # the leader changed; nothing was done there
                    continue
                if remote.sqlstate is None:
                    raise ConnectionFailure(
                        f"cannot reach the leader's gRPC service at {target}: {remote.message}"
                    ) from exc
                # The leader's own answer (a SQL error, a refusal) goes back unchanged.
                await context.abort(
                    exc.code(), exc.details() or "", tuple(exc.trailing_metadata() or ())
                )

    async def _leader_grpc(self, raft: RaftNode, deadline: float) -> str | None:
        wait = min(deadline, time.monotonic() + _LEADER_WAIT)
        while True:
            leader = raft.leader_address()
            if leader is not None and leader != raft.address:
                address = raft.member_info().get(leader, {}).get("grpc")
                if address:
                    return address
            if leader == raft.address:
                return None
            if time.monotonic() >= wait:
                return None
            await asyncio.sleep(0.05)

    # ---- membership -----------------------------------------------------------------------

    @unary_edge
    async def AddMember(self, request: pb.AddMemberRequest, context: Any) -> pb.MembershipResponse:  # noqa: N802
        try:
            address = str(Address.parse(request.raft_address))
        except ValueError as exc:
            raise QuorumError(f"bad Raft address: {exc}", sqlstate="22023") from exc
        timeout = _timeout(request.timeout_seconds, context, _DEFAULT_OP_TIMEOUT)
        forwarded = await self._forward("AddMember", request, context, timeout)
        if forwarded is not None:
            return forwarded
        raft = self._require_raft()
        status = await self._raft_status()
        if address in status.members:
            raise QuorumError(f"{address} is already a member", sqlstate="42710")
        if not request.force:
            if not await _reachable(address):
                raise RequestDenied(
                    f"cannot connect to {address} from the leader {raft.address}",
                    hint="Start the new node first (quorumdb serve --join --peer <members> ...), "
                    "check the address it advertises (--raft-advertise), or use --force.",
                )
            problem = cluster_view.membership_problem(status, add=address)
            if problem is not None:
                raise RequestDenied(f"refused: {problem}", hint="Use --force to add it anyway.")
        log.info("adding a member", extra=fields(member=address, force=request.force))
        await self._raft_call(lambda: raft.add_member(address, timeout))
        return await self._membership_response()

    @unary_edge
    async def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: Any
    ) -> pb.MembershipResponse:  # noqa: N802
        timeout = _timeout(request.timeout_seconds, context, _DEFAULT_OP_TIMEOUT)
        forwarded = await self._forward("RemoveMember", request, context, timeout)
        if forwarded is not None:
            return forwarded
        raft = self._require_raft()
        status = await self._raft_status()
        address = cluster_view.resolve_member(request.member, status, raft.member_info())
        if address is None:
            raise QuorumError(f"{request.member} is not a member", sqlstate="42704")
        if not request.force:
            problem = cluster_view.membership_problem(status, remove=address)
            if problem is not None:
                raise RequestDenied(f"refused: {problem}", hint="Use --force to remove it anyway.")
        if address == raft.address:
            # A leader cannot remove itself: hand over first, then let the new leader do it.
            log.info(
                "transferring leadership before removing this node", extra=fields(member=address)
            )
            await self._raft_call(lambda: raft.transfer_leadership(None, timeout))
            forwarded = await self._forward("RemoveMember", request, context, timeout)
            assert forwarded is not None  # this node no longer leads
            return forwarded
        log.info("removing a member", extra=fields(member=address, force=request.force))
        await self._raft_call(lambda: raft.remove_member(address, timeout))
        return await self._membership_response()

    async def _membership_response(self) -> pb.MembershipResponse:
        raft = self._require_raft()
        status = await self._raft_status()
        leader = status.leader or ""
        return pb.MembershipResponse(
            members=list(status.members),
            leader=leader,
            leader_id=raft.member_info().get(leader, {}).get("node_id", ""),
        )

    async def _raft_call(self, start: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(start())

    # ---- leadership ---------------------------------------------------------------------

    @unary_edge
    async def TransferLeadership(  # noqa: N802
        self, request: pb.TransferLeadershipRequest, context: Any
    ) -> pb.LeadershipResponse:
        raft = self._require_raft()
        timeout = _timeout(
            request.timeout_seconds, context, 2 * raft.config.election_timeout_max + 1
        )
        forwarded = await self._forward("TransferLeadership", request, context, timeout)
        if forwarded is not None:
            return forwarded
        target: str | None = None
        if request.to:
            status = await self._raft_status()
            target = cluster_view.resolve_member(request.to, status, raft.member_info())
            if target is None:
                raise QuorumError(f"{request.to} is not a member", sqlstate="42704")
            if target == raft.address:
                return self._leadership(raft.address, changed=False)
        log.info("transferring leadership", extra=fields(to=target or "any"))
        leader = await self._raft_call(lambda: raft.transfer_leadership(target, timeout))
        return self._leadership(leader, changed=True)

    @unary_edge
    async def StepDown(self, request: pb.StepDownRequest, context: Any) -> pb.LeadershipResponse:  # noqa: N802
        raft = self._require_raft()
        if not raft.is_leader():
            return self._leadership(raft.leader_address() or "", changed=False)
        timeout = _timeout(
            request.timeout_seconds, context, 2 * raft.config.election_timeout_max + 1
        )
        log.info("stepping down")
        leader = await self._raft_call(lambda: raft.transfer_leadership(None, timeout))
        return self._leadership(leader, changed=True)

    def _leadership(self, leader: str, *, changed: bool) -> pb.LeadershipResponse:
        raft = self._require_raft()
        node_id = raft.member_info().get(leader, {}).get("node_id", "")
        return pb.LeadershipResponse(leader=leader, leader_id=node_id, changed=changed)

    # ---- backup ---------------------------------------------------------------------------

    @streaming_edge
    async def Backup(
        self, request: pb.BackupRequest, context: Any
    ) -> AsyncIterator[pb.BackupMessage]:  # noqa: N802
        node = self._node
        store = node.store
        if store is None:
            raise ConnectionFailure("the node is not running")
        chunk_bytes = min(max(request.chunk_bytes or _BACKUP_CHUNK, 4096), 4 << 20)
        loop = asyncio.get_running_loop()
        try:
            checkpoint = await loop.run_in_executor(
                None, backup.take_checkpoint, store, str(node.config.data_dir)
            )
        except Exception as exc:  # noqa: BLE001 - RocksDB reports plain exceptions
            log.exception("backup checkpoint failed")
            raise InternalError(f"cannot checkpoint the store: {exc}") from exc
        log.info(
            "backup started",
            extra=fields(applied_index=checkpoint.applied_index, bytes=checkpoint.total_bytes),
        )
        try:
            header = pb.BackupHeader(
                format_version=backup.FORMAT_VERSION,
                node_id=node.config.node_id,
                raft_address=node.raft.address if node.raft is not None else "",
                applied_index=checkpoint.applied_index,
                term=node.raft.term() if node.raft is not None else 0,
                total_bytes=checkpoint.total_bytes,
                created_at=backup.utc_now(),
            )
            for path, size in checkpoint.files:
                header.files.add(path=path, size=size)
            yield pb.BackupMessage(header=header)
            hashes = [hashlib.sha256() for _ in checkpoint.files]
            chunks = backup.read_chunks(checkpoint, chunk_bytes)

            def next_chunk() -> tuple[int, int, bytes] | None:
                item = next(chunks, None)
                if item is not None:
                    hashes[item[0]].update(item[2])
                return item

            while (item := await loop.run_in_executor(None, next_chunk)) is not None:
                number, offset, data = item
                yield pb.BackupMessage(chunk=pb.FileChunk(file=number, offset=offset, data=data))
            yield pb.BackupMessage(trailer=pb.BackupTrailer(sha256=[h.hexdigest() for h in hashes]))
            log.info("backup sent", extra=fields(applied_index=checkpoint.applied_index))
        finally:
            await loop.run_in_executor(None, backup.discard_checkpoint, checkpoint)

    # ---- SQL --------------------------------------------------------------------------------

    @unary_edge
    async def ExecuteSQL(  # noqa: N802
        self, request: pb.ExecuteSQLRequest, context: Any
    ) -> pb.ExecuteSQLResponse:
        node = self._node
        if node.raft is not None and not request.stale:
            timeout = _timeout(0, context, 60.0)
            forwarded = await self._forward("ExecuteSQL", request, context, timeout)
            if forwarded is not None:
                return forwarded
        session = node.open_session(request.user or "cluster-cli", request.database or "quorumdb")
        return await grpc_sql.execute(
            session,
            request.sql,
            stale=request.stale,
            node_id=node.config.node_id,
            on_statement=self._on_statement,
            on_error=self._on_error,
        )


async def _reachable(address: str) -> bool:
    parsed = Address.parse(address)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parsed.host, parsed.port), _REACH_TIMEOUT
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


def _standalone_error() -> QuorumError:
    return QuorumError(
        "this node runs without Raft (no --peer): there is no cluster to change",
        sqlstate="0A000",
    )


class GrpcServer:
    """The gRPC listener: the node service and the health service on one port."""

    def __init__(
        self,
        node: ServedNode,
        address: Address,
        *,
        on_statement: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._node = node
        self._address = address
        self._peers = _Peers()
        self._on_statement = on_statement
        self._on_error = on_error
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        server = grpc.aio.server(
            options=(
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            )
        )
        node_pb2_grpc.add_NodeServicer_to_server(
            NodeService(self._node, self._peers, self._on_statement, self._on_error), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(HealthService(self._node), server)
        try:
            port = server.add_insecure_port(str(self._address))
        except RuntimeError as exc:  # grpc reports a failed bind this way
            raise OSError(str(exc)) from exc
        if port == 0:
            raise OSError(f"cannot bind {self._address}")
        await server.start()
        self._server = server
        self.port = port
        log.info("grpc listening", extra=fields(address=f"{self._address.host}:{port}"))

    async def stop(self, grace: float = 2.0) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
            log.info("grpc stopped")
        await self._peers.close()
