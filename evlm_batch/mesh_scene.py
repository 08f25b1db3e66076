"""Mesh scene files (.glb, .gltf, .obj, .ply) as EVLM scene graphs, and edits applied to them.

Pure: trimesh and numpy, no rendering, no bpy. A file is loaded as a `trimesh.Scene`; every node
that holds geometry becomes a scene-graph object named after the node (the glTF node name, the
OBJ object name), with its world transform, world bounds and the material of its geometry.

Axes: the scene graph speaks Blender's Z-up frame, as the add-on does. glTF and OBJ are Y-up, so
they are seen through the change of basis Blender's importers use ((x, y, z) -> (x, -z, y)):
world matrices are conjugated, W_blender = C W C^-1, so an object at rest stays at rest. PLY is
taken as Z-up (Blender's PLY importer default). Edits are computed in the Blender frame by the
arithmetic the add-on applies them with (`evlm.transforms`: basis location / rotation / scale,
world or local; a node's parent frame plays the parent's part) and written back to the node's own
transform in the file's frame.

What applies here: translate, rotate, scale (any mode and space), and the material ops
set_base_color (every format) and set_roughness / set_metallic / set_alpha / set_emission
(glTF, whose PBR material holds them). Everything else is `unsupported` on a mesh file and
reported, never half-applied. `apply_ops` works on a copy and checks every op before the first
change, so a scene is edited all or nothing.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from trimesh.visual import ColorVisuals, TextureVisuals
from trimesh.visual.material import PBRMaterial, SimpleMaterial

from evlm import transforms
from evlm.scene import Material, SceneGraph, SceneObject
from evlm.transforms import compose, decompose, euler_xyz

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")
Y_UP = {".glb", ".gltf", ".obj"}
TRANSFORM_OPS = frozenset({"translate", "rotate", "scale"})
PBR_OPS = frozenset({"set_roughness", "set_metallic", "set_alpha", "set_emission"})
# glTF, y-up -> Blender, z-up: (x, y, z) -> (x, -z, y)
_Y_TO_Z = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


class MeshSceneError(ValueError):
    """A mesh file that cannot be used. `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class MeshScene:
    """A loaded mesh file: the trimesh scene, its suffix and its change of basis to Blender's frame."""

    scene: trimesh.Scene
    suffix: str
    basis: np.ndarray = field(default_factory=lambda: np.eye(4))  # file frame -> Blender frame

    @property
    def nodes(self) -> list[str]:
        """Nodes holding geometry, in a stable order (the scene graph's objects, marks 1, 2, ...)."""
        return sorted(self.scene.graph.nodes_geometry)

    def world(self, node: str) -> np.ndarray:
        """The node's world matrix in Blender's frame."""
        return self.basis @ self.scene.graph.get(node)[0] @ np.linalg.inv(self.basis)

    def geometry(self, node: str) -> trimesh.Trimesh:
        return self.scene.geometry[self.scene.graph.get(node)[1]]

    def world_corners(self, node: str) -> np.ndarray:
        """The 8 corners of the node's local bounding box, in Blender's world frame."""
        geom = self.geometry(node)
        lo, hi = geom.bounds
        corners = trimesh.bounds.corners(np.array([lo, hi]))
        world = self.basis @ self.scene.graph.get(node)[0]
        return trimesh.transform_points(corners, world)

    def world_bounds(self, node: str) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned world bounds (Blender frame) of the node's vertices."""
        geom = self.geometry(node)
        pts = trimesh.transform_points(np.asarray(geom.vertices), self.basis @ self.scene.graph.get(node)[0])
        return pts.min(axis=0), pts.max(axis=0)


def load_mesh_scene(path: str | os.PathLike) -> MeshScene:
    """Load a mesh file. Raises MeshSceneError (`unsupported_format`, `unreadable`, `empty_scene`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshSceneError("unsupported_format", f"{path.name}: not one of {', '.join(MESH_SUFFIXES)}")
    try:
        scene = trimesh.load(str(path), force="scene")
    except Exception as e:  # trimesh raises whatever its parsers raise on a broken file
        raise MeshSceneError("unreadable", f"{path.name}: {type(e).__name__}: {e}") from None
    if not isinstance(scene, trimesh.Scene):
        raise MeshSceneError("unreadable", f"{path.name}: not a scene")
    meshes = [
        n for n in scene.graph.nodes_geometry if isinstance(scene.geometry.get(scene.graph[n][1]), trimesh.Trimesh)
    ]
    if not meshes or all(len(scene.geometry[scene.graph[n][1]].faces) == 0 for n in meshes):
        raise MeshSceneError("empty_scene", f"{path.name}: no mesh with faces in it")
    for n in list(scene.graph.nodes_geometry):  # point clouds and paths: not drawn, not edited
        if n not in meshes:
            scene.graph.transforms.remove_node(n)
    return MeshScene(scene, suffix, _Y_TO_Z.copy() if suffix in Y_UP else np.eye(4))


# ---------------------------------------------------------------- materials
def _material_of(geom: trimesh.Trimesh) -> Any:
    visual = geom.visual
    if isinstance(visual, TextureVisuals) and visual.material is not None:
        return visual.material
    return None


def _rgba(values: Any) -> list[float]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 3:
        arr = np.append(arr, 255.0 if arr.max() > 1.0 else 1.0)
    if arr.max() > 1.0 or np.issubdtype(np.asarray(values).dtype, np.integer):
        arr = arr / 255.0
    return [float(v) for v in np.clip(arr[:4], 0.0, 1.0)]


def _material_record(geom: trimesh.Trimesh, fallback: str) -> Material:
    mat = _material_of(geom)
    if isinstance(mat, PBRMaterial):
        base = _rgba(mat.baseColorFactor) if mat.baseColorFactor is not None else [1.0, 1.0, 1.0, 1.0]
        emission = [
            float(v)
            for v in np.clip(
                np.asarray(mat.emissiveFactor if mat.emissiveFactor is not None else [0, 0, 0], dtype=float)[:3], 0, 1
            )
        ]
        return Material(
            name=mat.name or fallback,
            base_color=base,
            roughness=float(np.clip(mat.roughnessFactor if mat.roughnessFactor is not None else 1.0, 0, 1)),
            metallic=float(np.clip(mat.metallicFactor if mat.metallicFactor is not None else 1.0, 0, 1)),
            emission_color=emission,
            emission_strength=1.0 if any(emission) else 0.0,
            alpha=base[3],
        )
    if isinstance(mat, SimpleMaterial):
        base = _rgba(mat.diffuse)
        return Material(name=mat.name or fallback, base_color=base, alpha=base[3])
    if isinstance(geom.visual, ColorVisuals) and geom.visual.defined:
        base = _rgba(np.asarray(geom.visual.face_colors, dtype=np.float64).mean(axis=0))
        return Material(name=fallback, base_color=base, alpha=base[3])
    return Material(name=fallback)


def material_names(ms: MeshScene) -> dict[str, str]:
    """node -> the name of its material in the scene graph (unique per material object)."""
    by_id: dict[int, str] = {}
    taken: set[str] = set()
    out = {}
    for node in ms.nodes:
        geom = ms.geometry(node)
        mat = _material_of(geom)
        key = id(mat) if mat is not None else id(geom)
        if key not in by_id:
            base = (getattr(mat, "name", None) if mat is not None else None) or f"{node}_Material"
            name, i = base, 1
            while name in taken:
                i += 1
                name = f"{base}.{i:03d}"
            taken.add(name)
            by_id[key] = name
        out[node] = by_id[key]
    return out


# ---------------------------------------------------------------- scene graph
def _clip6(values: Any) -> list[float]:
    return [float(np.clip(v, -1e6, 1e6)) for v in values]


def scene_graph(ms: MeshScene, name: str = "Scene") -> SceneGraph:
    """The mesh scene as the wire contract sees it: MESH objects with marks 1, 2, ... and their materials."""
    mats = material_names(ms)
    objects, materials, seen = [], [], set()
    for mark, node in enumerate(ms.nodes, start=1):
        world = ms.world(node)
        location, rotation, scale = decompose(world)
        lo, hi = ms.world_bounds(node)
        parent = ms.scene.graph.transforms.parents.get(node)
        objects.append(
            SceneObject(
                name=node, type="MESH", parent=parent if parent in ms.scene.graph.nodes_geometry else None,
                location=_clip6(location), rotation=euler_xyz(rotation), scale=_clip6(scale),
                dimensions=_clip6(hi - lo), bbox_min=_clip6(lo), bbox_max=_clip6(hi),
                materials=[mats[node]], mark=mark,
            )
        )  # fmt: skip
        if mats[node] not in seen:
            seen.add(mats[node])
            record = _material_record(ms.geometry(node), mats[node])
            materials.append(record.model_copy(update={"name": mats[node]}))
    return SceneGraph(name=name[:63] or "Scene", objects=objects, materials=materials)


# ---------------------------------------------------------------- edits
def support(op: Any, suffix: str) -> str | None:
    """None when the op applies to a mesh file of this suffix, else why not."""
    kind = op.op
    if kind in TRANSFORM_OPS or kind == "set_base_color":
        return None
    if kind in PBR_OPS:
        return None if suffix in (".glb", ".gltf") else f"unsupported on this format ({suffix}: no PBR material)"
    if kind == "generative_edit":
        return "a generative hand-off: nothing to apply to the file"
    return f"unsupported on this format ({suffix})"


@dataclass
class MeshApplyReport:
    applied: list[str] = field(default_factory=list)  # one line per change
    skipped: list[dict] = field(default_factory=list)  # {"index", "op", "reason"}


def apply_ops(ms: MeshScene, ops: list[Any]) -> tuple[MeshScene, MeshApplyReport]:
    """A copy of the scene with every supported op applied; unsupported ops are skipped and reported.

    All or nothing: every supported op's targets are checked first (MeshSceneError `missing_target`),
    and the ops then run on a copy, so the given scene never changes.
    """
    report = MeshApplyReport()
    todo = []
    nodes = set(ms.nodes)
    for i, op in enumerate(ops):
        reason = support(op, ms.suffix)
        if reason is not None:
            report.skipped.append({"index": i, "op": op.op, "reason": reason})
            continue
        missing = [t for t in op.targets if t not in nodes]
        if missing:
            raise MeshSceneError("missing_target", f"op {i} ({op.op}): no object {missing[0]!r} in this file")
        todo.append(op)
    out = MeshScene(ms.scene.copy(), ms.suffix, ms.basis.copy())
    for op in todo:
        handler = _TRANSFORMS.get(op.op) or _material_op
        handler(out, op, report)
    return out, report


def _parent_world(ms: MeshScene, node: str) -> np.ndarray:
    """World matrix (Blender frame) of the node's parent frame."""
    world_file, _ = ms.scene.graph.get(node)
    parent = ms.scene.graph.transforms.parents.get(node)
    local_file = ms.scene.graph.get(node, parent)[0] if parent is not None else world_file
    return ms.basis @ world_file @ np.linalg.inv(local_file) @ np.linalg.inv(ms.basis)


def _set_local(ms: MeshScene, node: str, local: np.ndarray) -> None:
    """Store a new basis (local, Blender frame) transform as the node's own transform in the file."""
    parent = ms.scene.graph.transforms.parents.get(node)
    local_file = np.linalg.inv(ms.basis) @ local @ ms.basis
    ms.scene.graph.update(frame_from=parent, frame_to=node, matrix=local_file)


def _local(ms: MeshScene, node: str) -> tuple[np.ndarray, np.ndarray]:
    pw = _parent_world(ms, node)
    return pw, np.linalg.inv(pw) @ ms.world(node)


def _fmt(values: Any) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _translate(ms: MeshScene, op: Any, report: MeshApplyReport) -> None:
    for node in op.targets:
        pw, local = _local(ms, node)
        _, rot, scale = decompose(local)
        loc = transforms.translated(pw, local, op.vector, op.mode, op.space)
        _set_local(ms, node, compose(loc, rot, scale))
        report.applied.append(
            f"{node}: location {'→ ' if op.mode == 'absolute' else '+'}{_fmt(op.vector)} ({op.space})"
        )


def _rotate(ms: MeshScene, op: Any, report: MeshApplyReport) -> None:
    for node in op.targets:
        pw, local = _local(ms, node)
        loc, rot, scale = decompose(local)
        rot = transforms.rotated(pw, rot, op.degrees, op.mode, op.space)
        _set_local(ms, node, compose(loc, rot, scale))
        report.applied.append(
            f"{node}: rotation {'→ ' if op.mode == 'absolute' else '+'}{_fmt(op.degrees)}° ({op.space})"
        )


def _scale(ms: MeshScene, op: Any, report: MeshApplyReport) -> None:
    for node in op.targets:
        pw, local = _local(ms, node)
        loc, rot, scale = decompose(local)
        scale = transforms.scaled(scale, op.factor, op.mode)
        _set_local(ms, node, compose(loc, rot, scale))
        report.applied.append(f"{node}: scale {'→ ' if op.mode == 'absolute' else '×'}{_fmt(op.factor)}")


_TRANSFORMS = {"translate": _translate, "rotate": _rotate, "scale": _scale}


def _material_op(ms: MeshScene, op: Any, report: MeshApplyReport) -> None:
    """Edit the material of each target's geometry; like the add-on, a shared material changes for all
    its users (here: every geometry whose material has the same scene-graph name)."""
    names = material_names(ms)
    wanted = {names[t] for t in op.targets}
    done: set[int] = set()
    for node in ms.nodes:
        if names[node] not in wanted:
            continue
        geom = ms.geometry(node)
        if id(geom) in done:
            continue
        done.add(id(geom))
        _edit_visual(geom, op, names[node])
    report.applied.append(f"{', '.join(sorted(wanted))}: {op.op.removeprefix('set_').replace('_', ' ')} changed")


def _edit_visual(geom: trimesh.Trimesh, op: Any, name: str) -> None:
    mat = _material_of(geom)
    if op.op == "set_base_color":
        rgb = np.asarray(op.color, dtype=np.float64)
        if isinstance(mat, PBRMaterial):
            alpha = _rgba(mat.baseColorFactor)[3] if mat.baseColorFactor is not None else 1.0
            mat.baseColorFactor = np.round(np.append(rgb, alpha) * 255).astype(np.uint8)
        elif isinstance(mat, SimpleMaterial):
            alpha = _rgba(mat.diffuse)[3]
            mat.diffuse = np.round(np.append(rgb, alpha) * 255).astype(np.uint8)
        elif isinstance(geom.visual, ColorVisuals) and geom.visual.defined:
            alpha = np.asarray(geom.visual.face_colors)[:, 3:4]
            colors = np.round(rgb * 255).astype(np.uint8)
            geom.visual.face_colors = np.hstack([np.tile(colors, (len(geom.faces), 1)), alpha])
        else:  # no material yet: give it one (Blender gives an object without slots a new material)
            geom.visual = TextureVisuals(material=PBRMaterial(name=name, baseColorFactor=np.append(rgb, 1.0)))
        return
    if not isinstance(mat, PBRMaterial):  # glTF without a material: make one to hold the value
        base = _material_record(geom, name).base_color
        mat = PBRMaterial(name=name, baseColorFactor=base)
        geom.visual = TextureVisuals(uv=getattr(geom.visual, "uv", None), material=mat)
    if op.op == "set_roughness":
        mat.roughnessFactor = float(op.value)
    elif op.op == "set_metallic":
        mat.metallicFactor = float(op.value)
    elif op.op == "set_alpha":
        base = _rgba(mat.baseColorFactor) if mat.baseColorFactor is not None else [1.0, 1.0, 1.0, 1.0]
        mat.baseColorFactor = np.round(np.asarray([*base[:3], op.value]) * 255).astype(np.uint8)
        mat.alphaMode = "BLEND" if op.value < 1.0 else "OPAQUE"
    elif op.op == "set_emission":  # glTF core has no strength: the factor is colour x strength, clipped
        mat.emissiveFactor = np.clip(np.asarray(op.color, dtype=np.float64) * op.strength, 0.0, 1.0)


# ---------------------------------------------------------------- export
def export_bytes(ms: MeshScene) -> tuple[str, dict[str, bytes]]:
    """The scene in its own format: (suffix of the main file, {file name suffix: bytes}).

    .gltf is written as .glb (one self-contained file); .obj comes with its .mtl.
    """
    if ms.suffix in (".glb", ".gltf"):
        return ".glb", {".glb": ms.scene.export(file_type="glb")}
    if ms.suffix == ".obj":
        from trimesh.exchange.obj import export_obj

        text, files = export_obj(ms.scene, include_texture=True, return_texture=True, mtl_name="edited.mtl")
        extra = {f"/{k}": (v if isinstance(v, bytes) else str(v).encode()) for k, v in files.items()}
        return ".obj", {".obj": text.encode(), **extra}
    if ms.suffix == ".ply":
        mesh = ms.scene.to_mesh() if hasattr(ms.scene, "to_mesh") else ms.scene.dump(concatenate=True)
        return ".ply", {".ply": mesh.export(file_type="ply")}
    raise MeshSceneError("unsupported_format", ms.suffix)


def write_export(ms: MeshScene, stem: Path) -> list[Path]:
    """Write the edited scene next to `stem` (e.g. OUT/scene/edited -> edited.glb), atomically."""
    _, files = export_bytes(ms)
    written = []
    for key, data in files.items():
        path = stem.parent / key[1:] if key.startswith("/") else stem.with_suffix(key)
        atomic_write(path, data)
        written.append(path)
    return written


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load_bytes(data: bytes, suffix: str) -> trimesh.Scene:
    """For tests and checks: a scene from bytes of a file of this suffix."""
    return trimesh.load(io.BytesIO(data), file_type=suffix.lstrip("."), force="scene")
