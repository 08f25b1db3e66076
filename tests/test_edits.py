"""The edit vocabulary: every op round-trips, the schemas are valid and scene-narrowed,
and each kind of bad plan is rejected with its own code."""

from __future__ import annotations

import json

import jsonschema
import pytest

from evlm import edits
from evlm.edits import PlanError, generic_json_schema, plan_json_schema, validate_plan
from evlm.scene import SceneGraph, SceneObject

from .conftest import make_scene

# One valid example of every op against conftest's scene (Cube, chair_02, Lamp, Camera; Cube animated).
EXAMPLES: dict[str, dict] = {
    "translate": {"targets": ["Cube"], "vector": [0, 0, 1.5], "mode": "relative", "space": "world"},
    "rotate": {"targets": ["chair_02"], "degrees": [0, 0, 90], "mode": "relative", "space": "local"},
    "scale": {"targets": ["Cube", "chair_02"], "factor": [1.2, 1.2, 1.2], "mode": "relative"},
    "set_base_color": {"targets": ["Cube"], "color": [0.9, 0.1, 0.1], "slot": 0},
    "set_roughness": {"targets": ["Cube"], "value": 0.2, "slot": 0},
    "set_metallic": {"targets": ["chair_02"], "value": 1.0, "slot": 0},
    "set_emission": {"targets": ["Cube"], "color": [1, 0.5, 0.2], "strength": 5.0, "slot": 0},
    "set_alpha": {"targets": ["Cube"], "value": 0.5, "slot": 0},
    "assign_material": {
        "targets": ["chair_02"],
        "name": "Velvet",
        "base_color": [0.3, 0, 0.1],
        "roughness": 0.9,
        "metallic": 0.0,
        "slot": 0,
    },
    "set_light_color": {"targets": ["Lamp"], "color": [1, 0.8, 0.6]},
    "set_light_energy": {"targets": ["Lamp"], "value": 0.5, "mode": "multiply"},
    "set_light_type": {"targets": ["Lamp"], "type": "AREA"},
    "add_light": {"name": "Fill", "type": "AREA", "location": [-3, 2, 3], "color": [1, 1, 1], "energy": 300},
    "set_world_color": {"color": [0.02, 0.02, 0.05]},
    "set_world_strength": {"value": 0.3},
    "set_focal_length": {"camera": "Camera", "value": 85},
    "move_camera": {"camera": "Camera", "vector": [0, 1, 0], "mode": "relative"},
    "camera_look_at": {"camera": "Camera", "target": "chair_02"},
    "set_visibility": {"targets": ["chair_02"], "visible": False},
    "duplicate": {"targets": ["chair_02"], "offset": [1.5, 0, 0]},
    "delete": {"targets": ["chair_02"]},
    "set_shading": {"targets": ["Cube"], "smooth": True},
    "add_modifier": {"targets": ["Cube"], "modifier": {"type": "SUBSURF", "levels": 2}},
    "adjust_modifier": {
        "targets": ["Cube"],
        "name": "Bevel",
        "modifier": {"type": "BEVEL", "width": 0.1, "segments": 4},
    },
    "remove_modifier": {"targets": ["Cube"], "name": "Bevel"},
    "retime": {"targets": ["Cube"], "factor": 1.5, "pivot_frame": 1},
    "shift_keys": {"targets": ["Cube"], "frames": 12},
    "scale_amplitude": {"targets": ["Cube"], "channel": "location", "index": 2, "factor": 0.5},
    "set_interpolation": {"targets": ["Cube"], "interpolation": "BEZIER", "easing": "EASE_IN_OUT"},
    "insert_keyframe": {"target": "Cube", "channel": "location", "index": 2, "frame": 36, "value": 2},
    "delete_keyframe": {"target": "Cube", "channel": "location", "index": 2, "frame": 24},
    "set_frame_range": {"start": 1, "length": 96, "fps": 24},
    "generative_edit": {
        "modality": "3d",
        "prompt": "a worn leather armchair",
        "negative_prompt": "",
        "strength": 0.7,
        "mask": {"objects": ["chair_02"], "regions": [{"view": 0, "box": [0.1, 0.2, 0.5, 0.9]}]},
    },
}


def plan_with(*ops: dict) -> dict:
    return {
        "reasoning": "because",
        "suggestions": [{"title": "Try this", "rationale": "it fits", "confidence": 0.7, "ops": list(ops)}],
    }


def op(op_name: str, /, **changes) -> dict:
    return {"op": op_name, **EXAMPLES[op_name], **changes}


def test_examples_cover_the_whole_vocabulary() -> None:
    assert set(EXAMPLES) == set(edits.OPS)


@pytest.mark.parametrize("name", sorted(edits.OPS))
def test_every_op_round_trips_and_fits_its_scene_schema(name: str, scene: SceneGraph) -> None:
    plan = validate_plan(plan_with(op(name)), scene)
    parsed = plan.suggestions[0].ops[0]
    assert type(parsed) is edits.OPS[name]
    assert validate_plan(plan.model_dump_json(), scene) == plan  # JSON round trip is lossless
    # The per-scene schema (what the grammar enforces) accepts every valid plan.
    jsonschema.validate(plan.model_dump(mode="json"), plan_json_schema(scene))


def test_schemas_are_valid_json_schema(scene: SceneGraph) -> None:
    for schema in (generic_json_schema(), plan_json_schema(scene), plan_json_schema(None)):
        jsonschema.Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(plan_json_schema(scene))  # self-contained for the grammar compiler


def _op_names(schema: dict) -> set[str]:
    branches = schema["properties"]["suggestions"]["items"]["properties"]["ops"]["items"]["anyOf"]
    return {b["properties"]["op"]["const"] for b in branches}


def test_scene_schema_narrows_targets_to_scene_names(scene: SceneGraph) -> None:
    schema = plan_json_schema(scene)
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid(plan_with(op("translate")))
    assert not v.is_valid(plan_with(op("translate", targets=["Ghost"])))
    assert not v.is_valid(plan_with(op("set_base_color", targets=["Lamp"])))  # a light has no material
    assert not v.is_valid(plan_with(op("set_light_energy", targets=["Cube"])))


def test_scene_schema_leaves_out_ops_the_scene_cannot_take() -> None:
    bare = SceneGraph(objects=[SceneObject(name="Cube")])
    names = _op_names(plan_json_schema(bare))
    assert "translate" in names and "set_base_color" in names
    assert not names & {"set_light_energy", "set_focal_length", "retime", "remove_modifier"}
    assert _op_names(plan_json_schema(None)) == {"generative_edit"}


def test_generative_mask_without_scene_takes_no_objects() -> None:
    schema = plan_json_schema(None)
    v = jsonschema.Draft202012Validator(schema)
    ok = op("generative_edit", mask={"objects": [], "regions": [{"view": 0, "box": [0, 0, 1, 1]}]})
    assert v.is_valid(plan_with(ok))
    assert validate_plan(plan_with(ok), None)
    with pytest.raises(PlanError) as e:
        validate_plan(plan_with(op("generative_edit")), None)  # names chair_02, but there is no scene
    assert e.value.code == "missing_target"
    with pytest.raises(PlanError) as e:
        validate_plan(plan_with(op("set_world_strength")), None)
    assert e.value.code == "needs_scene"


@pytest.mark.parametrize(
    ("bad", "code", "where"),
    [
        (plan_with({"op": "explode", "targets": ["Cube"]}), "unknown_op", "ops.0"),
        (plan_with(op("translate", vector=[0, "up", 1])), "wrong_type", "vector"),
        (plan_with(op("translate", vector=[0, 1])), "out_of_range", "vector"),
        (plan_with(op("set_roughness", value=1.5)), "out_of_range", "value"),
        (plan_with(op("retime", factor=0)), "out_of_range", "factor"),
        (plan_with(op("translate", targets=["Ghost"])), "missing_target", "targets.0"),
        (plan_with(op("set_light_color", targets=["Cube"])), "missing_target", "targets.0"),
        (plan_with(op("camera_look_at", target="Nope")), "missing_target", "target"),
        (plan_with(op("remove_modifier", name="Subsurf")), "missing_target", "name"),
        (plan_with(op("translate", speed=3)), "unknown_field", "speed"),
        (plan_with({"op": "translate", "targets": ["Cube"]}), "missing_field", "vector"),
        (plan_with(op("set_light_type", type="LASER")), "bad_value", "type"),
        (plan_with(op("set_frame_range", length=0)), "out_of_range", "length"),
        ({"reasoning": "x", "suggestions": []}, "out_of_range", "suggestions"),
        ("{not json", "invalid_json", ""),
        ("[1, 2]", "wrong_type", ""),
    ],
)
def test_bad_plans_are_rejected_with_their_own_code(bad, code: str, where: str, scene: SceneGraph) -> None:  # noqa: ANN001
    with pytest.raises(PlanError) as e:
        validate_plan(bad, scene)
    assert e.value.code == code, e.value
    assert where in e.value.path


def test_plan_error_message_names_the_problem(scene: SceneGraph) -> None:
    with pytest.raises(PlanError, match="object 'Ghost' is not in the scene"):
        validate_plan(plan_with(op("translate", targets=["Ghost"])), scene)
    with pytest.raises(PlanError, match="unknown op 'explode'"):
        validate_plan(plan_with({"op": "explode"}), scene)


def test_non_finite_numbers_are_rejected(scene: SceneGraph) -> None:
    text = json.dumps(plan_with(op("translate"))).replace("1.5", "NaN")
    with pytest.raises(PlanError):
        validate_plan(text, scene)


def test_vocabulary_text_lists_every_op() -> None:
    text = edits.vocabulary_text()
    for name in edits.OPS:
        assert f"- {name}(" in text


def test_make_scene_is_consistent() -> None:
    s = make_scene()
    assert s.animated_names() == ["Cube"] and s.light_names() == ["Lamp"] and s.geometry_names() == ["Cube", "chair_02"]


def test_repeated_targets_count_once(scene: SceneGraph) -> None:
    plan = validate_plan(plan_with(op("translate", targets=["Cube", "chair_02", "Cube"])), scene)
    assert plan.suggestions[0].ops[0].targets == ["Cube", "chair_02"]
