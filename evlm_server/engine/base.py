"""The engine interface the server drives.

The server owns the wire and the queue; an engine only turns decoded requests into plans. It
runs in the server's worker thread, never touches a socket, and reports progress through the
request's callback (the server forwards it as a `progress` reply).

Two ways to feed an engine:
- `run(batch)`: a batch in, its results out (evaluation, scripts, simple engines);
- continuously (`Stepped`): `submit` requests at any time, call `step` to advance them, and
  collect each request as it finishes. A request that arrives while others decode joins them at
  the next step; a cancelled one leaves at the next step. `feeder(engine)` gives any engine this
  interface (a batch-only engine runs what it holds as one batch per step), and
  `run_stepped(engine, batch)` runs a batch on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from evlm.edits import EditPlan
from evlm.scene import SceneGraph, View

if TYPE_CHECKING:  # the contract stays importable without PIL (Blender's Python has none)
    from PIL import Image


class Cancelled(Exception):
    """A request whose `is_cancelled()` turned true before it finished."""


class PromptTooLong(ValueError):
    """A prompt longer than the model's context (or the engine's KV cache) leaves room for;
    raised before any model work."""


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


Outcome = tuple[EngineRequest, "EngineResult | Exception"]


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


@runtime_checkable
class Stepped(Protocol):
    """An engine fed continuously (see the module docstring). One thread drives it."""

    max_batch: int

    def submit(self, request: EngineRequest) -> None:
        """Take a request; it starts at a coming step. Never raises: a bad request fails in `step`."""
        ...

    def step(self) -> list[Outcome]:
        """Advance the requests held; return those that finished (result or exception)."""
        ...

    def pending(self) -> int:
        """Requests submitted and not yet returned by `step`."""
        ...

    def clear(self) -> list[EngineRequest]:
        """Drop every request held (after an engine failure); returns them."""
        ...


class _BatchFeeder:
    """`Stepped` over a batch-only engine: each step runs what it holds (up to max_batch) as one batch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.max_batch = engine.max_batch
        self._held: list[EngineRequest] = []

    def submit(self, request: EngineRequest) -> None:
        self._held.append(request)

    def step(self) -> list[Outcome]:
        batch, self._held = self._held[: self.max_batch], self._held[self.max_batch :]
        if not batch:
            return []
        try:
            results = self.engine.run(batch)
        except Exception as e:  # the engine failed as a whole: every request of the batch hears why
            results = [e] * len(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"engine {self.engine.name!r} answered {len(results)} of {len(batch)} requests")
        return list(zip(batch, results, strict=True))

    def pending(self) -> int:
        return len(self._held)

    def clear(self) -> list[EngineRequest]:
        held, self._held = self._held, []
        return held


def feeder(engine: Engine) -> Stepped:
    """The engine itself if it is fed continuously, else a batch-by-batch adapter over it."""
    return engine if isinstance(engine, Stepped) else _BatchFeeder(engine)


def run_stepped(engine: Stepped, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
    """`Engine.run` for a continuously fed engine: submit the batch, step until all are back."""
    if engine.pending():
        raise RuntimeError("run() needs an idle engine: it is already feeding requests")
    for req in batch:
        engine.submit(req)
    done: dict[int, EngineResult | Exception] = {}
    while len(done) < len(batch):
        for req, outcome in engine.step():
            done[id(req)] = outcome
        if len(done) < len(batch) and not engine.pending():
            raise RuntimeError(f"engine returned {len(done)} of {len(batch)} requests and holds none")
    return [done[id(req)] for req in batch]
