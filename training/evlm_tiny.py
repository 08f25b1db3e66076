"""EVLM-tiny, the built-in model: its architecture, tokenizer and untrained first checkpoint.

A standard Qwen2-VL checkpoint (config, safetensors, tokenizer, image processor, chat template),
small enough to train on a CPU and to answer in about a second on a laptop; the engine loads it
like any other checkpoint. Two choices make it cheap:
- its own byte-level BPE tokenizer, trained on the synthetic training split (prompts, reasoning
  and plans), so scene graphs and plans take few tokens;
- its chat template leaves the system message out: the model learns the vocabulary and the
  output rules in training, and the ~1,000-token system prompt would double every prefill.

The recipe that trains it is `scripts/build_evlm_tiny.sh` (evlm-synth -> init -> SFT -> RKTO ->
eval -> export); `export` writes the final bf16 folder with its model card.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from evlm_server.engine.prompt import write_prompt_format
from training import tiny

ARCH = "qwen2_vl"
VOCAB_SIZE = 4096


def _text(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int) -> dict:
    half = hidden // heads // 2  # rope dimensions per head, split over (time, height, width) as Qwen2-VL does
    section = [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]
    return dict(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv_heads, tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section})  # fmt: skip


# Architectures by name (text tower; the vision tower is the same one-block tower for all, its
# hidden size the text's). "tiny" is the shipped EVLM-tiny; scripts/bench_model_size.py measures
# the 6-view suggest latency of each on a CPU, which picks the built-in model's size (README).
SIZES = {
    "tiny": _text(192, 512, 4, 4, 2),  # 2.5 M parameters
    "tiny-deep": _text(192, 512, 8, 4, 2),
    "small": _text(256, 768, 4, 4, 2),
    "small-deep": _text(256, 768, 6, 4, 2),
    "wide": _text(384, 1024, 4, 6, 2),
    "base": _text(320, 1024, 6, 5, 1),
    "large": _text(384, 1280, 8, 6, 2),
}
SIZE = "tiny"  # the shipped built-in model's (trained on CPU by scripts/build_evlm_tiny.sh)
# What the one GPU run trains, side by side (scripts/device/train_small.sh): the shipped architecture,
# whose 6-view suggest bench_model_size.py puts well within 2 s on the 2-core CPU, and the next
# larger, which it puts at about 2 s; the run's evals and ship.sh's latency here pick the one to
# ship (README, "Training on a lent GPU").
GPU_SIZES = ("tiny", "small")
TEXT = SIZES[SIZE]
VISION = dict(depth=1, embed_dim=64, hidden_size=192, mlp_ratio=2, num_heads=4)


def vision_config(size: str) -> dict:
    return VISION | {"hidden_size": SIZES[size]["hidden_size"]}


# 56x56 pixels per view after resizing: 4x4 patches, 4 tokens after the 2x2 merge. The views
# mostly confirm what the scene graph says; 6 views then cost 24 prompt tokens.
MIN_PIXELS = MAX_PIXELS = 56 * 56

# Qwen2-VL's template without the system message (module docstring).
CHAT_TEMPLATE = tiny.CHAT_TEMPLATE_NO_SYSTEM
PROMPT_FORMAT = 2  # the compact scene text (evlm.scenetext): every prompt token costs CPU training time


def corpus(data: str | Path, limit: int = 4000, seed: int = 0) -> Iterator[str]:
    """Texts the tokenizer learns from: the prompt text, reasoning and plan of up to `limit`
    training records (every variant: wrong answers use the same words)."""
    from evlm.record import Record
    from training.data.format import answer_text, prompt_messages, reasoning_text

    lines = Path(data, "train.jsonl").read_text().splitlines()
    random.Random(seed).shuffle(lines)
    for line in lines[:limit]:
        record = Record.model_validate_json(line)
        user = prompt_messages(record, prompt_format=PROMPT_FORMAT)[-1]["content"]
        yield "".join(part.get("text", "") for part in user)
        yield reasoning_text(record.reasoning)
        yield answer_text(record.plan)


def init_checkpoint(
    data: str | Path, out: str | Path, vocab_size: int = VOCAB_SIZE, seed: int = 0, size: str = SIZE
) -> Path:
    """Write EVLM-tiny's untrained checkpoint (tokenizer trained on `data`'s train split) to `out`."""
    tokenizer = tiny.wrap_tokenizer(tiny.train_tokenizer(corpus(data, seed=seed), vocab_size), CHAT_TEMPLATE)
    return random_checkpoint(out, tokenizer, size, seed)


def random_checkpoint(out: str | Path, tokenizer, size: str = SIZE, seed: int = 0) -> Path:
    """Random weights of architecture `size` (SIZES) for `tokenizer`, as a checkpoint folder `out`."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: expected one of {', '.join(SIZES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pixels = (MIN_PIXELS, MAX_PIXELS)
    tiny.build_checkpoint(out, tokenizer, ARCH, seed, SIZES[size], vision_config(size), CHAT_TEMPLATE, pixels)
    write_prompt_format(out, PROMPT_FORMAT)
    return out


SHARD = "15MB"  # the largest weights file export writes (a GPU run's files come back in files of 16 MiB at most)


def export(src: str | Path, dst: str | Path, card: str | None = None) -> Path:
    """Copy a trained checkpoint to `dst` with bf16 weights (half the size; the engine computes
    in float32 on CPU), in files of at most SHARD, and, if given, the model card as README.md."""
    import shutil

    import torch
    from transformers import AutoModelForImageTextToText

    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = AutoModelForImageTextToText.from_pretrained(src, dtype=torch.float32)
    model.to(torch.bfloat16).save_pretrained(tmp, max_shard_size=SHARD)
    for f in src.iterdir():
        if f.is_file() and not (tmp / f.name).exists() and f.suffix in (".json", ".jinja", ".txt"):
            shutil.copy2(f, tmp / f.name)
    if card is not None:
        (tmp / "README.md").write_text(card)
    for f in tmp.iterdir():
        f.chmod(0o644)  # readable by whoever installs it (safetensors writes 0600)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)  # a half-written folder never takes the final name
    return dst


def parameter_count(path: str | Path) -> dict[str, int]:
    """Parameters of a checkpoint, total and per tower (for the model card)."""
    from safetensors import safe_open

    counts: dict[str, int] = {}
    for shard in sorted(Path(path).glob("model*.safetensors")):  # one file, or shards
        with safe_open(str(shard), "pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                size = 1
                for d in f.get_slice(name).get_shape():
                    size *= d
                part = "vision" if ".visual." in f".{name}" else "text"
                counts[part] = counts.get(part, 0) + size
    counts["total"] = sum(counts.values())
    return counts


def subset(data: str | Path, out: str | Path, groups: int, val_groups: int = 8, seed: int = 0) -> Path:
    """A small alignment dataset: every variant of `groups` train examples (and `val_groups` val
    ones), their DPO pairs, and the images (linked). RKTO precomputes reference log-probs over all
    of its data, so on a CPU it trains on a subset."""
    import os

    data, out = Path(data).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen: set[str] = set()
    for split, n in (("train", groups), ("val", val_groups)):
        lines = Path(data, f"{split}.jsonl").read_text().splitlines()
        names = sorted({json.loads(line)["group"] for line in lines})
        keep = set(random.Random(seed).sample(names, min(n, len(names))))
        chosen |= keep
        rows = [line for line in lines if json.loads(line)["group"] in keep]
        _write(out / f"{split}.jsonl", rows)
    pairs = [line for line in Path(data, "pairs.jsonl").read_text().splitlines() if json.loads(line)["group"] in chosen]
    _write(out / "pairs.jsonl", pairs)
    link = out / "images"
    if not link.exists():
        os.symlink(data / "images", link)
    return out


def _write(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(path)


def model_card(
    model: str | Path,
    eval_dir: str | Path,
    runs: dict[str, tuple[str, float]],
    hardware: str,
    recipe: str | None = None,
    before: str | Path | None = None,
) -> str:
    """EVLM-tiny's README.md: what it is, how it was made (`recipe`: markdown for the recipe
    section, default the CPU build's), the eval table, the previous model's eval on the same
    records (`before`: its evlm-eval folder), the loss curve (loss.png in `model`), its limits."""
    from training.eval.report import markdown_table
    from training.train import read_log

    metrics = json.loads(Path(eval_dir, "metrics.json").read_text())
    params = parameter_count(model)
    rows = []
    for stage, (out, minutes) in runs.items():  # minutes: wall time of the stage, measured by the recipe
        log = read_log(Path(out, "log.jsonl"))
        start = next(r for r in log if r.get("event") == "start")
        steps = [r for r in log if "step" in r and "loss" in r]
        rows.append(f"| {stage} | {start.get('train')} | {steps[-1]['step']} | {steps[0]['loss']:.3f} -> "
                    f"{steps[-1]['loss']:.3f} | {minutes:.1f} |")  # fmt: skip
    cfg = metrics["config"]
    vocab = json.loads(Path(model, "tokenizer.json").read_text())
    extra = ""
    if before is not None:
        extra += "\n\nAgainst the previous built-in model on the same records and settings:\n\n" + compare_table(
            metrics, json.loads(Path(before, "metrics.json").read_text())
        )
    if Path(model, "loss.png").is_file():
        extra += "\n\nTraining loss (the SFT run): ![loss curve](loss.png)"
    return CARD.format(
        vocab=len(vocab["model"]["vocab"])
        + sum(t["id"] >= len(vocab["model"]["vocab"]) for t in vocab["added_tokens"]),
        params=params["total"] / 1e6,
        text=params["text"] / 1e6,
        vision=params["vision"] / 1e6,
        hardware=hardware,
        recipe=(recipe or RECIPE).strip(),
        runs="\n".join(rows),
        table=markdown_table(metrics["groups"]) + extra,
        settings=", ".join(f"{k}: {v}" for k, v in cfg.items()),
    )


def compare_table(now: dict, before: dict) -> str:
    """Per split, this model's and the previous one's headline metrics (evlm-eval metrics.json)."""
    keys = [("schema_valid", "valid"), ("target_f1", "target F1"), ("op_accuracy", "op acc"),
            ("plan_accuracy", "plan acc"), ("consistency", "consistency")]  # fmt: skip
    lines = ["| split | model | n | " + " | ".join(t for _, t in keys) + " |", "|---|---|---:|" + "---:|" * len(keys)]
    for split in ("test", "gen"):
        for name, m in (("now", now), ("before", before)):
            g = m["groups"].get(f"split={split}")
            if g:
                cells = " | ".join("-" if g.get(k) is None else f"{g[k]:.3f}" for k, _ in keys)
                lines.append(f"| {split} | {name} | {g['n']} | {cells} |")
    return "\n".join(lines)


RECIPE = """`bash scripts/build_evlm_tiny.sh` rebuilds it from nothing: `evlm-synth` (8,000 procedural scenes,
3 views of 64 px, 3 frames) -> `python -m training.evlm_tiny init` (tokenizer + untrained weights)
-> `evlm-train sft --config configs/evlm_tiny/sft.toml` -> the same with `sft2.toml`, then `sft3.toml`
(more SFT, each from the previous run's model: a second and a third cosine cycle) -> `evlm-train rkto
--config configs/evlm_tiny/rkto.toml` (on a subset: RKTO precomputes reference log-probs over all of
its data) -> `evlm-eval` -> `python -m training.evlm_tiny export`."""


CARD = """# EVLM-tiny

The built-in model of EVLM for Blender: what `evlm-server serve` loads when no `--model` is given.
A standard Qwen2-VL checkpoint ({params:.2f} M parameters: text {text:.2f} M, vision {vision:.2f} M;
weights in bf16, computed in float32 on CPU), trained from scratch by the project's own pipeline.
Loaded by the generic Hugging Face engine like any other checkpoint; nothing is special-cased.

- Tokenizer: byte-level BPE ({vocab:,} entries), trained on the synthetic training split.
- Chat template: Qwen2-VL's, without the system message (the model learned the vocabulary and the
  output rules in training; the system prompt would double every prefill on a CPU).
- Views: resized to 56x56 pixels (4 vision tokens each); the scene graph carries most of what
  the model uses.

## Recipe

{recipe}

Hardware: {hardware}.

| stage | records | steps | loss first -> last | minutes |
|---|---:|---:|---|---:|
{runs}

## Evaluation (evlm-eval, the real engine with its grammar)

Settings: {settings}.

{table}

Plan accuracy: the best suggestion has the gold ops on the gold targets with every number within
10% (training/eval/metrics.py).

## Limits

- Trained on synthetic scenes only, for the budget in the table: the figures above are what it
  reaches. The project's targets (held-out plan accuracy at least 80% and target F1 at least 0.9,
  generalization plan accuracy at least 60%) need a much longer run: the recipe takes a GPU when
  there is one (`device = "auto"` in the configs); raise `steps` there.
- 56-pixel views: instructions that only the pictures can resolve are out of its reach.
- English only. Latency columns: wall time of an engine batch of 4 on the hardware above.
"""


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m training.evlm_tiny", description="Build steps of EVLM-tiny.")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("init", help="tokenizer + untrained checkpoint from a dataset's train split")
    a.add_argument("data")
    a.add_argument("out")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--size", choices=list(SIZES), default=SIZE, help=f"architecture (default {SIZE})")
    b = sub.add_parser("subset", help="a small alignment dataset (all variants of N train groups)")
    b.add_argument("data")
    b.add_argument("out")
    b.add_argument("--groups", type=int, default=32)
    c = sub.add_parser("export", help="bf16 copy of a trained checkpoint (the shipped folder)")
    c.add_argument("model")
    c.add_argument("dst")
    d = sub.add_parser("card", help="write the model card (README.md) of an exported model")
    d.add_argument("model")
    d.add_argument("--eval", required=True, help="evlm-eval output folder of this model (metrics.json)")
    d.add_argument("--run", action="append", default=[], help="STAGE=OUT_FOLDER=MINUTES of a training run (repeatable)")
    d.add_argument("--hardware", default="unknown")
    d.add_argument("--recipe", help="markdown file: the recipe section (default: the CPU build's)")
    d.add_argument("--before", help="evlm-eval output folder of the previous model on the same records")
    args = p.parse_args(argv)
    # Check every input before any work, so a bad one costs nothing and names itself (exit 2).
    needs = {"init": [("data", "train.jsonl")], "subset": [("data", "train.jsonl"), ("data", "val.jsonl"),
             ("data", "pairs.jsonl")], "export": [("model", "config.json")],
             "card": [("model", "config.json"), ("model", "tokenizer.json"), ("eval", "metrics.json")]}  # fmt: skip
    for arg, name in needs[args.cmd]:
        if not Path(getattr(args, arg), name).is_file():
            p.error(f"{getattr(args, arg)}: no {name} (expected a {'dataset' if arg == 'data' else arg} folder)")
    if args.cmd == "card" and args.before and not Path(args.before, "metrics.json").is_file():
        p.error(f"--before {args.before}: no metrics.json (expected an evlm-eval folder)")
    if args.cmd == "card" and args.recipe and not Path(args.recipe).is_file():
        p.error(f"--recipe {args.recipe}: no such file")
    if args.cmd == "subset" and args.groups < 1:
        p.error(f"--groups must be at least 1, got {args.groups}")
    runs: dict[str, tuple[str, float]] = {}
    for r in getattr(args, "run", []):
        parts = r.split("=", 2)
        try:
            runs[parts[0]] = (parts[1], float(parts[2]))
        except (IndexError, ValueError):
            p.error(f"--run {r!r}: expected STAGE=OUT_FOLDER=MINUTES")
        if not Path(parts[1], "log.jsonl").is_file():
            p.error(f"--run {r!r}: no log.jsonl in {parts[1]}")
    if args.cmd == "init":
        print(init_checkpoint(args.data, args.out, seed=args.seed, size=args.size))
    elif args.cmd == "subset":
        print(subset(args.data, args.out, args.groups))
    elif args.cmd == "export":
        print(export(args.model, args.dst))
    else:
        recipe = Path(args.recipe).read_text() if args.recipe else None
        card = model_card(args.model, args.eval, runs, args.hardware, recipe, args.before)
        _write(Path(args.model, "README.md"), card.splitlines())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
