"""results.jsonl: one line per finished job, appended and flushed as each job ends.

Only the process that runs the batch writes the file (Ray workers send their records back to it),
one whole line per write, flushed and fsynced, so a crash loses at most the job that was running.
Reading tolerates a torn last line (a crash mid-write): it is ignored, and the next append starts
on a fresh line; so is any line that is not a `records.JobRecord` (its job runs again). Resume takes the last line of each key: a job whose last line says `ok` is done;
one that ended in `error` is run again (its next line counts the attempt).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from evlm_batch.records import JobRecord


def read_results(path: Path) -> dict[str, JobRecord]:
    """key -> last record of that key; unreadable lines are skipped."""
    last: dict[str, JobRecord] = {}
    if not path.exists():
        return last
    with path.open("rb") as f:
        for raw in f:
            try:
                record = JobRecord.model_validate_json(raw)
            except ValidationError:
                continue  # a torn line from a crash, or no record of this version
            last[record.key] = record
    return last


class ResultsLog:
    """Append-only writer of results.jsonl."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._f = path.open("ab")
        if self._f.tell() > 0:  # after a torn last line, start a fresh one
            with path.open("rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    self._f.write(b"\n")

    def write(self, record: JobRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False, allow_nan=False)
        self._f.write(line.encode() + b"\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
