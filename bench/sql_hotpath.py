"""The SQL layer's cost per statement, in process, against storage anchors.

Runs statements through `Session.execute` on a LocalEngine (no network, no
Raft) and, in the same run, the storage operations they boil down to:

* a cached point SELECT by primary key vs. `mvcc.get` (the row read; the
  statement also reads the catalog version, a second get);
* a cached point UPDATE by primary key vs. `mvcc.get` + `mvcc.apply` of a
  one-write set (what the UPDATE reads and commits);
* the same SELECT with a different text every time (parse + plan, no cache
  hit) vs. the cached one: what the plan cache saves;
* a full scan with count(*) vs. `mvcc.scan` over the same rows.

"SQL layer" is the statement's time minus its anchor. Every figure is the
median of `--repeat` batches of `--iterations` statements.

    python -m bench.sql_hotpath [--engine memory|rocksdb] [--rows 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

from quorumdb.sql import keys
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, MemoryEngine, RocksEngine, Write, WriteSet

__all__ = ["main"]


async def _run(session: Session, sql: str) -> None:
    async for result in session.execute(sql):
        for _ in result.rows:
            pass


async def _median_us(step: Callable[[int], Awaitable[None]], iterations: int, repeat: int) -> float:
    batches = []
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(iterations):
            await step(i)
        batches.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(batches)


async def bench(
    engine_kind: str, rows: int, iterations: int, repeat: int
) -> list[tuple[str, float, float]]:
    directory = tempfile.TemporaryDirectory(prefix="sqlbench-")
    kv = MemoryEngine() if engine_kind == "memory" else RocksEngine(directory.name)
    engine = LocalEngine(MVCC(kv), sync=False)
    db = Database(engine)
    session = db.session()
    await _run(session, "CREATE TABLE t (id int PRIMARY KEY, v text, n int)")
    for start in range(0, rows, 500):
        values = ", ".join(f"({i}, 'value {i}', {i})" for i in range(start, min(start + 500, rows)))
        await _run(session, f"INSERT INTO t VALUES {values}")
    mvcc = engine.mvcc
    target = rows // 2
    key = keys.row_key(1, (target,))
    value = mvcc.get(key, mvcc.applied_index)
    assert value is not None

    async def select(i: int) -> None:
        await _run(session, f"SELECT v FROM t WHERE id = {target}")

    async def select_uncached(i: int) -> None:
        await _run(session, f"SELECT v FROM t WHERE id = {i % rows}")

    async def update(i: int) -> None:
        await _run(session, f"UPDATE t SET n = n + 1 WHERE id = {target}")

    async def count(i: int) -> None:
        await _run(session, "SELECT count(*) FROM t")

    async def anchor_get(i: int) -> None:
        mvcc.get(key, mvcc.applied_index)

    async def anchor_update(i: int) -> None:
        ts = mvcc.applied_index
        mvcc.get(key, ts)
        mvcc.apply(WriteSet((Write(key, value, ts),)), ts + 1)

    async def anchor_scan(i: int) -> None:
        start, end = keys.table_prefix(1), None
        for _ in mvcc.scan(start, end, mvcc.applied_index):
            pass

    scan_iterations = max(1, iterations // 500)
    # Scans first: the UPDATE loops below pile up versions of one row.
    scans = (
        f"count(*) over {rows} rows",
        await _median_us(count, scan_iterations, repeat),
        await _median_us(anchor_scan, scan_iterations, repeat),
    )
    results = [
        (
            "point SELECT by pk (cached plan)",
            await _median_us(select, iterations, repeat),
            await _median_us(anchor_get, iterations, repeat),
        ),
        (
            "point SELECT, new text each time",
            await _median_us(select_uncached, iterations, repeat),
            await _median_us(select, iterations, repeat),
        ),
        (
            "point UPDATE by pk incl. commit",
            await _median_us(update, iterations, repeat),
            await _median_us(anchor_update, iterations, repeat),
        ),
        scans,
    ]
    kv.close()
    directory.cleanup()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("memory", "rocksdb"), default="rocksdb")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(bench(args.engine, args.rows, args.iterations, args.repeat))
    print(f"engine={args.engine} rows={args.rows} (median of {args.repeat} batches, microseconds)")
    print(f"{'statement':40s} {'total':>10s} {'anchor':>10s} {'difference':>11s}")
    for name, total, anchor in results:
        print(f"{name:40s} {total:10.1f} {anchor:10.1f} {total - anchor:11.1f}")
    print("anchors: mvcc.get; the cached SELECT; mvcc.get + mvcc.apply; mvcc.scan")


if __name__ == "__main__":
    main()
