"""One table from several evlm-eval runs: a row per model, the test and gen splits side by side.

python scripts/ablation_table.py NAME=EVAL_DIR [NAME=EVAL_DIR ...]   (each holds metrics.json)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = [("schema_valid", "valid"), ("target_f1", "target F1"), ("op_accuracy", "op acc"),
           ("plan_accuracy", "plan acc"), ("consistency", "consistency")]  # fmt: skip
SPLITS = [("split=test", "held-out (test)"), ("split=gen", "generalization (gen)")]


def table(runs: dict[str, Path]) -> str:
    head = ["model"] + [f"{split} {title}" for _, split in SPLITS for _, title in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, folder in runs.items():
        groups = json.loads((folder / "metrics.json").read_text())["groups"]
        cells = []
        for key, _ in SPLITS:
            g = groups.get(key, {})
            cells += ["-" if g.get(m) is None else f"{g[m]:.3f}" for m, _ in METRICS]
        n = "/".join(str(groups.get(k, {}).get("n", 0)) for k, _ in SPLITS)
        lines.append(f"| {name} (n {n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        raise SystemExit(__doc__)
    print(table({name: Path(d) for name, d in (a.split("=", 1) for a in sys.argv[1:])}))
