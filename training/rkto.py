"""Alignment after SFT: RKTO, and the KTO and DPO baselines, in one trainer (losses.py has the
math and its derivation).

- The reference pi_ref is the starting checkpoint (the SFT model). Its log-probs are computed
  once, before the first update, with the same weights that then train; no second model is
  kept in memory (full fine-tuning or LoRA alike).
- rkto: per segment (reasoning, answer): r_k = sum of log pi/pi_ref over the segment's tokens,
  scored by the record's `scores` (losses.rkto_loss); an example's loss is the sum of its two
  segment losses.
- kto: KTO on the whole completion (r = r_reasoning + r_answer), each record desirable iff the
  mean of its two scores is >= 0.5 (scores binarized at 0.5); one z0 for the completion.
- z0 (rkto, kto): every record i is paired once, before training, with the completion of
  another record j(i) of a different group (losses.mismatched_pairs over a seeded shuffle of
  the split; as TRL's KTO builds its KL dataset), so the reference log-probs of the mismatched
  pairs are precomputed too. Each micro-batch estimates z0 from the policy/reference log-ratios
  of its own examples' mismatched pairs (losses.kl_estimate_z0: mean, clamped at 0, no
  gradient; per segment for rkto).
- dpo: the dataset's pairs.jsonl (`{group, chosen, rejected}` record ids; pairs whose records
  are both in the split), sequence log-probs over reasoning + answer.
The loss of an optimizer step is the mean over its examples (dpo: pairs), over every process
of a run of several (dist.py); each process computes the whole reference itself (no update has
happened yet, so every process gets the same numbers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from training.data.collate import Collator
from training.data.format import answer_text, reasoning_text
from training.data.loader import Example, load_dataset_dir
from training.dist import Dist
from training.forward import forward_targets
from training.losses import dpo_loss, kl_estimate_z0, kto_loss, mismatched_pairs, rkto_loss, sequence_logps
from training.sft import select_examples
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

ALIGN_MODES = ("rkto", "kto", "dpo")


class PairCollator(Collator):
    """A Collator that also takes `(example, reasoning_text, answer_text)` items: the example's
    prompt with another completion (KTO's mismatched pairs)."""

    def encode(self, item, reasoning: str | None = None, answer: str | None = None) -> dict:  # type: ignore[override]
        if isinstance(item, tuple):
            example, reasoning, answer = item
            return super().encode(example, reasoning=reasoning, answer=answer)
        return super().encode(item, reasoning=reasoning, answer=answer)


@dataclass
class AlignData:
    """One split prepared for alignment: the examples, the mismatched partner of each (kto,
    rkto), the DPO pairs (index pairs), and the reference log-probs [N, 2] (matched) and
    [N, 2] (mismatched)."""

    examples: list[Example]
    partner: list[int]
    pairs: list[tuple[int, int]]
    ref: torch.Tensor | None = None
    ref_kl: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs else len(self.examples)


def prepare(examples: list[Example], raw_pairs: list[dict], mode: str, seed: int) -> AlignData:
    """Partners (a seeded shuffle, then losses.mismatched_pairs) or DPO index pairs."""
    if mode == "dpo":
        index = {e.record.id: i for i, e in enumerate(examples)}
        pairs = []
        for p in raw_pairs:
            if not isinstance(p, dict) or "chosen" not in p or "rejected" not in p:
                raise ConfigError(f"pairs.jsonl: every line needs 'chosen' and 'rejected' record ids, got {p!r}")
            if p["chosen"] in index and p["rejected"] in index:
                pairs.append((index[p["chosen"]], index[p["rejected"]]))
        return AlignData(examples, [], pairs)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(examples), generator=g).tolist()
    shuffled = mismatched_pairs([examples[i].record.group for i in order])
    partner = [0] * len(examples)
    for pos, i in enumerate(order):
        partner[i] = order[shuffled[pos]]
    return AlignData(examples, partner, [])


def kl_items(data: AlignData, idx: list[int]) -> list[tuple]:
    """(prompt of i, completion of j(i)) for each i in idx."""
    out = []
    for i in idx:
        other = data.examples[data.partner[i]].record
        out.append((data.examples[i], reasoning_text(other.reasoning), answer_text(other.plan)))
    return out


def segment_logps(model, collate, items, cfg, device) -> torch.Tensor:
    batch = to_device(collate(items), device)
    return sequence_logps(*forward_targets(model, batch, cfg, device))


def reference_batches(data: AlignData, cfg: TrainConfig) -> int:
    """How many forward passes compute_reference makes for `data`."""
    return math.ceil(len(data.examples) / cfg.batch_size) * (2 if data.partner else 1)


@torch.no_grad()
def compute_reference(
    model, collate, data: AlignData, cfg: TrainConfig, device: torch.device, on_batch: Callable[[], None] = lambda: None
) -> None:
    """Fill data.ref (and data.ref_kl) with the current model's log-probs, per segment;
    `on_batch()` after each forward pass (the progress meter)."""
    was_training = model.training
    model.eval()
    n, bs = len(data.examples), cfg.batch_size
    chunks = [list(range(i, min(i + bs, n))) for i in range(0, n, bs)]

    def logps(items: list) -> torch.Tensor:
        out = segment_logps(model, collate, items, cfg, device).cpu()
        on_batch()
        return out

    data.ref = torch.cat([logps([data.examples[i] for i in c]) for c in chunks])
    if data.partner:
        data.ref_kl = torch.cat([logps(kl_items(data, c)) for c in chunks])
    model.train(was_training)


def micro_loss(model, collate, data: AlignData, idx: list[int], cfg: TrainConfig, device) -> tuple[torch.Tensor, dict]:
    """(sum of the per-example losses of micro-batch `idx`, metrics). Gradients flow through the
    matched pairs only."""
    assert data.ref is not None
    if cfg.mode == "dpo":
        chosen = [data.pairs[k][0] for k in idx]
        rejected = [data.pairs[k][1] for k in idx]
        logps = segment_logps(model, collate, [data.examples[i] for i in chosen + rejected], cfg, device).sum(-1)
        ref = data.ref.to(device).sum(-1)
        b = len(idx)
        losses, rc, rr = dpo_loss(logps[:b], logps[b:], ref[chosen], ref[rejected], cfg.beta)
        return losses.sum(), {"reward_margin": (rc - rr).mean().item(), "reward_acc": (rc > rr).float().mean().item()}

    assert data.ref_kl is not None
    policy = segment_logps(model, collate, [data.examples[i] for i in idx], cfg, device)
    with torch.no_grad():
        policy_kl = segment_logps(model, collate, kl_items(data, idx), cfg, device)
    ref, ref_kl = data.ref[idx].to(device), data.ref_kl[idx].to(device)
    scores = torch.tensor(
        [[data.examples[i].record.scores.reasoning, data.examples[i].record.scores.answer] for i in idx],
        device=device,
    )
    if cfg.mode == "rkto":
        z0 = kl_estimate_z0(policy_kl, ref_kl)  # [2]: one per segment
        losses, rewards = rkto_loss(policy, ref, scores, z0, cfg.beta, cfg.lambda_d, cfg.lambda_u)
        losses, good = losses.sum(-1), scores.mean(-1) > 0.5
        rewards = rewards.sum(-1)
    else:
        z0 = kl_estimate_z0(policy_kl.sum(-1), ref_kl.sum(-1))
        good = scores.mean(-1) >= 0.5
        losses, rewards = kto_loss(policy.sum(-1), ref.sum(-1), good, z0, cfg.beta, cfg.lambda_d, cfg.lambda_u)
    metrics = {"z0": z0.sum().item()}
    if good.any():
        metrics["reward_good"] = rewards[good].mean().item()
    if (~good).any():
        metrics["reward_bad"] = rewards[~good].mean().item()
    return losses.sum(), metrics


@torch.no_grad()
def eval_align(model, collate, data: AlignData, cfg: TrainConfig, device, dist: Dist | None = None) -> dict:
    """Eval loss and metrics (several processes: each takes every world-th batch, then all reduced)."""
    dist = dist or Dist()
    was_training = model.training
    model.eval()
    total, sums, counts = 0.0, {}, {}
    starts = range(0, len(data), cfg.batch_size)
    for i in starts[dist.rank :: dist.world]:
        idx = list(range(i, min(i + cfg.batch_size, len(data))))
        loss, metrics = micro_loss(model, collate, data, idx, cfg, device)
        total += loss.item()
        for k, v in metrics.items():
            sums[k], counts[k] = sums.get(k, 0.0) + v * len(idx), counts.get(k, 0) + len(idx)
    model.train(was_training)
    if dist.enabled:
        parts = dist.gather((total, sums, counts))
        total = sum(p[0] for p in parts)
        sums = {k: sum(p[1].get(k, 0.0) for p in parts) for k in {k for p in parts for k in p[1]}}
        counts = {k: sum(p[2].get(k, 0) for p in parts) for k in sums}
    return {"eval_loss": total / len(data), **{f"eval_{k}": sums[k] / counts[k] for k in sorted(sums)}}


def _mean(rows: list[dict]) -> dict:
    keys = {k for r in rows for k in r}
    return {k: sum(r[k] for r in rows if k in r) / sum(1 for r in rows if k in r) for k in sorted(keys)}


def train_align(cfg: TrainConfig, echo: bool = True) -> Path:
    """Run (or resume) rkto, kto or dpo as configured; returns the exported model OUT/model."""
    if cfg.mode not in ALIGN_MODES:
        raise ConfigError(f"mode: train_align needs one of {', '.join(ALIGN_MODES)}, got {cfg.mode!r}")
    dist = Dist.create(cfg.device, cfg.batch_size)
    device = dist.device(pick_device(cfg.device))
    seed_everything(cfg.seed)
    dataset = load_dataset_dir(cfg.data, data_splits(cfg), cfg.data_workers)
    train = prepare(select_examples(dataset, cfg.train_split, cfg.used_variants), dataset.pairs, cfg.mode, cfg.seed)
    log = Logger(cfg, echo, enabled=dist.is_main)
    evals = None
    if cfg.eval_split:
        eval_examples = select_examples(dataset, cfg.eval_split, cfg.used_variants, cfg.eval_limit)
        try:
            ev = prepare(eval_examples, dataset.pairs, cfg.mode, cfg.seed)
            evals = ev if len(ev) else None
        except ValueError as e:  # e.g. a one-group eval split: no mismatched pairs for z0
            log.log(event="no_eval", reason=str(e))
    if not len(train):
        what = "DPO pairs with both records" if cfg.mode == "dpo" else "records"
        raise ConfigError(f"no {what} in the {cfg.train_split!r} split of {cfg.data}")
    model, processor = load_model(cfg, device)
    collate = PairCollator(processor, cfg.max_length, prompt_format=prompt_format_of(cfg))
    for part in (train, evals):
        if part is not None:
            collate.preencode(
                part.examples + kl_items(part, list(range(len(part.partner)))), cfg.model, cfg.data_workers
            )

    # The reference: the starting weights, before any update (and before a resume loads newer ones).
    t0 = time.perf_counter()
    total = reference_batches(train, cfg) + (reference_batches(evals, cfg) if evals is not None else 0)
    meter = log.start_progress(total, "reference", unit="batch")
    tick = meter.advance if meter is not None else (lambda: None)
    compute_reference(model, collate, train, cfg, device, tick)
    if evals is not None:
        compute_reference(model, collate, evals, cfg, device, tick)
    log.end_progress()
    ref_s = time.perf_counter() - t0

    clock = Clock(cfg.time_budget_s)
    opt, sched = make_optimizer(cfg, model, clock)
    model, opt = dist.prepare(model, opt)  # several processes: DDP (or the accelerate config's wrapper)
    start = 0
    ckpt = latest_checkpoint(cfg) if cfg.resume else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, opt, sched, dist)
        start = state["step"]
        log.log(event="resume", step=start, checkpoint=str(ckpt))
    else:
        log.log(event="start", mode=cfg.mode, train=len(train), eval=len(evals or []), steps=cfg.steps,
                reference_s=ref_s, processes=dist.world, **cfg.extra)  # fmt: skip

    model.train()
    log.start_progress(cfg.steps, cfg.mode, initial=start)
    per_step = cfg.batch_size * cfg.grad_accum * dist.world  # examples (dpo: pairs) of a step, all processes
    clock.resume(state if ckpt is not None else None)
    for step in range(start, cfg.steps):
        t0 = time.perf_counter()
        total, metrics = 0.0, []
        mine = dist.share(step_batches(cfg, len(train), step, dist.world))
        for k, idx in enumerate(mine):
            with dist.no_sync(model, skip=k < len(mine) - 1):
                loss_sum, m = micro_loss(model, collate, train, idx, cfg, device)
                dist.backward(loss_sum * dist.world / per_step)  # the step's mean; DDP averages over processes
            total += loss_sum.item()
            metrics.append(m)
        if dist.enabled:
            total = dist.sum(total)
            metrics = [m for part in dist.gather(metrics) for m in part]
        lr = sched.get_last_lr()[0]
        grad_norm = clip_and_step(cfg, model, opt, sched, dist)
        done = step + 1
        log.tick(done)
        last = done == cfg.steps or dist.any(clock.up())  # stop on steps or on time (every process alike)
        if done % cfg.log_every == 0 or last:
            dt = time.perf_counter() - t0
            log.log(step=done, loss=total / per_step, lr=lr, grad_norm=grad_norm, s=dt, elapsed_s=clock.elapsed(),
                    **_mean(metrics))  # fmt: skip
        if evals is not None and ((cfg.eval_every and done % cfg.eval_every == 0) or last):
            log.log(step=done, **eval_align(dist.unwrap(model), collate, evals, cfg, device, dist))
        if (cfg.save_every and done % cfg.save_every == 0) or last:
            save_checkpoint(cfg, model, opt, sched, done, clock.state(), dist)
        if last:
            break

    return finish_run(cfg, model, log, f"{cfg.mode.upper()} {Path(cfg.model).name}", dist)
