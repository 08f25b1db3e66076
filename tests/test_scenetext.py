"""Prompt format 2: the scene as a line per thing, colour names, and which format a checkpoint gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evlm.scene import (
    Animation,
    Camera,
    Channel,
    Keyframe,
    Light,
    Mark,
    Material,
    Modifier,
    ObjectAnimation,
    SceneGraph,
    SceneObject,
    View,
)
from evlm.scenetext import colour_name, light_warmth, num, scene_text
from evlm_server.engine.base import EngineRequest
from evlm_server.engine.prompt import build_messages, read_prompt_format, write_prompt_format

ROOT = Path(__file__).resolve().parent.parent


def test_numbers_are_centimetres_without_trailing_zeros() -> None:
    assert [num(x) for x in (0.5, -1.354, 150.0, 0.0, -0.001, 2.005)] == ["0.5", "-1.35", "150", "0", "0", "2"]


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0.8, 0.05, 0.04), "red"),
        ((0.02, 0.3, 0.02), "green"),
        ((0.08, 0.2, 0.65), "blue"),
        ((0.9, 0.75, 0.05), "yellow"),
        ((0.9, 0.3, 0.02), "orange"),
        ((0.25, 0.09, 0.03), "brown"),
        ((0.3, 0.05, 0.5), "purple"),
        ((0.9, 0.45, 0.55), "pink"),
        ((0.03, 0.03, 0.03), "black"),
        ((0.9, 0.9, 0.88), "white"),
        ((0.2, 0.2, 0.21), "grey"),
        ((0.05, 0.6, 0.7), "cyan"),
        ((0.55, 0.45, 0.35), "beige"),
    ],
)
def test_colour_names_follow_what_a_person_sees(rgb, name) -> None:  # noqa: ANN001
    assert colour_name(rgb) == name


def test_light_warmth() -> None:
    assert [light_warmth(c) for c in ((1, 0.85, 0.6), (0.7, 0.8, 1), (1, 1, 1))] == ["warm", "cool", "neutral"]


def small_scene() -> SceneGraph:
    return SceneGraph(
        objects=[
            SceneObject(name="Table", bbox_min=[-0.6, -0.4, 0], bbox_max=[0.6, 0.4, 0.75], materials=["Wood"],
                        modifiers=[Modifier(name="Bevel", type="BEVEL")], mark=1),
            SceneObject(name="Ball", parent="Table", rotation=[0, 0, 0.25], scale=[2, 2, 2], bbox_min=[0.1, 0, 0.75],
                        bbox_max=[0.3, 0.2, 0.95], materials=["Rubber", None], visible=False, mark=2),
            SceneObject(name="Key", type="LIGHT", location=[1, -2, 3]),
            SceneObject(name="Cam", type="CAMERA", location=[5, -5, 3], rotation=[1.1, 0, 0.785]),
        ],
        materials=[Material(name="Wood", base_color=[0.45, 0.22, 0.08, 1]),
                   Material(name="Rubber", base_color=[0.8, 0.05, 0.04, 1], roughness=0.9, metallic=0.5,
                            emission_color=[1, 0.5, 0], emission_strength=2, alpha=0.5)],
        lights=[Light(name="Key", type="AREA", color=[1, 0.9, 0.7], energy=250)],
        cameras=[Camera(name="Cam", focal_length=35)],
        animation=Animation(frame_end=48, objects=[ObjectAnimation(object="Ball", channels=[
            Channel(path="location", index=2, keyframes=[Keyframe(frame=1, value=0.75), Keyframe(frame=12, value=1.5)])
        ])]),
    )  # fmt: skip


def test_scene_text_says_each_thing_once() -> None:
    assert scene_text(small_scene()) == (
        "Scene: frame 1 of 1-48 at 24 fps\n"
        "Objects:\n"
        "- #1 Table, box -0.6 -0.4 0 to 0.6 0.4 0.75, mat Wood, mod Bevel:bevel\n"
        "- #2 Ball, parent Table, rot 0 0 0.25, scale 2 2 2, box 0.1 0 0.75 to 0.3 0.2 0.95, mat Rubber,-, hidden\n"
        "- Key, light, at 1 -2 3\n"
        "- Cam, camera, at 5 -5 3, rot 1.1 0 0.79\n"
        "Materials:\n"
        "- Wood, color 0.45 0.22 0.08 (brown)\n"
        "- Rubber, color 0.8 0.05 0.04 (red), rough 0.9, metal 0.5, emit 1 0.5 0 x2, alpha 0.5\n"
        "Lights:\n"
        "- Key, area, color 1 0.9 0.7 (warm), energy 250\n"
        "Cameras:\n"
        "- Cam, lens 35\n"
        "World: color 0.05 0.05 0.05 (black), strength 1\n"
        "Animation:\n"
        "- Ball location[2] keys 1:0.75 12:1.5 (bezier)"
    )


def test_format_2_is_much_shorter_than_the_json_for_the_sample_scene() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(ROOT / "evlm_server/models/evlm-tiny/tokenizer.json"))
    scene = SceneGraph.model_validate_json((ROOT / "examples/sample_scene/scene.json").read_text())
    text, js = scene_text(scene), scene.to_prompt_json()
    for name in scene.object_names() + scene.material_names():
        assert name in text
    assert len(tok.encode(text).ids) < 0.7 * len(tok.encode(js).ids)


def request(scene: SceneGraph | None) -> EngineRequest:
    marks = [Mark(index=1, object="Table", center=[0.5, 0.64], box=[0.2, 0.5, 0.8, 0.8])]
    views = [View(width=8, height=8, label="orbit 0", marks=marks), View(width=8, height=8, label="orbit 1", frame=12)]
    return EngineRequest(id="r", instruction="make the ball red", scene=scene, views=views, images=[None, None])


def test_each_format_builds_its_own_prompt() -> None:
    text = {
        f: "".join(p.get("text", "") for p in build_messages(request(small_scene()), f)[1]["content"]) for f in (1, 2)
    }
    assert "Scene graph (JSON):" in text[1] and '"bbox_min"' in text[1] and "1=Table" in text[1]
    assert "camera at" in text[1] and "camera at" not in text[2]
    assert scene_text(small_scene()) in text[2] and '"bbox_min"' not in text[2]
    assert "View 0 (orbit 0, frame 1), marks: 1 Table (0.5 0.64):" in text[2]
    assert "View 1 (orbit 1, frame 12):" in text[2]
    for f in (1, 2):
        assert text[f].rstrip().endswith("Instruction: make the ball red\nGive at most 3 suggestions.")


def test_a_checkpoint_declares_its_prompt_format(tmp_path) -> None:  # noqa: ANN001
    assert read_prompt_format(tmp_path) == 1  # says nothing: the JSON format (any Qwen-class model)
    write_prompt_format(tmp_path, 2)
    assert json.loads((tmp_path / "evlm.json").read_text()) == {"prompt_format": 2}
    assert read_prompt_format(tmp_path) == 2
    with pytest.raises(ValueError, match="not one of"):
        write_prompt_format(tmp_path, 7)
    (tmp_path / "evlm.json").write_text('{"prompt_format": 9}')
    with pytest.raises(ValueError, match="prompt_format 9"):
        read_prompt_format(tmp_path)
    (tmp_path / "evlm.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="evlm.json"):
        read_prompt_format(tmp_path)
