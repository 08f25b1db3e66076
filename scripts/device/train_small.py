"""One lent GPU call that trains the built-in model: synth -> init -> SFT -> RKTO -> export -> eval -> pack.

Run by scripts/device/train_small.sh (which first sets up the carried wheels and GL packages).
Every phase has a wall-clock budget inside one deadline for the whole call, logs its start, end
and outcome with timestamps to OUT/run.log, and the run goes on past a failed phase wherever
that makes sense: a failed RKTO ships the SFT model, a failed eval still brings the weights back
(evaluate them back here), a failed EGL render falls back to the carried pre-rendered data.
The trainers stop on time (`time_budget_s`), not on a step count.

What comes back (at most 8 files of at most 16 MiB, two folders down, plain names): the
exported model's weight files (bf16 safetensors, shards of at most 15 MB) and `run.tgz`
(the model's other files and card, logs, loss curves, eval reports), beside `run.log`.

    python3 scripts/device/train_small.py --out $OUT [--plan gpu|cpu-test] [--size NAME] [--budget-s 530]

`--plan cpu-test` is the same path with tiny budgets, a few scenes and OSMesa, for the CI test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from training.evlm_tiny import GPU_SIZES, SIZES  # noqa: E402  (no torch: this process stays light)

FALLBACK_DATA = ROOT / ".synth" / "data.tgz"  # made here by scripts/device/prepare.sh
PREVIOUS_MODEL = ROOT / "evlm_server" / "models" / "evlm-tiny"
MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES = 8, 16 * 2**20, 64 * 2**20
NAME_OK = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Plan:
    """Seconds per phase (wall time, loading included) and the sizes of the work."""

    synth_s: float
    init_s: float
    sft_s: float
    rkto_s: float
    eval_s: float
    baseline_eval_s: float  # the previous built-in model on the same records, if time is left
    synth_max: int  # examples at most (the rate probe sizes the run to its budget)
    synth_probe: int
    batch: int
    lr: float
    warmup: int
    rkto_groups: int
    rkto_batch: int
    eval_limit: int
    eval_batch: int
    max_reasoning_tokens: int
    max_answer_tokens: int
    overhead_s: float  # a training phase's seconds outside its loop (imports, data, model, pre-encoding, export)
    short_s: float  # the small phases' (subset, export, card)


# fmt: off
PLANS = {
    # One H200 call of at most 9 minutes: 510 s for the phases (--budget-s), the set-up (wheels, GL
    # packages) before them; a phase that ends early leaves its time to the later ones, and each
    # is cut short where the later phases' reserves would not fit. Batch: the H200's memory holds
    # over a thousand of these small examples; what bounds it is the updates a few minutes give (README).
    "gpu": Plan(synth_s=80, init_s=20, sft_s=220, rkto_s=50, eval_s=70, baseline_eval_s=40, synth_max=40_000,
                synth_probe=160, batch=64, lr=3e-3, warmup=100, rkto_groups=512, rkto_batch=32, eval_limit=100,
                eval_batch=50, max_reasoning_tokens=384, max_answer_tokens=768, overhead_s=45, short_s=30),
    # The same path on a CPU: a few scenes, 5 s of each training loop (tests/test_device_run.py); the
    # phases' budgets are generous only so that a busy machine does not time them out.
    "cpu-test": Plan(synth_s=600, init_s=600, sft_s=600, rkto_s=600, eval_s=600, baseline_eval_s=0, synth_max=8,
                     synth_probe=0, batch=2, lr=1e-3, warmup=0, rkto_groups=2, rkto_batch=2, eval_limit=1,
                     eval_batch=2, max_reasoning_tokens=8, max_answer_tokens=200, overhead_s=595, short_s=600),
}
# fmt: on


class Run:
    """The deadline and the log (OUT/run.log, also echoed)."""

    def __init__(self, out: Path, work: Path, budget_s: float) -> None:
        self.out, self.work, self.t0, self.deadline = out, work, time.monotonic(), time.monotonic() + budget_s
        self.log_path = out / "run.log"
        self.phases: dict[str, dict] = {}
        self.models: dict[str, Path] = {}  # size -> exported model folder
        self.lock = threading.RLock()  # the sizes' pipelines run in threads

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} +{time.monotonic() - self.t0:6.1f}s {message}"
        with self.lock:
            print(line, flush=True)
            with self.log_path.open("a") as f:
                f.write(line + "\n")

    def phase(self, name: str, planned_s: float, reserve_s: float, fn) -> object:
        """Run `fn(budget_s)` with the planned seconds, or fewer if the later phases' `reserve_s`
        would not fit; log it; a failure is logged and returns None."""
        budget = max(0.0, min(planned_s, self.left() - reserve_s))
        self.log(f"== {name}: start (budget {budget:.0f} s, {self.left():.0f} s left in the call)")
        t = time.monotonic()
        try:
            result = fn(budget) if budget > 0 else None
            ok = result is not None
            why = "no time left" if budget <= 0 else "(see the lines above)"
        except Exception as e:  # a phase's failure is logged; the run decides what follows
            result, ok, why = None, False, f"{type(e).__name__}: {e}"
        took = time.monotonic() - t
        self.phases[name] = {"ok": ok, "seconds": round(took, 1), "budget_s": round(budget)}
        self.log(f"== {name}: {'done' if ok else 'FAILED ' + why} in {took:.1f} s")
        return result

    def sh(self, name: str, cmd: list[str], timeout_s: float, env: dict | None = None) -> bool:
        """A subprocess with its output in WORK/logs/NAME.log; False on failure or timeout."""
        logs = self.work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log(f"$ {' '.join(cmd)}")
        with (logs / f"{name}.log").open("a") as f:
            try:
                rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=max(timeout_s, 1),
                                    env={**os.environ, **(env or {})}).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                self.log(f"{name}: timed out after {timeout_s:.0f} s")
                return False
        if rc:
            tail = (logs / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
            self.log(f"{name}: exit status {rc}; last lines:\n    " + "\n    ".join(tail))
        return rc == 0


def py(*args: str) -> list[str]:
    return [sys.executable, *args]


# ---------------------------------------------------------------- phases
def synth(run: Run, plan: Plan, data: Path, workers: int, budget: float) -> Path | None:
    """evlm-synth on every core, sized by a rate probe to its budget; else the carried data."""
    probe = run.work / "probe"
    args = ["--seed", "1", "--workers", str(workers), "--views", "3", "--size", "64", "--frames", "3", "--quiet",
            "--overwrite"]  # fmt: skip
    n, t = plan.synth_max, time.monotonic()
    if plan.synth_probe:  # the rate on this machine sizes the run to its budget
        cmd = py("-m", "training.synth.cli", "--n", str(plan.synth_probe), "--out", str(probe), *args)
        if run.sh("synth_probe", cmd, budget / 3):
            rate = plan.synth_probe / (time.monotonic() - t)  # start-up included: a safe underestimate
            n = max(plan.synth_probe, min(plan.synth_max, int(rate * (budget - (time.monotonic() - t)) * 0.8)))
            run.log(f"synth: {rate:.1f} examples/s in the probe: {n} examples")
        else:
            n = 0
        shutil.rmtree(probe, ignore_errors=True)
    left = budget - (time.monotonic() - t)
    if n and run.sh("synth", py("-m", "training.synth.cli", "--n", str(n), "--out", str(data), *args), left):
        return data
    if FALLBACK_DATA.is_file():
        run.log(f"synth: rendering failed here; unpacking the carried data {FALLBACK_DATA}")
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        with tarfile.open(FALLBACK_DATA) as tar:
            tar.extractall(data, filter="data")
        return data
    return None


def data_view(src: Path, dst: Path, limits: dict[str, int | None], copy_images: bool = False) -> Path:
    """A dataset folder `dst` with only the `correct` records of some splits (the first `limit` of
    each, None: all; what SFT and evlm-eval read), so no process parses records it would drop.
    Images are linked, or copied (`copy_images`: a folder to bring back and evaluate here)."""
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "images").mkdir(parents=True)
    for split, limit in limits.items():
        if not (src / f"{split}.jsonl").is_file():
            continue  # a split the generator made no examples for (a tiny run)
        kept = []
        for line in (src / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("variant") == "correct" and (limit is None or len(kept) < limit):
                kept.append(line)
                for image in [v["image"] for v in row["views"]] + [row.get("reference")] * bool(row.get("reference")):
                    if copy_images:
                        (dst / image).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src / image, dst / image)
        (dst / f"{split}.jsonl").write_text("".join(line + "\n" for line in kept))
    if not copy_images:
        (dst / "images").rmdir()
        (dst / "images").symlink_to((src / "images").resolve())
    return dst


def train_config(run: Run, name: str, cfg: dict) -> Path:
    path = run.work / f"{name}.json"
    path.write_text(json.dumps(cfg, indent=1))
    return path


def train(run: Run, size: str, mode: str, cfg: dict, budget: float, plan: Plan) -> Path | None:
    """evlm-train with time_budget_s = the phase's budget less the start-up and export; a CUDA
    out-of-memory error retries once with half the batch."""
    for attempt in range(2):
        cfg = cfg | {"time_budget_s": max(1.0, budget - plan.overhead_s)}
        shutil.rmtree(cfg["out"], ignore_errors=True)
        path = train_config(run, f"{size}/{mode}", cfg)
        t = time.monotonic()
        # a trainer stops itself on time; the timeout is for a hang, and never runs past the call's end
        timeout = min(budget + 30, max(budget, run.left() + 20))
        if run.sh(f"{size}-{mode}", py("-m", "training.cli", mode, "--config", str(path), "--quiet"), timeout):
            return Path(cfg["out"]) / "model"
        text = (run.work / "logs" / f"{size}-{mode}.log").read_text(errors="replace")
        if attempt or "out of memory" not in text.lower() or cfg["batch_size"] < 2:
            return None
        budget -= time.monotonic() - t
        cfg["batch_size"] //= 2
        run.log(f"{size} {mode}: out of memory; again with batch {cfg['batch_size']}")
    return None


def evaluate(
    run: Run, plan: Plan, name: str, model: Path, data: Path, out: Path, budget: float, device: str
) -> Path | None:
    """evlm-eval on the test and gen splits: the plain transformers engine first (the simpler
    path), then the fast engine if that fails and time is left."""
    start = time.monotonic()
    for engine in ("hf", "auto"):
        left = budget - (time.monotonic() - start)
        args = ["--model", str(model), "--data", str(data), "--splits", "test,gen", "--limit", str(plan.eval_limit),
                "--batch", str(plan.eval_batch), "--device", device, "--engine", engine, "--max-reasoning-tokens",
                str(plan.max_reasoning_tokens), "--max-answer-tokens", str(plan.max_answer_tokens), "--out", str(out),
                "--no-progress"]  # fmt: skip
        if left > 10 and run.sh(name, py("-m", "training.eval.cli", *args), left):
            return out
        if device == "cpu":
            break  # the fast engine is the hf one on a CPU
    return None


def hardware() -> str:
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        gpu = ""
    cores = f"{os.cpu_count()} CPU cores"
    return f"{gpu} GPU, {cores}" if gpu else cores


# ---------------------------------------------------------------- pack
def pack(run: Run, models: dict[str, Path], keep: list[Path]) -> list[Path]:
    """OUT/SIZE/<weight files> of every model exported so far, OUT/run.tgz (the models' other files
    as SIZE/model/, and `keep`) and OUT/run.log; logs what would not come back."""
    with run.lock:
        run.models.update(models)
        files: list[Path] = []
        small = []
        for size, model in sorted(run.models.items()):
            (run.out / size).mkdir(exist_ok=True)
            for f in sorted(model.iterdir()):
                if f.suffix == ".safetensors":
                    files.append(shutil.copy2(f, run.out / size / f.name))
                else:
                    small.append((f, f"{size}/model/{f.name}"))
        tgz, tmp = run.out / "run.tgz", run.work / "run.tgz.tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            for f, name in small:
                tar.add(f, arcname=name)
            for p in keep:
                if p.exists():
                    tar.add(p, arcname=p.relative_to(run.work).as_posix())
        shutil.move(tmp, tgz)  # never a half-written run.tgz in OUT
        files.append(tgz)
        for problem in check_outputs(run.out, files + [run.log_path]):
            run.log(f"pack: {problem}")
        return files


def check_outputs(out: Path, files: list[Path]) -> list[str]:
    """What would not come back from OUT: too many files, too large, bad names, too deep."""
    problems = []
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files, at most {MAX_FILES} come back")
    total = 0
    for f in files:
        size = f.stat().st_size
        total += size
        rel = f.relative_to(out)
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel}: {size} bytes, over {MAX_FILE_BYTES}")
        if len(rel.parts) > 3 or not all(NAME_OK.match(p) for p in rel.parts):
            problems.append(f"{rel}: too deep or a name outside [A-Za-z0-9._-]")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total} bytes in all, over {MAX_TOTAL_BYTES}")
    return problems


# ---------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=os.environ.get("OUT"), help="output folder (default $OUT)")
    p.add_argument("--plan", choices=list(PLANS), default="gpu")
    p.add_argument("--work", type=Path, default=Path("/tmp/evlm_device_work"),
                   help="work folder (data, checkpoints; emptied first): outside OUT, whose files all come back")  # fmt: skip
    p.add_argument("--size", action="append", choices=list(SIZES), dest="sizes",
                   help=f"an architecture to train (repeatable: they train side by side; default {', '.join(GPU_SIZES)})")  # fmt: skip
    p.add_argument("--budget-s", type=float, default=510.0, help="wall seconds for every phase (default 510)")
    p.add_argument("--compile", action="store_true", help="torch.compile the SFT model (measure first)")
    args = p.parse_args(argv)
    if args.out is None:
        p.error("--out or $OUT is required")
    if args.budget_s <= 0:
        p.error(f"--budget-s must be positive, got {args.budget_s}")
    sizes = list(dict.fromkeys(args.sizes or GPU_SIZES))
    plan = PLANS[args.plan]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)  # a fresh run: the trainers would resume from old checkpoints
    work.mkdir(parents=True)
    run = Run(out, work, args.budget_s)
    device = "cpu" if args.plan == "cpu-test" else "auto"
    workers = os.cpu_count() or 1
    run.log(f"plan {args.plan}, sizes {', '.join(sizes)}, {workers} CPU cores, budget {args.budget_s:.0f} s; "
            f"python {sys.version.split()[0]}; {hardware()}")  # fmt: skip

    # Reserves: what the later phases need at the least, so an early phase cannot starve them.
    data = run.phase("synth", plan.synth_s, plan.init_s + plan.sft_s / 2 + 20,
                     lambda b: synth(run, plan, work / "data", workers, b))  # fmt: skip
    keep = [work / "logs", work / "data" / "meta.json"]
    if data is None:
        run.log("no data: nothing to train")
        return finish(run, args, sizes, {}, keep)
    shared = Shared(data, data_view(data, work / "sft_data", {"train": None, "val": 64}),
                    data_view(data, work / "eval_data", {"test": plan.eval_limit, "gen": plan.eval_limit}, True),
                    run.phase("subset", plan.short_s, plan.init_s + plan.sft_s / 2,
                              lambda b: _subset(run, data, work / "align_data", plan.rkto_groups, b)))  # fmt: skip
    keep.append(shared.eval_data)
    # The sizes train side by side (a small model leaves most of an H200 idle), each on its share of
    # the cores for its data; the previous model's eval runs beside them, off the critical path.
    threads = [threading.Thread(target=lambda: baseline_eval(run, plan, shared, device), daemon=True)]
    models: dict[str, Path | None] = {}
    for size in sizes:

        def one(size=size):
            models[size] = pipeline(run, plan, args, size, shared, device, max(1, workers // len(sizes)), keep)

        threads.append(threading.Thread(target=one, daemon=True))
    for t in threads[1:] if not plan.baseline_eval_s else threads:
        t.start()
    for t in threads[1:]:
        t.join()
    if plan.baseline_eval_s:
        threads[0].join(timeout=max(0.0, run.left()))
    if (work / "eval_before" / "metrics.json").is_file():
        keep.append(work / "eval_before")
    return finish(run, args, sizes, models, keep)


@dataclass(frozen=True)
class Shared:
    """What every size's pipeline reads: the data, its SFT and eval views, the alignment subset."""

    data: Path
    sft_data: Path
    eval_data: Path
    align_data: Path | None


def pipeline(
    run: Run, plan: Plan, args, size: str, shared: Shared, device: str, workers: int, keep: list
) -> Path | None:
    """One size: init -> SFT -> RKTO -> export (into OUT at once) -> eval -> card. Returns the model."""
    w = run.work / size
    w.mkdir()
    keep += [w / "sft" / "log.jsonl", w / "sft" / "loss.png", w / "rkto" / "log.jsonl", w / "rkto" / "loss.png",
             w / "sft.json", w / "rkto.json", w / "eval"]  # fmt: skip
    init = run.phase(f"{size}:init", plan.init_s, plan.sft_s / 2 + 20,
                     lambda b: _init(run, shared.data, w / "init", size, b))  # fmt: skip
    if init is None:
        return None
    sft_cfg = dict(model=str(init), data=str(shared.sft_data), out=str(w / "sft"), device=device, steps=10**7,
                   batch_size=plan.batch, lr=plan.lr, weight_decay=0.01, schedule="cosine", warmup_steps=plan.warmup,
                   freeze_vision=False, eval_split="val", eval_every=0, eval_limit=64, save_every=1000,
                   log_every=10, data_workers=workers, compile=args.compile)  # fmt: skip
    sft = run.phase(f"{size}:sft", plan.sft_s, plan.eval_s + 15, lambda b: train(run, size, "sft", sft_cfg, b, plan))
    final = sft
    if sft is not None and shared.align_data is not None:
        rkto_cfg = dict(model=str(sft), data=str(shared.align_data), out=str(w / "rkto"), device=device, steps=10**7,
                        batch_size=plan.rkto_batch, lr=5e-5, schedule="cosine", beta=0.1, freeze_vision=False,
                        eval_split="val", eval_every=0, eval_limit=32, save_every=1000, log_every=5,
                        data_workers=workers)  # fmt: skip
        final = run.phase(f"{size}:rkto", plan.rkto_s, plan.eval_s,
                          lambda b: train(run, size, "rkto", rkto_cfg, b, plan)) or sft  # fmt: skip
    if final is None:
        return None
    model = run.phase(f"{size}:export", plan.short_s, plan.eval_s / 2,
                      lambda b: _export(run, f"{size}-export", final, w / "model", b))  # fmt: skip
    if model is None:
        return None
    pack(run, {size: model}, keep)  # the weights are in OUT now, should a later phase outlast the call
    ev = run.phase(f"{size}:eval", plan.eval_s, 5,
                   lambda b: evaluate(run, plan, f"{size}-eval", model, shared.eval_data, w / "eval", b, device))  # fmt: skip
    if ev is not None:
        run.phase(f"{size}:card", plan.short_s, 0, lambda b: card(run, size, model, final != sft, plan, b))
    return model


def baseline_eval(run: Run, plan: Plan, shared: Shared, device: str) -> None:
    """The previous built-in model on the same eval records, for the cards' comparison."""
    if PREVIOUS_MODEL.is_dir():
        run.phase("baseline_eval", plan.baseline_eval_s, 0,
                  lambda b: evaluate(run, plan, "baseline-eval", PREVIOUS_MODEL, shared.eval_data,
                                     run.work / "eval_before", b, device))  # fmt: skip


def finish(run: Run, args, sizes: list[str], models: dict[str, Path | None], keep: list) -> int:
    summary = {"plan": args.plan, "sizes": sizes, "phases": run.phases, "seconds": round(time.monotonic() - run.t0),
               "models": {k: str(v) if v else None for k, v in models.items()}}  # fmt: skip
    (run.work / "logs").mkdir(exist_ok=True)
    (run.work / "logs" / "summary.json").write_text(json.dumps(summary, indent=1))
    files = pack(run, {k: v for k, v in models.items() if v is not None}, keep)
    run.log(f"== packed {', '.join(str(f.relative_to(run.out)) for f in files)}; {summary['seconds']} s in all")
    return 0 if models and all(models.values()) else 1


def card(run: Run, size: str, model: Path, aligned: bool, plan: Plan, budget: float) -> bool | None:
    """The model card (README.md in the model folder): this run's recipe, stages, evals, loss curve."""
    w = run.work / size
    minutes = {k.split(":")[-1]: v["seconds"] / 60 for k, v in run.phases.items() if k.startswith(f"{size}:")}
    runs = [f"--run=SFT={w / 'sft'}={minutes['sft']:.2f}"]
    if aligned:
        runs.append(f"--run=RKTO={w / 'rkto'}={minutes['rkto']:.2f}")
    before = run.work / "eval_before"
    before_args = ["--before", str(before)] if (before / "metrics.json").is_file() else []
    shutil.copy2(w / "sft" / "loss.png", model / "loss.png")
    meta_path = run.work / "data" / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    n = sum(meta.get("counts", {}).get("examples", {}).values())
    sft_cfg = json.loads((w / "sft.json").read_text())
    recipe = w / "recipe.md"
    recipe.write_text(
        f"`bash scripts/device/train_small.sh --size {size}` on one lent GPU, in one call "
        f"(scripts/device/train_small.py; every phase on a wall-clock budget): `evlm-synth` ({n:,} procedural "
        f"scenes, 3 views of 64 px, 3 frames, seed 1, on {os.cpu_count()} cores) -> `python -m training.evlm_tiny "
        f"init --size {size}` (tokenizer + untrained weights) -> `evlm-train sft` (batch {sft_cfg['batch_size']}, "
        f"lr {sft_cfg['lr']} cosine over a time budget of {sft_cfg['time_budget_s']:.0f} s, warmup "
        f"{sft_cfg['warmup_steps']} steps, bf16 autocast{', torch.compile' if sft_cfg.get('compile') else ''})"
        + (f" -> `evlm-train rkto` on {plan.rkto_groups} groups x 4 graded variants (time budget)" if aligned else "")
        + " -> `python -m training.evlm_tiny export` (bf16) -> `evlm-eval`. The run's log, configs and "
        f"summary come back with the model (`run.tgz`: `logs/`, `{size}/sft.json`, `{size}/rkto.json`).\n"
    )
    cmd = py("-m", "training.evlm_tiny", "card", str(model), "--eval", str(w / "eval"), *runs, *before_args,
             "--recipe", str(recipe), "--hardware", hardware())  # fmt: skip
    return run.sh(f"{size}-card", cmd, budget) or None


def _init(run: Run, data: Path, out: Path, size: str, budget: float) -> Path | None:
    shutil.rmtree(out, ignore_errors=True)
    cmd = py("-m", "training.evlm_tiny", "init", str(data), str(out), "--size", size)
    return out if run.sh(f"{size}-init", cmd, budget) else None


def _subset(run: Run, data: Path, out: Path, groups: int, budget: float) -> Path | None:
    shutil.rmtree(out, ignore_errors=True)
    cmd = py("-m", "training.evlm_tiny", "subset", str(data), str(out), "--groups", str(groups))
    return out if run.sh("subset", cmd, budget) else None


def _export(run: Run, name: str, model: Path, out: Path, budget: float) -> Path | None:
    return out if run.sh(name, py("-m", "training.evlm_tiny", "export", str(model), str(out)), budget) else None


if __name__ == "__main__":
    raise SystemExit(main())
