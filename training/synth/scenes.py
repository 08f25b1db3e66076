"""Procedural scenes that look like artists' scenes, as a SceneGraph plus meshes to render.

A scene follows a layout (living room, dining, product shot, still life, street, character,
blockout) built from the kinds of `kinds.py`: descriptive names ("Sofa", "Lamp_Shade",
"Sphere_Ball", "Chair.001") and Blender's defaults ("Cube.003", "Sphere", "Light.002") mixed by a
per-scene naming style; parented objects (a lamp's shade under its base, a car's wheels under its
body, a character's head); same-kind distractors (two to four chairs, several vases) that only
colour, position, size or a mark tell apart, sometimes sharing one material as Blender
duplicates do; small things standing on tables, shelves and pedestals; one to four lights
(key/fill/rim of area, sun, spot or point, lamps with their own light); one to three cameras;
modifiers an artist would have added (bevel, subdivision, mirror, solidify, array); sometimes an
Empty, a hidden object, objects without a material; and in animated scenes keyframed objects
(bounce, bob, spin, slide, jump) among static ones.

The SceneGraph has the form `blender_addon.capture.extract_scene_graph` gives: every object in
scene order with its world transform, world bounds, visibility, material slots and modifiers;
marks 1, 2, ... on the visible geometry in the order of its names (the floor too); materials in order of
first use; a light entry per light object and a camera entry per camera object; the world; and
always an animation block (Blender's default range 1-250 in a static scene).

Geometry is kept per piece in its own coordinates (scale baked in) and placed by a pose per
frame: a child's pose follows its parent's animation. All randomness comes from the
`numpy.random.Generator` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from evlm.marks import number_marks
from evlm.scene import (
    Animation,
    Camera,
    Channel,
    Keyframe,
    Light,
    Material,
    Modifier,
    ObjectAnimation,
    SceneGraph,
    SceneObject,
    World,
)  # fmt: skip
from evlm.scenetext import colour_name
from evlm.views import look_at
from training.synth.kinds import COLORS, KINDS, LOOKS, Kind, Piece, box, merge

__all__ = ["COLORS", "KINDS", "SynthObject", "SynthScene", "build_scene", "evaluate", "main_slot", "r4", "v4"]

Parts = list[tuple[object, int]]  # trimesh meshes in piece coordinates, each with its material slot
NO_MATERIAL = ""  # a slot name for geometry without a material (Blender draws it grey)
DEFAULT_MATERIAL = Material(name="(none)", base_color=[0.8, 0.8, 0.8, 1.0])
WORLD_COLORS = ((0.05, 0.05, 0.05), (0.45, 0.5, 0.6), (0.6, 0.6, 0.62), (0.25, 0.28, 0.33), (0.55, 0.5, 0.45))
LENS = (35.0, 50.0, 50.0, 50.0, 85.0)


@dataclass
class SynthObject:
    """A geometry object (a piece of a kind): its meshes, where it is at rest, what it is."""

    name: str
    kind: str  # key of KINDS
    parts: Parts
    location: np.ndarray  # world location of its origin at rest (frame 1)
    rotation_z: float  # world rotation about Z at rest
    materials: list[str]  # per slot (NO_MATERIAL: none)
    color: str  # what its main slot's colour is called (evlm.scenetext.colour_name, as the prompt says)
    mark: int | None = None
    parent: str | None = None
    role: str = "main"  # "main" for a kind's root piece; "shade", "wheel_fl", "head" for the others
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the object's scale (already in the meshes)
    modifiers: list[Modifier] = field(default_factory=list)


@dataclass
class SynthScene:
    graph: SceneGraph
    objects: list[SynthObject]  # visible geometry, the floor included, in scene order: what renders
    hidden: list[SynthObject] = field(default_factory=list)  # hidden from renders (visible False)
    layout: str = ""
    lamp_lights: dict[str, str] = field(default_factory=dict)  # lamp (root) -> its light
    light_roles: dict[str, str] = field(default_factory=dict)  # light -> key / fill / rim / lamp / sun
    motions: dict[str, str] = field(default_factory=dict)  # animated object -> bounce / bob / spin / slide / jump
    camera_poses: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> camera-to-world
    main_camera: str = ""  # the scene's active camera
    camera_roles: dict[str, str] = field(default_factory=dict)  # camera -> main / closeup / top / wide / side
    on: dict[str, str] = field(default_factory=dict)  # small object -> what it stands on
    array_counts: dict[str, int] = field(default_factory=dict)  # object -> copies its Array modifier makes
    floor: str = ""

    # ---------------------------------------------------------------- lookups
    @property
    def marked(self) -> list[SynthObject]:
        return [o for o in self.objects if o.mark is not None]

    def get(self, name: str) -> SynthObject:
        return next(o for o in [*self.objects, *self.hidden] if o.name == name)

    def has(self, name: str) -> bool:
        return any(o.name == name for o in [*self.objects, *self.hidden])

    def material(self, name: str) -> Material:
        if name == NO_MATERIAL:
            return DEFAULT_MATERIAL
        return next(m for m in self.graph.materials if m.name == name)

    def main_material(self, obj: str) -> Material:
        """The material an edit of the object's colour goes to (its main slot; grey if none)."""
        o = self.get(obj)
        return self.material(o.materials[main_slot(o)])

    def light(self, name: str) -> Light:
        return next(light for light in self.graph.lights if light.name == name)

    def camera(self, name: str) -> Camera:
        return next(c for c in self.graph.cameras if c.name == name)

    def children(self, name: str) -> list[SynthObject]:
        return [o for o in [*self.objects, *self.hidden] if o.parent == name]

    def group(self, name: str) -> list[SynthObject]:
        """An object and everything parented under it."""
        out = [self.get(name)]
        for child in self.children(name):
            out += self.group(child.name)
        return out

    def root(self, name: str) -> SynthObject:
        obj = self.get(name)
        while obj.parent is not None and self.has(obj.parent):
            obj = self.get(obj.parent)
        return obj

    def users(self, material: str) -> list[str]:
        """Objects with `material` in a slot (a shared material changes on all of them)."""
        return [o.name for o in [*self.objects, *self.hidden] if material in o.materials]

    # ---------------------------------------------------------------- geometry
    def rest(self, obj: SynthObject) -> np.ndarray:
        return _matrix(obj.location, obj.rotation_z)

    def pose(self, obj: SynthObject, frame: float) -> np.ndarray:
        """Object-to-world matrix at a frame: its own keyed location / Z rotation, under its
        parent's pose (a child keeps its rest offset from its parent)."""
        loc, rz = obj.location.copy(), obj.rotation_z
        for channel in self._channels(obj.name):
            value = evaluate(channel.keyframes, frame)
            if channel.path == "location":
                loc[channel.index] = value
            elif channel.path == "rotation_euler" and channel.index == 2:
                rz = value
        own = _matrix(loc, rz)
        if obj.parent is not None and self.has(obj.parent):
            parent = self.get(obj.parent)
            return self.pose(parent, frame) @ np.linalg.inv(self.rest(parent)) @ own
        return own

    def _channels(self, name: str) -> list[Channel]:
        anim = self.graph.animation
        if anim is None:
            return []
        return [c for a in anim.objects if a.object == name for c in a.channels]

    def world_bounds(self, obj: SynthObject, frame: float) -> tuple[np.ndarray, np.ndarray]:
        """World axis-aligned bounds as capture computes them: of the posed vertices (tighter than
        the posed corners of the object's own box for a rotated object)."""
        pose = self.pose(obj, frame)
        points = np.concatenate([m.vertices for m, _ in obj.parts]) @ pose[:3, :3].T + pose[:3, 3]
        return points.min(axis=0), points.max(axis=0)

    def bounds(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World bounds at rest, as the scene graph has them."""
        o = self.graph.get_object(name)
        return np.array(o.bbox_min), np.array(o.bbox_max)

    def group_bounds(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        boxes = [self.bounds(o.name) for o in self.group(name)]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def main_slot(obj: SynthObject) -> int:
    """The slot that gives the object its colour (a plant's leaves, a tree's crown)."""
    return min(KINDS[obj.kind].main_slot if obj.role == "main" else 0, len(obj.materials) - 1)


def evaluate(keys: list[Keyframe], frame: float) -> float:
    """A channel's value at a frame: constant outside the keys; between two keys by the left
    key's interpolation (BEZIER as Blender's auto-clamped ease: smoothstep)."""
    keys = sorted(keys, key=lambda k: k.frame)
    if frame <= keys[0].frame:
        return keys[0].value
    for a, b in zip(keys, keys[1:], strict=False):
        if frame <= b.frame:
            t = (frame - a.frame) / (b.frame - a.frame) if b.frame > a.frame else 1.0
            if a.interpolation == "CONSTANT":
                t = 0.0 if t < 1.0 else 1.0
            elif a.interpolation == "BEZIER":
                t = t * t * (3 - 2 * t)
            return a.value + (b.value - a.value) * t
    return keys[-1].value


def r4(value: float) -> float:
    return round(float(value), 4) + 0.0  # + 0.0: no -0.0 in the JSON


def v4(values) -> list[float]:  # noqa: ANN001
    return [r4(v) for v in values]


def _corners(verts: np.ndarray) -> np.ndarray:
    """The 8 corners (8, 3) of the points' axis-aligned box (Blender's `bound_box`)."""
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def _matrix(loc: np.ndarray, rz: float) -> np.ndarray:
    m = np.eye(4)
    c, s = math.cos(rz), math.sin(rz)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = loc
    return m


def _euler(rot: np.ndarray) -> list[float]:
    """XYZ Euler angles (Blender's default order) of a rotation matrix."""
    y = math.asin(-max(-1.0, min(1.0, rot[2, 0])))
    return [math.atan2(rot[2, 1], rot[2, 2]), y, math.atan2(rot[1, 0], rot[0, 0])]


# ---------------------------------------------------------------- layouts
@dataclass(frozen=True)
class Layout:
    floor: tuple[tuple[str, float, int, int], ...]  # (kind, chance, min count, max count) on the floor
    small: tuple[str, ...]  # what stands on the supports
    small_per_support: tuple[int, int]
    descriptive: float  # chance an object gets a descriptive name
    lights: str  # "interior" | "product" | "street" | "default"
    weight: float


LAYOUTS: dict[str, Layout] = {
    "living_room": Layout((("sofa", 0.8, 1, 1), ("armchair", 0.6, 1, 2), ("coffee_table", 0.85, 1, 1),
                           ("rug", 0.4, 1, 1), ("lamp", 0.6, 1, 1), ("plant", 0.4, 1, 2), ("tv", 0.25, 1, 1),
                           ("shelf", 0.3, 1, 1), ("dog", 0.12, 1, 1), ("ball", 0.25, 1, 1)),
                          ("vase", "mug", "book", "bottle", "plant", "torus", "ball"), (1, 2), 0.8, "interior", 0.2),
    "dining": Layout((("table", 1.0, 1, 1), ("chair", 1.0, 2, 4), ("lamp", 0.35, 1, 1), ("plant", 0.3, 1, 1),
                      ("shelf", 0.25, 1, 1), ("stool", 0.2, 1, 2)),
                     ("vase", "bottle", "mug", "mug", "book", "plant"), (1, 3), 0.75, "interior", 0.16),
    "product": Layout((("pedestal", 1.0, 1, 3), ("box", 0.3, 1, 2), ("cylinder", 0.3, 1, 1)),
                      ("bottle", "vase", "statue", "mug", "ball", "torus", "plant"), (1, 1), 0.75, "product", 0.12),
    "still_life": Layout((("table", 0.6, 1, 1), ("coffee_table", 0.4, 1, 1), ("stool", 0.3, 1, 1)),
                         ("vase", "bottle", "mug", "ball", "book", "cone", "torus", "plant", "box"), (2, 4), 0.7,
                         "interior", 0.12),
    "street": Layout((("car", 0.85, 1, 1), ("tree", 0.8, 1, 3), ("street_lamp", 0.6, 1, 2), ("bench", 0.5, 1, 1),
                      ("hydrant", 0.4, 1, 1), ("cone", 0.4, 1, 3), ("house", 0.35, 1, 1), ("fence", 0.3, 1, 1),
                      ("dog", 0.15, 1, 1)),
                     ("box", "bottle"), (0, 1), 0.75, "street", 0.12),
    "character": Layout((("character", 1.0, 1, 2), ("dog", 0.4, 1, 1), ("ball", 0.6, 1, 2), ("box", 0.6, 1, 3),
                         ("cone", 0.3, 1, 2), ("stool", 0.3, 1, 1), ("cylinder", 0.3, 1, 1)),
                        ("ball", "box", "bottle"), (0, 1), 0.7, "default", 0.12),
    "blockout": Layout((("box", 1.0, 1, 3), ("ball", 0.8, 1, 2), ("cylinder", 0.6, 1, 2), ("cone", 0.5, 1, 2),
                        ("torus", 0.4, 1, 1), ("pedestal", 0.2, 1, 1), ("statue", 0.15, 1, 1)),
                       ("ball", "box", "torus", "cone", "cylinder"), (0, 2), 0.2, "default", 0.16),
}  # fmt: skip
# Size of Blender's primitives as added (a 2 m cube, a sphere of radius 1, ...), per axis.
_PRIMITIVE_SIZE = {"box": 2.0, "ball": 2.0, "cylinder": 2.0, "cone": 2.0, "torus": 2.5}
MAX_FLOOR = 6  # objects on the floor at most (groups count once)
MAX_MARKED = 11  # visible geometry objects at most (render cost, prompt length)


# ---------------------------------------------------------------- names
class _Namer:
    """Unique Blender names: descriptive ones, Blender's defaults ("Cube.003"), and a duplicate's
    "Chair.001" after "Chair"."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.used = rng, set()
        self.counters: dict[str, int] = {}

    def take(self, base: str) -> str:
        """`base`, or Blender's next free `base.00N`."""
        if base not in self.used:
            self.used.add(base)
            return base
        n = self.counters.get(base, 1)
        while f"{base}.{n:03d}" in self.used:
            n += 1
        self.counters[base] = n + 1
        self.used.add(f"{base}.{n:03d}")
        return f"{base}.{n:03d}"

    def default(self, base: str) -> str:
        """A default name, sometimes with a gap (objects added and deleted before)."""
        if base in self.used or self.rng.random() < 0.35:
            n = self.counters.get(base, 1) + int(self.rng.integers(0, 3))
            while f"{base}.{n:03d}" in self.used:
                n += 1
            self.counters[base] = n + 1
            self.used.add(f"{base}.{n:03d}")
            return f"{base}.{n:03d}"
        return self.take(base)


# ---------------------------------------------------------------- materials
class _Materials:
    """Materials by look, named as artists (or Blender's "Material.001") do, shared the way
    duplicates share them."""

    def __init__(self, rng: np.random.Generator, descriptive: float, namer: _Namer) -> None:
        self.rng, self.descriptive, self.namer = rng, descriptive, namer
        self.made: dict[str, Material] = {}
        self.by_look: dict[tuple[str, str], str] = {}  # (look, colour) -> name
        self.colour_of: dict[str, str] = {}

    def base_color(self, name: str) -> list[float]:
        return (self.made[name] if name != NO_MATERIAL else DEFAULT_MATERIAL).base_color[:3]

    def make(self, look_key: str, avoid: set[str]) -> str:
        rng, look = self.rng, LOOKS[look_key]
        fresh = [c for c in look.colors if c not in avoid]
        colour = str(rng.choice(fresh or list(look.colors)))
        if (look_key, colour) in self.by_look and rng.random() < 0.5:  # the same "Wood" on the table and the shelf
            return self.by_look[(look_key, colour)]
        if rng.random() < self.descriptive:
            base = str(rng.choice(look.names)).replace("{Color}", colour.title())
        else:
            base = "Material"
        name = self.namer.take(base)
        jitter = float(rng.uniform(-0.08, 0.08))
        glow = look.emission is not None and rng.random() < look.glows
        self.made[name] = Material(
            name=name,
            base_color=[*v4(COLORS[colour]), 1.0],
            roughness=r4(min(1.0, max(0.02, look.roughness + jitter))),
            metallic=r4(look.metallic),
            emission_color=v4(look.emission) if glow else [0.0, 0.0, 0.0],  # capture reads no emission as black
            emission_strength=r4(rng.uniform(1.0, 6.0)) if glow else 0.0,
            alpha=r4(look.alpha + (rng.uniform(0.0, 0.2) if look.alpha < 1.0 else 0.0)),
        )
        self.by_look[(look_key, colour)] = name
        self.colour_of[name] = colour
        return name


# ---------------------------------------------------------------- building a scene
@dataclass
class _Unit:
    """One kind instance: its pieces (root first) as objects, or a light, camera or empty."""

    objects: list[SynthObject] = field(default_factory=list)
    extra: list[SceneObject] = field(default_factory=list)
    hidden: bool = False


def _piece_bounds(p: Piece, rz: float) -> tuple[np.ndarray, np.ndarray]:
    verts = np.concatenate([v for meshes, _ in p.slots for v, _ in meshes])
    off = np.asarray(p.offset)
    c, s = math.cos(rz), math.sin(rz)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    w = (verts + off) @ rot.T
    return w.min(axis=0), w.max(axis=0)


def _kind_bounds(pieces: list[Piece], rz: float) -> tuple[np.ndarray, np.ndarray]:
    boxes = [_piece_bounds(p, rz) for p in pieces]
    return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


class _Builder:
    def __init__(self, rng: np.random.Generator, layout: str) -> None:
        self.rng, self.layout_name, self.layout = rng, layout, LAYOUTS[layout]
        style = rng.random()
        # Per-scene naming style: mostly descriptive, mostly Blender's defaults, or mixed.
        base = self.layout.descriptive
        self.descriptive = base if style < 0.6 else (0.95 if style < 0.8 else 0.1)
        self.namer = _Namer(rng)
        self.materials = _Materials(rng, self.descriptive, self.namer)
        self.units: list[_Unit] = []
        self.kind_stems: dict[str, str] = {}
        self.kind_slots: dict[str, list[str]] = {}  # kind -> slot materials of its first instance
        self.no_material = 0.35 if self.descriptive < 0.5 else 0.03
        self.placed: list[tuple[float, float, float]] = []  # x, y, radius
        self.on: dict[str, str] = {}
        self.array_counts: dict[str, int] = {}

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    # ---------------------------------------------------------- one kind instance
    def add(self, kind_key: str, location: np.ndarray, rz: float, pieces: list[Piece]) -> _Unit:
        rng, kind = self.rng, KINDS[kind_key]
        descriptive = rng.random() < self.descriptive
        unit = _Unit()
        slots_of_first = self.kind_slots.get(kind_key)
        share = slots_of_first is not None and rng.random() < 0.55  # a duplicate keeps the material
        stem = self.kind_stems.get(kind_key) if descriptive and rng.random() < 0.7 else None
        if stem is None:
            stem = str(rng.choice(kind.stems))
        if descriptive:
            self.kind_stems.setdefault(kind_key, stem)
        used_colours = {
            self.materials.colour_of.get(o.materials[0]) for u in self.units for o in u.objects if o.kind == kind_key
        }
        c, s = math.cos(rz), math.sin(rz)
        root_name = ""
        for i, p in enumerate(pieces):
            if i == 0:
                name = self.namer.take(stem) if descriptive else self.namer.default(kind.primitive)
                root_name = name
            else:
                part = kind.parts[p.role]
                if descriptive:
                    pattern = str(rng.choice(part.names))
                    name = self.namer.take(pattern.replace("{stem}", stem))
                else:
                    name = self.namer.default(part.primitive)
            mats: list[str] = []
            if not (descriptive is False and rng.random() < self.no_material and len(p.slots) == 1):
                for si, (_, look) in enumerate(p.slots):
                    if share and i == 0 and si < len(slots_of_first):
                        mats.append(slots_of_first[si])
                    else:
                        mats.append(self.materials.make(look, used_colours if si == 0 else set()))
            else:
                mats = [NO_MATERIAL]
            parts = [
                (merge(list(meshes)), si if mats != [NO_MATERIAL] else 0) for si, (meshes, _) in enumerate(p.slots)
            ]
            off = np.asarray(p.offset)
            loc = np.asarray(location, dtype=np.float64) + np.array(
                [c * off[0] - s * off[1], s * off[0] + c * off[1], off[2]]
            )
            slot = min(kind.main_slot if i == 0 else 0, len(mats) - 1)
            colour = colour_name(self.materials.base_color(mats[slot]))
            obj = SynthObject(name, kind_key, parts, loc, rz, mats, colour, parent=root_name if i else None,
                              role=p.role, scale=self._scale(kind_key, p, descriptive))  # fmt: skip
            unit.objects.append(obj)
        if slots_of_first is None and unit.objects[0].materials != [NO_MATERIAL]:
            self.kind_slots[kind_key] = unit.objects[0].materials
        self._modifiers(unit, kind, pieces)
        self.units.append(unit)
        return unit

    def _scale(self, kind_key: str, p: Piece, descriptive: bool) -> tuple[float, float, float]:
        """A primitive added in Blender and scaled to size keeps that scale (a 2 m default cube
        made 0.4 m wide has scale 0.2); things modelled at size have scale 1."""
        if kind_key not in _PRIMITIVE_SIZE or self.rng.random() > (0.3 if descriptive else 0.8):
            return (1.0, 1.0, 1.0)
        lo, hi = _piece_bounds(p, 0.0)
        return tuple(r4(d / _PRIMITIVE_SIZE[kind_key]) for d in hi - lo)  # type: ignore[return-value]

    def _modifiers(self, unit: _Unit, kind: Kind, pieces: list[Piece]) -> None:
        rng, root = self.rng, unit.objects[0]
        types = list(kind.modifiers)
        if "ARRAY" in types:  # the fence's pickets and the shelf's boards are an Array's copies
            root.modifiers.append(Modifier(name="Array", type="ARRAY"))
            frame = 2 if root.kind == "shelf" else 1  # the shelf's sides, the fence's rail
            self.array_counts[root.name] = len(pieces[0].slots[0][0]) - frame
            types.remove("ARRAY")
        if types and rng.random() < 0.4:
            for t in rng.permutation(types)[: 1 + int(rng.random() < 0.2)]:
                base = {"BEVEL": "Bevel", "SUBSURF": "Subdivision", "MIRROR": "Mirror", "SOLIDIFY": "Solidify"}[str(t)]
                root.modifiers.append(Modifier(name=base, type=str(t)))
        if kind.parts and len(unit.objects) > 1 and rng.random() < 0.15:
            unit.objects[1].modifiers.append(Modifier(name="Subdivision", type="SUBSURF"))

    # ---------------------------------------------------------- placement
    def place_on_floor(
        self, kind_key: str, half: float, facing: tuple[float, float] | None = None, first: bool = False
    ) -> _Unit | None:
        """A kind instance on the floor, clear of the others; the first one near the centre."""
        rng = self.rng
        pieces = KINDS[kind_key].build(rng)
        for _ in range(120):
            x, y = (float(v) for v in rng.uniform(-0.3 if first else -half, 0.3 if first else half, 2))
            if KINDS[kind_key].front and facing is not None and rng.random() < 0.75:
                # face the point (its front is -Y): rotate -Y onto the direction to it
                rz = math.atan2(-(facing[0] - x), facing[1] - y) + float(rng.normal(0, 0.15))
            else:
                rz = float(rng.choice([0.0, math.pi / 2, math.pi, -math.pi / 2])) + float(rng.normal(0, 0.2))
            if kind_key in ("ball", "torus", "rug", "floor"):
                rz = 0.0
            lo, hi = _kind_bounds(pieces, rz)
            radius = float(max(np.abs(lo[:2]).max(), np.abs(hi[:2]).max()))
            if kind_key == "rug" or all(math.hypot(x - px, y - py) > radius + pr + 0.1 for px, py, pr in self.placed):
                if kind_key != "rug":
                    self.placed.append((x, y, radius))
                return self.add(kind_key, np.array([x, y, -lo[2]]), rz, pieces)
        return None

    def place_on(self, kind_key: str, support: SynthObject, taken: list[tuple[float, float, float]]) -> _Unit | None:
        """A small thing on a support's top, inside its footprint, clear of the others there."""
        rng = self.rng
        pieces = KINDS[kind_key].build(rng)
        verts = np.concatenate([m.vertices for m, _ in support.parts])
        top = float(verts[:, 2].max())
        top_verts = verts[verts[:, 2] > top - 0.06]
        (ux0, uy0), (ux1, uy1) = top_verts[:, :2].min(axis=0), top_verts[:, :2].max(axis=0)
        rz = 0.0 if kind_key in ("ball", "torus") else float(rng.uniform(-math.pi, math.pi))
        lo, hi = _kind_bounds(pieces, rz)
        r = float(max(np.abs(lo[:2]).max(), np.abs(hi[:2]).max()))
        if ux1 - ux0 < 2 * r or uy1 - uy0 < 2 * r:
            return None
        c, s = math.cos(support.rotation_z), math.sin(support.rotation_z)
        for _ in range(40):
            u, v = rng.uniform(ux0 + r, ux1 - r), rng.uniform(uy0 + r, uy1 - r)
            if all(math.hypot(u - tu, v - tv) > r + tr + 0.03 for tu, tv, tr in taken):
                taken.append((float(u), float(v), r))
                world = support.location + np.array([c * u - s * v, s * u + c * v, top - lo[2]])
                unit = self.add(kind_key, world, rz, pieces)
                self.on[unit.objects[0].name] = support.name
                return unit
        return None


def build_scene(
    rng: np.random.Generator, animated: bool | None = None, layout: str | None = None, min_animated: int = 0
) -> SynthScene:
    """A random scene. `animated`: force keyframed objects in (True) or out (False); None: about
    half the scenes have them. `min_animated`: how many animated objects at least, when
    animated."""
    if layout is None:
        names = list(LAYOUTS)
        weights = np.array([LAYOUTS[n].weight for n in names])
        layout = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    b = _Builder(rng, layout)
    spec = b.layout
    if animated is None:
        animated = bool(rng.random() < 0.5)

    floor_kinds: list[str] = []
    for kind, chance, lo, hi in spec.floor:
        if rng.random() < chance:
            floor_kinds += [kind] * int(rng.integers(lo, hi + 1))
    if not floor_kinds:
        floor_kinds = [spec.floor[0][0]]
    floor_kinds = floor_kinds[:MAX_FLOOR]
    if animated:  # something that can move; often a ball, to bounce
        movers = [k for k in floor_kinds if KINDS[k].motions]
        if "ball" not in floor_kinds and rng.random() < 0.5:
            floor_kinds.append("ball")
            movers.append("ball")
        extra = [k for k in ("ball", "box", "torus", "character", "dog") if k not in movers]
        while len(movers) < max(1, min_animated) and extra:
            k = extra.pop(int(rng.integers(len(extra))))
            floor_kinds.append(k)
            movers.append(k)
    big = [k for k in floor_kinds if KINDS[k].min_radius >= 0.6]
    floor_kinds = big + [k for k in floor_kinds if k not in big]  # big things first: they need the room
    # A square about twice the objects' footprint: as dense as a furnished room.
    area = sum(math.pi * (KINDS[k].min_radius + 0.25) ** 2 for k in floor_kinds if k != "rug")
    half = max(0.7, math.sqrt(area * 1.6) / 2)
    centre = (0.0, 0.0)
    for i, kind in enumerate(floor_kinds):
        b.place_on_floor(kind, half, facing=centre, first=i == 0)
    if rng.random() < 0.5:  # a small thing left on the floor (a vase by the sofa, a book dropped)
        b.place_on_floor(str(rng.choice([k for k in spec.small if k not in ("box",)] or spec.small)), half + 0.3)
    supports = [o for u in b.units for o in u.objects[:1] if KINDS[o.kind].support and o.kind != "book"]
    n_marked = sum(len(u.objects) for u in b.units)
    for sup in supports:
        taken: list[tuple[float, float, float]] = []
        for _ in range(int(rng.integers(spec.small_per_support[0], spec.small_per_support[1] + 1))):
            if n_marked >= MAX_MARKED - 1:
                break
            kind = str(rng.choice(spec.small))
            unit = b.place_on(kind, sup, taken)
            if unit is not None:
                n_marked += len(unit.objects)
    roots = [u.objects[0] for u in b.units]
    if not roots:  # nothing fitted: one crate
        b.place_on_floor("box", half)
        roots = [u.objects[0] for u in b.units]

    # The floor spans the layout plus a margin, so orbit views that frame everything stay close.
    boxes = [_object_bounds(o) for u in b.units for o in u.objects]
    lo = np.min([bx[0][:2] for bx in boxes], axis=0) - 0.35
    hi = np.max([bx[1][:2] for bx in boxes], axis=0) + 0.35
    if animated:  # room for a slide
        lo, hi = lo - 0.4, hi + 0.4
    floor_unit = _floor(b, lo, hi)

    hidden_unit = None
    if rng.random() < 0.12:  # an object the artist hid (hide_render): in the graph, not in the pictures
        kind = str(rng.choice([r.kind for r in roots if not KINDS[r.kind].parts] or ["box"]))
        pieces = KINDS[kind].build(rng)
        bl, _ = _kind_bounds(pieces, 0.0)
        hx, hy = (float(v) for v in rng.uniform(lo * 0.6, hi * 0.6))
        hidden_unit = b.add(kind, np.array([hx, hy, -bl[2]]), 0.0, pieces)
        hidden_unit.hidden = True

    scene = SynthScene(SceneGraph(), [], layout=layout, on=b.on, array_counts=b.array_counts,
                       floor=floor_unit.objects[0].name)  # fmt: skip
    centre3 = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0])
    cam_objects, cameras = _cameras(b, scene, roots, lo, hi)
    light_objects, lights = _lights(b, scene, roots, centre3, lo, hi)
    empties = []
    if rng.random() < 0.2:
        loc = v4([*rng.uniform(lo * 0.5, hi * 0.5), float(rng.uniform(0.0, 1.0))])
        name = b.namer.take(str(rng.choice(["Empty", "Empty", "Camera_Target", "Rig_Root"])))
        empties.append(SceneObject(name=name, type="EMPTY", location=loc, bbox_min=loc, bbox_max=loc))

    # Scene order: units in a plausible creation order (the floor usually first), parents before
    # their children; marks 1, 2, ... on the visible geometry in the order of its names, as capture
    # numbers them (`evlm.marks.number_marks`).
    units = [b.units[int(i)] for i in rng.permutation(len(b.units)) if b.units[int(i)] is not floor_unit]
    units.insert(0 if rng.random() < 0.8 else int(rng.integers(0, len(units) + 1)), floor_unit)
    for extra in [*cam_objects, *light_objects, *empties]:
        units.insert(int(rng.integers(0, len(units) + 1)), _Unit(extra=[extra]))
    for u in units:
        (scene.hidden if u.hidden else scene.objects).extend(u.objects)
    numbers = number_marks(o.name for o in scene.objects)
    for o in scene.objects:
        o.mark = numbers[o.name]
    animation = _animate(b, scene, animated, min_animated)
    scene.graph = SceneGraph(animation=animation)  # poses at frame 1 need the keys
    objects: list[SceneObject] = []
    for u in units:
        objects += [_scene_object(scene, o, visible=not u.hidden) for o in u.objects] + u.extra
    used: dict[str, Material] = {}
    for o in objects:  # materials in order of first use, as capture lists them
        for m in o.materials:
            if m is not None:
                used.setdefault(m, b.materials.made[m])
    order = {o.name: i for i, o in enumerate(objects)}  # capture lists lights and cameras in scene order
    lights.sort(key=lambda lt: order[lt.name])
    cameras.sort(key=lambda c: order[c.name])
    world = World(color=list(WORLD_COLORS[int(rng.integers(len(WORLD_COLORS)))]), strength=1.0)
    scene.graph = SceneGraph(name="Scene", frame_current=1, objects=objects, materials=list(used.values()),
                             lights=lights, cameras=cameras, world=world, animation=animation)  # fmt: skip
    return scene


def _object_bounds(o: SynthObject) -> tuple[np.ndarray, np.ndarray]:
    w = _corners(np.concatenate([m.vertices for m, _ in o.parts])) @ _matrix(o.location, o.rotation_z)[:3, :3].T
    return w.min(axis=0) + o.location, w.max(axis=0) + o.location


def _floor(b: _Builder, lo: np.ndarray, hi: np.ndarray) -> _Unit:
    rng = b.rng
    size = hi - lo
    names = (
        ("Road", "Ground", "Street")
        if b.layout_name == "street"
        else ("Floor", "Ground", "Ground_Plane", "Floor_Plane")
    )
    name = b.namer.take(str(rng.choice(names))) if rng.random() < max(b.descriptive, 0.4) else b.namer.default("Plane")
    mat = b.materials.make("floor", set())
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0])
    mesh = merge([box(float(size[0]), float(size[1]), 0.02, z0=-0.02)])
    obj = SynthObject(name, "floor", [(mesh, 0)], centre, 0.0, [mat], colour_name(b.materials.base_color(mat)))
    unit = _Unit(objects=[obj])
    b.units.append(unit)
    return unit


def _scene_object(scene: SynthScene, o: SynthObject, visible: bool) -> SceneObject:
    lo, hi = scene.world_bounds(o, 1.0)
    pose = scene.pose(o, 1.0)
    rz = math.atan2(pose[1, 0], pose[0, 0])
    return SceneObject(
        name=o.name,
        type="MESH",
        parent=o.parent,
        location=v4(pose[:3, 3]),
        rotation=v4((0.0, 0.0, rz)),
        scale=v4(o.scale),
        dimensions=v4(hi - lo),
        bbox_min=v4(lo),
        bbox_max=v4(hi),
        visible=visible,
        materials=[m for m in o.materials if m != NO_MATERIAL],
        modifiers=list(o.modifiers),
        mark=o.mark,
    )


# ---------------------------------------------------------------- cameras and lights
def _cameras(
    b: _Builder, scene: SynthScene, roots: list[SynthObject], lo: np.ndarray, hi: np.ndarray
) -> tuple[list[SceneObject], list[Camera]]:
    """The main (active) camera framing the layout, sometimes a close-up, top, wide or side one."""
    rng = b.rng
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.5])
    radius = float(np.linalg.norm(hi - lo)) / 2
    descriptive = rng.random() < b.descriptive
    specs: list[tuple[str, np.ndarray, np.ndarray, float]] = []  # role, eye, target, lens
    if b.layout_name == "blockout" and rng.random() < 0.5:  # Blender's default camera, where it stands
        specs.append(("main", np.array([7.3589, -6.9258, 4.9583]), np.array([0.0, 0.0, 0.0]), 50.0))
    else:
        lens = float(rng.choice(LENS))
        az, el = math.radians(-45 + float(rng.normal(0, 25))), math.radians(float(rng.uniform(14, 35)))
        dist = radius / math.tan(math.atan(18 / lens)) * float(rng.uniform(1.0, 1.3))
        eye = centre + dist * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        specs.append(("main", eye, centre, lens))
    for _ in range(int(rng.choice([0, 0, 0, 1, 1, 2]))):
        role = str(rng.choice(["closeup", "top", "wide", "side"]))
        if role == "closeup":
            subject = roots[int(rng.integers(len(roots)))]
            slo, shi = _object_bounds(subject)
            target = (slo + shi) / 2
            az = math.atan2(-1, 1) + float(rng.normal(0, 0.6))
            d = float(rng.uniform(1.2, 2.5)) + float(np.linalg.norm(shi - slo))
            eye = target + d * np.array([math.cos(az) * 0.9, math.sin(az) * 0.9, 0.45])
            lens = float(rng.choice([50.0, 85.0, 85.0]))
        elif role == "top":
            target, lens = centre.copy(), 35.0
            eye = centre + np.array([0.0, -0.3, radius * 2.4 + 2])
        elif role == "wide":
            target, lens = centre.copy(), float(rng.choice([18.0, 24.0, 28.0]))
            az = float(rng.uniform(-math.pi, math.pi))
            eye = centre + radius * 1.3 * np.array([math.cos(az), math.sin(az), 0.5])
        else:
            target, lens = centre.copy(), 50.0
            az = float(rng.choice([0.0, math.pi / 2, math.pi, -math.pi / 2]))
            eye = centre + (radius * 2.2 + 1) * np.array([math.cos(az), math.sin(az), 0.12])
        if role not in [r for r, *_ in specs]:
            specs.append((role, eye, target, lens))
    out, cameras = [], []
    names = {"main": ("Camera", "Cam_Main", "Main_Camera", "Shot_Cam"), "closeup": ("Cam_CloseUp", "Camera_Closeup"),
             "top": ("Cam_Top", "Camera_Top"), "wide": ("Cam_Wide", "Camera_Wide"), "side": ("Cam_Side", "Camera_Side")}  # fmt: skip
    for role, eye, target, lens in specs:
        if role == "main" and rng.random() < 0.75:
            name = b.namer.take("Camera")
        elif descriptive:
            name = b.namer.take(str(rng.choice(names[role])))
        else:
            name = b.namer.take("Camera")
        pose = look_at(eye, target)
        scene.camera_poses[name] = pose
        scene.camera_roles[name] = role
        if role == "main":
            scene.main_camera = name
        cameras.append(Camera(name=name, focal_length=lens, sensor_width=36.0))
        loc = v4(pose[:3, 3])
        out.append(SceneObject(name=name, type="CAMERA", location=loc, rotation=v4(_euler(pose[:3, :3])),
                               bbox_min=loc, bbox_max=loc))  # fmt: skip
    return out, cameras


def _lights(
    b: _Builder, scene: SynthScene, roots: list[SynthObject], centre: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[list[SceneObject], list[Light]]:
    """Key / fill / rim lights as the layout lights it, and a point light in each lamp."""
    rng = b.rng
    out: list[SceneObject] = []
    lights: list[Light] = []
    radius = float(np.linalg.norm(hi - lo)) / 2 + 1.0
    cam = scene.camera_poses[scene.main_camera][:3, 3]
    cam_az = math.atan2(cam[1] - centre[1], cam[0] - centre[0])
    descriptive = rng.random() < b.descriptive

    def add(
        role: str, kind: str, energy: float, color, location, parent: str | None = None, name: str | None = None
    ) -> None:  # noqa: ANN001
        if name is None:
            pretty = {
                "key": "Key_Light",
                "fill": "Fill_Light",
                "rim": "Rim_Light",
                "sun": "Sun",
                "window": "Window_Light",
            }
            default = {"SUN": "Sun", "AREA": "Area", "POINT": "Point", "SPOT": "Spot"}[kind]
            name = (
                b.namer.take(pretty.get(role, default))
                if descriptive
                else b.namer.default(default if rng.random() < 0.6 else "Light")
            )
        loc = np.asarray(location, dtype=np.float64)
        rot = [0.0, 0.0, 0.0] if kind == "POINT" else _euler(look_at(loc, centre + np.array([0, 0, 0.3]))[:3, :3])
        lights.append(Light(name=name, type=kind, energy=r4(energy), color=v4(color)))
        scene.light_roles[name] = role
        out.append(SceneObject(name=name, type="LIGHT", parent=parent, location=v4(loc), rotation=v4(rot),
                               bbox_min=v4(loc), bbox_max=v4(loc)))  # fmt: skip

    def around(az: float, elevation: float, dist: float) -> np.ndarray:
        return centre + dist * np.array(
            [math.cos(az) * math.cos(elevation), math.sin(az) * math.cos(elevation), math.sin(elevation)]
        )

    warm = (1.0, float(rng.uniform(0.88, 1.0)), float(rng.uniform(0.75, 1.0)))
    style = b.layout.lights
    if style == "default" and rng.random() < 0.5:  # Blender's default point light, where it stands
        add("key", "POINT", 1000.0, (1.0, 1.0, 1.0), (4.0762, 1.0055, 5.9039), name=b.namer.take("Light"))
    elif style == "street":
        add("sun", "SUN", float(rng.uniform(2, 5)), warm, around(cam_az + 1.2, 1.0, radius + 4))
    elif style == "product":
        add("key", "AREA", float(rng.uniform(200, 600)), warm, around(cam_az + 0.8, 0.7, radius))
        add("fill", "AREA", float(rng.uniform(60, 200)), (0.9, 0.95, 1.0), around(cam_az - 1.0, 0.4, radius))
        if rng.random() < 0.7:
            add("rim", str(rng.choice(["SPOT", "AREA"])), float(rng.uniform(200, 800)), (1.0, 1.0, 1.0),
                around(cam_az + math.pi + float(rng.normal(0, 0.3)), 0.8, radius))  # fmt: skip
    else:
        key = str(rng.choice(["AREA", "SUN", "POINT", "SPOT"]))
        energy = {"SUN": rng.uniform(2, 5), "AREA": rng.uniform(200, 700), "POINT": rng.uniform(500, 1500),
                  "SPOT": rng.uniform(500, 1500)}[key]  # fmt: skip
        add("sun" if key == "SUN" else "key", key, float(energy), warm, around(cam_az + 0.7, 0.9, radius + 1))
        if rng.random() < 0.5:
            fill = str(rng.choice(["POINT", "AREA"]))
            add("fill", fill, float(rng.uniform(80, 400)), (0.9, 0.95, 1.0), around(cam_az - 1.1, 0.5, radius))
        if rng.random() < 0.2:
            add("rim", "SPOT", float(rng.uniform(300, 900)), (1.0, 1.0, 1.0), around(cam_az + math.pi, 0.8, radius))
    for root in roots:  # a lamp lights up: a point light in its shade (or its head)
        if root.kind not in ("lamp", "street_lamp") or len(out) >= 5:
            continue
        _, top = _object_bounds(root)
        head = np.array([0.0, 0.0, 0.0]) if root.kind == "lamp" else np.array([0.42, 0.0, 0.0])
        c, s = math.cos(root.rotation_z), math.sin(root.rotation_z)
        where = root.location + np.array([c * head[0], s * head[0], 0.0])
        where[2] = float(top[2]) - (0.12 if root.kind == "lamp" else 0.2)
        parent = root.name if rng.random() < 0.5 else None
        base = f"{root.name}_Light" if len(root.name) < 40 and descriptive else None
        add("lamp", "POINT", float(rng.uniform(60, 250)), (1.0, 0.85, 0.6), where, parent,
            name=b.namer.take(base) if base else None)  # fmt: skip
        scene.lamp_lights[root.name] = lights[-1].name
    return out, lights


# ---------------------------------------------------------------- animation
_MOVER_WEIGHT = {"ball": 4.0, "character": 3.0, "dog": 3.0, "car": 3.0, "box": 2.0, "chair": 1.5, "torus": 1.5}


def _animate(b: _Builder, scene: SynthScene, animated: bool, min_animated: int) -> Animation:
    rng = b.rng
    fps = float(rng.choice([24.0, 24.0, 24.0, 25.0, 30.0]))
    if not animated:
        return Animation(frame_start=1, frame_end=250, fps=fps, objects=[])
    # Balls bounce, characters jump, cars and crates slide: those first; small things on a
    # table (a spinning bottle) rarely, as they are small in the views.
    movers = [o for o in scene.objects if o.role == "main" and KINDS[o.kind].motions]
    weights = np.array([_MOVER_WEIGHT.get(o.kind, 1.0) * (0.25 if o.name in scene.on else 1.0) for o in movers])
    count = min(len(movers), max(min_animated, 1 + int(rng.random() < 0.45)))
    chosen = rng.choice(len(movers), size=count, replace=False, p=weights / weights.sum()) if movers else []
    tracks: dict[str, Channel] = {}
    for i in chosen:  # each its own timing: a ball bounces over 1-48 while a car drives 12-72
        obj = movers[int(i)]
        span = int(rng.choice([24, 36, 48, 60, 72, 96]))
        start = int(rng.choice([1, 1, 1, 1, 6, 12, 24]))
        motion = str(rng.choice(KINDS[obj.kind].motions))
        channel = _motion(rng, scene, obj, motion, start, span)
        if channel is not None:
            tracks[obj.name] = channel
            scene.motions[obj.name] = motion
    last = max((k.frame for c in tracks.values() for k in c.keyframes), default=48.0)
    end = int(rng.choice([int(last), int(last), int(last) + 12, 250]))
    objects = [ObjectAnimation(object=o.name, channels=[tracks[o.name]]) for o in scene.objects if o.name in tracks]
    return Animation(frame_start=1, frame_end=max(end, int(last)), fps=fps, objects=objects)


def _motion(
    rng: np.random.Generator, scene: SynthScene, obj: SynthObject, motion: str, start: int, span: int
) -> Channel | None:
    """Keys of one motion; the first key holds the rest value (what scale_amplitude scales about)."""
    z, rz = float(obj.location[2]), obj.rotation_z

    def keys(frames: list[float], values: list[float], interpolation: str = "BEZIER") -> list[Keyframe]:
        return [
            Keyframe(frame=float(round(f)), value=r4(v), interpolation=interpolation)
            for f, v in zip(frames, values, strict=True)
        ]

    if motion == "bounce":
        h = float(rng.uniform(0.5, 1.2))
        fr = [start + t * span for t in (0.0, 0.17, 0.34, 0.5, 0.66, 0.83, 1.0)]
        if rng.random() < 0.4:  # dropped from a height, like a thrown ball
            obj.location[2] = z + h
            vals = [z + h, z, z + 0.55 * h, z, z + 0.25 * h, z, z + 0.08 * h]
        else:
            vals = [z, z + h, z, z + 0.5 * h, z, z + 0.2 * h, z]
        return Channel(path="location", index=2, keyframes=keys(fr, vals))
    if motion == "bob":
        a = float(rng.uniform(0.1, 0.3))
        n = int(rng.integers(3, 6))
        fr = [start + span * i / (n - 1) for i in range(n)]
        return Channel(path="location", index=2, keyframes=keys(fr, [z + a * (i % 2) for i in range(n)]))
    if motion == "spin":
        turns = float(rng.choice([0.5, 1.0, 1.0, 2.0])) * (1 if rng.random() < 0.8 else -1)
        return Channel(path="rotation_euler", index=2,
                       keyframes=keys([start, start + span], [rz, rz + turns * 2 * math.pi], "LINEAR"))  # fmt: skip
    if motion == "slide":
        axis = int(rng.integers(0, 2))
        pos = float(obj.location[axis])
        dist = float(rng.uniform(0.5, 1.0)) * (-1 if pos > 0 else 1)
        mid = [] if rng.random() < 0.6 else [0.5]
        fr = [start] + [start + span * t for t in mid] + [start + span]
        vals = [pos] + [pos + dist * 0.6 for _ in mid] + [pos + dist]
        return Channel(path="location", index=axis, keyframes=keys(fr, vals))
    if motion == "jump":
        h = float(rng.uniform(0.3, 0.8))
        fr = [start, start + span * 0.3, start + span * 0.55, start + span * 0.8, start + span]
        return Channel(path="location", index=2, keyframes=keys(fr, [z, z, z + h, z, z]))
    return None
