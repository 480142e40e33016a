"""The benchmark harness's pure parts, without any server.

pgbench output parsing runs on output recorded from pgbench 15 against
PostgreSQL and QuorumDB (tests/bench/fixtures); ratios, targets and the
report files run on a fixture results dict.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from bench import pgbench, pgbench_load, report
from bench.failover import SteadyWriter
from bench.model import FAILED, Measurement, Row, Target
from bench.pgbench import (
    PgbenchRun,
    error_lines,
    parse_init_output,
    parse_latency_log,
    parse_run_output,
    percentile,
)
from bench.run import _parse_args
from bench.support import CpuPlan, Endpoint, call_with_timeout, proc_status_kb, process_tree
from bench.workloads import latency_stats

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- pgbench output ----------------------------------------------------------------------------


def test_summary_of_a_postgresql_tpcb_run():
    summary = parse_run_output(fixture("pg_tpcb_prepared.stdout"))
    assert summary.tps == pytest.approx(3757.601966)
    assert summary.transactions == 7525
    assert summary.failed == 0
    assert summary.serialization_failures == 0
    assert summary.deadlock_failures == 0
    assert summary.retried is None  # only printed with --max-tries > 1
    assert summary.latency_avg_ms == pytest.approx(1.065)
    assert summary.connection_time_ms == pytest.approx(4.891)
    commands = [c.command for c in summary.per_command]
    assert len(commands) == 11
    assert commands[0] == r"\set aid random(1, 100000 * :scale)"
    assert commands[-1] == "END;"
    branches = next(c for c in summary.per_command if "pgbench_branches" in c.command)
    assert branches.latency_ms > 0 and branches.failures == 0 and branches.retries is None


def test_summary_with_rate_limit_and_retries_columns():
    summary = parse_run_output(fixture("pg_select_rate_retries.stdout"))
    assert summary.tps == pytest.approx(286.604305)
    assert summary.retried == 0
    assert summary.latency_stddev_ms == pytest.approx(0.056)
    assert summary.schedule_lag_avg_ms == pytest.approx(0.089)
    assert [c.retries for c in summary.per_command] == [0, 0]
    assert summary.per_command[1].command.startswith("SELECT abalance")


def test_summary_counts_failures_by_kind():
    text = (
        fixture("pg_tpcb_prepared.stdout")
        .replace(
            "number of failed transactions: 0 (0.000%)", "number of failed transactions: 7 (0.093%)"
        )
        .replace("number of serialization failures: 0", "number of serialization failures: 5")
    )
    summary = parse_run_output(text)
    assert (summary.failed, summary.serialization_failures, summary.deadlock_failures) == (7, 5, 0)


def test_an_aborted_run_has_no_tps_and_its_errors_are_counted_once():
    summary = parse_run_output(fixture("qdb_prepared_aborted.stdout"))
    assert summary.tps is None
    assert summary.transactions == 0
    errors, warnings = error_lines(fixture("qdb_prepared_aborted.stderr"))
    assert (
        errors[0] == "pgbench: error: ERROR:  the extended query protocol is not supported yet (x3)"
    )
    assert errors[1].startswith("pgbench: error: client N script 0 aborted in command 4")
    assert errors[1].endswith("(x3)")
    assert "Run was aborted" in errors[2]
    # VACUUM/TRUNCATE before the run fail on QuorumDB but pgbench carries on: warnings only
    assert warnings == [
        "pgbench: error: ERROR:  VACUUM is not supported (x2)",
        "pgbench: error: ERROR:  TRUNCATE is not supported",
    ]


def test_a_successful_run_with_ignored_vacuum_errors_has_no_errors():
    errors, warnings = error_lines(fixture("qdb_select_simple.stderr"))
    assert errors == []
    assert len(warnings) == 2
    assert parse_run_output(fixture("qdb_select_simple.stdout")).tps == pytest.approx(3556.625966)


def test_init_output():
    elapsed, steps = parse_init_output(fixture("pg_init.stderr"))
    assert elapsed == pytest.approx(0.14)
    assert steps == {
        "drop tables": 0.0,
        "create tables": 0.01,
        "client-side generate": 0.05,
        "vacuum": 0.03,
        "primary keys": 0.04,
    }
    assert parse_init_output(fixture("qdb_init_failed.stderr")) == (None, {})
    errors, _ = error_lines(fixture("qdb_init_failed.stderr"))
    assert errors == ['pgbench: error: query failed: ERROR:  type "timestamp" does not exist']


def test_latency_log_keeps_successes_and_counts_the_rest():
    lines = fixture("pg_tx_log.txt").splitlines()
    assert len(lines) == 40
    lines += [
        "0 41 failed 0 1795541891 999999",
        "0 42 serialization 0 1795541891 999999",
        "1 43 skipped 0 1795541891 999999 120",
        "",
    ]
    log = parse_latency_log(lines)
    assert len(log.latencies_ms) == 40
    assert (log.failed, log.skipped) == (2, 1)
    assert log.latencies_ms[0] == pytest.approx(2.766)  # microseconds in the file
    assert log.percentile(0.5) == pytest.approx(sorted(log.latencies_ms)[19])


def test_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
    stats = latency_stats([3.0, 1.0, 2.0, 4.0])
    assert (stats.p50_ms, stats.p99_ms, stats.mean_ms, stats.n) == (2.0, 4.0, 2.5, 4)


def test_pgbench_command_line():
    run = PgbenchRun("select-only", 1, 10, 2, 5, "prepared", rate=500)
    endpoint = Endpoint("127.0.0.1", 5433, "quorumdb", "quorumdb")
    argv = run.argv(endpoint, Path("/tmp/x/tx"))
    assert argv[:2] == ["pgbench", "-S"]
    assert argv[argv.index("-M") + 1] == "prepared"
    assert argv[argv.index("-R") + 1] == "500"
    assert argv[argv.index("--log-prefix") + 1] == "/tmp/x/tx"
    assert "--failures-detailed" in argv and "-r" in argv
    assert argv[-5:] == ["-h", "127.0.0.1", "-p", "5433", "-U", "quorumdb", "quorumdb"][-5:]
    assert run.label == "select-only s1 c10 prepared R500"
    with pytest.raises(ValueError):
        PgbenchRun("tpcb", 1, 1, 1, 5, "binary")


# --- ratios and targets --------------------------------------------------------------------------


def tps_row(pg: float | None, qdb: Measurement, target: Target | None = None) -> Row:
    return Row("pgbench", "TPC-B s1 c10 prepared", "tps", "tx/s", True,
               Measurement(pg) if pg is not None else None, qdb, target)  # fmt: skip


def test_ratio_is_quorumdb_over_postgresql():
    assert tps_row(1000.0, Measurement(250.0)).ratio == pytest.approx(0.25)
    assert tps_row(None, Measurement(250.0)).ratio is None
    assert tps_row(1000.0, Measurement.failed("boom")).ratio is None
    assert tps_row(0.0, Measurement(5.0)).ratio is None


def test_ratio_target_needs_zero_failed_transactions():
    target = Target("ratio_at_least", 0.20, require_zero_failed=True)
    clean = Measurement(250.0, details={"failed_transactions": 0})
    failing = Measurement(250.0, details={"failed_transactions": 3})
    slow = Measurement(150.0, details={"failed_transactions": 0})
    assert target.evaluate(tps_row(1000.0, clean, target)) is True
    assert target.evaluate(tps_row(1000.0, failing, target)) is False
    assert target.evaluate(tps_row(1000.0, slow, target)) is False
    assert (
        target.evaluate(tps_row(1000.0, Measurement.failed("extended protocol"), target)) is False
    )
    assert target.evaluate(tps_row(1000.0, Measurement.unavailable("no cluster"), target)) is None
    assert target.evaluate(tps_row(None, clean, target)) is None
    assert target.describe("tx/s") == ">= 0.20x PostgreSQL, 0 failed"


def test_absolute_target():
    target = Target("quorumdb_below", 5.0)
    row = Row(
        "insert_latency",
        "c",
        "latency p50",
        "ms",
        False,
        Measurement(0.6),
        Measurement(4.9),
        target,
    )
    assert row.to_dict()["target_met"] is True
    row = Row("insert_latency", "c", "latency p50", "ms", False, None, Measurement(5.0), target)
    assert row.to_dict()["target_met"] is False
    assert target.describe("ms") == "< 5 ms"
    with pytest.raises(ValueError):
        Target("faster", 1.0)


# --- report files from a fixture results dict ----------------------------------------------------


def fixture_results() -> dict:
    zero = {"failed_transactions": 0, "latency_p50_ms": 4.2, "latency_p99_ms": 30.1}
    extended = "pgbench: error: ERROR:  the extended query protocol is not supported yet (x3)"
    rows = [
        Row("pgbench", "TPC-B s1 c10 prepared", "tps", "tx/s", True,
            Measurement(1574.0, details=zero), Measurement.failed(extended),
            Target("ratio_at_least", 0.20, require_zero_failed=True)),
        Row("pgbench", "select-only s1 c10 prepared", "tps", "tx/s", True,
            Measurement(48746.8, details=zero), Measurement.failed(extended),
            Target("ratio_at_least", 0.15)),
        Row("pgbench", "select-only s1 c10 simple", "tps", "tx/s", True,
            Measurement(33850.2, details=zero),
            Measurement(5747.4, details={**zero, "loaded_by": "tables loaded by bench/pgbench_load.py"})),
        Row("insert_latency", "autocommit INSERT, 1 client (QuorumDB fsync on; PostgreSQL synchronous_commit on)",
            "latency p50", "ms", False, Measurement(0.607), Measurement(0.692), Target("quorumdb_below", 5.0)),
        Row("failover", "kill -9 leader -> first commit on new leader", "median", "s", False, None,
            Measurement.unavailable("needs a 3-node cluster"), Target("quorumdb_below", 3.0)),
        Row("bulk_load", "pgbench -i -s 1", "peak memory per node", "MB", False, Measurement(21.3),
            Measurement(88.0), Target("quorumdb_below", 300.0)),
    ]  # fmt: skip
    machine = {"cpu_count": 2, "cpu_model": "test CPU", "quorumdb_commit": "0123456789abcdef",
               "quorumdb_dirty": True, "postgresql": "postgres (PostgreSQL) 15.18", "python": "3.11.7"}  # fmt: skip
    run = {"mode": "quick", "started": "2026-11-24T17:00:00+00:00", "quorumdb_nodes": 1,
           "quorumdb_nodes_note": "single node", "cpus": "not pinned", "only": []}  # fmt: skip
    raft = {"pysyncobj": {"sync": {"p50_ms": 0.4, "p99_ms": 0.6}, "pipelined": {"proposals_per_s": 10000}},
            "quorumdb": {"sync": {"p50_ms": 1.1, "p99_ms": 2.6}, "pipelined": {"proposals_per_s": 3000}}}  # fmt: skip
    results = report.build_results(rows, machine, run, {"raft_latency": raft})
    return json.loads(json.dumps(results))  # what latest.json holds


def test_results_summary_and_row_verdicts():
    results = fixture_results()
    assert results["summary"] == {
        "rows": 6, "targets": 5, "targets_met": 2, "targets_missed": 2, "targets_open": 1,
    }  # fmt: skip
    by_case = {r["case"]: r for r in results["rows"]}
    assert by_case["select-only s1 c10 simple"]["ratio"] == pytest.approx(
        5747.4 / 33850.2, abs=1e-4
    )
    assert by_case["TPC-B s1 c10 prepared"]["quorumdb"]["status"] == FAILED
    assert by_case["TPC-B s1 c10 prepared"]["target_met"] is False


def test_markdown_table():
    md = report.render_markdown(fixture_results())
    assert "| workload | case | metric | PostgreSQL | QuorumDB | ratio | target | met |" in md
    assert (
        "| pgbench | select-only s1 c10 simple | tps | 33,850 tx/s | 5,747 tx/s [2] | 0.170 |" in md
    )
    assert ">= 0.20x PostgreSQL, 0 failed | **NO** |" in md
    assert "| 0.607 ms | 0.692 ms | 1.140 | < 5 ms | yes |" in md
    assert "not available [3]" in md and "| < 3 s | open |" in md
    # the same error in two cells is one footnote
    assert md.count("FAILED [1]") == 2
    assert "1. `pgbench: error: ERROR:  the extended query protocol" in md
    assert "2. `tables loaded by bench/pgbench_load.py`" in md
    assert "| pysyncobj | 0.400 ms | 0.600 ms | 10,000 /s | - |" in md
    assert "| SQL autocommit INSERT, QuorumDB fsync on | 0.692 ms |" in md
    assert "Targets: 2 met, 2 missed, 1 open" in md


def test_png_history_and_all_files(tmp_path: Path):
    results = fixture_results()
    written = report.write_all(results, tmp_path)
    assert [p.name for p in written] == ["latest.json", "latest.md", "latest.png", "history.jsonl"]
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "latest.json").read_text()) == results
    report.write_all(results, tmp_path)
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2
    entry = history[0]
    assert entry["commit"] == "0123456789abcdef" and entry["mode"] == "quick"
    assert entry["targets"] == "2/5 met"
    key = "insert_latency/autocommit INSERT, 1 client (QuorumDB fsync on; PostgreSQL synchronous_commit on)/latency p50"
    assert entry["figures"][key]["quorumdb"] == 0.692
    assert entry["figures"]["pgbench/TPC-B s1 c10 prepared/tps"]["quorumdb"] is None


def test_the_report_shows_the_history_of_runs_with_their_labels(tmp_path: Path):
    results = fixture_results()
    results["run"]["label"] = "group commit"
    report.write_all(results, tmp_path)
    results["run"]["label"] = "compiled | expressions"
    report.write_all(results, tmp_path)
    md = (tmp_path / "latest.md").read_text()
    assert "What this run measures: compiled \\| expressions" in md
    assert "## History (bench/results/history.jsonl)" in md
    rows = [line for line in md.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and "group commit" in rows[0] and "compiled \\| expressions" in rows[1]
    assert "| 0.692 |" in rows[0]  # INSERT p50 of QuorumDB
    history = report.read_history(tmp_path / "history.jsonl")
    assert [h["label"] for h in history] == ["group commit", "compiled | expressions"]


def test_png_of_a_run_without_any_successful_measurement(tmp_path: Path):
    rows = [tps_row(None, Measurement.failed("no server"))]
    results = report.build_results(rows, {}, {"mode": "quick"})
    report.write_png(results, tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 0


# --- helpers that touch only this process ------------------------------------------------------


def test_cpu_plan_pins_only_on_machines_with_more_than_two_cpus():
    two = CpuPlan.auto(2)
    assert two.server_command(["postgres"]) == ["postgres"]
    eight = CpuPlan.auto(8)
    assert eight.server_command(["postgres", "-D", "x"]) == [
        "taskset",
        "-c",
        "0,1",
        "postgres",
        "-D",
        "x",
    ]
    assert eight.client_command(["pgbench"]) == ["taskset", "-c", "2-7", "pgbench"]
    assert CpuPlan.parse("none").server_cpus is None


def test_proc_memory_of_this_process():
    import os

    memory = proc_status_kb(os.getpid())
    assert memory["VmRSS"] > 0 and memory["VmHWM"] >= memory["VmRSS"]
    assert proc_status_kb(2**22 + 12345) == {}
    assert process_tree(os.getpid())[0] == os.getpid()


def test_failover_counts_only_writes_that_started_after_the_kill():
    node = object()
    writer = SteadyWriter([node], node, rate=50, table="t")  # type: ignore[list-item]  # never started
    # (start, end): the first write was in flight at the kill (t=1.0) and acknowledged late
    writer.commits = [(0.9, 1.6), (1.0, 1.3), (1.4, 1.45)]
    assert writer.first_commit_started_after(1.0) == 1.3
    assert writer.first_commit_started_after(1.1) == 1.45
    assert writer.first_commit_started_after(2.0) is None
    assert writer.committed() == 3


def test_call_with_timeout_abandons_a_blocked_call():
    import threading

    never = threading.Event()
    assert call_with_timeout(lambda: 42, 5.0) == 42
    assert call_with_timeout(lambda: never.wait(30), 0.05) is None


def test_fallback_loader_substitutes_unknown_types():
    executed: list[str] = []

    class FakeConnection:
        def execute(self, sql: str) -> None:
            if "timestamp" in sql or "char(" in sql:
                raise psycopg.errors.UndefinedObject("type does not exist")
            executed.append(sql)

    substituted = pgbench_load._create(FakeConnection(), "pgbench_history")  # type: ignore[arg-type]
    assert substituted == [
        "pgbench_history.mtime: timestamp -> text",
        "pgbench_history.filler: char(22) -> text",
    ]
    assert executed == [
        "CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime text, filler text)"
    ]
    assert pgbench_load.row_counts(10)["pgbench_accounts"] == 1_000_000


def test_command_line():
    args = _parse_args(["--quick", "--only", "pgbench,raft", "--only", "failover"])
    assert args.only == ["pgbench", "raft", "failover"] and args.quick
    with pytest.raises(SystemExit):
        _parse_args(["--quick", "--only", "nonsense"])
    with pytest.raises(SystemExit):
        _parse_args(["--quick", "--full"])
    assert pgbench.MODES == ("simple", "extended", "prepared")
