"""Wire protocol v1: framing, every message type, limits and their error codes; import purity."""

from __future__ import annotations

import msgpack
import pytest

from evlm import protocol as p
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


@pytest.mark.parametrize(
    "msg",
    [
        p.Accepted(id="a", queue_position=3),
        p.Progress(id="a", stage="reasoning", text="the user wants"),
        p.Result(id="a", reasoning="...", plan={"reasoning": "r", "suggestions": []}, timings={"total": 1.5}),
        p.Result(id="a", info={"pong": True}),
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
