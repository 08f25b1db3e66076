"""`evlm-eval`: evaluate a checkpoint with the real engine on a dataset folder.
`evlm-eval --blender ...`: the Blender-built evaluation set instead (training/eval/blender/cli.py).

    evlm-eval [--model PATH] --data DIR [--splits test,gen] [--limit N] [--out DIR] [--batch B]
              [--device cpu] [--engine auto|hf|fast] [--max-reasoning-tokens N] [--max-answer-tokens N]
              [--tolerance T] [--all-variants] [--seed S]

The model defaults to $EVLM_MODEL, else the built-in EVLM-tiny (as `evlm-server serve`). Writes
report.md, metrics.json, metrics.png and predictions.jsonl to --out (report.py) and prints the
markdown table. Exit status: 0 done, 2 bad arguments, data or checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys

from evlm.cliargs import add_version, positive_int
from evlm_server.cli import BUILTIN_MODEL, ENV_MODEL
from evlm_server.device import DEVICES, device_arg
from training.data.loader import DatasetError, load_dataset_dir
from training.data.validate import SPLITS
from training.eval.harness import GOLD_VARIANTS, evaluate, select
from training.eval.metrics import TOLERANCE
from training.eval.report import markdown_table, write_report


def _splits(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SPLITS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(SPLITS)}, got {text!r}")
    return list(dict.fromkeys(names))


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evlm-eval",
        description="Evaluate an EVLM checkpoint with the real engine on a dataset folder; with --blender, on "
        "the Blender-built evaluation set instead (see `evlm-eval --blender --help`).",
    )
    add_version(p)
    p.add_argument(
        "--model",
        default=os.environ.get(ENV_MODEL) or str(BUILTIN_MODEL),
        help=f"Hugging Face checkpoint folder (default: ${ENV_MODEL}, else the built-in EVLM-tiny)",
    )
    p.add_argument("--data", required=True, help="dataset folder (train/val/test/gen .jsonl + images)")
    p.add_argument("--splits", type=_splits, default=["test", "gen"], help="comma-separated splits (default test,gen)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N records per split")
    p.add_argument("--out", default="out/eval", help="report folder (default out/eval)")
    p.add_argument("--batch", type=positive_int, default=4, help="requests per engine batch (default 4)")
    p.add_argument("--device", type=device_arg, default="auto", help=f"{DEVICES} (default: cuda if available)")
    p.add_argument("--engine", choices=("auto", "hf", "fast"), default="auto",
                   help="auto (the fast engine on CUDA where it applies), hf or fast")  # fmt: skip
    p.add_argument("--dtype", default=None, help="float32, bfloat16, ... (default: bfloat16 on cuda, else float32)")
    p.add_argument("--max-reasoning-tokens", type=positive_int, default=256)
    p.add_argument("--max-answer-tokens", type=positive_int, default=768)
    p.add_argument(
        "--tolerance", type=_tolerance, default=TOLERANCE, help=f"plan accuracy tolerance (default {TOLERANCE})"
    )
    p.add_argument("--all-variants", action="store_true", help="also score non-gold variants (default: 'correct' only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--blender" in argv:  # the Blender-built set: its own options (training/eval/blender/cli.py)
        from training.eval.blender.cli import main as blender_main

        return blender_main([a for a in argv if a != "--blender"])
    args = parser().parse_args(argv)

    def fail(message: str) -> int:
        print(f"evlm-eval: error: {message}", file=sys.stderr)
        return 2

    try:
        data = load_dataset_dir(args.data, args.splits)
    except (FileNotFoundError, ValueError) as e:  # DatasetError is a ValueError
        return fail(str(e))
    examples = select(data, args.splits, args.limit, None if args.all_variants else GOLD_VARIANTS)
    if not examples:
        return fail(f"no records to evaluate in {args.data} ({', '.join(args.splits)})")

    from evlm_server.engine import load_engine  # imports torch: only once the arguments are good

    try:
        engine = load_engine(
            args.model,
            kind=args.engine,
            device=args.device,
            dtype=args.dtype,
            max_reasoning_tokens=args.max_reasoning_tokens,
            max_answer_tokens=args.max_answer_tokens,
            max_batch=args.batch,
            seed=args.seed,
        )
    except (FileNotFoundError, ValueError) as e:
        return fail(str(e))

    from tqdm import tqdm

    with tqdm(total=len(examples), desc="evlm-eval", unit="req", disable=args.no_progress) as bar:
        try:
            result = evaluate(engine, examples, args.batch, args.tolerance, on_batch=bar.update)
        except DatasetError as e:  # an image that cannot be opened
            return fail(str(e))
    result.config.update(
        model=str(args.model),
        data=str(args.data),
        splits=",".join(args.splits),
        variants="all" if args.all_variants else ",".join(GOLD_VARIANTS),
        limit=args.limit,
        device=engine.info().get("device"),
        max_reasoning_tokens=args.max_reasoning_tokens,
        max_answer_tokens=args.max_answer_tokens,
    )
    paths = write_report(result, args.out)
    print(markdown_table(result.groups))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
