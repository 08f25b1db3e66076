"""What a batch does: scene files found on disk, instructions, and the jobs they make (pure Python).

A job is one scene with one instruction. Its key (a hash of the scene's resolved path and the
instruction) is what resume matches in results.jsonl, and names the job's output folder.

Instruction files:
- CSV with a header row: `instruction` (required), `scene` (optional). A row without a scene applies
  to every scene of the batch; a row with one applies to that scene only (a path relative to the
  instruction file's folder, an absolute path, or the file name of one of the batch's scenes).
- JSONL: one object a line with the same keys. Blank lines and lines starting with `#` are skipped.
Any bad row (no instruction, an unknown scene, a line that is not a JSON object) rejects the whole
file, every bad row named by line number, before any work starts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from evlm.protocol import Limits
from evlm_batch.mesh_scene import MESH_SUFFIXES

BLEND_SUFFIXES = (".blend",)
SCENE_SUFFIXES = BLEND_SUFFIXES + MESH_SUFFIXES
LIST_SUFFIXES = (".txt", ".lst")
MAX_INSTRUCTION = Limits().max_instruction_chars  # what a server accepts


class BatchInputError(ValueError):
    """Bad batch input (scenes, instructions): nothing is run."""


@dataclass(frozen=True)
class Job:
    scene: Path  # resolved
    instruction: str

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.scene}\n{self.instruction}".encode()).hexdigest()[:16]

    @property
    def renderer(self) -> str:
        return "blend" if self.scene.suffix.lower() in BLEND_SUFFIXES else "mesh"

    @property
    def slug(self) -> str:
        """Output folder name: readable and unique (the key's first 8 hex digits)."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.scene.stem)[:48] or "scene"
        return f"{stem}-{self.key[:8]}"


def discover_scenes(items: list[str | Path]) -> list[Path]:
    """Scene files from folders (searched recursively), scene files, and list files (.txt/.lst, one
    path a line, relative to the list's folder). A listed path that does not exist is kept: it gets an
    error line in the results. A path given here that does not exist is a BatchInputError."""
    found: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SCENE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )  # fmt: skip
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    listed = Path(line).expanduser()
                    found.append(listed if listed.is_absolute() else path.parent / listed)
        elif path.is_file():
            if path.suffix.lower() not in SCENE_SUFFIXES:
                raise BatchInputError(f"{path}: not a scene file ({', '.join(SCENE_SUFFIXES)}) or a list (.txt)")
            found.append(path)
        else:
            raise BatchInputError(f"{path}: no such file or folder")
    out = list(dict.fromkeys(p.resolve() for p in found))
    if not out:
        raise BatchInputError(f"no scene files ({', '.join(SCENE_SUFFIXES)}) in {', '.join(map(str, items))}")
    return out


def check_instruction(value: object, where: str) -> str:
    """The instruction stripped; ValueError naming `where` if it is empty or longer than a server takes."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: no instruction")
    if len(value) > MAX_INSTRUCTION:
        raise ValueError(f"{where}: instruction longer than {MAX_INSTRUCTION} characters")
    return value.strip()


def parse_instructions(path: str | Path) -> list[tuple[str | None, str]]:
    """(scene or None, instruction) rows of a .csv or .jsonl file (module docstring). Raises BatchInputError."""
    path = Path(path)
    if not path.is_file():
        raise BatchInputError(f"{path}: no such instruction file")
    suffix = path.suffix.lower()
    rows: list[tuple[str | None, str]] = []
    errors: list[str] = []
    if suffix == ".csv":
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "instruction" not in reader.fieldnames:
                raise BatchInputError(
                    f"{path}: the header row must name an `instruction` column (and optionally `scene`)"
                )
            for record in reader:
                where = f"{path}:{reader.line_num}"
                try:
                    rows.append(
                        (
                            (record.get("scene") or "").strip() or None,
                            check_instruction(record.get("instruction"), where),
                        )
                    )
                except ValueError as e:
                    errors.append(str(e))
    elif suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"{path}:{n}"
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"{where}: not a JSON object")
                scene = record.get("scene")
                if scene is not None and not isinstance(scene, str):
                    raise ValueError(f"{where}: scene must be a string")
                rows.append(
                    (scene.strip() or None if scene else None, check_instruction(record.get("instruction"), where))
                )
            except json.JSONDecodeError as e:
                errors.append(f"{where}: not JSON ({e.msg})")
            except ValueError as e:
                errors.append(str(e))
    else:
        raise BatchInputError(f"{path}: instructions must be a .csv or .jsonl file")
    if errors:
        raise BatchInputError("bad instruction rows:\n  " + "\n  ".join(errors))
    if not rows:
        raise BatchInputError(f"{path}: no instructions in it")
    return rows


def build_jobs(scenes: list[Path], instructions: list[tuple[str | None, str]], base: Path | None = None) -> list[Job]:
    """Jobs in scene order; rows naming a scene match it by path (relative to `base`) or file name."""
    by_path = {p: p for p in scenes}
    by_name: dict[str, list[Path]] = {}
    for p in scenes:
        by_name.setdefault(p.name, []).append(p)
    per_scene: dict[Path, list[str]] = {p: [] for p in scenes}
    errors = []
    for scene, instruction in instructions:
        if scene is None:
            for p in scenes:
                per_scene[p].append(instruction)
            continue
        candidate = Path(scene).expanduser()
        candidate = (candidate if candidate.is_absolute() else (base or Path.cwd()) / candidate).resolve()
        if candidate in by_path:
            per_scene[candidate].append(instruction)
        elif len(by_name.get(scene, [])) == 1:
            per_scene[by_name[scene][0]].append(instruction)
        else:
            why = "ambiguous: several scenes have that name" if len(by_name.get(scene, [])) > 1 else "not in the batch"
            errors.append(f"scene {scene!r}: {why}")
    if errors:
        raise BatchInputError("bad instruction rows:\n  " + "\n  ".join(errors))
    return [Job(p, i) for p in scenes for i in dict.fromkeys(per_scene[p])]
