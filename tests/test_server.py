"""The server: every request answered exactly once, whatever arrives and whatever happens."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evlm.client import Client, CurveKeys, RequestTimeout, ServerError
from evlm.edits import PlanError
from evlm.protocol import ErrorCode, Limits, Ping, ProtocolError, Suggest, encode, parse_request
from evlm.scene import View
from evlm_server.engine.null import NullEngine
from evlm_server.server import CurveConfig

from .conftest import RunningServer, make_scene, png_bytes, views


def finals(client: Client, wait_s: float) -> dict[str, list]:
    """Every final event seen within `wait_s`, by request id (to prove each comes exactly once)."""
    out: dict[str, list] = {}
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        for e in client.poll(50):
            if e.final:
                out.setdefault(e.id, []).append(e)
    return out


# ---------------------------------------------------------------- fuzzing the front door
@pytest.fixture(scope="module")
def fuzz_server():
    s = RunningServer(NullEngine(), limits=Limits(max_message_bytes=200_000, max_header_bytes=100_000))
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(s.endpoint)
    yield s, sock
    sock.close()
    ctx.term()
    s.stop()


def one_reply(sock: zmq.Socket, frames: list[bytes]) -> dict:
    sock.send_multipart(frames)
    assert sock.poll(5000), "no reply"
    reply = msgpack.unpackb(sock.recv_multipart()[0])
    assert not sock.poll(30), "more than one reply"
    return reply


def assert_alive(sock: zmq.Socket) -> None:
    reply = one_reply(sock, encode(Ping(id="alive")))
    assert reply["type"] == "result" and reply["id"] == "alive"


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(frames=st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_random_bytes_get_an_error(fuzz_server, frames: list[bytes]) -> None:  # noqa: ANN001
    _, sock = fuzz_server
    assert one_reply(sock, frames)["type"] == "error"
    assert_alive(sock)


@FUZZ
@given(value=msgpack_values)
def test_random_msgpack_gets_an_error(fuzz_server, value) -> None:  # noqa: ANN001
    _, sock = fuzz_server
    assert one_reply(sock, [msgpack.packb(value)])["type"] == "error"
    assert_alive(sock)


SUGGEST = Suggest(id="s", instruction="make it red", scene=make_scene(), views=[View(width=64, height=48)])


@FUZZ
@given(field=st.sampled_from(sorted(SUGGEST.model_dump())), value=msgpack_values)
def test_wrong_types_in_a_suggest_get_an_error(fuzz_server, field: str, value) -> None:  # noqa: ANN001
    _, sock = fuzz_server
    header = {**SUGGEST.model_dump(mode="json"), field: value}
    frames = [msgpack.packb(header), png_bytes()]
    try:
        parse_request(frames)
        assume(False)  # the value happens to be a valid one: not what this test is about
    except ProtocolError:
        pass
    reply = one_reply(sock, frames)
    assert reply["type"] == "error", reply
    assert_alive(sock)


def test_oversize_frames_get_an_error(fuzz_server) -> None:  # noqa: ANN001
    _, sock = fuzz_server
    header = SUGGEST.model_dump(mode="json")
    reply = one_reply(sock, [msgpack.packb(header), b"\x89PNG" + b"x" * 300_000])
    assert reply["code"] == ErrorCode.TOO_LARGE and reply["id"] == "s"
    reply = one_reply(sock, [msgpack.packb({**header, "instruction": "y" * 150_000}), png_bytes()])
    assert reply["code"] == ErrorCode.TOO_LARGE
    assert_alive(sock)


def test_good_request_after_garbage_is_answered(fuzz_server) -> None:  # noqa: ANN001
    s, sock = fuzz_server
    for junk in ([b""], [b"\x00" * 50], [msgpack.packb({"v": 1, "type": "suggest", "id": "j"})]):
        assert one_reply(sock, junk)["type"] == "error"
    with Client(s.endpoint, timeout_s=10) as client:
        result = client.suggest("make it red", views(6), make_scene())
    assert result.plan["suggestions"]


# ---------------------------------------------------------------- concurrency, cancel, deadlines
def test_sixteen_concurrent_clients_each_answered_once(serve) -> None:  # noqa: ANN001
    engine = NullEngine(delay_s=0.05, max_batch=4)
    s = serve(engine)
    got: dict[int, list] = {}

    def one(i: int) -> None:
        with Client(s.endpoint, timeout_s=20) as client:
            rid = client.submit_suggest(f"request {i}", views(2), make_scene())
            got[i] = finals(client, 2.5).get(rid, [])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(16))
    for i, events in got.items():
        assert [e.type for e in events] == ["result"], (i, events)
        assert events[0].message.plan["suggestions"][0]["ops"][0]["prompt"] == f"request {i}"
    assert max(engine.batches) > 1  # requests that arrived together were batched
    assert sum(engine.batches) == 16


def test_cancel_answers_at_once_and_only_once(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=1.5, max_batch=1))
    with Client(s.endpoint, timeout_s=10) as client:
        running = client.submit_suggest("a", views(1), make_scene())
        queued = client.submit_suggest("b", views(1), make_scene())
        time.sleep(0.2)
        t0 = time.monotonic()
        client.cancel(queued)
        client.cancel(running)
        got = finals(client, 0.8)  # well before the running one could finish (1.5 s)
        assert time.monotonic() - t0 < 1.2
        for rid, more in finals(client, 2.0).items():  # and nothing more comes later
            got.setdefault(rid, []).extend(more)
        for rid in (running, queued):
            events = got.get(rid, [])
            assert [e.type for e in events] == ["error"], events
            assert events[0].message.code == ErrorCode.CANCELLED
        assert client.ping() < 1  # and the server is fine


def test_cancel_of_unknown_request_is_an_error(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine())
    with Client(s.endpoint, timeout_s=5) as client:
        client._last_heard["nope"] = time.monotonic()  # listen for the reply to our own cancel
        client.cancel("nope")
        events = finals(client, 1.0).get("nope", [])
    assert [e.message.code for e in events] == [ErrorCode.UNKNOWN_ID]


def test_deadline_is_enforced(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=5))
    with Client(s.endpoint, timeout_s=10) as client:
        t0 = time.monotonic()
        with pytest.raises(ServerError) as e:
            client.suggest("slow", views(1), make_scene(), deadline_s=0.3)
    assert e.value.code == "deadline_exceeded"
    assert time.monotonic() - t0 < 2


def test_overload_is_refused_not_queued_forever(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=1, max_batch=1), limits=Limits(max_queue=2))
    with Client(s.endpoint, timeout_s=10) as client:
        ids = [client.submit_suggest(f"r{i}", views(1), make_scene()) for i in range(3)]
        got = finals(client, 0.5)
    assert got[ids[2]][0].message.code == ErrorCode.OVERLOADED


def test_corrupt_image_body_is_reported_and_others_still_served(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine())
    corrupt = png_bytes()[:40] + b"\x00" * 30  # valid header, broken body: only a full decode sees it
    with Client(s.endpoint, timeout_s=10) as client:
        with pytest.raises(ServerError) as e:
            client.suggest("x", [(View(width=64, height=48), corrupt)], make_scene())
        assert e.value.code == "bad_image" and "view 0" in e.value.message
        assert client.suggest("x", views(1), make_scene()).plan


class FailingEngine(NullEngine):
    def run(self, batch):  # noqa: ANN001
        return [
            RuntimeError("GPU on fire")
            if "fire" in r.instruction
            else PlanError("missing_target", "no")
            if "bad" in r.instruction
            else NullEngine._answer(self, r)
            for r in batch
        ]


def test_engine_failures_become_error_replies(serve) -> None:  # noqa: ANN001
    s = serve(FailingEngine())
    with Client(s.endpoint, timeout_s=10) as client:
        for instruction, code in (("fire", "engine_error"), ("bad", "invalid_plan")):
            with pytest.raises(ServerError) as e:
                client.suggest(instruction, views(1), make_scene())
            assert e.value.code == code
        assert client.suggest("fine", views(1), make_scene()).plan


def test_progress_streams_reasoning(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=1.2), keepalive_s=0.2)
    seen = []
    with Client(s.endpoint, timeout_s=10) as client:
        client.suggest("x", views(1), make_scene(), on_event=seen.append, stream=True)
    types = [e.type for e in seen]
    assert types[0] == "accepted" and types[-1] == "result"
    assert any(e.type == "progress" and e.message.stage == "reasoning" and e.message.text for e in seen)
    assert sum(e.type == "progress" and not e.message.text for e in seen) >= 2  # keepalives while waiting


CHILD = textwrap.dedent("""
    import sys, time
    from evlm.client import Client
    from evlm.scene import View
    from tests.conftest import png_bytes, make_scene
    c = Client(sys.argv[1])
    c.submit_suggest("doomed", [(View(width=64, height=48), png_bytes())], make_scene())
    print("sent", flush=True)
    time.sleep(60)
""")


def test_client_dying_mid_request_disturbs_no_one(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=0.8, max_batch=1), keepalive_s=0.2)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, s.endpoint],
        stdout=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert child.stdout.readline().strip() == b"sent"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with Client(s.endpoint, timeout_s=10) as client:
        assert client.suggest("survivor", views(1), make_scene()).plan
    deadline = time.monotonic() + 5
    while s.server._pending and time.monotonic() < deadline:  # the dead client's work is dropped
        time.sleep(0.1)
    assert not s.server._pending


# ---------------------------------------------------------------- shutdown
def test_shutdown_answers_everything_in_flight(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=0.5, max_batch=1))
    with Client(s.endpoint, timeout_s=10) as client:
        running = client.submit_suggest("first", views(1), make_scene())
        queued = client.submit_suggest("second", views(1), make_scene())
        time.sleep(0.2)
        s.server.stop()
        got = finals(client, 1.5)
    s.thread.join(5)
    assert not s.thread.is_alive()
    assert [e.type for e in got[running]] == ["result"]  # it finished within the grace period
    assert [e.message.code for e in got[queued]] == [ErrorCode.SHUTTING_DOWN]


def test_shutdown_grace_expires_with_errors(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=30, max_batch=1), shutdown_grace_s=0.3)
    with Client(s.endpoint, timeout_s=10) as client:
        rid = client.submit_suggest("forever", views(1), make_scene())
        time.sleep(0.2)
        s.server.stop()
        got = finals(client, 1.5).get(rid, [])
    assert [e.message.code for e in got] == [ErrorCode.SHUTTING_DOWN]


# ---------------------------------------------------------------- CURVE
def test_curve_lets_in_only_allowed_clients(serve, tmp_path, caplog) -> None:  # noqa: ANN001
    from evlm_server.cli import server_main

    keys, other = tmp_path / "keys", tmp_path / "other"
    assert server_main(["keygen", "--dir", str(keys)]) == 0
    assert server_main(["keygen", "--dir", str(other)]) == 0
    s = serve(NullEngine(), curve=CurveConfig(keys / "server.key_secret", keys / "allowed"))
    allowed = CurveKeys(keys / "server.key", keys / "clients" / "client0.key_secret")
    stranger = CurveKeys(keys / "server.key", other / "clients" / "client0.key_secret")
    with Client(s.endpoint, timeout_s=3, curve=allowed) as client:
        assert client.ping() < 3
    caplog.set_level(logging.WARNING, logger="evlm_server")
    for curve in (stranger, None):
        with Client(s.endpoint, timeout_s=1.5, curve=curve) as client:
            with pytest.raises(RequestTimeout):
                client.ping()
    assert any("refused a client" in r.getMessage() for r in caplog.records)


def test_client_times_out_every_request_when_the_server_is_silent() -> None:
    with Client("tcp://127.0.0.1:1", timeout_s=0.3) as client:
        ids = {client.submit(Ping(id=f"p{i}")) for i in range(2)}
        events = []
        deadline = time.monotonic() + 3
        while len(events) < 2 and time.monotonic() < deadline:
            events += client.poll(50)
        assert {e.id for e in events} == ids and {e.type for e in events} == {"timeout"}
        assert client.in_flight == []
        with pytest.raises(RequestTimeout, match="is evlm-server running"):
            client.ping()
