"""Headless rendering of synthetic scenes with pyrender: orbit views, frames, set-of-marks.

The views imitate what the Blender add-on captures with Workbench (its default): each object's
material colour under fixed studio lights, the world colour as background, the same orbit
cameras (`evlm.views.orbit_poses`: view 0 where Blender's default camera stands; they
frame the marked objects, the floor runs out of frame) and the same set-of-marks drawing
(`evlm.views.draw_marks`). Scene lights do not light the views,
as in Workbench. Metallic is damped (pyrender has no environment light, so a fully metallic
surface would render black).

Marks come from an ID pass: a mark's box is the box of the object's visible pixels and its centre
a visible pixel deep inside them (the object's colour is there, not the floor behind a chair's
legs), so an occluded object gets a mark only where it shows. Coordinates are normalized view
coordinates, x right and y down.

OpenGL: `PYOPENGL_PLATFORM` is respected; unset, EGL is used when an NVIDIA device is present and
OSMesa (software, Debian `libosmesa6`) otherwise. It must be chosen before pyrender is imported,
hence the lazy import. One renderer per process is kept and reused.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from evlm.scene import Mark, Material, SceneGraph, View, World
from evlm.views import camera_intrinsics, draw_marks, orbit_poses
from training.synth.scenes import SynthObject, SynthScene, main_slot, r4

LENS_MM = 50.0
MIN_MARK_PIXELS = 6  # fewer visible pixels than this: no mark in that view
_STATE: dict[str, Any] = {}  # the process's renderer and pyrender module


@dataclass
class Shot:
    """One rendered view: the clean image (H, W, 3 uint8), its View (with marks) and the ID pass."""

    image: np.ndarray
    view: View
    ids: np.ndarray  # (H, W) int: 1 + index into scene.objects, 0 = background / floor

    def marked(self) -> np.ndarray:
        return draw_marks(self.image, self.view.marks)


def _gl() -> Any:
    if "pyrender" not in _STATE:
        if "PYOPENGL_PLATFORM" not in os.environ:
            if "OpenGL" in sys.modules:  # it has picked its platform already (GLX: needs a display)
                raise RuntimeError(
                    "OpenGL was imported before the renderer chose a platform: set PYOPENGL_PLATFORM=osmesa (or egl)"
                )
            os.environ["PYOPENGL_PLATFORM"] = "egl" if os.path.exists("/dev/nvidiactl") else "osmesa"
        import pyrender

        _STATE["pyrender"] = pyrender
    return _STATE["pyrender"]


def renderer_started() -> bool:
    """Whether this process holds a GL context (a forked child must not inherit one)."""
    return "renderer" in _STATE


def _renderer(width: int, height: int) -> Any:
    pyrender = _gl()
    r = _STATE.get("renderer")
    if r is None or (r.viewport_width, r.viewport_height) != (width, height):
        if r is not None:
            r.delete()
        r = _STATE["renderer"] = pyrender.OffscreenRenderer(width, height)
        r._renderer._program_cache = _stable_program_cache(pyrender)()
    return r


def _stable_program_cache(pyrender: Any) -> type:
    """pyrender's shader cache keys on the GL context object; under OSMesa that is a new ctypes
    pointer object on every call, never equal to the last, so every draw compiled its shaders
    again (10x slower, and a leak). One renderer owns one context: key on the shaders alone."""

    class StableProgramCache(pyrender.shader_program.ShaderProgramCache):
        def __init__(self) -> None:
            super().__init__()
            self._stable: dict = {}

        def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):  # noqa: ANN001, ANN201
            key = (vertex_shader, fragment_shader, geometry_shader, tuple(sorted((defines or {}).items())))
            if key not in self._stable:
                self._stable[key] = super().get_program(vertex_shader, fragment_shader, geometry_shader, defines)
            return self._stable[key]

        def clear(self) -> None:
            super().clear()
            self._stable.clear()

    return StableProgramCache


def srgb(linear: Any) -> np.ndarray:
    """Linear RGB in [0, 1] to sRGB in [0, 1] (what the views show)."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _material(pyrender: Any, m: Material) -> Any:
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=m.base_color, metallicFactor=0.3 * m.metallic, roughnessFactor=max(m.roughness, 0.2)
    )


def _build(scene: SynthScene, frame: float, objects: list[SynthObject] | None = None) -> tuple[Any, dict]:
    """A pyrender scene of the objects at a frame, and the ID colour of each mesh node."""
    pyrender = _gl()
    world = scene.graph.world
    bg = srgb(np.asarray(world.color) * min(world.strength, 1.0))
    pr = pyrender.Scene(bg_color=[*bg, 1.0], ambient_light=[0.35, 0.35, 0.35])
    seg: dict = {}
    for obj in objects if objects is not None else scene.objects:
        index = scene.objects.index(obj) + 1
        pose = scene.pose(obj, frame)
        for mesh, slot in obj.parts:
            node = pr.add(pyrender.Mesh.from_trimesh(mesh, material=_material(pyrender, scene.material(obj.materials[slot])), smooth=False), pose=pose)  # fmt: skip
            if obj.mark is not None or objects is not None:
                seg[node] = (index % 256, index // 256, 0)
    return pr, seg


def _add_camera(pr: Any, intrinsics: list[float]) -> tuple[Any, list[Any]]:
    pyrender = _gl()
    fx, fy, cx, cy = intrinsics
    cam = pr.add(pyrender.IntrinsicsCamera(fx, fy, cx, cy, znear=0.05, zfar=100.0))
    lights = [
        pr.add(pyrender.DirectionalLight(color=[1.0, 1.0, 1.0], intensity=2.2)),
        pr.add(pyrender.DirectionalLight(color=[1.0, 0.98, 0.95], intensity=1.6)),
    ]
    return cam, lights


def _light_poses(pose: np.ndarray) -> list[np.ndarray]:
    """Studio lights tied to the camera: one from the camera, one from above-left of it."""
    key = pose.copy()
    up_left = pose[:3, :3] @ np.array([-0.5, 0.8, 0.35])
    fwd = -up_left / np.linalg.norm(up_left)  # the light shines along its -Z
    right = np.cross(fwd, [0.0, 0.0, 1.0]) if abs(fwd[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    fill = np.eye(4)
    fill[:3, 0], fill[:3, 1], fill[:3, 2] = right, np.cross(right, fwd), -fwd
    return [key, fill]


def scene_bounds(scene: SynthScene, frame: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """World bounds of the marked objects: the views frame them (the floor runs out of frame),
    so small objects stay a few pixels wide even at 96 px."""
    bounds = [scene.world_bounds(o, frame) for o in scene.marked]
    return np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)


def orbit(scene: SynthScene, count: int, size: int, frames: list[int]) -> tuple[list[np.ndarray], list[float]]:
    """Orbit camera poses (the same for every frame) framing the scene over all the frames, so a
    bouncing ball stays in the picture, and their intrinsics."""
    intrinsics = camera_intrinsics(size, size, LENS_MM)
    bounds = [scene_bounds(scene, float(f)) for f in frames]
    lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
    return orbit_poses(lo, hi, count, intrinsics, size, size), intrinsics


def render_views(scene: SynthScene, count: int, size: int, frames: list[int]) -> list[list[Shot]]:
    """shots[f][v]: `count` orbit views of each frame, with their mark tables."""
    pyrender = _gl()
    renderer = _renderer(size, size)
    poses, intrinsics = orbit(scene, count, size, frames)
    out: list[list[Shot]] = []
    for frame in frames:
        pr, seg = _build(scene, float(frame))
        cam, lights = _add_camera(pr, intrinsics)
        row = []
        for v, pose in enumerate(poses):
            pr.set_pose(cam, pose)
            for node, lp in zip(lights, _light_poses(pose), strict=True):
                pr.set_pose(node, lp)
            color, _ = renderer.render(pr)
            ids_rgb, _ = renderer.render(pr, flags=pyrender.RenderFlags.SEG, seg_node_map=seg)
            ids = ids_rgb[..., 0].astype(np.int64) + 256 * ids_rgb[..., 1].astype(np.int64)
            view = View(
                label=f"orbit {v}",
                width=size,
                height=size,
                frame=int(frame),
                pose=[r4(x) for x in pose.reshape(-1)],
                intrinsics=[r4(x) for x in intrinsics],
                marks=marks_from_ids(scene, ids),
            )
            row.append(Shot(np.ascontiguousarray(color[..., :3]), view, ids))
        out.append(row)
    _forget_gl_pointers()
    return out


def _forget_gl_pointers() -> None:
    """Drop what PyOpenGL keeps per context for finished draws (vertex-attribute offsets).

    It files them under the current context object, which OSMesa hands out anew on every call
    (equal hashes, never equal): one more entry per draw, all in one hash chain, so a long run
    would leak and slow down quadratically. pyrender draws from buffer objects, so nothing kept
    there is needed once a frame is read back.
    """
    from OpenGL import contextdata

    for storage in contextdata.STORAGES:
        storage.clear()


def marks_from_ids(scene: SynthScene, ids: np.ndarray) -> list[Mark]:
    """The mark table of a view from its ID pass (module docstring)."""
    h, w = ids.shape
    marks = []
    for index, obj in enumerate(scene.objects, start=1):
        if obj.mark is None:
            continue
        mask = ids == index
        if int(mask.sum()) < MIN_MARK_PIXELS:
            continue
        ys, xs = np.nonzero(mask)
        cy, cx = _deep_point(mask)
        marks.append(
            Mark(
                index=obj.mark,
                object=obj.name,
                center=[r4((cx + 0.5) / w), r4((cy + 0.5) / h)],
                box=[r4(xs.min() / w), r4(ys.min() / h), r4((xs.max() + 1) / w), r4((ys.max() + 1) / h)],
            )
        )
    return sorted(marks, key=lambda m: m.index)


def _deep_point(mask: np.ndarray) -> tuple[int, int]:
    """A pixel of the mask far from its border (erode while anything is left), nearest the
    centroid of what is left: on the object even for rings and chairs."""
    core = mask
    while True:
        inner = core.copy()
        inner[1:, :] &= core[:-1, :]
        inner[:-1, :] &= core[1:, :]
        inner[:, 1:] &= core[:, :-1]
        inner[:, :-1] &= core[:, 1:]
        inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
        if not inner.any():
            break
        core = inner
    ys, xs = np.nonzero(core)
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(ys[i]), int(xs[i])


def render_swatch(material: Material, size: int, background: tuple[float, float, float]) -> np.ndarray:
    """A reference image: a sphere showing a material, on a plain background."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    swatch = SynthObject("swatch", "ball", [(sphere, 0)], np.zeros(3), 0.0, [material.name], "")
    graph = SceneGraph(materials=[material], world=World(color=list(background), strength=1.0))
    tmp = SynthScene(graph=graph, objects=[swatch])
    return _render_alone(tmp, [swatch], size, np.full(3, -0.5), np.full(3, 0.5))


def render_object(scene: SynthScene, obj: SynthObject, material: Material, size: int) -> np.ndarray:
    """A reference image: one object alone, its main material replaced, seen like view 0."""
    slot = main_slot(obj)
    copy = SynthObject(obj.name, obj.kind, obj.parts, obj.location, obj.rotation_z, list(obj.materials), obj.color)
    copy.materials[slot] = material.name
    materials = [m for m in scene.graph.materials if m.name in copy.materials] + [material]
    tmp = SynthScene(graph=SceneGraph(materials=materials, world=scene.graph.world), objects=[copy])
    lo, hi = tmp.world_bounds(copy, 1.0)
    return _render_alone(tmp, [copy], size, lo, hi)


def _render_alone(
    scene: SynthScene, objects: list[SynthObject], size: int, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    renderer = _renderer(size, size)
    intrinsics = camera_intrinsics(size, size, LENS_MM)
    pose = orbit_poses(lo, hi, 1, intrinsics, size, size, fill=0.8)[0]
    pr, _ = _build(scene, 1.0, objects)
    cam, lights = _add_camera(pr, intrinsics)
    pr.set_pose(cam, pose)
    for node, lp in zip(lights, _light_poses(pose), strict=True):
        pr.set_pose(node, lp)
    color, _ = renderer.render(pr)
    _forget_gl_pointers()
    return np.ascontiguousarray(color[..., :3])


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG", compress_level=6)  # level 9 is 7x slower for 10% less
    return buf.getvalue()


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write atomically (temp file + rename), so a killed run leaves no half image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(png_bytes(rgb))
    os.replace(tmp, path)
