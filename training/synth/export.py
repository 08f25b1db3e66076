"""Synthetic scenes as plain data Blender can rebuild, with gold plans to apply there.

`tests/blender/test_synth_parity.py` (real bpy) builds each scene from this data, captures it
with `blender_addon.capture.extract_scene_graph` and compares the result with the scene graph the
generator wrote (names, order, parents, transforms, bounds, marks, materials, lights, cameras,
world, keys); then it applies gold plans of placement, camera and light tasks with
`blender_addon.apply` and checks the outcome in the scene (the vase rests on the table top, the
copy stands beside the original, the camera frames the subject, the rim light is behind it).

    .venv/bin/python -m training.synth.export --seeds 0 1 2 --out specs.json

A scene: `graph` (the SceneGraph JSON), `objects` in scene order (geometry: its mesh in object
coordinates, one material slot per face, rest location / Z rotation / scale; lights and cameras:
their data and pose; empties), and `tasks` (`kind`, the gold plan's first suggestion).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.synth.scenes import NO_MATERIAL, SynthScene, build_scene

TASKS = ("put_on", "next_to", "drop", "line_up", "duplicate", "frame", "closer_on", "rim", "size_up")


def scene_spec(scene: SynthScene) -> dict:
    """The scene as plain data (module docstring)."""
    objects = []
    for o in scene.graph.objects:
        entry: dict = {"name": o.name, "type": o.type, "parent": o.parent, "location": o.location, "rotation": o.rotation,
                       "visible": o.visible}  # fmt: skip
        if o.type == "MESH":
            s = scene.get(o.name)
            verts, faces, slots, n = [], [], [], 0
            for mesh, slot in s.parts:
                verts.append(np.asarray(mesh.vertices) / np.asarray(s.scale))  # Blender scales them back
                faces.append(np.asarray(mesh.faces) + n)
                slots += [slot] * len(mesh.faces)
                n += len(mesh.vertices)
            entry.update(
                vertices=np.round(np.concatenate(verts), 6).tolist(),
                faces=np.concatenate(faces).tolist(),
                face_slots=slots,
                rest_location=[float(v) for v in s.location],
                rotation_z=s.rotation_z,
                scale=list(s.scale),
                materials=[m for m in s.materials if m != NO_MATERIAL],
                modifiers=[m.model_dump() for m in s.modifiers],
            )
        elif o.type == "LIGHT":
            entry["light"] = scene.light(o.name).model_dump()
        elif o.type == "CAMERA":
            entry["camera"] = scene.camera(o.name).model_dump()
            entry["pose"] = np.asarray(scene.camera_poses[o.name]).tolist()
        objects.append(entry)
    return {"graph": scene.graph.model_dump(mode="json"), "objects": objects, "main_camera": scene.main_camera}


def _builders() -> dict[str, Callable]:
    from training.synth.families import camera, lighting, objects, placement
    from training.synth.families.attributes import ATTRIBUTES
    from training.synth.families.degree import _attribute_task

    return {
        "put_on": placement._put_on,
        "next_to": placement._next_to,
        "drop": placement._drop,
        "line_up": placement._line_up,
        "duplicate": lambda ctx: objects._duplicate(ctx, "duplicate"),
        "frame": lambda ctx: camera._subject_task(ctx, "frame"),
        "closer_on": lambda ctx: camera._subject_task(ctx, "closer_on"),
        "rim": lambda ctx: lighting._add(ctx, "rim"),
        "size_up": lambda ctx: _attribute_task(ctx, ATTRIBUTES["size_up"]),
    }


def tasks_for(scene: SynthScene, rng: np.random.Generator, size: int = 64) -> list[dict]:
    """Gold plans (first suggestion) of the tasks this scene suits, with what the check needs."""
    from training.synth import render
    from training.synth.families.common import Context

    ctx = Context(rng, scene, render.render_views(scene, 3, size, [scene.graph.frame_current]), size)
    out = []
    for kind, build in _builders().items():
        task = build(ctx)
        if task is None:
            continue
        plan = task.decide(task.targets, task.level, False).plan
        out.append({"kind": kind, "targets": list(task.targets), "reasoning": plan.reasoning,
                    "suggestion": plan.suggestions[0].model_dump(mode="json")})  # fmt: skip
    return out


def specs(seeds: list[int], per_kind: int = 2) -> list[dict]:
    """A spec per seed, with at most `per_kind` tasks of each kind over them all (applying a plan
    rebuilds its scene in Blender: a few of each kind say as much as many)."""
    out, kept = [], {k: 0 for k in TASKS}
    for seed in seeds:
        rng = np.random.default_rng([0xB1E, seed])
        scene = build_scene(rng, animated=seed % 2 == 1)
        spec = scene_spec(scene)
        spec["seed"] = seed
        spec["tasks"] = []
        for t in tasks_for(scene, rng):
            if kept[t["kind"]] < per_kind:
                kept[t["kind"]] += 1
                spec["tasks"].append(t)
        out.append(spec)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.synth.export", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage and the error
        return int(e.code or 0)
    if any(s < 0 for s in args.seeds):
        print("error: seeds are non-negative integers", file=sys.stderr)
        return 2
    if not args.out.parent.is_dir():
        print(f"error: --out {args.out}: no folder {args.out.parent}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    data = json.dumps(specs(args.seeds))
    tmp = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
