"""The node process: the only layer that opens sockets, starts threads and reads configuration.

Modules: `pgwire` (PostgreSQL v3 codecs, no I/O), `pgserver` (asyncio server
over a SQL session), `config` (flags and QUORUMDB_* variables), `log`
(logging setup), `server` (the `Node` wiring storage, SQL and listeners),
`cli` (`quorumdb serve`), `devcluster` (`make run`).

Nothing is imported here, so that `import quorumdb.node.config` does not load
RocksDB or the SQL engine.
"""

__all__: list[str] = []
