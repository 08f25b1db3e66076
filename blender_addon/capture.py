"""What the model sees of a Blender scene: its scene graph and multi-view renders (imports bpy).

`extract_scene_graph(scene)` describes the scene in the wire contract (`evlm.scene`);
`capture(scene, settings)` adds orbit views around the visible geometry (and the active camera's
view if asked), for one frame or F frames of the animation, each a PNG with its camera pose,
intrinsics, frame and set-of-marks table. The camera maths, the marks overlay and the PNG encoder
are pure code in `evlm.views`.

Capture leaves the scene as it found it, even when it fails midway: the current frame (and the
values of animated properties, so unkeyed tweaks survive an animation capture), the scene camera,
selection and active object, every render, colour management and Workbench shading setting it
touches, and no data-block left behind (its temporary camera, the "Render Result" image if there
was none). Two traces remain: the file is marked modified, and an existing "Render Result" shows
the last capture (Blender's Python API cannot add and remove a render slot). It uses no operator
that needs a window (only render.render): it runs in background mode too.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import tempfile
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

from evlm.scene import GEOMETRY_TYPES, INTERPOLATIONS, LIGHT_TYPES, Mark, SceneGraph, View
from evlm.views import (
    box_corners,
    camera_intrinsics,
    decode_bmp,
    draw_marks,
    encode_png,
    frame_samples,
    orbit_poses,
    project_box,
)

from .fcurves import fcurves as _fcurves
from .nodes import surface_node

ENGINES = ("BLENDER_WORKBENCH", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "CYCLES")  # EEVEE_NEXT: Blender 4.2-4.5
MAX_VIEWS = 64  # orbit views per frame
MAX_FRAMES = 256
MAX_TOTAL_VIEWS = 1024  # all images of one capture (the server accepts 32 per request by default)
MIN_RESOLUTION, MAX_RESOLUTION = 16, 2048  # 2048: the server's default pixel limit per image
MAX_NAME = 63  # the wire contract's limit on names (Blender 5 allows 255 bytes)
ORBIT_LENS_MM, ORBIT_SENSOR_MM = 50.0, 36.0
ORBIT_ELEVATION_DEG = 28.0
ORBIT_FILL = 0.9  # the scene's bounding box spans at most 90% of each orbit view
# Workbench anti-aliasing for captures: FXAA looks the same as the default 8 samples at these
# sizes and renders 2.3x faster on a CPU (software OpenGL), 1.7x without shadows.
WORKBENCH_AA = "FXAA"


@dataclass
class CaptureSettings:
    """What to render. `samples` only matters for EEVEE and Cycles (Workbench is not sampled)."""

    views: int = 6  # orbit views per frame (0: only the active camera)
    resolution: int = 384  # orbit views are square; the active camera view has this on its long side
    engine: str = "BLENDER_WORKBENCH"
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
        if total > MAX_TOTAL_VIEWS:
            raise ValueError(f"{total} images asked for (views x frames), at most {MAX_TOTAL_VIEWS}")


@dataclass
class Capture:
    scene: SceneGraph
    views: list[tuple[View, bytes]]  # View metadata and its PNG, ready for Client.submit_suggest
    timings: dict[str, float] = field(default_factory=dict)  # seconds: scene_graph, render, encode, total


# ---------------------------------------------------------------- scene graph


def extract_scene_graph(scene: bpy.types.Scene) -> SceneGraph:
    """The scene in the wire contract, at its current frame. Names are Blender's.

    Objects: world transform (from matrix_world), world axis-aligned bounds of the evaluated
    geometry (modifiers applied; non-geometry objects are a point), visibility in final renders,
    material slots, modifiers, and a set-of-marks index (1, 2, ... for visible geometry).
    Materials: those in the objects' slots, from their Principled BSDF when there is one.
    Animation: the frame range and fps, and per object its action's keyframes.
    """
    _check_scene(scene)
    view_layer = _view_layer(scene)
    depsgraph = _depsgraph(scene, view_layer)
    rendered = _rendered_objects(view_layer)
    _check_names(scene)
    objects, materials, lights, cameras = [], {}, [], []
    next_mark = 1
    for obj in scene.objects:
        loc, rot, scale = _matrix_world(obj, depsgraph).decompose()
        corners = _world_corners(obj, depsgraph)
        lo, hi = (corners.min(axis=0), corners.max(axis=0)) if corners is not None else (np.array(loc),) * 2
        visible = obj in rendered
        mark = None
        if visible and obj.type in GEOMETRY_TYPES:
            mark, next_mark = next_mark, next_mark + 1
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
    """Names the contract cannot carry get a clear error, not a validation dump."""
    for obj in scene.objects:
        names = [("object", obj.name)] + [("modifier", m.name) for m in obj.modifiers]
        names += [("material", s.material.name) for s in obj.material_slots if s.material is not None]
        for kind, name in names:
            if len(name) > MAX_NAME:
                raise ValueError(f"{kind} name {name!r} is longer than {MAX_NAME} characters; please shorten it")


def _view_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer a render of this scene shows: the context's for the context scene."""
    if bpy.context.scene == scene and bpy.context.view_layer is not None:
        return bpy.context.view_layer
    return scene.view_layers[0]


def _depsgraph(scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer) -> bpy.types.Depsgraph:
    if bpy.context.scene == scene and bpy.context.view_layer == view_layer:
        return bpy.context.evaluated_depsgraph_get()
    view_layer.update()
    return view_layer.depsgraph


def _rendered_objects(view_layer: bpy.types.ViewLayer) -> set[bpy.types.Object]:
    """Objects a final render draws: not hidden from renders, in an enabled, renderable collection."""
    found: set[bpy.types.Object] = set()

    def walk(layer_collection: bpy.types.LayerCollection) -> None:
        if layer_collection.exclude or layer_collection.collection.hide_render:
            return
        found.update(layer_collection.collection.objects)
        for child in layer_collection.children:
            walk(child)

    walk(view_layer.layer_collection)
    return {obj for obj in found if not obj.hide_render}


def _matrix_world(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> Matrix:
    """The evaluated world matrix; computed from the parent chain for an object the depsgraph
    does not evaluate (in an excluded collection), whose stored matrix may be stale."""
    evaluated = obj.evaluated_get(depsgraph)
    if evaluated.is_evaluated:
        return evaluated.matrix_world
    if obj.parent is None:
        return obj.matrix_basis
    return _matrix_world(obj.parent, depsgraph) @ obj.matrix_parent_inverse @ obj.matrix_basis


def _world_corners(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> np.ndarray | None:
    """The 8 world-space corners (8, 3) of a geometry object's evaluated bounding box, else None."""
    if obj.type not in GEOMETRY_TYPES:
        return None
    evaluated = obj.evaluated_get(depsgraph)
    local = np.array([corner[:] for corner in evaluated.bound_box], dtype=np.float64)
    m = np.array(_matrix_world(obj, depsgraph), dtype=np.float64)
    return local @ m[:3, :3].T + m[:3, 3]


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
    return {
        "name": mat.name,
        "base_color": _unit(_input(bsdf, "Base Color", mat.diffuse_color), 4),
        "roughness": _unit([_input(bsdf, "Roughness", mat.roughness)])[0],
        "metallic": _unit([_input(bsdf, "Metallic", mat.metallic)])[0],
        "emission_color": _unit(_input(bsdf, "Emission Color", (0.0, 0.0, 0.0))),
        "emission_strength": _clip(_input(bsdf, "Emission Strength", 0.0), 1e6),
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
    for fc in _fcurves(obj):
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
    """The scene graph and rendered views of `scene`; the scene is left exactly as it was.

    Views come frame by frame (the current frame, or `settings.frames` frames spread over the
    frame range), each frame's orbit views first (the same poses at every frame, framing the
    visible geometry of all captured frames), then the active camera's view if asked.
    """
    start = time.perf_counter()
    settings = CaptureSettings() if settings is None else settings
    if not isinstance(settings, CaptureSettings):
        raise TypeError(f"expected CaptureSettings, got {type(settings).__name__}")
    settings.validate()
    graph = extract_scene_graph(scene)
    timings = {"scene_graph": time.perf_counter() - start, "render": 0.0, "encode": 0.0}
    if settings.include_active_camera and scene.camera is None:
        raise ValueError("include_active_camera is on but the scene has no active camera")
    marked = [(o.name, o.mark, scene.objects[o.name]) for o in graph.objects if o.mark is not None]
    if settings.views and not marked:
        raise ValueError("nothing to frame: the scene has no visible geometry")
    if settings.frames == 1:
        frames = [scene.frame_current]
    else:
        frames = frame_samples(scene.frame_start, scene.frame_end, settings.frames)

    views: list[tuple[View, bytes]] = []
    with _borrowed(scene, settings) as session:
        # Pass 1: every marked object's box at every frame; their union is what the orbits frame.
        boxes = {}
        for frame in frames:
            session.go_to(frame)
            depsgraph = session.depsgraph()
            boxes[frame] = {name: _world_corners(obj, depsgraph) for name, _, obj in marked}
        poses: list[np.ndarray] = []
        if settings.views:
            every = np.concatenate([c for per_frame in boxes.values() for c in per_frame.values()])
            lo, hi = every.min(axis=0), every.max(axis=0)
            k = camera_intrinsics(settings.resolution, settings.resolution, ORBIT_LENS_MM, ORBIT_SENSOR_MM)
            size = settings.resolution
            poses = orbit_poses(lo, hi, settings.views, k, size, size, ORBIT_ELEVATION_DEG, fill=ORBIT_FILL)
        # Pass 2: render.
        for frame in frames:
            active = session.go_to(frame)
            shots = [(f"orbit {i}", session.orbit_camera, pose, k, size, size) for i, pose in enumerate(poses)]
            if settings.include_active_camera:
                shots.append(("active camera", *session.active_view(active)))
            for label, camera, pose, intrinsics, width, height in shots:
                t0 = time.perf_counter()
                if camera == session.orbit_camera:
                    near = session.place_orbit_camera(pose, lo, hi)
                else:
                    near = camera.data.clip_start if intrinsics is not None else 1e-6
                rgb = session.render(camera, width, height)
                t1 = time.perf_counter()
                marks = []
                if intrinsics is not None:
                    for name, index, _ in marked:
                        where = project_box(boxes[frame][name], pose, intrinsics, width, height, near=near)
                        if where is not None:
                            marks.append(Mark(index=index, object=name, center=where[0], box=where[1]))
                if settings.marks and marks:
                    rgb = draw_marks(rgb, marks)
                view = View(
                    label=label,
                    width=width,
                    height=height,
                    frame=frame,
                    pose=np.asarray(pose, dtype=np.float64).reshape(-1).tolist(),
                    intrinsics=None if intrinsics is None else [float(v) for v in intrinsics],
                    marks=marks if settings.marks else [],  # no table for numbers that are not drawn
                )
                views.append((view, encode_png(rgb)))
                timings["render"] += t1 - t0
                timings["encode"] += time.perf_counter() - t1
    timings["total"] = time.perf_counter() - start
    return Capture(scene=graph, views=views, timings=timings)


# Settings captured and restored: whole structs where setting one value can change others (a
# file format changes the colour depth, a view transform its look), else just what is set.
def _settings_to_keep(scene: bpy.types.Scene) -> list[tuple[Any, list[str] | None]]:
    keep: list[tuple[Any, list[str] | None]] = [
        (scene.render, None),
        (scene.render.image_settings, None),
        (scene.view_settings, None),
        (scene.display, ["render_aa"]),
        (scene.display.shading, ["light", "color_type"]),
    ]
    if getattr(scene, "cycles", None) is not None:
        keep.append((scene.cycles, ["samples"]))
    if getattr(scene, "eevee", None) is not None:
        keep.append((scene.eevee, ["taa_render_samples"]))
    return keep


def _rna_values(struct: Any, names: list[str] | None = None) -> dict[str, Any]:
    values = {}
    for prop in struct.bl_rna.properties:
        if prop.identifier == "rna_type" or prop.is_readonly or prop.type in {"POINTER", "COLLECTION"}:
            continue
        if names is not None and prop.identifier not in names:
            continue
        try:
            value = getattr(struct, prop.identifier)
        except AttributeError:  # deprecated or context-dependent property
            continue
        values[prop.identifier] = _plain(value)
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, str | bytes | int | float | bool | set | frozenset) or value is None:
        return value
    try:
        return tuple(_plain(v) for v in value)
    except TypeError:
        return value


def _restore_values(struct: Any, saved: dict[str, Any]) -> list[str]:
    """Put every changed value back; a few passes, as setting one value may change another."""
    failed: list[str] = []
    for _ in range(3):
        changed = {name: v for name, v in saved.items() if _plain(getattr(struct, name)) != v}
        if not changed:
            return []
        failed = []
        for name, value in changed.items():
            try:
                setattr(struct, name, value)
            except (AttributeError, TypeError, ValueError) as e:
                failed.append(f"{struct.bl_rna.identifier}.{name}: {e}")
    return failed or [f"{struct.bl_rna.identifier}.{n}" for n, v in saved.items() if _plain(getattr(struct, n)) != v]


_PATH_TAIL = re.compile(r'^(?P<head>.*?)(?:\.?(?P<attr>[A-Za-z_]\w*)|\[(?P<key>"(?:[^"\\]|\\.)*")\])$')


class _AnimatedValue:
    """The current value of one animated property, to put back after frame changes."""

    def __init__(self, id_data: bpy.types.ID, path: str, index: int) -> None:
        match = _PATH_TAIL.match(path)
        if match is None:
            raise ValueError(path)
        head = match["head"]
        self.owner = id_data.path_resolve(head) if head else id_data
        self.attr, self.key, self.index = match["attr"], match["key"], index
        self.key = ast.literal_eval(self.key) if self.key else None
        self.value = self._get()

    def _get(self) -> Any:
        value = self.owner[self.key] if self.key is not None else getattr(self.owner, self.attr)
        return value[self.index] if hasattr(value, "__len__") and not isinstance(value, str) else value

    def restore(self) -> None:
        if self._get() == self.value:
            return
        current = self.owner[self.key] if self.key is not None else getattr(self.owner, self.attr)
        if hasattr(current, "__len__") and not isinstance(current, str):
            current[self.index] = self.value
        elif self.key is not None:
            self.owner[self.key] = self.value
        else:
            setattr(self.owner, self.attr, self.value)


def _animated_values(scene: bpy.types.Scene) -> list[_AnimatedValue]:
    ids: dict[int, bpy.types.ID] = {}
    for id_data in [scene, scene.world, getattr(scene.world, "node_tree", None)]:
        if id_data is not None:
            ids[id_data.as_pointer()] = id_data
    for obj in scene.objects:
        related = [obj, obj.data, getattr(obj.data, "shape_keys", None)]
        for slot in obj.material_slots:
            if slot.material is not None:
                related += [slot.material, slot.material.node_tree]
        for id_data in related:
            if id_data is not None and getattr(id_data, "animation_data", None) is not None:
                ids[id_data.as_pointer()] = id_data
    values = []
    for id_data in ids.values():
        for fc in _fcurves(id_data):
            try:
                values.append(_AnimatedValue(id_data, fc.data_path, fc.array_index))
            except (ValueError, KeyError, AttributeError, IndexError, TypeError, SyntaxError):
                continue  # a channel whose property is gone: nothing to put back
    return values


class _Session:
    """The scene borrowed for a capture: temporary camera, render output, what to put back."""

    def __init__(self, scene: bpy.types.Scene, settings: CaptureSettings) -> None:
        self.scene, self.settings = scene, settings
        self.view_layer = _view_layer(scene)
        self.frame, self.subframe = scene.frame_current, scene.frame_subframe
        self.camera = scene.camera
        self.active = self.view_layer.objects.active
        self.selected = [obj for obj in self.view_layer.objects if obj.select_get(view_layer=self.view_layer)]
        self.saved = [(struct, _rna_values(struct, names)) for struct, names in _settings_to_keep(scene)]
        self.animated = _animated_values(scene) if settings.frames > 1 else []
        # The shape of the user's renders (with pixel aspect), for the active camera's view.
        render = scene.render
        self.aspect = render.resolution_x * render.pixel_aspect_x / (render.resolution_y * render.pixel_aspect_y)
        self.render_result_names = {img.name for img in bpy.data.images if img.type == "RENDER_RESULT"}
        self.folder = tempfile.mkdtemp(prefix="evlm_capture_")
        self.path = os.path.join(self.folder, "view.bmp")
        self.orbit_camera: bpy.types.Object | None = None

    def set_up(self) -> None:
        scene, render, settings = self.scene, self.scene.render, self.settings
        try:
            render.engine = settings.engine
        except TypeError:
            raise ValueError(f"render engine {settings.engine!r} is not available in this Blender") from None
        render.resolution_percentage = 100
        render.pixel_aspect_x = render.pixel_aspect_y = 1.0
        render.use_border = False
        render.use_multiview = False
        render.use_compositing = False  # the picture of the scene, not a compositor's output
        render.use_sequencer = False
        render.use_single_layer = True
        render.film_transparent = False
        render.use_stamp = False  # no burnt-in metadata
        render.dither_intensity = 0.0
        render.filepath = self.path
        render.use_file_extension = True
        image = render.image_settings
        image.file_format = "BMP"  # uncompressed: read back with numpy, encoded once as PNG
        image.color_mode = "RGB"
        if hasattr(image, "color_management"):
            image.color_management = "FOLLOW_SCENE"
        if settings.engine == "BLENDER_WORKBENCH":
            scene.display.render_aa = WORKBENCH_AA
            scene.display.shading.light = "STUDIO"
            scene.display.shading.color_type = "MATERIAL"  # material colours, as the scene graph says
            scene.view_settings.view_transform = "Standard"
            scene.view_settings.look = "None"
            scene.view_settings.exposure, scene.view_settings.gamma = 0.0, 1.0
        elif settings.engine == "CYCLES":
            scene.cycles.samples = settings.samples
        elif hasattr(scene, "eevee"):
            scene.eevee.taa_render_samples = settings.samples
        if settings.views:
            data = bpy.data.cameras.new("EVLM capture")
            data.lens, data.sensor_width, data.sensor_fit = ORBIT_LENS_MM, ORBIT_SENSOR_MM, "AUTO"
            self.orbit_camera = bpy.data.objects.new("EVLM capture", data)
            scene.collection.objects.link(self.orbit_camera)

    def restore(self) -> list[str]:
        """Put everything back; each step runs even if another fails. Returns what failed."""
        scene, failed = self.scene, []

        def step(what: str, action: Any) -> None:
            try:
                action()
            except Exception as e:  # keep restoring the rest
                failed.append(f"{what}: {type(e).__name__}: {e}")

        step("camera", lambda: setattr(scene, "camera", self.camera))
        if self.orbit_camera is not None:
            data = self.orbit_camera.data
            step("temporary camera", lambda: bpy.data.objects.remove(self.orbit_camera, do_unlink=True))
            step("temporary camera data", lambda: bpy.data.cameras.remove(data))
            self.orbit_camera = None
        if (scene.frame_current, scene.frame_subframe) != (self.frame, self.subframe):
            step("frame", lambda: scene.frame_set(self.frame, subframe=self.subframe))
        for value in self.animated:
            step("animated value", value.restore)
        step("camera", lambda: setattr(scene, "camera", self.camera))  # camera markers follow frames
        for struct, values in self.saved:
            failed += _restore_values(struct, values)
        layer = self.view_layer
        for obj in layer.objects:
            if obj.select_get(view_layer=layer) != (obj in self.selected):
                step("selection", lambda o=obj: o.select_set(o in self.selected, view_layer=layer))
        if layer.objects.active != self.active:
            step("active object", lambda: setattr(layer.objects, "active", self.active))
        for img in list(bpy.data.images):
            if img.type == "RENDER_RESULT" and img.name not in self.render_result_names:
                step("render result", lambda i=img: bpy.data.images.remove(i))
        step("view layer", self.view_layer.update)
        shutil.rmtree(self.folder, ignore_errors=True)
        return failed

    def go_to(self, frame: int) -> bpy.types.Object | None:
        """Move to `frame` (animation captures only) and return the scene's camera there."""
        self.scene.camera = self.camera
        if self.settings.frames > 1:
            self.scene.frame_set(frame)
        return self.scene.camera  # timeline markers may switch cameras with the frame

    def depsgraph(self) -> bpy.types.Depsgraph:
        return _depsgraph(self.scene, self.view_layer)

    def place_orbit_camera(self, pose: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
        """Put the orbit camera at `pose`, clip planes hugging the box; returns the near distance."""
        cam = self.orbit_camera
        cam.matrix_world = Matrix(pose.tolist())
        depth = (box_corners(lo, hi) - pose[:3, 3]) @ -pose[:3, 2]  # distance along the view axis
        near = max(float(depth.min()) * 0.5, 1e-4)
        cam.data.clip_start, cam.data.clip_end = near, max(float(depth.max()) * 1.05 + 1e-3, near * 2)
        return near

    def active_view(self, camera: bpy.types.Object) -> tuple:
        """The active camera's shot: (camera, pose, intrinsics or None, width, height)."""
        aspect = self.aspect
        long = self.settings.resolution
        width, height = (long, max(1, round(long / aspect))) if aspect >= 1 else (max(1, round(long * aspect)), long)
        evaluated = camera.evaluated_get(self.depsgraph())
        pose = np.array(evaluated.matrix_world.normalized(), dtype=np.float64)  # a camera's scale does not zoom
        intrinsics = None
        data = evaluated.data
        # Marks need a pinhole: orthographic and panoramic cameras (or an object that is not a
        # camera used as one) get their image without intrinsics and marks.
        if camera.type == "CAMERA" and data.type == "PERSP":
            intrinsics = camera_intrinsics(
                width, height, data.lens, data.sensor_width, data.sensor_height, data.sensor_fit, data.shift_x,
                data.shift_y,
            )  # fmt: skip
        return camera, pose, intrinsics, width, height

    def render(self, camera: bpy.types.Object, width: int, height: int) -> np.ndarray:
        scene = self.scene
        scene.camera = camera
        scene.render.resolution_x, scene.render.resolution_y = width, height
        result = bpy.ops.render.render(write_still=True, scene=scene.name)
        if "FINISHED" not in result or not os.path.isfile(self.path):
            raise RuntimeError(f"rendering with {scene.render.engine} failed ({', '.join(result)})")
        with open(self.path, "rb") as f:
            data = f.read()
        os.remove(self.path)
        rgb = decode_bmp(data)
        if rgb.shape != (height, width, 3):
            raise RuntimeError(f"the render is {rgb.shape[1]}x{rgb.shape[0]}, expected {width}x{height}")
        return rgb


@contextmanager
def _borrowed(scene: bpy.types.Scene, settings: CaptureSettings) -> Iterator[_Session]:
    session = _Session(scene, settings)
    failed: list[str] = []
    try:
        session.set_up()
        yield session
    finally:
        failed = session.restore()
    if failed:  # only reached without another exception in flight
        raise RuntimeError("capture could not restore the scene: " + "; ".join(failed))
