"""Views of a set of meshes: a colour pass as Workbench shows a scene, and an object-ID pass.

The colour pass is what the add-on's capture shows with Workbench (its default): each part in its
material's base colour under Workbench's "Default" studio light (its four lights fixed to the
camera, copied from Blender 5.0's `preferences.studio_lights["Default"]`, each at pi times its
diffuse colour since pyrender divides the albedo by pi and Workbench does not), no ambient light,
the world colour times its strength as background; scene lights do not light the views, as in
Workbench. Every surface is drawn as Workbench draws it by default: a dielectric of roughness
0.4 (the viewport display defaults), so metallic and roughness are in the scene graph, not in the
pictures. On a Blender-built scene exported to glTF, the mean difference from capture's pixels
over the objects is about 2 levels of 255 (tests/test_parity.py).

The ID pass draws every part flat in `evlm.marks.id_color(part.object_id)`, with no smoothing,
so each pixel says which object it shows (0 for the background); every part is drawn, so unmarked
geometry (a floor) hides what it covers there too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from evlm.marks import id_color, ids_from_rgb
from evlm.scene import Material, World
from evlm_render.gl import forget_gl_pointers, offscreen, on_render_thread, pyrender

ZNEAR, ZFAR = 0.05, 100.0
VIEWPORT_ROUGHNESS = 0.4  # Workbench's material roughness unless an artist changes the viewport display
# Workbench's "Default" studio light: (direction towards the light in view space: x right, y up,
# z towards the viewer; diffuse colour).
STUDIO_LIGHTS = (
    ((-0.352546, 0.170931, -0.920051), (0.033103, 0.033103, 0.033103)),
    ((-0.408163, 0.346939, 0.844415), (0.521083, 0.538226, 0.538226)),
    ((0.521739, 0.826087, 0.212999), (0.038403, 0.034357, 0.049530)),
    ((0.624519, -0.562067, -0.542269), (0.090838, 0.082080, 0.072255)),
)


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
    scene = module.Scene(bg_color=[*bg, 1.0], ambient_light=[0.0, 0.0, 0.0])
    seg = {}
    for part in parts:
        mesh = module.Mesh.from_trimesh(part.mesh, material=_material(module, part.material), smooth=False)
        node = scene.add(mesh, pose=part.pose)
        if ids:
            seg[node] = id_color(part.object_id)
    fx, fy, cx, cy = intrinsics
    camera = scene.add(module.IntrinsicsCamera(fx, fy, cx, cy, znear=ZNEAR, zfar=ZFAR))
    lights = []
    for _, diffuse in STUDIO_LIGHTS:
        peak = max(diffuse)
        lights.append(scene.add(module.DirectionalLight(color=[c / peak for c in diffuse], intensity=math.pi * peak)))
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
        baseColorFactor=m.base_color, metallicFactor=0.0, roughnessFactor=VIEWPORT_ROUGHNESS
    )


def _light_poses(pose: np.ndarray) -> list[np.ndarray]:
    """The studio lights for a camera pose: each light's +Z towards it (a pyrender light shines along -Z)."""
    out = []
    for direction, _ in STUDIO_LIGHTS:
        z = pose[:3, :3] @ np.asarray(direction)
        z /= np.linalg.norm(z)
        x = np.cross([0.0, 0.0, 1.0], z) if abs(z[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
        x /= np.linalg.norm(x)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = x, np.cross(z, x), z
        out.append(m)
    return out
