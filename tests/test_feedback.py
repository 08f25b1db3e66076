"""Feedback records: the score mapping, the files written, updates in place, atomic writes."""

from __future__ import annotations

import json
import os
import threading

import pytest
from PIL import Image

from evlm import feedback
from evlm.edits import validate_plan
from evlm.record import Record
from tests.conftest import jpeg_bytes, make_scene, png_bytes, views

PLAN = {
    "reasoning": "warmer light, softer shapes",
    "suggestions": [
        {"title": "Warm the lamp", "rationale": "evening light", "confidence": 0.8,
         "ops": [{"op": "set_light_color", "targets": ["Lamp"], "color": [1.0, 0.7, 0.4]}]},
        {"title": "Bevel the cube", "rationale": "softer", "confidence": 0.4,
         "ops": [{"op": "add_modifier", "targets": ["Cube"], "modifier": {"type": "BEVEL", "width": 0.05, "segments": 3}}]},
    ],
}  # fmt: skip


@pytest.fixture
def plan(scene):  # noqa: ANN001
    return validate_plan(PLAN, scene)


def save(folder, plan, **kw):  # noqa: ANN001, ANN201
    args = dict(request_id="abc123", instruction="make it cozier", scene=make_scene(), views=views(2),
                reasoning="think", plan=plan, index=0)  # fmt: skip
    return feedback.save_feedback(folder, **{**args, **kw})


@pytest.mark.parametrize(
    ("accepted", "rating", "answer", "reasoning"),
    [
        (True, None, 1.0, 0.75),
        (False, None, 0.0, 0.25),
        (None, 1, 0.0, 0.25),
        (None, 3, 0.5, 0.5),
        (None, 5, 1.0, 0.75),
        (True, 2, 0.25, 0.375),  # the rating, given after seeing the result, wins over Apply
        (False, 4, 0.75, 0.625),
    ],
)
def test_score_mapping(accepted, rating, answer, reasoning) -> None:  # noqa: ANN001
    s = feedback.feedback_scores(accepted, rating)
    assert (s.answer, s.reasoning) == (answer, reasoning)


@pytest.mark.parametrize("rating", [0, 6, 2.5, True, "5"])
def test_bad_rating_is_refused(rating) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="rating"):
        feedback.feedback_scores(None, rating)


def test_no_judgement_is_refused() -> None:
    with pytest.raises(ValueError, match="accepted"):
        feedback.feedback_scores(None, None)


def test_record_and_images_written(tmp_path, plan) -> None:  # noqa: ANN001
    rec = save(tmp_path, plan, index=1, rating=4)
    lines = (tmp_path / "feedback.jsonl").read_text().splitlines()
    assert len(lines) == 1
    back = Record.model_validate_json(lines[0])
    assert back == rec
    assert (back.source, back.family, back.variant, back.modality) == ("feedback", "feedback", "human", "4d")
    assert back.feedback.model_dump() == {"accepted": None, "rating": 4, "suggestion_index": 1}
    assert back.scores.answer == 0.75 and back.group == "abc123" and back.id == "feedback-abc123-1"
    # the answer is exactly the judged suggestion, with the plan's summary
    assert [s.title for s in back.plan.suggestions] == ["Bevel the cube"]
    assert back.plan.reasoning == PLAN["reasoning"] and back.reasoning == "think"
    assert [v.image for v in back.views] == ["images/abc123/view_0.png", "images/abc123/view_1.png"]
    for v in back.views:
        with Image.open(tmp_path / v.image) as im:
            assert im.size == (64, 48)
    assert back.scene == make_scene()


def test_apply_then_rate_updates_the_same_record(tmp_path, plan) -> None:  # noqa: ANN001
    save(tmp_path, plan, index=0, accepted=True)
    save(tmp_path, plan, index=1, accepted=False)
    save(tmp_path, plan, index=0, accepted=True, rating=2)
    records = feedback.read_records(tmp_path / "feedback.jsonl")
    assert [r.id for r in records] == ["feedback-abc123-0", "feedback-abc123-1"]  # order kept
    assert records[0].feedback.rating == 2 and records[0].feedback.accepted is True
    assert records[0].scores.answer == 0.25
    assert records[1].scores.answer == 0.0
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_other_requests_append(tmp_path, plan) -> None:  # noqa: ANN001
    save(tmp_path, plan, request_id="r1", accepted=True)
    save(tmp_path, plan, request_id="r2", rating=5, scene=None, views=views(1))
    r1, r2 = feedback.read_records(tmp_path / "feedback.jsonl")
    assert r2.modality == "image" and r2.scene is None
    assert (tmp_path / "images/r2/view_0.png").exists()


def test_jpeg_views_and_reference(tmp_path, plan) -> None:  # noqa: ANN001
    from evlm.scene import View

    rec = save(tmp_path, plan, views=[(View(width=40, height=30), jpeg_bytes())], reference=png_bytes(8, 8), rating=3)
    assert rec.views[0].image.endswith("view_0.jpg") and rec.reference == "images/abc123/reference.png"
    assert (tmp_path / rec.reference).read_bytes() == png_bytes(8, 8)


def test_torn_last_line_is_kept_apart(tmp_path, plan) -> None:  # noqa: ANN001
    # A crash mid-append left a partial line: the next record starts on a line of its own.
    (tmp_path / "feedback.jsonl").write_text('{"id": "x", "trunc')
    save(tmp_path, plan, accepted=True)
    lines = (tmp_path / "feedback.jsonl").read_text().splitlines()
    assert lines[0] == '{"id": "x", "trunc' and Record.model_validate_json(lines[1]).id == "feedback-abc123-0"


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"request_id": "../evil"}, ValueError),
        ({"request_id": ""}, ValueError),
        ({"index": 2}, IndexError),
        ({"index": -1}, IndexError),
        ({"views": []}, ValueError),
        ({"plan": PLAN}, TypeError),
        ({"instruction": ""}, ValueError),  # the record's own validation
    ],
)
def test_bad_input_is_refused_and_nothing_written(tmp_path, plan, kw, error) -> None:  # noqa: ANN001
    with pytest.raises(error):
        save(tmp_path, plan, accepted=True, **kw)
    assert not (tmp_path / "feedback.jsonl").exists()


def test_bad_image_is_refused(tmp_path, plan) -> None:  # noqa: ANN001
    from evlm.scene import View

    with pytest.raises(ValueError, match="PNG or JPEG"):
        save(tmp_path, plan, views=[(View(width=4, height=4), b"GIF89a....")], accepted=True)


def test_failed_rewrite_leaves_the_file_whole(tmp_path, plan, monkeypatch) -> None:  # noqa: ANN001
    save(tmp_path, plan, accepted=True)
    before = (tmp_path / "feedback.jsonl").read_bytes()

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("disk full")

    monkeypatch.setattr(feedback.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save(tmp_path, plan, accepted=True, rating=1)
    assert (tmp_path / "feedback.jsonl").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_writers_lose_nothing(tmp_path, plan) -> None:  # noqa: ANN001
    # Appends of new records and rewrites of existing ones from several threads, as two
    # Blender sessions writing to one folder would: every record ends whole and present once.
    errors = []

    def work(t: int) -> None:
        try:
            for i in range(10):
                save(tmp_path, plan, request_id=f"t{t}r{i}", accepted=True)
                save(tmp_path, plan, request_id=f"t{t}r{i}", accepted=True, rating=1 + i % 5)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    records = feedback.read_records(tmp_path / "feedback.jsonl")
    assert sorted(r.id for r in records) == sorted(f"feedback-t{t}r{i}-0" for t in range(4) for i in range(10))
    assert all(r.feedback.rating == 1 + int(r.id.split("r")[-1].split("-")[0]) % 5 for r in records)
    assert all(json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text().splitlines())
    assert os.listdir(tmp_path / "images")
