"""Write a tiny random Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint (no downloads) for tests and trials.

python scripts/make_tiny_checkpoint.py --out models/tiny [--arch qwen2_5_vl] [--seed 0]
"""

from __future__ import annotations

import argparse

from training.tiny import ARCHS, make_tiny_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write (created if missing)")
    parser.add_argument("--arch", default="qwen2_vl", choices=ARCHS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args(argv)
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Writing model shards" for a 1 MB file is noise
    path = make_tiny_checkpoint(args.out, arch=args.arch, seed=args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
