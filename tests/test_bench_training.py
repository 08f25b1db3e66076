"""scripts/bench_training.py trl: both sides of the comparison get the same token ids. TRL's own
collator, on the rows the bench feeds it, builds the same sequences (matched and mismatched),
completion masks and labels as the project's collator does for the RKTO step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tests.test_training import checkpoint, data  # noqa: F401  (module fixtures)

pytest.importorskip("trl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_training  # noqa: E402


def test_trl_rows_give_trl_the_same_tokens_as_ours(checkpoint, data):  # noqa: F811
    from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference

    from evlm_server.engine.hf import load_processor
    from training import rkto
    from training.data.loader import load_dataset_dir
    from training.sft import select_examples

    ds = load_dataset_dir(data, ["train"])
    align = rkto.prepare(bench_training.text_only(select_examples(ds, "train", None)), ds.pairs, "rkto", 0)
    collate = rkto.PairCollator(load_processor(checkpoint))
    idx = [0, 3, 5, 6]
    ours, ours_kl = collate([align.examples[i] for i in idx]), collate(rkto.kl_items(align, idx))
    assert "pixel_values" not in ours  # images dropped: a text-only prompt
    theirs = DataCollatorForUnpairedPreference(pad_token_id=collate.pad_id)(
        bench_training.trl_rows(collate, align, idx)
    )
    for prefix, mine in (("", ours), ("KL_", ours_kl)):
        assert torch.equal(theirs[f"{prefix}input_ids"], mine["input_ids"])
        assert torch.equal(theirs[f"{prefix}attention_mask"], mine["attention_mask"])
        assert torch.equal(theirs[f"{prefix}completion_mask"].bool(), mine["segment_ids"] > 0)
    assert not torch.equal(ours["input_ids"], ours_kl["input_ids"])  # the KL rows hold other completions
    good = [align.examples[i].record.variant == "correct" for i in idx]  # scores (1, 1) vs (0.2, 0)
    assert theirs["label"].tolist() == good and any(good) and not all(good)
