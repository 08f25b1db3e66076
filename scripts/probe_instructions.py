"""Simple instructions on real Blender scenes, through the add-on's headless capture: which ops on
which objects does a model suggest first? A report for people (issue 8's "real scenes" target).

Scenes: Blender's factory scene, a bouncing-ball scene built with bpy (its own names), and the
sample scene. Each case is captured by real Blender (`.venv-blender`), sent to an `evlm-server`
with the model, and the best suggestion's ops are compared with what the instruction asks for.

    .venv/bin/python scripts/probe_instructions.py [--model PATH] [--out out/probe]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evlm_server.cli import BUILTIN_MODEL  # noqa: E402
from tests.server_process import serving  # noqa: E402

BLENDER_PY = ROOT / ".venv-blender" / "bin" / "python"

MAKE_SCENES = """
import bpy, sys
out = sys.argv[-1]
bpy.ops.wm.read_factory_settings(use_empty=False)
bpy.ops.wm.save_as_mainfile(filepath=out + "/factory.blend")
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0, 0, 2))
ball = bpy.context.object
ball.name = "BouncyBall"
bpy.ops.mesh.primitive_plane_add(size=6)
bpy.context.object.name = "Ground"
bpy.ops.mesh.primitive_cube_add(size=1, location=(2, 1, 0.5))
bpy.context.object.name = "Crate"
for f, z in ((1, 2.0), (12, 0.5), (24, 1.4), (36, 0.5), (48, 1.0)):
    ball.location.z = z
    ball.keyframe_insert("location", index=2, frame=f)
bpy.ops.object.light_add(type="POINT", location=(3, -3, 4))
bpy.context.object.name = "KeyLight"
bpy.ops.object.camera_add(location=(6, -6, 4), rotation=(1.1, 0, 0.78))
bpy.context.scene.camera = bpy.context.object
bpy.context.scene.frame_end = 48
bpy.ops.wm.save_as_mainfile(filepath=out + "/bounce.blend")
"""

# (scene, instruction, expected op types of the first suggestion, expected targets)
CASES = [
    ("factory", "make the cube red", {"set_base_color"}, {"Cube"}),  # material ops target objects (+ slot)
    ("factory", "make the cube a bit bigger", {"scale"}, {"Cube"}),
    ("factory", "the light is too bright, dim it", {"set_light_energy"}, {"Light"}),
    ("factory", "raise the cube a little", {"translate"}, {"Cube"}),
    ("bounce", "slow the animation down", {"retime"}, {"BouncyBall"}),
    ("bounce", "make the crate a bit bigger", {"scale"}, {"Crate"}),
    ("bounce", "the bounce should feel more mechanical", {"set_interpolation"}, {"BouncyBall"}),
    ("sample", "make the ball a bit bigger", {"scale"}, {"Sphere.001"}),
    ("sample", "the lamp light is too strong", {"set_light_energy"}, {"Lamp_Light"}),
]


def targets(op: dict) -> set[str]:
    names = set(op.get("targets") or [])
    for key in ("target", "camera"):
        if op.get(key):
            names.add(op[key])
    return names


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=BUILTIN_MODEL)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "probe")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BLENDER_PY), "-c", MAKE_SCENES, str(args.out)], check=True, capture_output=True)
    blends = {"factory": args.out / "factory.blend", "bounce": args.out / "bounce.blend",
              "sample": ROOT / "examples" / "sample_scene" / "scene.blend"}  # fmt: skip
    rows, hits = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        serve = ("--model", str(args.model), "--device", "cpu", "--max-reasoning-tokens", "384")
        with serving(Path(tmp), *serve) as endpoint:
            for i, (scene, instruction, want_ops, want_targets) in enumerate(CASES):
                out_json = args.out / f"case_{i}.json"
                cmd = [str(BLENDER_PY), str(ROOT / "blender_addon" / "headless.py"), "--blend", str(blends[scene]),
                       "--endpoint", endpoint, "-i", instruction, "--json", str(out_json)]  # fmt: skip
                run = subprocess.run(cmd, capture_output=True, text=True)
                if run.returncode != 0:
                    rows.append((scene, instruction, f"error: {run.stderr.strip()[-200:]}", False))
                    continue
                result = json.loads(out_json.read_text())
                first = result["plan"]["suggestions"][0]
                ops = {op["op"] for op in first["ops"]}
                named = set().union(*(targets(op) for op in first["ops"]))
                ok = want_ops <= ops and want_targets <= named
                hits += ok
                got = "; ".join(f"{op['op']}({', '.join(sorted(targets(op)))})" for op in first["ops"])
                rows.append((scene, instruction, got, ok))
    print(f"model: {args.model}\n")
    print("| scene | instruction | first suggestion's ops | as asked |\n|---|---|---|---|")
    for scene, instruction, got, ok in rows:
        print(f"| {scene} | {instruction} | {got} | {'yes' if ok else 'no'} |")
    print(f"\n{hits}/{len(CASES)} as asked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
