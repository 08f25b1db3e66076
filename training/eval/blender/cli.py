"""`evlm-eval --blender`: the Blender-built evaluation set through the real path.

    evlm-eval --blender [--model PATH | --endpoint E] [--engine auto|hf|fast|null] [--out DIR]
              [--kinds lights,camera,...] [--cases ID,...] [--limit N] [--blender-python PY]
              [--device D] [--max-reasoning-tokens N] [--max-answer-tokens N] [--timeout S] [--list]

Starts an `evlm-server` on the model (default: the built-in EVLM-tiny; `--endpoint` uses a
running server instead), then runs the cases in Blender (`--blender-python`, else
$EVLM_BLENDER_PYTHON, else this checkout's .venv-blender): build the scene, capture, ask, apply
the best suggestion, check the scene (`run.py`). Prints a line per case as it ends and writes
OUT/report.md, OUT/report.json and OUT/cases.jsonl (every record with its plan and reasoning).
A case that takes Blender down is recorded as an error and the rest run in a new Blender.
The server and Blender run this checkout's code (its root leads PYTHONPATH).
Exit status: 0 done, 1 done but some cases ended in an error, 2 bad arguments, model or Blender.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evlm.cliargs import add_version, endpoint, positive_float, positive_int
from evlm_server.device import DEVICES, device_arg
from training.eval.blender import report as reports
from training.eval.blender.cases import KINDS, Case, select

ROOT = Path(__file__).resolve().parents[3]
BUILTIN_MODEL = ROOT / "evlm_server" / "models" / "evlm-tiny"  # evlm_server.cli.BUILTIN_MODEL, without importing it
SERVER_START_S = 300.0  # loading a large checkpoint on a CPU takes a while
HUNG_MARGIN_S = 180.0  # a case with no result this long past the request timeout: Blender is stuck


class Failure(Exception):
    """Bad input or a server that would not start: exit 2 with this message."""


def _names(text: str) -> list[str]:
    """argparse type: a comma-separated list of names, at least one."""
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return list(dict.fromkeys(out))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evlm-eval --blender",
        description="Evaluate an EVLM model on scenes built in Blender: capture, ask, apply the best suggestion, check.",
    )
    add_version(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--model", type=Path, help="checkpoint folder to serve (default: the built-in EVLM-tiny)")
    where.add_argument("--endpoint", type=endpoint, help="use this running evlm-server instead of starting one")
    p.add_argument("--engine", choices=["auto", "hf", "fast", "null"],
                   help="the server's engine (default auto; null: no model, every answer a hand-off: the floor)")  # fmt: skip
    p.add_argument("--device", type=device_arg, help=f"the server's device: {DEVICES} (default: its own, auto)")
    p.add_argument("--max-reasoning-tokens", type=positive_int, help="the server's budget (default: its own)")
    p.add_argument("--max-answer-tokens", type=positive_int, help="the server's budget (default: its own)")
    p.add_argument(
        "--out", type=Path, default=Path("out/blender_eval"), help="report folder (default out/blender_eval)"
    )
    p.add_argument("--kinds", type=_names, help=f"comma-separated kinds: {', '.join(KINDS)}")
    p.add_argument("--cases", type=_names, help="comma-separated case ids (see --list)")
    p.add_argument("--limit", type=positive_int, help="at most N cases")
    p.add_argument("--blender-python", default=os.environ.get("EVLM_BLENDER_PYTHON", ""), metavar="PY",
                   help="a Python with bpy (default $EVLM_BLENDER_PYTHON, else .venv-blender)")  # fmt: skip
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=120.0,
        help="seconds a request may go without word (default 120)",
    )
    p.add_argument("--list", action="store_true", help="print the chosen cases and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        try:
            cases = select(args.kinds, args.cases, args.limit)
        except ValueError as e:
            raise Failure(str(e)) from None
        if not cases:
            raise Failure("no case matches --kinds / --cases")
        if args.list:
            for c in cases:
                print(f"{c.id:40} {c.kind:12} {c.instruction}")
            return 0
        serving = [f for f in ("engine", "device", "max_reasoning_tokens", "max_answer_tokens") if getattr(args, f)]
        if args.endpoint is not None and serving:
            flags = ", ".join("--" + f.replace("_", "-") for f in serving)
            raise Failure(f"{flags} set up the server evlm-eval starts; with --endpoint the server is already set up")
        args.engine = args.engine or "auto"
        python = _blender_python(args.blender_python)
        model = _model(args)
        if args.out.exists() and not args.out.is_dir():
            raise Failure(f"--out {args.out} is a file")
        args.out.mkdir(parents=True, exist_ok=True)
        started, load, commit = time.time(), os.getloadavg(), _commit()
        with tempfile.TemporaryDirectory(prefix="evlm-eval-") as tmp, _server(args, model, Path(tmp)) as endpoint:
            server = _server_info(endpoint)
            records = _run_cases(cases, python, endpoint, args.out, args.timeout)
    except Failure as e:
        print(f"evlm-eval: error: {e}", file=sys.stderr)
        return 2
    config = {
        "model": str(model) if model else None,
        "endpoint": args.endpoint,
        "engine": args.engine,
        "device": args.device,
        "max_reasoning_tokens": args.max_reasoning_tokens,
        "max_answer_tokens": args.max_answer_tokens,
        "server": server,
        "cases": len(cases),
        "kinds": ",".join(args.kinds) if args.kinds else "all",
        "capture": "the add-on's defaults (6 orbit views, 384 px, Workbench, set-of-marks)",
        "date": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "load_avg_start": " ".join(f"{v:.2f}" for v in load),
        "load_avg_end": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "commit": commit,
    }
    result = reports.summarize(records, config)
    paths = reports.write(result, args.out)
    print()
    print(reports.table(result["kinds"], result["overall"]))
    print(f"wrote {paths['md']}, {paths['json']}, {args.out / 'cases.jsonl'}")
    return 1 if result["overall"]["errors"] else 0


def _blender_python(given: str) -> str:
    python = given or str(ROOT / ".venv-blender" / "bin" / "python")
    if not Path(python).is_file():
        raise Failure(f"no Python with bpy at {python}: pass --blender-python or set EVLM_BLENDER_PYTHON")
    return python


def _model(args: argparse.Namespace) -> Path | None:
    if args.endpoint is not None or args.engine == "null":
        return None
    model = args.model or BUILTIN_MODEL
    if not (model / "config.json").is_file():
        raise Failure(f"--model {model} is not a checkpoint folder (no config.json)")
    return model


def _env() -> dict[str, str]:
    """This checkout's code first, in every process the eval starts."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""), "PYTHONUNBUFFERED": "1"}


@contextmanager
def _server(args: argparse.Namespace, model: Path | None, tmp: Path) -> Iterator[str]:
    """The endpoint to ask: `--endpoint` as given, else an evlm-server of our own until the block ends."""
    from evlm.client import Client

    if args.endpoint is not None:
        yield args.endpoint
        return
    endpoint = f"ipc://{tmp}/evlm.sock"
    cmd = [sys.executable, "-m", "evlm_server", "serve", "--bind", endpoint, "--engine", args.engine]
    cmd += ["--model", str(model)] if model else []
    for flag in ("device", "max_reasoning_tokens", "max_answer_tokens"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    log_path = args.out / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_S
        with Client(endpoint, timeout_s=2) as client:
            while True:
                try:
                    client.ping()
                    break
                except TimeoutError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                        raise Failure(f"the server did not start ({log_path}): {' | '.join(tail)}") from None
        yield endpoint
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server_info(endpoint: str) -> dict[str, Any]:
    """What the server runs (engine, model, device, token budgets), for the report; no answer: exit 2."""
    from evlm.client import Client, ServerError

    try:
        with Client(endpoint, timeout_s=5) as client:
            info = client.info()
    except (TimeoutError, ServerError, ValueError) as e:
        raise Failure(f"no evlm-server answers at {endpoint}: {e}") from None
    return info.model_dump(mode="json", exclude={"queue", "in_flight", "limits"})


def _run_cases(cases: list[Case], python: str, endpoint: str, out: Path, timeout: float) -> list[dict[str, Any]]:
    """Every case through Blender, in order; a case that ends Blender is recorded and the rest go on."""
    from training.eval.blender.run import append_line

    results = out / "cases.jsonl"
    results.unlink(missing_ok=True)
    by_id: dict[str, dict[str, Any]] = {}
    remaining = [c.id for c in cases]
    reader = _Lines(results)
    with open(out / "blender.log", "wb") as log:
        while remaining:
            cmd = [python, "-m", "training.eval.blender.run", "--endpoint", endpoint, "--out", str(results),
                   "--timeout", str(timeout)] + [a for cid in remaining for a in ("--case", cid)]  # fmt: skip
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
            last = time.monotonic()
            while True:
                done = proc.poll() is not None
                for record in reader.new():
                    by_id[record["id"]] = record
                    _progress(record, len(by_id), len(cases))
                    last = time.monotonic()
                if done:
                    break
                if time.monotonic() - last > timeout + HUNG_MARGIN_S:
                    proc.kill()
                time.sleep(0.2)
            remaining = [cid for cid in remaining if cid not in by_id]
            if remaining:  # the first one left is the one Blender died on
                case = next(c for c in cases if c.id == remaining[0])
                record = _crashed(case, proc.returncode, out / "blender.log")
                append_line(str(results), record)
                by_id[case.id] = record
                _progress(record, len(by_id), len(cases))
                reader.new()  # skip the line just written
                remaining = remaining[1:]
    return [by_id[c.id] for c in cases]


class _Lines:
    """New whole lines of a JSONL file another process appends to (a torn last line waits)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def new(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


def _crashed(case: Case, returncode: int | None, log: Path) -> dict[str, Any]:
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    return {
        "id": case.id, "scene": case.scene, "kind": case.kind, "instruction": case.instruction,
        "targets": list(case.targets), "check": case.check.text, "passed": False, "detail": "",
        "right_target": False, "applied": False, "suggestion": None, "ops": [], "named": [], "not_applied": None,
        "error": {"code": "blender_crashed", "message": f"Blender ended (status {returncode}): {' | '.join(tail)}"},
        "latency_s": None, "timings": {},
    }  # fmt: skip


def _progress(record: dict[str, Any], done: int, total: int) -> None:
    if record.get("error"):
        verdict = "ERROR"
    else:
        verdict = "PASS " if record["passed"] else "fail "
    target = "target ok" if record["right_target"] else "target no"
    latency = f"{record['latency_s']:.1f} s" if record.get("latency_s") is not None else "-"
    print(f"[{done:>3}/{total}] {verdict} {target}  {record['id']}: {reports.ops_text(record)} ({latency})", flush=True)


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None
