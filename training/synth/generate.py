"""The synthetic dataset pipeline: examples -> graded records -> JSONL files, images, pairs, meta.

One example = one scene, its renders, one instruction (a family task) and four records sharing
`group`: correct, wrong_magnitude, wrong_target, contradiction (scores: scoring.py). Every
example is seeded from (seed, index) alone, so the output is byte-identical for a seed whatever
the number of workers. Retries (a scene that does not suit the family, variants that do not
order as constructed) are seeded from (seed, index, attempt).

Splits, drawn per example from (seed, index): train 80%, val 5%, test 5%, gen 10%. A gen example
either uses a held-out sentence frame (language.HELD_OUT_FRAMES) or is the held-out family
variant (families.HELD_OUT_VARIANTS); train/val/test never use either.

Layout of DIR: {train,val,test,gen}.jsonl (one Record per line), pairs.jsonl (DPO pairs: group,
chosen, rejected, split), meta.json, images/<group>/f<frame>_v<view>.png and reference.png.
All files are written atomically (a temp file, then os.replace).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evlm.edits import VOCABULARY_VERSION, validate_plan
from evlm.protocol import Limits
from evlm.record import RECORD_VERSION, Record, Scores, ViewImage
from evlm.scene import View
from evlm.views import frame_samples
from training.data.validate import check_record
from training.synth import render
from training.synth.families import (
    FAMILIES,
    HELD_OUT_FAMILY,
    HELD_OUT_VARIANTS,
    MODALITIES,
    MODALITY_WEIGHTS,
    WEIGHTS,
    Context,
    Task,
    needs_animation,
    propose,
)
from training.synth.families.common import wrong_level
from training.synth.language import HELD_OUT_FRAMES, HELD_OUT_TEXT, noise
from training.synth.reasoning import think
from training.synth.scenes import build_scene
from training.synth.scoring import score

GENERATOR_VERSION = "1.0"
SPLITS = ("train", "val", "test", "gen")
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.05, "test": 0.05, "gen": 0.1}
HELD_OUT_VARIANT_SHARE = 0.4  # of gen examples: the held-out family variant; the rest: held-out frames
VARIANTS = ("correct", "wrong_magnitude", "wrong_target", "contradiction")
MAX_ATTEMPTS = 30
MARGIN = 0.02  # how clearly the scores must order the variants
OUTPUTS = (*(f"{s}.jsonl" for s in SPLITS), "pairs.jsonl", "meta.json", "images")
LIMITS = Limits()


class SynthError(ValueError):
    """Bad settings or an output folder that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Config:
    n: int
    out: Path
    seed: int = 0
    workers: int = 1
    views: int = 3
    size: int = 128
    frames: int = 3
    overwrite: bool = False
    progress: bool = True

    def check(self) -> None:
        def integer(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise SynthError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")

        integer("n", 1, 10_000_000)
        integer("seed", 0, 2**32 - 1)
        integer("workers", 1, 256)
        integer("views", 1, LIMITS.max_views)
        integer("size", 32, 2048)
        integer("frames", 2, LIMITS.max_views)
        if self.views * self.frames > LIMITS.max_views:
            raise SynthError(
                f"views x frames = {self.views * self.frames}: an animated (4d) record carries every frame of every "
                f"view, and the server accepts at most {LIMITS.max_views} views"
            )


@dataclass
class Example:
    index: int
    group: str
    split: str
    family: str
    variant: str  # the family variant
    modality: str
    frame: str  # the sentence frame
    attempt: int
    records: list[Record]
    images: dict[str, np.ndarray] = field(repr=False)  # path relative to the dataset folder -> RGB


def example_split(seed: int, index: int) -> tuple[str, bool, bool]:
    """(split, held-out frame, held-out variant) of an example: fixed by (seed, index) alone."""
    rng = np.random.default_rng([seed, index, 0x5B117])
    u = rng.random()
    edges = np.cumsum([SPLIT_FRACTIONS[s] for s in SPLITS])
    split = SPLITS[int(np.searchsorted(edges, u, side="right"))] if u < edges[-1] else "train"
    if split != "gen":
        return split, False, False
    held_variant = bool(rng.random() < HELD_OUT_VARIANT_SHARE)
    return split, not held_variant, held_variant


def make_example(cfg: Config, index: int) -> Example:
    """Build example `index` (renders included, nothing written)."""
    split, held_frame, held_variant = example_split(cfg.seed, index)
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([cfg.seed, index, attempt])
        family = HELD_OUT_FAMILY if held_variant else FAMILIES[int(rng.choice(len(FAMILIES), p=WEIGHTS))]
        modality = MODALITIES[int(rng.choice(len(MODALITIES), p=MODALITY_WEIGHTS))] if family == "generative" else None
        scene = build_scene(rng, animated=needs_animation(family, modality))
        anim = scene.graph.animation
        frames = frame_samples(anim.frame_start, anim.frame_end, cfg.frames) if anim else [scene.graph.frame_current]
        shots = render.render_views(scene, cfg.views, cfg.size, frames)
        ctx = Context(rng, scene, shots, cfg.size, held_frame, held_variant)
        task = propose(family, ctx, modality)
        if task is None:
            continue
        example = _build(cfg, index, split, attempt, task, ctx)
        if example is not None:
            return example
    raise RuntimeError(f"example {index} (seed {cfg.seed}): no usable task in {MAX_ATTEMPTS} attempts")


def _build(cfg: Config, index: int, split: str, attempt: int, task: Task, ctx: Context) -> Example | None:
    rng = ctx.rng
    if not task.distractors:
        return None
    gold = task.decide(task.targets, task.level, False)
    wm = task.decide(task.targets, wrong_level(ctx, task.level, task.levels), False)
    pick = 0 if len(task.distractors) == 1 or rng.random() < 0.7 else 1
    wt = task.decide(task.distractors[pick], task.level, False)
    said = task.decide(task.targets, task.level, True) if task.can_flip and rng.random() < 0.5 else wt
    built = {"correct": (gold, gold.plan), "wrong_magnitude": (wm, wm.plan), "wrong_target": (wt, wt.plan),
             "contradiction": (said, gold.plan)}  # fmt: skip
    scores = {v: score(d.plan, p, gold.plan, ctx.scene.graph) for v, (d, p) in built.items()}
    c, m, t, x = (scores[v] for v in VARIANTS)
    if not (
        c.answer >= 0.999
        and c.answer > m.answer + MARGIN
        and m.answer > t.answer + MARGIN
        and x.reasoning < min(c.reasoning, m.reasoning) - MARGIN
    ):
        return None  # this draw does not grade the variants as constructed: retry

    group = f"s{cfg.seed}-{index:06d}"
    instruction = noise(task.instruction, rng, task.ask.protect)
    images: dict[str, np.ndarray] = {}
    views = []
    for i, (f, v) in enumerate(_shot_list(task, ctx)):
        shot = ctx.shots[f][v]
        path = f"images/{group}/f{shot.view.frame}_v{v}.png"
        if task.shots in ("3d", "4d"):
            images[path], view = shot.marked(), shot.view
        else:  # a plain image or video: no camera data, no marks (the artist's picture has none)
            label = "image" if task.shots == "image" else f"frame {i}"
            images[path], view = shot.image, View(label=label, width=cfg.size, height=cfg.size, frame=shot.view.frame)
        views.append(ViewImage(image=path, view=view))
    reference = None
    if task.reference is not None:
        reference = f"images/{group}/reference.png"
        images[reference] = task.reference
    scene = ctx.scene.graph if task.modality in ("3d", "4d") else None
    records = []
    for variant in VARIANTS:
        decision, plan = built[variant]
        s = scores[variant]
        record = Record(
            id=f"{group}-{variant}",
            split=split,
            modality=task.modality,
            family=task.family,
            instruction=instruction,
            scene=scene,
            views=views,
            reference=reference,
            reasoning=think(decision, rng),
            plan=plan,
            scores=Scores(reasoning=s.reasoning, answer=s.answer),
            variant=variant,
            group=group,
        )
        validate_plan(record.plan.model_dump(mode="json"), scene)  # raises PlanError: a generator bug
        check_record(record)  # the dataset's own checks (modality, views, marks, grammar-writable strings)
        records.append(record)
    return Example(index, group, split, task.family, task.variant, task.modality, task.frame, attempt, records, images)


def _shot_list(task: Task, ctx: Context) -> list[tuple[int, int]]:
    n_frames, n_views = len(ctx.shots), len(ctx.shots[0])
    return {
        "image": [(0, 0)],
        "video": [(f, 0) for f in range(n_frames)],
        "3d": [(0, v) for v in range(n_views)],
        "4d": [(f, v) for f in range(n_frames) for v in range(n_views)],
    }[task.shots]


# ---------------------------------------------------------------- writing a dataset
_WORKER: dict = {}


def _init_worker(cfg: Config) -> None:
    _WORKER["cfg"] = cfg


def _work(index: int) -> dict:
    """Build one example, write its images, return its JSON lines and what meta.json counts."""
    cfg: Config = _WORKER["cfg"]
    ex = make_example(cfg, index)
    for rel, rgb in ex.images.items():
        render.write_png(cfg.out / rel, rgb)
    lines = [r.model_dump_json() for r in ex.records]
    correct = ex.records[0].id
    pairs = [
        json.dumps({"group": ex.group, "chosen": correct, "rejected": r.id, "split": ex.split}) for r in ex.records[1:]
    ]
    return {"split": ex.split, "lines": lines, "pairs": pairs, "family": ex.family, "variant": f"{ex.family}:{ex.variant}",
            "modality": ex.modality, "frame": ex.frame, "attempt": ex.attempt}  # fmt: skip


def prepare_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SynthError(f"--out {out} exists and is not a folder")
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present and not overwrite:
        raise SynthError(f"--out {out} already holds a dataset ({', '.join(present)}); pass --overwrite to replace it")
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate(cfg: Config) -> dict:
    """Write the dataset described by `cfg`; returns meta.json's content."""
    cfg.check()
    out = Path(cfg.out)
    prepare_output(out, cfg.overwrite)
    start = time.perf_counter()
    tmp = {name: out / f".{name}.{os.getpid()}.tmp" for name in (*(f"{s}.jsonl" for s in SPLITS), "pairs.jsonl")}
    handles = {name: path.open("w", encoding="utf-8") for name, path in tmp.items()}
    counts: dict[str, Counter] = {
        k: Counter() for k in ("examples", "records", "family", "variant", "modality", "frame", "attempts")
    }
    try:
        for result in _results(cfg):
            split = result["split"]
            for line in result["lines"]:
                handles[f"{split}.jsonl"].write(line + "\n")
            for line in result["pairs"]:
                handles["pairs.jsonl"].write(line + "\n")
            counts["examples"][split] += 1
            counts["records"][split] += len(result["lines"])
            for key in ("family", "variant", "modality", "frame"):
                counts[key][result[key]] += 1
            counts["attempts"][str(result["attempt"] + 1)] += 1
        for h in handles.values():
            h.close()
        for name, path in tmp.items():
            os.replace(path, out / name)
    finally:
        for h in handles.values():
            h.close()
        for path in tmp.values():
            path.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    meta = {
        "generator_version": GENERATOR_VERSION,
        "record_version": RECORD_VERSION,
        "vocabulary_version": VOCABULARY_VERSION,
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(cfg).items()
            if k not in ("out", "progress", "overwrite", "workers")
        },
        "counts": {k: dict(sorted(v.items())) for k, v in counts.items()},
        "record_variants": list(VARIANTS),
        "split_fractions": SPLIT_FRACTIONS,
        "held_out": {
            "frames": {f: f"instructions phrased as '{HELD_OUT_TEXT[f].strip()}' ({f})" for f in HELD_OUT_FRAMES},
            "variants": list(HELD_OUT_VARIANTS),
            "note": "gen examples use a held-out frame or are a held-out family variant; train/val/test use neither",
        },
        "scores": "answer = sim(plan, gold); reasoning = sim(described, plan) * (1 + target_sim + value_sim + sim(plan, gold)) / 4 "
        "(training/synth/scoring.py)",
        "timing": {
            "seconds": round(seconds, 2),
            "examples_per_s": round(cfg.n / seconds, 3),
            "records_per_s": round(sum(counts["records"].values()) / seconds, 3),
            "workers": cfg.workers,
            "cpus": os.cpu_count(),
        },
    }
    meta_tmp = out / f".meta.json.{os.getpid()}.tmp"
    meta_tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    os.replace(meta_tmp, out / "meta.json")
    return meta


def _results(cfg: Config):  # noqa: ANN202
    """Per-example results in index order, with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(total=cfg.n, unit="ex", desc="evlm-synth", disable=not cfg.progress, file=sys.stderr, dynamic_ncols=True)
    try:
        if cfg.workers == 1:
            _init_worker(cfg)
            for i in range(cfg.n):
                yield _work(i)
                bar.update()
            return
        # A forked child must not inherit a GL context: fork only while this process has none.
        ctx = mp.get_context("spawn" if render.renderer_started() else "fork")
        with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,)) as pool:
            for result in pool.imap(_work, range(cfg.n), chunksize=max(1, min(8, cfg.n // (cfg.workers * 8)))):
                yield result
                bar.update()
    finally:
        bar.close()
