"""The synthetic generator (evlm-synth): determinism, valid plans, marks on the pictures, graded
scores, coverage of the vocabulary, held-out splits, golds computed from the scene (placement,
camera, lights, keys), scenes in the form capture gives, the folder format, the CLI."""

from __future__ import annotations

import colorsys
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from evlm.edits import OPS, EditPlan, parse_plan, validate_plan
from evlm.record import Record
from training.data.validate import validate_dataset
from training.synth import heldout, render
from training.synth.cli import main
from training.synth.families import FAMILIES, MODALITIES, Context, Task, placement
from training.synth.families import animation as animation_family
from training.synth.families import camera as camera_family
from training.synth.families import lighting as lighting_family
from training.synth.families.common import material_edit
from training.synth.generate import Config, generate, make_example
from training.synth.language import HELD_OUT_FRAMES, HELD_OUT_TEXT, held_word
from training.synth.referring import candidates, display_color, fits, refer
from training.synth.scenes import NO_MATERIAL, build_scene, main_slot
from training.synth.scoring import plan_similarity, score

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample_dataset"
TINY = {"views": 2, "size": 48, "frames": 2}
MAX_SHARE = 0.12


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "meta.json"
    }


def _records(root: Path) -> list[Record]:
    return [
        Record.model_validate_json(line)
        for s in ("train", "val", "test", "gen")
        for line in (root / f"{s}.jsonl").open()
    ]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(Config(n=12, out=out, seed=3, progress=False, **TINY))
    return out


@pytest.fixture(scope="module")
def examples() -> list:
    """Many examples in memory (small renders): enough to see every op, family and gen kind."""
    cfg = Config(n=1, out=Path("unused"), seed=11, **TINY)
    return [make_example(cfg, i) for i in range(420)]


def _ops(record: Record) -> set[str]:
    return {op.op for s in record.plan.suggestions for op in s.ops}


# ---------------------------------------------------------------- determinism
def test_same_seed_same_bytes_whatever_the_workers(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(Config(n=12, out=again, seed=3, workers=2, progress=False, **TINY))
    a, b = _files(dataset), _files(again)
    assert a.keys() == b.keys() and any(k.endswith(".png") for k in a)
    assert [k for k in a if a[k] != b[k]] == []
    other = tmp_path / "other"
    generate(Config(n=12, out=other, seed=4, progress=False, **TINY))
    assert (other / "train.jsonl").read_bytes() != (dataset / "train.jsonl").read_bytes()


# ---------------------------------------------------------------- validity
def test_every_gold_plan_validates_against_its_scene(dataset: Path) -> None:
    records = _records(dataset)
    assert len(records) == 12 * 4
    for r in records:
        validate_plan(r.plan.model_dump(mode="json"), r.scene)
    report = validate_dataset(dataset)  # schema, modality rules, marks, grammar-writable strings, image files
    assert report.ok, report.errors[:5]


def test_folder_layout_meta_and_pairs(dataset: Path) -> None:
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["config"] == {"n": 12, "seed": 3, **TINY}
    assert sum(meta["counts"]["records"].values()) == 48 and sum(meta["counts"]["examples"].values()) == 12
    assert meta["held_out"] == json.loads(json.dumps(heldout.describe()))
    assert sum(meta["counts"]["held_out"].values()) == 12 and set(meta["counts"]["ops"]) <= set(OPS)
    ids = {r.id: r for r in _records(dataset)}
    pairs = [json.loads(line) for line in (dataset / "pairs.jsonl").open()]
    assert len(pairs) == 12 * 3
    for p in pairs:
        chosen, rejected = ids[p["chosen"]], ids[p["rejected"]]
        assert chosen.variant == "correct" and rejected.variant != "correct"
        assert chosen.group == rejected.group == p["group"] and chosen.split == p["split"]
    for r in ids.values():  # variants of one example share its images
        assert all(v.image.startswith(f"images/{r.group}/") for v in r.views)
    assert not list(dataset.glob(".*.tmp"))


def test_loads_with_hugging_face_datasets(dataset: Path) -> None:
    datasets = pytest.importorskip("datasets")
    files = {
        s: str(dataset / f"{s}.jsonl")
        for s in ("train", "val", "test", "gen")
        if (dataset / f"{s}.jsonl").stat().st_size
    }
    ds = datasets.load_dataset("json", data_files=files, cache_dir=str(dataset.parent / "hf_cache"))
    assert sum(len(d) for d in ds.values()) == 48
    row = next(iter(ds.values()))[0]
    assert row["plan"]["suggestions"][0]["ops"][0]["op"]


# ---------------------------------------------------------------- scenes in capture's form
def test_scene_graphs_have_the_form_capture_gives() -> None:
    """Marks 1..N on the visible geometry in the order of its names (the floor too), a light entry per light
    object and a camera entry per camera object in that order, materials in order of first use,
    hidden objects unmarked and unrendered, an animation block always, parents that exist."""
    seen = Counter()
    for seed in range(40):
        scene = build_scene(np.random.default_rng([5, seed]))
        g = scene.graph
        names = g.object_names()
        assert len(set(names)) == len(names) and all(0 < len(n) <= 63 for n in names)
        geometry = [o for o in g.objects if o.type == "MESH"]
        shown = sorted((o for o in geometry if o.visible), key=lambda o: o.name)
        assert [o.mark for o in shown] == list(range(1, len(shown) + 1))
        assert all(o.mark is None for o in g.objects if o.type != "MESH" or not o.visible)
        assert [o.name for o in scene.objects] == [o.name for o in geometry if o.visible]  # what renders
        assert g.light_names() == [o.name for o in g.objects if o.type == "LIGHT"]
        assert g.camera_names() == [o.name for o in g.objects if o.type == "CAMERA"] and scene.main_camera in names
        first_use = list(dict.fromkeys(m for o in g.objects for m in o.materials))
        assert g.material_names() == first_use
        assert g.animation is not None and g.animation.frame_start == 1
        if not g.animation.objects:
            assert g.animation.frame_end == 250
        for o in g.objects:
            assert o.parent is None or o.parent in names
            for v in o.dimensions:
                assert v >= 0
            assert np.allclose(np.subtract(o.bbox_max, o.bbox_min), o.dimensions, atol=2e-4)
        for o in scene.hidden:
            assert not g.get_object(o.name).visible
        seen["parented"] += any(o.parent for o in g.objects)
        seen["default names"] += any(n.split(".")[0] in ("Cube", "Sphere", "Cylinder", "Plane") for n in names)
        seen["several lights"] += len(g.lights) > 1
        seen["several cameras"] += len(g.cameras) > 1
        seen["animated"] += bool(g.animation.objects)
        seen["modifiers"] += any(o.modifiers for o in g.objects)
        seen["shared material"] += any(len(scene.users(m)) > 1 for m in g.material_names())
        seen["no material"] += any(o.type == "MESH" and not o.materials for o in g.objects)
        words = Counter(w for o in candidates_all(scene) for w in [o.kind])
        seen["same kind"] += any(c > 1 for c in words.values())
    for what in ("parented", "default names", "several lights", "several cameras", "animated", "modifiers",
                 "shared material", "no material", "same kind"):  # fmt: skip
        assert seen[what] >= 3, (what, seen)


def candidates_all(scene):  # noqa: ANN001, ANN201
    return [o for o in scene.objects if o.kind != "floor"]


def test_children_follow_their_animated_parent() -> None:
    for seed in range(200):
        scene = build_scene(np.random.default_rng([6, seed]), animated=True, layout="street")
        moving = [o for o in scene.objects if o.name in scene.motions and scene.children(o.name)]
        if moving:
            break
    else:
        pytest.skip("no animated parent drawn")
    parent = moving[0]
    child = scene.children(parent.name)[0]
    keys = scene._channels(parent.name)[0].keyframes
    f0, f1 = keys[0].frame, keys[-1].frame
    offset0 = scene.pose(child, f0)[:3, 3] - scene.pose(parent, f0)[:3, 3]
    offset1 = scene.pose(child, f1)[:3, 3] - scene.pose(parent, f1)[:3, 3]
    moved = scene.pose(parent, f1)[:3, 3] - scene.pose(parent, f0)[:3, 3]
    assert np.linalg.norm(moved) > 0.1 and np.allclose(offset0, offset1, atol=1e-6)


# ---------------------------------------------------------------- pictures and marks
def test_marks_sit_on_their_objects_in_the_renders() -> None:
    """At each mark's centre the ID pass holds that object, and (for a coloured object) the clean
    render shows its own hue; marks are numbered in the order of the objects' names, as capture
    numbers them."""
    checked = 0
    for seed in range(4):
        scene = build_scene(np.random.default_rng([99, seed]))
        shots = render.render_views(scene, 3, 96, [1])
        assert [o.name for o in sorted(scene.marked, key=lambda o: o.mark)] == sorted(o.name for o in scene.marked)
        for shot in shots[0]:
            assert shot.view.marks, "every view shows some object"
            for mark in shot.view.marks:
                x, y = int(mark.center[0] * 96), int(mark.center[1] * 96)
                x0, y0, x1, y1 = mark.box
                assert x0 <= mark.center[0] <= x1 and y0 <= mark.center[1] <= y1
                obj = scene.get(mark.object)
                assert shot.ids[y, x] == scene.objects.index(obj) + 1, (mark, shot.ids[y, x])
                pixel = shot.image[y, x].astype(float)
                base = scene.main_material(mark.object).base_color[:3]
                h0, s0, _ = colorsys.rgb_to_hsv(*render.srgb(base))
                h1, s1, v1 = colorsys.rgb_to_hsv(*(pixel / 255))
                if s0 > 0.5 and s1 > 0.25 and v1 > 0.15 and len(obj.materials) == 1:
                    assert min(abs(h0 - h1), 1 - abs(h0 - h1)) < 0.08, (mark.object, base, pixel)
                    checked += 1
    assert checked > 10


def test_written_views_carry_the_drawn_marks(dataset: Path) -> None:
    """A 3d record's view image is the render with its marks drawn: at each centre a label (digits
    in black on white or white on black: both pure colours, which no lit surface renders)."""
    from PIL import Image

    seen = 0
    for r in _records(dataset):
        if r.modality not in ("3d", "4d") or r.variant != "correct":
            continue
        for v in r.views:
            img = np.asarray(Image.open(dataset / v.image).convert("RGB")).astype(int)
            assert img.shape == (v.view.height, v.view.width, 3)
            for mark in v.view.marks:
                x, y = int(mark.center[0] * v.view.width), int(mark.center[1] * v.view.height)
                patch = img[max(0, y - 8) : y + 9, max(0, x - 8) : x + 9].reshape(-1, 3)
                assert (patch.sum(axis=1) == 0).any() and (patch.sum(axis=1) == 765).any(), (v.image, mark)
                seen += 1
    assert seen > 20


# ---------------------------------------------------------------- scores
def _plan(*ops: dict) -> EditPlan:
    return parse_plan(
        {"reasoning": "", "suggestions": [{"title": "t", "rationale": "", "confidence": 1.0, "ops": list(ops)}]}
    )


def test_plan_similarity_by_hand() -> None:
    gold = _plan({"op": "scale", "targets": ["A"], "factor": [1.1, 1.1, 1.1]})
    assert plan_similarity(gold, gold).overall == 1.0
    double = _plan({"op": "scale", "targets": ["A"], "factor": [2.2, 2.2, 2.2]})
    # same direction, twice the factor on 3 axes: d = 1 per axis, v = exp(-sqrt(3)) (mode equal), q = 0.4 + 0.6 v
    assert plan_similarity(double, gold).overall == pytest.approx(0.4 + 0.6 * np.exp(-np.sqrt(3)), abs=1e-3)
    opposite = _plan({"op": "scale", "targets": ["A"], "factor": [0.9, 0.9, 0.9]})
    assert plan_similarity(opposite, gold).overall == pytest.approx(0.4)  # the other way: v = 0
    assert plan_similarity(_plan({"op": "scale", "targets": ["B"], "factor": [1.1, 1.1, 1.1]}), gold).overall == 0.0
    extra = _plan({"op": "scale", "targets": ["A"], "factor": [1.1, 1.1, 1.1]}, {"op": "delete", "targets": ["B"]})
    assert plan_similarity(extra, gold).overall == pytest.approx(0.5)  # one extra op costs as much as a missing one
    s = score(opposite, gold, gold)  # a contradiction: says x0.9, answers x1.1
    assert s.answer == 1.0 and s.reasoning == pytest.approx(0.4 * (1 + 1 + 0 + 1) / 4, abs=1e-3)
    bevel = {"op": "add_modifier", "targets": ["A"], "modifier": {"type": "BEVEL", "width": 0.02, "segments": 3}}
    wide = {"op": "add_modifier", "targets": ["A"], "modifier": {"type": "BEVEL", "width": 0.04, "segments": 3}}
    # a bevel twice as wide is as far off as a scale twice as big (relative), not 0.02 m of 0.2
    assert plan_similarity(_plan(wide), _plan(bevel)).overall == pytest.approx(0.4 + 0.6 * np.exp(-1), abs=1e-3)


def test_scores_order_the_variants_as_constructed(examples: list) -> None:
    for ex in examples:
        s = {r.variant: r.scores for r in ex.records}
        assert [r.variant for r in ex.records] == ["correct", "wrong_magnitude", "wrong_target", "contradiction"]
        assert s["correct"].answer == 1.0 and s["correct"].reasoning == 1.0
        assert s["correct"].answer > s["wrong_magnitude"].answer > s["wrong_target"].answer
        assert s["contradiction"].reasoning < min(s["correct"].reasoning, s["wrong_magnitude"].reasoning)
        assert ex.records[3].plan == ex.records[0].plan  # a contradiction answers right, reasons otherwise
        assert ex.records[3].reasoning != ex.records[0].reasoning
        assert len({r.group for r in ex.records}) == 1 and len({r.instruction for r in ex.records}) == 1
    values = {round(r.scores.answer, 2) for ex in examples for r in ex.records if r.variant == "wrong_magnitude"}
    assert len(values) > 10  # continuous, not a fixed grade per variant


# ---------------------------------------------------------------- coverage
def test_every_op_is_called_for_and_none_dominates(examples: list) -> None:
    counts = Counter(op for ex in examples for op in _ops(ex.records[0]))
    assert set(counts) == set(OPS), set(OPS) - set(counts)
    share = {op: n / len(examples) for op, n in counts.items()}
    assert max(share.values()) <= MAX_SHARE, sorted(share.items(), key=lambda kv: -kv[1])[:3]
    handoffs = [ex for ex in examples if "generative_edit" in _ops(ex.records[0])]
    assert len(handoffs) / len(examples) < 0.08  # hand-offs only where no op fits
    assert sum(len(ex.records[0].plan.suggestions) > 1 for ex in examples) > 15  # ambiguous: several suggestions


def test_every_family_and_modality_appears(examples: list) -> None:
    assert {ex.family for ex in examples} == set(FAMILIES)
    assert {ex.modality for ex in examples} == set(MODALITIES)
    for ex in examples:
        r = ex.records[0]
        assert (r.scene is None) == (ex.modality in ("image", "video"))
        assert r.family == ex.family and r.modality == ex.modality
    assert {ex.split for ex in examples} == {"train", "val", "test", "gen"}
    # an animated scene is not only for animation edits: "make the ball bigger" there too
    animated_other = [ex for ex in examples if ex.records[0].scene and ex.records[0].scene.animation.objects
                      and ex.family != "animation"]  # fmt: skip
    assert len(animated_other) > 40


# ---------------------------------------------------------------- held-out language
def test_held_out_kinds_only_in_gen_and_each_gen_example_of_its_kind(examples: list) -> None:
    gen = [ex for ex in examples if ex.split == "gen"]
    assert {ex.held_out for ex in gen} == set(heldout.GEN_KINDS)
    for ex in examples:
        r = ex.records[0]
        text = r.instruction.lower()
        primary = r.plan.suggestions[0].ops[0].op
        kinds = {
            "frame": ex.frame in HELD_OUT_FRAMES,
            "lexicon": held_word(text),
            "composition": (primary, ex.how) in heldout.HELD_OUT_COMPOSITIONS,
            "variant": f"{ex.family}:{ex.variant}" in heldout.HELD_OUT_VARIANTS,
        }
        if ex.split == "gen":
            assert kinds[ex.held_out], (ex.held_out, r.instruction)
        else:
            assert not any(kinds.values()), (kinds, r.instruction)
            assert not any(marker in text for marker in HELD_OUT_TEXT.values()), text


def test_language_is_varied(examples: list) -> None:
    texts = [ex.records[0].instruction for ex in examples]
    assert len(set(texts)) >= len(texts) - 2
    assert len({ex.frame for ex in examples}) >= 7
    assert len({ex.how for ex in examples}) >= 9  # name, kind, colour, mark, position, motion, ...
    assert any(t != t.lower() for t in texts) and any(t == t.lower() for t in texts)


# ---------------------------------------------------------------- golds computed from the scene
def _find(
    builder: Callable[[Context], Task | None], animated: bool | None = None, tries: int = 300
) -> tuple[Context, Task]:
    for seed in range(tries):
        rng = np.random.default_rng([21, seed])
        scene = build_scene(rng, animated=animated, min_animated=2 if animated else 0)
        ctx = Context(rng, scene, render.render_views(scene, 2, 48, [1]), 48)
        task = builder(ctx)
        if task is not None:
            return ctx, task
    raise AssertionError("no scene suited the task")


def _gold_ops(task: Task) -> list:
    return task.decide(task.targets, task.level, False).plan.suggestions[0].ops


def test_put_on_rests_the_object_on_the_support_top() -> None:
    for _ in range(3):
        ctx, task = _find(placement._put_on)
        scene = ctx.scene
        (op,) = _gold_ops(task)
        plan = task.decide(task.targets, task.level, False).plan
        support = next(o for o in scene.objects if plan.reasoning.endswith(f"onto {o.name}."))
        lo, hi = scene.group_bounds(op.targets[0])
        nlo, nhi = lo + op.vector, hi + op.vector
        top, ulo, uhi = placement._top(scene, support)
        assert nlo[2] == pytest.approx(top, abs=2e-3)
        c = (nlo[:2] + nhi[:2]) / 2 - support.location[:2]
        rz = -support.rotation_z
        local = np.array([math.cos(rz) * c[0] - math.sin(rz) * c[1], math.sin(rz) * c[0] + math.cos(rz) * c[1]])
        assert np.all(local >= ulo - 1e-3) and np.all(local <= uhi + 1e-3)


def test_next_to_leaves_a_gap_and_no_overlap() -> None:
    ctx, task = _find(placement._next_to)
    scene = ctx.scene
    (op,) = _gold_ops(task)
    plan = task.decide(task.targets, task.level, False).plan
    anchor = next(o.name for o in scene.objects if plan.reasoning.endswith(f"beside {o.name}."))
    lo, hi = scene.group_bounds(op.targets[0])
    nlo, nhi = lo + op.vector, hi + op.vector
    alo, ahi = scene.group_bounds(anchor)
    gaps = np.maximum(alo[:2] - nhi[:2], nlo[:2] - ahi[:2])  # per axis: > 0 where they are apart
    assert gaps.max() == pytest.approx(placement.GAP, abs=2e-3) and op.vector[2] == 0.0


def test_line_up_puts_them_on_one_line() -> None:
    ctx, task = _find(placement._line_up)
    scene = ctx.scene
    moved = {op.targets[0]: np.array(op.vector) for op in _gold_ops(task)}
    centres = [(np.add(*scene.group_bounds(t)) / 2) + moved.get(t, 0) for t in task.targets]
    axis = next(i for i in (0, 1) if any(abs(v[i]) > 0 for v in moved.values()))
    assert np.ptp([c[axis] for c in centres]) < 2e-3


def test_face_turns_the_front_toward_the_other() -> None:
    ctx, task = _find(placement._face)
    scene = ctx.scene
    (op,) = _gold_ops(task)
    plan = task.decide(task.targets, task.level, False).plan
    other = next(o.name for o in scene.objects if plan.reasoning.endswith(f"toward {o.name}."))
    obj = scene.get(op.targets[0])
    rz = obj.rotation_z + math.radians(op.degrees[2])
    front = np.array([math.sin(rz), -math.cos(rz)])  # local -Y in the world
    to = (np.add(*scene.group_bounds(other)) / 2 - np.add(*scene.group_bounds(obj.name)) / 2)[:2]
    assert float(front @ to / np.linalg.norm(to)) > math.cos(math.radians(1))


def test_drop_puts_it_on_the_floor_clear_of_its_support() -> None:
    ctx, task = _find(placement._drop)
    scene = ctx.scene
    (op,) = _gold_ops(task)
    lo, hi = scene.group_bounds(op.targets[0])
    nlo, nhi = lo + op.vector, hi + op.vector
    assert nlo[2] == pytest.approx(scene.bounds(scene.floor)[1][2], abs=2e-3)
    slo, shi = scene.group_bounds(scene.on[op.targets[0]])
    assert np.any(nlo[:2] > shi[:2]) or np.any(nhi[:2] < slo[:2])


def test_frame_places_the_camera_to_fit_the_subject() -> None:
    ctx, task = _find(lambda c: camera_family._subject_task(c, "frame"))
    scene = ctx.scene
    look, move = _gold_ops(task)
    assert look.op == "camera_look_at" and move.op == "move_camera" and move.mode == "absolute"
    lo, hi = scene.group_bounds(look.target)  # what must fit, children included
    centre, radius = np.add(*scene.bounds(look.target)) / 2, float(np.linalg.norm(hi - lo)) / 2  # aimed at its box
    d = float(np.linalg.norm(np.array(move.vector) - centre))
    fov = camera_family._fov(scene, move.camera)
    assert radius / d == pytest.approx(math.tan(fov / 2) * camera_family.FILL["exact"], rel=0.01)
    before = scene.camera_poses[move.camera][:3, 3] - centre
    assert float(before @ (np.array(move.vector) - centre)) / (np.linalg.norm(before) * d) > 0.999  # same line


def test_closer_on_moves_toward_the_subject_or_zooms() -> None:
    ctx, task = _find(lambda c: camera_family._subject_task(c, "closer_on"))
    scene = ctx.scene
    plan = task.decide(task.targets, task.level, False).plan
    (look, move), (look2, zoom) = (s.ops for s in plan.suggestions)
    eye = scene.camera_poses[move.camera][:3, 3]
    centre = np.add(*scene.bounds(look.target)) / 2  # where camera_look_at aims
    k = camera_family.TOWARD[task.level]
    assert np.allclose(eye + np.array(move.vector), eye + (centre - eye) * k, atol=1e-3)
    assert zoom.value == pytest.approx(scene.camera(move.camera).focal_length / (1 - k), rel=1e-3)


def test_a_rim_light_goes_behind_the_subject() -> None:
    ctx, task = _find(lambda c: lighting_family._add(c, "rim"))
    scene = ctx.scene
    (op,) = _gold_ops(task)
    centre, radius, top = lighting_family._centre_of(scene, task.targets[0] if task.targets else None)
    cam = scene.camera_poses[scene.main_camera][:3, 3]
    behind = (np.array(op.location[:2]) - centre[:2]) @ (centre[:2] - cam[:2])
    assert behind > 0 and op.location[2] > top and op.name not in scene.graph.object_names()


def test_hold_keys_the_last_value_later() -> None:
    def hold(ctx: Context) -> Task | None:
        animated = [n for n in ctx.scene.motions if ctx.visible(n)]
        return animation_family._hold_task(ctx, animated, "hold")

    ctx, task = _find(hold, animated=True)
    ops = _gold_ops(task)
    channel = animation_family._channel(ctx.scene, task.targets[0])
    last = channel.keyframes[-1]
    fps = ctx.scene.graph.animation.fps
    assert ops[0].op == "insert_keyframe" and ops[0].value == pytest.approx(last.value)
    assert ops[0].frame == pytest.approx(last.frame + fps * animation_family.HOLD[task.level], abs=1e-3)
    if ops[0].frame > ctx.scene.graph.animation.frame_end:
        assert ops[1].op == "set_frame_range" and ops[1].start + ops[1].length - 1 >= ops[0].frame


# ---------------------------------------------------------------- materials and references
def test_a_shared_material_is_not_edited_in_place() -> None:
    for seed in range(100):
        scene = build_scene(np.random.default_rng([8, seed]))
        shared = [o for o in scene.objects if o.materials[main_slot(o)] != NO_MATERIAL
                  and len(scene.users(o.materials[main_slot(o)])) > 1]  # fmt: skip
        alone = [o for o in scene.objects if o.materials[main_slot(o)] != NO_MATERIAL
                 and len(scene.users(o.materials[main_slot(o)])) == 1]  # fmt: skip
        if shared and alone:
            break
    ops, _ = material_edit(scene, [shared[0].name], {"color": [0.8, 0.05, 0.04]})
    assert [op["op"] for op in ops] == ["assign_material"] and ops[0]["targets"] == [shared[0].name]
    ops, _ = material_edit(scene, [alone[0].name], {"color": [0.8, 0.05, 0.04], "roughness": 0.2})
    assert [op["op"] for op in ops] == ["set_base_color", "set_roughness"]
    users = scene.users(shared[0].materials[main_slot(shared[0])])
    ops, _ = material_edit(scene, users, {"color": [0.1, 0.5, 0.1]})  # all its users: in place
    assert [op["op"] for op in ops] == ["set_base_color"]


def test_references_single_out_their_object() -> None:
    made = Counter()
    for seed in range(60):
        rng = np.random.default_rng([9, seed])
        scene = build_scene(rng)
        ctx = Context(rng, scene, render.render_views(scene, 2, 48, [1]), 48)
        pool = candidates(ctx)
        for obj in pool:
            ref = refer(ctx, obj.name, "rotate")  # no composition with "rotate" is held out
            if ref is None:
                continue
            made[ref.how] += 1
            if ref.how == "kind":
                word = ref.phrase.removeprefix("the ")
                assert [o.name for o in pool if fits(o, word)] == [obj.name]
            elif ref.how == "color_kind":
                colour, word = ref.phrase.removeprefix("the ").split(" ", 1)
                assert [o.name for o in pool if fits(o, word) and display_color(scene, o) == colour] == [obj.name]
            elif ref.how == "mark":
                assert str(obj.mark) in ref.phrase
            elif ref.how == "name":
                assert ref.phrase == obj.name and ref.protect == (obj.name,)
    assert {"name", "kind", "color_kind", "mark", "position"} <= set(made)


# ---------------------------------------------------------------- command line
def test_cli_writes_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d"
    assert main(["--n", "2", "--out", str(out), "--size", "32", "--views", "1", "--frames", "2", "--quiet"]) == 0
    assert "wrote 8 records" in capsys.readouterr().out
    assert main(["--n", "2", "--out", str(out), "--size", "32", "--quiet"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (
        main(["--n", "2", "--out", str(out), "--size", "32", "--views", "1", "--frames", "2", "--quiet", "--overwrite"])
        == 0
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "--n: must be in [1, 10000000], got 0"),
        (["--n", "ten"], "--n: expected an integer, got 'ten'"),
        (["--n", "1", "--size", "8"], "--size: must be in [32, 2048], got 8"),
        (["--n", "1", "--views", "10", "--frames", "10"], "views x frames = 100"),
        (["--n", "1", "--frames", "1"], "--frames: must be in [2, 96], got 1"),
    ],
)
def test_cli_rejects_bad_input_clearly(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x" / "train.jsonl").exists()


def test_export_and_stats_refuse_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import importlib.util

    from training.synth import export

    assert export.main(["--seeds", "-1", "--out", str(tmp_path / "s.json")]) == 2
    assert "non-negative" in capsys.readouterr().err
    assert export.main(["--seeds", "1", "--out", str(tmp_path / "missing" / "s.json")]) == 2
    assert "no folder" in capsys.readouterr().err
    assert export.main(["--seeds", "one", "--out", str(tmp_path / "s.json")]) == 2
    spec = importlib.util.spec_from_file_location("synth_stats", SAMPLE.parent.parent / "scripts" / "synth_stats.py")
    stats = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stats)
    assert stats.main([str(tmp_path / "nothing")]) == 2
    assert "not a dataset folder" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.jsonl").write_text('{"id": 1}\n')
    assert stats.main([str(tmp_path / "bad"), "--no-tokens"]) == 2
    assert "not a dataset of records" in capsys.readouterr().err
    assert stats.main([str(SAMPLE), "--no-tokens"]) == 1  # 14 examples call for 18 of the 33 ops: flagged


def test_cli_refuses_a_file_as_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--n", "1", "--out", str(f)]) == 2
    assert "is not a folder" in capsys.readouterr().err


# ---------------------------------------------------------------- the committed sample
def test_sample_dataset_is_valid_and_small() -> None:
    if not SAMPLE.exists():
        pytest.skip("examples/sample_dataset not generated")
    report = validate_dataset(SAMPLE)
    assert report.ok, report.errors[:5]
    assert sum(report.counts.values()) >= 24
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 3_000_000
    meta = json.loads((SAMPLE / "meta.json").read_text())
    assert meta["generator_version"] == "2.0"
