"""`accelerate launch` of evlm-train with two processes (DDP over gloo, on CPU), against one process
on the same global batch: the same losses and gradient norms, one writer of logs, checkpoints and
model, and a checkpoint a single process resumes exactly.

It launches with the shipped configs/accelerate/ddp.yaml (MULTI_GPU: the torchrun launcher) and
the training config's `device = "cpu"`, which makes the processes use gloo (training/dist.py); on
CPU `accelerate launch --cpu --num_processes 2` would start one process (accelerate sends several
CPU processes through mpirun).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_training import _cfg, checkpoint, data  # noqa: F401  (module fixtures)
from training.train import config_from_dict, read_log

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(config: Path, processes: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "configs/accelerate/ddp.yaml"),
           "--num_processes", str(processes), "--main_process_port", str(_free_port()),
           "-m", "training.cli", "sft", "--config", str(config)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _steps(out: Path) -> dict[int, dict]:
    return {r["step"]: r for r in read_log(out / "log.jsonl") if "loss" in r}


@pytest.mark.slow  # ~20 s: two processes start torch and the tiny model
def test_two_process_ddp_matches_one_process(checkpoint, data, tmp_path):  # noqa: F811
    from transformers import AutoModelForImageTextToText

    from training.sft import train_sft

    # Global batch 4 per step: 2 processes x batch 2, or 1 process x batch 2 x accumulation 2.
    kw = dict(steps=2, batch_size=2, save_every=1, eval_split="val", eval_every=0)
    two = _cfg(checkpoint, data, tmp_path / "two", **kw, grad_accum=1)
    (tmp_path / "two.json").write_text(json.dumps(two))
    run = _launch(tmp_path / "two.json", 2)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("model written to") == 1  # the main process alone reports

    one = _cfg(checkpoint, data, tmp_path / "one", **kw, grad_accum=2)
    train_sft(config_from_dict(one), echo=False)

    rows = read_log(tmp_path / "two/log.jsonl")
    assert [r.get("processes") for r in rows if r.get("event") == "start"] == [2]  # one writer, one start line
    a, b = _steps(tmp_path / "one"), _steps(tmp_path / "two")
    assert list(a) == list(b) == [1, 2]
    assert b[1]["tokens"] == a[1]["tokens"]  # the token count is the step's, over both processes
    assert b[1]["loss"] == pytest.approx(a[1]["loss"], rel=1e-6)  # same weights, same examples
    for step in (1, 2):  # the all-reduced gradient, then the update, match one process's
        assert b[step]["grad_norm"] == pytest.approx(a[step]["grad_norm"], rel=1e-4)
    assert b[2]["loss"] == pytest.approx(a[2]["loss"], rel=1e-5)
    ev_a = [r["eval_loss"] for r in read_log(tmp_path / "one/log.jsonl") if "eval_loss" in r]
    ev_b = [r["eval_loss"] for r in rows if "eval_loss" in r]
    assert len(ev_b) == 1 and ev_b[0] == pytest.approx(ev_a[0], rel=1e-5)  # eval split over processes, reduced

    # Checkpoints: written once, with process 1's RNG state next to the main one's.
    ckpts = sorted(p.name for p in (tmp_path / "two/checkpoints").iterdir())
    assert ckpts == ["step-000001", "step-000002"]
    assert (tmp_path / "two/checkpoints/step-000002/rng-1.pt").is_file()
    wa = torch.load(tmp_path / "one/checkpoints/step-000002/trainable.pt")
    wb = torch.load(tmp_path / "two/checkpoints/step-000002/trainable.pt")
    assert wa.keys() == wb.keys() and not any(k.startswith("module.") for k in wb)  # unwrapped names
    assert all(torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6) for k in wa)

    # The exported model is a plain HF folder with the trained weights.
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "two/model", local_files_only=True)
    params = dict(model.named_parameters())
    assert all(torch.allclose(params[k], wb[k], rtol=1e-4, atol=1e-6) for k in wb)

    # A single process resumes the 2-process checkpoint of step 1 and takes step 2 like both runs.
    shutil.copytree(tmp_path / "two/checkpoints/step-000001", tmp_path / "resumed/checkpoints/step-000001")
    train_sft(config_from_dict(_cfg(checkpoint, data, tmp_path / "resumed", **kw, grad_accum=2)), echo=False)
    c = _steps(tmp_path / "resumed")
    assert list(c) == [2] and c[2]["loss"] == pytest.approx(a[2]["loss"], rel=1e-5)
