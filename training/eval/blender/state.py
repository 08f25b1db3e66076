"""What the evaluation measures of a Blender scene: a plain snapshot, read in Blender, judged anywhere.

`measure.snapshot(scene)` (bpy) fills these records before and after an edit; the checks in
`checks.py` compare the two without bpy, so they are tested in the main suite as well. Positions
and bounds are world space, metres; colours linear RGB; frames are the scene's frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Key:
    frame: float
    value: float
    interpolation: str
    easing: str


@dataclass(frozen=True)
class Modifier:
    name: str
    type: str
    settings: dict[str, float]  # width, segments, levels, count, thickness, ratio (those the type has)


@dataclass(frozen=True)
class Light:
    type: str
    energy: float
    color: Vec3


@dataclass(frozen=True)
class Material:
    base_color: Vec3
    alpha: float
    roughness: float
    metallic: float
    emission_color: Vec3
    emission_strength: float

    @property
    def glow(self) -> float:
        """Emitted power as a number: strength times the brightest emission channel."""
        return self.emission_strength * max(self.emission_color)


@dataclass(frozen=True)
class Object:
    name: str
    type: str
    parent: str | None
    matrix: tuple[float, ...]  # world matrix, 16 floats, row-major
    lo: Vec3  # world axis-aligned bounds of the evaluated geometry (a point for lights, cameras, empties)
    hi: Vec3
    rendered: bool  # shows up in a final render
    vertices: int = 0  # evaluated vertex count (tells copies of an object from other objects)
    smooth: float = 0.0  # share of smooth-shaded faces
    materials: tuple[str | None, ...] = ()
    modifiers: tuple[Modifier, ...] = ()
    light: Light | None = None
    lens: float | None = None  # focal length, mm (cameras)
    keys: dict[str, tuple[Key, ...]] = field(default_factory=dict)  # "location[2]" -> its keys
    track: tuple[tuple[float, float, float, float], ...] = ()  # (frame, x, y, z) of the origin, animated only

    @property
    def location(self) -> Vec3:
        m = self.matrix
        return (m[3], m[7], m[11])

    @property
    def center(self) -> Vec3:
        return tuple((a + b) / 2 for a, b in zip(self.lo, self.hi, strict=True))

    @property
    def size(self) -> Vec3:
        return tuple(b - a for a, b in zip(self.lo, self.hi, strict=True))

    @property
    def bottom(self) -> float:
        return self.lo[2]

    @property
    def top(self) -> float:
        return self.hi[2]

    def axis(self, i: int) -> Vec3:
        """The object's local axis i (0 X, 1 Y, 2 Z) in world space, unit length."""
        m = self.matrix
        return _unit((m[i], m[4 + i], m[8 + i]))

    @property
    def forward(self) -> Vec3:
        """Where a camera or a light looks: its local -Z."""
        return tuple(-v for v in self.axis(2))

    @property
    def yaw(self) -> float:
        """Heading of the local X axis about world Z, degrees."""
        x = self.axis(0)
        return math.degrees(math.atan2(x[1], x[0]))

    def key_range(self) -> tuple[float, float] | None:
        frames = [k.frame for keys in self.keys.values() for k in keys]
        return (min(frames), max(frames)) if frames else None


@dataclass(frozen=True)
class World:
    color: Vec3
    strength: float

    @property
    def brightness(self) -> float:
        return luminance(self.color) * self.strength


@dataclass(frozen=True)
class SceneState:
    objects: dict[str, Object]
    materials: dict[str, Material]
    world: World | None
    frame_start: int
    frame_end: int
    fps: float
    frame_current: int
    camera: str | None

    def material_of(self, name: str, slot: int = 0) -> Material | None:
        obj = self.objects.get(name)
        if obj is None or slot >= len(obj.materials) or obj.materials[slot] is None:
            return None
        return self.materials.get(obj.materials[slot])


# ---------------------------------------------------------------- small geometry and colour helpers
def _unit(v: Vec3) -> Vec3:
    n = math.sqrt(sum(c * c for c in v)) or 1.0
    return tuple(c / n for c in v)


def distance(a: Vec3, b: Vec3) -> float:
    return math.dist(a, b)


def angle(a: Vec3, b: Vec3) -> float:
    """Degrees between two directions."""
    a, b = _unit(a), _unit(b)
    return math.degrees(math.acos(max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b, strict=True))))))


def luminance(rgb: Vec3) -> float:
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def hsv(rgb: Vec3) -> tuple[float, float, float]:
    """Hue in degrees [0, 360), saturation and value in [0, 1] (of the linear colour)."""
    r, g, b = rgb
    hi, lo = max(rgb), min(rgb)
    if hi <= 0:
        return 0.0, 0.0, 0.0
    d = hi - lo
    if d == 0:
        hue = 0.0
    elif hi == r:
        hue = 60 * (((g - b) / d) % 6)
    elif hi == g:
        hue = 60 * ((b - r) / d + 2)
    else:
        hue = 60 * ((r - g) / d + 4)
    return hue % 360, d / hi, hi


# Named colours as ranges of the linear colour's hue, saturation and value. Linear, not sRGB:
# an orange picked in Blender's colour wheel, (1, 0.26, 0.0), has a hue near 15 degrees here.
COLOURS: dict[str, tuple[tuple[float, float] | None, tuple[float, float], tuple[float, float]]] = {
    # name: (hue range or None, saturation range, value range)
    "red": ((345.0, 12.0), (0.6, 1.0), (0.15, 1e9)),
    "orange": ((6.0, 40.0), (0.6, 1.0), (0.3, 1e9)),
    "yellow": ((38.0, 70.0), (0.6, 1.0), (0.3, 1e9)),
    "green": ((75.0, 165.0), (0.4, 1.0), (0.05, 1e9)),
    "blue": ((190.0, 260.0), (0.4, 1.0), (0.05, 1e9)),
    "bronze": ((12.0, 45.0), (0.45, 1.0), (0.08, 0.9)),
    "white": (None, (0.0, 0.2), (0.6, 1e9)),
    "black": (None, (0.0, 1.0), (0.0, 0.05)),
}


def is_colour(rgb: Vec3, name: str) -> bool:
    hue_range, (s_lo, s_hi), (v_lo, v_hi) = COLOURS[name]
    hue, sat, val = hsv(rgb)
    if not (s_lo <= sat <= s_hi and v_lo <= val <= v_hi):
        return False
    if hue_range is None:
        return True
    lo, hi = hue_range
    return lo <= hue <= hi if lo <= hi else hue >= lo or hue <= hi  # a range across 0 degrees


def warmth(rgb: Vec3) -> float:
    """Red minus blue: up is warmer, down is cooler."""
    return rgb[0] - rgb[2]


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple | list):
        return "(" + ", ".join(fmt(x) for x in v) + ")"
    return str(v)
