"""The node process: the only layer that opens sockets, starts threads and reads configuration.

Modules: `pgwire` (PostgreSQL v3 codecs, no I/O), `pgserver` (asyncio server
over a SQL session), `config` (flags and QUORUMDB_* variables), `log`
(logging setup), `server` (the `Node` wiring storage, SQL and listeners),
`cli` (`quorumdb serve`), `devcluster` (`make run`). Operations:
`grpc_service` (the gRPC node and health services; `grpc_errors` maps SQLSTATEs
to status codes), `cluster_view` (status merge, membership safety), `health`
(readiness rules), `http` (/metrics, /healthz, /readyz), `metrics` (the
Prometheus registry and its hooks), `backup` (checkpoints, the backup format,
restore).

Nothing is imported here, so that `import quorumdb.node.config` does not load
RocksDB or the SQL engine.
"""

__all__: list[str] = []
