"""What the model sees of a Blender scene: its scene graph and multi-view renders (imports bpy).

`extract_scene_graph(scene)` describes the scene in the wire contract (`evlm.scene`);
`capture(scene, settings)` adds orbit views around the visible geometry (and the active camera's
view if asked), for one frame or F frames of the animation, each a PNG with its camera pose,
intrinsics, frame and set-of-marks table. `CaptureRun` takes the same capture one view per
`step()`, so a UI can keep Blender responsive (a timer callback per step) and stop between views;
`capture()` runs its steps in one go.

What the views show is what training renders show (`evlm_render`): with Workbench, each material
in the base colour the scene graph reports (the Principled BSDF's Base Color, not only the
viewport display colour) under studio light, the world colour as background. Marks come from an
object-ID pass (a flat Workbench render, one colour per object), through the one set-of-marks
implementation (`evlm.marks`): an object gets a mark in a view where at least a few of its pixels
show, at a visible pixel deep inside it. The camera maths, marks drawing and PNG encoder are pure
code in `evlm.views`.

The scene is left as it found it, also when a capture fails or is stopped between views: each
step borrows the scene and restores it (`blender_addon.borrow`), so between two steps the scene is
the artist's own (an undo step or a save then never records capture's temporary state).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# isort: off
import bpy  # first: mathutils comes with it
from mathutils import Matrix

# isort: on
import numpy as np
from pydantic import ValidationError

from evlm.marks import marks_from_ids, number_marks
from evlm.protocol import Limits
from evlm.scene import GEOMETRY_TYPES, INTERPOLATIONS, LIGHT_TYPES, MAX_NAME, MAX_SCENE_NAME, SceneGraph, View
from evlm.views import ACTIVE_CAMERA_LABEL, draw_marks, encode_png, frame_samples, orbit_cameras, orbit_label

from .borrow import WORKBENCH, Borrowed, Lend, borrowed, depsgraph, view_layer
from .fcurves import fcurves
from .nodes import surface_node

ENGINES = (WORKBENCH, "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "CYCLES")  # EEVEE_NEXT: Blender 4.2-4.5
MAX_IMAGES = Limits().max_views  # all images of one capture: what one request can carry
MAX_VIEWS = MAX_FRAMES = MAX_IMAGES
MIN_RESOLUTION, MAX_RESOLUTION = 16, math.isqrt(Limits().max_pixels)  # the server's pixel limit per image


@dataclass
class CaptureSettings:
    """What to render. `samples` only matters for EEVEE and Cycles (Workbench is not sampled)."""

    views: int = 6  # orbit views per frame (0: only the active camera)
    resolution: int = 384  # orbit views are square; the active camera view has this on its long side
    engine: str = WORKBENCH
    frames: int = 1  # 1: the current frame; F > 1: F frames spread evenly over the scene's frame range
    include_active_camera: bool = False
    marks: bool = True  # draw the set-of-marks indices on the images and fill the views' mark tables
    samples: int = 16

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name, lo, hi in (
            ("views", 0, MAX_VIEWS),
            ("resolution", MIN_RESOLUTION, MAX_RESOLUTION),
            ("frames", 1, MAX_FRAMES),
            ("samples", 1, 65536),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        for name in ("include_active_camera", "marks"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.views == 0 and not self.include_active_camera:
            raise ValueError("nothing to capture: views is 0 and include_active_camera is off")
        total = (self.views + self.include_active_camera) * self.frames
        if total > MAX_IMAGES:
            raise ValueError(f"{total} images asked for (views x frames), at most {MAX_IMAGES} (one request)")


@dataclass
class Capture:
    scene: SceneGraph
    views: list[tuple[View, bytes]]  # View metadata and its PNG, ready for Client.submit_suggest
    # seconds: scene_graph, plan, render (the views), ids (the ID passes), marks, encode, total
    timings: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- scene graph


def extract_scene_graph(scene: bpy.types.Scene) -> SceneGraph:
    """The scene in the wire contract, at its current frame. Names are Blender's.

    Objects: world transform (from matrix_world), world axis-aligned bounds of the evaluated
    geometry (modifiers applied; non-geometry objects are a point), visibility in final renders,
    material slots, modifiers, and a set-of-marks number (visible geometry, numbered by name:
    `evlm.marks.number_marks`).
    Materials: those in the objects' slots, from their Principled BSDF when there is one.
    Animation: the frame range and fps, and per object its action's keyframes.
    """
    _check_scene(scene)
    layer = view_layer(scene)
    evaluated = depsgraph(scene, layer)
    rendered = _rendered_objects(layer)
    _check_names(scene)
    marks = number_marks(obj.name for obj in rendered if obj.type in GEOMETRY_TYPES)
    objects, materials, lights, cameras = [], {}, [], []
    for obj in scene.objects:
        loc, rot, scale = _matrix_world(obj, evaluated).decompose()
        lo, hi = _world_bounds(obj, evaluated) if obj.type in GEOMETRY_TYPES else (np.array(loc),) * 2
        visible = obj in rendered
        mark = marks.get(obj.name) if visible else None
        # Every slot, empty ones as None, so an op's `slot` is Blender's slot index.
        slots = [slot.material for slot in obj.material_slots]
        for mat in slots:
            if mat is not None:
                materials.setdefault(mat.name, mat)
        objects.append(
            {
                "name": obj.name,
                "type": obj.type,
                "parent": obj.parent.name if obj.parent else None,
                "location": list(loc),
                "rotation": list(rot.to_euler("XYZ")),
                "scale": list(scale),
                "dimensions": (hi - lo).tolist(),
                "bbox_min": lo.tolist(),
                "bbox_max": hi.tolist(),
                "visible": visible,
                "materials": [mat.name if mat is not None else None for mat in slots],
                "modifiers": [{"name": m.name, "type": m.type} for m in obj.modifiers],
                "mark": mark,
            }
        )
        if obj.type == "LIGHT" and obj.data.type in LIGHT_TYPES:
            light = obj.data
            lights.append(
                {"name": obj.name, "type": light.type, "color": _unit(light.color), "energy": _clip(light.energy, 1e9)}
            )
        elif obj.type == "CAMERA":
            cameras.append({"name": obj.name, "focal_length": obj.data.lens, "sensor_width": obj.data.sensor_width})
    data = {
        "name": scene.name,
        "frame_current": scene.frame_current,
        "objects": objects,
        "materials": [_material(mat) for mat in materials.values()],
        "lights": lights,
        "cameras": cameras,
        "world": _world(scene.world),
        "animation": {
            "frame_start": scene.frame_start,
            "frame_end": scene.frame_end,
            "fps": scene.render.fps / scene.render.fps_base,
            "objects": [a for a in (_object_animation(obj) for obj in scene.objects) if a is not None],
        },
    }
    try:
        return SceneGraph.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"the scene cannot be described in the wire contract: {e}") from None


def _check_scene(scene: Any) -> None:
    if not isinstance(scene, bpy.types.Scene):
        raise TypeError(f"expected a bpy.types.Scene, got {type(scene).__name__}")


def _check_names(scene: bpy.types.Scene) -> None:
    """Names the contract cannot carry get a clear error, not a validation dump. (Blender 5's
    own limit, 255 bytes, keeps object names within the contract's; a scene name may not be.)"""
    if len(scene.name) > MAX_SCENE_NAME:
        raise ValueError(f"scene name {scene.name!r} is longer than {MAX_SCENE_NAME} characters; please shorten it")
    for obj in scene.objects:
        names = [("object", obj.name)] + [("modifier", m.name) for m in obj.modifiers]
        names += [("material", s.material.name) for s in obj.material_slots if s.material is not None]
        for kind, name in names:
            if len(name) > MAX_NAME:
                raise ValueError(f"{kind} name {name!r} is longer than {MAX_NAME} characters; please shorten it")


def _rendered_objects(layer: bpy.types.ViewLayer) -> set[bpy.types.Object]:
    """Objects a final render draws: not hidden from renders, in an enabled, renderable collection."""
    found: set[bpy.types.Object] = set()

    def walk(layer_collection: bpy.types.LayerCollection) -> None:
        if layer_collection.exclude or layer_collection.collection.hide_render:
            return
        found.update(layer_collection.collection.objects)
        for child in layer_collection.children:
            walk(child)

    walk(layer.layer_collection)
    return {obj for obj in found if not obj.hide_render}


def _matrix_world(obj: bpy.types.Object, graph: bpy.types.Depsgraph) -> Matrix:
    """The evaluated world matrix; computed from the parent chain for an object the depsgraph
    does not evaluate (in an excluded collection), whose stored matrix may be stale."""
    evaluated = obj.evaluated_get(graph)
    if evaluated.is_evaluated:
        return evaluated.matrix_world
    if obj.parent is None:
        return obj.matrix_basis
    return _matrix_world(obj.parent, graph) @ obj.matrix_parent_inverse @ obj.matrix_basis


def _world_bounds(obj: bpy.types.Object, graph: bpy.types.Depsgraph) -> tuple[np.ndarray, np.ndarray]:
    """World axis-aligned bounds of a geometry object's evaluated vertices (a mesh), else of the
    corners of its evaluated bounding box. Vertices, as a glTF file or the generator's meshes
    give them: a rotated sphere's box is smaller than its rotated bounding box."""
    evaluated = obj.evaluated_get(graph)
    m = np.array(_matrix_world(obj, graph), dtype=np.float64)
    points = None
    if obj.type == "MESH" and len(evaluated.data.vertices):
        co = np.empty(len(evaluated.data.vertices) * 3, dtype=np.float32)
        evaluated.data.vertices.foreach_get("co", co)
        points = co.reshape(-1, 3).astype(np.float64)
    if points is None:
        points = np.array([corner[:] for corner in evaluated.bound_box], dtype=np.float64)
    world = points @ m[:3, :3].T + m[:3, 3]
    return world.min(axis=0), world.max(axis=0)


def _unit(values: Any, n: int = 3) -> list[float]:
    return [min(max(float(v), 0.0), 1.0) for v in list(values)[:n]]


def _clip(value: float, hi: float) -> float:
    return min(max(float(value), 0.0), hi)


def _input(node: bpy.types.Node, name: str, default: Any) -> Any:
    socket = node.inputs.get(name)
    return default if socket is None else socket.default_value


def _material(mat: bpy.types.Material) -> dict:
    bsdf = surface_node(mat, "BSDF_PRINCIPLED")
    if bsdf is None:  # what the viewport and Workbench show
        return {
            "name": mat.name,
            "base_color": _unit(mat.diffuse_color, 4),
            "roughness": _unit([mat.roughness])[0],
            "metallic": _unit([mat.metallic])[0],
            "alpha": _unit([mat.diffuse_color[3]])[0],
        }
    strength = _clip(_input(bsdf, "Emission Strength", 0.0), 1e6)
    return {
        "name": mat.name,
        "base_color": _unit(_input(bsdf, "Base Color", mat.diffuse_color), 4),
        "roughness": _unit([_input(bsdf, "Roughness", mat.roughness)])[0],
        "metallic": _unit([_input(bsdf, "Metallic", mat.metallic)])[0],
        # No emission reads the same everywhere (glTF, the generator): black at strength 0, not
        # the BSDF's default white at strength 0.
        "emission_color": _unit(_input(bsdf, "Emission Color", (0.0, 0.0, 0.0))) if strength else [0.0, 0.0, 0.0],
        "emission_strength": strength,
        "alpha": _unit([_input(bsdf, "Alpha", 1.0)])[0],
    }


def _world(world: bpy.types.World | None) -> dict:
    if world is None:  # renders show black
        return {"color": [0.0, 0.0, 0.0], "strength": 0.0}
    background = surface_node(world, "BACKGROUND")
    if background is None:
        return {"color": _unit(world.color), "strength": 1.0}
    return {
        "color": _unit(_input(background, "Color", world.color)),
        "strength": _clip(_input(background, "Strength", 1.0), 1e6),
    }


def _object_animation(obj: bpy.types.Object) -> dict | None:
    channels = []
    for fc in fcurves(obj):
        if fc.array_index > 3 or not fc.data_path or len(fc.data_path) > 128:
            continue  # outside what the contract can carry
        keys = [
            {
                "frame": k.co[0],
                "value": k.co[1],
                # The contract knows CONSTANT / LINEAR / BEZIER; Blender's eased curves (SINE,
                # BOUNCE, ...) are smooth like a Bezier, the closest it can say.
                "interpolation": k.interpolation if k.interpolation in INTERPOLATIONS else "BEZIER",
                "easing": k.easing,
            }
            for k in fc.keyframe_points
        ]
        channels.append({"path": fc.data_path, "index": fc.array_index, "keyframes": keys})
    return {"object": obj.name, "channels": channels[:256]} if channels else None


# ---------------------------------------------------------------- capture


def capture(scene: bpy.types.Scene, settings: CaptureSettings | None = None) -> Capture:
    """The scene graph and rendered views of `scene`, in one go; the scene is left exactly as it was.

    Views come frame by frame (the current frame, or `settings.frames` frames spread over the
    frame range), each frame's orbit views first (the same poses at every frame, framing the
    visible geometry of all captured frames), then the active camera's view if asked.
    """
    run = CaptureRun(scene, settings)
    with run.held():
        while not run.step():
            pass
    return run.result()


@dataclass
class _Shot:
    """One view to take, and once its picture is rendered, the picture and where it was taken from."""

    frame: int
    label: str
    orbit: int | None  # index of the orbit pose; None: the active camera
    pose: np.ndarray | None = None
    intrinsics: list[float] | None = None
    width: int = 0
    height: int = 0
    rgb: np.ndarray | None = None


class CaptureRun:
    """A capture taken a step at a time: `step()` until it returns True, then `result()`.

    The first step frames the orbit views (the visible geometry's bounds at every captured frame),
    each later one renders one picture, or the ID pass of the last picture and its marks: one
    Workbench render per step. `done` of `total` views are finished. Each step borrows the scene and restores it before it returns,
    unless the run is `held()` (one borrow for many steps: what `capture()` does). Dropping a
    run between steps leaves nothing to undo. Raises ValueError for settings or a scene that
    cannot be captured, before anything is rendered.
    """

    def __init__(self, scene: bpy.types.Scene, settings: CaptureSettings | None = None) -> None:
        self._start = time.perf_counter()
        settings = CaptureSettings() if settings is None else settings
        if not isinstance(settings, CaptureSettings):
            raise TypeError(f"expected CaptureSettings, got {type(settings).__name__}")
        settings.validate()
        self.scene, self.settings = scene, settings
        self.graph = extract_scene_graph(scene)
        self.timings = {"scene_graph": time.perf_counter() - self._start, "plan": 0.0, "render": 0.0, "ids": 0.0,
                        "marks": 0.0, "encode": 0.0}  # fmt: skip
        if settings.include_active_camera and scene.camera is None:
            raise ValueError("include_active_camera is on but the scene has no active camera")
        self._marked = [(o.mark, o.mark, o.name) for o in self.graph.objects if o.mark is not None]  # id = mark
        if settings.views and not self._marked:
            raise ValueError("nothing to frame: the scene has no visible geometry")
        if settings.frames == 1:
            frames = [scene.frame_current]
        else:
            frames = frame_samples(scene.frame_start, scene.frame_end, settings.frames)
        self._shots = [
            _Shot(frame, label, orbit)
            for frame in frames
            for label, orbit in [(orbit_label(i), i) for i in range(settings.views)]
            + ([(ACTIVE_CAMERA_LABEL, None)] if settings.include_active_camera else [])
        ]
        workbench = settings.engine == WORKBENCH
        self._lend = Lend(
            engine=settings.engine,
            samples=settings.samples,
            orbit_camera=settings.views > 0,
            materials={m.name: tuple(m.base_color[:3]) for m in self.graph.materials} if workbench else {},
            world_color=tuple(float(c) * min(self.graph.world.strength, 1.0) for c in self.graph.world.color),
            ids={name: object_id for object_id, _, name in self._marked} if settings.marks else {},
        )
        self._poses: list[np.ndarray] | None = None
        self._intrinsics: list[float] = []
        self._box = (np.zeros(3), np.zeros(3))
        self._held: Borrowed | None = None
        self._pending: _Shot | None = None  # its picture rendered, its ID pass not yet
        self.views: list[tuple[View, bytes]] = []

    @property
    def total(self) -> int:
        """Views to render."""
        return len(self._shots)

    @property
    def done(self) -> int:
        """Views rendered so far."""
        return len(self.views)

    @property
    def finished(self) -> bool:
        return self._poses is not None and self.done == self.total

    def step(self) -> bool:
        """Do the next piece of work; True once every view is rendered."""
        if self.finished:
            return True
        if self._held is not None:
            self._step(self._held)
        else:
            with borrowed(self.scene, self._lend) as session:
                self._step(session)
        return self.finished

    @contextmanager
    def held(self) -> Iterator[CaptureRun]:
        """Borrow the scene once for every step taken inside (restored on the way out)."""
        with borrowed(self.scene, self._lend) as session:
            self._held = session
            try:
                yield self
            finally:
                self._held = None

    def result(self) -> Capture:
        if not self.finished:
            raise RuntimeError(f"the capture is not finished: {self.done} of {self.total} views")
        timings = {**self.timings, "total": time.perf_counter() - self._start}
        return Capture(scene=self.graph, views=list(self.views), timings=timings)

    def _step(self, session: Borrowed) -> None:
        if self._poses is None:
            t0 = time.perf_counter()
            self._plan(session)
            self.timings["plan"] += time.perf_counter() - t0
        elif self._pending is None:
            self._pending = self._picture(session, self._shots[self.done])
            if not self.settings.marks:
                self._finish(self._pending, [])
        else:
            t0 = time.perf_counter()
            ids = session.render_ids(self._camera(session, self._pending), self._pending.width, self._pending.height)
            t1 = time.perf_counter()
            marks = marks_from_ids(ids, self._marked)
            self.timings["ids"] += t1 - t0
            self.timings["marks"] += time.perf_counter() - t1
            self._finish(self._pending, marks)

    def _plan(self, session: Borrowed) -> None:
        """The orbit views frame every marked object's bounds at every captured frame."""
        if not self.settings.views:
            self._poses = []
            return
        names = [name for _, _, name in self._marked]
        bounds = []
        for frame in dict.fromkeys(shot.frame for shot in self._shots):
            session.go_to(frame)
            graph = session.depsgraph()
            bounds += [_world_bounds(_object(self.scene, name), graph) for name in names]
        lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
        self._box = (lo, hi)
        self._poses, self._intrinsics = orbit_cameras(lo, hi, self.settings.views, self.settings.resolution)

    def _camera(self, session: Borrowed, shot: _Shot) -> bpy.types.Object:
        """Go to the shot's frame and put its camera in place."""
        active = session.go_to(shot.frame)
        if shot.orbit is None:
            return active
        return session.place_orbit_camera(self._poses[shot.orbit], *self._box)

    def _picture(self, session: Borrowed, shot: _Shot) -> _Shot:
        """Render the shot's picture; the shot, with where it was taken from and the pixels."""
        t0 = time.perf_counter()
        camera = self._camera(session, shot)
        if shot.orbit is not None:
            pose, intrinsics = self._poses[shot.orbit], self._intrinsics
            width = height = self.settings.resolution
        else:
            pose, intrinsics, width, height = session.active_view(camera, self.settings.resolution)
        rgb = session.render_view(camera, width, height)
        self.timings["render"] += time.perf_counter() - t0
        return _Shot(shot.frame, shot.label, shot.orbit, pose, intrinsics, width, height, rgb)

    def _finish(self, shot: _Shot, marks: list) -> None:
        t0 = time.perf_counter()
        view = View(
            label=shot.label,
            width=shot.width,
            height=shot.height,
            frame=shot.frame,
            pose=np.asarray(shot.pose, dtype=np.float64).reshape(-1).tolist(),
            intrinsics=None if shot.intrinsics is None else [float(v) for v in shot.intrinsics],
            marks=marks,  # empty when marks are off: no table for numbers that are not drawn
        )
        self.views.append((view, encode_png(draw_marks(shot.rgb, marks) if marks else shot.rgb)))
        self._pending = None
        self.timings["encode"] += time.perf_counter() - t0


def _object(scene: bpy.types.Scene, name: str) -> bpy.types.Object:
    obj = scene.objects.get(name)
    if obj is None:
        raise ValueError(f"object {name!r} left the scene while it was being captured")
    return obj


def warm_up(resolution: int = CaptureSettings.resolution) -> float:
    """Capture a small throwaway scene the way capture renders (a picture and an ID pass, at the
    views' resolution, of smooth and flat shading, several material slots, subdivision and bevel
    modifiers), so that Blender's one-time render start-up and, on a fresh machine, compiling
    Workbench's shaders into the OpenGL driver's cache are paid now, not at the artist's first
    Suggest. Leaves nothing behind. Returns the seconds it took."""
    import bmesh

    start = time.perf_counter()
    scene = bpy.data.scenes.new("EVLM warm-up")
    made: list[Any] = []
    try:
        for i, kind in enumerate(("SUBSURF", "BEVEL")):
            bm = bmesh.new()
            if kind == "SUBSURF":
                bmesh.ops.create_uvsphere(bm, u_segments=8, v_segments=4, radius=0.5)
            else:
                bmesh.ops.create_cube(bm, size=1.0)
            mesh = bpy.data.meshes.new("EVLM warm-up")
            made.append(mesh)
            bm.to_mesh(mesh)
            bm.free()
            for face in mesh.polygons:
                face.use_smooth, face.material_index = kind == "SUBSURF", face.index % 2
            for _ in range(2):
                made.append(bpy.data.materials.new("EVLM warm-up"))
                mesh.materials.append(made[-1])
            obj = bpy.data.objects.new("EVLM warm-up", mesh)
            made.insert(0, obj)
            obj.location.x = 1.5 * i
            obj.modifiers.new(kind, kind)
            scene.collection.objects.link(obj)
        capture(scene, CaptureSettings(views=1, resolution=resolution))
    finally:
        for block in made:
            getattr(bpy.data, {"OBJECT": "objects", "MESH": "meshes", "MATERIAL": "materials"}[block.id_type]).remove(
                block
            )
        bpy.data.scenes.remove(scene)
    return time.perf_counter() - start
