"""Shared fixtures: a sample scene, view images, and a server on a free loopback port."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from evlm.scene import (
    Animation,
    Camera,
    Channel,
    Keyframe,
    Light,
    Material,
    Modifier,
    ObjectAnimation,
    SceneGraph,
    SceneObject,
    View,
)  # fmt: skip


def png_bytes(w: int = 64, h: int = 48, color: tuple[int, int, int] = (180, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(w: int = 40, h: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


def make_scene() -> SceneGraph:
    return SceneGraph(
        objects=[
            SceneObject(name="Cube", location=[0, 0, 1], dimensions=[2, 2, 2], materials=["Red"],
                        modifiers=[Modifier(name="Bevel", type="BEVEL")], mark=1),
            SceneObject(name="chair_02", location=[3, 0, 0.5], materials=["Wood"], mark=2),
            SceneObject(name="Lamp", type="LIGHT", location=[2, 2, 4]),
            SceneObject(name="Camera", type="CAMERA", location=[7, -7, 5]),
        ],
        materials=[Material(name="Red", base_color=[0.8, 0.1, 0.1, 1]), Material(name="Wood")],
        lights=[Light(name="Lamp", type="POINT", energy=800)],
        cameras=[Camera(name="Camera", focal_length=50)],
        animation=Animation(frame_start=1, frame_end=48, objects=[
            ObjectAnimation(object="Cube", channels=[Channel(path="location", index=2, keyframes=[
                Keyframe(frame=1, value=1), Keyframe(frame=24, value=3), Keyframe(frame=48, value=1)])]),
        ]),
    )  # fmt: skip


@pytest.fixture
def scene() -> SceneGraph:
    return make_scene()


@pytest.fixture(scope="session")
def png() -> bytes:
    return png_bytes()


def views(n: int = 6, w: int = 64, h: int = 48) -> list[tuple[View, bytes]]:
    blob = png_bytes(w, h)
    return [(View(label=f"orbit {i}", width=w, height=h), blob) for i in range(n)]


class RunningServer:
    """A Server in a thread, stopped (and checked to stop) at the end of the test."""

    def __init__(self, engine, **kw) -> None:  # noqa: ANN001
        from evlm_server.server import Server

        kw.setdefault("bind", "tcp://127.0.0.1:0")
        self.server = Server(engine, **kw)
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        assert self.server.ready.wait(10), "server did not start"
        self.endpoint = self.server.bound_endpoint

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "server did not stop"


@pytest.fixture
def serve():
    """Factory: serve(engine, **server_kwargs) -> RunningServer."""
    started: list[RunningServer] = []

    def start(engine, **kw) -> RunningServer:  # noqa: ANN001
        s = RunningServer(engine, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
