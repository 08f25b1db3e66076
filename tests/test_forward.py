"""The training forward (training/forward.py) against the plain full forward of the same model."""

from __future__ import annotations

import pytest
import torch

from tests.test_training import checkpoint, write_tiny_dataset  # noqa: F401  (checkpoint is a fixture)
from training.data.collate import IGNORE_INDEX, Collator, model_inputs
from training.forward import forward_targets, right_padded, window_start
from training.losses import sequence_logps, sft_loss
from training.train import config_from_dict


def test_window_starts_one_before_the_first_target_of_any_row():
    x = IGNORE_INDEX
    labels = torch.tensor([[x, x, x, x, 5, 6], [x, x, x, 7, 8, x]])
    assert window_start(labels) == 2
    assert window_start(torch.tensor([[3, 4], [x, x]])) == 0
    assert window_start(torch.full((2, 4), x)) == 3  # no target: one position, no loss


def test_right_padded():
    assert right_padded(torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]]))
    assert not right_padded(torch.tensor([[1, 1, 1], [0, 1, 1]]))  # left padding
    assert not right_padded(torch.tensor([[1, 0, 1]]))


@pytest.fixture(scope="module")
def padded_batch(checkpoint, tmp_path_factory):  # noqa: F811
    from transformers import AutoModelForImageTextToText

    from evlm_server.engine.hf import load_processor
    from training.data.loader import load_dataset_dir

    data = write_tiny_dataset(tmp_path_factory.mktemp("fwd") / "ds")
    examples = load_dataset_dir(data)["train"]
    model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32).eval()
    batch = Collator(load_processor(checkpoint))([examples[0], examples[5], examples[9]])
    assert (batch["attention_mask"] == 0).any(), "the batch must have padding for this test to mean something"
    return model, batch


def test_target_window_gives_the_full_forwards_losses(padded_batch):
    """Same SFT loss and per-segment log-probs as the masked full forward, on a right-padded batch."""
    model, batch = padded_batch
    cfg = config_from_dict({"model": "m", "data": "d", "out": "o", "device": "cpu"})
    with torch.no_grad():
        full = model(**{k: v for k, v in model_inputs(batch).items() if k != "labels"}).logits
        window = forward_targets(model, batch, cfg, torch.device("cpu"))
    assert window.logits.shape[1] < full.shape[1]  # the prompt's logits were not computed
    assert window.labels.shape == window.segment_ids.shape == window.logits.shape[:2]
    s_full, n_full = sft_loss(full, batch["labels"])
    s_win, n_win = sft_loss(window.logits, window.labels)
    assert n_win == n_full > 0
    assert s_win.item() == pytest.approx(s_full.item(), rel=1e-5)
    torch.testing.assert_close(
        sequence_logps(*window), sequence_logps(full, batch["labels"], batch["segment_ids"]), rtol=1e-5, atol=1e-4
    )
