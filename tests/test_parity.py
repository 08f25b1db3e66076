"""Train on what you serve: a scene built in Blender, captured by the add-on (what serving sends),
exported to glTF and rendered by the shared offscreen renderer the way `evlm-batch` and
`evlm-synth` render (what training records hold), must give the same marks and the same scene graph.

Blender runs in its own Python (`.venv-blender`, or $EVLM_BLENDER_PYTHON: tests/parity_blender.py),
the mesh renderer in a subprocess of this one (tests/parity_mesh.py). What glTF cannot carry, and
so is not compared (each is checked to be absent on the glTF side, so a change there shows):

- objects that are not mesh geometry (lights, cameras, Empties: the mesh reader keeps meshes only),
  and objects hidden from renders (the export keeps renderable objects only); a mesh parented to an
  Empty therefore has no parent there;
- modifiers (the export applies them: the geometry and bounds agree, the modifier list is empty);
- emission strength (glTF's core emissive factor is colour times strength, clipped to 1; the mesh
  reader does not read the strength extension): the scene has no emissive material;
- lights, cameras, world and animation records (the mesh reader reads no lights, cameras, world or
  animation; the views are compared at the captured frame).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BLENDER_PYTHON = Path(os.environ.get("EVLM_BLENDER_PYTHON") or ROOT / ".venv-blender" / "bin" / "python")
CENTRE_PX = 3  # "within a few pixels", at 256 px


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    if not BLENDER_PYTHON.exists():
        pytest.skip(f"needs Blender's Python ({BLENDER_PYTHON}; scripts/setup_blender.sh)")
    out = tmp_path_factory.mktemp("parity")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # each script puts this checkout first
    for python, script in ((BLENDER_PYTHON, "parity_blender.py"), (Path(sys.executable), "parity_mesh.py")):
        proc = subprocess.run([str(python), str(ROOT / "tests" / script), str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((out / "capture.json").read_text()), json.loads((out / "mesh.json").read_text()), out


def test_marks_agree(both: tuple[dict, dict, Path]) -> None:
    served, trained, _ = both
    size = served["views"][0]["width"]
    assert len(served["views"]) == len(trained["views"]) == 4
    for view_s, view_t in zip(served["views"], trained["views"], strict=True):
        marks_s = {m["object"]: m for m in view_s["marks"]}
        marks_t = {m["object"]: m for m in view_t["marks"]}
        assert sorted(marks_s) == sorted(marks_t), view_s["label"]  # the same objects marked
        for name, ms in marks_s.items():
            mt = marks_t[name]
            assert ms["index"] == mt["index"], name  # the same numbers
            gap = np.abs(np.subtract(ms["center"], mt["center"])) * size
            assert gap.max() <= CENTRE_PX, (view_s["label"], name, gap)
            assert np.abs(np.subtract(ms["box"], mt["box"])).max() * size <= CENTRE_PX, (view_s["label"], name)
    # The occluded ball: hidden behind the wall in view 0 (no mark on either side), marked elsewhere.
    assert "Hidden_Ball" not in {m["object"] for m in served["views"][0]["marks"]}
    assert "Hidden_Ball" in {m["object"] for m in served["views"][2]["marks"]}
    # The renderer frames the scene as capture does, without being told the poses.
    for pose, view in zip(trained["poses"], served["views"], strict=True):
        np.testing.assert_allclose(np.array(pose).reshape(-1), view["pose"], atol=1e-4)


def test_pictures_agree(both: tuple[dict, dict, Path]) -> None:
    """The renderer draws what Workbench shows (base colours, Workbench's studio light, the world
    colour): over the pixels that are not background, a few levels of 255 apart on average, and
    at every mark's centre within 32 levels (specular highlights and anti-aliasing differ). Before
    the renderer took Workbench's studio light, the average was about 66 levels."""
    served, _, out = both
    for i, view in enumerate(served["views"]):
        blender = np.asarray(Image.open(out / f"clean_{i}.png").convert("RGB")).astype(float)
        mesh = np.asarray(Image.open(out / f"mesh_clean_{i}.png").convert("RGB")).astype(float)
        assert (blender[0, 0] == mesh[0, 0]).all()  # the world colour
        drawn = np.abs(blender - blender[0, 0]).max(axis=2) > 0
        assert np.abs(blender - mesh)[drawn].mean() < 5, view["label"]
        for mark in view["marks"]:
            x, y = (int(c * s) for c, s in zip(mark["center"], (view["width"], view["height"]), strict=True))
            assert np.abs(blender[y, x] - mesh[y, x]).max() <= 32, (view["label"], mark["object"])


def test_scene_graphs_agree_field_by_field(both: tuple[dict, dict, Path]) -> None:
    served, trained, _ = both
    geometry = {o["name"]: o for o in served["scene"]["objects"] if o["mark"] is not None}
    objects = {o["name"]: o for o in trained["scene"]["objects"]}
    assert sorted(objects) == sorted(geometry)  # visible geometry only (module docstring)
    assert {o["name"] for o in served["scene"]["objects"]} - set(objects) == {
        "Key_Light", "Sun", "Shot_Cam", "Side_Cam", "Rig", "Stashed_Box",
    }  # fmt: skip
    compared = 0
    for name, s in geometry.items():
        t = objects[name]
        for key in ("type", "visible", "materials", "mark"):
            assert s[key] == t[key], (name, key)
        for key in ("location", "rotation", "scale", "dimensions", "bbox_min", "bbox_max"):
            assert s[key] == pytest.approx(t[key], abs=1e-4), (name, key)
        parent = s["parent"] if s["parent"] in objects else None  # a parent that is an Empty is not carried
        assert t["parent"] == parent, name
        assert t["modifiers"] == [], name  # applied by the export
        compared += 1
    assert compared == 7 and geometry["Crate_Lid"]["parent"] == "Crate" and geometry["Cone"]["parent"] == "Rig"
    materials_s = {m["name"]: m for m in served["scene"]["materials"]}
    materials_t = {m["name"]: m for m in trained["scene"]["materials"]}
    used = {n for o in geometry.values() for n in o["materials"]}
    assert sorted(materials_t) == sorted(used)
    for name in used:
        for key, value in materials_s[name].items():  # colours within 8 bits (glTF stores them so)
            assert materials_t[name][key] == (value if key == "name" else pytest.approx(value, abs=2e-3)), (name, key)
    assert trained["scene"]["lights"] == trained["scene"]["cameras"] == [] and trained["scene"]["animation"] is None
    assert served["scene"]["lights"] and served["scene"]["cameras"] and served["scene"]["animation"]["objects"]
