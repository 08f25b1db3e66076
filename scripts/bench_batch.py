#!/usr/bin/env python
"""Benchmark of evlm-batch: scenes per minute by renderer, and how it grows with requests in flight.

Renderers: `mesh` (.glb through trimesh + pyrender, OSMesa on a CPU) and `blend` (.blend through a
Blender process per file: bpy start, open, Workbench capture via the add-on). The server is the real
evlm-server (in a thread of this process) with the `null` engine, so the figures are the batch
tool's own cost; a second setting gives every request 1 s of simulated model time (NullEngine's
`delay_s`), which is where requests in flight pay off. Each cell is one batch of fresh jobs (no
resume), 6 views of 384 px (the add-on's defaults), no apply. In-flight 1 is the baseline of its row.

    .venv/bin/python scripts/bench_batch.py [--mesh-scenes 8] [--blend-scenes 4] [--in-flight 1 2 4]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import trimesh
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evlm_batch.jobs import build_jobs, discover_scenes  # noqa: E402
from evlm_batch.process import Options  # noqa: E402
from evlm_batch.runner import run_batch  # noqa: E402
from evlm_server.engine.null import NullEngine  # noqa: E402
from evlm_server.server import Server  # noqa: E402

SAMPLE_BLEND = ROOT / "examples" / "sample_scene" / "scene.blend"


def mesh_room(seed: int) -> bytes:
    """A living-room-like .glb: a floor, a table, four chairs, a lamp, a ball (about 5k faces)."""
    rng = np.random.default_rng(seed)
    s = trimesh.Scene()
    T = trimesh.transformations.translation_matrix

    def add(name: str, mesh: trimesh.Trimesh, at: list[float], rgb: list[int]) -> None:
        mesh.visual = TextureVisuals(material=PBRMaterial(name=f"{name}_mat", baseColorFactor=[*rgb, 255]))
        s.add_geometry(mesh, node_name=name, geom_name=name, transform=T(at))

    add("floor", trimesh.creation.box(extents=[6, 0.1, 6]), [0, -0.05, 0], [120, 100, 80])
    add("table", trimesh.creation.box(extents=[1.6, 0.8, 0.9]), [0, 0.4, 0], [140, 90, 50])
    for i, (x, z) in enumerate([(-1.2, 0), (1.2, 0), (0, -1), (0, 1)]):
        add(f"chair_{i:02d}", trimesh.creation.box(extents=[0.5, 0.9, 0.5]), [x, 0.45, z], [40, 60, 150])
    add("lamp", trimesh.creation.cylinder(radius=0.15, height=1.7, sections=48), [2, 0.85, 2], [220, 210, 180])
    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.25)
    add("ball", ball, [float(rng.uniform(-2, 2)), 0.25, float(rng.uniform(-2, -1.5))], [200, 40, 40])
    return s.export(file_type="glb")


class ThreadServer:
    def __init__(self, delay_s: float) -> None:
        self.server = Server(NullEngine(delay_s=delay_s, max_batch=8), bind="tcp://127.0.0.1:0")
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        if not self.server.ready.wait(10):
            raise RuntimeError("server did not start")
        self.endpoint = self.server.bound_endpoint

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=20)


def run_cell(scenes: list[Path], endpoint: str, in_flight: int, work: Path) -> float:
    out = work / f"out-{time.monotonic_ns()}"
    jobs = build_jobs(discover_scenes(scenes), [(None, "make it cozier for an evening shot")])
    options = Options(out=out, views=6, size=384)
    t0 = time.perf_counter()
    summary = run_batch(jobs, [endpoint], options, in_flight=in_flight, resume=False, progress=False)
    wall = time.perf_counter() - t0
    if summary.errors:
        raise RuntimeError(f"{summary.errors} jobs failed: see {out / 'results.jsonl'}")
    shutil.rmtree(out)
    return wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mesh-scenes", type=int, default=8)
    p.add_argument("--blend-scenes", type=int, default=4)
    p.add_argument("--in-flight", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--delays", type=float, nargs="+", default=[0.0, 1.0], help="simulated model seconds per request")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        sets = {"mesh (pyrender)": [], "blend (Workbench)": []}
        for i in range(args.mesh_scenes):
            path = work / "mesh" / f"room_{i:02d}.glb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(mesh_room(i))
            sets["mesh (pyrender)"].append(path)
        if (ROOT / ".venv-blender/bin/python").exists() and args.blend_scenes:
            for i in range(args.blend_scenes):
                path = work / "blend" / f"room_{i:02d}.blend"
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(SAMPLE_BLEND, path)
                sets["blend (Workbench)"].append(path)
        else:
            print("no .venv-blender: the blend rows are left out", file=sys.stderr)
            del sets["blend (Workbench)"]
        rows = []
        for delay in args.delays:
            server = ThreadServer(delay)
            try:
                run_cell(sets["mesh (pyrender)"][:1], server.endpoint, 1, work)  # warm-up: GL context, imports
                for name, scenes in sets.items():
                    base = None
                    for n in args.in_flight:
                        wall = run_cell(scenes, server.endpoint, n, work)
                        rate = len(scenes) / wall * 60
                        base = base or rate
                        rows.append((name, delay, n, len(scenes), wall, rate, rate / base))
                        print(f"  {name}, model {delay:g} s, in flight {n}: {rate:.1f} scenes/min", file=sys.stderr)
            finally:
                server.stop()
        print("\n| renderer | model time per request | in flight | scenes | wall s | scenes/min | vs in flight 1 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, delay, n, count, wall, rate, ratio in rows:
            model = "null engine (0 s)" if delay == 0 else f"null engine + {delay:g} s"
            print(f"| {name} | {model} | {n} | {count} | {wall:.1f} | {rate:.1f} | {ratio:.2f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
