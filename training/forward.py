"""The training forward: the model's logits over the target window of a collated batch only.

Every loss in training/losses.py reads logits at target positions alone (the reasoning and the
answer), yet a prompt with a scene graph and image tokens is most of each sequence. So:
- the LM head runs on the window that starts one position before the batch's first target token
  (`logits_to_keep`): its [B, T, V] output and its backward, the largest tensors of a step on a
  small model, shrink to the target share;
- no KV cache is built (`use_cache=False`): training never decodes;
- the attention mask is left out when every row is right-padded (the collator's layout): causal
  attention already keeps real tokens from seeing the padding after them, the rope positions of
  real tokens do not change, and the kernels take their mask-free causal path. Padding positions
  get garbage logits, but their labels are IGNORE_INDEX.
The labels and segment ids come back cut to the same window, still aligned with the logits as the
collator aligns them with the input ids, so the losses apply unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from training.data.collate import IGNORE_INDEX, model_inputs
from training.train import TrainConfig, autocast


class Targets(NamedTuple):
    logits: torch.Tensor  # [B, W, V]: the last W positions of the sequence
    labels: torch.Tensor  # [B, W]
    segment_ids: torch.Tensor  # [B, W]


def window_start(labels: torch.Tensor) -> int:
    """The first position whose logits any loss reads: one before the batch's first target token."""
    has_label = (labels != IGNORE_INDEX).any(dim=0)
    if not has_label.any():
        return max(labels.shape[1] - 1, 0)
    return max(int(has_label.nonzero()[0]) - 1, 0)


def right_padded(mask: torch.Tensor) -> bool:
    """True when every row of the attention mask is ones followed only by zeros."""
    lengths = mask.sum(dim=1, keepdim=True)
    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    return bool(torch.equal(mask.bool(), positions < lengths))


def forward_targets(model, batch: dict, cfg: TrainConfig, device: torch.device) -> Targets:
    """Logits, labels and segment ids over the batch's target window (module docstring)."""
    labels = batch["labels"]
    start = window_start(labels)
    inputs = {k: v for k, v in model_inputs(batch).items() if k != "labels"}
    mask = inputs.get("attention_mask")
    if mask is not None and right_padded(mask):
        inputs.pop("attention_mask")
    with autocast(cfg, device):
        logits = model(**inputs, use_cache=False, logits_to_keep=labels.shape[1] - start).logits
    return Targets(logits, labels[:, start:], batch["segment_ids"][:, start:])
