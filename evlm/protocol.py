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
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

from evlm.edits import MAX_SUGGESTIONS
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
    IMAGE_TOO_LARGE = "image_too_large"  # pixels per image, or per request, over the limit
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
    BAD_GEOMETRY = "bad_geometry"  # an image shape the model cannot take (aspect ratio over the limit)


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str, id: str | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.id = id


MAX_ID_CHARS = 64
MAX_INSTRUCTION_CHARS = 2000
DEFAULT_SUGGESTIONS = 3


@dataclass(frozen=True)
class Limits:
    """What the server accepts, checked before any work is done on a request; the one place each
    limit is defined (models, CLIs and clients read them from here)."""

    max_message_bytes: int = 64 << 20  # all frames of a message together
    max_header_bytes: int = 4 << 20  # frame 0
    max_image_bytes: int = 32 << 20  # one image blob: a 2048x2048 16-bit RGB PNG fits
    max_frames: int = 128
    max_views: int = 96  # e.g. 6 views x 16 animation frames
    max_references: int = 4
    max_pixels: int = 2048 * 2048  # per image
    max_request_pixels: int = 64 << 20  # all images of a request: what one request may make the server decode
    max_batch_pixels: int = 64 << 20  # decoded images the engine holds at once (one request always fits)
    max_aspect_ratio: float = 200.0  # long side / short side, refused at and above (Qwen's processors: > 200)
    max_instruction_chars: int = MAX_INSTRUCTION_CHARS
    max_scene_objects: int = 2000
    max_queue: int = 256  # requests in flight, all clients together
    max_client_queue: int = 64  # requests in flight from one client
    max_queued_bytes: int = 512 << 20  # bytes of the requests in flight, all clients together
    max_deadline_s: float = 600.0

    @property
    def max_frame_bytes(self) -> int:
        """The largest frame a request can need; the server's socket drops a connection that sends
        a bigger one (ZMQ_MAXMSGSIZE) before it is read into memory, so it gets no reply."""
        return min(self.max_message_bytes, max(self.max_header_bytes, self.max_image_bytes))


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]


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
    instruction: Annotated[str, Field(min_length=1)]  # at most Limits.max_instruction_chars
    scene: SceneGraph | None = None  # None: a plain image/video request (generative hand-off)
    views: list[View] = Field(min_length=1)
    references: list[Reference] = []
    max_suggestions: int = Field(default=DEFAULT_SUGGESTIONS, ge=1, le=MAX_SUGGESTIONS)
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


class SuggestResult(_Msg):
    """A suggest's answer."""

    type: Literal["result"] = "result"
    reasoning: str = ""  # the model's chain of thought
    # An EditPlan the server validated against the request's scene. Kept as data: each client
    # validates it against its own scene (`edits.validate_plan`) before using it.
    plan: dict[str, Any]
    timings: dict[str, float] = {}  # seconds
    tokens: dict[str, int] = {}


class Pong(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    pong: Literal[True] = True
    time: float  # the server's clock, seconds since the epoch


class ServerInfo(BaseModel):
    """What `info` tells any client: no file system paths, nothing of other clients' requests."""

    model_config = ConfigDict(extra="forbid")
    version: str  # the server's package version
    protocol: int = PROTOCOL_VERSION
    engine: str
    model: str | None  # the checkpoint's folder name, never its path; None without a model
    device: str
    max_batch: int
    healthy: bool  # the engine's worker is running
    queue: int  # requests waiting for the engine
    in_flight: int  # requests accepted and not answered yet
    limits: Limits
    details: dict[str, str | int | float | bool | None] = {}  # the engine's own figures (dtype, budgets, ...)


class InfoResult(_Msg):
    """A ping's or an info's answer."""

    type: Literal["result"] = "result"
    info: Pong | ServerInfo


class Error(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    v: int = PROTOCOL_VERSION
    type: Literal["error"] = "error"
    # The request this error ends. None when the id could not be read, or when the message was
    # refused without being a request of that id (`duplicate_id`; `unknown_id` for a cancel), so
    # that every id still gets exactly one final reply.
    id: str | None = None
    code: Annotated[ErrorCode, Field(strict=False)]  # arrives as a plain string
    message: str


def _reply_tag(reply: Any) -> str | None:
    """Which reply model a header is: its `type`, and for a result, what it answers."""
    if isinstance(reply, dict):
        kind, is_info = reply.get("type"), "info" in reply
    else:
        kind, is_info = getattr(reply, "type", None), isinstance(reply, InfoResult)
    if kind == "result":
        return "info_result" if is_info else "suggest_result"
    return kind if isinstance(kind, str) else None


# Every reply a client can get, read by one decoder (`parse_reply`).
Reply = Annotated[
    Annotated[Accepted, Tag("accepted")]
    | Annotated[Progress, Tag("progress")]
    | Annotated[SuggestResult, Tag("suggest_result")]
    | Annotated[InfoResult, Tag("info_result")]
    | Annotated[Error, Tag("error")],
    Discriminator(_reply_tag),
]
_REPLY: TypeAdapter[Reply] = TypeAdapter(Reply)

REQUESTS: dict[str, type[_Msg]] = {"suggest": Suggest, "cancel": Cancel, "ping": Ping, "info": Info}
REPLY_TYPES = ("accepted", "progress", "result", "error")
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
    rid = header.get("id") if isinstance(header.get("id"), str) and len(header["id"]) <= MAX_ID_CHARS else None
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
        raise ProtocolError(ErrorCode.BAD_MESSAGE, describe(e), rid) from None
    if isinstance(message, Suggest):
        _check_suggest(message, blobs, limits)
    return message, blobs


def parse_reply(frames: list[bytes]) -> tuple[Reply, list[bytes]]:
    """Parse a reply (client side) into its typed model. Raises ProtocolError on anything unexpected."""
    header = unpack_header(frames[0]) if frames else {}
    if header.get("type") not in REPLY_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown reply type {header.get('type')!r}")
    try:
        return _REPLY.validate_python(header), list(frames[1:])
    except ValidationError as e:
        rid = header.get("id") if isinstance(header.get("id"), str) else None
        raise ProtocolError(ErrorCode.BAD_MESSAGE, describe(e), rid) from None


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
    total = 0
    for i, blob in enumerate(blobs):
        what = f"view {i}" if i < len(msg.views) else f"reference {i - len(msg.views)}"
        if len(blob) > limits.max_image_bytes:
            raise ProtocolError(
                ErrorCode.TOO_LARGE, f"{what} is {len(blob)} bytes, limit {limits.max_image_bytes}", msg.id
            )
        try:
            _, w, h = image_size(blob)
        except ValueError as e:
            raise ProtocolError(ErrorCode.BAD_IMAGE, f"{what}: {e}", msg.id) from None
        if w * h > limits.max_pixels:
            raise ProtocolError(
                ErrorCode.IMAGE_TOO_LARGE, f"{what} is {w}x{h}, limit {limits.max_pixels} pixels", msg.id
            )
        if max(w, h) >= limits.max_aspect_ratio * min(w, h):
            raise ProtocolError(
                ErrorCode.BAD_GEOMETRY,
                f"{what} is {w}x{h}: its long side must be under {limits.max_aspect_ratio:g} times its short side",
                msg.id,
            )
        total += w * h
    if total > limits.max_request_pixels:
        raise ProtocolError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the request's {len(blobs)} images hold {total} pixels, limit {limits.max_request_pixels}",
            msg.id,
        )


def request_pixels(blobs: list[bytes]) -> int:
    """Pixels of a checked request's images (from their headers): what decoding them will hold."""
    return sum(w * h for _, w, h in map(image_size, blobs))


def describe(e: ValidationError) -> str:
    """A validation error in one line: where and what (at most 3), never the input's value."""
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


ENDPOINT_SCHEMES = ("tcp", "ipc")


def check_endpoint(endpoint: str) -> str:
    """The endpoint unchanged if ZeroMQ can use it (tcp://HOST:PORT or ipc://PATH), else a
    ValueError that says what is wrong (a missing scheme is the usual slip)."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValueError("the endpoint is empty: give tcp://HOST:PORT or ipc://PATH")
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        raise ValueError(f"endpoint {endpoint!r} has no scheme: did you mean tcp://{endpoint}?")
    if scheme not in ENDPOINT_SCHEMES:
        raise ValueError(f"endpoint {endpoint!r}: unknown scheme {scheme!r}, use tcp:// or ipc://")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"endpoint {endpoint!r} has no path: ipc:///tmp/evlm.sock, say")
        return endpoint
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not (port == "*" or (port.isdigit() and int(port) <= 65535)):
        raise ValueError(f"endpoint {endpoint!r} needs a host and a port: tcp://127.0.0.1:5555, say")
    return endpoint


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
