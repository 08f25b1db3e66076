"""evlm-batch: mesh scenes as scene graphs, edits on mesh files, instruction files, results and
resume, and whole batches against real servers (a scripted engine in a thread; the tiny random
checkpoint in a subprocess, with .blend files through real Blender when .venv-blender exists)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

from evlm.edits import OP_CLASSES, EditPlan, parse_plan, validate_plan
from evlm.protocol import Limits
from evlm_batch import cli
from evlm_batch.blend_worker import ANIMATION_OPS
from evlm_batch.contact import LABEL_W, LINE_H, PAD, caption_font, contact_sheet, drawable, wrap_lines
from evlm_batch.jobs import BatchInputError, build_jobs, discover_scenes, parse_instructions
from evlm_batch.mesh_scene import (
    MeshSceneError,
    apply_ops,
    export_bytes,
    load_bytes,
    load_mesh_scene,
    scene_graph,
)
from evlm_batch.records import JobRecord
from evlm_batch.results import ResultsLog, read_results
from evlm_server.engine.base import Cancelled, EngineResult
from evlm_server.engine.null import NullEngine

from .server_process import server_process

ROOT = Path(__file__).resolve().parent.parent
BLENDER_PYTHON = ROOT / ".venv-blender" / "bin" / "python"
SAMPLE_BLEND = ROOT / "examples" / "sample_scene" / "scene.blend"
T = trimesh.transformations


# ---------------------------------------------------------------- scene files
def _pbr(name: str, rgb: tuple[int, int, int]) -> TextureVisuals:
    return TextureVisuals(material=PBRMaterial(name=name, baseColorFactor=[*rgb, 255], roughnessFactor=0.5))


def room_scene() -> trimesh.Scene:
    """glTF (y-up): a floor, a red crate at x=1 standing on it, a blue ball 1 m above the crate (its child)."""
    s = trimesh.Scene()
    floor = trimesh.creation.box(extents=[4, 0.1, 4])
    crate = trimesh.creation.box(extents=[1, 1, 1])
    crate.visual = _pbr("Red", (204, 25, 25))
    ball = trimesh.creation.icosphere(subdivisions=1, radius=0.3)
    ball.visual = _pbr("Blue", (25, 25, 204))
    s.add_geometry(floor, node_name="floor", geom_name="floor_mesh", transform=T.translation_matrix([0, -0.05, 0]))
    s.add_geometry(crate, node_name="crate", geom_name="crate_mesh", transform=T.translation_matrix([1, 0.5, 0]))
    s.add_geometry(ball, node_name="ball", geom_name="ball_mesh", parent_node_name="crate",
                   transform=T.translation_matrix([0, 1, 0]))  # fmt: skip
    return s


def write_room(path: Path) -> Path:
    path.write_bytes(room_scene().export(file_type="glb"))
    return path


def write_shelf_obj(path: Path) -> Path:
    s = trimesh.Scene()
    board = trimesh.creation.box(extents=[2, 0.1, 0.5])
    board.visual = _pbr("Oak", (150, 100, 50))
    s.add_geometry(board, node_name="board", geom_name="board")
    path.write_text(s.export(file_type="obj"))
    return path


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def lines(out: Path) -> list[dict]:
    """The records of results.jsonl; a torn line left by a crash is skipped (as resume does)."""
    out_lines = []
    for text in (out / "results.jsonl").read_text().splitlines():
        try:
            out_lines.append(json.loads(text))
        except ValueError:
            assert text == '{"key": "torn', text  # only the test's own torn line
    return out_lines


# ---------------------------------------------------------------- mesh file -> scene graph
def test_gltf_scene_graph_is_z_up_with_parents_materials_and_marks(tmp_path: Path) -> None:
    ms = load_mesh_scene(write_room(tmp_path / "room.glb"))
    graph = scene_graph(ms, "room")
    objs = {o.name: o for o in graph.objects}
    assert set(objs) == {"floor", "crate", "ball"}
    # glTF y-up seen as Blender z-up: the crate at (1, 0.5, 0) in the file is at (1, 0, 0.5).
    assert np.allclose(objs["crate"].location, [1, 0, 0.5], atol=1e-6)
    assert np.allclose(objs["ball"].location, [1, 0, 1.5], atol=1e-6)
    assert np.allclose(objs["crate"].rotation, [0, 0, 0], atol=1e-6)  # at rest stays at rest
    assert np.allclose(objs["crate"].bbox_min, [0.5, -0.5, 0.0], atol=1e-6)
    assert np.allclose(objs["crate"].dimensions, [1, 1, 1], atol=1e-6)
    assert objs["ball"].parent == "crate" and objs["crate"].parent is None
    assert sorted(o.mark for o in graph.objects) == [1, 2, 3]
    mats = {m.name: m for m in graph.materials}
    assert objs["crate"].materials == ["Red"] and objs["ball"].materials == ["Blue"]
    assert np.allclose(mats["Red"].base_color, [0.8, 0.098, 0.098, 1.0], atol=0.01)
    assert objs["floor"].materials == ["floor_Material"]  # no material in the file: a default one
    # The graph is what plans are checked against: a plan naming a real object passes.
    validate_plan(_plan([{"op": "translate", "targets": ["ball"], "vector": [0, 0, 1]}]).model_dump(mode="json"), graph)


def test_broken_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00 not really")
    with pytest.raises(MeshSceneError) as e:
        load_mesh_scene(tmp_path / "broken.glb")
    assert e.value.code == "unreadable"
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(MeshSceneError) as e:
        load_mesh_scene(tmp_path / "empty.obj")
    assert e.value.code in ("empty_scene", "unreadable")
    with pytest.raises(MeshSceneError) as e:
        load_mesh_scene(tmp_path / "x.stl")
    assert e.value.code == "unsupported_format"


# ---------------------------------------------------------------- edits on a mesh file
def _plan(ops: list[dict], confidence: float = 0.5) -> EditPlan:
    return parse_plan(
        {"reasoning": "r", "suggestions": [{"title": "t", "rationale": "r", "confidence": confidence, "ops": ops}]}
    )


def _objs(ms) -> dict:  # noqa: ANN001
    return {o.name: o for o in scene_graph(ms).objects}


def test_transform_ops_follow_blender_semantics_and_leave_the_input_alone(tmp_path: Path) -> None:
    ms = load_mesh_scene(write_room(tmp_path / "room.glb"))
    plan = _plan([
        {"op": "translate", "targets": ["crate"], "vector": [0, 2, 0]},  # world, relative: the child follows
        {"op": "rotate", "targets": ["ball"], "degrees": [0, 0, 90]},
        {"op": "scale", "targets": ["floor"], "factor": [2, 1, 1]},
        {"op": "translate", "targets": ["ball"], "vector": [5, 5, 5], "mode": "absolute"},
    ])  # fmt: skip
    edited, report = apply_ops(ms, plan.suggestions[0].ops)
    after = _objs(edited)
    assert np.allclose(after["crate"].location, [1, 2, 0.5], atol=1e-6)
    assert np.allclose(after["ball"].location, [5, 5, 5], atol=1e-6)  # absolute world, under a parent
    assert np.allclose(after["ball"].rotation, [0, 0, math.pi / 2], atol=1e-6)
    assert np.allclose(after["floor"].scale, [2, 1, 1], atol=1e-6)
    assert np.allclose(after["floor"].dimensions, [8, 4, 0.1], atol=1e-6)
    assert len(report.applied) == 4 and report.skipped == []
    assert np.allclose(_objs(ms)["crate"].location, [1, 0, 0.5])  # the loaded scene did not change
    # Exported in its own format, the edit is in the file (in the file's own y-up frame).
    suffix, files = export_bytes(edited)
    assert suffix == ".glb"
    again = load_bytes(files[".glb"], ".glb")
    assert np.allclose(again.graph.get("crate")[0][:3, 3], [1, 0.5, -2], atol=1e-6)


def test_local_translate_moves_along_the_objects_own_axes(tmp_path: Path) -> None:
    ms = load_mesh_scene(write_room(tmp_path / "room.glb"))
    turned, _ = apply_ops(ms, _plan([{"op": "rotate", "targets": ["crate"], "degrees": [0, 0, 90]}]).suggestions[0].ops)
    moved, _ = apply_ops(turned, _plan([{"op": "translate", "targets": ["crate"], "vector": [1, 0, 0], "space": "local"}]).suggestions[0].ops)  # fmt: skip
    assert np.allclose(_objs(moved)["crate"].location, [1, 1, 0.5], atol=1e-6)  # local +X is world +Y now


def test_material_ops_and_unsupported_ops_are_reported(tmp_path: Path) -> None:
    ms = load_mesh_scene(write_room(tmp_path / "room.glb"))
    plan = _plan([
        {"op": "set_base_color", "targets": ["crate"], "color": [0, 1, 0]},
        {"op": "set_roughness", "targets": ["ball"], "value": 0.1},
        {"op": "delete", "targets": ["floor"]},
        {"op": "add_light", "name": "Key", "type": "POINT", "location": [0, 0, 3], "color": [1, 1, 1], "energy": 100},
    ])  # fmt: skip
    edited, report = apply_ops(ms, plan.suggestions[0].ops)
    mats = {m.name: m for m in scene_graph(edited).materials}
    assert np.allclose(mats["Red"].base_color, [0, 1, 0, 1], atol=0.005)
    assert mats["Blue"].roughness == pytest.approx(0.1)
    assert np.allclose(
        {m.name: m for m in scene_graph(ms).materials}["Red"].base_color[:3], [0.8, 0.098, 0.098], atol=0.01
    )
    assert [s["op"] for s in report.skipped] == ["delete", "add_light"]
    assert all("unsupported on this format" in s["reason"] for s in report.skipped)
    assert {o.name for o in scene_graph(edited).objects} == {"floor", "crate", "ball"}
    again = load_bytes(export_bytes(edited)[1][".glb"], ".glb")  # the colour survives the export
    assert list(again.geometry["crate_mesh"].visual.material.baseColorFactor[:3]) == [0, 255, 0]


def test_pbr_only_ops_are_skipped_on_obj_and_a_missing_target_changes_nothing(tmp_path: Path) -> None:
    ms = load_mesh_scene(write_shelf_obj(tmp_path / "shelf.obj"))
    name = scene_graph(ms).objects[0].name
    plan = _plan([
        {"op": "set_base_color", "targets": [name], "color": [1, 0, 0]},
        {"op": "set_metallic", "targets": [name], "value": 1.0},
    ])  # fmt: skip
    edited, report = apply_ops(ms, plan.suggestions[0].ops)
    assert [s["op"] for s in report.skipped] == ["set_metallic"]
    suffix, files = export_bytes(edited)
    assert (
        suffix == ".obj" and "/edited.mtl" in files and b"Kd 1.00000000 0.00000000 0.00000000" in files["/edited.mtl"]
    )
    bad = _plan([
        {"op": "translate", "targets": [name], "vector": [1, 0, 0]},
        {"op": "translate", "targets": ["no_such_thing"], "vector": [1, 0, 0]},
    ])  # fmt: skip
    before = scene_graph(ms)
    with pytest.raises(MeshSceneError) as e:
        apply_ops(ms, bad.suggestions[0].ops)
    assert e.value.code == "missing_target"
    assert scene_graph(ms) == before  # all or nothing: checked before the first change


# ---------------------------------------------------------------- instructions, scenes, jobs
def test_instruction_files_csv_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.glb").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.obj").write_text("x")
    scenes = discover_scenes([tmp_path])
    assert [p.name for p in scenes] == ["a.glb", "b.obj"]
    csv_file = tmp_path / "i.csv"
    csv_file.write_text('instruction,scene\n"make it, cozier",\nwarmer,a.glb\nbrighter,sub/b.obj\n')
    rows = parse_instructions(csv_file)
    assert rows == [(None, "make it, cozier"), ("a.glb", "warmer"), ("sub/b.obj", "brighter")]
    jobs = build_jobs(scenes, rows, base=tmp_path)
    assert [(j.scene.name, j.instruction) for j in jobs] == [
        ("a.glb", "make it, cozier"), ("a.glb", "warmer"), ("b.obj", "make it, cozier"), ("b.obj", "brighter"),
    ]  # fmt: skip
    assert len({j.key for j in jobs}) == 4 and len({j.slug for j in jobs}) == 4
    jsonl = tmp_path / "i.jsonl"
    jsonl.write_text('{"instruction": "slower"}\n\n# a comment\n{"instruction": "red", "scene": "b.obj"}\n')
    assert parse_instructions(jsonl) == [(None, "slower"), ("b.obj", "red")]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.csv", "instruction,scene\nok,\n,a.glb\n", "bad.csv:3: no instruction"),
        ("bad.csv", "prompt\nwarmer\n", "must name an `instruction` column"),
        ("bad.jsonl", '{"instruction": "ok"}\n{"instruction": \n', "bad.jsonl:2: not JSON"),
        ("bad.jsonl", '["warmer"]\n', "bad.jsonl:1: not a JSON object"),
        ("bad.jsonl", '{"instruction": "  "}\n', "bad.jsonl:1: no instruction"),
        ("bad.txt", "warmer\n", "must be a .csv or .jsonl"),
        ("empty.jsonl", "\n", "no instructions"),
    ],
)
def test_bad_instruction_rows_reject_the_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(BatchInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_instructions(tmp_path / name)


def test_a_row_naming_an_unknown_scene_is_rejected(tmp_path: Path) -> None:
    scene = tmp_path / "a.glb"
    scene.write_bytes(b"x")
    with pytest.raises(BatchInputError, match="'nope.glb': not in the batch"):
        build_jobs([scene.resolve()], [("nope.glb", "warmer")], base=tmp_path)
    with pytest.raises(BatchInputError, match="no such file or folder"):
        discover_scenes([tmp_path / "missing"])


def _record(key: str, **kw) -> JobRecord:  # noqa: ANN003
    return JobRecord(
        key=key, scene="/s.glb", instruction="i", renderer="mesh", endpoint="e", started_at="t", pid=1, **kw
    )


def test_results_log_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultsLog(path) as log:
        log.write(_record("a"))
    with path.open("ab") as f:
        f.write(b'{"key": "b", "sta')  # a crash mid-write
    assert set(read_results(path)) == {"a"}
    with ResultsLog(path) as log:
        c = _record("c")
        c.fail("timeout", "no answer")
        log.write(c)
    with path.open("a") as f:
        f.write(json.dumps({"key": "d", "status": "ok"}) + "\n")  # not a record: its job runs again
    assert read_results(path) == {"a": _record("a"), "c": c}
    assert read_results(path)["c"].error.code == "timeout"


# ---------------------------------------------------------------- contact sheets
def _png(color: tuple[int, int, int], size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


def test_contact_sheet_caption_and_frame_labels() -> None:
    before, after = [_png((200, 0, 0))] * 2, [_png((0, 0, 200))] * 2
    with Image.open(io.BytesIO(contact_sheet(before, after, thumb=64))) as plain:
        bare = np.asarray(plain.convert("RGB"))
    caption = ['"make it cozier"', "applied 2. Warmer lamp", "  " + "set the lamp's colour to warm white " * 6]
    with Image.open(io.BytesIO(contact_sheet(before, after, caption, thumb=64))) as im:
        sheet = np.asarray(im.convert("RGB"))
    wrapped = wrap_lines(caption, caption_font(), sheet.shape[1] - 12, ImageDraw.Draw(Image.new("RGB", (1, 1))))
    assert len(wrapped) > len(caption) and all(w.startswith("  ") for w in wrapped[2:])  # long lines wrap, indented
    assert sheet.shape[0] == bare.shape[0] + len(wrapped) * LINE_H + PAD  # a band of text above the rows
    band = sheet[: len(wrapped) * LINE_H]
    assert (band.max(axis=-1) > 150).sum() > 500  # text drawn in it
    assert np.array_equal(sheet[-bare.shape[0] :], bare)  # the rows themselves unchanged
    # An animation edit: each image carries its frame.
    frames = ([1, 12], [1, 12])
    with Image.open(io.BytesIO(contact_sheet(before, after, frames=frames, thumb=64))) as im:
        labelled = np.asarray(im.convert("RGB"))
    assert labelled.shape == bare.shape and not np.array_equal(labelled, bare)
    ys, xs = np.nonzero((labelled != bare).any(axis=-1))
    row_tops = [PAD, PAD + 64 + PAD]
    assert xs.min() >= LABEL_W and all(any(0 <= y - top < LINE_H + 4 for top in row_tops) for y in ys)
    assert {any(y - top < LINE_H + 4 for y in ys if y >= top) for top in row_tops} == {True}  # both rows labelled
    with pytest.raises(ValueError, match="one frame number per image"):
        contact_sheet(before, after, frames=([1], [1, 12]))


def test_caption_characters_the_font_lacks_get_ascii_stand_ins() -> None:
    font = caption_font()
    assert drawable("Ball: scale ×2, frames 1→48 (10°)", font) == "Ball: scale x2, frames 1->48 (10°)"
    assert drawable("\ue001", font) == "?"


def test_animation_ops_are_ops_of_the_vocabulary() -> None:
    names = {typing.get_args(cls.model_fields["op"].annotation)[0] for cls in OP_CLASSES}
    assert ANIMATION_OPS < names
    assert {"retime", "set_frame_range", "insert_keyframe"} <= ANIMATION_OPS and "translate" not in ANIMATION_OPS


# ---------------------------------------------------------------- whole batches, scripted engine
class ScriptedEngine(NullEngine):
    """A known plan for every scene: a generative hand-off first (most confident, applies to nothing),
    then a suggestion moving and recolouring the first object and deleting it (skipped on a mesh file)."""

    name = "scripted"

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(delay_s=delay_s, max_batch=1)
        self.instructions: list[str] = []

    def _answer(self, req):  # noqa: ANN001, ANN202
        if req.is_cancelled():
            return Cancelled(req.id)
        self.instructions.append(req.instruction)
        first = req.scene.objects[0].name
        plan = validate_plan({"reasoning": "scripted", "suggestions": [
            {"title": "hand off", "rationale": "r", "confidence": 0.9, "ops": [
                {"op": "generative_edit", "modality": "3d", "prompt": "p", "mask": {"objects": [first]}}]},
            {"title": "move and paint", "rationale": "r", "confidence": 0.5, "ops": [
                {"op": "translate", "targets": [first], "vector": [1, 0, 0]},
                {"op": "set_base_color", "targets": [first], "color": [0, 1, 0]},
                {"op": "delete", "targets": [first]}]},
        ]}, req.scene)  # fmt: skip
        return EngineResult(reasoning="scripted", plan=plan, timings={"total": 0.0})


@pytest.fixture
def mesh_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_room(folder / "room.glb")
    write_shelf_obj(folder / "shelf.obj")
    (folder / "broken.glb").write_bytes(b"\x00\x01 this is not a glTF file")
    (folder / "notes.md").write_text("not a scene")
    return folder


def batch_process(*args: str) -> subprocess.CompletedProcess:
    """`evlm-batch ARGS` in its own process, as a pipeline runs it. Its own process also because
    OSMesa's LLVM and triton's (imported with torch by other tests) crash when one process loads
    both, OSMesa first."""
    cmd = [sys.executable, "-m", "evlm_batch.cli", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1, 2):
        pytest.fail(f"evlm-batch died with status {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def batch(*args: str) -> int:
    return batch_process(*args).returncode


def _run(folder: Path, out: Path, endpoint: str, *extra: str) -> int:
    return batch("--scenes", str(folder), "-i", "make it cozier", "--out", str(out), "--endpoint", endpoint,
                 "--views", "2", "--size", "64", "--no-progress", *extra)  # fmt: skip


def test_batch_apply_best_writes_copies_and_sheets_and_never_touches_inputs(
    serve, mesh_folder: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    engine = ScriptedEngine()
    server = serve(engine)
    hashes = {p: sha1(p) for p in mesh_folder.iterdir()}
    out = tmp_path / "out"
    assert _run(mesh_folder, out, server.endpoint, "--apply", "best", "--in-flight", "3") == 1  # one scene failed
    records = {Path(r["scene"]).name: r for r in lines(out)}
    assert set(records) == {"room.glb", "shelf.obj", "broken.glb"}  # notes.md is no scene
    assert records["broken.glb"]["status"] == "error" and records["broken.glb"]["error"]["code"] == "unreadable"
    assert {p: sha1(p) for p in mesh_folder.iterdir()} == hashes  # inputs byte-identical
    for name in ("room.glb", "shelf.obj"):
        r = records[name]
        assert r["status"] == "ok" and r["best"] == 1  # the hand-off is more confident but applies to nothing
        assert r["applied"]["title"] == "move and paint" and len(r["applied"]["lines"]) == 2
        assert [s["op"] for s in r["skipped_ops"]] == ["delete"]
        assert "unsupported on this format" in r["skipped_ops"][0]["reason"]
        assert len(r["suggestions"]) == 2 and set(r["timings"]) >= {"capture", "suggest", "apply", "total"}
        for path in r["outputs"]["edited"] + [r["outputs"]["contact_sheet"]]:
            assert Path(path).is_file() and out in Path(path).parents
    with Image.open(records["room.glb"]["outputs"]["contact_sheet"]) as sheet:
        assert sheet.size[1] > 2 * 64  # two rows of views
    # The edit is in the copy: 'ball' (first by name) moved +1 m along Blender's X, painted green.
    edited = load_mesh_scene(records["room.glb"]["outputs"]["edited"][0])
    objs = {o.name: o for o in scene_graph(edited).objects}
    assert np.allclose(objs["ball"].location, [2, 0, 1.5], atol=1e-6)
    assert np.allclose({m.name: m for m in scene_graph(edited).materials}["Blue"].base_color[:3], [0, 1, 0], atol=0.005)
    assert len(engine.instructions) == 2


def test_resume_skips_finished_scenes_and_retries_errors(serve, mesh_folder: Path, tmp_path: Path) -> None:  # noqa: ANN001
    engine = ScriptedEngine()
    server = serve(engine)
    out = tmp_path / "out"
    # A first run over part of the folder, then a crash mid-write of the next line.
    assert batch(*["--scenes", str(mesh_folder / "room.glb"), "-i", "make it cozier", "--out", str(out),
                     "--endpoint", server.endpoint, "--views", "2", "--size", "64", "--no-progress"]) == 0  # fmt: skip
    first = lines(out)
    assert len(first) == 1 and len(engine.instructions) == 1
    with (out / "results.jsonl").open("ab") as f:
        f.write(b'{"key": "torn')
    assert _run(mesh_folder, out, server.endpoint) == 1
    records = lines(out)
    keys = [r["key"] for r in records]
    assert len(records) == 3 and len(set(keys)) == 3  # room.glb once, shelf.obj and broken.glb added
    assert (out / "results.jsonl").read_text().splitlines()[1] == '{"key": "torn'  # the next line started afresh
    assert records[0] == first[0]  # room.glb's line untouched, not redone
    assert len(engine.instructions) == 2  # one more request: shelf.obj (broken.glb fails before asking)
    run_ids = {r["run_id"] for r in records[1:]}
    assert len(run_ids) == 1 and first[0]["run_id"] not in run_ids
    # Again: only the error is retried (attempt 2); the ok scenes are left alone.
    assert _run(mesh_folder, out, server.endpoint) == 1
    again = lines(out)[3:]
    assert [Path(r["scene"]).name for r in again] == ["broken.glb"] and again[0]["attempt"] == 2
    assert len(engine.instructions) == 2
    # --no-resume redoes everything.
    assert _run(mesh_folder, out, server.endpoint, "--no-resume") == 1
    assert len(engine.instructions) == 4


def test_a_killed_batch_resumes_without_redoing_finished_scenes(serve, mesh_folder: Path, tmp_path: Path) -> None:  # noqa: ANN001
    engine = ScriptedEngine(delay_s=1.0)  # each request takes a second: time to kill between scenes
    server = serve(engine)
    (mesh_folder / "broken.glb").unlink()
    write_room(mesh_folder / "room2.glb")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "evlm_batch.cli", "--scenes", str(mesh_folder), "-i", "warmer", "--out", str(out),
           "--endpoint", server.endpoint, "--views", "2", "--size", "64", "--no-progress", "--in-flight", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while not (results.exists() and results.read_bytes().count(b"\n") >= 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2.0)  # let the server finish (or drop) the request the killed batch had in flight
    done = lines(out)
    assert 1 <= len(done) < 3, "the batch should have been killed between scenes"
    asked = len(engine.instructions)
    assert batch(*cmd[3:]) == 0
    records = lines(out)
    assert records[: len(done)] == done
    assert len({r["key"] for r in records}) == 3 == len(records)  # every scene once: nothing redone
    assert len(engine.instructions) == asked + 3 - len(done)


def test_bad_input_exits_2_and_runs_nothing(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "a.glb").write_bytes(b"x")
    bad = tmp_path / "i.csv"
    bad.write_text("instruction,scene\n,\n")
    assert cli.main(["--scenes", str(tmp_path), "--instructions", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "i.csv:2: no instruction" in capsys.readouterr().err
    assert cli.main(["--scenes", str(tmp_path / "nope"), "-i", "x", "--out", str(tmp_path / "o")]) == 2
    # The limits are the wire contract's: what a server would refuse is refused here, before any work.
    limits = Limits()
    too_long = "x" * (limits.max_instruction_chars + 1)
    assert cli.main(["--scenes", str(tmp_path), "-i", too_long, "--out", str(tmp_path / "o")]) == 2
    assert f"longer than {limits.max_instruction_chars} characters" in capsys.readouterr().err
    side = math.isqrt(limits.max_pixels)
    for flag, value in (("--views", limits.max_views + 1), ("--size", side + 1)):
        assert cli.main(["--scenes", str(tmp_path), "-i", "x", "--out", str(tmp_path / "o"), flag, str(value)]) == 2
        assert f"--views is at most {limits.max_views} and --size between 16 and {side}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["--scenes", str(tmp_path), "-i", "x", "--out", str(tmp_path / "o"), "--timeout", "0"])
    assert e.value.code == 2 and "must be above 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_server_that_is_down_fails_the_batch_at_once(tmp_path: Path) -> None:
    """Nothing listens: the batch says so before the first job, instead of waiting out every job's timeout."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    for i in range(3):
        write_room(folder / f"room{i}.glb")
    down = f"ipc://{tmp_path}/nobody.sock"
    proc = batch_process("--scenes", str(folder), "-i", "warmer", "--out", str(tmp_path / "out"),
                         "--endpoint", down, "--timeout", "4", "--no-progress")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"1 of 1 servers unreachable; nothing was run:\n  {down}: no answer within 4 s" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()  # no job ran, so none waited out its timeout


# ---------------------------------------------------------------- Ray
def test_ray_mode_spreads_jobs_over_ray_workers(serve, mesh_folder: Path, tmp_path: Path) -> None:  # noqa: ANN001
    # Found, not imported: Ray's native module and triton's (imported with torch by later tests)
    # crash together in one process, so Ray stays in the batch's own process.
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is the optional extra `ray` (pip install -e '.[ray]'); setup.sh installs it")
    engine = ScriptedEngine()
    servers = [serve(engine), serve(engine)]
    out = tmp_path / "out"
    # `evlm-batch --ray` in its own process: it starts a local Ray instance (2 CPUs here).
    cmd = [sys.executable, "-m", "evlm_batch.cli", "--ray", "--scenes", str(mesh_folder), "-i", "warmer",
           "--out", str(out), "--views", "2", "--size", "64", "--apply", "best", "--in-flight", "2", "--no-progress"]  # fmt: skip
    for s in servers:
        cmd += ["--endpoint", s.endpoint]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.communicate(timeout=300)[0].decode(errors="replace")
    assert proc.returncode == 1, output  # one scene is broken
    records = lines(out)
    assert len(records) == 3 and sorted(r["status"] for r in records) == ["error", "ok", "ok"], output
    assert {r["endpoint"] for r in records} == {s.endpoint for s in servers}  # both servers used
    assert all(r["pid"] not in (os.getpid(), proc.pid) for r in records)  # run in Ray's worker processes
    assert all(Path(p).is_file() for r in records if r["status"] == "ok" for p in r["outputs"]["edited"])
    assert len(engine.instructions) == 2


# ---------------------------------------------------------------- tiny checkpoint, .blend included
@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):  # noqa: ANN001, ANN201
    from training.tiny import make_tiny_checkpoint

    tmp = tmp_path_factory.mktemp("batch-tiny")
    model = make_tiny_checkpoint(tmp / "tiny", arch="qwen2_vl", seed=0)
    args = ("--model", str(model), "--device", "cpu", "--max-reasoning-tokens", "32", "--max-answer-tokens", "300")
    with server_process(tmp, *args) as (endpoint, _):
        yield endpoint


@pytest.mark.slow
def test_mixed_folder_against_the_tiny_checkpoint(tiny_server: str, mesh_folder: Path, tmp_path: Path) -> None:
    with_blend = BLENDER_PYTHON.exists()
    if with_blend:  # the .blend leg needs real Blender (.venv-blender; CI has it)
        (mesh_folder / "sample.blend").write_bytes(SAMPLE_BLEND.read_bytes())
        (mesh_folder / "corrupt.blend").write_bytes(SAMPLE_BLEND.read_bytes()[:4096])
    hashes = {p: sha1(p) for p in mesh_folder.iterdir()}
    out = tmp_path / "out"
    assert _run(mesh_folder, out, tiny_server, "--apply", "best", "--in-flight", "2", "--max-suggestions", "5") == 1
    records = {Path(r["scene"]).name: r for r in lines(out)}
    expected = {"room.glb", "shelf.obj", "broken.glb"} | ({"sample.blend", "corrupt.blend"} if with_blend else set())
    assert set(records) == expected and len(lines(out)) == len(expected)  # every scene one line
    assert {n for n, r in records.items() if r["status"] == "error"} == expected & {"broken.glb", "corrupt.blend"}
    assert records["broken.glb"]["error"]["code"] == "unreadable"
    if with_blend:
        assert records["corrupt.blend"]["error"]["code"] == "unreadable"
        assert records["sample.blend"]["renderer"] == "blend"
    assert {p: sha1(p) for p in mesh_folder.iterdir()} == hashes  # inputs byte-identical
    for name, r in records.items():
        if r["status"] != "ok":
            continue
        assert r["suggestions"], name  # schema-valid plans naming the scene's objects (checked on arrival)
        if r["applied"]:  # the random model's best applicable suggestion, written as a copy with its sheet
            assert all(Path(p).is_file() and out in Path(p).parents for p in r["outputs"]["edited"])
            assert Path(r["outputs"]["contact_sheet"]).is_file()
        else:
            assert r["not_applied"] and r["outputs"] == {"edited": [], "contact_sheet": None}
    if with_blend and records["sample.blend"]["applied"]:
        assert records["sample.blend"]["outputs"]["edited"][0].endswith("edited.blend")
    # Resume: nothing left to do but the corrupt files.
    assert _run(mesh_folder, out, tiny_server, "--apply", "best") == 1
    retried = lines(out)[len(expected) :]
    assert sorted(Path(r["scene"]).name for r in retried) == sorted(expected & {"broken.glb", "corrupt.blend"})


def test_batch_speaks_curve_to_an_encrypted_server(serve, tmp_path: Path) -> None:  # noqa: ANN001
    from evlm_server.cli import server_main
    from evlm_server.server import CurveConfig

    keys = tmp_path / "keys"
    assert server_main(["keygen", "--dir", str(keys)]) == 0
    server = serve(ScriptedEngine(), curve=CurveConfig(keys / "server.key_secret", keys / "allowed"))
    scene = write_room(tmp_path / "room.glb")
    base = ["--scenes", str(scene), "-i", "warmer", "--endpoint", server.endpoint, "--views", "1", "--size", "64",
            "--no-progress", "--timeout", "3"]  # fmt: skip
    key_args = ["--server-key", str(keys / "server.key"), "--client-key", str(keys / "clients" / "client0.key_secret")]
    assert batch(*base, "--out", str(tmp_path / "ok"), *key_args) == 0
    # No keys: the server never answers; the check before the batch says so and runs nothing ...
    proc = batch_process(*base, "--out", str(tmp_path / "plain"))
    assert proc.returncode == 2 and f"{server.endpoint}: no answer within 3 s" in proc.stderr
    assert not (tmp_path / "plain" / "results.jsonl").exists()
    # ... and without the check, each job times out on its own.
    assert batch(*base, "--out", str(tmp_path / "plain"), "--no-server-check") == 1
    assert lines(tmp_path / "plain")[0]["error"]["code"] == "timeout"
    assert cli.main([*base, "--out", str(tmp_path / "half"), key_args[0], key_args[1]]) == 2


@pytest.mark.skipif(not BLENDER_PYTHON.exists(), reason="the .blend leg needs .venv-blender (scripts/setup_blender.sh)")
def test_blend_files_go_through_blender_and_the_addons_apply(serve, tmp_path: Path) -> None:  # noqa: ANN001
    engine = ScriptedEngine()
    server = serve(engine)
    folder = tmp_path / "scenes"
    folder.mkdir()
    scene = folder / "sample.blend"
    scene.write_bytes(SAMPLE_BLEND.read_bytes())
    (folder / "corrupt.blend").write_bytes(SAMPLE_BLEND.read_bytes()[:4096])
    before = sha1(scene)
    out = tmp_path / "out"
    assert _run(folder, out, server.endpoint, "--apply", "best") == 1
    records = {Path(r["scene"]).name: r for r in lines(out)}
    assert records["corrupt.blend"]["error"]["code"] == "unreadable"
    r = records["sample.blend"]
    assert r["status"] == "ok" and r["renderer"] == "blend" and r["best"] == 1
    # The add-on applies all three ops (Blender can delete), then saves a copy.
    assert r["applied"]["title"] == "move and paint" and len(r["applied"]["lines"]) >= 3
    edited, sheet = Path(r["outputs"]["edited"][0]), Path(r["outputs"]["contact_sheet"])
    assert edited.name == "edited.blend" and edited.is_file() and sha1(edited) != before
    with Image.open(sheet) as im:
        assert im.size[1] > 2 * 64
    assert sha1(scene) == before  # the input is never written
    assert set(r["timings"]) >= {"open", "capture", "suggest", "apply", "total"}
    assert not list(out.glob("scenes/*/before_*.png"))  # the views went into the sheet, then away


class RetimeEngine(NullEngine):
    """One suggestion: the scene's first animated object twice as slow (an animation edit)."""

    name = "retime"

    def _answer(self, req):  # noqa: ANN001, ANN202
        animated = req.scene.animation.objects[0].object
        return EngineResult(reasoning="slower", timings={"total": 0.0}, plan=validate_plan({
            "reasoning": "r", "suggestions": [{"title": "Slower bounce", "rationale": "r", "confidence": 0.8, "ops": [
                {"op": "retime", "targets": [animated], "factor": 2.0, "pivot_frame": 1.0}]}]}, req.scene))  # fmt: skip


@pytest.mark.skipif(not BLENDER_PYTHON.exists(), reason="the .blend leg needs .venv-blender (scripts/setup_blender.sh)")
def test_an_animation_edit_gets_a_sheet_across_time_with_its_caption(serve, tmp_path: Path) -> None:  # noqa: ANN001
    server = serve(RetimeEngine())
    folder = tmp_path / "scenes"
    folder.mkdir()
    (folder / "sample.blend").write_bytes(SAMPLE_BLEND.read_bytes())  # a bouncing ball over frames 1-48
    out = tmp_path / "out"
    assert _run(folder, out, server.endpoint, "--apply", "best") == 0
    (r,) = lines(out)
    assert r["applied"]["title"] == "Slower bounce"
    with Image.open(r["outputs"]["contact_sheet"]) as im:
        sheet = np.asarray(im.convert("RGB")).astype(int)
    # Five frames of the scene camera per row (the request itself had two 64 px orbit views).
    thumb = 192
    top = sheet.shape[0] - 2 * (thumb + PAD) - PAD
    rows = [sheet[top + r * (thumb + PAD) :][:thumb] for r in (0, 1)]
    assert sheet.shape[1] >= LABEL_W + 5 * (thumb + PAD), sheet.shape
    # Frame 1 is the pivot: the same before and after; later frames show the ball elsewhere in its bounce.
    first = slice(LABEL_W + 30, LABEL_W + thumb)  # the first image, below its frame label
    later = slice(sheet.shape[1] // 2, sheet.shape[1] - PAD)
    assert np.abs(rows[0][30:thumb, first] - rows[1][30:thumb, first]).mean() < 0.5
    assert np.abs(rows[0][30:thumb, later] - rows[1][30:thumb, later]).mean() > 0.5
    # The caption above the rows: its text is drawn (light pixels on the dark band).
    band = sheet[:top]
    assert band.shape[0] >= 3 * LINE_H and (band.max(axis=-1) > 150).sum() > 500
