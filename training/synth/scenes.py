"""Procedural scenes: furniture and primitives on a floor, as a SceneGraph plus trimesh meshes.

A scene has 3-6 marked objects (compound ones: chair = seat + legs + back, table = top + legs,
stool, lamp = base + pole + shade with its light; primitives: ball, box, cylinder, cone, ring),
an unmarked floor, 1-3 lights (sun, area, point; a lamp carries its own point light), a camera,
sometimes an Empty, a world colour, and for animated scenes two keyframed objects (a bouncing
ball and a sliding or spinning box). Object names are meaningful ("Lamp", "chair_02")
or Blender's defaults ("Cube.003", "Sphere.001") by a coin flip per scene, so a model must tie
names to what it sees through the marks. Every object has its own material.

Geometry is kept in object-local coordinates (origin at the bottom centre, Z up, metres) and
placed by a pose per frame, so animation needs no re-meshing. All randomness comes from the
`numpy.random.Generator` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import trimesh

from evlm.scene import (
    Animation,
    Camera,
    Channel,
    Keyframe,
    Light,
    Material,
    ObjectAnimation,
    SceneGraph,
    SceneObject,
    World,
)  # fmt: skip
from evlm.views import look_at

# Named colours, linear RGB (what Blender stores). Names are what instructions and reasoning use.
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.8, 0.05, 0.04),
    "orange": (0.9, 0.3, 0.02),
    "yellow": (0.9, 0.72, 0.05),
    "green": (0.1, 0.5, 0.1),
    "teal": (0.03, 0.42, 0.4),
    "blue": (0.05, 0.15, 0.7),
    "purple": (0.3, 0.06, 0.55),
    "pink": (0.9, 0.3, 0.45),
    "brown": (0.3, 0.12, 0.04),
    "white": (0.85, 0.85, 0.85),
    "gray": (0.3, 0.3, 0.3),
    "black": (0.03, 0.03, 0.03),
}
FLOOR_COLORS = ((0.5, 0.42, 0.33), (0.42, 0.42, 0.4), (0.6, 0.55, 0.45), (0.35, 0.3, 0.27))
WORLD_COLORS = ((0.45, 0.5, 0.6), (0.6, 0.6, 0.62), (0.25, 0.28, 0.33), (0.55, 0.5, 0.45))
FINISHES = {"Plastic": (0.4, 0.0), "Fabric": (0.9, 0.0), "Metal": (0.3, 1.0), "Rubber": (0.6, 0.0), "Paint": (0.5, 0.0)}

Parts = list[tuple[trimesh.Trimesh, int]]  # meshes in object coordinates, each with its material slot


@dataclass(frozen=True)
class Kind:
    words: tuple[str, ...]  # nouns an artist uses for it, most common first
    names: tuple[str, ...]  # meaningful object names; {n} is a number
    primitive: str  # what Blender would call it by default ("Cube.003")
    build: Callable[[np.random.Generator], Parts]
    small: bool = False  # can stand on a table top


def _box(size: tuple[float, float, float], center: tuple[float, float, float]) -> trimesh.Trimesh:
    mesh = trimesh.creation.box(extents=size)
    mesh.apply_translation(center)
    return mesh


def _chair(rng: np.random.Generator) -> Parts:
    s = float(rng.uniform(0.9, 1.1))
    seat, leg = 0.45 * s, 0.42 * s
    parts = [
        _box((seat, seat, 0.05), (0, 0, leg + 0.025)),
        _box((seat, 0.05, 0.5 * s), (0, -seat / 2 + 0.025, leg + 0.05 + 0.25 * s)),
    ]
    parts += [
        _box((0.04, 0.04, leg), (sx * (seat / 2 - 0.03), sy * (seat / 2 - 0.03), leg / 2))
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    return [(trimesh.util.concatenate(parts), 0)]


def _table(rng: np.random.Generator) -> Parts:
    w, d, h = float(rng.uniform(0.9, 1.3)), float(rng.uniform(0.6, 0.85)), float(rng.uniform(0.65, 0.78))
    parts = [_box((w, d, 0.05), (0, 0, h - 0.025))]
    parts += [
        _box((0.05, 0.05, h - 0.05), (sx * (w / 2 - 0.06), sy * (d / 2 - 0.06), (h - 0.05) / 2))
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    return [(trimesh.util.concatenate(parts), 0)]


def _stool(rng: np.random.Generator) -> Parts:
    h, r = float(rng.uniform(0.45, 0.6)), float(rng.uniform(0.15, 0.2))
    seat = trimesh.creation.cylinder(radius=r, height=0.05, sections=20)
    seat.apply_translation((0, 0, h - 0.025))
    legs = [
        _box((0.035, 0.035, h - 0.05), (r * 0.7 * math.cos(a), r * 0.7 * math.sin(a), (h - 0.05) / 2))
        for a in (0.5, 2.6, 4.7)
    ]
    return [(trimesh.util.concatenate([seat, *legs]), 0)]


def _lamp(rng: np.random.Generator) -> Parts:
    h = float(rng.uniform(1.3, 1.6))
    base = trimesh.creation.cylinder(radius=0.18, height=0.04, sections=20)
    base.apply_translation((0, 0, 0.02))
    pole = trimesh.creation.cylinder(radius=0.02, height=h - 0.3, sections=8)
    pole.apply_translation((0, 0, (h - 0.3) / 2 + 0.04))
    shade = trimesh.creation.revolve([[0.0, 0.0], [0.28, 0.0], [0.14, 0.32], [0.0, 0.32]], sections=20)
    shade.apply_translation((0, 0, h - 0.32))
    return [(trimesh.util.concatenate([base, pole]), 0), (shade, 1)]


def _ball(rng: np.random.Generator) -> Parts:
    r = float(rng.uniform(0.12, 0.25))
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=r)
    mesh.apply_translation((0, 0, r))
    return [(mesh, 0)]


def _cube(rng: np.random.Generator) -> Parts:
    size = tuple(float(v) for v in rng.uniform(0.25, 0.55, 3))
    return [(_box(size, (0, 0, size[2] / 2)), 0)]


def _cylinder(rng: np.random.Generator) -> Parts:
    r, h = float(rng.uniform(0.1, 0.22)), float(rng.uniform(0.3, 0.9))
    mesh = trimesh.creation.cylinder(radius=r, height=h, sections=20)
    mesh.apply_translation((0, 0, h / 2))
    return [(mesh, 0)]


def _cone(rng: np.random.Generator) -> Parts:
    r, h = float(rng.uniform(0.15, 0.28)), float(rng.uniform(0.3, 0.7))
    return [(trimesh.creation.cone(radius=r, height=h, sections=20), 0)]


def _ring(rng: np.random.Generator) -> Parts:
    major, minor = float(rng.uniform(0.15, 0.25)), float(rng.uniform(0.04, 0.07))
    mesh = trimesh.creation.torus(major_radius=major, minor_radius=minor, major_sections=20, minor_sections=8)
    mesh.apply_translation((0, 0, minor))
    return [(mesh, 0)]


KINDS: dict[str, Kind] = {
    "chair": Kind(("chair", "seat"), ("Chair", "chair_{n:02d}", "DiningChair", "chair"), "Cube", _chair),
    "table": Kind(("table", "desk"), ("Table", "table_{n:02d}", "CoffeeTable", "Desk"), "Cube", _table),
    "stool": Kind(("stool",), ("Stool", "stool_{n:02d}", "BarStool"), "Cylinder", _stool),
    "lamp": Kind(("lamp", "floor lamp"), ("Lamp", "FloorLamp", "lamp_{n:02d}"), "Cylinder", _lamp),
    "ball": Kind(("ball", "sphere"), ("Ball", "ball_{n:02d}", "RubberBall", "Sphere_Ball"), "Sphere", _ball, True),
    "box": Kind(("box", "crate", "cube"), ("Box", "Crate", "crate_{n:02d}", "box_{n:02d}"), "Cube", _cube, True),
    "cylinder": Kind(("cylinder", "pillar", "column"), ("Pillar", "Column", "cylinder_{n:02d}"), "Cylinder", _cylinder, True),
    "cone": Kind(("cone",), ("Cone_Prop", "TrafficCone", "cone_{n:02d}"), "Cone", _cone, True),
    "ring": Kind(("ring", "torus", "donut"), ("Ring", "Donut", "ring_{n:02d}"), "Torus", _ring, True),
}  # fmt: skip
FURNITURE = ("chair", "table", "stool", "lamp")
PRIMITIVES = ("ball", "box", "cylinder", "cone", "ring")


@dataclass
class SynthObject:
    """A geometry object: its meshes (object coordinates) and what language may call it."""

    name: str
    kind: str  # key of KINDS, or "floor"
    parts: Parts
    location: np.ndarray
    rotation_z: float
    materials: list[str]
    color: str  # colour name of its main (most visible) material
    mark: int | None = None


@dataclass
class SynthScene:
    graph: SceneGraph
    objects: list[SynthObject]  # geometry with meshes, the floor included (mark None)
    lamp_lights: dict[str, str] = field(default_factory=dict)  # lamp object -> its light
    motions: dict[str, str] = field(default_factory=dict)  # animated object -> "bounce" | "slide" | "spin"

    @property
    def marked(self) -> list[SynthObject]:
        return [o for o in self.objects if o.mark is not None]

    def get(self, name: str) -> SynthObject:
        return next(o for o in self.objects if o.name == name)

    def material(self, name: str) -> Material:
        return next(m for m in self.graph.materials if m.name == name)

    def main_material(self, obj: str) -> Material:
        """The material an edit of the object's colour goes to (slot 0; the shade of a lamp)."""
        o = self.get(obj)
        return self.material(o.materials[main_slot(o)])

    def light(self, name: str) -> Light:
        return next(light for light in self.graph.lights if light.name == name)

    def pose(self, obj: SynthObject, frame: float) -> np.ndarray:
        """Object-to-world matrix at a frame (keyframed location and Z rotation evaluated)."""
        loc, rz = obj.location.copy(), obj.rotation_z
        for channel in self._channels(obj.name):
            value = evaluate(channel.keyframes, frame)
            if channel.path == "location":
                loc[channel.index] = value
            elif channel.path == "rotation_euler" and channel.index == 2:
                rz = value
        m = np.eye(4)
        c, s = math.cos(rz), math.sin(rz)
        m[:2, :2] = [[c, -s], [s, c]]
        m[:3, 3] = loc
        return m

    def _channels(self, name: str) -> list[Channel]:
        anim = self.graph.animation
        if anim is None:
            return []
        return [c for a in anim.objects if a.object == name for c in a.channels]

    def world_bounds(self, obj: SynthObject, frame: float) -> tuple[np.ndarray, np.ndarray]:
        pose = self.pose(obj, frame)
        verts = np.concatenate([m.vertices for m, _ in obj.parts]) @ pose[:3, :3].T + pose[:3, 3]
        return verts.min(axis=0), verts.max(axis=0)


def main_slot(obj: SynthObject) -> int:
    return 1 if obj.kind == "lamp" else 0


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


class _Namer:
    """Unique object names: meaningful ones from the kind, or Blender's "Cube.003" style."""

    def __init__(self, rng: np.random.Generator, meaningful: bool) -> None:
        self.rng, self.meaningful, self.used = rng, meaningful, set()
        self.counters: dict[str, int] = {}

    def __call__(self, choices: tuple[str, ...], primitive: str) -> str:
        if self.meaningful:
            for _ in range(20):
                name = str(self.rng.choice(choices)).format(n=int(self.rng.integers(1, 12)))
                if name not in self.used:
                    self.used.add(name)
                    return name
        return self.default(primitive)

    def default(self, base: str) -> str:
        while True:
            count = self.counters.get(base, int(self.rng.integers(0, 4)))
            self.counters[base] = count + 1 + int(self.rng.integers(0, 3))
            name = base if count == 0 else f"{base}.{count:03d}"  # Blender: Cube, Cube.001, ...
            if name not in self.used:
                self.used.add(name)
                return name


def _footprint(parts: Parts) -> tuple[float, float]:
    verts = np.concatenate([m.vertices for m, _ in parts])
    return float(np.linalg.norm(verts[:, :2], axis=1).max()), float(verts[:, 2].max())


def build_scene(rng: np.random.Generator, animated: bool = False, n_objects: int | None = None) -> SynthScene:
    """A random scene. `animated`: two keyframed objects (a bouncing ball and a sliding or
    spinning box) over 48-96 frames."""
    meaningful = bool(rng.random() < 0.5)
    namer = _Namer(rng, meaningful)
    n = int(n_objects or rng.integers(3, 7))
    kinds: list[str] = []
    if animated:
        kinds += ["ball", "box"]
    while len(kinds) < n:
        pool = FURNITURE if rng.random() < 0.45 else PRIMITIVES
        kind = str(rng.choice(pool))
        if kind in ("lamp", "table") and kind in kinds:  # one lamp and one table at most
            continue
        kinds.append(kind)

    objects: list[SynthObject] = []
    half = 0.45 + 0.1 * n  # half the layout's side: denser scenes get more floor
    placed: list[tuple[float, float, float]] = []  # x, y, radius on the floor
    table: SynthObject | None = None
    colors_used: list[str] = []
    for i, kind in enumerate(kinds):
        spec = KINDS[kind]
        parts = spec.build(rng)
        radius, height = _footprint(parts)
        rotation = float(rng.uniform(-0.6, 0.6)) if kind not in ("ball", "ring") else 0.0
        location = None
        if table is not None and spec.small and radius < 0.3 and i >= 2 and rng.random() < 0.35 and not animated:
            top = table.parts[0][0].vertices[:, 2].max()
            location = np.array([*(table.location[:2] + rng.uniform(-0.15, 0.15, 2)), top])
        else:
            for _ in range(200):
                x, y = rng.uniform(-half, half, 2)
                if all(math.hypot(x - px, y - py) > radius + pr + 0.12 for px, py, pr in placed):
                    location = np.array([x, y, 0.0])
                    placed.append((float(x), float(y), radius))
                    break
        if location is None:
            continue
        color = _pick_color(rng, colors_used)
        colors_used.append(color)
        obj = SynthObject(namer(spec.names, spec.primitive), kind, parts, location, rotation, [], color)
        objects.append(obj)
        if kind == "table":
            table = obj

    materials: list[Material] = []
    mat_namer = _Namer(rng, meaningful and rng.random() < 0.7)
    for obj in objects:
        slots = 2 if obj.kind == "lamp" else 1
        for slot in range(slots):
            if obj.kind == "lamp" and slot == 0:
                color_name, finish = "gray", "Metal"
            else:
                color_name = obj.color
                finish = str(rng.choice(list(FINISHES)))
            roughness, metallic = FINISHES[finish]
            roughness = float(np.clip(roughness + rng.uniform(-0.1, 0.1), 0.05, 1.0))
            name = mat_namer((f"{color_name.title()}_{finish}", f"{finish}_{color_name.title()}"), "Material")
            materials.append(
                Material(
                    name=name, base_color=[*COLORS[color_name], 1.0], roughness=r4(roughness), metallic=r4(metallic)
                )
            )
            obj.materials.append(name)
    # Marks in a random order, so a mark number says nothing about the name or the position.
    for mark, idx in enumerate(rng.permutation(len(objects)), start=1):
        objects[int(idx)].mark = mark

    floor_name = "Floor" if meaningful or rng.random() < 0.5 else namer.default("Plane")
    floor_mat = "Floor_Mat" if meaningful else mat_namer.default("Material")
    floor_color = FLOOR_COLORS[int(rng.integers(len(FLOOR_COLORS)))]
    materials.append(Material(name=floor_mat, base_color=[*floor_color, 1.0], roughness=0.7))
    # The floor spans the layout plus a margin, so orbit views that frame everything stay close.
    lo = np.min([p[:2] - p[2] for p in map(np.array, placed)], axis=0) - 0.35
    hi = np.max([p[:2] + p[2] for p in map(np.array, placed)], axis=0) + 0.35
    if animated:  # room for the sliding box
        lo, hi = lo - 0.5, hi + 0.5
    floor_mesh = _box((*(hi - lo), 0.02), (*((lo + hi) / 2), -0.01))
    floor = SynthObject(floor_name, "floor", [(floor_mesh, 0)], np.zeros(3), 0.0, [floor_mat], "floor")

    scene = SynthScene(SceneGraph(), [*objects, floor])
    lights, light_objects = _lights(rng, scene, namer, meaningful)
    animation = _animate(rng, scene) if animated else None

    graph_objects = [_scene_object(scene, o) for o in scene.objects]
    graph_objects += light_objects
    cam_name = "Camera" if rng.random() < 0.8 else namer.default("Camera")
    cam_pose = look_at((3.4, -3.4, 2.4), (0.0, 0.0, 0.5))
    graph_objects.append(
        SceneObject(name=cam_name, type="CAMERA", location=v4(cam_pose[:3, 3]), rotation=v4(_euler(cam_pose[:3, :3])))
    )
    if rng.random() < 0.3:  # a rig helper: no geometry, never a sensible target for a look edit
        loc = v4([*rng.uniform(-1, 1, 2), 0.0])
        graph_objects.append(
            SceneObject(name=namer.default("Empty"), type="EMPTY", location=loc, bbox_min=loc, bbox_max=loc)
        )
    world_color = WORLD_COLORS[int(rng.integers(len(WORLD_COLORS)))]
    scene.graph = SceneGraph(
        name="Scene",
        frame_current=1,
        objects=graph_objects,
        materials=materials,
        lights=lights,
        cameras=[Camera(name=cam_name, focal_length=50.0, sensor_width=36.0)],
        world=World(color=list(world_color), strength=1.0),
        animation=animation,
    )
    return scene


def _pick_color(rng: np.random.Generator, used: list[str]) -> str:
    """Mostly distinct colours (so "the red one" often names one object), sometimes a repeat."""
    fresh = [c for c in COLORS if c not in used]
    if fresh and rng.random() < 0.85:
        return str(rng.choice(fresh))
    return str(rng.choice(list(COLORS)))


def _scene_object(scene: SynthScene, obj: SynthObject) -> SceneObject:
    lo, hi = scene.world_bounds(obj, 1.0)
    return SceneObject(
        name=obj.name,
        type="MESH",
        location=v4(scene.pose(obj, 1.0)[:3, 3]),
        rotation=v4((0.0, 0.0, obj.rotation_z)),
        dimensions=v4(hi - lo),
        bbox_min=v4(lo),
        bbox_max=v4(hi),
        materials=list(obj.materials),
        mark=obj.mark,
    )


def _euler(rot: np.ndarray) -> list[float]:
    """XYZ Euler angles (Blender's default order) of a rotation matrix."""
    y = math.asin(-max(-1.0, min(1.0, rot[2, 0])))
    x = math.atan2(rot[2, 1], rot[2, 2])
    z = math.atan2(rot[1, 0], rot[0, 0])
    return [x, y, z]


def _lights(
    rng: np.random.Generator, scene: SynthScene, namer: _Namer, meaningful: bool
) -> tuple[list[Light], list[SceneObject]]:
    lights: list[Light] = []
    objects: list[SceneObject] = []

    def add(name: str, kind: str, energy: float, color, location, parent: str | None = None) -> None:  # noqa: ANN001
        lights.append(Light(name=name, type=kind, energy=r4(energy), color=v4(color)))
        loc = v4(location)
        objects.append(SceneObject(name=name, type="LIGHT", parent=parent, location=loc, bbox_min=loc, bbox_max=loc))

    def name(meaningful_name: str, default: str) -> str:
        return namer((meaningful_name,), default) if meaningful else namer.default(default)

    key = str(rng.choice(["SUN", "AREA", "POINT"]))
    key_energy = {"SUN": rng.uniform(2, 5), "AREA": rng.uniform(200, 600), "POINT": rng.uniform(500, 1500)}[key]
    key_color = (1.0, float(rng.uniform(0.9, 1.0)), float(rng.uniform(0.8, 1.0)))
    add(name("Key_Light" if key != "SUN" else "Sun", {"SUN": "Sun", "AREA": "Area", "POINT": "Point"}[key]),
        key, float(key_energy), key_color, (2.0, -1.5, 4.0))  # fmt: skip
    if rng.random() < 0.5:
        fill = str(rng.choice(["POINT", "AREA"]))
        add(name("Fill_Light", "Point" if fill == "POINT" else "Area"), fill, float(rng.uniform(100, 400)),
            (float(rng.uniform(0.8, 1.0)), float(rng.uniform(0.85, 1.0)), 1.0), (-2.5, 1.0, 2.5))  # fmt: skip
    for obj in scene.objects:
        if obj.kind == "lamp":
            height = obj.parts[1][0].vertices[:, 2].max()
            light = name(f"{obj.name}_Light" if len(obj.name) < 50 else "Lamp_Light", "Point")
            add(
                light,
                "POINT",
                float(rng.uniform(80, 200)),
                (1.0, 0.85, 0.6),
                obj.location + (0, 0, height - 0.1),
                obj.name,
            )
            scene.lamp_lights[obj.name] = light
    return lights, objects


def _animate(rng: np.random.Generator, scene: SynthScene) -> Animation:
    end = int(rng.choice([48, 72, 96]))
    tracks: list[ObjectAnimation] = []
    for obj in scene.objects:
        if obj.kind == "ball" and "bounce" not in scene.motions.values():
            # Starts on the floor (the first key is the rest value scale_amplitude scales about),
            # then bounces that lose height.
            h = float(rng.uniform(0.6, 1.2))
            frames = [1 + round(t * (end - 1)) for t in (0.0, 0.17, 0.34, 0.5, 0.66, 0.83, 1.0)]
            heights = [0.0, h, 0.0, 0.5 * h, 0.0, 0.2 * h, 0.0]
            keys = [Keyframe(frame=float(f), value=r4(z)) for f, z in zip(frames, heights, strict=True)]
            tracks.append(
                ObjectAnimation(object=obj.name, channels=[Channel(path="location", index=2, keyframes=keys)])
            )
            scene.motions[obj.name] = "bounce"
        elif obj.kind == "box" and len(scene.motions) < 2 and obj.location[2] == 0.0:
            if rng.random() < 0.6:
                axis = int(rng.integers(0, 2))
                start = float(obj.location[axis])
                dist = float(rng.uniform(0.5, 0.9)) * (-1 if start > 0 else 1)
                keys = [Keyframe(frame=1.0, value=r4(start)), Keyframe(frame=float(end), value=r4(start + dist))]
                channel = Channel(path="location", index=axis, keyframes=keys)
                scene.motions[obj.name] = "slide"
            else:
                turns = float(rng.choice([0.5, 1.0]))
                keys = [Keyframe(frame=1.0, value=r4(obj.rotation_z), interpolation="LINEAR"),
                        Keyframe(frame=float(end), value=r4(obj.rotation_z + turns * 2 * math.pi), interpolation="LINEAR")]  # fmt: skip
                channel = Channel(path="rotation_euler", index=2, keyframes=keys)
                scene.motions[obj.name] = "spin"
            tracks.append(ObjectAnimation(object=obj.name, channels=[channel]))
    return Animation(frame_start=1, frame_end=end, fps=24.0, objects=tracks)
