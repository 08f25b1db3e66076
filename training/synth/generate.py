"""The synthetic dataset pipeline: examples -> graded records -> JSONL files, images, pairs, meta.

One example = one scene, its renders, one instruction (a family task) and four records sharing
`group`: correct, wrong_magnitude, wrong_target, contradiction (scores: scoring.py). Every
example is seeded from (seed, index) alone, so the output is byte-identical for a seed whatever
the number of workers. Retries (a scene that does not suit the family, variants that do not
order as constructed) are seeded from (seed, index, attempt); a scene is rendered once and
offered to the family a few times before a new one is built.

Splits, drawn per example from (seed, index): train 80%, val 5%, test 5%, gen 10%. A gen example
is one of the held-out kinds of `heldout.py` (a held-out sentence frame, word, (op, referring
style) composition, or task variant); train/val/test never contain any of them, which
`_split_ok` checks on every example.

Views: the scene's current frame from N orbit views, as the add-on captures by default; an
animation example shows F frames half of the time (the add-on's frames setting), a video or 4d
hand-off always.

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
from training.synth import heldout, render
from training.synth.families import (
    COMPOSITION_FAMILIES,
    FAMILIES,
    MODALITIES,
    MODALITY_WEIGHTS,
    VARIANT_FAMILY,
    WEIGHTS,
    Context,
    Task,
    needs_animation,
    propose,
)
from training.synth.families.common import wrong_level
from training.synth.language import HELD_OUT_FRAMES, NoPhrasing, held_word, noise
from training.synth.reasoning import think
from training.synth.scenes import build_scene
from training.synth.scoring import score

GENERATOR_VERSION = "2.0"
SPLITS = ("train", "val", "test", "gen")
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.05, "test": 0.05, "gen": 0.1}
VARIANTS = ("correct", "wrong_magnitude", "wrong_target", "contradiction")
MAX_ATTEMPTS = 30
TASK_TRIES = 4  # proposals per rendered scene before a new scene is built
MULTI_FRAME = 0.5  # animation examples that show every frame (the rest: the current frame only)
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
    held_out: str = ""  # the gen kind ("" outside gen)
    how: str = ""  # how the target was referred to
    layout: str = ""


def example_split(seed: int, index: int) -> tuple[str, str | None]:
    """(split, held-out kind or None) of an example: fixed by (seed, index) alone."""
    rng = np.random.default_rng([seed, index, 0x5B117])
    u = rng.random()
    edges = np.cumsum([SPLIT_FRACTIONS[s] for s in SPLITS])
    split = SPLITS[int(np.searchsorted(edges, u, side="right"))] if u < edges[-1] else "train"
    if split != "gen":
        return split, None
    kinds = list(heldout.GEN_KINDS)
    weights = np.array([heldout.GEN_KINDS[k] for k in kinds])
    return split, kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]


def _family(rng: np.random.Generator, held: str | None) -> str:
    if held == "variant":
        return VARIANT_FAMILY
    names = COMPOSITION_FAMILIES if held == "composition" else FAMILIES
    weights = np.array([WEIGHTS[FAMILIES.index(f)] for f in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def make_example(cfg: Config, index: int) -> Example:
    """Build example `index` (renders included, nothing written)."""
    split, held = example_split(cfg.seed, index)
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([cfg.seed, index, attempt])
        family = _family(rng, held)
        modality = MODALITIES[int(rng.choice(len(MODALITIES), p=MODALITY_WEIGHTS))] if family == "generative" else None
        animate = needs_animation(family, modality)
        scene = build_scene(rng, animated=True if animate else None, min_animated=2 if family == "animation" else 0)
        anim = scene.graph.animation
        frames = [scene.graph.frame_current]
        if anim.objects and (modality in ("video", "4d") or (family == "animation" and rng.random() < MULTI_FRAME)):
            frames = frame_samples(anim.frame_start, anim.frame_end, cfg.frames)
        ctx = Context(rng, scene, render.render_views(scene, cfg.views, cfg.size, frames), cfg.size, held)
        for _ in range(TASK_TRIES):
            try:
                task = propose(family, ctx, modality)
            except NoPhrasing:  # the split asks for a phrasing this task does not have
                task = None
            example = _build(cfg, index, split, attempt, task, ctx) if task is not None else None
            if example is not None:
                return example
    raise RuntimeError(f"example {index} (seed {cfg.seed}): no usable task in {MAX_ATTEMPTS} attempts")


def _split_ok(task: Task, primary_op: str, held: str | None) -> bool:
    """Whether the task belongs in its split: a gen example is of its held-out kind; any other
    example has nothing held out in it."""
    kinds = {
        "frame": task.frame in HELD_OUT_FRAMES,
        "lexicon": held_word(task.instruction),
        "composition": (primary_op, task.how) in heldout.HELD_OUT_COMPOSITIONS,
        "variant": f"{task.family}:{task.variant}" in heldout.HELD_OUT_VARIANTS,
    }
    if held is None:
        return not any(kinds.values())
    return kinds[held]


def _build(cfg: Config, index: int, split: str, attempt: int, task: Task, ctx: Context) -> Example | None:
    rng = ctx.rng
    if not task.distractors:
        return None
    gold = task.decide(task.targets, task.level, False)
    if not _split_ok(task, gold.plan.suggestions[0].ops[0].op, ctx.held_out):
        return None
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
            reasoning=think(decision),
            plan=plan,
            scores=Scores(reasoning=s.reasoning, answer=s.answer),
            variant=variant,
            group=group,
        )
        validate_plan(record.plan.model_dump(mode="json"), scene)  # raises PlanError: a generator bug
        check_record(record)  # the dataset's own checks (modality, views, marks, grammar-writable strings)
        records.append(record)
    return Example(index, group, split, task.family, task.variant, task.modality, task.frame, attempt, records, images,
                   ctx.held_out or "", task.how, ctx.scene.layout)  # fmt: skip


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
    ops = sorted({op.op for s in ex.records[0].plan.suggestions for op in s.ops})
    return {"split": ex.split, "lines": lines, "pairs": pairs, "family": ex.family, "variant": f"{ex.family}:{ex.variant}",
            "modality": ex.modality, "frame": ex.frame, "attempt": ex.attempt, "held_out": ex.held_out or "none",
            "referring": ex.how or "none", "layout": ex.layout, "ops": ops}  # fmt: skip


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
    keys = ("family", "variant", "modality", "frame", "held_out", "referring", "layout")
    counts: dict[str, Counter] = {k: Counter() for k in ("examples", "records", "attempts", "ops", *keys)}
    try:
        for result in _results(cfg):
            split = result["split"]
            for line in result["lines"]:
                handles[f"{split}.jsonl"].write(line + "\n")
            for line in result["pairs"]:
                handles["pairs.jsonl"].write(line + "\n")
            counts["examples"][split] += 1
            counts["records"][split] += len(result["lines"])
            for key in keys:
                counts[key][result[key]] += 1
            counts["ops"].update(result["ops"])  # examples whose gold plan uses the op
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
        "held_out": heldout.describe(),
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
