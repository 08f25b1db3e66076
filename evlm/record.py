"""One training example (JSONL line + image files), shared by the generator, the add-on's
feedback, the trainers and the eval harness. Pure Python: imports no torch and no bpy.

Image paths are relative to the dataset folder (the JSONL file's folder).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from evlm.edits import EditPlan
from evlm.protocol import MAX_INSTRUCTION_CHARS
from evlm.scene import SceneGraph, View

RECORD_VERSION = 1
Modality = Literal["image", "video", "3d", "4d"]
Split = Literal["train", "val", "test", "gen"]  # test: held-out; gen: held-out phrasings and families
Family = Literal[
    "vague_degree", "polysemy", "view_reference", "reference_matching", "mood_style", "animation",
    "generative", "feedback",
]  # fmt: skip
Variant = Literal["correct", "wrong_magnitude", "wrong_target", "contradiction", "human"]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ViewImage(_Model):
    image: Annotated[str, Field(min_length=1)]  # path relative to the dataset folder
    view: View


class Scores(_Model):
    """Quality in [0, 1] of the reasoning and of the answer (RKTO's s per segment)."""

    reasoning: Score
    answer: Score


class Feedback(_Model):
    """What an artist said about a suggestion in the add-on."""

    accepted: bool | None = None  # Apply: True, Reject: False
    rating: int | None = Field(default=None, ge=1, le=5)
    suggestion_index: int = Field(default=0, ge=0)


class Record(_Model):
    v: int = RECORD_VERSION
    id: Annotated[str, Field(min_length=1, max_length=128)]
    split: Split = "train"
    modality: Modality
    family: Family
    instruction: Annotated[str, Field(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]  # what a suggest may carry
    scene: SceneGraph | None = None  # None for plain image/video requests
    views: list[ViewImage] = Field(min_length=1)
    reference: str | None = None  # optional reference image path
    reasoning: str  # the chain of thought (the text between <think> and </think>)
    plan: EditPlan  # the answer (gold for synthetic "correct" records)
    scores: Scores
    variant: Variant = "correct"
    group: str | None = None  # records built from the same example share a group (DPO pairs, KTO z0)
    source: Literal["synthetic", "feedback", "human"] = "synthetic"
    feedback: Feedback | None = None
