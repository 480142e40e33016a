"""The one error hierarchy of QuorumDB.

Every error a client can see carries a PostgreSQL SQLSTATE. The hierarchy is
defined here, at the bottom of the layer stack, so that storage, raft, sql and
node all raise the same types; `quorumdb.sql.errors` re-exports it. The edge
(`node/`) turns an error into an ErrorResponse or a gRPC status.

An error is *deterministic* when every replica applying the same command would
raise it too (a failed expected-version check, a constraint violation). Any
other error raised while applying a replicated command means the replicas may
diverge, and the node stops instead (see `raft/`).
"""

from __future__ import annotations

__all__ = [
    "QuorumError",
    "read_did_not_commit",
    "SyntaxErrorSQL",
    "UndefinedTable",
    "UndefinedColumn",
    "UndefinedObject",
    "UndefinedFunction",
    "DuplicateTable",
    "DuplicateObject",
    "DuplicateColumn",
    "AmbiguousColumn",
    "DatatypeMismatch",
    "InvalidTextRepresentation",
    "NumericValueOutOfRange",
    "DivisionByZero",
    "StringDataRightTruncation",
    "UniqueViolation",
    "NotNullViolation",
    "CheckViolation",
    "ForeignKeyViolation",
    "SerializationFailure",
    "DeadlockDetected",
    "InFailedTransaction",
    "ActiveSqlTransaction",
    "NoActiveSqlTransaction",
    "ReadOnlyTransaction",
    "TransactionResolutionUnknown",
    "QueryCanceled",
    "TooManyConnections",
    "FeatureNotSupported",
    "InvalidPassword",
    "ProtocolViolation",
    "ProgramLimitExceeded",
    "InternalError",
    "ConnectionFailure",
    "AdminShutdown",
    "StorageCorruption",
]


class QuorumError(Exception):
    """Base of every error QuorumDB reports. `sqlstate` is the PostgreSQL code."""

    sqlstate: str = "XX000"
    severity: str = "ERROR"
    deterministic: bool = True

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
        position: int | None = None,
        sqlstate: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position  # 1-based character offset into the query, as PostgreSQL reports
        if sqlstate is not None:
            self.sqlstate = sqlstate

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sqlstate}: {self.message})"


class SyntaxErrorSQL(QuorumError):
    sqlstate = "42601"


class UndefinedTable(QuorumError):
    sqlstate = "42P01"


class UndefinedColumn(QuorumError):
    sqlstate = "42703"


class UndefinedObject(QuorumError):
    sqlstate = "42704"


class UndefinedFunction(QuorumError):
    sqlstate = "42883"


class DuplicateTable(QuorumError):
    sqlstate = "42P07"


class DuplicateObject(QuorumError):
    sqlstate = "42710"


class DuplicateColumn(QuorumError):
    sqlstate = "42701"


class AmbiguousColumn(QuorumError):
    sqlstate = "42702"


class DatatypeMismatch(QuorumError):
    sqlstate = "42804"


class InvalidTextRepresentation(QuorumError):
    sqlstate = "22P02"


class NumericValueOutOfRange(QuorumError):
    sqlstate = "22003"


class DivisionByZero(QuorumError):
    sqlstate = "22012"


class StringDataRightTruncation(QuorumError):
    sqlstate = "22001"


class UniqueViolation(QuorumError):
    sqlstate = "23505"


class NotNullViolation(QuorumError):
    sqlstate = "23502"


class CheckViolation(QuorumError):
    sqlstate = "23514"


class ForeignKeyViolation(QuorumError):
    sqlstate = "23503"


class SerializationFailure(QuorumError):
    """A write set's expected versions no longer hold (raised alike on every replica)."""

    sqlstate = "40001"


def read_did_not_commit() -> SerializationFailure:
    """40001 for a commit that read another's uncommitted writes which did not commit
    (early lock release, sql/txn.py; `Write.exact` on a replica)."""
    return SerializationFailure(
        "could not serialize access due to concurrent update",
        detail="A transaction whose uncommitted changes this one read did not commit.",
    )


class DeadlockDetected(QuorumError):
    sqlstate = "40P01"


class InFailedTransaction(QuorumError):
    sqlstate = "25P02"


class ActiveSqlTransaction(QuorumError):
    sqlstate = "25001"


class NoActiveSqlTransaction(QuorumError):
    sqlstate = "25P01"


class ReadOnlyTransaction(QuorumError):
    sqlstate = "25006"


class TransactionResolutionUnknown(QuorumError):
    """The commit may or may not have happened (leader lost while it was in flight)."""

    sqlstate = "08007"
    deterministic = False


class QueryCanceled(QuorumError):
    sqlstate = "57014"


class TooManyConnections(QuorumError):
    sqlstate = "53300"
    severity = "FATAL"


class FeatureNotSupported(QuorumError):
    sqlstate = "0A000"


class InvalidPassword(QuorumError):
    sqlstate = "28P01"
    severity = "FATAL"


class ProtocolViolation(QuorumError):
    sqlstate = "08P01"
    severity = "FATAL"


class ProgramLimitExceeded(QuorumError):
    sqlstate = "54000"


class ConnectionFailure(QuorumError):
    sqlstate = "08006"
    deterministic = False


class AdminShutdown(QuorumError):
    sqlstate = "57P01"
    severity = "FATAL"
    deterministic = False


class InternalError(QuorumError):
    sqlstate = "XX000"
    deterministic = False


class StorageCorruption(QuorumError):
    sqlstate = "XX001"
    deterministic = False
