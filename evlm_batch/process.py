"""One job, start to end: capture the scene, ask a server, optionally apply the best suggestion.

`process_job` never raises for a problem of the scene or the request: it returns a JobRecord
(records.py) with `status: error` and a stable `error.code` (`unreadable`, `missing_file`,
`unsupported_format`, `empty_scene`, `capture_failed`, `timeout`, the server's codes, `bad_plan`,
`apply_failed`, `blender_crashed`, `internal`), so one bad scene never stops a batch. The same function runs in a
thread of the local runner and in a Ray task.

- .glb/.gltf/.obj/.ply: loaded with trimesh, rendered with pyrender (`mesh_render`), edited with
  `mesh_scene.apply_ops` and exported in their own format (.gltf as .glb).
- .blend: a Blender process per file (`blend_worker`, run with the Python that has bpy), which
  uses the add-on's capture and apply code through `blender_addon.headless.run`.
"""

from __future__ import annotations

import os
import subprocess
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evlm.headless_result import AppliedSuggestion
from evlm_batch.jobs import Job
from evlm_batch.records import BlendWorkerResult, JobOutputs, JobRecord, SkippedOp

ROOT = Path(__file__).resolve().parent.parent  # in a checkout, its .venv-blender is the default Blender Python


@dataclass
class Options:
    out: Path
    views: int = 6
    size: int = 384
    apply_best: bool = False
    timeout: float = 120.0  # seconds without word from the server
    max_suggestions: int = 3
    blender_python: str = ""  # a Python with bpy, for .blend files
    blend_timeout: float = 600.0  # a whole Blender job, including its request
    server_key: str = ""  # CURVE: the server's public key file (both keys, or neither)
    client_key: str = ""  # CURVE: this client's secret key file

    def curve(self) -> Any:
        from evlm.client import CurveKeys

        return CurveKeys(Path(self.server_key), Path(self.client_key)) if self.server_key else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out": str(self.out)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Options:
        return cls(**{**data, "out": Path(data["out"])})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def process_job(job: Job, endpoint: str, options: Options) -> JobRecord:
    """The results.jsonl record of one job (without run-level fields such as `attempt`)."""
    record = JobRecord(
        key=job.key, scene=str(job.scene), instruction=job.instruction, renderer=job.renderer, endpoint=endpoint,
        started_at=now(), pid=os.getpid(),
    )  # fmt: skip
    t0 = time.perf_counter()
    try:
        if not job.scene.is_file():
            raise JobError("missing_file", f"{job.scene}: no such file")
        if job.renderer == "blend":
            _blend(job, endpoint, options, record)
        else:
            _mesh(job, endpoint, options, record)
    except JobError as e:
        record.fail(e.code, e.message)
    except Exception as e:  # a bug or an unforeseen file: recorded, the batch goes on
        record.fail("internal", f"{type(e).__name__}: {e}", traceback.format_exc(limit=5))
    record.timings["total"] = round(time.perf_counter() - t0, 4)
    record.finished_at = now()
    return record


class JobError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# ---------------------------------------------------------------- mesh files
def _mesh(job: Job, endpoint: str, options: Options, record: JobRecord) -> None:
    from evlm.client import Client, RequestTimeout, ServerError
    from evlm.edits import PlanError, validate_plan
    from evlm.session import best_index
    from evlm_batch.contact import caption, write_contact_sheet
    from evlm_batch.mesh_render import render_views
    from evlm_batch.mesh_scene import MeshSceneError, apply_ops, load_mesh_scene, scene_graph, support, write_export

    timings = record.timings
    t0 = time.perf_counter()
    try:
        ms = load_mesh_scene(job.scene)
        graph = scene_graph(ms, name=job.scene.stem)
        views, poses = render_views(ms, options.views, options.size, graph=graph)
    except MeshSceneError as e:
        raise JobError(e.code, e.message) from None
    timings["capture"] = round(time.perf_counter() - t0, 4)

    t1 = time.perf_counter()
    try:
        with Client(endpoint, timeout_s=options.timeout, curve=options.curve()) as client:
            result = client.suggest(job.instruction, views, graph, max_suggestions=options.max_suggestions)
        plan = validate_plan(result.plan, graph)  # trust nothing not checked here
    except ServerError as e:
        raise JobError(e.code, e.message) from None
    except RequestTimeout as e:
        raise JobError("timeout", str(e)) from None
    except PlanError as e:
        raise JobError("bad_plan", str(e)) from None
    timings["suggest"] = round(time.perf_counter() - t1, 4)
    record.server_timings = dict(result.timings)
    record.reasoning = result.reasoning
    record.suggestions = list(plan.suggestions)
    if not options.apply_best:
        record.best = best_index(plan)
        return

    def usable(suggestion: Any) -> bool:
        """At least one of its ops changes a mesh file of this format (like headless.run's test)."""
        return any(support(op, ms.suffix) is None for op in suggestion.ops)

    best = best_index(plan, usable)
    record.best = best
    if best is None:
        record.not_applied = (
            f"none of the {len(plan.suggestions)} suggestions has an op that applies to a {ms.suffix} file"
        )
        return
    t2 = time.perf_counter()
    suggestion = plan.suggestions[best]
    try:
        edited, report = apply_ops(ms, suggestion.ops)
    except MeshSceneError as e:
        raise JobError("apply_failed", e.message) from None
    folder = options.out / "scenes" / job.slug
    written = write_export(edited, folder / "edited")
    after, _ = render_views(edited, options.views, options.size, poses=poses)
    record.applied = AppliedSuggestion(index=best, title=suggestion.title, lines=report.applied)
    record.skipped_ops = [SkippedOp.model_validate(s) for s in report.skipped]
    sheet = write_contact_sheet(
        folder / "contact.png",
        [png for _, png in views],
        [png for _, png in after],
        caption(record.instruction, record.applied, record.skipped_ops),
    )
    timings["apply"] = round(time.perf_counter() - t2, 4)
    record.outputs = JobOutputs(edited=[str(p) for p in written], contact_sheet=str(sheet))


# ---------------------------------------------------------------- .blend files
def _blend(job: Job, endpoint: str, options: Options, record: JobRecord) -> None:
    from evlm_batch.contact import caption, write_contact_sheet

    python = options.blender_python or os.environ.get("EVLM_BLENDER_PYTHON") or str(ROOT / ".venv-blender/bin/python")
    if not Path(python).exists():
        raise JobError("no_blender", f"no Python with bpy at {python}: set --blender-python or EVLM_BLENDER_PYTHON")
    folder = options.out / "scenes" / job.slug
    folder.mkdir(parents=True, exist_ok=True)
    result_path = folder / "worker.json"
    result_path.unlink(missing_ok=True)
    cmd = [
        python, "-m", "evlm_batch.blend_worker", "--blend", str(job.scene), "--instruction", job.instruction,
        "--endpoint", endpoint, "--out-dir", str(folder), "--json", str(result_path),
        "--views", str(options.views), "--size", str(options.size), "--timeout", str(options.timeout),
        "--max-suggestions", str(options.max_suggestions),
    ] + (["--apply-best"] if options.apply_best else [])  # fmt: skip
    if options.server_key:
        cmd += ["--server-key", options.server_key, "--client-key", options.client_key]
    try:  # the worker imports blender_addon and evlm from the Blender Python's own installation
        proc = subprocess.run(cmd, capture_output=True, timeout=options.blend_timeout)
    except subprocess.TimeoutExpired:
        raise JobError("timeout", f"Blender took more than {options.blend_timeout:g} s on {job.scene.name}") from None
    if not result_path.exists():
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise JobError("blender_crashed", f"Blender exited with status {proc.returncode}: {' | '.join(tail)}")
    worker = BlendWorkerResult.model_validate_json(result_path.read_bytes())
    result_path.unlink()
    if worker.error is not None:
        raise JobError(worker.error.code, worker.error.message)
    out = worker.result
    if out is None:
        raise JobError("internal", "the Blender worker wrote neither a result nor an error")
    record.timings.update(worker.timings)
    record.server_timings = {k: v for k, v in out.timings.items() if k != "capture"}
    record.reasoning = out.reasoning
    record.suggestions = list(out.plan.suggestions)
    record.best, record.applied, record.not_applied = out.best, out.applied, out.not_applied
    if out.saved_as:
        record.outputs = JobOutputs(edited=[out.saved_as])
        if worker.before and worker.after:
            before = [Path(v.path).read_bytes() for v in worker.before]
            after = [Path(v.path).read_bytes() for v in worker.after]
            frames = ([v.frame for v in worker.before], [v.frame for v in worker.after]) if worker.timeline else None
            sheet = write_contact_sheet(
                folder / "contact.png",
                before,
                after,
                caption(record.instruction, record.applied, record.skipped_ops),
                frames=frames,
            )
            record.outputs.contact_sheet = str(sheet)
            for v in worker.before + worker.after:
                Path(v.path).unlink()
    elif not any(folder.iterdir()):
        folder.rmdir()
