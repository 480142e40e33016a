from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Write(_message.Message):
    __slots__ = ("key", "value", "delete", "check", "expect_ts", "fresh", "exact", "expect_value", "expect_absent")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    EXPECT_TS_FIELD_NUMBER: _ClassVar[int]
    FRESH_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    EXPECT_VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPECT_ABSENT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    delete: bool
    check: bool
    expect_ts: int
    fresh: bool
    exact: bool
    expect_value: bytes
    expect_absent: bool
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., delete: _Optional[bool] = ..., check: _Optional[bool] = ..., expect_ts: _Optional[int] = ..., fresh: _Optional[bool] = ..., exact: _Optional[bool] = ..., expect_value: _Optional[bytes] = ..., expect_absent: _Optional[bool] = ...) -> None: ...

class ReadRange(_message.Message):
    __slots__ = ("start", "end", "unbounded", "read_ts")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    UNBOUNDED_FIELD_NUMBER: _ClassVar[int]
    READ_TS_FIELD_NUMBER: _ClassVar[int]
    start: bytes
    end: bytes
    unbounded: bool
    read_ts: int
    def __init__(self, start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., unbounded: _Optional[bool] = ..., read_ts: _Optional[int] = ...) -> None: ...

class TransactionCommand(_message.Message):
    __slots__ = ("writes", "reads")
    WRITES_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    writes: _containers.RepeatedCompositeFieldContainer[Write]
    reads: _containers.RepeatedCompositeFieldContainer[ReadRange]
    def __init__(self, writes: _Optional[_Iterable[_Union[Write, _Mapping]]] = ..., reads: _Optional[_Iterable[_Union[ReadRange, _Mapping]]] = ...) -> None: ...

class ReclaimRange(_message.Message):
    __slots__ = ("start", "end", "marker")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    start: bytes
    end: bytes
    marker: bytes
    def __init__(self, start: _Optional[bytes] = ..., end: _Optional[bytes] = ..., marker: _Optional[bytes] = ...) -> None: ...

class GarbageCollectCommand(_message.Message):
    __slots__ = ("watermark", "start", "max_versions", "reclaim", "by_key", "keys")
    WATERMARK_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RECLAIM_FIELD_NUMBER: _ClassVar[int]
    BY_KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    watermark: int
    start: bytes
    max_versions: int
    reclaim: _containers.RepeatedCompositeFieldContainer[ReclaimRange]
    by_key: bool
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, watermark: _Optional[int] = ..., start: _Optional[bytes] = ..., max_versions: _Optional[int] = ..., reclaim: _Optional[_Iterable[_Union[ReclaimRange, _Mapping]]] = ..., by_key: _Optional[bool] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("txn", "gc", "batch")
    TXN_FIELD_NUMBER: _ClassVar[int]
    GC_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    txn: TransactionCommand
    gc: GarbageCollectCommand
    batch: CommandBatch
    def __init__(self, txn: _Optional[_Union[TransactionCommand, _Mapping]] = ..., gc: _Optional[_Union[GarbageCollectCommand, _Mapping]] = ..., batch: _Optional[_Union[CommandBatch, _Mapping]] = ...) -> None: ...

class CommandBatch(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    def __init__(self, commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ...) -> None: ...
