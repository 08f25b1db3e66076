"""The edit plan: a closed, versioned vocabulary of typed, range-checked operations (pure Python).

The model's answer is data, never code: it is parsed into these pydantic models, checked against
the scene graph, and only then shown or applied. The same models produce the JSON Schema that
drives constrained decoding; `plan_json_schema(scene)` narrows every target field to an enum of
that scene's names, so a constrained model cannot even name an object that is not there.

Each op names its targets by scene-graph name. Which kind of name a field takes (any object, a
geometry object, a light, a camera, an animated object, a modifier) is declared once per class in
`_refs`; both the per-request schema and `validate_plan` read it.
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, ClassVar, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from evlm.scene import Interpolation, SceneGraph

VOCABULARY_VERSION = 1
MAX_SUGGESTIONS = 5
MAX_OPS = 8
MAX_TARGETS = 16

Name = Annotated[str, Field(min_length=1, max_length=255)]
# A set of names: repeats are dropped (order kept), so an op never hits an object twice.
Targets = Annotated[
    list[Name], Field(min_length=1, max_length=MAX_TARGETS), AfterValidator(lambda v: list(dict.fromkeys(v)))
]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
RGB = Annotated[list[Unit], Field(min_length=3, max_length=3)]


def _vec3(lo: float, hi: float) -> object:
    return Annotated[list[Annotated[float, Field(ge=lo, le=hi)]], Field(min_length=3, max_length=3)]


Offset = _vec3(-1000.0, 1000.0)  # metres
Degrees = _vec3(-720.0, 720.0)
Factor3 = _vec3(0.001, 1000.0)
Mode = Literal["relative", "absolute"]
Space = Literal["world", "local"]
ChannelPath = Literal["location", "rotation_euler", "scale"]


class PlanError(ValueError):
    """A plan that cannot be used. `code` is stable; `path` points at the offending field."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" (at {path})" if path else ""))
        self.code = code
        self.message = message
        self.path = path


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # field name -> kind of scene name it holds ("object", "geometry", "light", "camera",
    # "animated", "modifier"); a list field holds several.
    _refs: ClassVar[dict[str, str]] = {}


# ---------------------------------------------------------------- transform
class Translate(_Model):
    """Move objects: by `vector` (relative) or to `vector` (absolute)."""

    op: Literal["translate"]
    targets: Targets
    vector: Offset
    mode: Mode = "relative"
    space: Space = "world"
    _refs = {"targets": "object"}


class Rotate(_Model):
    """Rotate by (relative) or to (absolute) XYZ Euler angles in degrees."""

    op: Literal["rotate"]
    targets: Targets
    degrees: Degrees
    mode: Mode = "relative"
    space: Space = "world"
    _refs = {"targets": "object"}


class Scale(_Model):
    """Multiply the scale by `factor` (relative) or set it (absolute)."""

    op: Literal["scale"]
    targets: Targets
    factor: Factor3
    mode: Mode = "relative"
    _refs = {"targets": "object"}


# ---------------------------------------------------------------- material (on the object's slot)
class SetBaseColor(_Model):
    op: Literal["set_base_color"]
    targets: Targets
    color: RGB  # linear RGB
    slot: int = Field(default=0, ge=0, le=63)
    _refs = {"targets": "geometry"}


class SetRoughness(_Model):
    op: Literal["set_roughness"]
    targets: Targets
    value: Unit
    slot: int = Field(default=0, ge=0, le=63)
    _refs = {"targets": "geometry"}


class SetMetallic(_Model):
    op: Literal["set_metallic"]
    targets: Targets
    value: Unit
    slot: int = Field(default=0, ge=0, le=63)
    _refs = {"targets": "geometry"}


class SetEmission(_Model):
    op: Literal["set_emission"]
    targets: Targets
    color: RGB
    strength: Annotated[float, Field(ge=0.0, le=1000.0)]
    slot: int = Field(default=0, ge=0, le=63)
    _refs = {"targets": "geometry"}


class SetAlpha(_Model):
    op: Literal["set_alpha"]
    targets: Targets
    value: Unit
    slot: int = Field(default=0, ge=0, le=63)
    _refs = {"targets": "geometry"}


class AssignMaterial(_Model):
    """Give the objects a new material (replacing slot `slot`)."""

    op: Literal["assign_material"]
    targets: Targets
    name: Name
    base_color: RGB
    roughness: Unit = 0.5
    metallic: Unit = 0.0
    slot: int = Field(default=0, ge=0, le=63)
    _refs = {"targets": "geometry"}


# ---------------------------------------------------------------- light and world
class SetLightColor(_Model):
    op: Literal["set_light_color"]
    targets: Targets
    color: RGB
    _refs = {"targets": "light"}


class SetLightEnergy(_Model):
    """Set the energy (absolute, W) or multiply it (relative)."""

    op: Literal["set_light_energy"]
    targets: Targets
    value: Annotated[float, Field(ge=0.0, le=1e6)]
    mode: Literal["absolute", "multiply"] = "multiply"
    _refs = {"targets": "light"}


class SetLightType(_Model):
    op: Literal["set_light_type"]
    targets: Targets
    type: Literal["POINT", "SUN", "SPOT", "AREA"]
    _refs = {"targets": "light"}


class AddLight(_Model):
    op: Literal["add_light"]
    name: Name
    type: Literal["POINT", "SUN", "SPOT", "AREA"]
    location: Offset
    color: RGB = [1.0, 1.0, 1.0]
    energy: Annotated[float, Field(ge=0.0, le=1e6)] = 1000.0


class SetWorldColor(_Model):
    op: Literal["set_world_color"]
    color: RGB


class SetWorldStrength(_Model):
    op: Literal["set_world_strength"]
    value: Annotated[float, Field(ge=0.0, le=1000.0)]


# ---------------------------------------------------------------- camera
class SetFocalLength(_Model):
    op: Literal["set_focal_length"]
    camera: Name
    value: Annotated[float, Field(ge=1.0, le=5000.0)]  # mm
    _refs = {"camera": "camera"}


class MoveCamera(_Model):
    op: Literal["move_camera"]
    camera: Name
    vector: Offset
    mode: Mode = "relative"
    _refs = {"camera": "camera"}


class CameraLookAt(_Model):
    op: Literal["camera_look_at"]
    camera: Name
    target: Name
    _refs = {"camera": "camera", "target": "object"}


# ---------------------------------------------------------------- object
class SetVisibility(_Model):
    op: Literal["set_visibility"]
    targets: Targets
    visible: bool
    _refs = {"targets": "object"}


class Duplicate(_Model):
    op: Literal["duplicate"]
    targets: Targets
    offset: Offset
    _refs = {"targets": "object"}


class Delete(_Model):
    op: Literal["delete"]
    targets: Targets
    _refs = {"targets": "object"}


class SetShading(_Model):
    op: Literal["set_shading"]
    targets: Targets
    smooth: bool
    _refs = {"targets": "geometry"}


class Bevel(_Model):
    type: Literal["BEVEL"]
    width: Annotated[float, Field(ge=0.0, le=10.0)] = 0.02
    segments: int = Field(default=2, ge=1, le=32)


class Subdivision(_Model):
    type: Literal["SUBSURF"]
    levels: int = Field(default=1, ge=0, le=6)


class Array(_Model):
    type: Literal["ARRAY"]
    count: int = Field(default=2, ge=1, le=1000)
    relative_offset: _vec3(-100.0, 100.0) = [1.0, 0.0, 0.0]


class Solidify(_Model):
    type: Literal["SOLIDIFY"]
    thickness: Annotated[float, Field(ge=-10.0, le=10.0)] = 0.01


class Mirror(_Model):
    type: Literal["MIRROR"]
    axes: Annotated[list[bool], Field(min_length=3, max_length=3)] = [True, False, False]


class Decimate(_Model):
    type: Literal["DECIMATE"]
    ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5


class Wireframe(_Model):
    type: Literal["WIREFRAME"]
    thickness: Annotated[float, Field(ge=0.0, le=10.0)] = 0.02


ModifierSettings = Annotated[
    Bevel | Subdivision | Array | Solidify | Mirror | Decimate | Wireframe,
    Field(discriminator="type"),
]


class AddModifier(_Model):
    op: Literal["add_modifier"]
    targets: Targets
    modifier: ModifierSettings
    _refs = {"targets": "geometry"}


class AdjustModifier(_Model):
    """Change the settings of an existing modifier (found by name on each target)."""

    op: Literal["adjust_modifier"]
    targets: Targets
    name: Name
    modifier: ModifierSettings
    _refs = {"targets": "geometry", "name": "modifier"}


class RemoveModifier(_Model):
    op: Literal["remove_modifier"]
    targets: Targets
    name: Name
    _refs = {"targets": "geometry", "name": "modifier"}


# ---------------------------------------------------------------- animation (4D)
class Retime(_Model):
    """Scale the timing of the targets' keys about `pivot_frame` (factor 2 = twice as slow)."""

    op: Literal["retime"]
    targets: Targets
    factor: Annotated[float, Field(ge=0.01, le=100.0)]
    pivot_frame: Annotated[float, Field(ge=-1e5, le=1e5)] = 1.0
    _refs = {"targets": "animated"}


class ShiftKeys(_Model):
    op: Literal["shift_keys"]
    targets: Targets
    frames: Annotated[float, Field(ge=-1e5, le=1e5)]
    _refs = {"targets": "animated"}


class ScaleAmplitude(_Model):
    """Scale a channel's motion about its first key's value (index -1: every axis)."""

    op: Literal["scale_amplitude"]
    targets: Targets
    channel: ChannelPath
    index: int = Field(default=-1, ge=-1, le=2)
    factor: Annotated[float, Field(ge=0.0, le=100.0)]
    _refs = {"targets": "animated"}


class SetInterpolation(_Model):
    op: Literal["set_interpolation"]
    targets: Targets
    interpolation: Interpolation
    easing: Literal["AUTO", "EASE_IN", "EASE_OUT", "EASE_IN_OUT"] = "AUTO"
    _refs = {"targets": "animated"}


class InsertKeyframe(_Model):
    op: Literal["insert_keyframe"]
    target: Name
    channel: ChannelPath
    index: int = Field(ge=0, le=2)
    frame: Annotated[float, Field(ge=-1e5, le=1e5)]
    value: Annotated[float, Field(ge=-1e5, le=1e5)]
    _refs = {"target": "object"}


class DeleteKeyframe(_Model):
    op: Literal["delete_keyframe"]
    target: Name
    channel: ChannelPath
    index: int = Field(ge=-1, le=2)
    frame: Annotated[float, Field(ge=-1e5, le=1e5)]
    _refs = {"target": "animated"}


class SetFrameRange(_Model):
    """Play frames start .. start + length - 1 (a length, not an end: no rule across fields)."""

    op: Literal["set_frame_range"]
    start: int = Field(ge=0, le=500_000)
    length: int = Field(ge=1, le=500_000)
    fps: Annotated[float, Field(ge=1.0, le=240.0)] = 24.0


# ---------------------------------------------------------------- generative hand-off
class Region(_Model):
    view: int = Field(ge=0, le=255)
    box: Annotated[list[Unit], Field(min_length=4, max_length=4)]  # x0, y0, x1, y1 in the view


class Mask(_Model):
    objects: Annotated[list[Name], Field(max_length=MAX_TARGETS)] = []
    regions: Annotated[list[Region], Field(max_length=16)] = []
    _refs = {"objects": "object"}


class GenerativeEdit(_Model):
    """The paper's native output: a refined prompt and a mask, for a generative editor."""

    op: Literal["generative_edit"]
    modality: Literal["image", "video", "3d", "4d"]
    prompt: Annotated[str, Field(min_length=1, max_length=400)]
    negative_prompt: Annotated[str, Field(max_length=200)] = ""
    strength: Unit = 0.6
    mask: Mask


OP_CLASSES: tuple[type[_Model], ...] = (
    Translate, Rotate, Scale,
    SetBaseColor, SetRoughness, SetMetallic, SetEmission, SetAlpha, AssignMaterial,
    SetLightColor, SetLightEnergy, SetLightType, AddLight, SetWorldColor, SetWorldStrength,
    SetFocalLength, MoveCamera, CameraLookAt,
    SetVisibility, Duplicate, Delete, SetShading, AddModifier, AdjustModifier, RemoveModifier,
    Retime, ShiftKeys, ScaleAmplitude, SetInterpolation, InsertKeyframe, DeleteKeyframe,
    SetFrameRange,
    GenerativeEdit,
)  # fmt: skip
OPS: dict[str, type[_Model]] = {c.model_fields["op"].annotation.__args__[0]: c for c in OP_CLASSES}

EditOp = Annotated[Union[OP_CLASSES], Field(discriminator="op")]  # type: ignore[valid-type]  # noqa: UP007


class Suggestion(_Model):
    title: Annotated[str, Field(min_length=1, max_length=80)]
    rationale: Annotated[str, Field(max_length=600)]
    confidence: Unit
    ops: Annotated[list[EditOp], Field(min_length=1, max_length=MAX_OPS)]


class EditPlan(_Model):
    reasoning: Annotated[str, Field(max_length=1200)]  # a short summary; the full chain of thought travels apart
    suggestions: Annotated[list[Suggestion], Field(min_length=1, max_length=MAX_SUGGESTIONS)]


_PLAN = TypeAdapter(EditPlan)


# ---------------------------------------------------------------- names a scene offers
def scene_names(scene: SceneGraph | None) -> dict[str, list[str]]:
    """Every kind of name an op can refer to, for this scene (all empty without a scene graph)."""
    if scene is None:
        return {k: [] for k in ("object", "geometry", "light", "camera", "animated", "modifier")}
    return {
        "object": scene.object_names(),
        "geometry": scene.geometry_names(),
        "light": scene.light_names(),
        "camera": scene.camera_names(),
        "animated": scene.animated_names(),
        "modifier": scene.modifier_names(),
    }


# ---------------------------------------------------------------- JSON Schema
def generic_json_schema() -> dict:
    """The scene-independent JSON Schema of an EditPlan (as pydantic writes it)."""
    return EditPlan.model_json_schema()


def plan_json_schema(scene: SceneGraph | None, max_suggestions: int = 3) -> dict:
    """The per-request schema for constrained decoding.

    Self-contained (no $ref), every property required and in a fixed order (so the grammar has
    one shape), target fields narrowed to enums of this scene's names, and ops whose required
    targets this scene lacks left out (no lights: no light ops; no scene graph: only the
    generative hand-off, as `validate_plan` demands).
    """
    names = scene_names(scene)
    classes = OP_CLASSES if scene is not None else (GenerativeEdit,)
    ops = [s for c in classes if (s := _op_schema(c, names)) is not None]
    suggestion = _closed(_inline(Suggestion))
    suggestion["properties"]["ops"] = {
        "type": "array", "items": {"anyOf": ops}, "minItems": 1, "maxItems": MAX_OPS,
    }  # fmt: skip
    plan = _closed(_inline(EditPlan))
    plan["properties"]["suggestions"] = {
        "type": "array",
        "items": suggestion,
        "minItems": 1,
        "maxItems": max(1, min(max_suggestions, MAX_SUGGESTIONS)),
    }
    plan["title"] = "EditPlan"
    return plan


def _op_schema(cls: type[_Model], names: dict[str, list[str]]) -> dict | None:
    schema = _closed(_inline(cls))
    if not _narrow(cls, schema, names):
        return None
    return schema


def _narrow(cls: type[BaseModel], schema: dict, names: dict[str, list[str]]) -> bool:
    """Put enums of scene names on the ref fields of `schema`; False if a required one has none."""
    props = schema["properties"]
    for field, kind in getattr(cls, "_refs", {}).items():
        allowed = names[kind]
        prop = props[field]
        if prop.get("type") == "array":
            if allowed:
                prop["items"] = {"type": "string", "enum": allowed}
            elif prop.get("minItems", 0) > 0:
                return False
            else:
                prop["maxItems"] = 0
        else:
            if not allowed:
                return False
            props[field] = {"type": "string", "enum": allowed}
    for field, info in cls.model_fields.items():  # nested models with refs of their own (Mask)
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel) and getattr(sub, "_refs", None):
            if not _narrow(sub, props[field], names):
                return False
    return True


def _inline(cls: type[BaseModel]) -> dict:
    """The model's schema with every $ref replaced by its definition (our models never recurse)."""
    schema = cls.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: object) -> object:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[1]]))
            return {k: resolve(v) for k, v in node.items() if k != "discriminator"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def _closed(schema: dict) -> dict:
    """Every object: all properties required, no others; titles and defaults dropped (noise)."""

    def walk(node: object) -> object:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items() if k not in ("title", "default", "description", "properties")}
        if "properties" in node:  # a mapping of field names, not schema keywords: keep every key
            out["properties"] = {k: walk(v) for k, v in node["properties"].items()}
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out

    return walk(schema)


# ---------------------------------------------------------------- validation
_ERROR_CODES = {
    "union_tag_invalid": "unknown_op",
    "union_tag_not_found": "missing_field",
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "too_short": "out_of_range",
    "too_long": "out_of_range",
    "string_too_short": "out_of_range",
    "string_too_long": "out_of_range",
    "finite_number": "out_of_range",
    "literal_error": "bad_value",
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
}


def parse_plan(data: str | bytes | dict) -> EditPlan:
    """Parse and type-check a plan (no scene check). Raises PlanError with a stable code."""
    if isinstance(data, dict):
        try:
            data = json.dumps(data, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise PlanError("wrong_type", f"plan is not JSON-serialisable: {e}") from None
    elif not isinstance(data, (str, bytes)):
        raise PlanError("wrong_type", f"a plan is a JSON object, got {type(data).__name__}")
    try:
        return _PLAN.validate_json(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        code = _ERROR_CODES.get(err["type"], "wrong_type")
        path = ".".join(str(p) for p in err["loc"])
        message = err["msg"]
        if code == "unknown_op":
            message = f"unknown op {err.get('input', {}).get('op')!r}; known: {', '.join(OPS)}"
        elif "input" in err and code != "invalid_json":
            message += f", got {_short(err['input'])}"
        raise PlanError(code, message, path) from None


def check_targets(plan: EditPlan, scene: SceneGraph | None) -> None:
    """Every name an op refers to must exist in the scene, with the right kind."""
    names = {k: set(v) for k, v in scene_names(scene).items()}
    for si, suggestion in enumerate(plan.suggestions):
        for oi, op in enumerate(suggestion.ops):
            for path, kind, name in _refs_of(op, f"suggestions.{si}.ops.{oi}"):
                if name not in names[kind]:
                    where = "the scene" if scene is not None else "a request without a scene graph"
                    raise PlanError(
                        "missing_target",
                        f"{op.op}: {kind} {name!r} is not in {where}",
                        path,
                    )


def _refs_of(model: BaseModel, prefix: str) -> list[tuple[str, str, str]]:
    out = []
    for field, kind in getattr(type(model), "_refs", {}).items():
        value = getattr(model, field)
        if isinstance(value, list):
            out += [(f"{prefix}.{field}.{i}", kind, v) for i, v in enumerate(value)]
        else:
            out.append((f"{prefix}.{field}", kind, value))
    for field in type(model).model_fields:
        value = getattr(model, field)
        if isinstance(value, BaseModel):
            out += _refs_of(value, f"{prefix}.{field}")
    return out


def target_kinds(op: BaseModel) -> dict[str, str]:
    """The op's own fields that name things in the scene, each with the kind of name it takes
    ("object", "geometry", "light", "camera", "animated", "modifier"); a list field holds several."""
    return dict(getattr(type(op), "_refs", {}))


def validate_plan(data: str | bytes | dict, scene: SceneGraph | None) -> EditPlan:
    """Parse, type-check and check every target against the scene. Raises PlanError."""
    plan = parse_plan(data)
    if scene is None:
        for si, s in enumerate(plan.suggestions):
            for oi, op in enumerate(s.ops):
                if not isinstance(op, GenerativeEdit):
                    raise PlanError(
                        "needs_scene",
                        f"{op.op} needs a scene graph; a plain image or video request is answered with generative_edit",
                        f"suggestions.{si}.ops.{oi}",
                    )
    check_targets(plan, scene)
    return plan


def vocabulary_text() -> str:
    """A compact description of the op vocabulary, for the model's prompt and for --help."""
    lines = [f"Edit ops (vocabulary v{VOCABULARY_VERSION}); each names its targets by scene name:"]
    for name, cls in OPS.items():
        fields = [f for f in cls.model_fields if f != "op"]
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines.append(f"- {name}({', '.join(fields)})" + (f": {doc}" if doc else ""))
    return "\n".join(lines)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
