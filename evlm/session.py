"""The life of one suggestion request as a UI sees it (pure Python: no bpy, no zmq).

The Blender panel draws a `Session`; a `bpy.app.timers` callback feeds it the client's events
through a `Driver`. Keeping this apart from bpy means the whole request life (capture, send,
queue, reasoning stream, result, error, cancel, timeout) is tested without Blender.

    idle -> capturing -> sent -> queued -> reasoning -> done | error | cancelled | timeout

While capturing, the UI renders the views a few at a time and reports how many are done
(`capture_progress`), so the status line moves view by view and Cancel works between views.
A final state can start over (a new request). Events for another request id, or arriving after
the session ended (a late reply to a cancelled request), are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError

from evlm.edits import EditPlan, PlanError, Suggestion, validate_plan
from evlm.scene import SceneGraph, View

if TYPE_CHECKING:
    from evlm.client import Event


class State(StrEnum):
    IDLE = "idle"
    CAPTURING = "capturing"
    SENT = "sent"
    QUEUED = "queued"
    REASONING = "reasoning"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


ACTIVE = frozenset({State.CAPTURING, State.SENT, State.QUEUED, State.REASONING})
FINAL = frozenset({State.DONE, State.ERROR, State.CANCELLED, State.TIMEOUT})


class SessionError(RuntimeError):
    """A transition the session does not allow (e.g. a second request while one is running)."""


@dataclass
class Choice:
    """What the artist did with one suggestion."""

    accepted: bool | None = None  # Apply: True, Reject: False
    rating: int | None = None  # 1..5
    applied: int = 0  # how many times it was applied


class Session:
    """One request at a time: its state, streamed reasoning, suggestions and the artist's choices."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.reachable: bool | None = None  # None: not known yet
        self._reset()

    def _reset(self) -> None:
        self.state = State.IDLE
        self.request_id: str | None = None
        self.instruction = ""
        self.scene: SceneGraph | None = None
        self.views: list[tuple[View, bytes]] = []
        self.references: list[bytes] = []
        self.captured, self.to_capture = 0, 0  # views rendered, views in the capture
        self.stage = ""  # the server's last progress stage (queued, reasoning, answer)
        self.queue_position = 0
        self.reasoning = ""
        self.plan: EditPlan | None = None
        self.timings: dict[str, float] = {}
        self.error = ""
        self.error_code = ""
        self.choices: list[Choice] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None

    # ------------------------------------------------------------------ transitions
    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def begin_capture(self, instruction: str) -> None:
        """A new request starts: the scene is being captured."""
        if self.active:
            raise SessionError(f"a request is already {self.state.value}")
        instruction = instruction.strip() if isinstance(instruction, str) else ""
        if not instruction:
            raise ValueError("the instruction is empty: say what to change")
        self.clear()
        self.state = State.CAPTURING
        self.instruction = instruction
        self.started_at = self._clock()

    def capture_progress(self, done: int, total: int) -> None:
        """`done` of the capture's `total` views are rendered."""
        if self.state != State.CAPTURING:
            raise SessionError(f"capture progress while {self.state.value}")
        for what, v in (("done", done), ("total", total)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{what} must be a non-negative integer, got {v!r}")
        if done > total:
            raise ValueError(f"{done} of {total} views: done exceeds the total")
        self.captured, self.to_capture = done, total

    def start(
        self,
        request_id: str,
        *,
        instruction: str | None = None,
        scene: SceneGraph | None = None,
        views: Sequence[tuple[View, bytes]] = (),
        references: Sequence[bytes] = (),
    ) -> None:
        """The request was sent with this id (after `begin_capture`, or directly from idle)."""
        if not isinstance(request_id, str) or not request_id:
            raise ValueError("request_id must be a non-empty string")
        if self.state not in (State.CAPTURING, State.IDLE, *FINAL):
            raise SessionError(f"cannot start a request while one is {self.state.value}")
        if self.state != State.CAPTURING:
            self.begin_capture(instruction or "")
        elif instruction is not None and instruction.strip():
            self.instruction = instruction.strip()
        self.request_id = request_id
        self.scene = scene
        self.views = list(views)
        self.references = list(references)
        self.state = State.SENT

    def clear(self) -> None:
        """Forget the request and its suggestions (what is known of the server stays)."""
        reachable = self.reachable
        self._reset()
        self.reachable = reachable

    def fail(self, message: str, code: str = "client") -> None:
        """A local failure (capture failed, the request could not be sent)."""
        self._finish(State.ERROR)
        self.error_code, self.error = code, message

    def cancel(self) -> str | None:
        """Stop waiting. Returns the request id to cancel on the server, if it was sent."""
        if not self.active:
            return None
        sent = self.request_id if self.state != State.CAPTURING else None
        self._finish(State.CANCELLED)
        self.error = "cancelled"
        return sent

    def on_event(self, event: Event) -> bool:
        """Apply one client event. Returns False when it was not for this session's live request."""
        if event.id != self.request_id or self.state not in (State.SENT, State.QUEUED, State.REASONING):
            return False
        msg = event.message
        if event.type != "timeout":
            self.reachable = True
        if event.type == "accepted":
            self.state, self.stage = State.QUEUED, "queued"
            self.queue_position = getattr(msg, "queue_position", 0)
        elif event.type == "progress":
            self.stage = msg.stage
            self.queue_position = msg.queue_position
            if msg.stage == "queued":
                self.state = State.QUEUED
            else:  # reasoning, or writing the answer: the model is at work
                self.state = State.REASONING
                if msg.stage == "reasoning" and msg.text:
                    self.reasoning += msg.text
        elif event.type == "result":
            self._on_result(msg)
        elif event.type == "error":
            code = str(getattr(msg.code, "value", msg.code))
            self._finish(State.CANCELLED if code == "cancelled" else State.ERROR)
            self.error_code, self.error = code, msg.message
        elif event.type == "timeout":
            self.reachable = False
            self._finish(State.TIMEOUT)
            self.error_code, self.error = "timeout", "no word from the server: is evlm-server running?"
        else:
            return False
        return True

    def _on_result(self, msg: Any) -> None:
        # The server validated the plan against the scene it was sent; re-check on this side too:
        # the add-on applies what it gets, so it trusts nothing it did not check.
        try:
            plan = validate_plan(msg.plan if msg.plan is not None else {}, self.scene)
        except (PlanError, ValidationError, ValueError) as e:
            self._finish(State.ERROR)
            self.error_code, self.error = "invalid_plan", f"the server's plan does not fit the scene: {e}"
            return
        self._finish(State.DONE)
        self.plan = plan
        self.reasoning = msg.reasoning or self.reasoning  # the full text beats the streamed pieces
        self.timings = dict(msg.timings)
        self.choices = [Choice() for _ in plan.suggestions]

    def _finish(self, state: State) -> None:
        self.state = state
        self.finished_at = self._clock()

    # ------------------------------------------------------------------ the artist's choices
    @property
    def suggestions(self) -> list[Suggestion]:
        return list(self.plan.suggestions) if self.plan is not None else []

    def suggestion(self, index: int) -> Suggestion:
        if self.plan is None:
            raise SessionError("no suggestions yet")
        if not isinstance(index, int) or not 0 <= index < len(self.plan.suggestions):
            raise IndexError(f"no suggestion {index}: there are {len(self.plan.suggestions)}")
        return self.plan.suggestions[index]

    def accept(self, index: int) -> Choice:
        """The suggestion was applied."""
        self.suggestion(index)
        choice = self.choices[index]
        choice.accepted = True
        choice.applied += 1
        return choice

    def reject(self, index: int) -> Choice:
        self.suggestion(index)
        self.choices[index].accepted = False
        return self.choices[index]

    def rate(self, index: int, rating: int) -> Choice:
        self.suggestion(index)
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(f"a rating is 1 to 5, got {rating!r}")
        self.choices[index].rating = rating
        return self.choices[index]

    # ------------------------------------------------------------------ what the UI shows
    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at if self.finished_at is not None else self._clock()) - self.started_at

    def status_text(self) -> str:
        """One line for the panel's status row."""
        s = self.state
        if s == State.IDLE:
            if self.reachable is None:
                return "Ready"
            return "Ready: server reachable" if self.reachable else "Server not reachable"
        if s == State.CAPTURING:
            if not self.to_capture:
                return "Capturing the scene..."
            return f"Capturing views: {self.captured} of {self.to_capture}, {self.elapsed:.1f} s"
        if s == State.SENT:
            return "Sent, waiting for the server..."
        if s == State.QUEUED:
            where = f" (position {self.queue_position + 1})" if self.queue_position else ""
            return f"Queued{where}, {self.elapsed:.0f} s"
        if s == State.REASONING:
            what = "Writing the plan" if self.stage == "answer" else "Reasoning"
            return f"{what}... {self.elapsed:.0f} s"
        if s == State.DONE:
            n = len(self.suggestions)
            return f"{n} suggestion{'s' if n != 1 else ''} in {self.elapsed:.1f} s"
        if s == State.CANCELLED:
            return "Cancelled"
        if s == State.TIMEOUT:
            return f"Timed out: {self.error}"
        return f"Error ({self.error_code}): {self.error}"


def best_index(plan: EditPlan, usable: Callable[[Suggestion], bool] | None = None) -> int | None:
    """The most confident suggestion (the first of equals) that `usable` accepts; None if none does."""
    order = sorted(range(len(plan.suggestions)), key=lambda i: -plan.suggestions[i].confidence)
    return next((i for i in order if usable is None or usable(plan.suggestions[i])), None)


# ---------------------------------------------------------------------- the client side
class ClientLike(Protocol):
    def submit_suggest(self, instruction: str, views: list, scene: SceneGraph | None = None, **kw: Any) -> str: ...
    def submit(self, message: BaseModel, blobs: list[bytes] = ()) -> str: ...
    def poll(self, timeout_ms: int = 0) -> list[Event]: ...
    def cancel(self, request_id: str) -> None: ...
    def close(self) -> None: ...


class Driver:
    """Runs a Session against a client with no thread: `tick()` from a UI timer until it says stop.

    A fresh client per request: settings changed in between (endpoint, keys, timeout) take
    effect, and nothing of an old request can reach a new one.
    """

    def __init__(self, session: Session, client_factory: Callable[[], ClientLike]) -> None:
        self.session = session
        self._factory = client_factory
        self._client: ClientLike | None = None
        self._ping_id: str | None = None

    @property
    def busy(self) -> bool:
        """True while there is anything to poll for."""
        return self.session.active or self._ping_id is not None

    def _fresh_client(self) -> ClientLike:
        self.close()
        self._client = self._factory()
        return self._client

    def submit(
        self,
        views: Sequence[tuple[View, bytes]],
        scene: SceneGraph | None,
        references: Sequence[bytes] = (),
        max_suggestions: int = 3,
        stream: bool = True,
    ) -> str:
        """Send the captured request (the session must be capturing); returns its id."""
        if self.session.state != State.CAPTURING:
            raise SessionError(f"submit after begin_capture, not while {self.session.state.value}")
        try:
            client = self._fresh_client()
            rid = client.submit_suggest(
                self.session.instruction,
                list(views),
                scene,
                references=list(references),
                max_suggestions=max_suggestions,
                stream=stream,
            )
        except Exception as e:  # bad endpoint, bad keys, invalid message: shown, never raised into the UI
            self.session.fail(f"could not send the request: {e}", code="send_failed")
            self.close()
            raise
        self.session.start(rid, scene=scene, views=views, references=references)
        return rid

    def ping(self) -> str:
        """Check the server is there; the answer (or a timeout) sets `session.reachable`."""
        from evlm.client import new_id
        from evlm.protocol import Ping

        client = self._client if self.session.active and self._client is not None else self._fresh_client()
        self._ping_id = client.submit(Ping(id=new_id()))
        return self._ping_id

    def tick(self, timeout_ms: int = 0) -> bool:
        """Poll once; feed the session. Returns True while it should be called again."""
        if self._client is None:
            return False
        for event in self._client.poll(timeout_ms):
            if event.id == self._ping_id and self._ping_id is not None:
                if event.final:
                    self.session.reachable = event.type == "result"
                    self._ping_id = None
            else:
                self.session.on_event(event)
        if not self.busy:
            self.close()
        return self.busy

    def cancel(self) -> None:
        rid = self.session.cancel()
        if rid is not None and self._client is not None:
            try:
                self._client.cancel(rid)
            except Exception:  # the server drops the work anyway once it notices we are gone
                pass
        if not self.busy:
            self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._ping_id = None
