"""The batch's typed records: one job's line of results.jsonl, and what a Blender worker hands back.

`JobRecord` is written by the process that runs the batch (one JSON line per finished job) and
read back by resume; `BlendWorkerResult` is the JSON file a `blend_worker` process writes for the
batch to read (the add-on's `HeadlessResult` plus the views kept for the contact sheet). Both
are pydantic models, so a field that goes missing or changes type fails where it is read, not
three modules later.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evlm.edits import Suggestion
from evlm.headless_result import AppliedSuggestion, HeadlessResult


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobErrorInfo(_Model):
    """Why a job failed: a stable `code` (README: batch processing) and a message for people."""

    code: str
    message: str
    trace: str | None = None  # only for `internal`: the end of the traceback, for a bug report


class SkippedOp(_Model):
    """An op of the applied suggestion that this file format cannot hold (mesh files)."""

    index: int
    op: str
    reason: str


class JobOutputs(_Model):
    edited: list[str] = Field(default_factory=list)  # the edited copies (a .obj comes with its .mtl)
    contact_sheet: str | None = None


class JobRecord(_Model):
    """One line of results.jsonl: a job (scene x instruction) that ended, ok or not."""

    key: str  # jobs.Job.key: what resume matches
    scene: str
    instruction: str
    renderer: Literal["blend", "mesh"]
    endpoint: str
    status: Literal["ok", "error"] = "ok"
    error: JobErrorInfo | None = None
    started_at: str
    finished_at: str | None = None
    reasoning: str | None = None
    suggestions: list[Suggestion] = Field(default_factory=list)  # validated against the scene on arrival
    best: int | None = None
    applied: AppliedSuggestion | None = None
    not_applied: str | None = None
    skipped_ops: list[SkippedOp] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)  # seconds: (open,) capture, suggest, apply, total
    server_timings: dict[str, float] = Field(default_factory=dict)  # the server's own stages
    outputs: JobOutputs = Field(default_factory=JobOutputs)
    pid: int  # the process that ran the job (a Ray worker's, in Ray mode)
    attempt: int = 1  # 2 and more: the job ended in error before and ran again
    run_id: str = ""  # the batch run that wrote the line

    def fail(self, code: str, message: str, trace: str | None = None) -> None:
        self.status, self.error = "error", JobErrorInfo(code=code, message=message, trace=trace)

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


class SavedView(_Model):
    path: str  # a PNG the worker wrote
    frame: int  # the scene frame it shows


class BlendWorkerResult(_Model):
    """The JSON file of one `blend_worker` run: an error, or the headless result with the views
    before and after the edit (`timeline`: the same camera across the animation's frames, because
    the applied suggestion edits the animation) and the worker's timings."""

    error: JobErrorInfo | None = None
    result: HeadlessResult | None = None
    before: list[SavedView] = Field(default_factory=list)
    after: list[SavedView] = Field(default_factory=list)
    timeline: bool = False
    timings: dict[str, float] = Field(default_factory=dict)  # open, capture, suggest, apply
