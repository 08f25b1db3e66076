"""What a synthetic dataset calls for: op shares, instruction kinds, referring styles, tokens.

    .venv/bin/python scripts/synth_stats.py DATA_DIR [--markdown] [--tokenizer DIR]

Prints, over the `correct` records (the gold answers): for each op of the vocabulary, the share
of records whose plan uses it and the families whose instructions call for it; the shares of
families and of answers with several suggestions; and, with a tokenizer (default: the built-in
model's), the mean reasoning and answer tokens per record as the trainer counts them
(`training.data.format.reasoning_text` / `answer_text`), and the mean tokens of the scene graph
in the prompt (format 1: `SceneGraph.to_prompt_json`; format 2: `evlm.scenetext.scene_text`). `--markdown` prints the op table as the
README shows it. Exit status 1 when an op of the vocabulary is missing or one is above 12%.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from evlm.edits import OPS
from evlm.record import Record

MAX_SHARE = 0.12
SPLITS = ("train", "val", "test", "gen")
DEFAULT_TOKENIZER = Path(__file__).resolve().parents[1] / "evlm_server" / "models" / "evlm-tiny" / "tokenizer.json"


def load(root: Path) -> list[Record]:
    out = []
    for split in SPLITS:
        path = root / f"{split}.jsonl"
        if path.is_file():
            out += [Record.model_validate_json(line) for line in path.open(encoding="utf-8") if line.strip()]
    return out


def stats(records: list[Record], tokenizer: Path | None) -> dict:
    gold = [r for r in records if r.variant == "correct"]
    ops: Counter = Counter()
    kinds: dict[str, Counter] = defaultdict(Counter)
    answers: Counter = Counter()
    for r in gold:
        for op in {op.op for s in r.plan.suggestions for op in s.ops}:
            ops[op] += 1
            kinds[op][r.family] += 1
        answers[len(r.plan.suggestions)] += 1
    n = len(gold)
    out = {
        "records": len(records),
        "examples": n,
        "ops": {op: ops[op] / n for op in OPS},
        "kinds": {op: dict(kinds[op].most_common()) for op in OPS},
        "families": {k: v / n for k, v in Counter(r.family for r in gold).most_common()},
        "suggestions": {str(k): v / n for k, v in sorted(answers.items())},
    }
    if tokenizer is not None:
        from tokenizers import Tokenizer

        from evlm.scenetext import scene_text
        from training.data.format import answer_text, reasoning_text

        tok = Tokenizer.from_file(str(tokenizer))
        rt = [len(tok.encode(reasoning_text(r.reasoning), add_special_tokens=False).ids) for r in gold]
        at = [len(tok.encode(answer_text(r.plan), add_special_tokens=False).ids) for r in gold]
        # the scene graph as the prompt writes it (the prompt's biggest text part): JSON (format 1)
        # and one line per thing (format 2, evlm.scenetext)
        scenes = [r.scene for r in gold if r.scene]
        s1 = [len(tok.encode(g.to_prompt_json(), add_special_tokens=False).ids) for g in scenes]
        s2 = [len(tok.encode(scene_text(g), add_special_tokens=False).ids) for g in scenes]
        out["tokens"] = {"reasoning_mean": sum(rt) / n, "answer_mean": sum(at) / n, "reasoning_max": max(rt),
                         "answer_max": max(at), "scene_json_mean": sum(s1) / max(1, len(s1)),
                         "scene_text_mean": sum(s2) / max(1, len(s2))}  # fmt: skip
    return out


def markdown(s: dict) -> str:
    lines = ["| op | share of answers | instruction kinds (family: answers) |", "|---|---:|---|"]
    for op, share in sorted(s["ops"].items(), key=lambda kv: -kv[1]):
        kinds = ", ".join(f"{k} {v}" for k, v in s["kinds"][op].items())
        lines.append(f"| `{op}` | {share * 100:.1f}% | {kinds} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--markdown", action="store_true", help="print the op table as markdown")
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="tokenizer.json for token counts")
    parser.add_argument("--no-tokens", action="store_true", help="skip the token counts")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage and the error
        return int(e.code or 0)
    if not args.data.is_dir():
        print(f"error: {args.data} is not a dataset folder", file=sys.stderr)
        return 2
    try:
        records = load(args.data)
    except ValueError as e:  # pydantic's ValidationError: a line that is not a record
        print(f"error: {args.data}: not a dataset of records ({str(e).splitlines()[0]})", file=sys.stderr)
        return 2
    if not records:
        print(f"error: no records in {args.data}", file=sys.stderr)
        return 2
    s = stats(records, None if args.no_tokens else args.tokenizer)
    if args.markdown:
        print(markdown(s))
    else:
        print(json.dumps(s, indent=1))
    missing = [op for op, v in s["ops"].items() if v == 0]
    over = [op for op, v in s["ops"].items() if v > MAX_SHARE]
    print(f"{s['examples']} answers; ops used: {len(OPS) - len(missing)} of {len(OPS)}"
          + (f"; missing: {', '.join(missing)}" if missing else "")
          + (f"; above {MAX_SHARE:.0%}: {', '.join(over)}" if over else ""), file=sys.stderr)  # fmt: skip
    return 1 if missing or over else 0


if __name__ == "__main__":
    sys.exit(main())
