"""Training benchmarks and the ablation table.

bench_training.py step --model CK --data DS [--mode rkto|kto|dpo|sft] [--batch 4] [--steps 5] [--device cpu]
    time optimizer steps of one trainer on the same batches: seconds per step, tokens per
    second (every token through a forward: matched, mismatched and padding), and peak memory
    (CUDA: max allocated; CPU: the process's peak RSS, everything included).

bench_training.py ablation --model CK --data DS --out DIR [--sft-steps 100] [--align-steps 30]
    SFT on the base checkpoint, then KTO, RKTO and DPO from that SFT model (same data, same
    steps, same seed), each evaluated with the real engine (training.eval) on the test and
    gen splits; writes DIR/ablation.md and DIR/ablation.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench_step(args) -> dict:
    import torch

    from training import rkto, sft
    from training.data.loader import load_dataset_dir
    from training.train import clip_and_step, config_from_dict, load_model, make_optimizer, pick_device, step_batches

    cfg = config_from_dict(
        dict(
            model=args.model,
            data=args.data,
            out="/tmp/unused",
            mode=args.mode,
            batch_size=args.batch,
            lr=1e-4,
            device=args.device,
            steps=args.steps + 1,
            beta=0.1,
        )  # fmt: skip
    )
    device = pick_device(cfg.device)
    data = load_dataset_dir(cfg.data, [cfg.train_split])
    model, processor = load_model(cfg, device)
    opt, sched = make_optimizer(cfg, model)
    collate = rkto.PairCollator(processor)
    if cfg.mode == "sft":
        examples = sft.select_examples(data, cfg.train_split, cfg.used_variants)
    else:
        prepared = rkto.prepare(sft.select_examples(data, cfg.train_split, None), data.pairs, cfg.mode, cfg.seed)
        t = time.perf_counter()
        rkto.compute_reference(model, collate, prepared, cfg, device)
        ref_s = time.perf_counter() - t
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, tokens = [], []
    n = len(examples) if cfg.mode == "sft" else len(prepared)
    for step in range(args.steps + 1):  # step 0 warms up
        (idx,) = step_batches(cfg, n, step)
        t = time.perf_counter()
        if cfg.mode == "sft":
            batch = collate([examples[i] for i in idx])
            s, count = sft_loss_of(model, batch, cfg, device)
            (s / count).backward()
            ntok = batch["input_ids"].numel()
        else:
            loss, _ = rkto.micro_loss(model, collate, prepared, idx, cfg, device)
            (loss / len(idx)).backward()
            ntok = _align_tokens(collate, prepared, idx, cfg.mode)
        clip_and_step(cfg, model, opt, sched)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step:
            times.append(time.perf_counter() - t)
            tokens.append(ntok)
    out = {
        "mode": cfg.mode, "device": str(device), "batch": cfg.batch_size, "steps": args.steps,
        "s_per_step": sum(times) / len(times), "tokens_per_s": sum(tokens) / sum(times),
        "peak_memory_mb": peak_memory_mb(device),
    }  # fmt: skip
    if cfg.mode != "sft":
        out["reference_precompute_s"] = ref_s
    return out


def sft_loss_of(model, batch, cfg, device):
    from training.losses import sft_loss
    from training.sft import forward_logits
    from training.train import to_device

    batch = to_device(batch, device)
    return sft_loss(forward_logits(model, batch, cfg, device), batch["labels"])


def _align_tokens(collate, data, idx, mode) -> int:
    from training import rkto

    if mode == "dpo":
        items = [data.examples[data.pairs[k][j]] for j in (0, 1) for k in idx]
        return collate(items)["input_ids"].numel()
    return (
        collate([data.examples[i] for i in idx])["input_ids"].numel()
        + collate(rkto.kl_items(data, idx))["input_ids"].numel()
    )


def ablation(args) -> dict:
    from evlm_server.engine import load_engine
    from training.data.loader import load_dataset_dir
    from training.eval.harness import GOLD_VARIANTS, evaluate, select
    from training.rkto import train_align
    from training.sft import train_sft
    from training.train import config_from_dict

    out = Path(args.out)
    common = dict(data=args.data, device=args.device, batch_size=args.batch, seed=args.seed, schedule="constant",
                  eval_split="val", save_every=0, log_every=10)  # fmt: skip
    sft_dir = train_sft(
        config_from_dict(
            common | dict(model=args.model, out=str(out / "sft"), mode="sft", steps=args.sft_steps, lr=args.sft_lr)
        ),
        echo=False,
    )
    models = {"SFT": sft_dir}
    for mode in ("kto", "rkto", "dpo"):
        cfg = common | dict(model=str(sft_dir), out=str(out / mode), mode=mode, steps=args.align_steps,
                            lr=args.align_lr, beta=args.beta)  # fmt: skip
        models[f"SFT+{mode.upper()}"] = train_align(config_from_dict(cfg), echo=False)
    data = load_dataset_dir(args.data, args.splits)
    examples = select(data, args.splits, None, GOLD_VARIANTS)
    table = {}
    for name, path in models.items():
        engine = load_engine(path, device=args.device, max_reasoning_tokens=args.max_reasoning_tokens,
                             max_answer_tokens=args.max_answer_tokens, seed=0)  # fmt: skip
        result = evaluate(engine, examples, batch=4)
        table[name] = result.groups["overall"]
    (out / "ablation.json").write_text(json.dumps(table, indent=2, default=str))
    keys = sorted({k for row in table.values() for k, v in row.items() if isinstance(v, (int, float))})
    lines = ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return table


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("step")
    s.add_argument("--mode", choices=("sft", "rkto", "kto", "dpo"), default="rkto")
    s.add_argument("--steps", type=int, default=5)
    a = sub.add_parser("ablation")
    a.add_argument("--out", required=True)
    a.add_argument("--sft-steps", type=int, default=100)
    a.add_argument("--align-steps", type=int, default=30)
    a.add_argument("--sft-lr", type=float, default=1e-2)
    a.add_argument("--align-lr", type=float, default=3e-3)
    a.add_argument("--beta", type=float, default=0.5)
    a.add_argument("--splits", type=lambda t: t.split(","), default=["test", "gen"])
    a.add_argument("--max-reasoning-tokens", type=int, default=64)
    a.add_argument("--max-answer-tokens", type=int, default=400)
    for q in (s, a):
        q.add_argument("--model", required=True)
        q.add_argument("--data", required=True)
        q.add_argument("--batch", type=int, default=4)
        q.add_argument("--device", default="cpu")
        q.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "step":
        print(json.dumps(bench_step(args), indent=2))
    else:
        ablation(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
