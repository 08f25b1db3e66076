"""`evlm-train sft|rkto|kto|dpo --config FILE [--set key=value ...]`: run a training config.

The config is a flat JSON or TOML file whose keys are training.train.TrainConfig's fields
(configs/README.md lists them); `--set` overrides keys (values parsed as JSON, else strings).
A run resumes from the latest checkpoint in its `out` folder unless `resume = false`.
Several processes: `accelerate launch [--config_file configs/accelerate/ddp.yaml] -m training.cli
sft --config FILE` (training/dist.py; configs/README.md).
Exit status: 0 done, 2 bad config or data (the message names the key or the file:line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from evlm.cliargs import add_version
from training.train import MODES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evlm-train", description="Train EVLM: SFT, then RKTO (or the KTO/DPO baselines).")
    add_version(p)
    p.add_argument("mode", choices=MODES, help="sft, rkto, kto or dpo")
    p.add_argument("--config", required=True, help="JSON or TOML config file (keys: configs/README.md)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--quiet", action="store_true", help="do not echo log lines")
    return p


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def fail(message: str) -> int:
        print(f"evlm-train: error: {message}", file=sys.stderr)
        return 2

    from training.train import load_config  # no torch import before the arguments are checked

    try:
        cfg = load_config(args.config, args.mode, _overrides(args.set))
    except (FileNotFoundError, ValueError) as e:
        return fail(str(e))
    try:
        if cfg.mode == "sft":
            from training.sft import train_sft

            out = train_sft(cfg, echo=not args.quiet)
        else:
            from training.rkto import train_align

            out = train_align(cfg, echo=not args.quiet)
    except (FileNotFoundError, ValueError) as e:  # ConfigError, DatasetError are ValueErrors
        return fail(str(e))
    if os.environ.get("RANK", "0") == "0":  # `accelerate launch`: the main process alone
        print(f"evlm-train: model written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
