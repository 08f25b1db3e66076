"""The training losses, each a small pure function on tensors (TRL style).

Notation (KTO paper, Ethayarajh et al. 2024, arXiv 2402.01306): x a prompt, y a completion,
pi_theta the policy, pi_ref the reference (the SFT model, frozen), beta > 0 the temperature.

    r_theta(x, y) = log pi_theta(y | x) - log pi_ref(y | x)     (the implied reward, a log-ratio)
    z0 = KL(pi_theta(y' | x) || pi_ref(y' | x))                  (the reference point)

KTO estimates z0 on a batch from *mismatched* pairs: prompt x_i with the completion y_j of
another example j (so y_j is, for x_i, an arbitrary output): z0 = max(0, mean_i r_theta(x_i,
y_j(i))), detached (no gradient flows through the reference point). Its value function is

    v(x, y) = lambda_D * sigmoid(beta * (r_theta(x, y) - z0))   if y is desirable
              lambda_U * sigmoid(beta * (z0 - r_theta(x, y)))   if y is undesirable

and its loss is E[lambda_y - v(x, y)], i.e. per example lambda_D * (1 - sigmoid(beta * (r - z0)))
or lambda_U * (1 - sigmoid(beta * (z0 - r))).

RKTO (this project, after EVLM arXiv 2412.10566): a completion has two segments k in {reasoning,
answer}, each with a human quality score s_k in [0, 1]. r_k is the log-ratio summed over the
segment's tokens only, and z0_k the same mismatched-pair estimate restricted to segment k (so r_k
and z0_k measure the same tokens; KTO's whole-completion z0 is their sum). The score sets a
signed target m_k = 2 s_k - 1 in [-1, 1]:

    loss_k = w(s_k) * (1 - sigmoid(beta * m_k * (r_k - z0_k))),
    w(s) = |2 s - 1| * (lambda_D if s > 1/2 else lambda_U).

Why this w: the sign of m picks the direction (raise r above z0 when the segment is good, push
it below when it is bad) and |m| is how sure the score is. w(1/2) = 0, so a neutral score
contributes neither loss nor gradient (m = 0 already kills the gradient: d loss / d r =
-w * beta * m * sigmoid'(.); w = |m| also makes the *value* zero, so logged losses are not
inflated by constant 0.5 terms). Near r = z0 the gradient magnitude is w * beta * |m| / 4 =
lambda * beta * (2 s - 1)^2 / 4: noisy scores near 1/2 are weighted down quadratically.
Reductions (tested): s = 1 gives m = 1, w = lambda_D: KTO's desirable term; s = 0 gives m = -1,
w = lambda_U: lambda_U * (1 - sigmoid(beta * (z0 - r))), KTO's undesirable term.

DPO (Rafailov et al. 2023) on pairs (y_w preferred to y_l for the same x):
    loss = -log sigmoid(beta * ((log pi_theta(y_w|x) - log pi_ref(y_w|x)) - (log pi_theta(y_l|x) - log pi_ref(y_l|x)))).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100  # same as training.data.collate.IGNORE_INDEX (kept here so this module stays standalone)
SEGMENTS = (1, 2)  # collate.SEG_REASONING, collate.SEG_ANSWER


def sequence_logps(
    logits: torch.Tensor,
    labels: torch.Tensor,
    segment_ids: torch.Tensor,
    segments: Sequence[int] = SEGMENTS,
) -> torch.Tensor:
    """Sum of token log-probs log pi(y_t | x, y_<t) per example and segment: [B, len(segments)].

    `logits` [B, T, V] are the model's outputs at every position; `labels` and `segment_ids`
    [B, T] are aligned with the input ids (the collator's convention), so position t's logits
    predict token t + 1: both are shifted left by one here. Positions whose label is
    IGNORE_INDEX (prompt, image tokens, padding) count in no segment.
    """
    if logits.dim() != 3 or labels.shape != logits.shape[:2] or segment_ids.shape != labels.shape:
        raise ValueError(
            f"expected logits [B, T, V] and labels/segment_ids [B, T]; got {tuple(logits.shape)}, "
            f"{tuple(labels.shape)}, {tuple(segment_ids.shape)}"
        )
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    segs = segment_ids[:, 1:]
    valid = labels != IGNORE_INDEX
    safe = labels.masked_fill(~valid, 0)
    # log_softmax gathered at the label = logit - logsumexp(logits): one [B, T] result, no [B, T, V] copy kept.
    token_logps = logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    token_logps = token_logps.masked_fill(~valid, 0.0)
    return torch.stack([(token_logps * (segs == k)).sum(-1) for k in segments], dim=-1)


def mismatched_pairs(groups: Sequence[str | None]) -> list[int]:
    """For each example i, the index j(i) of the completion KTO pairs with prompt i for z0.

    j(i) is the next example after i (cyclically) whose group differs: records of one group are
    variants of the same example and share its prompt, so pairing inside a group would not be a
    mismatch. A group of None is unique to its record. ValueError if some i has no such j
    (fewer than two groups).
    """
    n = len(groups)
    keys = [g if g is not None else ("__own__", i) for i, g in enumerate(groups)]
    out = []
    for i in range(n):
        j = next((k % n for k in range(i + 1, i + n) if keys[k % n] != keys[i]), None)
        if j is None:
            raise ValueError(f"no mismatched completion for example {i}: the {n} examples are all of one group")
        out.append(j)
    return out


def kl_estimate_z0(policy_kl_logps: torch.Tensor, reference_kl_logps: torch.Tensor) -> torch.Tensor:
    """KTO's reference point z0 = max(0, mean_i [log pi_theta(y_j|x_i) - log pi_ref(y_j|x_i)]),
    detached. Inputs: log-probs of the MISMATCHED pairs (x_i, y_j(i)) (see `mismatched_pairs`),
    shape [B] (one z0) or [B, S] (one z0 per segment, result [S])."""
    if policy_kl_logps.shape != reference_kl_logps.shape or policy_kl_logps.dim() not in (1, 2):
        raise ValueError(f"expected two [B] or [B, S] tensors, got {policy_kl_logps.shape}, {reference_kl_logps.shape}")
    return (policy_kl_logps - reference_kl_logps).mean(0).clamp(min=0).detach()


def kto_loss(
    policy_logps: torch.Tensor,
    reference_logps: torch.Tensor,
    desirable: torch.Tensor,
    z0: torch.Tensor | float,
    beta: float = 0.1,
    lambda_d: float = 1.0,
    lambda_u: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """KTO per example: (losses [B], rewards beta * r [B], detached). `desirable`: bool [B]."""
    _check_beta(beta)
    r = policy_logps - reference_logps
    d = desirable.to(torch.bool)
    losses = torch.where(
        d, lambda_d * (1 - torch.sigmoid(beta * (r - z0))), lambda_u * (1 - torch.sigmoid(beta * (z0 - r)))
    )
    return losses, (beta * r).detach()


def rkto_weight(scores: torch.Tensor, lambda_d: float = 1.0, lambda_u: float = 1.0) -> torch.Tensor:
    """w(s) = |2s - 1| * (lambda_D if s > 1/2 else lambda_U) (module docstring)."""
    return (2 * scores - 1).abs() * torch.where(scores > 0.5, lambda_d, lambda_u)


def rkto_loss(
    policy_logps: torch.Tensor,
    reference_logps: torch.Tensor,
    scores: torch.Tensor,
    z0: torch.Tensor | float,
    beta: float = 0.1,
    lambda_d: float = 1.0,
    lambda_u: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RKTO per example and segment: (losses [B, S], rewards beta * r [B, S], detached).

    `policy_logps`, `reference_logps`: [B, S] segment sums (sequence_logps); `scores` [B, S] in
    [0, 1]; `z0`: [S] (per segment), or a scalar.
    """
    _check_beta(beta)
    if scores.shape != policy_logps.shape or reference_logps.shape != policy_logps.shape:
        raise ValueError(
            f"shapes differ: policy {policy_logps.shape}, reference {reference_logps.shape}, scores {scores.shape}"
        )
    if bool(((scores < 0) | (scores > 1)).any()):
        raise ValueError("scores must be in [0, 1]")
    r = policy_logps - reference_logps
    m = 2 * scores - 1
    losses = rkto_weight(scores, lambda_d, lambda_u) * (1 - torch.sigmoid(beta * m * (r - z0)))
    return losses, (beta * r).detach()


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO per pair: (losses [B], chosen rewards [B], rejected rewards [B]; rewards detached)."""
    _check_beta(beta)
    chosen = policy_chosen - reference_chosen
    rejected = policy_rejected - reference_rejected
    losses = -F.logsigmoid(beta * (chosen - rejected))
    return losses, (beta * chosen).detach(), (beta * rejected).detach()


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(sum of the next-token cross entropy over labelled tokens, number of such tokens), so a
    caller can average over every token of an accumulated step, not per micro-batch."""
    logits = logits[:, :-1].float()
    labels = labels[:, 1:]
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return total, int((labels != IGNORE_INDEX).sum())


def _check_beta(beta: float) -> None:
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
