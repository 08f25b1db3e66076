#!/usr/bin/env python
"""Benchmark of the wire: EVLM (ZeroMQ multipart, msgpack header + raw PNG frames) against the framing
other Blender bridges use (one JSON document, images base64-encoded, length-prefixed over a plain TCP socket).

Same process, loopback, rounds interleaved across paths, warm-up excluded. Both servers do the same work: parse,
validate scene graph and views with the same pydantic models, decode the PNGs with the same function (except in
the "no decode" rows, on both sides), run NullEngine, send back the same SuggestResult. A round trip is timed from the
client's call to its parsed final reply. The headline row is the real server as the CLI builds it.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from evlm.client import Client, new_id
from evlm.protocol import Limits, Suggest, SuggestResult, encode
from evlm.scene import Camera, Light, Mark, Material, Modifier, SceneGraph, SceneObject, View
from evlm_server.engine.base import EngineRequest
from evlm_server.engine.null import NullEngine
from evlm_server.images import decode_image
from evlm_server.server import Server

INSTRUCTION = "Make the living room feel warmer and cosier in the evening, without moving the sofa."
TARGET_RATIO, TARGET_MS = 5.0, 5.0


# ------------------------------------------------------------------ payload
def render_view(i: int, size: int) -> bytes:
    """A render-like PNG: sky gradient, shaded spheres, sensor noise (deterministic per view)."""
    rng = np.random.default_rng(1000 + i)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.25 + 0.5 * y, 0.3 + 0.3 * x, 0.6 - 0.3 * y], axis=-1)
    for _ in range(6):
        cx, cy, r = rng.uniform(0.15, 0.85, 2).tolist() + [rng.uniform(0.06, 0.2)]
        d2 = ((x - cx) ** 2 + (y - cy) ** 2) / r**2
        inside = d2 < 1
        img[inside] = rng.uniform(0.1, 0.9, 3) * np.sqrt(1 - d2[inside])[:, None] + 0.05
    img += rng.normal(0.0, 0.008, img.shape)
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def build_scene() -> SceneGraph:
    mats = [Material(name=f"Mat_{i}", base_color=[0.1 * i, 0.5, 0.9 - 0.1 * i, 1.0], roughness=0.1 * i)
            for i in range(8)]  # fmt: skip
    objects = [
        SceneObject(name=f"Mesh_{i:02d}", location=[i * 0.5, -i * 0.25, 0.4], rotation=[0.0, 0.0, 0.1 * i],
                    dimensions=[1.0, 0.8, 0.8], bbox_min=[i * 0.5 - 0.5, -i * 0.25 - 0.4, 0.0],
                    bbox_max=[i * 0.5 + 0.5, -i * 0.25 + 0.4, 0.8], materials=[mats[i % 8].name],
                    modifiers=[Modifier(name="Bevel", type="BEVEL")] if i % 3 == 0 else [], mark=i + 1)
        for i in range(16)
    ]  # fmt: skip
    lights = [Light(name=f"Light_{i}", type=t, energy=500.0 + 100 * i) for i, t in enumerate(("AREA", "SPOT", "SUN"))]
    objects += [SceneObject(name=lt.name, type="LIGHT", location=[2.0, 2.0, 3.0 + i]) for i, lt in enumerate(lights)]
    objects.append(SceneObject(name="Camera", type="CAMERA", location=[7.0, -7.0, 5.0], rotation=[1.1, 0.0, 0.8]))
    return SceneGraph(objects=objects, materials=mats, lights=lights, cameras=[Camera(name="Camera")])


def build_views(n: int, size: int) -> list[tuple[View, bytes]]:
    marks = [Mark(index=k + 1, object=f"Mesh_{k:02d}", center=[0.05 + 0.05 * k, 0.5]) for k in range(16)]
    return [(View(label=f"orbit {i}", width=size, height=size, intrinsics=[size * 1.2, size * 1.2, size / 2, size / 2],
                  marks=marks), render_view(i, size)) for i in range(n)]  # fmt: skip


# ------------------------------------------------------------------ EVLM path
def start_evlm(server: Server) -> tuple[Client, Callable[[], None]]:
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    server.ready.wait(10)
    client = Client(server.bound_endpoint, timeout_s=30)

    def stop() -> None:
        client.close()
        server.stop()
        thread.join(10)

    return client, stop


# ------------------------------------------------------------------ baseline: JSON + base64 over TCP
def send_msg(sock: socket.socket, body: bytes) -> None:
    sock.sendall(struct.pack(">I", len(body)))
    sock.sendall(body)


def recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf, got = bytearray(n), 0
    while got < n:
        k = sock.recv_into(memoryview(buf)[got:])
        if not k:
            raise ConnectionError("peer closed")
        got += k
    return buf


def recv_msg(sock: socket.socket) -> bytearray:
    return recv_exact(sock, struct.unpack(">I", recv_exact(sock, 4))[0])


class JsonTcpServer:
    """A bridge-style server: JSON in, base64 images, same validation/decode/engine as the EVLM server, JSON out."""

    def __init__(self, decode: bool) -> None:
        self.decode, self.engine, self.limits = decode, NullEngine(), Limits()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        self.listener.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as ZeroMQ does
        with conn:
            while True:
                try:
                    doc = json.loads(recv_msg(conn))
                except ConnectionError:
                    return
                send_msg(conn, self._handle(doc))

    def _handle(self, doc: dict) -> bytes:
        scene = SceneGraph.model_validate(doc["scene"])
        views = [View.model_validate(v) for v in doc["views"]]
        blobs = [base64.b64decode(s, validate=True) for s in doc["images"]]
        images = [decode_image(b, self.limits.max_pixels) for b in blobs] if self.decode else []
        req = EngineRequest(id=doc["id"], instruction=doc["instruction"], scene=scene, views=views, images=images)
        (res,) = self.engine.run([req])
        return SuggestResult(id=doc["id"], reasoning=res.reasoning, plan=res.plan.model_dump(mode="json"),
                      timings=res.timings).model_dump_json().encode()  # fmt: skip


def baseline_request(views: list[tuple[View, bytes]], scene: SceneGraph) -> bytes:
    return json.dumps({
        "type": "suggest", "id": new_id(), "instruction": INSTRUCTION, "scene": scene.model_dump(mode="json"),
        "views": [v.model_dump(mode="json") for v, _ in views],
        "images": [base64.b64encode(b).decode("ascii") for _, b in views],
    }).encode()  # fmt: skip


def start_baseline(decode: bool) -> tuple[socket.socket, Callable[[], None]]:
    server = JsonTcpServer(decode)
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, sock.close


# ------------------------------------------------------------------ run
def start_paths(views: list[tuple[View, bytes]], scene: SceneGraph) -> list[tuple[str, str | None, Callable, Callable]]:
    """(name, name of the baseline row it is compared with, one round trip, stop) for every path."""
    paths = []
    for decode, tag in ((True, "decode"), (False, "no decode")):
        sock, stop = start_baseline(decode)

        def call(sock: socket.socket = sock) -> SuggestResult:
            send_msg(sock, baseline_request(views, scene))
            return SuggestResult.model_validate_json(recv_msg(sock))

        paths.append((f"baseline JSON+b64/TCP, {tag}", None, call, stop))
    bind = "tcp://127.0.0.1:0"
    servers = {  # the real server; an engine that needs no pixels lets it skip PNG decoding
        "EVLM, decode": (Server(NullEngine(), bind=bind), paths[0][0]),
        "EVLM, no decode": (Server(NullEngine(needs_pixels=False), bind=bind), paths[1][0]),
    }
    for name, (server, ref) in servers.items():
        client, stop = start_evlm(server)
        paths.append((name, ref, lambda client=client: client.suggest(INSTRUCTION, views, scene), stop))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=200, help="timed round trips per path (default 200)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed round trips per path first (default 10)")
    ap.add_argument("--views", type=int, default=6, help="views per request (default 6)")
    ap.add_argument("--size", type=int, default=512, help="view width and height in pixels (default 512)")
    ap.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    views, scene = build_views(args.views, args.size), build_scene()
    png_bytes, scene_bytes = sum(len(b) for _, b in views), len(scene.model_dump_json())
    payload = png_bytes + scene_bytes + len(INSTRUCTION.encode())
    msg = Suggest(id=new_id(), instruction=INSTRUCTION, scene=scene, views=[v for v, _ in views])
    wire = {"evlm": sum(len(f) for f in encode(msg, [b for _, b in views])),
            "baseline": 4 + len(baseline_request(views, scene))}  # fmt: skip
    print(
        f"payload: {args.views} views {args.size}x{args.size} PNG = {png_bytes:,} B ({png_bytes // args.views:,} B "
        f"each) + scene graph {len(scene.objects)} objects ({scene_bytes:,} B as JSON) + instruction = {payload:,} B"
    )
    print(
        f"request on the wire: EVLM {wire['evlm']:,} B (msgpack + raw frames), "
        f"baseline {wire['baseline']:,} B (JSON + base64, {wire['baseline'] / wire['evlm']:.2f}x)"
    )

    paths = start_paths(views, scene)
    replies = {name: call() for name, _, call, _ in paths}  # every path must answer with a plan before timing
    assert all(r.plan is not None for r in replies.values())
    times: dict[str, list[float]] = {name: [] for name, *_ in paths}
    for r in range(args.warmup + args.rounds):  # interleaved, so drift and noise hit every path alike
        for name, _, call, _ in paths:
            t0 = time.perf_counter()
            call()
            if r >= args.warmup:
                times[name].append((time.perf_counter() - t0) * 1e3)
    for *_, stop in paths:
        stop()

    reply_bytes = {
        "evlm": len(encode(replies[paths[2][0]])[0]),
        "baseline": len(replies[paths[0][0]].model_dump_json()),
    }
    print(
        f"reply: EVLM result {reply_bytes['evlm']:,} B msgpack (after a small `accepted`), "
        f"baseline {reply_bytes['baseline']:,} B JSON"
    )
    print(
        f"\n{args.rounds} round trips per path after {args.warmup} warm-up, interleaved; one process, loopback, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n"
    )
    hdr = f"{'path':<32} {'median ms':>9} {'p90 ms':>8} {'MB/s':>6} {'base/EVLM':>9}"
    hdr += f"  <{TARGET_MS:g} ms  >={TARGET_RATIO:g}x"
    print(hdr + "\n" + "-" * len(hdr))
    rows, yn = [], {True: "yes", False: "NO", None: "-"}
    for name, ref, *_ in paths:
        med, p90 = float(np.median(times[name])), float(np.percentile(times[name], 90))
        ratio = float(np.median(times[ref])) / med if ref else None
        rows.append(row := {"path": name, "median_ms": med, "p90_ms": p90, "mb_per_s": payload / med / 1e3,
                            "ratio_vs_baseline": ratio, "meets_latency": med < TARGET_MS if ref else None,
                            "meets_ratio": None if ratio is None else ratio >= TARGET_RATIO})  # fmt: skip
        print(
            f"{name:<32} {med:>9.2f} {p90:>8.2f} {row['mb_per_s']:>6.0f} {'-' if ratio is None else f'{ratio:.2f}x':>9}"
            f"  {yn[row['meets_latency']]:>6}  {yn[row['meets_ratio']]:>4}"
        )
    print(
        f"\nMB/s = payload bytes / median round trip. base/EVLM = median of the baseline row with the same decode "
        f"setting / this row's.\nTargets: EVLM >= {TARGET_RATIO:g}x faster than the baseline and < {TARGET_MS:g} ms "
        f"per round trip. The framing itself is compared by the 'no decode' rows; decoding (same function, both sides)"
        f"\nis the engine's pre-processing and is shown apart."
    )
    if args.json_out:
        figures = {"rounds": args.rounds, "warmup": args.warmup, "views": args.views, "size": args.size,
                   "payload_bytes": payload, "png_bytes": png_bytes, "scene_bytes": scene_bytes, "wire_bytes": wire,
                   "reply_bytes": reply_bytes, "targets": {"ratio": TARGET_RATIO, "ms": TARGET_MS},
                   "rows": rows}  # fmt: skip
        args.json_out.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
