"""The one GPU call's script (scripts/device/train_small.sh), run here end to end on a CPU with
tiny budgets, so that the lent GPU's single run cannot fail on a typo; and its helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The GPU run trains evlm_tiny.GPU_SIZES side by side, each size in its own thread; one size here keeps
# this test to a minute or two on a 2-core CI machine (the same code path; two sizes ran here too).
SIZES = ("tiny",)
sys.path.insert(0, str(ROOT / "scripts" / "device"))

import check_wheels  # noqa: E402
import train_small  # noqa: E402


@pytest.fixture(scope="module")
def device_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("device")
    out, work = tmp / "out", tmp / "work"
    env = {**os.environ, "OUT": str(out), "EVLM_PYTHON": sys.executable, "PYOPENGL_PLATFORM": "osmesa",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    cmd = ["bash", "scripts/device/train_small.sh", "--plan", "cpu-test", "--work", str(work), "--budget-s", "3000",
           *(a for size in SIZES for a in ("--size", size))]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    return out, work, done


@pytest.mark.slow
def test_train_small_runs_every_phase_and_packs_what_comes_back(device_run) -> None:
    out, work, done = device_run
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = json.loads((work / "logs" / "summary.json").read_text())
    assert summary["sizes"] == list(SIZES)
    phases = ["synth", "subset"] + [
        f"{s}:{p}" for s in SIZES for p in ("init", "sft", "rkto", "export", "eval", "card")
    ]
    assert sorted(summary["phases"]) == sorted(phases) and all(v["ok"] for v in summary["phases"].values()), summary
    # What comes back: each size's weight files, run.tgz and run.log, within the device tool's limits.
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.relative_to(out).parts[0] for p in files} == {*SIZES, "run.tgz", "run.log"}
    assert {p.suffix for p in files} == {".safetensors", ".tgz", ".log"}
    assert train_small.check_outputs(out, files) == []
    assert all(p.stat().st_size <= 15 * 10**6 for p in files if p.suffix == ".safetensors")
    with tarfile.open(out / "run.tgz") as tar:
        names = set(tar.getnames())
    for size in SIZES:
        for name in ("model/config.json", "model/tokenizer.json", "model/README.md", "model/loss.png",
                     "eval/metrics.json", "sft/log.jsonl", "sft/loss.png", "rkto/log.jsonl", "sft.json", "rkto.json"):  # fmt: skip
            assert f"{size}/{name}" in names, f"{size}/{name}"
        assert f"logs/{size}-sft.log" in names
    for name in ("eval_data/test.jsonl", "logs/summary.json", "data/meta.json"):
        assert name in names, name
    assert any(n.startswith("eval_data/images/") and n.endswith(".png") for n in names)  # evaluable back here
    log = (out / "run.log").read_text()
    assert all(f"== {size}:sft: done" in log for size in SIZES) and "== packed" in log


@pytest.mark.slow
def test_train_small_trains_on_time_in_bf16_shards(device_run) -> None:
    """The trainers stopped on their time budget (not a step count), the weights are bf16 and the
    architecture asked for, and the card tells this run's recipe."""
    import torch
    from safetensors.torch import load_file

    from training.evlm_tiny import SIZES as ARCHS

    out, work, done = device_run
    assert done.returncode == 0
    for size in SIZES:
        for stage in ("sft", "rkto"):
            cfg = json.loads((work / size / f"{stage}.json").read_text())
            rows = [json.loads(line) for line in (work / size / stage / "log.jsonl").read_text().splitlines()]
            steps = [r for r in rows if "loss" in r]
            assert steps[-1]["step"] < cfg["steps"] and steps[-1]["elapsed_s"] >= cfg["time_budget_s"], (size, stage)
        weights = {}
        for f in (out / size).glob("*.safetensors"):
            weights |= load_file(f)
        assert weights and {t.dtype for t in weights.values()} == {torch.bfloat16}
        config = json.loads((work / size / "model" / "config.json").read_text())
        assert config["text_config"]["hidden_size"] == ARCHS[size]["hidden_size"]
        card = (work / size / "model" / "README.md").read_text()
        assert f"scripts/device/train_small.sh --size {size}`" in card


@pytest.mark.slow
def test_ship_installs_the_chosen_size_and_it_answers_here(device_run, tmp_path: Path) -> None:
    """scripts/device/ship.sh on what the run brought back: the chosen size assembled (weights,
    tokenizer, card), answering the sample scene through the engine, installed at DEST; a size
    the run did not train is refused (exit 2) before anything is written."""
    out, _, done = device_run
    assert done.returncode == 0
    dest = tmp_path / "models" / "evlm-tiny"
    env = {**os.environ, "EVLM_SHIP_WORK": str(tmp_path / "unpacked"), "EVLM_SHIP_BENCH": "0", "EVLM_SHIP_BLENDER": "0"}
    ship = ["bash", "scripts/device/ship.sh", str(out)]
    r = subprocess.run([*ship, SIZES[0], str(dest)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "answered:" in r.stdout
    assert list(dest.glob("*.safetensors")) and (dest / "tokenizer.json").is_file() and (dest / "README.md").is_file()
    assert json.loads((dest / "config.json").read_text())["text_config"]["hidden_size"] == 192  # tiny
    r = subprocess.run([*ship, "large", str(tmp_path / "x")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "no weight files" in r.stderr and not (tmp_path / "x").exists()


def _wheel(folder: Path, name: str, version: str, tag: str, requires: list[str]) -> None:
    path = folder / f"{name}-{version}-{tag}.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}-{version}.dist-info/METADATA", meta)


def test_check_wheels_finds_a_missing_need_a_second_version_and_a_wrong_platform(tmp_path: Path) -> None:
    _wheel(tmp_path, "xgrammar", "0.2.9", "cp312-cp312-manylinux_2_28_x86_64",
           ["numpy", "apache-tvm-ffi>=0.1", "mlx; platform_system == 'Darwin'", "pytest; extra == 'test'"])  # fmt: skip
    _wheel(tmp_path, "pydantic", "2.14.4", "py3-none-any", ["typing-extensions>=4"])
    device = {"numpy", "typing-extensions"}
    assert check_wheels.problems(tmp_path, device) == [
        "xgrammar needs apache-tvm-ffi>=0.1: neither carried nor on the device image"
    ]
    _wheel(tmp_path, "apache_tvm_ffi", "0.1.15", "cp312-cp312-manylinux_2_28_x86_64", [])
    assert check_wheels.problems(tmp_path, device) == []
    _wheel(tmp_path, "pydantic", "2.13.0", "py3-none-any", [])
    _wheel(tmp_path, "pyzmq", "27.3.0", "cp311-cp311-manylinux_2_28_x86_64", [])
    found = check_wheels.problems(tmp_path, device)
    assert any("pydantic: two versions" in p for p in found) and any("not for CPython 3.12" in p for p in found)


def test_check_outputs_names_what_would_not_come_back(tmp_path: Path) -> None:
    files = []
    for i in range(9):
        files.append(tmp_path / f"f{i}.bin")
        files[-1].write_bytes(b"x")
    deep = tmp_path / "a" / "b" / "c" / "weird name.bin"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"x")
    found = train_small.check_outputs(tmp_path, files + [deep])
    assert any("10 files" in p for p in found) and any("too deep or a name" in p for p in found)
    assert train_small.check_outputs(tmp_path, files[:8]) == []


def test_synth_falls_back_to_the_carried_data_when_rendering_fails(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """No renderer there (a GL platform that does not exist stands in for a broken EGL): the
    carried pre-rendered data is unpacked instead, and the log says so."""
    sample = ROOT / "examples" / "sample_dataset"
    carried = tmp_path / "data.tgz"
    with tarfile.open(carried, "w:gz") as tar:
        tar.add(sample, arcname=".")
    monkeypatch.setattr(train_small, "FALLBACK_DATA", carried)
    monkeypatch.setenv("PYOPENGL_PLATFORM", "no-such-platform")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    run = train_small.Run(out, work, 600)
    data = train_small.synth(run, train_small.PLANS["cpu-test"], work / "data", 1, 300)
    assert data == work / "data" and (data / "train.jsonl").read_bytes() == (sample / "train.jsonl").read_bytes()
    assert "unpacking the carried data" in (out / "run.log").read_text()
    monkeypatch.setattr(train_small, "FALLBACK_DATA", tmp_path / "absent.tgz")
    assert train_small.synth(run, train_small.PLANS["cpu-test"], work / "data2", 1, 300) is None
