"""The request state machine the add-on's panel draws, and its driver against a real server."""

from __future__ import annotations

import time

import pytest

from evlm.client import Client, Event
from evlm.edits import validate_plan
from evlm.plantext import describe_op, wrap
from evlm.protocol import Accepted, Error, ErrorCode, Progress, SuggestResult
from evlm.session import Driver, Session, SessionError, State, best_index
from evlm_server.engine.null import NullEngine
from tests.conftest import views

PLAN = {
    "reasoning": "warmer",
    "suggestions": [
        {"title": "Warm the lamp", "rationale": "evening", "confidence": 0.4,
         "ops": [{"op": "set_light_color", "targets": ["Lamp"], "color": [1.0, 0.7, 0.4]}]},
        {"title": "Raise the cube", "rationale": "", "confidence": 0.9,
         "ops": [{"op": "translate", "targets": ["Cube", "chair_02"], "vector": [0.0, 0.0, 0.5]}]},
    ],
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def ev(type_: str, msg=None, rid: str = "r1") -> Event:  # noqa: ANN001
    return Event(id=rid, type=type_, message=msg)


@pytest.fixture
def sent(scene):  # noqa: ANN001
    s = Session(clock=Clock())
    s.begin_capture("  make it cozier ")
    s.start("r1", scene=scene, views=views(2))
    return s


def test_full_life_with_streamed_reasoning(sent) -> None:  # noqa: ANN001
    s = sent
    assert (s.state, s.instruction, s.active) == (State.SENT, "make it cozier", True)
    assert s.on_event(ev("accepted", Accepted(id="r1", queue_position=2)))
    assert s.state == State.QUEUED and s.status_text().startswith("Queued (position 3)")
    s.on_event(ev("progress", Progress(id="r1", stage="queued", queue_position=1)))
    assert s.queue_position == 1
    s.on_event(ev("progress", Progress(id="r1", stage="reasoning", text="The user wants ")))
    s.on_event(ev("progress", Progress(id="r1", stage="reasoning")))  # keepalive: no text
    s.on_event(ev("progress", Progress(id="r1", stage="reasoning", text="warmth.")))
    assert s.state == State.REASONING and s.reasoning == "The user wants warmth."
    assert s.status_text().startswith("Reasoning")
    s.on_event(ev("progress", Progress(id="r1", stage="answer", text='{"reas')))
    assert s.reasoning == "The user wants warmth." and s.status_text().startswith("Writing the plan")
    s._clock.t += 2.5
    s.on_event(
        ev("result", SuggestResult(id="r1", reasoning="The user wants warmth. Full.", plan=PLAN, timings={"total": 2}))
    )
    assert s.state == State.DONE and not s.active and s.reachable is True
    assert [x.title for x in s.suggestions] == ["Warm the lamp", "Raise the cube"]
    assert s.reasoning == "The user wants warmth. Full." and s.timings == {"total": 2}
    assert s.status_text() == "2 suggestions in 2.5 s"
    assert len(s.choices) == 2


def test_events_of_other_requests_and_late_events_are_ignored(sent) -> None:  # noqa: ANN001
    assert not sent.on_event(ev("accepted", Accepted(id="zz"), rid="zz"))
    assert sent.state == State.SENT
    assert sent.cancel() == "r1"
    assert sent.state == State.CANCELLED
    # the server's answer to the cancel (and anything else) arrives after: ignored
    assert not sent.on_event(ev("error", Error(id="r1", code=ErrorCode.CANCELLED, message="cancelled")))
    assert not sent.on_event(ev("result", SuggestResult(id="r1", plan=PLAN)))
    assert sent.state == State.CANCELLED and sent.plan is None


def test_server_error_and_cancel_codes(sent, scene) -> None:  # noqa: ANN001
    sent.on_event(ev("error", Error(id="r1", code=ErrorCode.ENGINE_ERROR, message="out of memory")))
    assert sent.state == State.ERROR and sent.error_code == "engine_error"
    assert sent.status_text() == "Error (engine_error): out of memory"
    s = Session()
    s.start("r2", instruction="x", scene=scene)
    s.on_event(ev("error", Error(id="r2", code=ErrorCode.CANCELLED, message="cancelled"), rid="r2"))
    assert s.state == State.CANCELLED


def test_timeout_marks_the_server_unreachable(sent) -> None:  # noqa: ANN001
    sent.on_event(ev("timeout"))
    assert sent.state == State.TIMEOUT and sent.reachable is False
    assert "evlm-server" in sent.status_text()
    sent.begin_capture("again")  # a final state starts over, and keeps what it knows of the server
    assert sent.state == State.CAPTURING and sent.reachable is False and sent.request_id is None


def test_plan_that_does_not_fit_the_scene_is_an_error(sent) -> None:  # noqa: ANN001
    bad = {**PLAN, "suggestions": [{**PLAN["suggestions"][0], "ops": [
        {"op": "set_light_color", "targets": ["NoSuchLamp"], "color": [1, 1, 1]}]}]}  # fmt: skip
    sent.on_event(ev("result", SuggestResult(id="r1", plan=bad)))
    assert sent.state == State.ERROR and sent.error_code == "invalid_plan" and "NoSuchLamp" in sent.error
    assert sent.suggestions == []


def test_result_without_plan_is_an_error(sent) -> None:  # noqa: ANN001
    # parse_reply refuses such a result (tests/test_protocol.py); the session does not trust that
    sent.on_event(ev("result", SuggestResult.model_construct(id="r1", plan=None)))
    assert sent.state == State.ERROR and sent.error_code == "invalid_plan"


def test_transitions_refused(scene) -> None:  # noqa: ANN001
    s = Session()
    with pytest.raises(ValueError, match="empty"):
        s.begin_capture("   ")
    with pytest.raises(ValueError, match="empty"):
        s.start("r1")
    s.begin_capture("x")
    with pytest.raises(SessionError, match="capturing"):
        s.begin_capture("y")
    with pytest.raises(ValueError, match="request_id"):
        s.start("")
    s.start("r1", scene=scene)
    with pytest.raises(SessionError):
        s.start("r2", instruction="z")
    with pytest.raises(SessionError, match="no suggestions"):
        s.rate(0, 3)
    assert s.cancel() == "r1" and s.cancel() is None


def test_cancel_while_capturing_sends_nothing() -> None:
    s = Session()
    s.begin_capture("x")
    assert s.cancel() is None and s.state == State.CANCELLED


def test_local_failure() -> None:
    s = Session()
    s.begin_capture("x")
    s.fail("render failed", code="capture_failed")
    assert s.state == State.ERROR and s.status_text() == "Error (capture_failed): render failed"


def test_choices(sent) -> None:  # noqa: ANN001
    sent.on_event(ev("result", SuggestResult(id="r1", plan=PLAN)))
    assert sent.accept(1).applied == 1 and sent.accept(1).applied == 2
    assert sent.reject(0).accepted is False
    assert sent.rate(0, 5).rating == 5
    for bad in (0, 6, 2.0, True):
        with pytest.raises(ValueError):
            sent.rate(0, bad)
    with pytest.raises(IndexError):
        sent.accept(2)
    with pytest.raises(IndexError):
        sent.suggestion(-1)


def test_best_index(scene) -> None:  # noqa: ANN001
    plan = validate_plan(PLAN, scene)
    assert best_index(plan) == 1
    assert best_index(plan, usable=lambda s: s.title != "Raise the cube") == 0
    assert best_index(plan, usable=lambda s: False) is None


def test_describe_op_and_wrap(scene) -> None:  # noqa: ANN001
    plan = validate_plan(PLAN, scene)
    assert describe_op(plan.suggestions[1].ops[0]) == (
        "translate Cube, chair_02: vector [0, 0, 0.5], mode 'relative', space 'world'"
    )
    assert describe_op(plan.suggestions[0].ops[0]) == "set light color Lamp: color [1, 0.7, 0.4]"
    assert len(describe_op(plan.suggestions[1].ops[0], limit=20)) == 20
    assert wrap("aaa bbb ccc\n\nddd", width=8) == ["aaa bbb", "ccc", "", "ddd"]
    assert wrap("one two three four five", width=8, max_lines=2) == ["...", "five"]


# ---------------------------------------------------------------------- the driver, real server
def drive(driver: Driver, limit_s: float = 20.0) -> None:
    end = time.monotonic() + limit_s
    while driver.tick(timeout_ms=20):
        assert time.monotonic() < end, "the request never ended"


def test_driver_against_a_server(serve, scene) -> None:  # noqa: ANN001
    srv = serve(NullEngine(delay_s=0.3))
    session = Session()
    driver = Driver(session, lambda: Client(srv.endpoint, timeout_s=5))
    session.begin_capture("make it cozier")
    rid = driver.submit(views(2), scene, max_suggestions=2)
    assert session.state == State.SENT and session.request_id == rid
    seen = set()
    end = time.monotonic() + 20
    while driver.tick(timeout_ms=20):
        seen.add(session.state)
        assert time.monotonic() < end
    assert session.state == State.DONE, session.status_text()
    assert State.REASONING in seen or State.QUEUED in seen
    assert session.suggestions[0].ops[0].op == "generative_edit"
    assert "null engine" in session.reasoning and session.reachable
    assert driver._client is None  # closed once nothing is in flight


def test_driver_cancel(serve, scene) -> None:  # noqa: ANN001
    srv = serve(NullEngine(delay_s=5.0))
    session = Session()
    driver = Driver(session, lambda: Client(srv.endpoint, timeout_s=5))
    session.begin_capture("x")
    driver.submit(views(1), scene)
    driver.tick(timeout_ms=200)
    t0 = time.monotonic()
    driver.cancel()
    assert session.state == State.CANCELLED and not driver.busy and driver._client is None
    assert not driver.tick()
    # the server dropped the work: a new request is answered at once, not after the 5 s one
    session.begin_capture("y")
    srv.server.engine.delay_s = 0.0
    driver.submit(views(1), scene)
    drive(driver)
    assert session.state == State.DONE and time.monotonic() - t0 < 4.0


def test_driver_ping_and_unreachable_server(serve) -> None:  # noqa: ANN001
    srv = serve(NullEngine())
    session = Session()
    driver = Driver(session, lambda: Client(srv.endpoint, timeout_s=5))
    driver.ping()
    drive(driver)
    assert session.reachable is True and session.status_text() == "Ready: server reachable"
    dead = Driver(Session(), lambda: Client("tcp://127.0.0.1:9", timeout_s=0.3))
    dead.ping()
    drive(dead)
    assert dead.session.reachable is False
    dead.session.begin_capture("x")
    dead.submit(views(1), None)
    drive(dead)
    assert dead.session.state == State.TIMEOUT


def test_driver_submit_failure_is_recorded() -> None:
    session = Session()
    driver = Driver(session, lambda: Client("not-an-endpoint", timeout_s=1))
    session.begin_capture("x")
    with pytest.raises(Exception):  # noqa: B017  zmq's own error type for a bad address
        driver.submit(views(1), None)
    assert session.state == State.ERROR and session.error_code == "send_failed"
    with pytest.raises(SessionError):
        driver.submit(views(1), None)  # not capturing any more
