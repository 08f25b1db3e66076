"""The scene graph a client sends with a request (wire contract v1, pure Python).

What the model sees of the scene besides the pictures: objects with world transforms and bounds,
materials, lights, cameras, world, animation, and per view the camera, frame and mark table that
ties an index drawn on the picture to an object name. Names are Blender's (63 bytes at most).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_NAME = 255  # characters in a name (Blender 5: up to 255 bytes, so every Blender name fits)
MAX_SCENE_NAME = 63
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Finite = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Vec3 = Annotated[list[Finite], Field(min_length=3, max_length=3)]
RGB = Annotated[list[Unit], Field(min_length=3, max_length=3)]
RGBA = Annotated[list[Unit], Field(min_length=4, max_length=4)]

# Blender types whose data can hold materials and modifiers.
GEOMETRY_TYPES = frozenset({"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME"})
LIGHT_TYPES = ("POINT", "SUN", "SPOT", "AREA")
INTERPOLATIONS = (
    "CONSTANT", "LINEAR", "BEZIER", "SINE", "QUAD", "CUBIC", "QUART", "QUINT", "EXPO", "CIRC", "BACK", "BOUNCE",
    "ELASTIC",
)  # fmt: skip
Interpolation = Literal[INTERPOLATIONS]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Modifier(_Model):
    name: Name
    type: Annotated[str, Field(max_length=32)]


class SceneObject(_Model):
    name: Name
    type: Annotated[str, Field(max_length=32)] = "MESH"
    parent: Name | None = None
    location: Vec3 = [0.0, 0.0, 0.0]  # world space, metres
    rotation: Vec3 = [0.0, 0.0, 0.0]  # world XYZ Euler, radians
    scale: Vec3 = [1.0, 1.0, 1.0]
    dimensions: Vec3 = [0.0, 0.0, 0.0]  # world-space bounding box size
    bbox_min: Vec3 = [0.0, 0.0, 0.0]  # world-space axis-aligned bounds
    bbox_max: Vec3 = [0.0, 0.0, 0.0]
    visible: bool = True
    materials: list[Name | None] = Field(default_factory=list, max_length=64)  # slots in order; None: empty
    modifiers: list[Modifier] = Field(default_factory=list, max_length=64)
    mark: int | None = Field(default=None, ge=0)  # set-of-marks index drawn on the views


class Material(_Model):
    name: Name
    base_color: RGBA = [0.8, 0.8, 0.8, 1.0]
    roughness: Unit = 0.5
    metallic: Unit = 0.0
    emission_color: RGB = [0.0, 0.0, 0.0]
    emission_strength: Annotated[float, Field(ge=0.0, le=1e6)] = 0.0
    alpha: Unit = 1.0


class Light(_Model):
    name: Name  # the light object's name
    type: Literal["POINT", "SUN", "SPOT", "AREA"] = "POINT"
    color: RGB = [1.0, 1.0, 1.0]
    energy: Annotated[float, Field(ge=0.0, le=1e9)] = 1000.0  # W, or W/m² for a sun


class Camera(_Model):
    name: Name  # the camera object's name
    focal_length: Annotated[float, Field(gt=0.0, le=1e4)] = 50.0  # mm
    sensor_width: Annotated[float, Field(gt=0.0, le=1e3)] = 36.0  # mm


class World(_Model):
    color: RGB = [0.05, 0.05, 0.05]
    strength: Annotated[float, Field(ge=0.0, le=1e6)] = 1.0


class Keyframe(_Model):
    frame: Finite
    value: Finite
    interpolation: Interpolation = "BEZIER"
    easing: Literal["AUTO", "EASE_IN", "EASE_OUT", "EASE_IN_OUT"] = "AUTO"


class Channel(_Model):
    path: Annotated[str, Field(min_length=1, max_length=128)]  # e.g. "location"
    index: int = Field(default=0, ge=0, le=3)  # array index: 0=X, 1=Y, 2=Z
    keyframes: list[Keyframe] = Field(default_factory=list, max_length=10_000)


class ObjectAnimation(_Model):
    object: Name
    channels: list[Channel] = Field(default_factory=list, max_length=256)


class Animation(_Model):
    frame_start: int = 1
    frame_end: int = 250
    fps: Annotated[float, Field(gt=0.0, le=1000.0)] = 24.0
    objects: list[ObjectAnimation] = Field(default_factory=list, max_length=10_000)


class SceneGraph(_Model):
    name: Annotated[str, Field(max_length=MAX_SCENE_NAME)] = "Scene"
    frame_current: int = 1
    objects: list[SceneObject] = Field(default_factory=list, max_length=10_000)
    materials: list[Material] = Field(default_factory=list, max_length=10_000)
    lights: list[Light] = Field(default_factory=list, max_length=10_000)
    cameras: list[Camera] = Field(default_factory=list, max_length=10_000)
    world: World = Field(default_factory=World)
    animation: Animation | None = None

    def object_names(self) -> list[str]:
        return [o.name for o in self.objects]

    def geometry_names(self) -> list[str]:
        """Objects that can carry materials and modifiers."""
        return [o.name for o in self.objects if o.type in GEOMETRY_TYPES]

    def light_names(self) -> list[str]:
        return [light.name for light in self.lights]

    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def material_names(self) -> list[str]:
        return [m.name for m in self.materials]

    def animated_names(self) -> list[str]:
        return [a.object for a in self.animation.objects] if self.animation else []

    def modifier_names(self) -> list[str]:
        return sorted({m.name for o in self.objects for m in o.modifiers})

    def get_object(self, name: str) -> SceneObject | None:
        return next((o for o in self.objects if o.name == name), None)

    def to_prompt_json(self, digits: int = 3) -> str:
        """Compact JSON for the model's prompt: defaults dropped, floats rounded."""
        data = _round(self.model_dump(exclude_defaults=True), digits)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class Mark(_Model):
    """One set-of-marks entry: the index drawn on a view and where it is, in [0, 1] view coordinates."""

    index: int = Field(ge=0)
    object: Name
    center: Annotated[list[Unit], Field(min_length=2, max_length=2)]
    box: Annotated[list[Unit], Field(min_length=4, max_length=4)] | None = None  # x0, y0, x1, y1


class View(_Model):
    """Metadata of one rendered view; its image travels as a raw blob frame."""

    label: Annotated[str, Field(max_length=63)] = ""  # e.g. "orbit 0", "active camera"
    width: int = Field(ge=1, le=16384)
    height: int = Field(ge=1, le=16384)
    frame: int = 1
    # Camera-to-world matrix, row-major 4x4 (Blender's camera looks down its local -Z).
    pose: Annotated[list[Finite], Field(min_length=16, max_length=16)] = [
        1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
    ]  # fmt: skip
    # Pinhole intrinsics in pixels: fx, fy, cx, cy.
    intrinsics: Annotated[list[Finite], Field(min_length=4, max_length=4)] | None = None
    marks: list[Mark] = Field(default_factory=list, max_length=1024)


def _round(value: object, digits: int) -> object:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    return value
