"""The mesh-renderer half of the train/serve parity test (tests/test_parity.py), in its own process
(a process that has rendered with OSMesa must not import triton later):

    python tests/parity_mesh.py OUT

Reads OUT/scene.glb (exported from Blender by tests/parity_blender.py) and OUT/capture.json the way
`evlm-batch` reads a mesh file (`evlm_batch.mesh_scene`), renders it from capture's orbit poses
with the shared renderer (`evlm_batch.mesh_render`, `evlm_render`), and writes OUT/mesh.json
(its scene graph, its own orbit poses, each view's marks) and OUT/mesh_clean_N.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from evlm.scene import SceneGraph, View  # noqa: E402
from evlm_batch.mesh_render import orbit, parts, render_views  # noqa: E402
from evlm_batch.mesh_scene import load_mesh_scene, scene_graph  # noqa: E402
from evlm_render import render_views as draw_views  # noqa: E402
from evlm_render import write_png  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    captured = json.loads((out / "capture.json").read_text())
    views = [View.model_validate(v) for v in captured["views"]]
    size = views[0].width
    poses = [np.array(v.pose).reshape(4, 4) for v in views]
    ms = load_mesh_scene(out / "scene.glb")
    graph = scene_graph(ms)
    rendered, _ = render_views(ms, len(views), size, poses=poses, graph=graph)
    clean = draw_views(
        parts(ms, graph), poses, views[0].intrinsics, size, size, SceneGraph.model_validate(captured["scene"]).world
    )
    for i, r in enumerate(clean):
        write_png(out / f"mesh_clean_{i}.png", r.rgb)
    own_poses, _ = orbit(ms, len(views), size)
    data = {
        "scene": graph.model_dump(),
        "poses": [p.tolist() for p in own_poses],
        "views": [v.model_dump() for v, _ in rendered],
    }
    (out / "mesh.json").write_text(json.dumps(data))


if __name__ == "__main__":
    main()
