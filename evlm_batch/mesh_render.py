"""Orbit views of a mesh scene file with set-of-marks: what the add-on sends for a .blend.

The drawing is the shared offscreen renderer's (`evlm_render`: OSMesa on a CPU, EGL on an NVIDIA
GPU, one render thread per process, each object in its material's base colour as Workbench shows
it, and an object-ID pass); the cameras are the add-on's orbit views (`evlm.views.orbit_cameras`)
and the marks the one set-of-marks implementation (`evlm.marks`), so a scene exported from
Blender gets the views and marks capture gives it there. This module only turns a `MeshScene`
into parts and views.
"""

from __future__ import annotations

import numpy as np

from evlm.marks import marks_from_ids
from evlm.scene import SceneGraph, View
from evlm.views import ORBIT_LENS_MM, camera_intrinsics, draw_marks, orbit_cameras, orbit_label
from evlm_batch.mesh_scene import MeshScene, material_names, scene_graph
from evlm_render import Part, png_bytes
from evlm_render import render_views as draw_views


def orbit(ms: MeshScene, count: int, size: int) -> tuple[list[np.ndarray], list[float]]:
    """Orbit poses framing every object, and their intrinsics."""
    bounds = [ms.world_bounds(n) for n in ms.nodes]
    lo, hi = np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)
    return orbit_cameras(lo, hi, count, size)


def parts(ms: MeshScene, graph: SceneGraph) -> list[Part]:
    """Every node's mesh, in Blender's frame, in its material's colours; object id = 1 + node index."""
    colors = {m.name: m for m in graph.materials}
    mat_of = material_names(ms)
    return [
        Part(ms.geometry(node), ms.basis @ ms.scene.graph.get(node)[0], colors[mat_of[node]], i)
        for i, node in enumerate(ms.nodes, start=1)
    ]


def render_views(
    ms: MeshScene,
    count: int,
    size: int,
    poses: list[np.ndarray] | None = None,
    graph: SceneGraph | None = None,
    marks: bool = True,
) -> tuple[list[tuple[View, bytes]], list[np.ndarray]]:
    """`count` orbit views as (View, PNG) pairs ready for `Client.submit_suggest`, and the poses used
    (pass them back to render the edited scene from the same cameras). Marks follow `graph`'s
    mark numbers (default: the file's own scene graph)."""
    graph = graph or scene_graph(ms)
    if poses is None:
        poses, intrinsics = orbit(ms, count, size)
    else:
        intrinsics = camera_intrinsics(size, size, ORBIT_LENS_MM)
    mark_of = {o.name: o.mark for o in graph.objects}
    marked = [(i, mark_of[n], n) for i, n in enumerate(ms.nodes, start=1) if mark_of.get(n) is not None]
    renders = draw_views(parts(ms, graph), poses, intrinsics, size, size, graph.world)
    views = []
    for v, (pose, r) in enumerate(zip(poses, renders, strict=True)):
        table = marks_from_ids(r.ids, marked)
        view = View(
            label=orbit_label(v), width=size, height=size, frame=1,
            pose=[float(x) for x in np.asarray(pose).reshape(-1)],
            intrinsics=[float(x) for x in intrinsics], marks=table if marks else [],
        )  # fmt: skip
        views.append((view, png_bytes(draw_marks(r.rgb, table) if marks and table else r.rgb)))
    return views, list(poses)
