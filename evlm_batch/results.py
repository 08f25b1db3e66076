"""results.jsonl: one line per finished job, appended and flushed as each job ends.

Only the process that runs the batch writes the file (Ray workers send their records back to it),
one whole line per write, flushed and fsynced, so a crash loses at most the job that was running.
Reading tolerates a torn last line (a crash mid-write): it is ignored, and the next append starts
on a fresh line. Resume takes the last line of each key: a job whose last line says `ok` is done;
one that ended in `error` is run again (its next line counts the attempt).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """key -> last record of that key; unreadable lines are skipped."""
    last: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return last
    with path.open("rb") as f:
        for raw in f:
            try:
                record = json.loads(raw)
            except ValueError:
                continue  # a torn line from a crash
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                last[record["key"]] = record
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

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False, allow_nan=False).encode() + b"\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
