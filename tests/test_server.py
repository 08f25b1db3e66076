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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evlm.client import Client, CurveKeys, RequestTimeout, ServerError
from evlm.edits import PlanError
from evlm.protocol import (
    Cancel,
    ErrorCode,
    Info,
    Limits,
    Ping,
    ProtocolError,
    ServerInfo,
    Suggest,
    encode,
    parse_request,
)
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
    limits = Limits(max_message_bytes=200_000, max_header_bytes=50_000, max_image_bytes=100_000)
    s = RunningServer(NullEngine(), limits=limits)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(s.endpoint)
    yield s, sock
    sock.close()
    ctx.term()
    s.stop()


@contextmanager
def raw_socket(endpoint: str) -> Iterator[zmq.Socket]:
    """A bare DEALER, to send what the project's client never would."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        yield sock
    finally:
        sock.close()


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


def test_oversize_messages_get_an_error(fuzz_server) -> None:  # noqa: ANN001
    _, sock = fuzz_server
    header = SUGGEST.model_dump(mode="json")
    reply = one_reply(sock, [msgpack.packb(header), *[b"\x89PNG" + b"x" * 60_000] * 4])  # 4 frames, each in bounds
    assert reply["code"] == ErrorCode.TOO_LARGE and reply["id"] == "s"
    reply = one_reply(sock, [msgpack.packb({**header, "instruction": "y" * 60_000}), png_bytes()])
    assert reply["code"] == ErrorCode.TOO_LARGE and "header" in reply["message"]
    assert_alive(sock)


def test_a_frame_over_the_socket_limit_is_dropped_before_it_is_in_memory(fuzz_server) -> None:  # noqa: ANN001
    """ZMQ_MAXMSGSIZE is the largest frame a request needs (it was twice the message limit): a
    bigger frame costs the server its length header only, and the sender its connection."""
    s, sock = fuzz_server
    assert s.server.limits.max_frame_bytes == 100_000
    with raw_socket(s.endpoint) as hostile:
        monitor = hostile.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        try:
            hostile.send_multipart([msgpack.packb(SUGGEST.model_dump(mode="json")), b"\x89PNG" + b"x" * 150_000])
            assert monitor.poll(5000), "the server kept the connection"
            assert not hostile.poll(300), "a reply came through a dropped connection"
        finally:
            hostile.disable_monitor()
            monitor.close()
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


def test_cancel_of_unknown_request_is_an_error_without_that_id(serve) -> None:  # noqa: ANN001
    """A cancel owns no id: its `unknown_id` must not read as a second final reply for the id
    it names (a late cancel, after the request's own final reply, used to carry it)."""
    s = serve(NullEngine())
    with raw_socket(s.endpoint) as sock:
        reply = one_reply(sock, encode(Cancel(id="nope")))
        assert (reply["type"], reply["code"], reply["id"]) == ("error", ErrorCode.UNKNOWN_ID, None)
        assert "nope" in reply["message"]
        sock.send_multipart(encode(SUGGEST, [png_bytes()]))
        got = replies(sock, 1.0)
        assert [r["type"] for r in got] == ["accepted", "result"]  # the request's own final reply ...
        reply = one_reply(sock, encode(Cancel(id="s")))  # ... then a late cancel of it
        assert (reply["code"], reply["id"]) == (ErrorCode.UNKNOWN_ID, None)


def replies(sock: zmq.Socket, wait_s: float) -> list[dict]:
    """Every reply header a raw socket gets within `wait_s`."""
    out, end = [], time.monotonic() + wait_s
    while (left := end - time.monotonic()) > 0:
        if sock.poll(int(left * 1000) + 1):
            out.append(msgpack.unpackb(sock.recv_multipart()[0]))
    return out


def test_an_id_in_flight_gets_exactly_one_final_reply(serve) -> None:  # noqa: ANN001
    """A second message with an id in flight is refused without that id: the request's own
    result stays its one final reply (a `duplicate_id` error used to carry the id too, and the
    project's client dropped the real result)."""
    s = serve(NullEngine(delay_s=0.4, max_batch=1))
    with raw_socket(s.endpoint) as sock:
        sock.send_multipart(encode(SUGGEST, [png_bytes()]))
        sock.send_multipart(encode(SUGGEST, [png_bytes()]))  # the same id again
        sock.send_multipart(encode(Ping(id="s")))  # and a ping that reuses it
        sock.send_multipart([msgpack.packb({**SUGGEST.model_dump(mode="json"), "views": "bad"}), png_bytes()])
        got = replies(sock, 1.5)
    finals = [r for r in got if r["type"] in ("result", "error") and r["id"] == "s"]
    assert [r["type"] for r in finals] == ["result"] and finals[0]["plan"], got
    refused = [r for r in got if r["type"] == "error"]
    assert [(r["code"], r["id"]) for r in refused] == [
        (ErrorCode.DUPLICATE_ID, None), (ErrorCode.DUPLICATE_ID, None), (ErrorCode.BAD_MESSAGE, None),
    ]  # fmt: skip
    assert all("'s'" in r["message"] for r in refused)


class StubbornEngine(NullEngine):
    """Finishes its batch whatever happens (as an engine stuck in one long step would)."""

    def run(self, batch):  # noqa: ANN001
        time.sleep(self.delay_s)
        return [NullEngine._answer(self, replace(r, is_cancelled=lambda: False)) for r in batch]


def test_a_late_answer_never_reaches_a_newer_request_with_the_same_id(serve) -> None:  # noqa: ANN001
    """The worker names jobs by serial: the first request's late result is dropped, and the new
    request with the reused id gets its own answer."""
    s = serve(StubbornEngine(delay_s=0.6, max_batch=1))
    with Client(s.endpoint, timeout_s=10) as client:
        first = Suggest(id="same", instruction="first", scene=make_scene(), views=[View(width=64, height=48)])
        client.submit(first, [png_bytes()])
        time.sleep(0.2)  # it is running
        client.cancel("same")
        assert [e.message.code for e in finals(client, 0.3)["same"]] == [ErrorCode.CANCELLED]
        client.submit(first.model_copy(update={"instruction": "second"}), [png_bytes()])
        got = finals(client, 2.5)["same"]
    assert [e.type for e in got] == ["result"]
    assert got[0].message.plan["suggestions"][0]["ops"][0]["prompt"] == "second"


def test_the_client_refuses_to_reuse_an_id_in_flight(serve) -> None:  # noqa: ANN001
    s = serve(NullEngine(delay_s=0.5))
    with Client(s.endpoint, timeout_s=10) as client:
        client.submit(SUGGEST, [png_bytes()])
        with pytest.raises(ValueError, match="still in flight"):
            client.submit(SUGGEST, [png_bytes()])
        assert [e.type for e in finals(client, 1.5)["s"]] == ["result"]


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


# ---------------------------------------------------------------- fairness and bounded memory
def heavy_header(rid: str) -> bytes:
    """A suggest header of about 1.8 MB that passes every size check and fails validation only
    at its last field: the most main-thread time a message of valid sizes can cost."""
    objects = [{"name": f"obj_{i}_" + "x" * 200, "materials": [f"m{j}" * 20 for j in range(10)]} for i in range(2000)]
    header = {**SUGGEST.model_dump(mode="json"), "id": rid, "scene": {"objects": objects}, "stream": "no"}
    return msgpack.packb(header)


def test_a_flood_of_heavy_headers_does_not_hold_back_another_clients_reply(serve) -> None:  # noqa: ANN001
    """The main thread reads requests for a bounded time per turn, then forwards the worker's
    replies: one client's 40 slow-to-validate headers (about 2 s of work) must not sit between
    another client and its result (the old loop read up to 1,000 messages in a row)."""
    s = serve(NullEngine())
    with raw_socket(s.endpoint) as flood:
        with Client(s.endpoint, timeout_s=30) as client:
            client.ping()
            frames = [heavy_header("h"), png_bytes()]
            for _ in range(40):
                flood.send_multipart(frames)
            time.sleep(0.3)  # the server is busy with the flood
            rid = client.submit_suggest("mine", views(1), make_scene())
            got = finals(client, 1.0)
            flood_replies = replies(flood, 10)
        assert [e.type for e in got.get(rid, [])] == ["result"], "the result waited behind the flood"
        assert len(flood_replies) == 40 and {r["code"] for r in flood_replies} == {ErrorCode.BAD_MESSAGE}


def test_the_queue_serves_clients_in_turn(serve) -> None:  # noqa: ANN001
    """One client's ten queued requests do not hold back another client's one."""
    engine = NullEngine(delay_s=0.15, max_batch=1)
    s = serve(engine)
    with Client(s.endpoint, timeout_s=10) as a, Client(s.endpoint, timeout_s=10) as b:
        first = [a.submit_suggest(f"a{i}", views(1), make_scene()) for i in range(10)]
        time.sleep(0.1)
        mine = b.submit_suggest("b", views(1), make_scene())
        accepted = [e for e in b.poll(2000) if e.type == "accepted"]
        assert accepted and accepted[0].message.queue_position == 2  # after the one a runs next, not tenth
        done: list[str] = []
        end = time.monotonic() + 5
        while mine not in done and time.monotonic() < end:
            done += [e.id for c in (a, b) for e in c.poll(20) if e.type == "result"]
    assert done.index(mine) <= 2, done  # a's first one or two, then b's
    assert set(done) <= {*first, mine}


def test_a_batch_decodes_at_most_max_batch_pixels(serve) -> None:  # noqa: ANN001
    engine = NullEngine(delay_s=0.3, max_batch=8)
    one = 64 * 48
    s = serve(engine, limits=Limits(max_request_pixels=2 * one, max_batch_pixels=2 * one))
    with Client(s.endpoint, timeout_s=10) as client:
        ids = [client.submit_suggest(f"r{i}", views(1), make_scene()) for i in range(5)]
        got = finals(client, 2.5)
    assert all([e.type for e in got[rid]] == ["result"] for rid in ids)
    assert max(engine.batches) == 2 and sum(engine.batches) == 5  # 8 would fit the engine; 2 fit the pixels


def test_what_requests_in_flight_hold_is_bounded(serve) -> None:  # noqa: ANN001
    """Queued requests keep their encoded images: the bytes they hold, and each client's share
    of the queue, are bounded, with `overloaded` beyond."""
    s = serve(NullEngine(delay_s=0.5, max_batch=1), limits=Limits(max_queued_bytes=6_000, max_client_queue=3))
    size = sum(map(len, encode(SUGGEST, [png_bytes()])))
    assert 1_500 < size < 3_000
    with Client(s.endpoint, timeout_s=10) as a, Client(s.endpoint, timeout_s=10) as b:
        ids = [a.submit_suggest(f"a{i}", views(1), make_scene()) for i in range(2)]
        got = finals(a, 0.3)
        assert not got  # both in flight
        later = b.submit_suggest("b", views(1), make_scene())
        refused = finals(b, 0.3)[later]
        assert refused[0].message.code == ErrorCode.OVERLOADED and "bytes" in refused[0].message.message
        for rid, events in finals(a, 2.0).items():
            assert rid in ids and [e.type for e in events] == ["result"]
    s2 = serve(NullEngine(delay_s=0.5, max_batch=1), limits=Limits(max_client_queue=3))
    with Client(s2.endpoint, timeout_s=10) as a, Client(s2.endpoint, timeout_s=10) as b:
        ids = [a.submit_suggest(f"a{i}", views(1), make_scene()) for i in range(4)]
        assert finals(a, 0.3)[ids[3]][0].message.code == ErrorCode.OVERLOADED
        assert b.submit_suggest("b", views(1), make_scene()) in finals(b, 2.5)  # another client still gets in


def test_decoding_out_of_memory_is_overloaded_not_a_bad_image(monkeypatch) -> None:  # noqa: ANN001
    from evlm_server import images

    def no_memory(*_a, **_k):  # noqa: ANN002, ANN003
        raise MemoryError

    assert len(images.decode_request_images([png_bytes()] * 2, 1, 1 << 20)) == 2
    monkeypatch.setattr(images.Image, "open", no_memory)
    with pytest.raises(ProtocolError) as e:
        images.decode_request_images([png_bytes()] * 2, 1, 1 << 20)
    assert e.value.code == ErrorCode.OVERLOADED and "view 0" in e.value.message


# ---------------------------------------------------------------- what the server tells and logs
class PathEngine(NullEngine):
    def info(self) -> dict:
        return {"model": "/home/someone/models/my-checkpoint", "path": "/home/someone/models/my-checkpoint",
                "device": "cpu", "dtype": "float32", "parameters": 5, "nested": {"x": 1}}  # fmt: skip


def test_info_is_typed_and_names_no_path(serve) -> None:  # noqa: ANN001
    s = serve(PathEngine(max_batch=2))
    with raw_socket(s.endpoint) as sock:
        raw = one_reply(sock, encode(Info(id="i")))
    assert "/home" not in repr(raw)
    with Client(s.endpoint, timeout_s=5) as client:
        info = client.info()
    assert isinstance(info, ServerInfo)
    assert (info.engine, info.model, info.device, info.max_batch, info.healthy) == (
        "null",
        "my-checkpoint",
        "cpu",
        2,
        True,
    )
    assert info.details == {"dtype": "float32", "parameters": 5} and info.limits == Limits()


def test_the_library_server_refuses_a_network_bind_without_curve() -> None:
    from evlm_server.server import Server

    with pytest.raises(ValueError, match="without CURVE"):
        Server(NullEngine(), bind="tcp://0.0.0.0:5999")
    with pytest.raises(ValueError, match="max_batch"):
        Server(NullEngine(max_batch=0))
    assert Server(NullEngine(), bind="tcp://0.0.0.0:5999", insecure_remote=True).bind == "tcp://0.0.0.0:5999"


def test_each_suggest_is_logged_once_without_its_content(serve, caplog) -> None:  # noqa: ANN001
    s = serve(NullEngine())
    caplog.set_level(logging.INFO, logger="evlm_server")
    with Client(s.endpoint, timeout_s=10) as client:
        rid = client.submit_suggest("paint the secret red", views(3), make_scene())
        assert [e.type for e in finals(client, 1.0)[rid]] == ["result"]
    lines = [r.getMessage() for r in caplog.records if rid in r.getMessage()]
    assert len(lines) == 1 and "3 views" in lines[0] and "result in" in lines[0] and "tokens" in lines[0]
    assert not any("secret" in r.getMessage() for r in caplog.records)


def test_the_client_refuses_what_the_server_would_drop_unanswered() -> None:
    """A frame over the server's socket limit gets no reply (the connection is dropped), so the
    client checks sizes before sending and says why; a bad endpoint is a ValueError, not a
    ZMQError from deep inside connect."""
    with pytest.raises(ValueError, match="did you mean tcp://localhost:5555"):
        Client("localhost:5555")
    with Client("tcp://127.0.0.1:1", limits=Limits(max_image_bytes=1_000)) as client:
        with pytest.raises(ProtocolError) as e:
            client.submit_suggest("x", [(View(width=64, height=48), png_bytes() + b"\0" * 1_000)], make_scene())
        assert e.value.code == ErrorCode.TOO_LARGE and "image" in e.value.message
        assert client.in_flight == []


def test_a_large_frame_arriving_slowly_keeps_its_connection(serve) -> None:  # noqa: ANN001
    """libzmq counts a peer as silent until a whole frame has arrived: with a heartbeat timeout
    shorter than a big frame's transfer, the connection was dropped and the request never
    answered (seen under load with 32 MiB frames and the old 3 s timeout; here scaled down to a
    15 ms heartbeat so a 64 MB message shows it on any machine)."""
    s = serve(NullEngine(), heartbeat_ms=5)
    big = b"\x89PNG" + b"\0" * (s.server.limits.max_image_bytes - 1024)
    header = msgpack.packb({**SUGGEST.model_dump(mode="json"), "views": [{"width": 64, "height": 48}] * 2})
    with raw_socket(s.endpoint) as sock:
        reply = one_reply(sock, [header, big, big])  # each frame in bounds, the message not
    assert (reply["code"], reply["id"]) == (ErrorCode.TOO_LARGE, "s")
