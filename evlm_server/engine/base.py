"""The engine interface the server drives.

The server owns the wire and the queue; an engine only turns a batch of decoded requests into
plans. It runs in the server's worker thread, never touches a socket, and reports progress
through the request's callback (the server forwards it as a `progress` reply).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from evlm.edits import EditPlan
from evlm.scene import SceneGraph, View

if TYPE_CHECKING:  # the contract stays importable without PIL (Blender's Python has none)
    from PIL import Image


class Cancelled(Exception):
    """Raised inside an engine when a request's `is_cancelled()` turns true."""


@dataclass
class EngineRequest:
    id: str
    instruction: str
    scene: SceneGraph | None  # None: a plain image/video request, answered by a generative hand-off
    views: list[View]  # metadata of each view, same order as `images`
    images: list[Image.Image]  # decoded, RGB
    references: list[Image.Image] = field(default_factory=list)
    max_suggestions: int = 3
    # Called with (stage, text): stage is "reasoning" or "answer"; text is the new piece.
    on_progress: Callable[[str, str], None] = lambda stage, text: None
    is_cancelled: Callable[[], bool] = lambda: False


@dataclass
class EngineResult:
    reasoning: str
    plan: EditPlan  # already validated against the request's scene
    timings: dict[str, float] = field(default_factory=dict)  # seconds, e.g. {"reason": .., "answer": ..}
    tokens: dict[str, int] = field(default_factory=dict)  # e.g. {"prompt": .., "reasoning": .., "answer": ..}


class Engine(Protocol):
    """What the server needs from an engine."""

    name: str
    max_batch: int
    needs_pixels: bool  # False: the server need not decode the images (it still checks headers)

    def run(self, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
        """Answer every request of the batch, in order. Per-request failures are returned, not raised."""
        ...

    def info(self) -> dict:
        """Model name, device, dtype and anything else a client may want to show."""
        ...
