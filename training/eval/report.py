"""Eval reports: a markdown table, a JSON file, a PNG plot and the raw predictions.

`write_report(result, out_dir)` writes:
- `report.md`: the grouped metrics table (overall, per split, family, modality) and the settings;
- `metrics.json`: settings, grouped metrics, and per-record rows;
- `metrics.png`: bar chart of the rate metrics per group;
- `predictions.jsonl`: per record, the engine's reasoning, plan or error, latency and tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.eval.harness import EvalResult

# (key, column title, format) of the markdown table.
COLUMNS = [
    ("n", "n", "{:d}"),
    ("parsed", "parse", "{:.3f}"),
    ("schema_valid", "valid", "{:.3f}"),
    ("target_f1", "target F1", "{:.3f}"),
    ("op_accuracy", "op acc", "{:.3f}"),
    ("param_error", "param err", "{:.3f}"),
    ("plan_accuracy", "plan acc", "{:.3f}"),
    ("plan_accuracy_any", "plan acc (any)", "{:.3f}"),
    ("consistency", "consistency", "{:.3f}"),
    ("latency_mean_s", "latency mean s", "{:.3f}"),
    ("latency_p50_s", "p50 s", "{:.3f}"),
    ("latency_p90_s", "p90 s", "{:.3f}"),
]
PLOTTED = [("parsed", "parse"), ("schema_valid", "valid"), ("target_f1", "target F1"), ("op_accuracy", "op acc"),
           ("plan_accuracy", "plan acc"), ("consistency", "consistency")]  # fmt: skip


def _cell(value: object, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def markdown_table(groups: dict[str, dict]) -> str:
    head = "| group | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    lines = [head, rule]
    for name, g in groups.items():
        lines.append(f"| {name} | " + " | ".join(_cell(g.get(k), fmt) for k, _, fmt in COLUMNS) + " |")
    return "\n".join(lines)


def markdown(result: EvalResult) -> str:
    settings = ", ".join(f"{k}: {v}" for k, v in result.config.items())
    return "\n".join(
        [
            "# EVLM evaluation",
            "",
            f"Settings: {settings}.",
            "",
            markdown_table(result.groups),
            "",
            "Metrics are defined in `training/eval/metrics.py`. Rates are means over records; failed "
            f"requests score 0. Plan accuracy: the best suggestion matches the gold one within tolerance "
            f"{result.config.get('tolerance')}. Param err: mean normalized numeric error over matched ops "
            "(lower is better). Latency: wall time of the engine batch that answered the request.",
            "",
        ]
    )


def plot(groups: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    names = list(groups)
    width = 0.8 / len(PLOTTED)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 3), 4.0), dpi=100)
    for i, (key, label) in enumerate(PLOTTED):
        xs = [j + (i - (len(PLOTTED) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, [groups[n].get(key) or 0.0 for n in names], width, label=label)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate")
    ax.set_title("EVLM evaluation")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars reach 1.0
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the report files (module docstring) into `out_dir`; returns their paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / n for k, n in [("markdown", "report.md"), ("json", "metrics.json"), ("plot", "metrics.png"),
                                      ("predictions", "predictions.jsonl")]}  # fmt: skip
    paths["markdown"].write_text(markdown(result), encoding="utf-8")
    data = {"config": result.config, "groups": result.groups, "records": result.rows}
    paths["json"].write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    plot(result.groups, paths["plot"])
    with paths["predictions"].open("w", encoding="utf-8") as f:
        for p in result.predictions:
            row = {
                "id": p.id,
                "reasoning": p.reasoning,
                "plan": p.plan.model_dump(mode="json") if p.plan is not None else None,
                "error": p.error,
                "latency_s": p.latency_s,
                "tokens": p.tokens,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return paths
