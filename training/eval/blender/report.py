"""The Blender-built evaluation's report: pass rate and right-target rate per kind of instruction.

`summarize(records)` groups the per-case records (`run.evaluate`) by kind, by scene and overall;
`write(report, out_dir)` writes `report.json` (settings, groups, every case without its plan) and
`report.md` (the tables) atomically. Pure Python.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evlm.feedback import atomic_write
from training.eval.blender.cases import KINDS

BULKY = ("plan", "reasoning")  # kept in cases.jsonl only


def stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    count = lambda key: sum(1 for r in records if r.get(key))  # noqa: E731
    return {
        "n": n,
        "passed": count("passed"),
        "pass_rate": round(count("passed") / n, 4) if n else None,
        "right_target": count("right_target"),
        "right_target_rate": round(count("right_target") / n, 4) if n else None,
        "applied": count("applied"),
        "applied_rate": round(count("applied") / n, 4) if n else None,
        "errors": count("error"),
        "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
    }


def summarize(records: Iterable[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    records = list(records)
    kinds = [k for k in KINDS if any(r["kind"] == k for r in records)]
    scenes = list(dict.fromkeys(r["scene"] for r in records))
    return {
        "config": config,
        "overall": stats(records),
        "kinds": {k: stats([r for r in records if r["kind"] == k]) for k in kinds},
        "scenes": {s: stats([r for r in records if r["scene"] == s]) for s in scenes},
        "cases": [{k: v for k, v in r.items() if k not in BULKY} for r in records],
    }


def _rate(g: dict[str, Any], count: str, rate: str) -> str:
    return "-" if g[rate] is None else f"{g[rate]:.1%} ({g[count]}/{g['n']})"


def table(groups: dict[str, dict[str, Any]], overall: dict[str, Any], label: str = "kind") -> str:
    lines = [
        f"| {label} | n | pass | right target | applied | errors | latency p50 s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [*groups.items(), ("**all**", overall)]
    for name, g in rows:
        p50 = "-" if g["latency_p50_s"] is None else f"{g['latency_p50_s']:.2f}"
        lines.append(
            f"| {name} | {g['n']} | {_rate(g, 'passed', 'pass_rate')} | {_rate(g, 'right_target', 'right_target_rate')} "
            f"| {_rate(g, 'applied', 'applied_rate')} "
            f"| {g['errors']} | {p50} |"
        )
    return "\n".join(lines)


def ops_text(record: dict[str, Any]) -> str:
    """The applied ops as `op(Target, ...)`, or why nothing was applied."""
    if record.get("error"):
        return f"error {record['error']['code']}: {record['error']['message'][:160]}"
    if not record.get("applied"):
        return "nothing applied"
    out = []
    for op in record["ops"]:
        names = list(op.get("targets") or []) + [op[k] for k in ("camera", "target") if op.get(k)]
        out.append(f"{op['op']}({', '.join(names)})")
    return "; ".join(out)


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    settings = ", ".join(f"{k}: {v}" for k, v in config.items() if v is not None)
    lines = [
        "# EVLM on the Blender-built evaluation set",
        "",
        f"Settings: {settings}.",
        "",
        table(report["kinds"], report["overall"]),
        "",
        "Pass: the case's check holds on the scene after the best suggestion was applied (the most "
        "confident one that applies). Right target: the applied ops name every expected object and "
        "nothing else (definition in `training/eval/blender/cases.py`); nothing applied counts as a "
        "miss on both.",
        "",
        "## By scene",
        "",
        table(report["scenes"], report["overall"], "scene"),
        "",
        "## Cases",
        "",
        "| case | kind | pass | target | applied ops | measured |",
        "|---|---|:-:|:-:|---|---|",
    ]
    for r in report["cases"]:
        cells = [ops_text(r), r["detail"][:300]]
        cells = [c.replace("|", "/").replace("\n", " ") for c in cells]
        lines.append(
            f"| {r['id']} | {r['kind']} | {'yes' if r['passed'] else 'no'} | {'yes' if r['right_target'] else 'no'} "
            f"| {cells[0]} | {cells[1]} |"
        )
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md"}
    atomic_write(paths["json"], (json.dumps(report, indent=2) + "\n").encode())
    atomic_write(paths["md"], markdown(report).encode())
    return paths
