from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNKNOWN: _ClassVar[Role]
    ROLE_FOLLOWER: _ClassVar[Role]
    ROLE_CANDIDATE: _ClassVar[Role]
    ROLE_LEADER: _ClassVar[Role]
    ROLE_STANDALONE: _ClassVar[Role]

class Health(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_UNKNOWN: _ClassVar[Health]
    HEALTH_HEALTHY: _ClassVar[Health]
    HEALTH_CATCHING_UP: _ClassVar[Health]
    HEALTH_NO_LEADER: _ClassVar[Health]
    HEALTH_UNREACHABLE: _ClassVar[Health]
    HEALTH_STOPPING: _ClassVar[Health]
ROLE_UNKNOWN: Role
ROLE_FOLLOWER: Role
ROLE_CANDIDATE: Role
ROLE_LEADER: Role
ROLE_STANDALONE: Role
HEALTH_UNKNOWN: Health
HEALTH_HEALTHY: Health
HEALTH_CATCHING_UP: Health
HEALTH_NO_LEADER: Health
HEALTH_UNREACHABLE: Health
HEALTH_STOPPING: Health

class Addresses(_message.Message):
    __slots__ = ("pg", "grpc", "raft", "http")
    PG_FIELD_NUMBER: _ClassVar[int]
    GRPC_FIELD_NUMBER: _ClassVar[int]
    RAFT_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    pg: str
    grpc: str
    raft: str
    http: str
    def __init__(self, pg: _Optional[str] = ..., grpc: _Optional[str] = ..., raft: _Optional[str] = ..., http: _Optional[str] = ...) -> None: ...

class PeerProgress(_message.Message):
    __slots__ = ("raft_address", "connected", "match_index", "next_index")
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    NEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    raft_address: str
    connected: bool
    match_index: int
    next_index: int
    def __init__(self, raft_address: _Optional[str] = ..., connected: _Optional[bool] = ..., match_index: _Optional[int] = ..., next_index: _Optional[int] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("node_id", "addresses", "role", "term", "leader", "leader_id", "commit_index", "applied_index", "leader_commit_index", "log_first_index", "log_last_index", "snapshot_index", "members", "peers", "has_quorum", "lease_valid", "health", "health_reason", "store_bytes", "journal_bytes", "uptime_seconds", "version", "connections")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LEADER_COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOG_FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOG_LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    HAS_QUORUM_FIELD_NUMBER: _ClassVar[int]
    LEASE_VALID_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    HEALTH_REASON_FIELD_NUMBER: _ClassVar[int]
    STORE_BYTES_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addresses: Addresses
    role: Role
    term: int
    leader: str
    leader_id: str
    commit_index: int
    applied_index: int
    leader_commit_index: int
    log_first_index: int
    log_last_index: int
    snapshot_index: int
    members: _containers.RepeatedScalarFieldContainer[str]
    peers: _containers.RepeatedCompositeFieldContainer[PeerProgress]
    has_quorum: bool
    lease_valid: bool
    health: Health
    health_reason: str
    store_bytes: int
    journal_bytes: int
    uptime_seconds: float
    version: str
    connections: int
    def __init__(self, node_id: _Optional[str] = ..., addresses: _Optional[_Union[Addresses, _Mapping]] = ..., role: _Optional[_Union[Role, str]] = ..., term: _Optional[int] = ..., leader: _Optional[str] = ..., leader_id: _Optional[str] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., leader_commit_index: _Optional[int] = ..., log_first_index: _Optional[int] = ..., log_last_index: _Optional[int] = ..., snapshot_index: _Optional[int] = ..., members: _Optional[_Iterable[str]] = ..., peers: _Optional[_Iterable[_Union[PeerProgress, _Mapping]]] = ..., has_quorum: _Optional[bool] = ..., lease_valid: _Optional[bool] = ..., health: _Optional[_Union[Health, str]] = ..., health_reason: _Optional[str] = ..., store_bytes: _Optional[int] = ..., journal_bytes: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., version: _Optional[str] = ..., connections: _Optional[int] = ...) -> None: ...

class MemberStatus(_message.Message):
    __slots__ = ("node_id", "addresses", "role", "term", "commit_index", "applied_index", "match_index", "lag", "connected", "health", "health_reason", "is_self", "reported")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    HEALTH_REASON_FIELD_NUMBER: _ClassVar[int]
    IS_SELF_FIELD_NUMBER: _ClassVar[int]
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addresses: Addresses
    role: Role
    term: int
    commit_index: int
    applied_index: int
    match_index: int
    lag: int
    connected: bool
    health: Health
    health_reason: str
    is_self: bool
    reported: bool
    def __init__(self, node_id: _Optional[str] = ..., addresses: _Optional[_Union[Addresses, _Mapping]] = ..., role: _Optional[_Union[Role, str]] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., match_index: _Optional[int] = ..., lag: _Optional[int] = ..., connected: _Optional[bool] = ..., health: _Optional[_Union[Health, str]] = ..., health_reason: _Optional[str] = ..., is_self: _Optional[bool] = ..., reported: _Optional[bool] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("local",)
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    local: bool
    def __init__(self, local: _Optional[bool] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("node", "members", "leader_id", "term")
    NODE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    node: NodeStatus
    members: _containers.RepeatedCompositeFieldContainer[MemberStatus]
    leader_id: str
    term: int
    def __init__(self, node: _Optional[_Union[NodeStatus, _Mapping]] = ..., members: _Optional[_Iterable[_Union[MemberStatus, _Mapping]]] = ..., leader_id: _Optional[str] = ..., term: _Optional[int] = ...) -> None: ...

class MembersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Member(_message.Message):
    __slots__ = ("node_id", "addresses", "is_leader", "is_self")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    IS_LEADER_FIELD_NUMBER: _ClassVar[int]
    IS_SELF_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addresses: Addresses
    is_leader: bool
    is_self: bool
    def __init__(self, node_id: _Optional[str] = ..., addresses: _Optional[_Union[Addresses, _Mapping]] = ..., is_leader: _Optional[bool] = ..., is_self: _Optional[bool] = ...) -> None: ...

class MembersResponse(_message.Message):
    __slots__ = ("members", "leader")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    leader: str
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., leader: _Optional[str] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("raft_address", "force", "timeout_seconds")
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    raft_address: str
    force: bool
    timeout_seconds: float
    def __init__(self, raft_address: _Optional[str] = ..., force: _Optional[bool] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("member", "force", "timeout_seconds")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    member: str
    force: bool
    timeout_seconds: float
    def __init__(self, member: _Optional[str] = ..., force: _Optional[bool] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class MembershipResponse(_message.Message):
    __slots__ = ("members", "leader", "leader_id")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedScalarFieldContainer[str]
    leader: str
    leader_id: str
    def __init__(self, members: _Optional[_Iterable[str]] = ..., leader: _Optional[str] = ..., leader_id: _Optional[str] = ...) -> None: ...

class TransferLeadershipRequest(_message.Message):
    __slots__ = ("to", "timeout_seconds")
    TO_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    to: str
    timeout_seconds: float
    def __init__(self, to: _Optional[str] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class StepDownRequest(_message.Message):
    __slots__ = ("timeout_seconds",)
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    timeout_seconds: float
    def __init__(self, timeout_seconds: _Optional[float] = ...) -> None: ...

class LeadershipResponse(_message.Message):
    __slots__ = ("leader", "leader_id", "changed")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    leader: str
    leader_id: str
    changed: bool
    def __init__(self, leader: _Optional[str] = ..., leader_id: _Optional[str] = ..., changed: _Optional[bool] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ("chunk_bytes",)
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    chunk_bytes: int
    def __init__(self, chunk_bytes: _Optional[int] = ...) -> None: ...

class BackupFile(_message.Message):
    __slots__ = ("path", "size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class BackupHeader(_message.Message):
    __slots__ = ("format_version", "node_id", "raft_address", "applied_index", "term", "total_bytes", "files", "created_at")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    node_id: str
    raft_address: str
    applied_index: int
    term: int
    total_bytes: int
    files: _containers.RepeatedCompositeFieldContainer[BackupFile]
    created_at: str
    def __init__(self, format_version: _Optional[int] = ..., node_id: _Optional[str] = ..., raft_address: _Optional[str] = ..., applied_index: _Optional[int] = ..., term: _Optional[int] = ..., total_bytes: _Optional[int] = ..., files: _Optional[_Iterable[_Union[BackupFile, _Mapping]]] = ..., created_at: _Optional[str] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("file", "offset", "data")
    FILE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    file: int
    offset: int
    data: bytes
    def __init__(self, file: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class BackupTrailer(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class BackupMessage(_message.Message):
    __slots__ = ("header", "chunk", "trailer")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    header: BackupHeader
    chunk: FileChunk
    trailer: BackupTrailer
    def __init__(self, header: _Optional[_Union[BackupHeader, _Mapping]] = ..., chunk: _Optional[_Union[FileChunk, _Mapping]] = ..., trailer: _Optional[_Union[BackupTrailer, _Mapping]] = ...) -> None: ...

class ExecuteSQLRequest(_message.Message):
    __slots__ = ("sql", "user", "database", "stale")
    SQL_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    sql: str
    user: str
    database: str
    stale: bool
    def __init__(self, sql: _Optional[str] = ..., user: _Optional[str] = ..., database: _Optional[str] = ..., stale: _Optional[bool] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("name", "type_oid")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_OID_FIELD_NUMBER: _ClassVar[int]
    name: str
    type_oid: int
    def __init__(self, name: _Optional[str] = ..., type_oid: _Optional[int] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class StatementResult(_message.Message):
    __slots__ = ("columns", "rows", "tag", "notices")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    tag: str
    notices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., tag: _Optional[str] = ..., notices: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecuteSQLResponse(_message.Message):
    __slots__ = ("results", "node_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[StatementResult]
    node_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[StatementResult, _Mapping]]] = ..., node_id: _Optional[str] = ...) -> None: ...
