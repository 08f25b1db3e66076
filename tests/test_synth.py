"""The synthetic generator (evlm-synth): determinism, valid plans, marks on the pictures, graded
scores, coverage of families and modalities, held-out phrasings, the folder format, the CLI."""

from __future__ import annotations

import colorsys
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from evlm.edits import EditPlan, parse_plan, validate_plan
from evlm.record import Record
from training.data.validate import validate_dataset
from training.synth import render
from training.synth.cli import main
from training.synth.families import FAMILIES, HELD_OUT_VARIANTS, MODALITIES
from training.synth.generate import Config, generate, make_example
from training.synth.language import HELD_OUT_FRAMES, HELD_OUT_TEXT
from training.synth.scenes import build_scene
from training.synth.scoring import plan_similarity, score

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample_dataset"
TINY = {"views": 2, "size": 48, "frames": 2}


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
    """Many examples in memory (tiny renders): enough to see every family and modality."""
    cfg = Config(n=1, out=Path("unused"), seed=11, views=1, size=32, frames=2)
    return [make_example(cfg, i) for i in range(160)]


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
    assert meta["held_out"]["variants"] == list(HELD_OUT_VARIANTS)
    assert sorted(meta["held_out"]["frames"]) == sorted(HELD_OUT_FRAMES)
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


# ---------------------------------------------------------------- pictures and marks
def test_marks_sit_on_their_objects_in_the_renders() -> None:
    """At each mark's centre the clean render shows that object: not the background, and (for a
    coloured object) its own hue."""
    checked = 0
    for seed in range(4):
        scene = build_scene(np.random.default_rng([99, seed]))
        shots = render.render_views(scene, 3, 96, [1])
        bg = np.round(render.srgb(scene.graph.world.color) * 255)
        for shot in shots[0]:
            assert shot.view.marks, "every view shows some object"
            for mark in shot.view.marks:
                x, y = int(mark.center[0] * 96), int(mark.center[1] * 96)
                x0, y0, x1, y1 = mark.box
                assert x0 <= mark.center[0] <= x1 and y0 <= mark.center[1] <= y1
                pixel = shot.image[y, x].astype(float)
                assert np.abs(pixel - bg).max() > 12, (mark, pixel, bg)
                base = scene.main_material(mark.object).base_color[:3]
                h0, s0, _ = colorsys.rgb_to_hsv(*render.srgb(base))
                h1, s1, v1 = colorsys.rgb_to_hsv(*(pixel / 255))
                if s0 > 0.5 and s1 > 0.25 and v1 > 0.15:
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


# ---------------------------------------------------------------- coverage and held-out language
def test_every_family_and_modality_appears(examples: list) -> None:
    assert {ex.family for ex in examples} == set(FAMILIES)
    assert {ex.modality for ex in examples} == set(MODALITIES)
    by_modality = defaultdict(set)
    for ex in examples:
        r = ex.records[0]
        by_modality[ex.modality].add(r.scene is None)
        assert r.family == ex.family and r.modality == ex.modality
    assert by_modality["image"] == by_modality["video"] == {True} and by_modality["3d"] == by_modality["4d"] == {False}
    assert {ex.split for ex in examples} == {"train", "val", "test", "gen"}


def test_held_out_phrasings_and_variants_only_in_gen(examples: list) -> None:
    held = [ex for ex in examples if ex.frame in HELD_OUT_FRAMES or f"{ex.family}:{ex.variant}" in HELD_OUT_VARIANTS]
    assert held and all(ex.split == "gen" for ex in held)
    gen = [ex for ex in examples if ex.split == "gen"]
    assert gen and all(ex in held for ex in gen)
    assert {ex.frame for ex in gen} & set(HELD_OUT_FRAMES) and any(ex.variant == "dramatic" for ex in gen)
    for ex in examples:
        if ex.split != "gen":
            text = ex.records[0].instruction.lower()
            assert not any(marker in text for marker in HELD_OUT_TEXT.values()), text


def test_language_is_varied(examples: list) -> None:
    texts = [ex.records[0].instruction for ex in examples]
    assert len(set(texts)) == len(texts)
    assert len({ex.frame for ex in examples}) >= 6
    assert any(t != t.lower() for t in texts) and any(t == t.lower() for t in texts)


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
