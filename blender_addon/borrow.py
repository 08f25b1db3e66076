"""The scene lent to a capture: what capture changes to render its views, and how it puts it back.

`borrowed(scene, lend)` yields a `Borrowed` scene and restores it on the way out, even when a
render failed; each restore step runs even if another fails. What a capture changes, and gets
back to what it was:

- the current frame (and the values of animated properties, so unkeyed tweaks survive a frame
  change), the scene camera, selection and active object;
- every render, colour management and Workbench display setting it sets (whole structs where
  setting one value can change others: a file format changes the colour depth);
- with Workbench, each material's viewport colour is drawn as the scene graph's base colour (the
  Principled BSDF's Base Color when there is one: what a render shows, and what `evlm-synth` and
  the mesh renderer draw) and the world's viewport colour as its background colour times
  strength; for the ID pass each marked object's object colour is its `evlm.marks.id_color`;
- Simplify caps subdivision at the viewport level (the render level can take four times the
  faces, and is rebuilt for every view: a new render depsgraph each time);
- its temporary camera, temporary files and a "Render Result" image if there was none.

Two traces remain: the file is marked modified, and an existing "Render Result" shows the last
capture (Blender's Python API cannot add and remove a render slot). Only `render.render` is used
(no operator that needs a window), so this runs in background mode too.
"""

from __future__ import annotations

import ast
import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# isort: off
import bpy  # first: mathutils comes with it
from mathutils import Matrix

# isort: on
import numpy as np

from evlm.marks import id_color, ids_from_rgb
from evlm.views import ORBIT_LENS_MM, ORBIT_SENSOR_MM, box_corners, camera_intrinsics, decode_bmp

from .fcurves import fcurves

WORKBENCH = "BLENDER_WORKBENCH"
# Workbench anti-aliasing for the views: FXAA looks the same as the default 8 samples at these
# sizes and renders 2.3x faster on a CPU (software OpenGL), 1.7x without shadows.
WORKBENCH_AA = "FXAA"
SUBDIVISION_MODIFIERS = ("SUBSURF", "MULTIRES")
# Workbench looks: the views (material colours under studio light, nothing the training renderer
# cannot draw: no shadows, cavity, outlines, X-ray or depth of field) and the ID pass (flat object
# colours, no anti-aliasing, transparent background: each pixel one object's exact colour).
_PLAIN = {"show_shadows": False, "show_cavity": False, "show_object_outline": False, "show_xray": False,
          "use_dof": False, "show_backface_culling": False}  # fmt: skip
# The studio light evlm_render imitates: Workbench's "Default", fixed to the camera, with highlights.
VIEW_SHADING = {"light": "STUDIO", "color_type": "MATERIAL", "studio_light": "Default", "use_world_space_lighting": False,
                "show_specular_highlight": True, **_PLAIN}  # fmt: skip
ID_SHADING = {"light": "FLAT", "color_type": "OBJECT", **_PLAIN}
_FOLDER: dict[str, str] = {}
_STANDARD = {"view_transform": "Standard", "look": "None", "exposure": 0.0, "gamma": 1.0, "use_curve_mapping": False}


@dataclass
class Lend:
    """What a capture needs of the scene."""

    engine: str  # the views' render engine
    samples: int  # EEVEE and Cycles samples
    orbit_camera: bool  # make a temporary camera for the orbit views
    materials: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # name: base colour (Workbench)
    world_color: tuple[float, float, float] | None = None  # the background Workbench draws
    ids: dict[str, int] = field(default_factory=dict)  # object name: id in the ID pass


def view_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer a render of this scene shows: the context's for the context scene."""
    if bpy.context.scene == scene and bpy.context.view_layer is not None:
        return bpy.context.view_layer
    return scene.view_layers[0]


def depsgraph(scene: bpy.types.Scene, layer: bpy.types.ViewLayer) -> bpy.types.Depsgraph:
    if bpy.context.scene == scene and bpy.context.view_layer == layer:
        return bpy.context.evaluated_depsgraph_get()
    layer.update()
    return layer.depsgraph


# ---------------------------------------------------------------- saving and restoring values


def _settings_to_keep(scene: bpy.types.Scene) -> list[tuple[Any, list[str] | None]]:
    keep: list[tuple[Any, list[str] | None]] = [
        (scene.render, None),
        (scene.render.image_settings, None),
        (scene.view_settings, None),
        (scene.display_settings, None),
        (scene.display, ["render_aa"]),
        (scene.display.shading, list(VIEW_SHADING)),
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


def _set(struct: Any, values: dict[str, Any]) -> None:
    """Set what differs (a property missing in this Blender is skipped)."""
    for name, value in values.items():
        if hasattr(struct, name) and _plain(getattr(struct, name)) != value:
            setattr(struct, name, value)


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
        for fc in fcurves(id_data):
            try:
                values.append(_AnimatedValue(id_data, fc.data_path, fc.array_index))
            except (ValueError, KeyError, AttributeError, IndexError, TypeError, SyntaxError):
                continue  # a channel whose property is gone: nothing to put back
    return values


def _render_folder() -> str:
    """A folder for the renders' files, made once per process and removed when it ends."""
    if _FOLDER.get("path") is None or not os.path.isdir(_FOLDER["path"]):
        _FOLDER["path"] = tempfile.mkdtemp(prefix="evlm_capture_")
        atexit.register(shutil.rmtree, _FOLDER["path"], True)
    return _FOLDER["path"]


def _linear(srgb8: tuple[int, int, int]) -> tuple[float, float, float]:
    """The linear colour that the Standard view transform shows as these 8-bit sRGB values."""
    c = np.asarray(srgb8, dtype=np.float64) / 255.0
    return tuple(float(v) for v in np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4))


# ---------------------------------------------------------------- the borrowed scene


class Borrowed:
    """The scene borrowed for a capture: temporary camera, render output, what to put back."""

    def __init__(self, scene: bpy.types.Scene, lend: Lend) -> None:
        self.scene, self.lend = scene, lend
        self.view_layer = view_layer(scene)
        self.frame, self.subframe = scene.frame_current, scene.frame_subframe
        self.camera = scene.camera
        self.active = self.view_layer.objects.active
        self.selected = [obj for obj in self.view_layer.objects if obj.select_get(view_layer=self.view_layer)]
        self.saved = [(struct, _rna_values(struct, names)) for struct, names in _settings_to_keep(scene)]
        self.animated: list[_AnimatedValue] | None = None  # saved before the first frame change
        self.colors: list[tuple[Any, str, tuple]] = []  # (data-block, attribute, value) to put back
        self.id_colors: list[tuple[bpy.types.Object, tuple]] = []  # each object's colour in the ID pass
        # The shape of the user's renders (with pixel aspect), for the active camera's view.
        render = scene.render
        self.aspect = render.resolution_x * render.pixel_aspect_x / (render.resolution_y * render.pixel_aspect_y)
        self.render_result_names = {img.name for img in bpy.data.images if img.type == "RENDER_RESULT"}
        self.path = os.path.join(_render_folder(), f"view_{id(self)}.bmp")
        self.orbit_camera: bpy.types.Object | None = None

    def set_up(self) -> None:
        scene, render, lend = self.scene, self.scene.render, self.lend
        try:
            render.engine = lend.engine
        except TypeError:
            raise ValueError(f"render engine {lend.engine!r} is not available in this Blender") from None
        render.resolution_percentage = 100
        render.pixel_aspect_x = render.pixel_aspect_y = 1.0
        render.use_border = False
        render.use_multiview = False
        render.use_compositing = False  # the picture of the scene, not a compositor's output
        render.use_sequencer = False
        render.use_single_layer = True
        render.use_stamp = False  # no burnt-in metadata
        render.dither_intensity = 0.0
        render.filepath = self.path
        render.use_file_extension = True
        image = render.image_settings
        image.file_format = "BMP"  # uncompressed: read back with numpy, encoded once as PNG
        image.color_mode = "RGB"
        if hasattr(image, "color_management"):
            image.color_management = "FOLLOW_SCENE"
        self._cap_subdivision()
        if lend.engine == "CYCLES":
            scene.cycles.samples = lend.samples
        elif lend.engine != WORKBENCH and hasattr(scene, "eevee"):
            scene.eevee.taa_render_samples = lend.samples
        if lend.engine == WORKBENCH:
            for name, rgb in lend.materials.items():
                mat = bpy.data.materials.get(name)
                if mat is not None:
                    self._recolor(mat, "diffuse_color", (*rgb, mat.diffuse_color[3]))
            if scene.world is not None and lend.world_color is not None:
                self._recolor(scene.world, "color", lend.world_color)
        self.id_colors = []
        for name, object_id in lend.ids.items():
            obj = scene.objects.get(name)
            if obj is None:
                raise ValueError(f"object {name!r} left the scene while it was being captured")
            self.id_colors.append((obj, (*_linear(id_color(object_id)), 1.0)))
        if lend.orbit_camera:
            data = bpy.data.cameras.new("EVLM capture")
            data.lens, data.sensor_width, data.sensor_fit = ORBIT_LENS_MM, ORBIT_SENSOR_MM, "AUTO"
            self.orbit_camera = bpy.data.objects.new("EVLM capture", data)
            scene.collection.objects.link(self.orbit_camera)

    def _recolor(self, owner: Any, attr: str, value: tuple) -> None:
        """Draw `owner` in another colour for the capture; a linked (read-only) data-block keeps its own."""
        old = tuple(getattr(owner, attr))
        if old == tuple(value) or not owner.is_editable:
            return
        self.colors.append((owner, attr, old))
        setattr(owner, attr, value)

    def _put_colors_back(self, keep: int = 0) -> list[str]:
        """Restore the colours changed after the first `keep` ones; returns what failed."""
        failed = []
        while len(self.colors) > keep:
            owner, attr, value = self.colors.pop()
            try:
                setattr(owner, attr, value)
            except Exception as e:  # keep restoring the rest
                failed.append(f"{attr} of {owner.name}: {type(e).__name__}: {e}")
        return failed

    def _cap_subdivision(self) -> None:
        """Simplify: subdivision no finer than the finest viewport level among the scene's
        subdivision modifiers (or the user's own Simplify cap, if lower)."""
        levels = [m.levels for obj in self.scene.objects for m in obj.modifiers if m.type in SUBDIVISION_MODIFIERS]
        render = self.scene.render
        if not levels:
            return
        cap = max(levels)
        if render.use_simplify:
            cap = min(cap, render.simplify_subdivision_render)
        else:  # Simplify was off: only subdivision is capped, the rest renders as before
            render.use_simplify = True
            render.simplify_child_particles_render = 1.0
            if hasattr(render, "texture_limit_render"):
                render.texture_limit_render = "OFF"
        render.simplify_subdivision_render = cap

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
        for value in self.animated or ():
            step("animated value", value.restore)
        step("camera", lambda: setattr(scene, "camera", self.camera))  # camera markers follow frames
        failed += self._put_colors_back()
        for struct, values in self.saved:
            failed += _restore_values(struct, values)
        layer = self.view_layer
        step("view layer", layer.update)  # its object list is stale once the temporary camera is gone
        for obj in layer.objects:
            if obj.select_get(view_layer=layer) != (obj in self.selected):
                step("selection", lambda o=obj: o.select_set(o in self.selected, view_layer=layer))
        if layer.objects.active != self.active:
            step("active object", lambda: setattr(layer.objects, "active", self.active))
        for img in list(bpy.data.images):
            if img.type == "RENDER_RESULT" and img.name not in self.render_result_names:
                step("render result", lambda i=img: bpy.data.images.remove(i))
        if os.path.exists(self.path):
            step("render file", lambda: os.remove(self.path))
        return failed

    def go_to(self, frame: int) -> bpy.types.Object | None:
        """Move to `frame` and return the scene's camera there."""
        scene = self.scene
        scene.camera = self.camera
        if (scene.frame_current, scene.frame_subframe) != (frame, 0.0):
            if self.animated is None:
                self.animated = _animated_values(scene)
            scene.frame_set(frame)
        return scene.camera  # timeline markers may switch cameras with the frame

    def depsgraph(self) -> bpy.types.Depsgraph:
        return depsgraph(self.scene, self.view_layer)

    def place_orbit_camera(self, pose: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bpy.types.Object:
        """Put the orbit camera at `pose`, clip planes hugging the box."""
        cam = self.orbit_camera
        cam.matrix_world = Matrix(pose.tolist())
        depth = (box_corners(lo, hi) - pose[:3, 3]) @ -pose[:3, 2]  # distance along the view axis
        near = max(float(depth.min()) * 0.5, 1e-4)
        cam.data.clip_start, cam.data.clip_end = near, max(float(depth.max()) * 1.05 + 1e-3, near * 2)
        return cam

    def active_view(self, camera: bpy.types.Object, resolution: int) -> tuple:
        """The active camera's shot: (pose, intrinsics or None, width, height)."""
        aspect = self.aspect
        long = resolution
        width, height = (long, max(1, round(long / aspect))) if aspect >= 1 else (max(1, round(long * aspect)), long)
        evaluated = camera.evaluated_get(self.depsgraph())
        pose = np.array(evaluated.matrix_world.normalized(), dtype=np.float64)  # a camera's scale does not zoom
        intrinsics = None
        data = evaluated.data
        # Intrinsics need a pinhole: orthographic and panoramic cameras (or an object that is not a
        # camera used as one) get their image (and marks) without them.
        if camera.type == "CAMERA" and data.type == "PERSP":
            intrinsics = camera_intrinsics(
                width, height, data.lens, data.sensor_width, data.sensor_height, data.sensor_fit, data.shift_x,
                data.shift_y,
            )  # fmt: skip
        return pose, intrinsics, width, height

    def render_view(self, camera: bpy.types.Object, width: int, height: int) -> np.ndarray:
        """The view as the chosen engine renders it: (H, W, 3) uint8."""
        scene, lend = self.scene, self.lend
        scene.render.engine = lend.engine
        scene.render.film_transparent = False
        if lend.engine == WORKBENCH:
            scene.display.render_aa = WORKBENCH_AA
            _set(scene.display.shading, VIEW_SHADING)
            _set(scene.view_settings, _STANDARD)
            _set(scene.display_settings, {"display_device": "sRGB"})
        else:  # the user's colour management
            for struct, values in self.saved:
                if struct in (scene.view_settings, scene.display_settings):
                    _restore_values(struct, values)
        return self._render(camera, width, height)

    def render_ids(self, camera: bpy.types.Object, width: int, height: int) -> np.ndarray:
        """The object-ID pass: (H, W) ids, 0 where no object with an id shows."""
        scene = self.scene
        scene.render.engine = WORKBENCH
        scene.render.film_transparent = True  # the background reads as black: id 0
        scene.display.render_aa = "OFF"
        _set(scene.display.shading, ID_SHADING)
        _set(scene.view_settings, _STANDARD)
        _set(scene.display_settings, {"display_device": "sRGB"})
        # Object colours only while the ID pass renders: EEVEE and Cycles materials may read them.
        keep = len(self.colors)
        try:
            for obj, color in self.id_colors:
                self._recolor(obj, "color", color)
            rgb = self._render(camera, width, height)
        finally:
            failed = self._put_colors_back(keep)
        if failed:
            raise RuntimeError("capture could not restore object colours: " + "; ".join(failed))
        return ids_from_rgb(rgb)

    def _render(self, camera: bpy.types.Object, width: int, height: int) -> np.ndarray:
        scene = self.scene
        scene.camera = camera
        scene.render.resolution_x, scene.render.resolution_y = width, height
        # Saved by the image, not write_still: write_still logs a "Saved: ..." line per view.
        result = bpy.ops.render.render(scene=scene.name)
        if "FINISHED" in result:
            bpy.data.images["Render Result"].save_render(self.path, scene=scene)
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
def borrowed(scene: bpy.types.Scene, lend: Lend) -> Iterator[Borrowed]:
    session = Borrowed(scene, lend)
    failed: list[str] = []
    try:
        session.set_up()
        yield session
    finally:
        failed = session.restore()
    if failed:  # only reached without another exception in flight
        raise RuntimeError("capture could not restore the scene: " + "; ".join(failed))
