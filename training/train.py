"""Pieces shared by the training loops (sft.py, rkto.py): the config, model loading (full or
LoRA), data order, optimizer and schedule, checkpoints with exact resume, logs and export.

Exact resume: the data order is a pure function of (seed, sample position), so a step's
batch depends on nothing but the step number; a checkpoint holds the trainable weights, the
optimizer and scheduler states and every RNG state (python, numpy, torch, cuda), so resuming
from step N runs step N + 1 exactly as the uninterrupted run would.

Checkpoints: `OUT/checkpoints/step-NNNNNN/{trainable.pt, optimizer.pt, state.pt}` (the frozen
weights are the base checkpoint's, not copied; a run of several processes adds `rng-R.pt`, the RNG
state of process R > 0; dist.py has how several processes share the loop). The final model: `OUT/model/`, a plain Hugging
Face folder (LoRA merged into the weights) with the base checkpoint's processor files, which
`evlm_server.engine.load_engine` loads.
"""

from __future__ import annotations

import json
import math
import pickle
import random
import shutil
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evlm_server.engine.prompt import read_prompt_format, write_prompt_format
from training.dist import Dist

MODES = ("sft", "rkto", "kto", "dpo")
SCHEDULES = ("constant", "linear", "cosine")
DEFAULT_LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


class ConfigError(ValueError):
    """A training config that cannot be used; the message names the key."""


@dataclass
class TrainConfig:
    """Every key of a training config file (JSON or TOML, flat). Paths are relative to the
    working directory. See configs/README.md."""

    model: str  # base checkpoint folder (for rkto/kto/dpo: the SFT model, which is also the reference)
    data: str  # dataset folder (train.jsonl, val.jsonl, pairs.jsonl, images)
    out: str  # output folder
    mode: str = "sft"  # sft | rkto | kto | dpo (the CLI's subcommand sets it)
    train_split: str = "train"
    eval_split: str | None = "val"  # None: no eval loss
    variants: list[str] | None = None  # record variants used; None: sft -> ["correct"], alignment -> all
    steps: int = 100  # optimizer steps (with time_budget_s: at most this many)
    time_budget_s: float | None = None  # stop on time: seconds of the training loop; the schedule follows it
    batch_size: int = 4  # examples (dpo: pairs) per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 1e-5
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    max_grad_norm: float = 1.0  # 0: no clipping
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the model's forward (pays only on a long enough run: measure)
    data_workers: int = 0  # >0: tokenize every example once before training (>1: in that many processes)
    lora: dict | None = None  # None: full fine-tuning; {} or {r, alpha, dropout, target_modules}: LoRA
    freeze_vision: bool = True  # keep the vision tower frozen (full fine-tuning)
    max_length: int | None = None  # longer examples are an error (never truncated)
    prompt_format: int | None = None  # None: the base model's (its evlm.json); a number moves the model to it
    eval_every: int = 50  # steps (0: only at the end)
    eval_limit: int | None = None  # at most N eval examples
    save_every: int = 50  # steps (0: only at the end)
    log_every: int = 1
    resume: bool = True  # continue from the latest checkpoint in OUT/checkpoints if any
    # alignment (rkto, kto, dpo)
    beta: float = 0.1
    lambda_d: float = 1.0
    lambda_u: float = 1.0
    extra: dict = field(default_factory=dict)  # free-form notes, copied into the logs

    def check(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule: {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        for name in ("steps", "batch_size", "grad_accum", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {v!r}")
        for name in ("eval_every", "save_every", "warmup_steps", "data_workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name}: must be a non-negative integer, got {v!r}")
        for name in ("lr", "beta"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name}: must be a positive number, got {v!r}")
        for name in ("weight_decay", "max_grad_norm", "lambda_d", "lambda_u"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (v >= 0 and math.isfinite(v)):
                raise ConfigError(f"{name}: must be a non-negative number, got {v!r}")
        t = self.time_budget_s
        if t is not None and (
            isinstance(t, bool) or not isinstance(t, (int, float)) or not (t > 0 and math.isfinite(t))
        ):
            raise ConfigError(f"time_budget_s: must be a positive number of seconds or null, got {t!r}")
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile: must be true or false, got {self.compile!r}")
        if self.lora is not None:
            if not isinstance(self.lora, dict):
                raise ConfigError(f"lora: must be a table/object or null, got {self.lora!r}")
            unknown = set(self.lora) - set(DEFAULT_LORA)
            if unknown:
                raise ConfigError(f"lora: unknown keys {sorted(unknown)} (known: {', '.join(DEFAULT_LORA)})")
        if self.variants is not None and (not isinstance(self.variants, list) or not self.variants):
            raise ConfigError(f"variants: must be a non-empty list or null, got {self.variants!r}")

    @property
    def used_variants(self) -> list[str] | None:
        if self.variants is not None:
            return self.variants
        return ["correct"] if self.mode == "sft" else None


def load_config(path: str | Path, mode: str | None = None, overrides: dict | None = None) -> TrainConfig:
    """A TrainConfig from a JSON or TOML file (by extension), `overrides` applied on top."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot parse: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a table/object at the top level")
    raw.update(overrides or {})
    if mode is not None:
        if raw.get("mode", mode) != mode:
            raise ConfigError(f"{path}: mode {raw['mode']!r} in the file, but the command is {mode!r}")
        raw["mode"] = mode
    return config_from_dict(raw, str(path))


def config_from_dict(raw: dict, where: str = "config") -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}")
    missing = [k for k in ("model", "data", "out") if k not in raw]
    if missing:
        raise ConfigError(f"{where}: missing required keys {missing}")
    cfg = TrainConfig(**raw)
    cfg.check()
    return cfg


# ---------------------------------------------------------------- device, model, data order
def data_splits(cfg: TrainConfig) -> list[str]:
    """The splits to load: the train split, and the eval split if set and its file exists."""
    splits = [cfg.train_split]
    if cfg.eval_split and cfg.eval_split != cfg.train_split and (Path(cfg.data) / f"{cfg.eval_split}.jsonl").is_file():
        splits.append(cfg.eval_split)
    return splits


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} but CUDA is not available")
    return torch.device(name)


def autocast(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA when asked; a no-op context elsewhere."""
    enabled = cfg.bf16 and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def load_model(cfg: TrainConfig, device: torch.device):
    """(model, processor): the base checkpoint in float32, LoRA-wrapped if configured, with
    only the weights to train left trainable."""
    from transformers import AutoModelForImageTextToText

    from evlm_server.engine.hf import load_processor

    path = Path(cfg.model)
    if not (path / "config.json").is_file():
        raise ConfigError(f"model: not a Hugging Face checkpoint folder (no config.json): {path}")
    processor = load_processor(path)
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    if cfg.lora is not None:
        from peft import LoraConfig, get_peft_model

        opts = {**DEFAULT_LORA, **cfg.lora}
        lcfg = LoraConfig(
            r=opts["r"], lora_alpha=opts["alpha"], lora_dropout=opts["dropout"], target_modules=opts["target_modules"]
        )
        model = get_peft_model(model, lcfg)  # freezes everything but the adapters
    elif cfg.freeze_vision:
        for name, p in model.named_parameters():
            if ".visual." in f".{name}" or name.startswith("visual."):
                p.requires_grad_(False)
    model = model.to(device)
    if cfg.compile:
        model.compile(dynamic=True)  # in place: parameter names, checkpoints and export stay the same
    return model, processor


def sample_indices(n: int, seed: int, start: int, count: int) -> list[int]:
    """Sample positions [start, start + count) of an endless stream of epochs, each a
    permutation of range(n) drawn from (seed, epoch) alone."""
    out = []
    for pos in range(start, start + count):
        epoch, k = divmod(pos, n)
        out.append(_permutation(n, seed, epoch)[k])
    return out


_PERMS: dict[tuple[int, int, int], list[int]] = {}


def _permutation(n: int, seed: int, epoch: int) -> list[int]:
    key = (n, seed, epoch)
    if key not in _PERMS:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        _PERMS[key] = torch.randperm(n, generator=g).tolist()
    return _PERMS[key]


def step_batches(cfg: TrainConfig, n: int, step: int, world: int = 1) -> list[list[int]]:
    """The micro-batches (lists of example indices) of optimizer step `step` (0-based) over all
    `world` processes: grad_accum x world of them, in order; process R takes the R-th
    grad_accum of them (Dist.share)."""
    per_step = cfg.batch_size * cfg.grad_accum * world
    flat = sample_indices(n, cfg.seed, step * per_step, per_step)
    return [flat[i : i + cfg.batch_size] for i in range(0, per_step, cfg.batch_size)]


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


# ---------------------------------------------------------------- optimizer and schedule
class Clock:
    """The training loop's wall clock against `time_budget_s` (none: never up).

    Stop on time: the loop ends after the step during which the budget ran out (`up`). The
    learning-rate schedule follows the same clock (`position`), so a run whose steps turn out
    slower or faster than expected still decays and reaches the end of its schedule when its
    time does, with no step-time estimate to get wrong. A checkpoint keeps `state()`, and a
    resumed run continues the budget from there (`resume`)."""

    def __init__(self, budget_s: float | None, now=None) -> None:
        self.budget_s, self.now = budget_s, now or time.perf_counter
        self.warm_s: float | None = None  # when the warmup ended (the schedule's time zero)
        self.resume(None)

    def resume(self, state: dict | None) -> None:
        """(Re)start the clock: from zero, or from a checkpoint's `state()`."""
        state = state or {}
        self.t0 = self.now() - state.get("elapsed_s", 0.0)
        self.warm_s = state.get("warm_s", self.warm_s)  # no warmup: the schedule's first call set it, at 0

    def state(self) -> dict:
        return {"elapsed_s": self.elapsed(), "warm_s": self.warm_s}

    def elapsed(self) -> float:
        return self.now() - self.t0

    def position(self) -> float:
        """The spent share of the budget after the warmup, in [0, 1] (the first call ends the warmup)."""
        if self.warm_s is None:
            self.warm_s = self.elapsed()
        return min(1.0, (self.elapsed() - self.warm_s) / max(self.budget_s - self.warm_s, 1e-9))

    def up(self) -> bool:
        return self.budget_s is not None and self.elapsed() >= self.budget_s


def make_optimizer(
    cfg: TrainConfig, model, clock: Clock | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("nothing to train: every parameter is frozen")
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return opt, make_scheduler(cfg, opt, clock)


def make_scheduler(
    cfg: TrainConfig, opt: torch.optim.Optimizer, clock: Clock | None = None
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over `warmup_steps`, then the configured schedule (stepped once per optimizer
    step). Its position t in [0, 1] is the share of the steps after the warmup done, or, with a
    time budget (`clock`), the share of the time after the warmup spent: the learning rate then
    reaches its end (zero for linear and cosine) when the time is up, whatever the step time."""
    timed = clock is not None and clock.budget_s is not None

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / (cfg.warmup_steps + 1)
        if cfg.schedule == "constant":
            return 1.0
        t = clock.position() if timed else (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return max(0.0, 1.0 - t) if cfg.schedule == "linear" else 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def clip_and_step(cfg: TrainConfig, model, opt, sched, dist: Dist | None = None) -> float:
    norm = (dist or Dist()).clip_grad_norm(model, cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"))
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return norm


# ---------------------------------------------------------------- checkpoints
def checkpoint_dir(cfg: TrainConfig, step: int) -> Path:
    return Path(cfg.out) / "checkpoints" / f"step-{step:06d}"


def latest_checkpoint(cfg: TrainConfig) -> Path | None:
    root = Path(cfg.out) / "checkpoints"
    done = sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file()) if root.is_dir() else []
    return done[-1] if done else None


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    cfg: TrainConfig, model, opt, sched, step: int, extra: dict | None = None, dist: Dist | None = None
) -> Path:
    """Write the state after `step` optimizer steps (written to a temp folder, then renamed, so
    a kill mid-write leaves no half checkpoint). Several processes: the main one writes the
    weights and optimizer (the same on every process under DDP), each other one its RNG state."""
    dist = dist or Dist()
    final = checkpoint_dir(cfg, step)
    tmp = final.with_name(final.name + ".tmp")
    if dist.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    if dist.is_main:
        trainable = {n: p.detach().cpu() for n, p in dist.unwrap(model).named_parameters() if p.requires_grad}
        torch.save(trainable, tmp / "trainable.pt")
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
        state = {"step": step, "scheduler": sched.state_dict(), "rng": _rng_state(), "config": asdict(cfg)}
        torch.save({**state, **(extra or {}), "world": dist.world}, tmp / "state.pt")
    else:
        torch.save(_rng_state(), tmp / f"rng-{dist.rank}.pt")
    dist.barrier()
    if dist.is_main:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    dist.barrier()
    return final


def load_checkpoint(path: Path, model, opt, sched, dist: Dist | None = None) -> dict:
    """Restore a save_checkpoint folder into (model, opt, sched) and the RNGs; returns its state."""
    dist = dist or Dist()
    trainable = torch.load(path / "trainable.pt", map_location="cpu")
    params = dict(dist.unwrap(model).named_parameters())
    missing = [n for n in trainable if n not in params]
    if missing:
        raise ValueError(f"{path}: checkpoint weights {missing[:3]} are not in the model (different base or LoRA?)")
    with torch.no_grad():
        for n, t in trainable.items():
            params[n].copy_(t)
    opt.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu"))
    state = _load_plain(path / "state.pt")
    sched.load_state_dict(state["scheduler"])
    own = path / f"rng-{dist.rank}.pt"  # a process > 0 of a run of several (else: the main one's)
    _set_rng_state(_load_plain(own) if dist.rank and own.is_file() else state["rng"])
    return state


# What a state file may hold besides tensors and plain data: numpy's RNG state (an array).
_NUMPY_STATE = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def _load_plain(file: Path) -> dict:
    """A state file without running anything it holds: a checkpoint folder may come from
    elsewhere, and a full unpickle runs any code in it (weights_only=False did)."""
    try:
        with torch.serialization.safe_globals(_NUMPY_STATE):
            return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{file}: not a state file this trainer writes ({str(e).splitlines()[0]})") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- logs, progress, plot, export
class Progress:
    """How far a loop is: done / total, elapsed time, rate and ETA (tqdm's meter). On a terminal a
    live bar; elsewhere (a log file, CI) lines: one at the start, one per `update` that carries
    values (`postfix`), and one whenever QUIET_S passed without one, so a log shows the same
    numbers without carriage-return noise and never goes quiet for long."""

    FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
    QUIET_S = 15.0

    def __init__(self, total: int, desc: str, initial: int = 0, unit: str = "step", file: Any = None) -> None:
        from tqdm import tqdm

        self.file = file if file is not None else sys.stdout
        self.total, self.desc, self.unit, self.initial, self.n = total, desc, unit, initial, initial
        self.t0 = self.last_line = time.perf_counter()
        isatty = getattr(self.file, "isatty", None)
        self.bar = (
            tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.file, dynamic_ncols=True)
            if isatty is not None and isatty()
            else None
        )
        if self.bar is None:
            self._print("")

    def update(self, n: int, postfix: dict[str, Any] | None = None) -> None:
        """`n` done so far; `postfix` (values to show beside the meter) also prints a line off a terminal."""
        self.n = n
        text = " ".join(f"{k}={_short(v)}" for k, v in (postfix or {}).items())
        if self.bar is not None:
            self.bar.n = n
            if postfix:
                self.bar.set_postfix_str(text, refresh=False)
            self.bar.refresh()
        elif postfix is not None or time.perf_counter() - self.last_line >= self.QUIET_S:
            self._print(text)

    def advance(self, k: int = 1) -> None:
        """`k` more done (the last one also prints its line off a terminal)."""
        n = self.n + k
        self.update(n, {} if n == self.total else None)

    def _print(self, postfix: str) -> None:
        print(self.line(postfix), file=self.file, flush=True)
        self.last_line = time.perf_counter()

    def line(self, postfix: str = "") -> str:
        from tqdm import tqdm

        return tqdm.format_meter(
            self.n, self.total, time.perf_counter() - self.t0, prefix=self.desc, unit=self.unit,
            initial=self.initial, postfix=postfix or None, bar_format=self.FORMAT,
        )  # fmt: skip

    def write(self, text: str) -> None:
        """A line above the live bar (or just a line)."""
        if self.bar is not None:
            self.bar.write(text, file=self.file)
        else:
            print(text, file=self.file, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class Logger:
    """JSON lines in OUT/log.jsonl (appended: a resumed run continues the same file). With `echo`,
    the rows are shown too: a training step's values beside the progress meter (`start_progress`),
    other rows (start, resume, eval) as key=value lines."""

    def __init__(self, cfg: TrainConfig, echo: bool = True, enabled: bool = True) -> None:
        self.path = Path(cfg.out) / "log.jsonl"
        self.enabled = enabled  # False: a process other than the main one writes nothing
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.t0 = time.perf_counter()
        self.progress: Progress | None = None

    def start_progress(self, total: int, desc: str, initial: int = 0, unit: str = "step") -> Progress | None:
        """A progress meter shown while echoing (None otherwise); log rows with a `loss` update it."""
        self.end_progress()
        if self.enabled and self.echo:
            self.progress = Progress(total, desc, initial, unit)
        return self.progress

    def end_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None

    def tick(self, step: int) -> None:
        """Move the meter to `step` done (between logged steps)."""
        if self.progress is not None:
            self.progress.update(step)

    def log(self, **row: Any) -> None:
        if not self.enabled:
            return
        row = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if not self.echo:
            return
        if self.progress is not None and "loss" in row and "step" in row:
            self.progress.update(row["step"], {k: v for k, v in row.items() if k != "step"})
            return
        line = " ".join(f"{k}={v}" for k, v in row.items())
        if self.progress is not None:
            self.progress.write(line)
        else:
            print(line, flush=True)


def read_log(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_losses(log_path: str | Path, png_path: str | Path, title: str = "") -> Path:
    """Train loss (per step) and eval loss (per eval) against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    train = {r["step"]: r["loss"] for r in rows if "loss" in r}  # a resumed run overwrites repeated steps
    evals = {r["step"]: r["eval_loss"] for r in rows if "eval_loss" in r}
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if train:
        ax.plot(list(train), list(train.values()), label="train", lw=1)
    if evals:
        ax.plot(list(evals), list(evals.values()), "o-", label="eval")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return Path(png_path)


_WEIGHT_FILES = ("config.json", "generation_config.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def prompt_format_of(cfg: TrainConfig) -> int:
    """The prompt format this run trains on: the config's, else the base model's."""
    return cfg.prompt_format if cfg.prompt_format is not None else read_prompt_format(cfg.model)


def export_model(model, base: str | Path, dst: str | Path) -> Path:
    """`dst`: a plain Hugging Face folder: the model's weights (LoRA merged) via
    `save_pretrained`, plus the base checkpoint's processor and tokenizer files, copied as they
    are (saving Qwen2-VL's processor would need its torchvision video half)."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):  # a PEFT model
        model = model.merge_and_unload()
    model.save_pretrained(dst)
    for f in Path(base).iterdir():
        if f.is_file() and f.name not in _WEIGHT_FILES and not f.name.endswith(_WEIGHT_SUFFIXES):
            if not f.name.startswith(("adapter_", "model.safetensors")):
                shutil.copy2(f, dst / f.name)
    return dst


def finish_run(cfg: TrainConfig, model, log: Logger, title: str, dist: Dist) -> Path:
    """End of a training run: the main process plots the losses and exports OUT/model (LoRA
    merged); every process waits for it, then leaves the process group. Returns OUT/model."""
    out = Path(cfg.out) / "model"
    log.end_progress()
    if dist.is_main:
        plot_losses(log.path, out.parent / "loss.png", title)
        export_model(dist.unwrap(model), cfg.model, out)
        write_prompt_format(out, prompt_format_of(cfg))  # served as it was trained
    dist.barrier()
    dist.end()
    return out
