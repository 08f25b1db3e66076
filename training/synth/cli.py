"""`evlm-synth`: write a synthetic reflective-edit dataset (see training/synth/generate.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evlm.cliargs import add_version
from training.synth.generate import LIMITS, Config, SynthError, generate


def _bounded(lo: int, hi: int) -> object:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], got {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="evlm-synth",
        description="Write a synthetic dataset of ambiguous editing instructions with graded reasoning and gold "
        "edit plans: DIR/{train,val,test,gen}.jsonl, pairs.jsonl, meta.json and images/.",
    )
    add_version(parser)
    parser.add_argument("--n", type=_bounded(1, 10_000_000), required=True, help="number of examples (4 records each)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=_bounded(0, 2**32 - 1), default=0, help="random seed (default 0)")
    parser.add_argument(
        "--workers", type=_bounded(1, 256), default=1, help="processes (default 1); the output does not depend on it"
    )
    parser.add_argument(
        "--views", type=_bounded(1, LIMITS.max_views), default=3, help="orbit views per scene (default 3)"
    )
    parser.add_argument("--size", type=_bounded(32, 2048), default=128, help="view size in pixels (default 128)")
    parser.add_argument(
        "--frames", type=_bounded(2, LIMITS.max_views), default=3, help="frames of animated scenes (default 3)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage and the error
        return int(e.code or 0)
    cfg = Config(n=args.n, out=args.out, seed=args.seed, workers=args.workers, views=args.views, size=args.size,
                 frames=args.frames, overwrite=args.overwrite, progress=not args.quiet)  # fmt: skip
    try:
        meta = generate(cfg)
    except SynthError as e:
        print(f"evlm-synth: error: {e}", file=sys.stderr)
        return 2
    counts = meta["counts"]
    timing = meta["timing"]
    splits = ", ".join(f"{k} {v}" for k, v in counts["records"].items())
    print(f"wrote {sum(counts['records'].values())} records ({splits}) from {cfg.n} examples to {cfg.out} "
          f"in {timing['seconds']} s ({timing['examples_per_s']} examples/s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
