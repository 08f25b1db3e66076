"""Artists' feedback from the add-on (Apply / Reject / a 1-5 rating) as training records.

Pure Python (no bpy, no torch): the add-on calls `save_feedback`, the trainers read the result
like any other dataset. One folder holds `feedback.jsonl` and `images/<request id>/view_<i>.png`
(paths in the records are relative to the folder, as for every dataset).

One record per (request, suggestion), id `feedback-<request id>-<index>`: an artist who applies a
suggestion and then rates it updates the same record, so a suggestion is never counted twice.
Its `plan` holds only that suggestion (with the plan's summary), so the record's answer is
exactly what was judged; `feedback.suggestion_index` says where it stood in the server's plan.

Scores (RKTO's s per segment, in [0, 1]; 0.5 carries no signal):
  answer    = (rating - 1) / 4 when rated (1 -> 0, 3 -> 0.5, 5 -> 1); the rating wins over
              Apply / Reject because it is given after seeing the result.
              Unrated: Apply -> 1.0 (desirable), Reject -> 0.0 (undesirable), as in KTO.
  reasoning = 0.5 + (answer - 0.5) / 2: the artist judged the edit, not the chain of thought,
              so the same signal at half strength (rating 5 -> 0.75, Reject -> 0.25).

Writes are atomic: images and rewrites go to a temporary file in the same folder, then
`os.replace`; a new record is appended as one whole line in a single `write` on an O_APPEND
file; on POSIX an advisory lock (`feedback.jsonl.lock`) keeps two Blender sessions from
interleaving a rewrite with an append.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from evlm.edits import EditPlan
from evlm.protocol import image_size
from evlm.record import Feedback, Modality, Record, Scores, ViewImage
from evlm.scene import SceneGraph, View

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; single writes and os.replace still hold
    fcntl = None

FEEDBACK_FILE = "feedback.jsonl"
IMAGES_DIR = "images"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def feedback_scores(accepted: bool | None, rating: int | None) -> Scores:
    """The mapping documented above. Raises ValueError when there is no judgement at all."""
    if rating is not None:
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(f"a rating is an integer from 1 to 5, got {rating!r}")
        answer = (rating - 1) / 4
    elif accepted is not None:
        answer = 1.0 if accepted else 0.0
    else:
        raise ValueError("feedback needs accepted (Apply / Reject) or a rating")
    return Scores(reasoning=0.5 + (answer - 0.5) / 2, answer=answer)


def record_id(request_id: str, index: int) -> str:
    return f"feedback-{_check_request_id(request_id)}-{index}"


def modality_of(scene: SceneGraph | None, views: Sequence[View]) -> Modality:
    """3d for a scene, 4d for an animated one; image or video (several frames) without a scene."""
    if scene is None:
        return "video" if len({v.frame for v in views}) > 1 else "image"
    return "4d" if scene.animation is not None and scene.animation.objects else "3d"


def build_record(
    *,
    request_id: str,
    instruction: str,
    scene: SceneGraph | None,
    views: Sequence[ViewImage],
    reasoning: str,
    plan: EditPlan,
    index: int,
    accepted: bool | None = None,
    rating: int | None = None,
    reference: str | None = None,
) -> Record:
    """The record for the artist's judgement of `plan.suggestions[index]` (validated)."""
    if not isinstance(plan, EditPlan):
        raise TypeError(f"plan must be an EditPlan, got {type(plan).__name__}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(plan.suggestions):
        raise IndexError(f"suggestion index {index!r} out of range: the plan has {len(plan.suggestions)}")
    judged = EditPlan(reasoning=plan.reasoning, suggestions=[plan.suggestions[index]])
    return Record(
        id=record_id(request_id, index),
        modality=modality_of(scene, [v.view for v in views]),
        family="feedback",
        instruction=instruction,
        scene=scene,
        views=list(views),
        reference=reference,
        reasoning=reasoning,
        plan=judged,
        scores=feedback_scores(accepted, rating),
        variant="human",
        group=request_id,  # the suggestions of one request share a prompt (KTO z0, DPO pairs)
        source="feedback",
        feedback=Feedback(accepted=accepted, rating=rating, suggestion_index=index),
    )


def save_feedback(
    folder: str | os.PathLike,
    *,
    request_id: str,
    instruction: str,
    scene: SceneGraph | None,
    views: Sequence[tuple[View, bytes]],
    reasoning: str,
    plan: EditPlan,
    index: int,
    accepted: bool | None = None,
    rating: int | None = None,
    reference: bytes | None = None,
) -> Record:
    """Write (or update) the record and its images in `folder`; returns the record written."""
    folder = Path(folder)
    if not views:
        raise ValueError("feedback needs the captured views")
    rid = _check_request_id(request_id)
    # Names first, files last: a record that fails validation leaves nothing behind.
    blobs = {f"{IMAGES_DIR}/{rid}/view_{i}": blob for i, (_, blob) in enumerate(views)}
    if reference is not None:
        blobs[f"{IMAGES_DIR}/{rid}/reference"] = reference
    names = {stem: image_name(stem, blob) for stem, blob in blobs.items()}
    images = [ViewImage(image=names[f"{IMAGES_DIR}/{rid}/view_{i}"], view=v) for i, (v, _) in enumerate(views)]
    record = build_record(
        request_id=request_id, instruction=instruction, scene=scene, views=images, reasoning=reasoning,
        plan=plan, index=index, accepted=accepted, rating=rating,
        reference=names.get(f"{IMAGES_DIR}/{rid}/reference"),
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for stem, blob in blobs.items():
        write_image(folder / names[stem], blob)
    upsert_record(folder / FEEDBACK_FILE, record)
    return record


def image_name(stem: str, blob: bytes) -> str:
    """`stem` with the extension of the image's format (ValueError if not a PNG or JPEG)."""
    kind, _, _ = image_size(blob)
    return f"{stem}.{'png' if kind == 'png' else 'jpg'}"


def write_image(path: Path, blob: bytes) -> None:
    """Atomically, and only if the same bytes are not there already (several records share views)."""
    if path.exists() and path.stat().st_size == len(blob) and path.read_bytes() == blob:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, blob)


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def upsert_record(path: Path, record: Record) -> None:
    """Append the record as a JSONL line, or replace the line that has its id."""
    line = record.model_dump_json() + "\n"
    with _locked(path):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        at = next((i for i, old in enumerate(lines) if _line_id(old) == record.id), None)
        if at is None:
            append_line(path, line)
            return
        lines[at] = line
        atomic_write(path, "".join(x if x.endswith("\n") else x + "\n" for x in lines).encode("utf-8"))


def append_line(path: Path, line: str) -> None:
    """One whole line in a single write on an O_APPEND file (after a newline if a crash cut the last)."""
    if "\n" in line.rstrip("\n"):
        raise ValueError("a JSONL line holds no newline")
    data = line.rstrip("\n").encode("utf-8") + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: str | os.PathLike) -> list[Record]:
    """Every record of a feedback JSONL file (blank lines skipped); raises on an invalid one."""
    records = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(Record.model_validate_json(line))
            except ValueError as e:
                raise ValueError(f"{path}:{n}: {e}") from None
    return records


def _line_id(line: str) -> str | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None  # a torn line: left alone, never matched
    return data.get("id") if isinstance(data, dict) else None


def _check_request_id(request_id: str) -> str:
    # It names a folder: only letters, digits, '-' and '_' (client ids are uuid4 hex).
    if not isinstance(request_id, str) or not _SAFE_ID.match(request_id):
        raise ValueError(f"request id {request_id!r} must be 1-64 letters, digits, '-' or '_'")
    return request_id


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
