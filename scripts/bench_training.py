"""Training benchmarks and the ablation table.

bench_training.py step --model CK --data DS [--mode rkto|kto|dpo|sft] [--batch 4] [--steps 5] [--device cpu]
    time optimizer steps of one trainer on the same batches: seconds per step, tokens per
    second (every token through a forward: matched, mismatched and padding), and peak memory
    (CUDA: max allocated; CPU: the process's peak RSS, everything included).

bench_training.py trl --model CK --data DS [--batch 4] [--warmup 3] [--steps 10] [--repeat 1] [--device cpu|cuda]
    the project's RKTO step against TRL's KTOTrainer on the same model, the same token ids and
    the same batches, in one run: each side in a fresh process (so peak memory is its own), the
    same warm-up then N timed optimizer steps; prints a table with the ratio. Text only: TRL's
    KTOTrainer takes a vision-language model only with its own on-the-fly image collator (and then
    no precomputed reference), so both sides get the records with their images dropped (the same
    prompt text without image parts, the same reasoning + answer targets, the same mismatched
    completions for z0) through the same checkpoint, vision tower frozen and unused. Both
    precompute the reference log-probs, use AdamW, clip at 1.0, no gradient checkpointing, bf16
    autocast on CUDA only. (TRL's private `_prepare_dataset` is overridden to take our token ids
    as they are: written against trl 1.16.) tokens/s: real (unpadded) tokens through the forwards of a step,
    matched and mismatched, per second of wall time of the whole step (data included). Peak
    memory: from the start of training on (CUDA: torch.cuda.max_memory_allocated; CPU: the
    process's peak RSS, VmHWM, reset just before the first step, so it counts model, libraries
    and everything else resident).

bench_training.py ablation --model CK --data DS --out DIR [--sft-steps 100] [--align-steps 30]
    SFT on the base checkpoint, then KTO, RKTO and DPO from that SFT model (same data, same
    steps, same seed), each evaluated with the real engine (training.eval) on the test and
    gen splits; writes DIR/ablation.md and DIR/ablation.json.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
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


# ---------------------------------------------------------------- ours vs TRL's KTOTrainer
def text_only(examples: list) -> list:
    """The examples with their images dropped (no views, no reference): the prompt is the same
    chat text without its image parts."""
    from training.data.loader import Example

    return [Example(e.record.model_copy(update={"views": [], "reference": None}), e.root) for e in examples]


def trl_rows(collate, data, idx: list[int]) -> list[dict]:
    """TRL's pre-tokenized unpaired rows for the examples `idx` of an AlignData, with our
    collator's token ids: prompt_ids, completion_ids (reasoning + answer + stop), the mismatched
    completion of the example's partner as KL_completion_ids (the pairing our z0 uses), and
    label = desirable (mean score >= 0.5, KTO's binarization)."""
    from training.data.collate import SEG_PROMPT
    from training.rkto import kl_items

    rows = []
    for i, kl in zip(idx, kl_items(data, idx), strict=True):
        ex = data.examples[i]
        enc, enc_kl = collate.encode(ex), collate.encode(kl)
        n = enc["segment_ids"].count(SEG_PROMPT)
        assert enc_kl["input_ids"][:n] == enc["input_ids"][:n]  # the same prompt
        scores = ex.record.scores
        rows.append({
            "prompt_ids": enc["input_ids"][:n], "completion_ids": enc["input_ids"][n:],
            "KL_completion_ids": enc_kl["input_ids"][n:], "label": (scores.reasoning + scores.answer) / 2 >= 0.5,
        })  # fmt: skip
    return rows


def _step_tokens(collate, data, idx) -> int:
    """Real tokens through the forwards of a step: matched and mismatched sequences."""
    from training.rkto import kl_items

    b = collate([data.examples[i] for i in idx])["attention_mask"].sum()
    return int(b + collate(kl_items(data, idx))["attention_mask"].sum())


def _reset_peak(device) -> float:
    """Reset the peak-memory counter; returns the memory in use now (MiB)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS
    return _proc_kib("VmRSS") / 1024


def _peak(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _proc_kib("VmHWM") / 1024


def _proc_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def _side_setup(args):
    from training import rkto, sft
    from training.data.loader import load_dataset_dir
    from training.train import config_from_dict, load_model, pick_device, seed_everything, step_batches

    total = args.warmup + args.steps
    cfg = config_from_dict(dict(model=args.model, data=args.data, out="/tmp/unused", mode="rkto", batch_size=args.batch,
                                lr=args.lr, device=args.device, steps=total, beta=args.beta, schedule="constant",
                                seed=args.seed, eval_split=None))  # fmt: skip
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    ds = load_dataset_dir(cfg.data, [cfg.train_split])
    data = rkto.prepare(text_only(sft.select_examples(ds, cfg.train_split, None)), ds.pairs, "rkto", cfg.seed)
    order = [step_batches(cfg, len(data), step)[0] for step in range(total)]
    model, processor = load_model(cfg, device)
    collate = rkto.PairCollator(processor)
    return cfg, device, data, order, model, processor, collate


def side_ours(args) -> dict:
    """The project's RKTO loop (rkto.micro_loss + train.clip_and_step), as train_align runs it."""
    import torch

    from training import rkto
    from training.train import clip_and_step, make_optimizer

    cfg, device, data, order, model, _, collate = _side_setup(args)
    rkto.compute_reference(model, collate, data, cfg, device)
    opt, sched = make_optimizer(cfg, model)
    base = _reset_peak(device)
    model.train()
    times = []
    for idx in order:
        t = time.perf_counter()
        loss, _ = rkto.micro_loss(model, collate, data, idx, cfg, device)
        (loss / len(idx)).backward()
        clip_and_step(cfg, model, opt, sched)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    return _side_result(args, collate, data, order, times, base, _peak(device))


def side_trl(args) -> dict:
    """TRL's KTOTrainer.train() on the same model, batches and token ids (module docstring)."""
    import torch
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import KTOConfig, KTOTrainer

    cfg, device, data, order, model, processor, collate = _side_setup(args)
    rows = [row for idx in order for row in trl_rows(collate, data, idx)]

    class Pretokenized(KTOTrainer):
        """Takes trl_rows as they are: TRL's own text tokenization would not give the same ids."""

        def _prepare_dataset(self, dataset, *_, **__):
            return dataset

    marks: list[float] = []
    base: list[float] = []

    class Timer(TrainerCallback):
        def on_train_begin(self, *_, **__):
            base.append(_reset_peak(device))
            marks.append(time.perf_counter())

        def on_step_end(self, *_, **__):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        targs = KTOConfig(
            output_dir=tmp, per_device_train_batch_size=cfg.batch_size, max_steps=len(order), learning_rate=cfg.lr,
            lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=cfg.max_grad_norm,
            optim="adamw_torch", gradient_checkpointing=False, bf16=device.type == "cuda" and cfg.bf16,
            use_cpu=device.type == "cpu", precompute_ref_log_probs=True, max_length=None, beta=cfg.beta,
            train_sampling_strategy="sequential", report_to="none", save_strategy="no", logging_steps=10**6,
            disable_tqdm=True, seed=cfg.seed, dataloader_num_workers=0,
        )  # fmt: skip
        trainer = Pretokenized(model=model, args=targs, train_dataset=Dataset.from_list(rows),
                               processing_class=processor.tokenizer, callbacks=[Timer()])  # fmt: skip
        trainer.train()
    times = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    out = _side_result(args, collate, data, order, times, base[0], _peak(device))
    out["trl_version"] = trl.__version__
    return out


def _side_result(args, collate, data, order, times, base, peak) -> dict:
    if len(times) != len(order):
        raise RuntimeError(f"timed {len(times)} steps, expected {len(order)}")
    tokens = [_step_tokens(collate, data, idx) for idx in order][args.warmup :]
    timed = times[args.warmup :]
    return {"s_per_step": sum(timed) / len(timed), "tokens_per_s": sum(tokens) / sum(timed),
            "tokens_per_step": sum(tokens) / len(tokens), "base_mb": base, "peak_mb": peak}  # fmt: skip


def bench_trl(args) -> dict:
    """Both sides, each in a fresh process of this script, then the table."""
    common = ["--model", args.model, "--data", args.data, "--batch", str(args.batch), "--warmup", str(args.warmup),
              "--steps", str(args.steps), "--device", args.device, "--seed", str(args.seed), "--lr", str(args.lr),
              "--beta", str(args.beta)]  # fmt: skip
    runs: dict[str, list[dict]] = {"ours": [], "trl": []}
    for _ in range(args.repeat):  # interleaved, so a busy spell on a shared machine hits both sides
        for side in runs:
            run = subprocess.run([sys.executable, __file__, "_side", side, *common], capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"the {side} side failed:\n{run.stderr[-4000:]}")
            runs[side].append(json.loads(run.stdout.strip().splitlines()[-1]))
    results = {side: max(rs, key=lambda r: r["tokens_per_s"]) for side, rs in runs.items()}  # the least disturbed
    ours, theirs = results["ours"], results["trl"]
    what = "CUDA max allocated" if args.device.startswith("cuda") else "peak RSS"
    print(f"RKTO step (this project) vs TRL {theirs['trl_version']} KTOTrainer: model {args.model}, device "
          f"{args.device}, batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps, text only "
          f"(images dropped on both sides), {ours['tokens_per_step']:.0f} tokens/step (matched + mismatched)")  # fmt: skip
    print(f"| trainer | s/step | tokens/s | {what} MiB (peak) | at start of training MiB | peak - start MiB |")
    print("|---|---|---|---|---|---|")
    for name, r in (("ours: rkto.micro_loss", ours), ("TRL KTOTrainer", theirs)):
        print(f"| {name} | {r['s_per_step']:.4f} | {r['tokens_per_s']:.0f} | {r['peak_mb']:.1f} | "
              f"{r['base_mb']:.1f} | {r['peak_mb'] - r['base_mb']:.1f} |")  # fmt: skip
    speed = ours["tokens_per_s"] / theirs["tokens_per_s"]
    mem = ours["peak_mb"] / theirs["peak_mb"]
    print(
        f"| ours / TRL | {ours['s_per_step'] / theirs['s_per_step']:.2f}x | {speed:.2f}x | {mem:.2f}x | | "
        f"{(ours['peak_mb'] - ours['base_mb']) / max(theirs['peak_mb'] - theirs['base_mb'], 1e-9):.2f}x |"
    )
    if args.repeat > 1:
        for side, rs in runs.items():
            print(f"{side}: tokens/s of the {args.repeat} runs: " + ", ".join(f"{r['tokens_per_s']:.0f}" for r in rs))
    ok = speed >= 1.2 and mem <= 1.0
    print(f"target (>= 1.2x TRL's tokens/s, peak memory <= TRL's): {'met' if ok else 'NOT met'}")
    return results


def sft_loss_of(model, batch, cfg, device):
    from training.forward import forward_targets
    from training.losses import sft_loss
    from training.train import to_device

    batch = to_device(batch, device)
    return sft_loss(*forward_targets(model, batch, cfg, device)[:2])


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
    t = sub.add_parser("trl", help="RKTO step vs TRL's KTOTrainer (module docstring)")
    t.add_argument("--repeat", type=int, default=1, help="run each side R times, interleaved; report the fastest")
    side = sub.add_parser("_side")  # one side of `trl`, in its own process; prints a JSON line
    side.add_argument("side", choices=("ours", "trl"))
    for q in (t, side):
        q.add_argument("--warmup", type=int, default=3)
        q.add_argument("--steps", type=int, default=10)
        q.add_argument("--lr", type=float, default=1e-4)
        q.add_argument("--beta", type=float, default=0.1)
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
    for q in (s, a, t, side):
        q.add_argument("--model", required=True)
        q.add_argument("--data", required=True)
        q.add_argument("--batch", type=int, default=4)
        q.add_argument("--device", default="cpu")
        q.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "step":
        print(json.dumps(bench_step(args), indent=2))
    elif args.cmd == "trl":
        bench_trl(args)
    elif args.cmd == "_side":
        print(json.dumps(side_ours(args) if args.side == "ours" else side_trl(args)))
    else:
        ablation(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
