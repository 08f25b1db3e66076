"""Headless EVLM in real Blender against an evlm-server process with a tiny random checkpoint:
`run()` applies the best suggestion and saves a copy, the input .blend stays byte-identical;
the command line does the same in a fresh Blender process and refuses bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import bpy
import pytest
from conftest import serving

from evlm.client import RequestTimeout
from evlm.headless_result import HeadlessResult
from evlm.session import best_index

ROOT = Path(__file__).resolve().parents[2]
HEADLESS = ROOT / "blender_addon" / "headless.py"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from blender_addon import headless  # noqa: E402
from blender_addon.capture import CaptureSettings, extract_scene_graph  # noqa: E402


@pytest.fixture(scope="module")
def null_endpoint(tmp_path_factory):  # noqa: ANN001, ANN201
    """evlm-server with no model: every answer is a generative hand-off, which changes no scene."""
    with serving(tmp_path_factory.mktemp("null-server"), "--engine", "null") as endpoint:
        yield endpoint


@pytest.fixture
def input_blend(tmp_path, sample_blend) -> Path:  # noqa: ANN001
    path = tmp_path / "in" / "scene.blend"
    path.parent.mkdir()
    shutil.copy(sample_blend, path)
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SMALL = dict(views=2, resolution=96)


def test_run_applies_the_best_and_saves_a_copy(endpoint, input_blend, tmp_path) -> None:  # noqa: ANN001
    before_hash, before = digest(input_blend), extract_scene_graph(bpy.context.scene)
    out_path = tmp_path / "out" / "edited.blend"
    out = headless.run(
        "make the corner feel cozier for an evening shot", endpoint, CaptureSettings(**SMALL),
        apply_best=True, save_as=out_path, timeout=60,
    )  # fmt: skip
    plan, best = out.plan, out.best
    assert out.applied.index == best and out.applied.title == plan.suggestions[best].title
    assert out.applied.lines and out.saved_as == str(out_path.resolve())
    assert out.timings["capture"] > 0 and out.file == str(input_blend)
    assert HeadlessResult.model_validate_json(json.dumps(out.to_json())) == out  # JSON and back, unchanged

    applied = extract_scene_graph(bpy.context.scene)
    assert applied != before
    assert digest(input_blend) == before_hash  # the input is untouched
    assert bpy.data.filepath == str(input_blend)  # a copy was saved; the open file is still the input
    bpy.ops.wm.open_mainfile(filepath=str(out_path))
    assert extract_scene_graph(bpy.context.scene) == applied  # the copy holds the edit
    bpy.ops.wm.open_mainfile(filepath=str(input_blend))  # the scene as it was: best = most confident usable
    assert best == best_index(plan, _usable)


def _usable(suggestion: Any) -> bool:
    from blender_addon import apply

    if all(op.op == "generative_edit" for op in suggestion.ops):
        return False
    try:
        apply.check_suggestion(bpy.context.scene, suggestion)
    except apply.ApplyError:
        return False
    return True


def test_run_without_apply_changes_nothing(endpoint, input_blend) -> None:  # noqa: ANN001
    before = extract_scene_graph(bpy.context.scene)
    out = headless.run("make it brighter", endpoint, CaptureSettings(**SMALL), timeout=60)
    assert out.applied is None and out.saved_as is None and out.plan.suggestions
    assert extract_scene_graph(bpy.context.scene) == before


def test_run_with_only_a_hand_off_applies_and_saves_nothing(null_endpoint, input_blend, tmp_path) -> None:  # noqa: ANN001
    before = extract_scene_graph(bpy.context.scene)
    out = headless.run(
        "remove the lamp", null_endpoint, CaptureSettings(**SMALL), apply_best=True, save_as=tmp_path / "o.blend"
    )
    assert [op.op for s in out.plan.suggestions for op in s.ops] == ["generative_edit"]
    assert out.best is None and out.applied is None and out.saved_as is None
    assert "none of the 1 suggestions" in out.not_applied
    assert not (tmp_path / "o.blend").exists() and extract_scene_graph(bpy.context.scene) == before


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"instruction": "  "}, "instruction"),
        ({"save_as": "x.blend"}, "apply_best"),
        ({"apply_best": True, "save_as": "x.txt"}, ".blend"),
        ({"apply_best": True, "save_as": "INPUT"}, "input file"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_run_refuses_bad_input(input_blend, kw, match) -> None:  # noqa: ANN001
    if kw.get("save_as") == "INPUT":
        kw = {**kw, "save_as": str(input_blend.parent / "." / input_blend.name)}  # the same file, spelled otherwise
    args = {"instruction": "x", "endpoint": "ipc:///nonexistent", **kw}
    before = digest(input_blend)
    with pytest.raises(ValueError, match=match):
        headless.run(**args)
    assert digest(input_blend) == before


def test_run_times_out_without_a_server(input_blend, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(RequestTimeout):
        headless.run("x", f"ipc://{tmp_path}/nobody.sock", CaptureSettings(**SMALL), timeout=0.5)


def cli(*args: str) -> subprocess.CompletedProcess:
    """The command line in a fresh process (a Python with bpy stands in for `blender -b ... --python`)."""
    return subprocess.run([sys.executable, str(HEADLESS), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_command_line(endpoint, input_blend, tmp_path) -> None:  # noqa: ANN001
    before = digest(input_blend)
    out_blend, out_json = tmp_path / "cli" / "edited.blend", tmp_path / "cli" / "result.json"
    proc = cli("--blend", str(input_blend), "--instruction", "make the corner feel cozier", "--endpoint", endpoint,
               "--views", "2", "--resolution", "96", "--apply-best", "--save-as", str(out_blend),
               "--json", str(out_json), "--images", str(tmp_path / "images"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out_json.read_text())
    assert result["applied"] and result["saved_as"] == str(out_blend.resolve()) and out_blend.is_file()
    images = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert images == ["after_0.png", "after_1.png", "before_0.png", "before_1.png"]  # 2 views, before and after
    assert all((tmp_path / "images" / n).read_bytes().startswith(b"\x89PNG") for n in images)
    assert f"Applied {result['applied']['index'] + 1}. {result['applied']['title']}" in proc.stdout
    assert "Saved a copy as" in proc.stdout and "confidence" in proc.stdout
    assert digest(input_blend) == before


def test_command_line_refuses_bad_input(input_blend, tmp_path) -> None:  # noqa: ANN001
    before = digest(input_blend)
    proc = cli("--blend", str(input_blend), "--instruction", "x", "--apply-best", "--save-as", str(input_blend))
    assert proc.returncode == 2 and "input file" in proc.stderr
    proc = cli("--blend", str(input_blend), "--instruction", "x", "--save-as", str(tmp_path / "o.blend"))
    assert proc.returncode == 2 and "apply_best" in proc.stderr
    proc = cli("--blend", str(tmp_path / "missing.blend"), "--instruction", "x")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    (tmp_path / "corrupt.blend").write_bytes(input_blend.read_bytes()[:4096])  # a truncated file
    (tmp_path / "notes.blend").write_text("not a blend file\n")
    for name, reason in (("corrupt.blend", "Missing DNA block"), ("notes.blend", "not supported")):
        proc = cli("--blend", str(tmp_path / name), "--instruction", "x")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert f"error: {name}: not a readable .blend file" in proc.stderr and reason in proc.stderr
    proc = cli("--blend", str(input_blend), "--instruction", "x", "--views", "0")
    assert proc.returncode == 2 and "views" in proc.stderr
    proc = cli("--blend", str(input_blend), "--server-key", "k")
    assert proc.returncode == 2 and "--instruction" in proc.stderr  # argparse: required
    proc = cli("--blend", str(input_blend), "-i", "x", "--endpoint", "localhost:5555")
    assert proc.returncode == 2 and "did you mean tcp://localhost:5555?" in proc.stderr
    proc = cli("--blend", str(input_blend), "-i", "x", "--curve-dir", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.split()[-1][0].isdigit()
    assert digest(input_blend) == before
