"""The result of one headless run (`blender_addon.headless.run`): what was asked, the checked
plan, which suggestion was applied and where the copy went.

Typed here, in the core, because it crosses a process boundary: Blender builds it and writes it
as JSON (`headless.py --json`, `evlm_batch.blend_worker`), and Pythons without bpy read it back
(`evlm_batch.process`). Pure pydantic: no bpy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from evlm.edits import EditPlan


class AppliedSuggestion(BaseModel):
    """The suggestion that was applied: its index in the plan, title and the apply report's lines."""

    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    title: str
    lines: list[str]


class HeadlessResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str | None  # the open .blend (None: an unsaved scene)
    instruction: str
    endpoint: str
    reasoning: str
    plan: EditPlan  # validated against the captured scene on arrival
    best: int | None  # the most confident suggestion (with apply: the most confident one that applies)
    applied: AppliedSuggestion | None = None
    not_applied: str | None = None  # why nothing was applied, when asked to apply
    saved_as: str | None = None  # the edited copy (never the input)
    timings: dict[str, float] = Field(default_factory=dict)  # seconds: capture, then the server's stages
    tokens: dict[str, int] = Field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-ready dict (what `--json` writes)."""
        return self.model_dump(mode="json")
