"""Wire protocol v1: framing, every message type, limits and their error codes; import purity."""

from __future__ import annotations

import re

import msgpack
import pytest
from pydantic import ValidationError

from evlm import protocol as p
from evlm.edits import MAX_SUGGESTIONS
from evlm.protocol import ErrorCode, Limits, ProtocolError, encode, image_size, parse_reply, parse_request
from evlm.scene import View

from .conftest import jpeg_bytes, make_scene, png_bytes


def suggest_frames(n_views: int = 2, **fields) -> list[bytes]:
    msg = p.Suggest(
        id="r1",
        instruction="make it cozier",
        scene=make_scene(),
        views=[View(width=64, height=48) for _ in range(n_views)],
    )
    header = {**msg.model_dump(mode="json"), **fields}
    return [msgpack.packb(header), *[png_bytes()] * n_views]


def test_suggest_round_trip() -> None:
    msg = p.Suggest(
        id="r1",
        instruction="warmer light",
        scene=make_scene(),
        views=[View(width=64, height=48, frame=3)],
        references=[p.Reference(note="mood")],
        deadline_s=30,
        stream=True,
    )
    frames = encode(msg, [png_bytes(), jpeg_bytes()])
    assert frames[1][:8] == p.PNG_MAGIC  # raw blob, not base64
    parsed, blobs = parse_request(frames)
    assert parsed == msg
    assert blobs == frames[1:]


@pytest.mark.parametrize("msg", [p.Cancel(id="a"), p.Ping(id="b"), p.Info(id="c")])
def test_small_requests_round_trip(msg) -> None:  # noqa: ANN001
    assert parse_request(encode(msg)) == (msg, [])


SERVER_INFO = p.ServerInfo(
    version="0.1.0", engine="hf", model="evlm-tiny", device="cpu", max_batch=4, healthy=True, queue=0,
    in_flight=1, limits=Limits(), details={"dtype": "float32", "parameters": 2_500_000},
)  # fmt: skip


@pytest.mark.parametrize(
    "msg",
    [
        p.Accepted(id="a", queue_position=3),
        p.Progress(id="a", stage="reasoning", text="the user wants"),
        p.SuggestResult(id="a", reasoning="...", plan={"reasoning": "r", "suggestions": []}, timings={"total": 1.5}),
        p.InfoResult(id="a", info=p.Pong(time=1.5)),
        p.InfoResult(id="a", info=SERVER_INFO),
        p.Error(id="a", code=ErrorCode.DEADLINE_EXCEEDED, message="late"),
        p.Error(id=None, code=ErrorCode.BAD_FRAME, message="garbage"),
    ],
)
def test_replies_round_trip(msg) -> None:  # noqa: ANN001
    parsed, blobs = parse_reply(encode(msg))
    assert parsed == msg and blobs == []


def test_image_size_reads_png_and_jpeg_headers() -> None:
    assert image_size(png_bytes(64, 48)) == ("png", 64, 48)
    assert image_size(jpeg_bytes(40, 30)) == ("jpeg", 40, 30)
    for bad in (b"", b"GIF89a....", png_bytes()[:20], b"\xff\xd8\xff\xe0\x00\x10JFIF"):
        with pytest.raises(ValueError):
            image_size(bad)


def code_of(frames: list[bytes], limits: Limits = Limits()) -> ErrorCode:
    with pytest.raises(ProtocolError) as e:
        parse_request(frames, limits)
    return e.value.code


def test_each_bad_input_has_its_own_code() -> None:
    small = Limits(
        max_views=3, max_instruction_chars=20, max_pixels=50 * 50, max_message_bytes=100_000, max_header_bytes=50_000
    )
    assert code_of([]) == ErrorCode.BAD_FRAME
    assert code_of([b"\xc1garbage"]) == ErrorCode.BAD_FRAME
    assert code_of([msgpack.packb([1, 2, 3])]) == ErrorCode.BAD_FRAME
    assert code_of([msgpack.packb({"v": 99, "type": "ping", "id": "x"})]) == ErrorCode.UNSUPPORTED_VERSION
    assert code_of([msgpack.packb({"v": 1, "type": "launch", "id": "x"})]) == ErrorCode.UNKNOWN_TYPE
    assert code_of([msgpack.packb({"v": 1, "type": "ping"})]) == ErrorCode.BAD_MESSAGE
    assert code_of([msgpack.packb({"v": 1, "type": "ping", "id": 7})]) == ErrorCode.BAD_MESSAGE
    assert code_of(suggest_frames(instruction=5)) == ErrorCode.BAD_MESSAGE
    assert code_of(suggest_frames(views="all")) == ErrorCode.BAD_MESSAGE
    assert code_of(suggest_frames(4), small) == ErrorCode.TOO_MANY_VIEWS
    assert code_of(suggest_frames(instruction="x" * 21), small) == ErrorCode.INSTRUCTION_TOO_LONG
    assert code_of(suggest_frames(2), small) == ErrorCode.IMAGE_TOO_LARGE  # 64x48 > 50x50 pixels
    assert code_of(suggest_frames(1), Limits(max_scene_objects=2)) == ErrorCode.SCENE_TOO_LARGE
    assert code_of(suggest_frames(2)[:-1]) == ErrorCode.BLOB_MISMATCH
    assert code_of([*suggest_frames(1)[:1], b"not an image"]) == ErrorCode.BAD_IMAGE
    assert code_of([*suggest_frames(1)[:1], b"x" * 200_000], small) == ErrorCode.TOO_LARGE
    assert (
        code_of([msgpack.packb({"v": 1, "type": "ping", "id": "x", "pad": "y" * 60_000})], small) == ErrorCode.TOO_LARGE
    )
    assert code_of(suggest_frames(1, deadline_s=-1)) == ErrorCode.BAD_MESSAGE
    assert code_of(suggest_frames(1, extra="field")) == ErrorCode.BAD_MESSAGE
    assert code_of([*encode(p.Ping(id="x")), b"blob"]) == ErrorCode.BLOB_MISMATCH


def test_error_keeps_the_request_id_when_readable() -> None:
    with pytest.raises(ProtocolError) as e:
        parse_request(suggest_frames(2)[:-1])
    assert e.value.id == "r1"


def test_a_result_is_read_as_what_it_answers() -> None:
    """One decoder for every reply: a result with a plan is a SuggestResult, one with info an
    InfoResult; a result that is neither is refused, not read as an empty plan."""
    plan = {"reasoning": "", "suggestions": []}
    assert type(parse_reply([msgpack.packb({"type": "result", "id": "a", "plan": plan})])[0]) is p.SuggestResult
    pong = parse_reply([msgpack.packb({"type": "result", "id": "a", "info": {"pong": True, "time": 2.0}})])[0]
    assert type(pong) is p.InfoResult and pong.info == p.Pong(time=2.0)
    for header in ({"type": "result", "id": "a"}, {"type": "result", "id": "a", "plan": None}):
        with pytest.raises(ProtocolError) as e:
            parse_reply([msgpack.packb(header)])
        assert e.value.code == ErrorCode.BAD_MESSAGE and "plan" in e.value.message
    with pytest.raises(ProtocolError) as e:
        parse_reply([msgpack.packb({"type": "launch", "id": "a"})])
    assert e.value.code == ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("size", [(2048, 1), (1, 201), (400, 2), (2, 400)])
def test_an_image_shape_the_model_cannot_take_has_its_own_code(size: tuple[int, int]) -> None:
    """Qwen's processors refuse an aspect ratio over 200: that is the protocol's to say, before
    the engine sees it (it used to come back as engine_error for the whole batch)."""
    w, h = size
    header = msgpack.unpackb(suggest_frames(1)[0])
    header["views"][0].update(width=w, height=h)
    with pytest.raises(ProtocolError) as e:
        parse_request([msgpack.packb(header), png_bytes(w, h)])
    assert e.value.code == ErrorCode.BAD_GEOMETRY and f"{w}x{h}" in e.value.message and e.value.id == "r1"


def test_a_thin_image_under_the_ratio_passes() -> None:
    header = msgpack.unpackb(suggest_frames(1)[0])
    header["views"][0].update(width=199, height=1)
    assert parse_request([msgpack.packb(header), png_bytes(199, 1)])[0].views[0].width == 199


def test_pixels_and_bytes_are_bounded_per_request_not_only_per_image() -> None:
    """96 images each under the per-image limit can still ask the server to decode gigabytes."""
    limits = Limits(max_pixels=64 * 48, max_request_pixels=3 * 64 * 48)
    assert parse_request(suggest_frames(3), limits)[0].views
    assert code_of(suggest_frames(4), limits) == ErrorCode.IMAGE_TOO_LARGE
    assert "pixels" in str(pytest.raises(ProtocolError, parse_request, suggest_frames(4), limits).value)
    frames = suggest_frames(1)
    assert code_of([frames[0], frames[1] + b"\0" * 2000], Limits(max_image_bytes=1000)) == ErrorCode.TOO_LARGE
    assert p.request_pixels(suggest_frames(3)[1:]) == 3 * 64 * 48


def test_every_limit_comes_from_one_definition() -> None:
    limits = Limits()
    assert limits.max_frame_bytes <= limits.max_message_bytes  # the socket never holds more than a message
    assert limits.max_request_pixels <= limits.max_batch_pixels  # one request always fits a batch
    assert limits.max_instruction_chars == p.MAX_INSTRUCTION_CHARS
    bounds = p.Suggest.model_json_schema()["properties"]["max_suggestions"]
    assert (bounds["minimum"], bounds["maximum"], bounds["default"]) == (1, MAX_SUGGESTIONS, p.DEFAULT_SUGGESTIONS)
    with pytest.raises(ValidationError):
        p.Ping(id="x" * (p.MAX_ID_CHARS + 1))


@pytest.mark.parametrize(
    "endpoint, fix",
    [("localhost:5555", "tcp://localhost:5555"), ("", "tcp://HOST:PORT"), ("http://x:1", "tcp://"),
     ("tcp://localhost", "port"), ("tcp://:5555", "port"), ("tcp://h:99999", "port"), ("ipc://", "path")],
)  # fmt: skip
def test_an_endpoint_zeromq_cannot_use_is_refused_with_the_fix(endpoint: str, fix: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fix)):
        p.check_endpoint(endpoint)


def test_good_endpoints_pass() -> None:
    for endpoint in ("tcp://127.0.0.1:5555", "tcp://[::1]:5555", "tcp://*:5555", "ipc:///tmp/evlm.sock"):
        assert p.check_endpoint(endpoint) == endpoint


def test_the_reported_96_black_2048_pngs_are_refused_from_their_headers() -> None:
    """About 1.3 MB on the wire that decoded to 1.6 GB in the server: now refused before any
    decoding, from the image headers."""
    black = png_bytes(2048, 2048, (0, 0, 0))
    header = msgpack.unpackb(suggest_frames(1)[0])
    header["views"] = [{"width": 2048, "height": 2048}] * 96
    with pytest.raises(ProtocolError) as e:
        parse_request([msgpack.packb(header), *[black] * 96])
    assert e.value.code == ErrorCode.IMAGE_TOO_LARGE and "402653184 pixels" in e.value.message
