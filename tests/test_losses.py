"""The training losses on hand-computed numbers (the arithmetic is written next to each number)."""

from __future__ import annotations

import math

import pytest
import torch

from training.losses import (
    IGNORE_INDEX,
    dpo_loss,
    kl_estimate_z0,
    kto_loss,
    mismatched_pairs,
    rkto_loss,
    rkto_weight,
    sequence_logps,
    sft_loss,
)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# ---------------------------------------------------------------- sequence_logps
def test_sequence_logps_sums_shifted_token_logprobs_per_segment():
    # Two-token vocabulary. Example 0: tokens [p, 1, 0, 1], segments [0, 1, 1, 2], labels hide the prompt.
    # logits at t predict token t+1:
    #   t=0: [0, ln 3] -> p(1) = 3/4     (reasoning)
    #   t=1: [0, 0]    -> p(0) = 1/2     (reasoning)
    #   t=2: [ln 4, 0] -> p(1) = 1/5     (answer)
    #   t=3: anything (no next token)
    # reasoning = ln(3/4) + ln(1/2) = ln(3/8); answer = ln(1/5).
    # Example 1: same logits, but its last token is padding (label -100): answer = 0, reasoning same.
    row = [[0.0, math.log(3)], [0.0, 0.0], [math.log(4), 0.0], [5.0, -5.0]]
    logits = torch.tensor([row, row])
    labels = torch.tensor([[IGNORE_INDEX, 1, 0, 1], [IGNORE_INDEX, 1, 0, IGNORE_INDEX]])
    segs = torch.tensor([[0, 1, 1, 2], [0, 1, 1, 0]])
    out = sequence_logps(logits, labels, segs)
    expected = torch.tensor([[math.log(3 / 8), math.log(1 / 5)], [math.log(3 / 8), 0.0]])
    torch.testing.assert_close(out, expected)


def test_sequence_logps_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected logits"):
        sequence_logps(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


def test_sft_loss_sums_over_labelled_tokens():
    # Uniform logits over V = 4: every labelled token costs ln 4; 3 labelled next tokens -> 3 ln 4.
    logits = torch.zeros(1, 5, 4)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 2, 3, 1]])
    total, n = sft_loss(logits, labels)
    assert n == 3
    assert total.item() == pytest.approx(3 * math.log(4))


# ---------------------------------------------------------------- KTO
def test_kto_loss_hand_computed():
    # beta = 0.5, z0 = 1.
    # desirable, r = 3 - 1 = 2:   lambda_D * (1 - sig(0.5 * (2 - 1)))  = 1.0 * (1 - sig(0.5)) = 0.3775407
    # undesirable, r = -1 - 0 = -1: lambda_U * (1 - sig(0.5 * (1 - -1))) = 2.0 * (1 - sig(1.0)) = 0.5378828
    policy = torch.tensor([3.0, -1.0])
    ref = torch.tensor([1.0, 0.0])
    losses, rewards = kto_loss(policy, ref, torch.tensor([True, False]), z0=1.0, beta=0.5, lambda_d=1.0, lambda_u=2.0)
    assert losses.tolist() == pytest.approx([1 - sig(0.5), 2 * (1 - sig(1.0))])
    assert losses.tolist() == pytest.approx([0.3775407, 0.5378828], abs=1e-6)
    assert rewards.tolist() == pytest.approx([1.0, -0.5])  # beta * r


def test_kto_rejects_nonpositive_beta():
    with pytest.raises(ValueError, match="beta"):
        kto_loss(torch.zeros(1), torch.zeros(1), torch.ones(1, dtype=torch.bool), 0.0, beta=0.0)


# ---------------------------------------------------------------- RKTO
def test_rkto_loss_hand_computed():
    # beta = 1, z0 = 0, r = 2 in both segments.
    # s = 0.75: m = 0.5, w = 0.5 * lambda_D = 0.5:  0.5 * (1 - sig(0.5 * 2))  = 0.5 * 0.2689414 = 0.1344707
    # s = 0.25: m = -0.5, w = 0.5 * lambda_U = 1.0: 1.0 * (1 - sig(-0.5 * 2)) = 0.7310586
    policy = torch.tensor([[2.0, 2.0]])
    ref = torch.zeros(1, 2)
    losses, _ = rkto_loss(policy, ref, torch.tensor([[0.75, 0.25]]), z0=0.0, beta=1.0, lambda_d=1.0, lambda_u=2.0)
    assert losses[0].tolist() == pytest.approx([0.5 * (1 - sig(1.0)), 1.0 * (1 - sig(-1.0))])
    assert losses[0].tolist() == pytest.approx([0.1344707, 0.7310586], abs=1e-6)


def test_rkto_weight():
    w = rkto_weight(torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]), lambda_d=2.0, lambda_u=3.0)
    # |2s-1| = 1, 0.5, 0, 0.5, 1; times lambda_U (s <= 0.5) or lambda_D (s > 0.5)
    assert w.tolist() == pytest.approx([3.0, 1.5, 0.0, 1.0, 2.0])


@pytest.mark.parametrize("s", [0.0, 1.0])
def test_rkto_reduces_to_kto_at_binary_scores(s):
    torch.manual_seed(0)
    policy, ref = torch.randn(6, 2) * 3, torch.randn(6, 2) * 3
    z0 = torch.tensor([0.4, 1.3])
    scores = torch.full((6, 2), s)
    rkto, _ = rkto_loss(policy, ref, scores, z0, beta=0.3, lambda_d=1.3, lambda_u=0.7)
    for k in range(2):  # KTO on each segment alone, labels = the binary scores
        kto, _ = kto_loss(policy[:, k], ref[:, k], scores[:, k] > 0.5, z0[k], beta=0.3, lambda_d=1.3, lambda_u=0.7)
        torch.testing.assert_close(rkto[:, k], kto)


def test_rkto_at_half_score_has_no_loss_and_no_gradient():
    torch.manual_seed(0)
    policy = (torch.randn(4, 2) * 5).requires_grad_()
    ref = torch.randn(4, 2)
    scores = torch.tensor([[0.5, 0.5], [0.5, 1.0], [0.0, 0.5], [0.5, 0.5]])
    losses, _ = rkto_loss(policy, ref, scores, z0=torch.tensor([0.2, 0.1]), beta=2.0)
    losses.sum().backward()
    half = scores == 0.5
    assert torch.all(losses[half] == 0)
    assert torch.all(policy.grad[half] == 0)
    assert torch.all(policy.grad[~half] != 0)  # the scored segments do move
    # direction: a good segment (s = 1) gets a negative gradient (raising r lowers the loss), a bad one positive
    assert policy.grad[1, 1] < 0 and policy.grad[2, 0] > 0


def test_rkto_rejects_scores_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rkto_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.5, 0.0]]), 0.0)


# ---------------------------------------------------------------- z0 from mismatched pairs
def test_mismatched_pairs_skip_the_same_group():
    # 0 and 1 share group a: 0 skips 1 and pairs with 2; 1 -> 2; 2 -> 3; 3 wraps to 0; None is its own group.
    assert mismatched_pairs(["a", "a", "b", "c"]) == [2, 2, 3, 0]
    assert mismatched_pairs([None, None]) == [1, 0]
    with pytest.raises(ValueError, match="one group"):
        mismatched_pairs(["a", "a", "a"])


def test_z0_uses_exactly_the_mismatched_pairs_after_a_permutation():
    # L[i, j] / R[i, j]: policy / reference log-prob of completion j given prompt i (ids 0..5).
    # The diagonal (matched pairs) is huge: if any matched pair entered z0 it would show.
    n = 6
    groups = ["g0", "g0", "g1", "g2", "g2", "g3"]
    torch.manual_seed(0)
    L = torch.randn(n, n)
    R = torch.randn(n, n)
    L.fill_diagonal_(1000.0)
    for perm in ([0, 1, 2, 3, 4, 5], [5, 3, 0, 4, 1, 2], [2, 4, 1, 5, 0, 3]):
        batch_groups = [groups[p] for p in perm]
        j = mismatched_pairs(batch_groups)
        pairs = [(perm[i], perm[j[i]]) for i in range(n)]  # (prompt id, completion id)
        assert all(a != b and groups[a] != groups[b] for a, b in pairs)
        pol = torch.stack([L[a, b] for a, b in pairs])
        ref = torch.stack([R[a, b] for a, b in pairs])
        z0 = kl_estimate_z0(pol, ref)
        expected = max(0.0, sum(L[a, b].item() - R[a, b].item() for a, b in pairs) / n)
        assert z0.item() == pytest.approx(expected, abs=1e-6)
        assert z0.item() < 100  # no diagonal term


def test_z0_is_clamped_detached_and_per_segment():
    pol = torch.tensor([[1.0, -3.0], [2.0, -1.0]], requires_grad=True)
    ref = torch.zeros(2, 2)
    z0 = kl_estimate_z0(pol, ref)
    # segment 0: mean(1, 2) = 1.5; segment 1: mean(-3, -1) = -2 -> clamped at 0
    assert z0.tolist() == [1.5, 0.0]
    assert not z0.requires_grad


# ---------------------------------------------------------------- DPO
def test_dpo_loss_hand_computed():
    # chosen log-ratio = -1 - -2 = 1; rejected = -3 - -2 = -1; beta = 0.5:
    # -log sig(0.5 * (1 - -1)) = -log sig(1) = 0.3132617
    losses, rc, rr = dpo_loss(
        torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]), beta=0.5
    )
    assert losses.item() == pytest.approx(-math.log(sig(1.0)))
    assert losses.item() == pytest.approx(0.3132617, abs=1e-6)
    assert (rc.item(), rr.item()) == pytest.approx((0.5, -0.5))
