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

    python -m bench.gc_growth                          # about 40 s: 20 s per mode
    python -m bench.gc_growth --minutes 10             # 10 minutes per mode
    python -m bench.gc_growth --minutes 10 --anchor-seconds 120
    python -m bench.gc_growth --json out.json

The figure that matters is *growth*: the largest store size (and version
count) after the warm-up (the first tenth of the run, at least one sample)
divided by the largest during it. With GC the store should stay flat, well
within 2x; without it, it grows with the number of commits. `bench.run`
runs this as its `gc` workload (10 minutes with GC in `--full`).

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

__all__ = ["main", "Sample", "Growth", "growth", "run_mode"]


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    commits: int
    versions: int
    store_bytes: int
    gc_steps: int


@dataclass(frozen=True, slots=True)
class Growth:
    """How much the store grew after the warm-up: peak after it / peak during it."""

    warmup_seconds: float
    bytes_during_warmup: int
    bytes_after_warmup: int
    versions_during_warmup: int
    versions_after_warmup: int
    commits: int

    @property
    def bytes_ratio(self) -> float:
        return self.bytes_after_warmup / max(self.bytes_during_warmup, 1)

    @property
    def versions_ratio(self) -> float:
        return self.versions_after_warmup / max(self.versions_during_warmup, 1)

    def to_dict(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "bytes_ratio": round(self.bytes_ratio, 3),
            "versions_ratio": round(self.versions_ratio, 3),
        }


def growth(samples: list[Sample], warmup_fraction: float = 0.1) -> Growth:
    """The growth of a run's samples (the first one, taken before any update, is the
    loaded table: the warm-up window starts with it)."""
    if len(samples) < 3:
        raise ValueError("need at least three samples to tell warm-up from the rest")
    end = samples[-1].seconds * warmup_fraction
    warm = [s for s in samples if s.seconds <= end] or samples[:1]
    if len(warm) < 2:
        warm = samples[:2]
    rest = samples[len(warm) :]
    return Growth(
        round(warm[-1].seconds, 1),
        max(s.store_bytes for s in warm),
        max(s.store_bytes for s in rest),
        max(s.versions for s in warm),
        max(s.versions for s in rest),
        samples[-1].commits,
    )


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
                session,
                f"UPDATE account SET balance = balance + 1 WHERE id = {rng.randint(1, rows)}",
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
    parser.add_argument(
        "--anchor-seconds", type=float, help="length of the run without GC (default: the same)"
    )
    parser.add_argument("--no-anchor", action="store_true", help="only the run with GC")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--json", help="also write the samples to this file")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes else args.seconds
    anchor_seconds = args.anchor_seconds or seconds
    modes = [("with gc", True, seconds)]
    if not args.no_anchor:
        modes.append(("without gc (anchor)", False, anchor_seconds))
    results = {}
    summary = {}
    for mode, gc, length in modes:
        samples = asyncio.run(
            run_mode(
                gc=gc, seconds=length, rows=args.rows, clients=args.clients,
                sample_every=max(args.sample, length / 60),
            )
        )  # fmt: skip
        _print(mode, samples)
        results[mode] = [asdict(s) for s in samples]
        g = growth(samples)
        summary[mode] = g.to_dict()
        print(
            f"growth after the {g.warmup_seconds:.0f} s warm-up: store {g.bytes_ratio:.2f}x "
            f"({g.bytes_during_warmup / 1e6:.2f} -> {g.bytes_after_warmup / 1e6:.2f} MB), "
            f"versions {g.versions_ratio:.2f}x ({g.versions_during_warmup} -> "
            f"{g.versions_after_warmup}), {g.commits} commits"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "rows": args.rows,
                    "clients": args.clients,
                    "summary": summary,
                    "results": results,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
