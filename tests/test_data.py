"""Training data: record validation, loading, the prompt/target format and the collator.

`write_dataset` builds a small dataset folder by hand (tiny PNG/JPEG views, the conftest scene),
shared with test_eval.py.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from evlm.edits import validate_plan
from evlm.record import Record
from tests.conftest import make_scene
from training.data import validate as V
from training.data.format import (
    answer_text,
    check_answer,
    format_number,
    max_suggestions_for,
    plan_grammar,
    prompt_messages,
    reasoning_text,
    target_text,
    unwritable_strings,
)
from training.data.loader import DatasetError, as_hf_dataset, load_dataset_dir, record_from_row

VIEW_W, VIEW_H = 32, 24


def _view(label: str, frame: int = 1, marks: bool = True) -> dict:
    view = {"label": label, "width": VIEW_W, "height": VIEW_H, "frame": frame}
    if marks:
        view["marks"] = [{"index": 1, "object": "Cube", "center": [0.5, 0.5]}]
    return view


def _suggestion(title: str, ops: list[dict], confidence: float = 0.8) -> dict:
    return {"title": title, "rationale": f"{title}.", "confidence": confidence, "ops": ops}


def make_records() -> list[dict]:
    """Hand-made records: every split, four families, three modalities, two variants of one group."""
    scene = make_scene().model_dump(mode="json")
    bigger = {"op": "scale", "targets": ["Cube"], "factor": [1.2, 1.2, 1.2], "mode": "relative"}
    warm = {"op": "set_light_color", "targets": ["Lamp"], "color": [1.0, 0.8, 0.6]}
    dim = {"op": "set_light_energy", "targets": ["Lamp"], "value": 0.7, "mode": "multiply"}
    heavy = {"op": "retime", "targets": ["Cube"], "factor": 1.5, "pivot_frame": 1.0}
    ease = {"op": "set_interpolation", "targets": ["Cube"], "interpolation": "BEZIER", "easing": "EASE_IN"}
    lighter = {"op": "set_base_color", "targets": ["chair_02"], "color": [0.9, 0.85, 0.8]}
    sky = {
        "op": "generative_edit", "modality": "image", "prompt": "a warm sunset sky", "strength": 0.7,
        "mask": {"objects": [], "regions": [{"view": 0, "box": [0.0, 0.0, 1.0, 0.4]}]},
    }  # fmt: skip

    def rec(id_, split, family, modality, instruction, reasoning, suggestions, **kw) -> dict:
        r = {
            "id": id_, "split": split, "modality": modality, "family": family, "instruction": instruction,
            "scene": scene, "views": [{"image": f"images/{id_}_0.png", "view": _view("orbit 0")}],
            "reasoning": reasoning, "plan": {"reasoning": reasoning[:100], "suggestions": suggestions},
            "scores": {"reasoning": 1.0, "answer": 1.0},
        }  # fmt: skip
        r.update(kw)
        return r

    return [
        rec("t1", "train", "vague_degree", "3d", "make the cube a bit bigger",
            "The user wants the Cube larger. A bit: scale it up by 20 percent.",
            [_suggestion("Bigger cube", [bigger])], group="g1"),
        rec("t2", "train", "vague_degree", "3d", "make the cube a bit bigger",
            "The user wants the Cube larger. Scale chair_02 instead.",
            [_suggestion("Bigger chair", [{**bigger, "targets": ["chair_02"]}])],
            group="g1", variant="wrong_target", scores={"reasoning": 0.3, "answer": 0.0}),
        rec("v1", "val", "mood_style", "3d", "cozier please",
            "Cozy means warm, dim light: make the Lamp color warm and dim its energy.",
            [_suggestion("Warm lamp", [warm, dim])]),
        rec("e1", "test", "mood_style", "3d", "make it cozier",
            "Cozier: a warm tint on the Lamp, and dim it a little.",
            [_suggestion("Warm, dim lamp", [warm, dim]), _suggestion("Warm lamp", [warm], 0.5)]),
        rec("e2", "test", "polysemy", "3d", "make the chair lighter",
            "Lighter could mean weight or color; in a render it is the color: brighten chair_02's base color.",
            [_suggestion("Lighter chair", [lighter])],
            views=[{"image": "images/e2_0.jpg", "view": _view("orbit 0")},
                   {"image": "images/e2_1.png", "view": _view("orbit 1")}],
            reference="images/ref.png"),
        rec("e3", "test", "generative", "image", "make the sky a sunset",
            "Plain image: hand off a generative edit of the sky region with a sunset prompt.",
            [_suggestion("Sunset sky", [sky])], scene=None,
            views=[{"image": "images/e3_0.png", "view": _view("photo", marks=False)}]),
        rec("g1", "gen", "animation", "4d", "the bounce should feel heavier",
            "Heavier: slower timing on the Cube, retime by 1.5, and ease in at the keys.",
            [_suggestion("Heavier bounce", [heavy, ease])],
            views=[{"image": "images/g1_0.png", "view": _view("orbit 0", frame=1)},
                   {"image": "images/g1_1.png", "view": _view("orbit 0", frame=24)}]),
    ]  # fmt: skip


def write_images(root: Path, records: list[dict]) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    paths = [v["image"] for r in records for v in r["views"]] + [r["reference"] for r in records if r.get("reference")]
    for i, rel in enumerate(paths):
        img = Image.new("RGB", (VIEW_W, VIEW_H), (40 * i % 255, 90, 200))
        buf = io.BytesIO()
        img.save(buf, "JPEG" if rel.endswith(".jpg") else "PNG")
        (root / rel).write_bytes(buf.getvalue())


def write_dataset(root: Path, records: list[dict] | None = None) -> Path:
    """A dataset folder: {split}.jsonl, images/, meta.json, pairs.jsonl."""
    records = make_records() if records is None else records
    root.mkdir(parents=True, exist_ok=True)
    write_images(root, records)
    for split in V.SPLITS:
        lines = [json.dumps(r) for r in records if r.get("split", "train") == split]
        if lines:
            (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    (root / "meta.json").write_text(json.dumps({"generator": "hand-made"}))
    (root / "pairs.jsonl").write_text(json.dumps({"chosen": "t1", "rejected": "t2"}) + "\n")
    return root


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "ds")


# ---------------------------------------------------------------- validation
def test_hand_made_dataset_is_valid(dataset):
    report = V.validate_dataset(dataset)
    assert report.errors == []
    assert report.counts == {"train": 2, "val": 1, "test": 3, "gen": 1}
    assert V.main([str(dataset)]) == 0


def _errors_for(tmp_path, mutate) -> list[str]:
    """Validate a dataset whose test record e1 went through `mutate` after the images were written."""
    root = write_dataset(tmp_path / "bad")
    records = [r for r in make_records() if r["split"] == "test"]
    mutate(records[0])
    (root / "test.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return V.validate_dataset(root).errors


def _ops(r: dict) -> list[dict]:
    return r["plan"]["suggestions"][0]["ops"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: _ops(r)[0].update(targets=["Ghost"]),
            "test.jsonl:1: plan.suggestions.0.ops.0.targets.0: set_light_color: light 'Ghost' is not in the scene",
        ),
        (lambda r: _ops(r)[1].update(value=-1.0), "test.jsonl:1: plan.suggestions.0.ops.1.value: Input should be"),
        (lambda r: _ops(r)[0].update(op="explode"), "test.jsonl:1: plan.suggestions.0.ops.0: Input tag 'explode'"),
        (
            lambda r: _ops(r).append(
                {"op": "add_modifier", "targets": ["Cube"], "modifier": {"type": "BEVEL", "width": 20}}
            ),
            "test.jsonl:1: plan.suggestions.0.ops.2.modifier.width: Input should be less than or equal to 10",
        ),
        (lambda r: r["scores"].update(answer=1.5), "test.jsonl:1: scores.answer: Input should be less than"),
        (lambda r: r.pop("instruction"), "test.jsonl:1: instruction: Field required"),
        (lambda r: r.update(colour="red"), "test.jsonl:1: colour: Extra inputs are not permitted"),
        (
            lambda r: r["plan"]["suggestions"][0].update(title='say "hi"'),
            "test.jsonl:1: plan.suggestions.0.title: contains '\"', which the engine's grammar cannot write",
        ),
        (
            lambda r: r["views"][0].update(image="images/missing.png"),
            "test.jsonl:1: views.0.image: 'images/missing.png': no such file",
        ),
        (
            lambda r: r["views"][0].update(image="../outside.png"),
            "test.jsonl:1: views.0.image: '../outside.png': image paths are relative to the dataset folder",
        ),
        (
            lambda r: r["views"][0]["view"].update(width=64),
            "test.jsonl:1: views.0.image: 'images/e1_0.png': image is 32x24 but its view says 64x24",
        ),
        (lambda r: r.update(modality="image"), "test.jsonl:1: modality: 'image' is for requests without a scene graph"),
        (lambda r: r.update(scene=None), "test.jsonl:1: scene: a 3d record needs a scene graph"),
        (lambda r: r.update(split="train"), "test.jsonl:1: split: 'train' in the test file"),
        (lambda r: r.update(id="t1"), "test.jsonl:1: id: 't1' is already used at train.jsonl:1"),
        (
            lambda r: r["views"][0]["view"]["marks"][0].update(object="Ghost"),
            "test.jsonl:1: views.0.view.marks.0.object: object 'Ghost' is not in the scene",
        ),
    ],
)
def test_bad_records_are_rejected_naming_the_field(tmp_path, mutate, expected):
    errors = _errors_for(tmp_path, mutate)
    assert any(e.startswith(expected) for e in errors), errors


def test_bad_files_and_view_counts(tmp_path):
    root = write_dataset(tmp_path / "ds")
    (root / "images" / "e1_0.png").write_bytes(b"GIF89a not an image")
    lines = (root / "test.jsonl").read_text().splitlines()
    image_rec = json.loads(lines[2])  # e3: a plain image request
    image_rec["views"].append(image_rec["views"][0])
    image_rec["plan"]["suggestions"][0]["ops"][0]["mask"]["regions"][0]["view"] = 5
    lines[2] = json.dumps(image_rec)
    (root / "test.jsonl").write_text("\n".join([*lines, "{not json"]) + "\n")
    errors = V.validate_dataset(root).errors
    assert "test.jsonl:1: views.0.image: 'images/e1_0.png': not a PNG or JPEG file" in errors
    assert "test.jsonl:3: views: an image record has exactly 1 view, got 2" in errors
    assert (
        "test.jsonl:3: plan.suggestions.0.ops.0.mask.regions.0.view: view 5 does not exist (the record has 2 views)"
        in errors
    )
    assert any(e.startswith("test.jsonl:4: invalid JSON") for e in errors)
    assert V.main([str(root)]) == 1
    # Without image checks the broken file goes unnoticed, the rest does not.
    assert not any("e1_0.png" in e for e in V.validate_dataset(root, check_images=False).errors)


def test_check_record_raises_the_first_problem():
    record = make_records()[3]
    assert V.check_record(record).id == "e1"
    _ops(record)[0]["targets"] = ["Ghost"]
    with pytest.raises(V.RecordError) as e:
        V.check_record(json.dumps(record))
    assert e.value.field == "plan.suggestions.0.ops.0.targets.0"
    assert "'Ghost' is not in the scene" in e.value.message


# ---------------------------------------------------------------- loading
def test_load_dataset_dir(dataset):
    data = load_dataset_dir(dataset)
    assert list(data.splits) == ["train", "val", "test", "gen"]
    assert [r.id for r in data.records("test")] == ["e1", "e2", "e3"]
    assert data.meta == {"generator": "hand-made"} and data.pairs == [{"chosen": "t1", "rejected": "t2"}]
    e2 = data["test"][1]
    images, refs = e2.images(), e2.references()
    assert [im.size for im in images] == [(VIEW_W, VIEW_H)] * 2 and all(im.mode == "RGB" for im in images)
    assert len(refs) == 1 and e2.reference_path == dataset / "images" / "ref.png"
    with pytest.raises(KeyError, match="no 'train' split"):
        load_dataset_dir(dataset, ["test"])["train"]
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_dataset_dir(dataset, ["dev"])
    with pytest.raises(FileNotFoundError):
        load_dataset_dir(dataset / "nope")


def test_load_fails_at_the_bad_line(dataset):
    good = (dataset / "test.jsonl").read_text()
    lines = good.splitlines()
    bad = json.loads(lines[1])
    _ops(bad)[0]["targets"] = ["Ghost"]
    (dataset / "test.jsonl").write_text("\n".join([lines[0], json.dumps(bad)]) + "\n")
    with pytest.raises(DatasetError, match=r"^test\.jsonl:2: plan\.suggestions\.0\.ops\.0\.targets\.0: .*'Ghost'"):
        load_dataset_dir(dataset)
    (dataset / "test.jsonl").write_text(good)
    (dataset / "images" / "e1_0.png").write_bytes(b"truncated")
    example = load_dataset_dir(dataset, ["test"])["test"][0]  # loads: images open only when asked for
    with pytest.raises(DatasetError, match="e1_0.png: cannot decode image"):
        example.images()


def test_as_hf_dataset_default_cache_leaves_the_folder_alone(dataset, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    before = sorted(p.name for p in dataset.rglob("*"))
    assert as_hf_dataset(dataset, ["val"])["val"][0]["id"] == "v1"
    assert sorted(p.name for p in dataset.rglob("*")) == before
    assert (tmp_path / "hf" / "evlm").is_dir()


def test_as_hf_dataset_loads(dataset, tmp_path):
    dd = as_hf_dataset(dataset, cache_dir=tmp_path / "cache")
    assert set(dd) == {"train", "val", "test", "gen"}
    assert dd["test"].num_rows == 3 and dd["train"].num_rows == 2
    row = dd["test"][1]
    assert row["id"] == "e2" and row["family"] == "polysemy" and row["score_answer"] == 1.0
    assert row["images"] == [str((dataset / "images" / n).resolve()) for n in ("e2_0.jpg", "e2_1.png")]
    assert row["reference"] == str((dataset / "images" / "ref.png").resolve())
    original = load_dataset_dir(dataset).records("test")[1]
    assert record_from_row(row) == original
    assert dd["train"][1]["variant"] == "wrong_target" and dd["test"][2]["group"] is None


# ---------------------------------------------------------------- format
def test_numbers_are_written_as_the_grammar_writes_them():
    assert [format_number(x) for x in (1.0, 0.5, -0.0, 1e-7, 2e-5, 0.1 + 0.2, 1000.0, -3.25, 123456.7)] == [
        "1.0", "0.5", "0.0", "0.0", "0.00002", "0.3", "1000.0", "-3.25", "123456.7",
    ]  # fmt: skip


def test_answer_text_is_the_plan_in_schema_order():
    record = Record.model_validate(make_records()[6])
    text = answer_text(record.plan)
    assert text.startswith('{"reasoning": "Heavier: slower timing')
    assert '"ops": [{"op": "retime", "targets": ["Cube"], "factor": 1.5, "pivot_frame": 1.0}, ' in text
    assert '"interpolation": "BEZIER", "easing": "EASE_IN"}]}]}' in text
    assert validate_plan(text, record.scene) == record.plan
    assert target_text(record) == reasoning_text(record.reasoning) + text
    assert reasoning_text("  think.\n") == "think.\n</think>\n"


def test_unwritable_strings_are_reported():
    data = make_records()[0]
    data["plan"]["suggestions"][0]["rationale"] = "line\nbreak"
    record = Record.model_validate(data)
    assert unwritable_strings(record.plan) == [
        ("suggestions.0.rationale", "contains '\\n', which the engine's grammar cannot write (no escapes)")
    ]
    with pytest.raises(ValueError, match="suggestions.0.rationale"):
        answer_text(record.plan)


def test_prompt_is_the_engines_prompt():
    from evlm_server.engine.prompt import NO_SCENE_NOTE

    records = [Record.model_validate(r) for r in make_records()]
    e2, e3 = records[4], records[5]
    user = prompt_messages(e2)[1]["content"]
    assert sum(part["type"] == "image" for part in user) == 3  # two views, one reference
    assert user[-1]["text"].endswith("Instruction: make the chair lighter\nGive at most 3 suggestions.")
    assert any(NO_SCENE_NOTE in part.get("text", "") for part in prompt_messages(e3)[1]["content"])
    five = copy.deepcopy(make_records()[3])
    five["plan"]["suggestions"] *= 2
    assert max_suggestions_for(Record.model_validate(five)) == 4


# ---------------------------------------------------------------- grammar and collator (tiny checkpoint)
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from training.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck")


@pytest.fixture(scope="module")
def processor(checkpoint):
    from evlm_server.engine.hf import load_processor

    return load_processor(checkpoint)


def test_target_answers_pass_the_engines_grammar(processor):
    grammar = plan_grammar(processor)
    for data in make_records():
        record = Record.model_validate(data)
        n = check_answer(answer_text(record.plan), record.scene, max_suggestions_for(record), grammar)
        assert n > 10
    record = Record.model_validate(make_records()[3])
    text = answer_text(record.plan)
    with pytest.raises(ValueError, match="grammar rejects"):  # free whitespace is not the grammar's JSON
        check_answer(json.dumps(json.loads(text), indent=1), record.scene, 3, grammar)
    with pytest.raises(ValueError, match="grammar rejects"):  # a second suggestion over a max of 1
        check_answer(text, record.scene, 1, grammar)
    with pytest.raises(ValueError, match="not complete"):
        check_answer(text[:-2], record.scene, 3, grammar)


def test_validate_cli_checks_the_grammar(dataset, checkpoint, processor, capsys):
    assert V.main([str(dataset), "--grammar", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "tokens: max_reasoning: " in out and "over_768_answer: 0" in out
    report = V.validate_dataset(dataset)
    report.records[0].plan.suggestions[0].ops[0].targets[0] = "Ghost"  # past pydantic: only the grammar sees it
    V.check_grammar(report, processor)
    assert report.errors and report.errors[0].startswith("train.jsonl:1: plan: grammar rejects token")


def test_collator_masks_exactly_the_prompt_and_image_tokens(processor, dataset):
    from training.data.collate import IGNORE_INDEX, Collator, model_inputs

    data = load_dataset_dir(dataset)
    examples = [data["test"][1], data["train"][0]]  # 2 views + reference; 1 view
    batch = Collator(processor)(examples)
    tok = processor.tokenizer
    ids, labels, seg, mask = batch["input_ids"], batch["labels"], batch["segment_ids"], batch["attention_mask"]
    assert ids.shape == labels.shape == seg.shape == mask.shape == batch["mm_token_type_ids"].shape
    assert batch["image_grid_thw"].shape == (4, 3)  # 3 + 1 images, in order
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(dim=1).sum())
    assert batch["ids"] == ["e2", "t1"] and batch["scores"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    image_id = processor.image_token_id
    for i, ex in enumerate(examples):
        record = ex.record
        n = int(mask[i].sum())
        reasoning = tok.encode(reasoning_text(record.reasoning), add_special_tokens=False)
        answer = tok.encode(answer_text(record.plan), add_special_tokens=False) + [
            tok.convert_tokens_to_ids("<|im_end|>")
        ]
        n_prompt = n - len(reasoning) - len(answer)
        # Labels: exactly the reasoning and answer tokens; the prompt, every image token and the padding are masked.
        assert labels[i, :n_prompt].eq(IGNORE_INDEX).all() and labels[i, n:].eq(IGNORE_INDEX).all()
        assert labels[i, n_prompt:n].tolist() == reasoning + answer
        assert seg[i, :n].tolist() == [0] * n_prompt + [1] * len(reasoning) + [2] * len(answer)
        assert seg[i, n:].eq(0).all() and mask[i, n:].eq(0).all()
        assert ids[i, :n_prompt].eq(image_id).sum() == int(batch["mm_token_type_ids"][i].sum()) > 0
        assert not labels[i].eq(image_id).any()
        prompt = tok.decode(ids[i, :n_prompt])
        assert prompt.endswith("Give at most 3 suggestions.<|im_end|>\n<|im_start|>assistant\n<think>\n")
        assert tok.decode(labels[i, n_prompt:n]).endswith("</think>\n" + answer_text(record.plan) + "<|im_end|>")
    assert set(model_inputs(batch)) == {
        "input_ids",
        "attention_mask",
        "mm_token_type_ids",
        "pixel_values",
        "image_grid_thw",
        "labels",
    }
    with pytest.raises(ValueError, match="over max_length 50"):
        Collator(processor, max_length=50)(examples)


def test_collator_takes_hf_rows_like_examples(processor, dataset, tmp_path):
    from training.data.collate import Collator

    collator = Collator(processor)
    rows = as_hf_dataset(dataset, ["test"], cache_dir=tmp_path / "cache")["test"]
    examples = load_dataset_dir(dataset, ["test"])["test"]
    a, b = collator([rows[1], rows[2]]), collator(examples[1:3])
    for key in ("input_ids", "labels", "segment_ids", "pixel_values", "image_grid_thw"):
        assert a[key].equal(b[key]), key


# One op of each of the 33 types (modifier settings of two kinds, unicode text, ints in float fields).
EVERY_OP = [
    {"op": "translate", "targets": ["Cube"], "vector": [0.1, -2, 3.333333]},
    {"op": "rotate", "targets": ["Cube"], "degrees": [0, 90, -45.5], "mode": "absolute", "space": "local"},
    {"op": "scale", "targets": ["Cube", "chair_02"], "factor": [2, 2, 2]},
    {"op": "set_base_color", "targets": ["Cube"], "color": [0.1, 0.2, 0.3], "slot": 1},
    {"op": "set_roughness", "targets": ["Cube"], "value": 0.9},
    {"op": "set_metallic", "targets": ["Cube"], "value": 1},
    {"op": "set_emission", "targets": ["Cube"], "color": [1, 0.5, 0], "strength": 12.5},
    {"op": "set_alpha", "targets": ["Cube"], "value": 0.25},
    {"op": "assign_material", "targets": ["chair_02"], "name": "Oak wood", "base_color": [0.4, 0.2, 0.1]},
    {"op": "set_light_color", "targets": ["Lamp"], "color": [1, 0.9, 0.8]},
    {"op": "set_light_energy", "targets": ["Lamp"], "value": 1500, "mode": "absolute"},
    {"op": "set_light_type", "targets": ["Lamp"], "type": "SPOT"},
    {"op": "add_light", "name": "Fill", "type": "AREA", "location": [1, 2, 3]},
    {"op": "set_world_color", "color": [0.05, 0.05, 0.1]},
    {"op": "set_world_strength", "value": 0.5},
    {"op": "set_focal_length", "camera": "Camera", "value": 85},
    {"op": "move_camera", "camera": "Camera", "vector": [0, -1, 0]},
    {"op": "camera_look_at", "camera": "Camera", "target": "chair_02"},
    {"op": "set_visibility", "targets": ["chair_02"], "visible": False},
    {"op": "duplicate", "targets": ["chair_02"], "offset": [1, 0, 0]},
    {"op": "delete", "targets": ["chair_02"]},
    {"op": "set_shading", "targets": ["Cube"], "smooth": True},
    {"op": "add_modifier", "targets": ["Cube"], "modifier": {"type": "MIRROR", "axes": [True, False, True]}},
    {"op": "add_modifier", "targets": ["Cube"], "modifier": {"type": "ARRAY", "count": 3}},
    {
        "op": "adjust_modifier",
        "targets": ["Cube"],
        "name": "Bevel",
        "modifier": {"type": "BEVEL", "width": 0.05, "segments": 3},
    },
    {"op": "remove_modifier", "targets": ["Cube"], "name": "Bevel"},
    {"op": "retime", "targets": ["Cube"], "factor": 0.5, "pivot_frame": 12},
    {"op": "shift_keys", "targets": ["Cube"], "frames": -6},
    {"op": "scale_amplitude", "targets": ["Cube"], "channel": "location", "index": 2, "factor": 1.5},
    {"op": "set_interpolation", "targets": ["Cube"], "interpolation": "LINEAR"},
    {"op": "insert_keyframe", "target": "Cube", "channel": "rotation_euler", "index": 0, "frame": 10, "value": 0.5},
    {"op": "delete_keyframe", "target": "Cube", "channel": "location", "index": -1, "frame": 24},
    {"op": "set_frame_range", "start": 1, "length": 120, "fps": 30},
    {
        "op": "generative_edit",
        "modality": "3d",
        "prompt": "ünïcode café ☕",
        "mask": {"objects": ["Cube"], "regions": [{"view": 0, "box": [0.1, 0.1, 0.5, 0.5]}]},
    },
]


def test_every_op_type_passes_the_engines_grammar(processor):
    from evlm.edits import OPS

    assert {o["op"] for o in EVERY_OP} == set(OPS)
    grammar, scene = plan_grammar(processor), make_scene()
    for i in range(0, len(EVERY_OP), 8):
        suggestion = {"title": "t", "rationale": "", "confidence": 0.5, "ops": EVERY_OP[i : i + 8]}
        plan = validate_plan({"reasoning": "r", "suggestions": [suggestion]}, scene)
        text = answer_text(plan)
        assert check_answer(text, scene, 3, grammar) > 100
        assert validate_plan(text, scene) == plan
