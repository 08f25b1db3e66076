"""Validation of training records and dataset folders, with errors that name the field and line.

An error reads `train.jsonl:17: plan.suggestions.0.ops.0.targets.0: translate: object 'Ghost'
is not in the scene`. A record is checked for:
- its schema (record.Record: types, ranges, unknown fields);
- its plan against its own scene (edits.validate_plan: ops, targets, no scene -> generative only);
- strings the engine's grammar cannot write (format.unwritable_strings), since the plan is a target;
- modality vs scene and views: 3d/4d need a scene graph, a record without one is image/video;
  image: exactly 1 view, video: at least 2; 4d: the scene has animation; at most the server's
  view limit; mask regions name existing views; marks name scene objects;
- images (optional): relative paths inside the dataset folder, files that exist, PNG or JPEG by
  content, within the server's pixel limit, and of the size their view declares;
- in a folder: the record's split is its file's split, ids are unique across the dataset.

Run it: `python -m training.data.validate DIR [--no-images] [--grammar CHECKPOINT]` (exit
status 1 on errors); `--grammar` also feeds every answer through the engine's grammar with that
checkpoint's tokenizer and prints token counts against the engine's default budgets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from evlm.edits import OPS, ModifierSettings, PlanError, validate_plan
from evlm.protocol import Limits
from evlm.record import Record
from training.data.format import unwritable_strings

SPLITS = ("train", "val", "test", "gen")
_LIMITS = Limits()
# Tags of the plan's discriminated unions: op names and modifier types ("BEVEL", ...).
_UNION_TAGS = set(OPS) | {
    c.model_fields["type"].annotation.__args__[0] for c in get_args(get_args(ModifierSettings)[0])
}


class RecordError(ValueError):
    """One problem with one record: `field` is a dotted path into the record ("" for the whole
    line); `where` is "file:line" when known."""

    def __init__(self, field: str, message: str, where: str = "") -> None:
        self.field, self.message, self.where = field, message, where
        super().__init__(self.text())

    def text(self) -> str:
        parts = [p for p in (self.where, self.field) if p]
        return ": ".join([*parts, self.message])

    def at(self, where: str) -> RecordError:
        return RecordError(self.field, self.message, where)


def _loc(loc: tuple) -> str:
    """A pydantic error location as a dotted path, without the discriminated unions' tags
    (pydantic puts the op name after the list index: ops.0.translate.targets)."""
    parts: list[str] = []
    for i, p in enumerate(loc):
        prev = loc[i - 1] if i else None
        if isinstance(p, str) and p in _UNION_TAGS and (isinstance(prev, int) or prev == "modifier"):
            continue
        parts.append(str(p))
    return ".".join(parts)


def parse_record(data: str | bytes | dict) -> Record:
    """A record from a JSON line or a dict; RecordError naming the first bad field."""
    record, errors = _parse(data)
    if errors:
        raise errors[0]
    return record  # type: ignore[return-value]


def _parse(data: str | bytes | dict) -> tuple[Record | None, list[RecordError]]:
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            return None, [RecordError("", f"invalid JSON: {e}")]
    if not isinstance(data, dict):
        return None, [RecordError("", f"a record is a JSON object, got {type(data).__name__}")]
    try:
        return Record.model_validate(data), []
    except ValidationError as e:
        out = []
        for err in e.errors(include_url=False):
            msg = err["msg"]
            if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
                msg += f", got {_short(err['input'])}"
            out.append(RecordError(_loc(err["loc"]), msg))
        return None, out


def record_problems(
    data: str | bytes | dict | Record, root: str | Path | None = None, check_images: bool = True
) -> tuple[Record | None, list[RecordError]]:
    """The record (None if it does not parse) and every problem found (module docstring).
    Images are checked when `check_images` and `root` (the dataset folder) is given."""
    if isinstance(data, Record):
        record, errors = data, []
    else:
        record, errors = _parse(data)
    if record is None:
        return None, errors
    try:
        validate_plan(record.plan.model_dump(mode="json"), record.scene)
    except PlanError as e:
        errors.append(RecordError("plan." + e.path if e.path else "plan", e.message))
    errors += [RecordError(f"plan.{path}", why) for path, why in unwritable_strings(record.plan)]
    errors += _consistency(record)
    if check_images and root is not None:
        errors += _image_problems(record, Path(root))
    return record, errors


def check_record(
    data: str | bytes | dict | Record, root: str | Path | None = None, check_images: bool = True
) -> Record:
    """The valid record, or RecordError for its first problem."""
    record, errors = record_problems(data, root, check_images)
    if errors:
        raise errors[0]
    return record  # type: ignore[return-value]


def _consistency(r: Record) -> list[RecordError]:
    out: list[RecordError] = []
    n = len(r.views)
    if r.scene is None and r.modality in ("3d", "4d"):
        out.append(RecordError("scene", f"a {r.modality} record needs a scene graph"))
    if r.scene is not None and r.modality in ("image", "video"):
        out.append(RecordError("modality", f"{r.modality!r} is for requests without a scene graph; use '3d' or '4d'"))
    if r.modality == "image" and n != 1:
        out.append(RecordError("views", f"an image record has exactly 1 view, got {n}"))
    if r.modality == "video" and n < 2:
        out.append(RecordError("views", f"a video record has at least 2 views (frames), got {n}"))
    if r.modality == "4d" and r.scene is not None and not r.scene.animated_names():
        out.append(RecordError("scene.animation", "a 4d record needs an animated object in its scene"))
    if n > _LIMITS.max_views:
        out.append(RecordError("views", f"{n} views, the server accepts at most {_LIMITS.max_views}"))
    for si, s in enumerate(r.plan.suggestions):
        for oi, op in enumerate(s.ops):
            for ri, region in enumerate(getattr(getattr(op, "mask", None), "regions", [])):
                if region.view >= n:
                    path = f"plan.suggestions.{si}.ops.{oi}.mask.regions.{ri}.view"
                    out.append(RecordError(path, f"view {region.view} does not exist (the record has {n} views)"))
    if r.scene is not None:
        names = set(r.scene.object_names())
        for vi, v in enumerate(r.views):
            for mi, mark in enumerate(v.view.marks):
                if mark.object not in names:
                    out.append(
                        RecordError(f"views.{vi}.view.marks.{mi}.object", f"object {mark.object!r} is not in the scene")
                    )
    return out


def _image_problems(r: Record, root: Path) -> list[RecordError]:
    out = []
    for i, v in enumerate(r.views):
        err = check_image(root, v.image, (v.view.width, v.view.height))
        if err:
            out.append(RecordError(f"views.{i}.image", err))
    if r.reference is not None:
        err = check_image(root, r.reference, None)
        if err:
            out.append(RecordError("reference", err))
    return out


def check_image(root: Path, rel: str, size: tuple[int, int] | None) -> str | None:
    """What is wrong with the image file `rel` under `root` (None: nothing). Reads the header only."""
    from PIL import Image

    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        return f"{rel!r}: image paths are relative to the dataset folder, inside it"
    path = root / p
    if not path.is_file():
        return f"{rel!r}: no such file in {root}"
    with path.open("rb") as f:
        head = f.read(8)
    if not (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff")):
        return f"{rel!r}: not a PNG or JPEG file"
    try:
        with Image.open(path, formats=["PNG", "JPEG"]) as img:
            w, h = img.size
    except Exception as e:  # PIL raises OSError, SyntaxError, ...
        return f"{rel!r}: unreadable image ({type(e).__name__}: {e})"
    if w * h > _LIMITS.max_pixels:
        return f"{rel!r}: {w}x{h} is over the server's {_LIMITS.max_pixels} pixels"
    if size is not None and (w, h) != size:
        return f"{rel!r}: image is {w}x{h} but its view says {size[0]}x{size[1]}"
    return None


# ---------------------------------------------------------------- files and folders
def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of the non-blank lines of a JSONL file."""
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if line.strip():
                yield no, line


@dataclass
class Report:
    """What `validate_dataset` found: errors as "file:line: field: message" lines."""

    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # valid records per split file
    records: list[Record] = field(default_factory=list)  # the valid ones
    where: dict[str, str] = field(default_factory=dict)  # record id -> "file:line"

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_file(
    path: str | Path, root: str | Path | None = None, check_images: bool = True, seen: dict[str, str] | None = None
) -> tuple[list[Record], list[str]]:
    """Valid records and error lines of one JSONL file. `root` (default: the file's folder)
    resolves image paths; `seen` (id -> where) carries id uniqueness across files."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    seen = {} if seen is None else seen
    split = path.stem if path.stem in SPLITS else None
    records, errors = [], []
    for no, line in iter_lines(path):
        where = f"{path.name}:{no}"
        record, problems = record_problems(line, root, check_images)
        if record is not None:
            if split is not None and record.split != split:
                problems.append(RecordError("split", f"{record.split!r} in the {split} file"))
            if record.id in seen:
                problems.append(RecordError("id", f"{record.id!r} is already used at {seen[record.id]}"))
            else:
                seen[record.id] = where
        errors += [p.at(where).text() for p in problems]
        if record is not None and not problems:
            records.append(record)
    return records, errors


def validate_dataset(root: str | Path, check_images: bool = True) -> Report:
    """Check every split file (`train.jsonl`, `val.jsonl`, `test.jsonl`, `gen.jsonl`) of a folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    files = [root / f"{s}.jsonl" for s in SPLITS if (root / f"{s}.jsonl").is_file()]
    if not files:
        raise FileNotFoundError(f"no split files ({', '.join(s + '.jsonl' for s in SPLITS)}) in {root}")
    report = Report()
    for path in files:
        records, errors = validate_file(path, root, check_images, report.where)
        report.errors += errors
        report.counts[path.stem] = len(records)
        report.records += records
    return report


def check_grammar(report: Report, processor: object) -> dict[str, int]:
    """Feed every valid record's answer through the engine's grammar for its scene, with this
    checkpoint's tokenizer (format.check_answer); rejections are added to `report.errors`.
    Returns token counts: the longest reasoning and answer, and how many records exceed the
    engine's default budgets (HFEngine: 256 reasoning, 768 answer tokens), which a model served
    with those budgets could not write out."""
    from training.data.format import answer_text, check_answer, max_suggestions_for, plan_grammar, reasoning_text

    grammar = plan_grammar(processor)
    stats = {"max_reasoning": 0, "max_answer": 0, "over_256_reasoning": 0, "over_768_answer": 0}
    for r in report.records:
        try:
            n_answer = check_answer(answer_text(r.plan), r.scene, max_suggestions_for(r), grammar)
        except ValueError as e:
            report.errors.append(RecordError("plan", str(e), report.where.get(r.id, r.id)).text())
            continue
        n_reasoning = len(grammar.tokenizer.encode(reasoning_text(r.reasoning), add_special_tokens=False))
        stats["max_reasoning"] = max(stats["max_reasoning"], n_reasoning)
        stats["max_answer"] = max(stats["max_answer"], n_answer)
        stats["over_256_reasoning"] += n_reasoning > 256
        stats["over_768_answer"] += n_answer > 768
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data.validate", description=__doc__.splitlines()[0])
    parser.add_argument("data", help="dataset folder with train/val/test/gen .jsonl files")
    parser.add_argument("--no-images", action="store_true", help="skip the image file checks")
    parser.add_argument("--max-errors", type=int, default=50, help="errors to print (default 50)")
    parser.add_argument(
        "--grammar",
        metavar="CHECKPOINT",
        help="also pass every answer through the engine's grammar with this tokenizer",
    )
    args = parser.parse_args(argv)
    try:
        report = validate_dataset(args.data, check_images=not args.no_images)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.grammar:
        from evlm_server.engine.hf import load_processor

        try:
            processor = load_processor(args.grammar)
        except (OSError, ValueError) as e:
            print(f"error: cannot load the tokenizer of {args.grammar}: {e}", file=sys.stderr)
            return 2
        stats = check_grammar(report, processor)
        print("tokens: " + ", ".join(f"{k}: {v}" for k, v in stats.items()))
    for line in report.errors[: args.max_errors]:
        print(line)
    if len(report.errors) > args.max_errors:
        print(f"... and {len(report.errors) - args.max_errors} more errors")
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items())
    print(f"{'OK' if report.ok else 'FAILED'}: {len(report.errors)} errors; valid records: {counts}")
    return 0 if report.ok else 1


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
