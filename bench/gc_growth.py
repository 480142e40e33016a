"""Store growth under an update-heavy load, with MVCC garbage collection and without.

Every UPDATE writes a new version of its row; without GC the store grows
with every commit, with GC (sql/gc.py, the leader's bounded steps through the
log) it should level off. This benchmark runs the same workload twice, in
process on a RocksDB store (LocalEngine: the same command processor as a
replica, no network): clients UPDATE random rows of a small table in
autocommit, while a sampler records, every `--sample` seconds, the number of
stored versions (live, shadowed and deleted), RocksDB's size (SST files plus
memtables; deleted versions leave tombstones until compaction) and the
throughput. The run without GC is the anchor.

    python -m bench.gc_growth                  # about 40 s: 20 s per mode
    python -m bench.gc_growth --minutes 10     # 10 minutes per mode
    python -m bench.gc_growth --json out.json

Measured, not asserted: the figures go to stdout (and `--json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass

from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.gc import GarbageCollector
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, RocksEngine

__all__ = ["main", "Sample", "run_mode"]


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    commits: int
    versions: int
    store_bytes: int
    gc_steps: int


async def _execute(session: Session, sql: str) -> None:
    async for result in session.execute(sql):
        for _ in result.rows:
            pass


async def run_mode(
    *, gc: bool, seconds: float, rows: int, clients: int, sample_every: float
) -> list[Sample]:
    directory = tempfile.TemporaryDirectory(prefix="gcbench-")
    kv = RocksEngine(directory.name)
    mvcc = MVCC(kv)
    db = Database(LocalEngine(mvcc, sync=False))
    setup = db.session()
    await _execute(setup, "CREATE TABLE account (id int PRIMARY KEY, balance int, note text)")
    for start in range(1, rows + 1, 500):
        values = ", ".join(
            f"({i}, 0, 'xxxxxxxxxxxxxxxxxxxx')" for i in range(start, min(start + 500, rows + 1))
        )
        await _execute(setup, f"INSERT INTO account VALUES {values}")
    collector = GarbageCollector(db, interval=0.5)
    commits = 0
    stop = time.monotonic() + seconds

    async def client(seed: int) -> None:
        nonlocal commits
        session = db.session()
        rng = random.Random(seed)
        while time.monotonic() < stop:
            await _execute(
                session, f"UPDATE account SET balance = balance + 1 WHERE id = {rng.randint(1, rows)}"
            )
            commits += 1
            await asyncio.sleep(0)

    samples: list[Sample] = []
    began = time.monotonic()

    async def sampler() -> None:
        while True:
            samples.append(
                Sample(
                    round(time.monotonic() - began, 1),
                    commits,
                    mvcc.count_versions(),
                    kv.size_bytes(),
                    collector.stats.steps,
                )
            )
            if time.monotonic() >= stop:
                return
            await asyncio.sleep(sample_every)

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    if gc:
        tasks.append(asyncio.create_task(collector.run()))
    await asyncio.gather(*tasks[:clients], sampler())
    for task in tasks[clients:]:
        task.cancel()
    kv.close()
    directory.cleanup()
    return samples


def _print(mode: str, samples: list[Sample]) -> None:
    print(f"\n{mode}")
    print(f"{'s':>6} {'commits':>8} {'tps':>6} {'versions':>9} {'store MB':>9} {'gc steps':>8}")
    previous = None
    for s in samples:
        tps = (
            (s.commits - previous.commits) / max(s.seconds - previous.seconds, 1e-9)
            if previous
            else 0.0
        )
        print(
            f"{s.seconds:6.1f} {s.commits:8d} {tps:6.0f} {s.versions:9d} "
            f"{s.store_bytes / 1e6:9.2f} {s.gc_steps:8d}"
        )
        previous = s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per mode (default 20)")
    parser.add_argument("--minutes", type=float, help="per mode; overrides --seconds")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--json", help="also write the samples to this file")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes else args.seconds
    sample_every = max(args.sample, seconds / 60)
    results = {}
    for mode, gc in (("with gc", True), ("without gc (anchor)", False)):
        samples = asyncio.run(
            run_mode(
                gc=gc, seconds=seconds, rows=args.rows, clients=args.clients,
                sample_every=sample_every,
            )
        )  # fmt: skip
        _print(mode, samples)
        results[mode] = [asdict(s) for s in samples]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "clients": args.clients, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
