"""A DEALER client for evlm-server: blocking `suggest()`, or `submit()` + `poll()` for UIs.

The Blender add-on calls `poll()` from a `bpy.app.timers` callback, so nothing here blocks unless
asked to and no thread is started. The server sends a keepalive `progress` every second to each
waiting request, so silence means trouble: a request not heard of for `timeout_s` ends with a
`timeout` event, and the socket is rebuilt (a fresh connection; stale replies are dropped).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from pydantic import BaseModel, ValidationError

from evlm.protocol import (
    DEFAULT_ENDPOINT,
    FINAL_REPLIES,
    Cancel,
    Error,
    ErrorCode,
    Info,
    InfoResult,
    Limits,
    Ping,
    ProtocolError,
    Reference,
    Reply,
    ServerInfo,
    Suggest,
    SuggestResult,
    check_endpoint,
    encode,
    parse_reply,
)
from evlm.scene import SceneGraph, View


class ServerError(Exception):
    """The server answered with an `error` reply."""

    def __init__(self, code: str, message: str, id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.id = id


class RequestTimeout(TimeoutError):
    """No word from the server about a request for too long."""


@dataclass
class Event:
    """One thing that happened to a request: a reply from the server, or a local timeout."""

    id: str
    type: str  # accepted | progress | result | error | timeout
    message: Reply | None = None  # None for a timeout

    @property
    def final(self) -> bool:
        return self.type in FINAL_REPLIES or self.type == "timeout"


@dataclass
class CurveKeys:
    """Client side of CURVE: the server's public key file and this client's secret key file."""

    server_public_file: Path
    client_secret_file: Path

    @classmethod
    def from_dir(cls, folder: Path) -> CurveKeys:
        """The keys `evlm-server keygen` wrote: server.key and the first clients/*.key_secret."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder}: no such folder (make one with `evlm-server keygen --dir {folder}`)")
        clients = sorted((folder / "clients").glob("*.key_secret"))
        if not clients:
            raise ValueError(f"no client secret key in {folder / 'clients'}")
        return cls(server_public_file=folder / "server.key", client_secret_file=clients[0])

    def load(self) -> tuple[bytes, bytes, bytes]:
        """(server public, client public, client secret). ValueError naming the file at fault."""
        server_public = _load_key(self.server_public_file, secret=False)[0]
        public, secret = _load_key(self.client_secret_file, secret=True)
        return server_public, public, secret


def _load_key(path: Path, secret: bool) -> tuple[bytes, bytes]:
    what = "secret key file (clients/NAME.key_secret)" if secret else "public key file (server.key)"
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable CURVE {what}: {e}") from None
    if secret and secret_key is None:
        raise ValueError(f"{path} holds no secret key: give this client's {what}")
    return public, secret_key


class Client:
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = 30.0,
        curve: CurveKeys | None = None,
        context: zmq.Context | None = None,
        limits: Limits = Limits(),
    ) -> None:
        """ValueError for an endpoint ZeroMQ cannot use or key files that do not load."""
        self.endpoint = check_endpoint(endpoint)
        self.timeout_s = timeout_s
        self.curve = curve
        self.limits = limits  # sizes the server's socket would drop unanswered are refused here
        self._keys = curve.load() if curve is not None else None
        self._ctx = context or zmq.Context.instance()
        self._last_heard: dict[str, float] = {}
        self._socket = self._connect()

    def _connect(self) -> zmq.Socket:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        if self._keys is not None:
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self._keys
        sock.connect(self.endpoint)
        return sock

    def reconnect(self) -> None:
        """Drop the connection and whatever it still had queued; start a fresh one."""
        self._socket.close(linger=0)
        self._socket = self._connect()

    def close(self) -> None:
        self._socket.close(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ non-blocking
    def submit(self, message: BaseModel, blobs: list[bytes] = ()) -> str:
        """Send a request; its id is the key of the events `poll()` returns for it.

        ValueError if a request with that id is still in flight (its events would mix);
        ProtocolError `too_large` for a message the server's limits would refuse by its size.
        """
        if message.id in self._last_heard:
            raise ValueError(f"request {message.id!r} is still in flight: every request needs its own id")
        frames = encode(message, blobs)
        self._check_size(frames)
        self._socket.send_multipart(frames, copy=False)
        self._last_heard[message.id] = time.monotonic()
        return message.id

    def _check_size(self, frames: list[bytes]) -> None:
        limits, total = self.limits, sum(len(f) for f in frames)
        if len(frames[0]) > limits.max_header_bytes:
            why = f"its header is {len(frames[0])} bytes, limit {limits.max_header_bytes}"
        elif any(len(f) > limits.max_image_bytes for f in frames[1:]):
            why = f"an image is {max(len(f) for f in frames[1:])} bytes, limit {limits.max_image_bytes}"
        elif total > limits.max_message_bytes:
            why = f"it is {total} bytes, limit {limits.max_message_bytes}"
        else:
            return
        raise ProtocolError(ErrorCode.TOO_LARGE, f"request not sent: {why}")

    def submit_suggest(
        self,
        instruction: str,
        views: list[tuple[View, bytes]],
        scene: SceneGraph | None = None,
        references: list[bytes] = (),
        max_suggestions: int = 3,
        deadline_s: float | None = None,
        stream: bool = False,
    ) -> str:
        msg = Suggest(
            id=new_id(),
            instruction=instruction,
            scene=scene,
            views=[v for v, _ in views],
            references=[Reference() for _ in references],
            max_suggestions=max_suggestions,
            deadline_s=deadline_s,
            stream=stream,
        )
        return self.submit(msg, [img for _, img in views] + list(references))

    def cancel(self, request_id: str) -> None:
        """Ask the server to drop a request; its final event will be an error `cancelled`."""
        self._socket.send_multipart(encode(Cancel(id=request_id)))

    def poll(self, timeout_ms: int = 0) -> list[Event]:
        """Everything that arrived (waiting at most `timeout_ms` for the first), plus timeouts."""
        events: list[Event] = []
        if self._socket.poll(timeout_ms, zmq.POLLIN):
            while True:
                try:
                    frames = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    msg, _ = parse_reply(frames)
                except ProtocolError:
                    continue  # not from a server speaking our protocol: ignore
                rid = msg.id
                if rid not in self._last_heard:
                    continue  # a late reply to something already finished or timed out
                events.append(Event(id=rid, type=msg.type, message=msg))
                if msg.type in FINAL_REPLIES:
                    del self._last_heard[rid]
                else:
                    self._last_heard[rid] = time.monotonic()
        now = time.monotonic()
        if any(now - t > self.timeout_s for t in self._last_heard.values()):
            # The server keeps every waiting request alive each second, so this silence means the
            # connection is gone. A fresh socket is a new identity: no reply of the old one can
            # reach it, so every request in flight ends here.
            events += [Event(id=rid, type="timeout") for rid in self._last_heard]
            self._last_heard.clear()
            self.reconnect()
        return events

    @property
    def in_flight(self) -> list[str]:
        return list(self._last_heard)

    # ------------------------------------------------------------------ blocking
    def wait(self, request_id: str, on_event=None) -> SuggestResult | InfoResult:  # noqa: ANN001
        """Block until the request's final reply. Raises ServerError or RequestTimeout."""
        while True:
            for event in self.poll(100):
                if event.id != request_id:
                    continue
                if on_event is not None:
                    on_event(event)
                if event.type == "result":
                    return event.message
                if event.type == "error":
                    err: Error = event.message
                    raise ServerError(err.code.value, err.message, err.id)
                if event.type == "timeout":
                    raise RequestTimeout(
                        f"no answer from {self.endpoint} for {self.timeout_s:g} s: is evlm-server running?"
                    )

    def suggest(
        self, instruction: str, views: list[tuple[View, bytes]], scene: SceneGraph | None = None, on_event=None, **kw
    ) -> SuggestResult:  # noqa: ANN001
        """Ask for suggestions and wait for them."""
        return self._expect(self.wait(self.submit_suggest(instruction, views, scene, **kw), on_event), SuggestResult)

    def ping(self) -> float:
        """Round-trip time in seconds."""
        t0 = time.perf_counter()
        self._expect(self.wait(self.submit(Ping(id=new_id()))), InfoResult)
        return time.perf_counter() - t0

    def info(self) -> ServerInfo:
        info = self._expect(self.wait(self.submit(Info(id=new_id()))), InfoResult).info
        if not isinstance(info, ServerInfo):
            raise ServerError(ErrorCode.BAD_MESSAGE.value, "the server answered info with a pong")
        return info

    @staticmethod
    def _expect(result: SuggestResult | InfoResult, kind: type) -> SuggestResult | InfoResult:
        if not isinstance(result, kind):
            raise ServerError(ErrorCode.BAD_MESSAGE.value, f"expected a {kind.__name__}, got a {type(result).__name__}")
        return result


def new_id() -> str:
    return uuid.uuid4().hex


def load_views(folder: Path) -> list[tuple[View, bytes]]:
    """Views from a folder: *.png / *.jpg images, each with an optional same-named .json View.

    Without a .json, the view's size is read from the image header.
    """
    from evlm.protocol import describe, image_size

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise FileNotFoundError(f"no .png or .jpg views in {folder}")
    views = []
    for path in files:
        blob = path.read_bytes()
        try:
            _, w, h = image_size(blob)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        meta = path.with_suffix(".json")
        if meta.exists():
            try:
                view = View.model_validate_json(meta.read_bytes())
            except ValidationError as e:
                raise ValueError(f"{meta}: not a view description: {describe(e)}") from None
        else:
            view = View(label=path.stem, width=w, height=h)
        views.append((view, blob))
    return views
