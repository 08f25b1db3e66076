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
from pydantic import BaseModel

from evlm.protocol import (
    DEFAULT_ENDPOINT,
    FINAL_REPLIES,
    Cancel,
    Error,
    Info,
    Ping,
    ProtocolError,
    Reference,
    Result,
    Suggest,
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
    message: BaseModel | None = None

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
        clients = sorted((Path(folder) / "clients").glob("*.key_secret"))
        if not clients:
            raise FileNotFoundError(f"no client secret key in {Path(folder) / 'clients'}")
        return cls(server_public_file=Path(folder) / "server.key", client_secret_file=clients[0])


class Client:
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = 30.0,
        curve: CurveKeys | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.curve = curve
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
        if self.curve is not None:
            server_public, _ = zmq.auth.load_certificate(str(self.curve.server_public_file))
            public, secret = zmq.auth.load_certificate(str(self.curve.client_secret_file))
            if secret is None:
                raise ValueError(f"{self.curve.client_secret_file} holds no secret key")
            sock.curve_serverkey = server_public
            sock.curve_publickey = public
            sock.curve_secretkey = secret
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
        """Send a request; its id is the key of the events `poll()` returns for it."""
        self._socket.send_multipart(encode(message, blobs), copy=False)
        self._last_heard[message.id] = time.monotonic()
        return message.id

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
                rid = getattr(msg, "id", None)
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
    def wait(self, request_id: str, on_event=None) -> Result:  # noqa: ANN001
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
    ) -> Result:  # noqa: ANN001
        """Ask for suggestions and wait for them."""
        return self.wait(self.submit_suggest(instruction, views, scene, **kw), on_event)

    def ping(self) -> float:
        """Round-trip time in seconds."""
        t0 = time.perf_counter()
        self.wait(self.submit(Ping(id=new_id())))
        return time.perf_counter() - t0

    def info(self) -> dict:
        return self.wait(self.submit(Info(id=new_id()))).info or {}


def new_id() -> str:
    return uuid.uuid4().hex


def load_views(folder: Path) -> list[tuple[View, bytes]]:
    """Views from a folder: *.png / *.jpg images, each with an optional same-named .json View.

    Without a .json, the view's size is read from the image header.
    """
    from evlm.protocol import image_size

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
            view = View.model_validate_json(meta.read_text())
        else:
            view = View(label=path.stem, width=w, height=h)
        views.append((view, blob))
    return views
