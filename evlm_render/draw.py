"""Views of a set of meshes: a colour pass as Workbench shows a scene, and an object-ID pass.

The colour pass imitates the add-on's capture with Workbench (its default): each part in its
material's base colour under fixed studio lights tied to the camera (one from the camera, one from
above-left of it), the world colour as background; scene lights do not light the views, as in
Workbench. Metallic is damped (pyrender has no environment light, so a fully metallic surface
would render black).

The ID pass draws every part flat in `evlm.marks.id_color(part.object_id)`, with no smoothing,
so each pixel says which object it shows (0 for the background); every part is drawn, so unmarked
geometry (a floor) hides what it covers there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from evlm.marks import id_color, ids_from_rgb
from evlm.scene import Material, World
from evlm_render.gl import forget_gl_pointers, offscreen, on_render_thread, pyrender

AMBIENT = (0.35, 0.35, 0.35)
ZNEAR, ZFAR = 0.05, 100.0


@dataclass(frozen=True)
class Part:
    """One mesh to draw: its vertices in object coordinates, where it is, how it looks, whose it is."""

    mesh: trimesh.Trimesh
    pose: np.ndarray  # 4x4 object-to-world, Blender's frame (Z up)
    material: Material
    object_id: int = 0  # its object's id in the ID pass (1, 2, ...); 0 only when no ID pass is drawn


@dataclass
class Render:
    """One view: the colour pass (H, W, 3 uint8) and, when asked for, the ID pass (H, W int)."""

    rgb: np.ndarray
    ids: np.ndarray | None


def srgb(linear: Any) -> np.ndarray:
    """Linear RGB in [0, 1] to sRGB in [0, 1] (what the views show)."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def render_views(
    parts: Sequence[Part],
    poses: Sequence[np.ndarray],
    intrinsics: Sequence[float],
    width: int,
    height: int,
    world: World,
    ids: bool = True,
) -> list[Render]:
    """The parts seen from each camera pose (camera-to-world, Blender's convention) with pinhole
    `intrinsics` [fx, fy, cx, cy]; on the process's render thread."""
    if ids and any(p.object_id < 1 for p in parts):
        raise ValueError("an ID pass needs an object_id >= 1 on every part")
    return on_render_thread(_render, list(parts), [np.asarray(p, dtype=np.float64) for p in poses],
                            list(intrinsics), width, height, world, ids)  # fmt: skip


def _render(
    parts: list[Part],
    poses: list[np.ndarray],
    intrinsics: list[float],
    width: int,
    height: int,
    world: World,
    ids: bool,
) -> list[Render]:
    module = pyrender()
    renderer = offscreen(width, height)
    bg = srgb(np.asarray(world.color) * min(world.strength, 1.0))
    scene = module.Scene(bg_color=[*bg, 1.0], ambient_light=list(AMBIENT))
    seg = {}
    for part in parts:
        mesh = module.Mesh.from_trimesh(part.mesh, material=_material(module, part.material), smooth=False)
        node = scene.add(mesh, pose=part.pose)
        if ids:
            seg[node] = id_color(part.object_id)
    fx, fy, cx, cy = intrinsics
    camera = scene.add(module.IntrinsicsCamera(fx, fy, cx, cy, znear=ZNEAR, zfar=ZFAR))
    lights = [
        scene.add(module.DirectionalLight(color=[1.0, 1.0, 1.0], intensity=2.2)),
        scene.add(module.DirectionalLight(color=[1.0, 0.98, 0.95], intensity=1.6)),
    ]
    out = []
    try:
        for pose in poses:
            scene.set_pose(camera, pose)
            for node, light_pose in zip(lights, _light_poses(pose), strict=True):
                scene.set_pose(node, light_pose)
            color, _ = renderer.render(scene)
            id_pass = None
            if ids:
                seg_rgb, _ = renderer.render(scene, flags=module.RenderFlags.SEG, seg_node_map=seg)
                id_pass = ids_from_rgb(np.ascontiguousarray(seg_rgb[..., :3]))
            out.append(Render(np.ascontiguousarray(color[..., :3]), id_pass))
    finally:
        forget_gl_pointers()
    return out


def _material(module: Any, m: Material) -> Any:
    return module.MetallicRoughnessMaterial(
        baseColorFactor=m.base_color, metallicFactor=0.3 * m.metallic, roughnessFactor=max(m.roughness, 0.2)
    )


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
