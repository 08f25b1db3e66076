"""Orbit views of a mesh scene file with pyrender, with set-of-marks: what the add-on sends for a .blend.

The renderer is the synthetic data generator's (`training/synth/render.py`: one OffscreenRenderer
per process, OSMesa on a CPU, EGL on an NVIDIA GPU, the same studio lights tied to the camera);
the cameras and marks are the add-on's (`evlm.views`: orbit poses framing the scene from
view 0 where Blender's default camera stands, the bitmap digits of `draw_marks`). Each object is
drawn with its material's base colour, as Workbench shows it. Marks come from an ID pass, as in the
generator: a mark sits on a visible pixel deep inside the object.

One GL context per process, made current in one thread: every render runs in a single render
thread (`_RENDER_THREAD`), whichever thread asks for it, so jobs in flight queue for the renderer
and an OSMesa context never moves between threads.

Known clash: once OSMesa (llvmpipe) has rendered in a process, importing triton (which torch may
pull in) in that process crashes it, as both load their own LLVM. evlm-batch imports no torch; keep
batch rendering out of processes that import torch (the tests run evlm-batch as a subprocess).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from evlm.scene import Mark, SceneGraph, View
from evlm.views import camera_intrinsics, draw_marks, orbit_poses
from evlm_batch.mesh_scene import MeshScene, material_names, scene_graph
from training.synth import render as synth_render

_RENDER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evlm-render")
MIN_MARK_PIXELS = synth_render.MIN_MARK_PIXELS


def orbit(ms: MeshScene, count: int, size: int) -> tuple[list[np.ndarray], list[float]]:
    """Orbit poses framing every object, and their intrinsics."""
    bounds = [ms.world_bounds(n) for n in ms.nodes]
    lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
    intrinsics = camera_intrinsics(size, size, synth_render.LENS_MM)
    return orbit_poses(lo, hi, count, intrinsics, size, size), intrinsics


def render_views(
    ms: MeshScene,
    count: int,
    size: int,
    poses: list[np.ndarray] | None = None,
    graph: SceneGraph | None = None,
    marks: bool = True,
) -> tuple[list[tuple[View, bytes]], list[np.ndarray]]:
    """`count` orbit views as (View, PNG) pairs ready for `Client.submit_suggest`, and the poses used
    (pass them back to render the edited scene from the same cameras)."""
    graph = graph or scene_graph(ms)
    return _RENDER_THREAD.submit(_render, ms, count, size, poses, graph, marks).result()


def _render(
    ms: MeshScene, count: int, size: int, poses: list[np.ndarray] | None, graph: SceneGraph, marks: bool
) -> tuple[list[tuple[View, bytes]], list[np.ndarray]]:
    pyrender = synth_render._gl()
    if poses is None:
        poses, intrinsics = orbit(ms, count, size)
    else:
        intrinsics = camera_intrinsics(size, size, synth_render.LENS_MM)
    colors = {m.name: m for m in graph.materials}
    mat_of = material_names(ms)
    marks_of = {o.name: o.mark for o in graph.objects}
    world = graph.world
    bg = synth_render.srgb(np.asarray(world.color) * min(world.strength, 1.0))
    views = []
    renderer = synth_render._renderer(size, size)
    pr = pyrender.Scene(bg_color=[*bg, 1.0], ambient_light=[0.35, 0.35, 0.35])
    seg = {}
    for node in ms.nodes:
        m = colors[mat_of[node]]
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=m.base_color, metallicFactor=0.3 * m.metallic, roughnessFactor=max(m.roughness, 0.2)
        )
        mesh = pyrender.Mesh.from_trimesh(ms.geometry(node), material=material, smooth=False)
        handle = pr.add(mesh, pose=ms.basis @ ms.scene.graph.get(node)[0])
        index = marks_of[node]
        seg[handle] = (index % 256, index // 256, 0)
    cam, lights = synth_render._add_camera(pr, intrinsics)
    try:
        for v, pose in enumerate(poses):
            pr.set_pose(cam, pose)
            for light, lp in zip(lights, synth_render._light_poses(pose), strict=True):
                pr.set_pose(light, lp)
            color, _ = renderer.render(pr)
            ids_rgb, _ = renderer.render(pr, flags=pyrender.RenderFlags.SEG, seg_node_map=seg)
            ids = ids_rgb[..., 0].astype(np.int64) + 256 * ids_rgb[..., 1].astype(np.int64)
            table = marks_from_ids(graph, ids)
            rgb = np.ascontiguousarray(color[..., :3])
            view = View(
                label=f"orbit {v}", width=size, height=size, frame=1,
                pose=[float(x) for x in np.asarray(pose).reshape(-1)],
                intrinsics=[float(x) for x in intrinsics], marks=table if marks else [],
            )  # fmt: skip
            views.append((view, synth_render.png_bytes(draw_marks(rgb, table) if marks and table else rgb)))
    finally:
        synth_render._forget_gl_pointers()
    return views, list(poses)


def marks_from_ids(graph: SceneGraph, ids: np.ndarray) -> list[Mark]:
    """The mark table of a view from its ID pass (ids hold each object's mark index, 0 = background)."""
    h, w = ids.shape
    out = []
    for obj in graph.objects:
        if obj.mark is None:
            continue
        mask = ids == obj.mark
        if int(mask.sum()) < MIN_MARK_PIXELS:
            continue
        ys, xs = np.nonzero(mask)
        cy, cx = synth_render._deep_point(mask)
        out.append(
            Mark(
                index=obj.mark, object=obj.name, center=[(cx + 0.5) / w, (cy + 0.5) / h],
                box=[xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h],
            )
        )  # fmt: skip
    return out
