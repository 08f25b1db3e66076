"""Views of synthetic scenes: orbit views over frames with set-of-marks, and reference images.

The drawing is the shared offscreen renderer's (`evlm_render`: what the add-on's Workbench
capture shows, and an object-ID pass), the cameras the add-on's orbit views
(`evlm.views.orbit_cameras`: view 0 where Blender's default camera stands; they frame the marked
objects, the floor runs out of frame), and the marks the one set-of-marks implementation
(`evlm.marks`: a mark on a visible pixel deep inside each marked object that shows). This module
only turns a `SynthScene` into parts and views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from evlm import marks as set_of_marks
from evlm.scene import Mark, Material, SceneGraph, View, World
from evlm.views import ORBIT_LENS_MM, camera_intrinsics, draw_marks, orbit_cameras, orbit_label, orbit_poses
from evlm_render import Part, png_bytes, renderer_started, srgb, write_png
from evlm_render import render_views as draw_views
from training.synth.scenes import SynthObject, SynthScene, main_slot, r4

LENS_MM = ORBIT_LENS_MM
MIN_MARK_PIXELS = set_of_marks.MIN_MARK_PIXELS

__all__ = [
    "LENS_MM", "MIN_MARK_PIXELS", "Shot", "marks_from_ids", "orbit", "png_bytes", "render_object", "render_swatch",
    "render_views", "renderer_started", "scene_bounds", "srgb", "write_png",
]  # fmt: skip


@dataclass
class Shot:
    """One rendered view: the clean image (H, W, 3 uint8), its View (with marks) and the ID pass."""

    image: np.ndarray
    view: View
    ids: np.ndarray  # (H, W) int: 1 + index into scene.objects, 0 = background

    def marked(self) -> np.ndarray:
        return draw_marks(self.image, self.view.marks)


def parts(scene: SynthScene, frame: float, objects: list[SynthObject] | None = None) -> list[Part]:
    """The meshes of the objects (default: all of them) at a frame; object id = 1 + index in the scene."""
    out = []
    for obj in objects if objects is not None else scene.objects:
        pose = scene.pose(obj, frame)
        object_id = scene.objects.index(obj) + 1 if obj in scene.objects else 0
        for mesh, slot in obj.parts:
            out.append(Part(mesh, pose, scene.material(obj.materials[slot]), object_id))
    return out


def scene_bounds(scene: SynthScene, frame: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """World bounds of the marked objects: the views frame them (the floor runs out of frame),
    so small objects stay a few pixels wide even at 96 px."""
    bounds = [scene.world_bounds(o, frame) for o in scene.marked]
    return np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)


def orbit(scene: SynthScene, count: int, size: int, frames: list[int]) -> tuple[list[np.ndarray], list[float]]:
    """Orbit camera poses (the same for every frame) framing the scene over all the frames, so a
    bouncing ball stays in the picture, and their intrinsics."""
    bounds = [scene_bounds(scene, float(f)) for f in frames]
    lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
    return orbit_cameras(lo, hi, count, size)


def render_views(scene: SynthScene, count: int, size: int, frames: list[int]) -> list[list[Shot]]:
    """shots[f][v]: `count` orbit views of each frame, with their mark tables."""
    poses, intrinsics = orbit(scene, count, size, frames)
    out: list[list[Shot]] = []
    for frame in frames:
        renders = draw_views(parts(scene, float(frame)), poses, intrinsics, size, size, scene.graph.world)
        row = []
        for v, (pose, r) in enumerate(zip(poses, renders, strict=True)):
            view = View(
                label=orbit_label(v),
                width=size,
                height=size,
                frame=int(frame),
                pose=[r4(x) for x in pose.reshape(-1)],
                intrinsics=[r4(x) for x in intrinsics],
                marks=marks_from_ids(scene, r.ids),
            )
            row.append(Shot(r.rgb, view, r.ids))
        out.append(row)
    return out


def marks_from_ids(scene: SynthScene, ids: np.ndarray) -> list[Mark]:
    """The mark table of a view from its ID pass (`evlm.marks`)."""
    marked = [(i, o.mark, o.name) for i, o in enumerate(scene.objects, start=1) if o.mark is not None]
    return set_of_marks.marks_from_ids(ids, marked)


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
    intrinsics = camera_intrinsics(size, size, LENS_MM)
    pose = orbit_poses(lo, hi, 1, intrinsics, size, size, fill=0.8)[0]
    [r] = draw_views(parts(scene, 1.0, objects), [pose], intrinsics, size, size, scene.graph.world, ids=False)
    return r.rgb
