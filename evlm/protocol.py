"""Wire protocol v1 between clients (the Blender add-on, batch, CLI) and evlm-server (pure Python).

Every message is multipart: frame 0 is a msgpack map (the header), frames 1..n are raw image
blobs (PNG or JPEG bytes, never base64, never pickle). The header carries `v`, `type`, `id` and
the type's fields. Requests: suggest, cancel, ping, info. Replies: accepted, progress, result,
error. A suggest's blobs are its views' images in order, then its reference images.

Everything a peer sends is checked here, before any work: sizes, counts, types, image headers.
A failure is a `ProtocolError` whose `code` is one of `ErrorCode` and never changes meaning.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evlm.scene import SceneGraph, View

PROTOCOL_VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"  # frame 0 is not a msgpack map
    BAD_MESSAGE = "bad_message"  # a field is missing, of the wrong type or out of range
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"  # message or header over its byte limit
    TOO_MANY_VIEWS = "too_many_views"
    IMAGE_TOO_LARGE = "image_too_large"  # pixels per view over the limit
    BAD_IMAGE = "bad_image"  # not a PNG/JPEG, or corrupt
    BLOB_MISMATCH = "blob_mismatch"  # number of blobs differs from views + references
    INSTRUCTION_TOO_LONG = "instruction_too_long"
    SCENE_TOO_LARGE = "scene_too_large"
    DUPLICATE_ID = "duplicate_id"  # a request with this id is still in flight
    UNKNOWN_ID = "unknown_id"  # cancel of a request that is not in flight
    OVERLOADED = "overloaded"  # queue full: retry later
    CANCELLED = "cancelled"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INVALID_PLAN = "invalid_plan"  # the model's answer failed validation
    ENGINE_ERROR = "engine_error"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"
    PROMPT_TOO_LONG = "prompt_too_long"  # the prompt's tokens + the answer budget exceed the model's context


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str, id: str | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.id = id


@dataclass(frozen=True)
class Limits:
    """What the server accepts. Checked before any work is done on a request."""

    max_message_bytes: int = 64 << 20  # also set as ZMQ_MAXMSGSIZE (per frame)
    max_header_bytes: int = 4 << 20
    max_frames: int = 128
    max_views: int = 96  # e.g. 6 views x 16 animation frames
    max_references: int = 4
    max_pixels: int = 2048 * 2048  # per image
    max_instruction_chars: int = 2000
    max_scene_objects: int = 2000
    max_queue: int = 256
    max_deadline_s: float = 600.0


Id = Annotated[str, Field(min_length=1, max_length=64)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    v: int = PROTOCOL_VERSION
    id: Id


class Reference(BaseModel):
    """A reference image: what the user wants it to look like."""

    model_config = ConfigDict(extra="forbid", strict=True)
    note: Annotated[str, Field(max_length=200)] = ""


# ------------------------------------------------------------------ requests
class Suggest(_Msg):
    type: Literal["suggest"] = "suggest"
    instruction: Annotated[str, Field(min_length=1)]
    scene: SceneGraph | None = None  # None: a plain image/video request (generative hand-off)
    views: list[View] = Field(min_length=1)
    references: list[Reference] = []
    max_suggestions: int = Field(default=3, ge=1, le=5)
    deadline_s: Annotated[float, Field(gt=0)] | None = None  # server drops the work after this
    stream: bool = False  # send reasoning text as `progress` while it is generated


class Cancel(_Msg):
    type: Literal["cancel"] = "cancel"


class Ping(_Msg):
    type: Literal["ping"] = "ping"


class Info(_Msg):
    type: Literal["info"] = "info"


# ------------------------------------------------------------------ replies
class Accepted(_Msg):
    type: Literal["accepted"] = "accepted"
    queue_position: int = 0


class Progress(_Msg):
    type: Literal["progress"] = "progress"
    stage: Literal["queued", "reasoning", "answer"]
    text: str = ""  # new reasoning/answer text since the last progress
    queue_position: int = 0


class Result(_Msg):
    type: Literal["result"] = "result"
    reasoning: str = ""  # the model's chain of thought
    plan: dict[str, Any] | None = None  # an EditPlan, validated against the request's scene
    info: dict[str, Any] | None = None  # for info and ping
    timings: dict[str, float] = {}
    tokens: dict[str, int] = {}


class Error(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    v: int = PROTOCOL_VERSION
    type: Literal["error"] = "error"
    id: str | None = None  # None when the request's id could not be read
    code: Annotated[ErrorCode, Field(strict=False)]  # arrives as a plain string
    message: str


REQUESTS: dict[str, type[_Msg]] = {"suggest": Suggest, "cancel": Cancel, "ping": Ping, "info": Info}
REPLIES: dict[str, type[BaseModel]] = {
    "accepted": Accepted, "progress": Progress, "result": Result, "error": Error,
}  # fmt: skip
FINAL_REPLIES = frozenset({"result", "error"})


# ------------------------------------------------------------------ framing
def encode(message: BaseModel, blobs: list[bytes] = ()) -> list[bytes]:
    """A message as the frames to send: msgpack header, then the raw blobs."""
    header = message.model_dump(mode="json", exclude_none=False)
    return [msgpack.packb(header, use_bin_type=True), *(bytes(b) for b in blobs)]


def unpack_header(frame: bytes, limits: Limits = Limits()) -> dict[str, Any]:
    """Frame 0 as a dict, with msgpack's own size limits so a hostile frame cannot blow up memory."""
    if len(frame) > limits.max_header_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"header is {len(frame)} bytes, limit {limits.max_header_bytes}")
    n = limits.max_header_bytes
    try:
        header = msgpack.unpackb(
            frame, raw=False, strict_map_key=True, use_list=True,
            max_str_len=n, max_bin_len=n, max_array_len=n // 2, max_map_len=n // 2, max_ext_len=0,
        )  # fmt: skip
    except Exception as e:  # msgpack raises a zoo of types on garbage; all mean the same here
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame 0 is not valid msgpack ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame 0 must be a msgpack map, got {type(header).__name__}")
    return header


def parse_request(frames: list[bytes], limits: Limits = Limits()) -> tuple[_Msg, list[bytes]]:
    """Check and parse a request's frames. Raises ProtocolError (with the id when it was readable)."""
    if not frames:
        raise ProtocolError(ErrorCode.BAD_FRAME, "empty message")
    header = unpack_header(frames[0], limits)  # bounded on its own, and it names the request
    rid = header.get("id") if isinstance(header.get("id"), str) and len(header["id"]) <= 64 else None
    total = sum(len(f) for f in frames)
    if total > limits.max_message_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message is {total} bytes, limit {limits.max_message_bytes}", rid)
    if len(frames) > limits.max_frames:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"{len(frames)} frames, limit {limits.max_frames}", rid)
    v = header.get("v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION, f"protocol version {v!r}; this server speaks {PROTOCOL_VERSION}", rid
        )
    kind = header.get("type")
    cls = REQUESTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown request type {kind!r}; known: {', '.join(REQUESTS)}", rid)
    blobs = list(frames[1:])
    if cls is Suggest:
        _precheck_suggest(header, blobs, limits, rid)
    elif blobs:
        raise ProtocolError(ErrorCode.BLOB_MISMATCH, f"a {kind} request carries no blobs, got {len(blobs)}", rid)
    try:
        message = cls.model_validate(header)
    except ValidationError as e:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, _describe(e), rid) from None
    if isinstance(message, Suggest):
        _check_suggest(message, blobs, limits)
    return message, blobs


def parse_reply(frames: list[bytes]) -> tuple[BaseModel, list[bytes]]:
    """Parse a reply (client side). Raises ProtocolError on anything unexpected."""
    header = unpack_header(frames[0]) if frames else {}
    cls = REPLIES.get(header.get("type"))
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown reply type {header.get('type')!r}")
    try:
        return cls.model_validate(header), list(frames[1:])
    except ValidationError as e:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, _describe(e), header.get("id")) from None


def _precheck_suggest(header: dict, blobs: list[bytes], limits: Limits, rid: str | None) -> None:
    """Cheap checks with their own codes, before the full model validation."""
    instruction, views, refs = header.get("instruction"), header.get("views"), header.get("references", [])
    if isinstance(instruction, str) and len(instruction) > limits.max_instruction_chars:
        raise ProtocolError(
            ErrorCode.INSTRUCTION_TOO_LONG,
            f"instruction has {len(instruction)} characters, limit {limits.max_instruction_chars}", rid,
        )  # fmt: skip
    if isinstance(views, list) and len(views) > limits.max_views:
        raise ProtocolError(ErrorCode.TOO_MANY_VIEWS, f"{len(views)} views, limit {limits.max_views}", rid)
    if isinstance(refs, list) and len(refs) > limits.max_references:
        raise ProtocolError(
            ErrorCode.TOO_MANY_VIEWS, f"{len(refs)} reference images, limit {limits.max_references}", rid
        )
    scene = header.get("scene")
    if isinstance(scene, dict) and isinstance(scene.get("objects"), list):
        if len(scene["objects"]) > limits.max_scene_objects:
            raise ProtocolError(
                ErrorCode.SCENE_TOO_LARGE,
                f"scene graph has {len(scene['objects'])} objects, limit {limits.max_scene_objects}", rid,
            )  # fmt: skip


def _check_suggest(msg: Suggest, blobs: list[bytes], limits: Limits) -> None:
    expected = len(msg.views) + len(msg.references)
    if len(blobs) != expected:
        raise ProtocolError(
            ErrorCode.BLOB_MISMATCH,
            f"{len(msg.views)} views + {len(msg.references)} references need {expected} blobs, got {len(blobs)}",
            msg.id,
        )
    if len(msg.instruction) > limits.max_instruction_chars:  # the precheck saw a non-str; keep it exact
        raise ProtocolError(ErrorCode.INSTRUCTION_TOO_LONG, "instruction too long", msg.id)
    if msg.deadline_s is not None and msg.deadline_s > limits.max_deadline_s:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"deadline_s over {limits.max_deadline_s}", msg.id)
    for i, blob in enumerate(blobs):
        what = f"view {i}" if i < len(msg.views) else f"reference {i - len(msg.views)}"
        try:
            _, w, h = image_size(blob)
        except ValueError as e:
            raise ProtocolError(ErrorCode.BAD_IMAGE, f"{what}: {e}", msg.id) from None
        if w * h > limits.max_pixels:
            raise ProtocolError(
                ErrorCode.IMAGE_TOO_LARGE, f"{what} is {w}x{h}, limit {limits.max_pixels} pixels", msg.id
            )


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


# ------------------------------------------------------------------ image headers (no decoder needed)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_size(blob: bytes) -> tuple[str, int, int]:
    """(format, width, height) read from a PNG or JPEG header. ValueError if it is neither.

    Pure Python so the add-on (no PIL in Blender) and the server's pre-check share it; the
    server still fully decodes images later, which catches corrupt bodies.
    """
    if blob[:8] == PNG_MAGIC:
        if len(blob) < 24 or blob[12:16] != b"IHDR":
            raise ValueError("truncated PNG header")
        w, h = struct.unpack(">II", blob[16:24])
        if w == 0 or h == 0:
            raise ValueError("PNG with zero size")
        return "png", w, h
    if blob[:2] == b"\xff\xd8":
        return ("jpeg", *_jpeg_size(blob))
    raise ValueError("not a PNG or JPEG image")


def _jpeg_size(blob: bytes) -> tuple[int, int]:
    i = 2
    while i + 4 <= len(blob):
        if blob[i] != 0xFF:
            raise ValueError("corrupt JPEG marker")
        marker = blob[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", blob[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            if i + 9 > len(blob):
                break
            h, w = struct.unpack(">HH", blob[i + 5 : i + 9])
            if w == 0 or h == 0:
                raise ValueError("JPEG with zero size")
            return w, h
        if length < 2:
            raise ValueError("corrupt JPEG segment")
        i += 2 + length
    raise ValueError("truncated JPEG: no frame header")


def is_local_endpoint(endpoint: str) -> bool:
    """Loopback TCP, ipc:// and inproc:// stay on this machine; anything else reaches the network."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = urlsplit(f"//{rest}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
