"""Turn a run's rows into the files people and scripts read: JSON, Markdown, PNG, history.

Everything here works from the results *dict* (the content of latest.json),
not from live objects, so a report can be regenerated from an old JSON file
and the tests feed it a fixture:

* `build_results` assembles the dict: machine, run settings, every row with
  its ratio and target verdict (computed by bench/model.py), extras such as
  the Raft layer's JSON, and workload-level errors;
* `render_markdown` -> latest.md: the comparison table, the pgbench details
  (latency percentiles, failed transactions), the Raft layer section and the
  full text of every error (the table cells keep only the first words);
* `write_png` -> latest.png: QuorumDB/PostgreSQL TPS ratio per pgbench
  configuration with the target lines, and latencies side by side;
* `history_entry` -> one line of history.jsonl per run, with the key
  figures, so the effect of each optimisation stays on record.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .model import FAILED, OK, Row

__all__ = [
    "SCHEMA",
    "build_results",
    "render_markdown",
    "write_png",
    "history_entry",
    "render_history",
    "read_history",
    "write_all",
    "format_value",
]

SCHEMA = 1


def build_results(
    rows: Iterable[Row],
    machine: Mapping[str, Any],
    run: Mapping[str, Any],
    extras: Mapping[str, Any] | None = None,
    errors: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    row_dicts = [row.to_dict() for row in rows]
    targets = [r["target_met"] for r in row_dicts if r["target"] is not None]
    return {
        "schema": SCHEMA,
        "run": dict(run),
        "machine": dict(machine),
        "summary": {
            "rows": len(row_dicts),
            "targets": len(targets),
            "targets_met": sum(1 for t in targets if t is True),
            "targets_missed": sum(1 for t in targets if t is False),
            "targets_open": sum(1 for t in targets if t is None),
        },
        "rows": row_dicts,
        "extras": dict(extras or {}),
        "errors": [dict(e) for e in errors],
    }


# --- Markdown ---------------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "tx/s":
        return f"{value:,.0f} tx/s" if value >= 100 else f"{value:,.1f} tx/s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3f} {unit}" if abs(value) < 1 else f"{value:.2f} {unit}"


def _note(notes: list[str], text: str) -> int:
    """The footnote number of `text`, added once however many cells refer to it."""
    if text not in notes:
        notes.append(text)
    return notes.index(text) + 1


def _cell(measurement: Mapping[str, Any] | None, unit: str, notes: list[str]) -> str:
    if measurement is None:
        return "n/a"
    status = measurement["status"]
    loaded_by = (measurement.get("details") or {}).get("loaded_by")
    if status == OK:
        value = format_value(measurement["value"], unit)
        return f"{value} [{_note(notes, loaded_by)}]" if loaded_by else value
    error = (measurement.get("error") or "").strip()
    number = _note(notes, error)
    short = error.splitlines()[0] if error else ""
    short = short if len(short) <= 60 else short[:57] + "..."
    label = "FAILED" if status == FAILED else status
    return f"{label} [{number}]: {_escape(short)}" if short else f"{label} [{number}]"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "**NO**", None: "open"}[met]


def render_markdown(
    results: Mapping[str, Any], history: Sequence[Mapping[str, Any]] | None = None
) -> str:
    run, machine, summary = results["run"], results["machine"], results["summary"]
    notes: list[str] = []
    commit = str(machine.get("quorumdb_commit", "?"))[:10]
    dirty = " + uncommitted changes" if machine.get("quorumdb_dirty") else ""
    lines = [
        f"# QuorumDB vs PostgreSQL — {run.get('mode', '?')} run, {run.get('started', '?')}",
        "",
        f"QuorumDB commit `{commit}`{dirty}; {machine.get('postgresql', 'PostgreSQL ?')}; "
        f"Python {machine.get('python', '?')}.",
        f"Machine: {machine.get('cpu_count', '?')} CPUs ({machine.get('cpu_model', '?')}), "
        f"{machine.get('memory_mb', '?')} MB RAM, {machine.get('kernel', '?')}; "
        f"temp files on {machine.get('tmp_filesystem', '?')}. CPU placement: {run.get('cpus', '?')}.",
        f"QuorumDB: {run.get('quorumdb_nodes', '?')} node(s), fsync on unless the row says otherwise"
        + (f" ({run['quorumdb_nodes_note']})" if run.get("quorumdb_nodes_note") else "")
        + ". PostgreSQL 15: fsync on, synchronous_commit on, shared_buffers 128MB.",
        "",
    ]
    if run.get("label"):
        lines += [f"What this run measures: {_escape(str(run['label']))}", ""]
    if run.get("interrupted"):
        lines += ["**This run was interrupted; the results are partial.**", ""]
    if run.get("only"):
        lines += [f"Only these workloads were selected: {', '.join(run['only'])}.", ""]
    lines += [
        f"Targets: {summary['targets_met']} met, {summary['targets_missed']} missed, "
        f"{summary['targets_open']} open (not measurable in this run) of {summary['targets']}.",
        "",
        "Ratio = QuorumDB / PostgreSQL: below 1 is slower for tx/s, above 1 is slower for ms, s and MB.",
        "",
        "| workload | case | metric | PostgreSQL | QuorumDB | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["rows"]:
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "-"
        target = row["target"]["text"] if row["target"] else ""
        met = _verdict(row["target_met"]) if row["target"] else ""
        lines.append(
            f"| {row['workload']} | {_escape(row['case'])} | {row['metric']} | "
            f"{_cell(row['postgresql'], row['unit'], notes)} | "
            f"{_cell(row['quorumdb'], row['unit'], notes)} | {ratio} | {_escape(target)} | {met} |"
        )
    lines += _pgbench_details(results["rows"])
    lines += _raft_section(results)
    lines += render_history(history or [])
    if results.get("errors"):
        lines += ["", "## Workloads that stopped early", ""]
        lines += [
            f"- {e.get('workload')}: {_escape(str(e.get('error')))}" for e in results["errors"]
        ]
    if notes:
        lines += ["", "## Notes and errors in full", ""]
        lines += [f"{i}. `{_escape(note)[:1500]}`" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def _pgbench_details(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    pgbench_rows = [r for r in rows if r["workload"] == "pgbench"]
    if not pgbench_rows:
        return []
    lines = [
        "",
        "## pgbench details",
        "",
        "Latency percentiles from pgbench's per-transaction log (-l), successful transactions only.",
        "",
        "| case | system | tx/s | p50 | p99 | failed tx |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in pgbench_rows:
        for system in ("postgresql", "quorumdb"):
            m = row.get(system)
            if not m or m["status"] != OK:
                continue
            d = m["details"]
            lines.append(
                f"| {row['case']} | {system} | {format_value(m['value'], 'tx/s')} | "
                f"{format_value(d.get('latency_p50_ms'), 'ms')} | "
                f"{format_value(d.get('latency_p99_ms'), 'ms')} | {d.get('failed_transactions', '-')} |"
            )
    return lines


def _raft_section(results: Mapping[str, Any]) -> list[str]:
    raft = results.get("extras", {}).get("raft_latency")
    if raft is None:
        return []
    lines = ["", "## Raft layer (bench/raft_latency.py)", ""]
    if not isinstance(raft, Mapping):
        return lines + [f"{raft}."]
    if raft.get("status") == FAILED:
        return lines + [f"Failed: `{_escape(str(raft.get('error')))}`"]
    layers = [
        (name, value)
        for name, value in raft.items()
        if isinstance(value, Mapping) and isinstance(value.get("sync"), Mapping)
    ]
    if layers:
        lines += [
            "| layer | 1 proposer p50 | p99 | pipelined proposals/s | pipelined p50 |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, value in layers:
            sync, piped = value["sync"], value.get("pipelined") or {}
            lines.append(
                f"| {name} | {format_value(sync.get('p50_ms'), 'ms')} | "
                f"{format_value(sync.get('p99_ms'), 'ms')} | "
                f"{format_value(piped.get('proposals_per_s'), '/s')} | "
                f"{format_value(piped.get('p50_ms'), 'ms')} |"
            )
        for row in results["rows"]:  # the SQL path on top of it, for the same picture
            if row["workload"] == "insert_latency" and row["metric"] == "latency p50":
                q = row.get("quorumdb") or {}
                if q.get("status") == OK:
                    fsync = "fsync off" if "fsync off" in row["case"] else "fsync on"
                    lines.append(
                        f"| SQL autocommit INSERT, QuorumDB {fsync} | "
                        f"{format_value(q['value'], 'ms')} | | | |"
                    )
        return lines
    return lines + ["```json", json.dumps(raft, indent=2)[:4000], "```"]


# --- PNG ----------------------------------------------------------------------------------------


def write_png(results: Mapping[str, Any], path: Path) -> None:
    """Two panels: TPS ratio per pgbench configuration; latencies (ms) of both systems."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    pgbench_rows = [r for r in rows if r["workload"] == "pgbench"]
    height = max(6.5, 0.35 * max(len(pgbench_rows), len(_latency_bars(rows))) + 2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, height))

    labels = [r["case"] for r in pgbench_rows]
    ratios = [r["ratio"] if r["ratio"] is not None else 0.0 for r in pgbench_rows]
    colours = [
        "tab:green"
        if r["target_met"] is True
        else "tab:red"
        if r["target_met"] is False
        else "tab:blue"
        for r in pgbench_rows
    ]
    ys = range(len(labels))
    left.barh(list(ys), ratios, color=colours)
    for y, row in zip(ys, pgbench_rows, strict=True):
        if row["ratio"] is None:
            left.text(0.005, y, "not measured", va="center", fontsize=8, color="dimgray",
                      transform=left.get_yaxis_transform())  # fmt: skip
    left.set_yticks(list(ys), labels, fontsize=8)
    left.invert_yaxis()
    for threshold, style in ((0.20, "--"), (0.15, ":")):
        left.axvline(threshold, color="black", linestyle=style, linewidth=1,
                     label=f"target {threshold:.2f}")  # fmt: skip
    left.set_xlabel("QuorumDB TPS / PostgreSQL TPS")
    left.set_title("pgbench throughput ratio (green: target met, red: missed)")
    left.legend(loc="lower right", fontsize=8)

    bars = _latency_bars(rows)
    width = 0.4
    every_value: list[float] = []
    for offset, values, system, colour in (
        (-width / 2, [pg for _, pg, _ in bars], "postgresql", "tab:gray"),
        (width / 2, [qdb for _, _, qdb in bars], "quorumdb", "tab:orange"),
    ):
        every_value += [v for v in values if v]
        positions = [i + offset for i in range(len(bars))]
        right.barh(positions, [v or 0.0 for v in values], height=width, color=colour, label=system)
        for position, value in zip(positions, values, strict=True):
            if value is None:
                right.text(0.005, position, "not measured", va="center", fontsize=6,
                           color="dimgray", transform=right.get_yaxis_transform())  # fmt: skip
    right.set_yticks(list(range(len(bars))), [bar[0] for bar in bars], fontsize=7)
    right.invert_yaxis()
    # A log axis hides how far apart two close values are; use it only for wide ranges.
    wide = bool(every_value) and max(every_value) / min(every_value) > 50
    if wide:
        right.set_xscale("log")
    right.set_xlabel("milliseconds" + (" (log scale)" if wide else ""))
    right.set_title("latency (pgbench: p50 per transaction)")
    right.legend(loc="lower right", fontsize=8)

    run, machine = results["run"], results["machine"]
    fig.suptitle(
        f"QuorumDB {str(machine.get('quorumdb_commit', '?'))[:10]} vs PostgreSQL 15 — "
        f"{run.get('mode', '?')} run {run.get('started', '')}, {machine.get('cpu_count', '?')} CPUs, "
        f"{run.get('quorumdb_nodes', '?')} QuorumDB node(s)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency_bars(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[str, float | None, float | None]]:
    """(label, PostgreSQL ms, QuorumDB ms): every latency row, and pgbench's p50 per configuration."""
    bars: list[tuple[str, float | None, float | None]] = []
    for row in rows:
        if row["unit"] == "ms":
            variant = " (fsync off)" if "fsync off" in row["case"] else ""
            name = "INSERT" if row["workload"] == "insert_latency" else row["case"][:30]
            bars.append((f"{name}{variant} {row['metric']}", _ok_value(row.get("postgresql")),
                         _ok_value(row.get("quorumdb"))))  # fmt: skip
    for row in rows:
        if row["workload"] == "pgbench":
            pg, qdb = (_detail(row.get(s), "latency_p50_ms") for s in ("postgresql", "quorumdb"))
            if pg is not None or qdb is not None:
                bars.append((f"{row['case']} p50", pg, qdb))
    return bars


def _detail(measurement: Mapping[str, Any] | None, name: str) -> float | None:
    if _ok_value(measurement) is None:
        return None
    assert measurement is not None
    value = (measurement.get("details") or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def _ok_value(measurement: Mapping[str, Any] | None) -> float | None:
    if not measurement or measurement.get("status") != OK:
        return None
    value = measurement.get("value")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


# --- history ------------------------------------------------------------------------------------

# The figures the history table follows: (column, key in a history line (a glob), what to show).
HISTORY_COLUMNS = (
    ("TPC-B c10 prep.", "pgbench/TPC-B s1 c10 prepared/tps", "ratio"),
    ("select c10 prep.", "pgbench/select-only s1 c10 prepared/tps", "ratio"),
    ("INSERT c10 prep.", "pgbench/INSERT s1 c10 prepared/tps", "ratio"),
    ("INSERT p50 ms", "insert_latency/autocommit INSERT, 1 client (QuorumDB fsync on; "
     "PostgreSQL synchronous_commit on)/latency p50", "quorumdb"),
    ("failover s", "failover/kill -9 leader under 50 writes/s -> first commit on new leader/median",
     "quorumdb"),
    ("peak RSS MB", "bulk_load/pgbench -i -s */peak memory per node", "quorumdb"),
)  # fmt: skip


def render_history(history: Sequence[Mapping[str, Any]], limit: int = 15) -> list[str]:
    """The last `limit` runs of history.jsonl as a table: what each change did.

    TPS columns are the QuorumDB/PostgreSQL ratio measured in that run (the
    machine is shared, so absolute figures drift); the others are QuorumDB's."""
    runs = [h for h in history if not h.get("interrupted")][-limit:]
    if not runs:
        return []
    lines = [
        "",
        "## History (bench/results/history.jsonl)",
        "",
        "TPS columns: ratio QuorumDB/PostgreSQL in that run; the others: QuorumDB's figure.",
        "",
        "| date | commit | mode | what changed | "
        + " | ".join(name for name, _, _ in HISTORY_COLUMNS)
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in HISTORY_COLUMNS) + " |",
    ]
    for entry in runs:
        figures = entry.get("figures") or {}
        cells = []
        for _, key, field_name in HISTORY_COLUMNS:
            matches = [figures[k] for k in sorted(figures) if fnmatch.fnmatchcase(k, key)]
            value = (matches[-1] if matches else {}).get(field_name)
            cells.append("-" if value is None else f"{value:.3g}")
        commit = str(entry.get("commit") or "?")[:8] + ("+" if entry.get("dirty") else "")
        lines.append(
            f"| {str(entry.get('date') or '?')[:16]} | {commit} | {entry.get('mode') or '?'} | "
            f"{_escape(str(entry.get('label') or ''))} | " + " | ".join(cells) + " |"
        )
    return lines


def read_history(path: Path) -> list[dict[str, Any]]:
    """The lines of history.jsonl (none if it does not exist; unreadable lines skipped)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries



def history_entry(results: Mapping[str, Any]) -> dict[str, Any]:
    """One line for history.jsonl: when, which commit, and the figures the targets are about."""
    run, machine = results["run"], results["machine"]
    figures: dict[str, Any] = {}
    for row in results["rows"]:
        if row["target"] is None and not row["key"].startswith(
            ("insert_latency/", "pgbench/INSERT ")
        ):
            continue
        figures[row["key"]] = {
            "postgresql": _ok_value(row.get("postgresql")),
            "quorumdb": _ok_value(row.get("quorumdb")),
            "unit": row["unit"],
            "ratio": row["ratio"],
            "target_met": row["target_met"],
        }
    summary = results["summary"]
    return {
        "date": run.get("started"),
        "commit": machine.get("quorumdb_commit"),
        "dirty": machine.get("quorumdb_dirty"),
        "mode": run.get("mode"),
        "only": run.get("only"),
        "quorumdb_nodes": run.get("quorumdb_nodes"),
        "interrupted": run.get("interrupted", False),
        "label": run.get("label"),
        "targets": f"{summary['targets_met']}/{summary['targets']} met",
        "figures": figures,
    }


def write_all(
    results: Mapping[str, Any], directory: Path, append_history: bool = True
) -> list[Path]:
    """latest.json, latest.md, latest.png, and a line appended to history.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    path = directory / "latest.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    written.append(path)
    history_path = directory / "history.jsonl"
    history = read_history(history_path)
    if append_history:
        entry = history_entry(results)
        with open(history_path, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        history.append(entry)
    path = directory / "latest.md"
    path.write_text(render_markdown(results, history))
    written.append(path)
    path = directory / "latest.png"
    write_png(results, path)
    written.append(path)
    if append_history:
        written.append(history_path)
    return written
