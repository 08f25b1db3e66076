"""Supervised fine-tuning on chain of thought: the reasoning and answer tokens of each record
(the collator masks the prompt and its image tokens), full or LoRA.

The loss of an optimizer step is the mean next-token cross entropy over every target token of
its micro-batches (summed per micro-batch, divided by the step's token count), so gradient
accumulation gives the same update as one big batch, and so do several processes (dist.py: the
token count is the step's over every process). The loop reads top to bottom.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from training.data.collate import IGNORE_INDEX, Collator
from training.data.loader import Example, load_dataset_dir
from training.dist import Dist
from training.forward import forward_targets
from training.losses import sft_loss
from training.train import (
    Clock,
    ConfigError,
    Logger,
    TrainConfig,
    clip_and_step,
    data_splits,
    finish_run,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    make_optimizer,
    pick_device,
    prompt_format_of,
    save_checkpoint,
    seed_everything,
    step_batches,
    to_device,
)


def select_examples(data, split: str | None, variants: list[str] | None, limit: int | None = None) -> list[Example]:
    if split is None or split not in data.splits:
        return []
    chosen = [e for e in data[split] if variants is None or e.record.variant in variants]
    return chosen[:limit] if limit is not None else chosen


@torch.no_grad()
def eval_loss(
    model, collate: Collator, examples: list[Example], cfg: TrainConfig, device: torch.device, dist: Dist | None = None
) -> float:
    """Mean cross entropy per target token over `examples` (several processes: each takes every
    world-th batch; the sums are reduced)."""
    dist = dist or Dist()
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    starts = range(0, len(examples), cfg.batch_size)
    for i in starts[dist.rank :: dist.world]:
        batch = to_device(collate(examples[i : i + cfg.batch_size]), device)
        s, n = sft_loss(*forward_targets(model, batch, cfg, device)[:2])
        total, count = total + s.item(), count + n
    model.train(was_training)
    return dist.sum(total) / max(dist.sum(count), 1)


def train_sft(cfg: TrainConfig, echo: bool = True) -> Path:
    """Run (or resume) SFT as configured; returns the exported model folder OUT/model."""
    if cfg.mode != "sft":
        raise ConfigError(f"mode: train_sft needs 'sft', got {cfg.mode!r}")
    dist = Dist.create(cfg.device, cfg.batch_size)
    device = dist.device(pick_device(cfg.device))
    seed_everything(cfg.seed)
    data = load_dataset_dir(cfg.data, data_splits(cfg), cfg.data_workers)
    train = select_examples(data, cfg.train_split, cfg.used_variants)
    evals = select_examples(data, cfg.eval_split, cfg.used_variants, cfg.eval_limit)
    if not train:
        raise ConfigError(f"no {cfg.train_split!r} records of variants {cfg.used_variants} in {cfg.data}")
    model, processor = load_model(cfg, device)
    collate = Collator(processor, cfg.max_length, prompt_format=prompt_format_of(cfg))
    collate.preencode(train + evals, cfg.model, cfg.data_workers)
    clock = Clock(cfg.time_budget_s)
    opt, sched = make_optimizer(cfg, model, clock)
    model, opt = dist.prepare(model, opt)  # several processes: DDP (or the accelerate config's wrapper)
    log = Logger(cfg, echo, enabled=dist.is_main)

    start = 0
    ckpt = latest_checkpoint(cfg) if cfg.resume else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, opt, sched, dist)
        start = state["step"]
        log.log(event="resume", step=start, checkpoint=str(ckpt))
    else:
        log.log(event="start", mode="sft", train=len(train), eval=len(evals), steps=cfg.steps, processes=dist.world,
                **cfg.extra)  # fmt: skip

    model.train()
    log.start_progress(cfg.steps, "sft", initial=start)
    clock.resume(state if ckpt is not None else None)
    for step in range(start, cfg.steps):
        t0 = time.perf_counter()
        mine = dist.share(step_batches(cfg, len(train), step, dist.world))
        micro = [collate([train[i] for i in idx]) for idx in mine]
        # The step's mean is over the tokens of every process; DDP averages gradients, hence * world.
        n_tokens = int(dist.sum(sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro)))
        total = 0.0
        for k, batch in enumerate(micro):
            batch = to_device(batch, device)
            with dist.no_sync(model, skip=k < len(micro) - 1):
                loss_sum, _ = sft_loss(*forward_targets(model, batch, cfg, device)[:2])
                dist.backward(loss_sum * dist.world / n_tokens)  # the step's mean over all its tokens
            total += loss_sum.item()
        total = dist.sum(total)
        lr = sched.get_last_lr()[0]
        grad_norm = clip_and_step(cfg, model, opt, sched, dist)
        done = step + 1
        log.tick(done)
        last = done == cfg.steps or dist.any(clock.up())  # stop on steps or on time (every process alike)
        if done % cfg.log_every == 0 or last:
            dt = time.perf_counter() - t0
            log.log(step=done, loss=total / n_tokens, lr=lr, grad_norm=grad_norm, tokens=n_tokens, tok_s=n_tokens / dt,
                    elapsed_s=clock.elapsed())  # fmt: skip
        if evals and ((cfg.eval_every and done % cfg.eval_every == 0) or last):
            log.log(step=done, eval_loss=eval_loss(dist.unwrap(model), collate, evals, cfg, device, dist))
        if (cfg.save_every and done % cfg.save_every == 0) or last:
            save_checkpoint(cfg, model, opt, sched, done, clock.state(), dist)
        if last:
            break

    return finish_run(cfg, model, log, f"SFT {Path(cfg.model).name}", dist)
