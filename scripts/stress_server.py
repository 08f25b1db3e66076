"""Stress the server: many clients at once, mixing valid, hostile and oversized requests.

A real evlm-server process (the null engine with simulated model time, so what is measured is
the server) takes N clients for T seconds. Each client sends one thing at a time, chosen at
random: valid suggests, pings and infos; garbage frames, wrong field types, duplicate ids,
cancels, bad image shapes and bodies, too many pixels, tiny deadlines, headers that validate
slowly; messages over the size limit, frames over the socket's limit, and clients that vanish
with a request in flight. Every reply is checked against what was sent:

- lost: a request with no final reply (result or error) by the end;
- duplicated: a second final reply for one id;
- misrouted: a reply for an id the client never sent, or a result that is not the answer to
  its request (the null engine echoes the instruction);
- unexpected: a final reply other than the ones the request allows.

Two phases, each on its own server process: valid requests only (the baseline), then the mix.
Printed per phase: requests by kind, the four counts above, valid requests' latency against
their deadline, and the server's resident memory (idle, peak: VmHWM).

    .venv/bin/python scripts/stress_server.py --clients 64 --seconds 60
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evlm.protocol import Limits  # noqa: E402

VALID_DEADLINE_S = 30.0
LIMITS = Limits()

# kind -> weight in the mix
MIX = {
    "valid": 40, "ping": 4, "info": 3, "garbage": 5, "wrong_type": 5, "duplicate": 4, "cancel_unknown": 3,
    "cancel_inflight": 4, "geometry": 3, "too_many_pixels": 2, "bad_image": 3, "deadline": 3, "heavy_header": 2,
    "oversized_message": 1, "oversized_frame": 1, "vanish": 2,
}  # fmt: skip
BASELINE = {"valid": 1}
# What a message that starts no request of its id is refused with (garbage, duplicates, cancels).
ANONYMOUS_CODES = {"bad_frame", "bad_message", "unknown_type", "unsupported_version", "too_large", "blob_mismatch",
                   "duplicate_id", "unknown_id"}  # fmt: skip


@dataclass
class Tally:
    kinds: Counter = field(default_factory=Counter)
    finals: int = 0
    lost: int = 0
    duplicated: int = 0
    misrouted: int = 0
    unexpected: list = field(default_factory=list)
    anonymous_expected: int = 0  # refusals that carry no id (duplicate_id, unknown_id, garbage)
    anonymous_got: int = 0
    dropped_ok: int = 0  # frames over the socket limit that got no reply, as they should
    latencies: list = field(default_factory=list)  # valid suggests: seconds to the final reply
    late: int = 0  # valid suggests answered after their deadline
    lost_kinds: Counter = field(default_factory=Counter)  # what the lost ones were, and if accepted
    disconnects: int = 0  # of the clients' own connections (heartbeats missed under load, say)

    def merge(self, other: Tally) -> None:
        self.kinds += other.kinds
        self.lost_kinds += other.lost_kinds
        for name in ("finals", "lost", "duplicated", "misrouted", "anonymous_expected", "anonymous_got",
                     "dropped_ok", "late", "disconnects"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unexpected += other.unexpected
        self.latencies += other.latencies


def _png(w: int, h: int, color: tuple[int, int, int] = (120, 80, 40)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def _view(w: int = 64, h: int = 48) -> dict:
    return {"label": "", "width": w, "height": h}


def _suggest(rid: str, instruction: str, n_views: int, w: int = 64, h: int = 48, **fields) -> dict:
    scene = {"objects": [{"name": "Cube"}, {"name": "Lamp", "type": "LIGHT"}]}
    return {"v": 1, "type": "suggest", "id": rid, "instruction": instruction, "scene": scene,
            "views": [_view(w, h) for _ in range(n_views)], "references": [], "max_suggestions": 3,
            "deadline_s": VALID_DEADLINE_S, "stream": False, **fields}  # fmt: skip


class Blobs:
    """Images built once per client process."""

    def __init__(self) -> None:
        self.small = _png(64, 48)
        self.thin = _png(2048, 1)
        self.big = _png(2048, 2048, (0, 0, 0))  # about 12 KB on the wire, 12 MB decoded
        self.corrupt = self.small[:40] + b"\0" * 30  # a valid header, a broken body
        self.near_frame = b"\x89PNG" + b"\0" * (LIMITS.max_image_bytes - 1024)  # under the frame limit
        self.over_frame = b"\x89PNG" + b"\0" * (LIMITS.max_frame_bytes + 1024)
        objects = [
            {"name": f"obj_{i}_" + "x" * 200, "materials": [f"m{j}" * 20 for j in range(10)]} for i in range(2000)
        ]
        self.heavy_scene = {"objects": objects}


class Expect:
    def __init__(self, kind: str, codes: set[str], instruction: str | None = None, valid: bool = False) -> None:
        self.kind, self.codes, self.instruction, self.valid = kind, codes, instruction, valid
        self.sent = time.monotonic()
        self.finals = 0
        self.accepted = False
        self.requests = 1  # a duplicate read after the first one's final reply is a request of its own


class StressClient:
    def __init__(self, endpoint: str, seed: int, blobs: Blobs, mix: dict[str, int], tally: Tally) -> None:
        self.endpoint, self.rng, self.blobs, self.tally = endpoint, random.Random(seed), blobs, tally
        self.kinds, self.weights = list(mix), list(mix.values())
        self.ctx = zmq.Context.instance()
        self.sock = self._socket()
        self.monitor = self.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)
        self.expect: dict[str, Expect] = {}
        self.waiting = 0  # expected final replies not come yet
        self.anonymous_pending = 0

    def _socket(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        return sock

    def run(self, until: float) -> None:
        try:
            self._run(until)
        except Exception as e:  # a bug of this script must show in the figures, not vanish with its thread
            self.tally.unexpected.append(("client crashed", type(e).__name__, str(e)[:80]))

    def _run(self, until: float) -> None:
        while time.monotonic() < until:
            kind = self.rng.choices(self.kinds, self.weights)[0]
            self.tally.kinds[kind] += 1
            getattr(self, f"_{kind}")()
            self._wait(time.monotonic() + VALID_DEADLINE_S + 5)
            self.waiting = self.anonymous_pending = 0  # what did not come is counted at the end
        self._wait(time.monotonic() + 2, all_done=False)  # stragglers: duplicates would show here
        for e in self.expect.values():
            if e.finals < e.requests:
                self.tally.lost += e.requests - e.finals
                self.tally.lost_kinds[f"{e.kind} ({'accepted' if e.accepted else 'never accepted'})"] += 1
        self.sock.disable_monitor()
        self.monitor.close()
        self.sock.close()

    # ------------------------------------------------------------------ reading replies
    def _wait(self, until: float, all_done: bool = True) -> None:
        """Read replies until every expected final came (or `until`)."""
        while time.monotonic() < until:
            if all_done and self.waiting <= 0 and self.anonymous_pending <= 0:
                return
            events = dict(self.poller.poll(50))
            if self.monitor in events:
                self.monitor.recv_multipart()
                self.tally.disconnects += 1
            if self.sock in events:
                self._on_reply(msgpack.unpackb(self.sock.recv_multipart()[0]))

    def _on_reply(self, header: dict) -> None:
        kind, rid = header.get("type"), header.get("id")
        if rid is None:
            self.tally.anonymous_got += 1
            self.anonymous_pending -= 1
            if kind != "error" or header.get("code") not in ANONYMOUS_CODES:
                self.tally.unexpected.append(("anonymous", kind, header.get("code")))
            return
        expect = self.expect.get(rid)
        if expect is None:
            self.tally.misrouted += 1
            return
        expect.accepted |= kind == "accepted"
        if kind == "accepted" and expect.finals == expect.requests:
            # The server read the second copy of a duplicate only after the first one ended (a
            # slow message of another client came between them): a new request with that id,
            # which gets its own final reply instead of a `duplicate_id` refusal.
            if expect.kind != "duplicate":
                self.tally.unexpected.append((expect.kind, "accepted after its final reply", ""))
            expect.requests += 1
            self.waiting += 1
            self.anonymous_pending -= 1
            self.tally.anonymous_expected -= 1
        if kind not in ("result", "error"):
            return  # accepted, progress
        expect.finals += 1
        self.tally.finals += 1
        if expect.finals > expect.requests:
            self.tally.duplicated += 1
            return
        self.waiting -= 1
        outcome = "result" if kind == "result" else header.get("code")
        if outcome not in expect.codes:
            self.tally.unexpected.append((expect.kind, outcome, header.get("message", "")[:80]))
        if expect.kind == "cancel_inflight" and outcome == "result":
            self._anonymous()  # it ended before the cancel was read: the cancel gets `unknown_id`
        if kind == "result" and expect.instruction is not None:
            prompt = header["plan"]["suggestions"][0]["ops"][0]["prompt"]
            if prompt != expect.instruction:
                self.tally.misrouted += 1
        if expect.valid:
            latency = time.monotonic() - expect.sent
            self.tally.latencies.append(latency)
            self.tally.late += latency > VALID_DEADLINE_S

    def _send(self, frames: list[bytes], expect: Expect | None = None, rid: str | None = None) -> None:
        if expect is not None:
            self.expect[rid] = expect
            self.waiting += 1
        self.sock.send_multipart(frames)

    def _anonymous(self, n: int = 1) -> None:
        self.anonymous_pending += n
        self.tally.anonymous_expected += n

    # ------------------------------------------------------------------ what a client sends
    def _valid(self) -> None:
        rid = uuid.uuid4().hex
        instruction = f"request {rid}"
        n = self.rng.randint(1, 6)
        self._send([msgpack.packb(_suggest(rid, instruction, n)), *[self.blobs.small] * n],
                   Expect("valid", {"result"}, instruction, valid=True), rid)  # fmt: skip

    def _ping(self) -> None:
        rid = uuid.uuid4().hex
        self._send([msgpack.packb({"v": 1, "type": "ping", "id": rid})], Expect("ping", {"result"}), rid)

    def _info(self) -> None:
        rid = uuid.uuid4().hex
        self._send([msgpack.packb({"v": 1, "type": "info", "id": rid})], Expect("info", {"result"}), rid)

    def _garbage(self) -> None:
        self._anonymous()
        self._send([self.rng.randbytes(self.rng.randint(0, 300)) for _ in range(self.rng.randint(1, 4))])

    def _wrong_type(self) -> None:
        rid = uuid.uuid4().hex
        field_name = self.rng.choice(["instruction", "views", "scene", "max_suggestions", "deadline_s", "stream"])
        value = self.rng.choice([None, -1, 1e300, "x", [], {"a": 1}, b"\0"])
        header = {**_suggest(rid, "x", 1), field_name: value}
        # A value of the right type is valid: only what fails is expected to fail.
        ok = (field_name, value) in (("instruction", "x"), ("scene", None), ("deadline_s", None))
        codes = {"result"} if ok else {"bad_message", "blob_mismatch"}
        self._send([msgpack.packb(header), self.blobs.small], Expect("wrong_type", codes), rid)

    def _duplicate(self) -> None:
        rid = uuid.uuid4().hex
        frames = [msgpack.packb(_suggest(rid, f"request {rid}", 1)), self.blobs.small]
        self._send(frames, Expect("duplicate", {"result"}, f"request {rid}"), rid)
        self._anonymous()
        self.sock.send_multipart(frames)

    def _cancel_unknown(self) -> None:
        self._anonymous()
        self._send([msgpack.packb({"v": 1, "type": "cancel", "id": uuid.uuid4().hex})])

    def _cancel_inflight(self) -> None:
        rid = uuid.uuid4().hex
        self._send([msgpack.packb(_suggest(rid, f"request {rid}", 1)), self.blobs.small],
                   Expect("cancel_inflight", {"cancelled", "result"}), rid)  # fmt: skip
        self.sock.send_multipart([msgpack.packb({"v": 1, "type": "cancel", "id": rid})])

    def _geometry(self) -> None:
        rid = uuid.uuid4().hex
        header = _suggest(rid, "x", 1, views=[_view(2048, 1)])
        self._send([msgpack.packb(header), self.blobs.thin], Expect("geometry", {"bad_geometry"}), rid)

    def _too_many_pixels(self) -> None:
        rid = uuid.uuid4().hex
        n = LIMITS.max_request_pixels // (2048 * 2048) + 1
        header = _suggest(rid, "x", n, 2048, 2048)
        self._send([msgpack.packb(header), *[self.blobs.big] * n], Expect("too_many_pixels", {"image_too_large"}), rid)

    def _bad_image(self) -> None:
        rid = uuid.uuid4().hex
        self._send([msgpack.packb(_suggest(rid, "x", 1)), self.blobs.corrupt], Expect("bad_image", {"bad_image"}), rid)

    def _deadline(self) -> None:
        rid = uuid.uuid4().hex
        header = _suggest(rid, f"request {rid}", 1, deadline_s=0.01)
        self._send([msgpack.packb(header), self.blobs.small],
                   Expect("deadline", {"deadline_exceeded", "result"}, f"request {rid}"), rid)  # fmt: skip

    def _heavy_header(self) -> None:
        rid = uuid.uuid4().hex
        header = _suggest(rid, "x", 1, scene=self.blobs.heavy_scene, stream="no")  # fails at its last field
        self._send([msgpack.packb(header), self.blobs.small], Expect("heavy_header", {"bad_message"}), rid)

    def _oversized_message(self) -> None:
        rid = uuid.uuid4().hex
        n = LIMITS.max_message_bytes // len(self.blobs.near_frame) + 1  # each frame in bounds, the whole not
        header = _suggest(rid, "x", n)
        self._send([msgpack.packb(header), *[self.blobs.near_frame] * n], Expect("oversized", {"too_large"}), rid)

    def _oversized_frame(self) -> None:
        """The socket drops the connection as the frame's size arrives: no reply can come."""
        sock = self._socket()
        sock.send_multipart([msgpack.packb(_suggest("big", "x", 1)), self.blobs.over_frame])
        self.tally.dropped_ok += not sock.poll(1000)
        sock.close()

    def _vanish(self) -> None:
        """A client that sends a request and is gone: the server drops its work."""
        sock = self._socket()
        rid = uuid.uuid4().hex
        sock.send_multipart([msgpack.packb(_suggest(rid, "x", 2)), self.blobs.small, self.blobs.small])
        time.sleep(self.rng.random() * 0.05)
        sock.close()


def run_clients(endpoint: str, n: int, seconds: float, seed: int, mix: dict[str, int]) -> Tally:
    """`n` clients in threads of this process, for `seconds`; their merged tally."""
    blobs = Blobs()
    tallies = [Tally() for _ in range(n)]
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=StressClient(endpoint, seed * 1000 + i, blobs, mix, tallies[i]).run, args=(until,))
        for i in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = Tally()
    for t in tallies:
        total.merge(t)
    return total


# ---------------------------------------------------------------------- the server under test
def serve(endpoint: str, delay_s: float, max_batch: int) -> None:
    from evlm_server.engine.null import NullEngine
    from evlm_server.server import Server

    server = Server(NullEngine(delay_s=delay_s, max_batch=max_batch), bind=endpoint)
    server.install_signal_handlers()
    server.serve()


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


@dataclass
class Phase:
    name: str
    tally: Tally
    seconds: float
    idle_mib: float
    peak_mib: float
    in_flight_after: int
    healthy_after: bool
    server_alive: bool
    load: str


def run_phase(name: str, mix: dict[str, int], clients: int, seconds: float, procs: int, delay_s: float,
              max_batch: int, seed: int = 0) -> Phase:  # fmt: skip
    """A fresh server process, `clients` clients spread over `procs` processes for `seconds`."""
    from evlm.client import Client

    with tempfile.TemporaryDirectory() as tmp:
        endpoint = f"ipc://{tmp}/evlm.sock"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", endpoint, "--delay", str(delay_s), "--max-batch", str(max_batch)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with Client(endpoint, timeout_s=2) as client:
                for _ in range(60):
                    try:
                        client.ping()
                        break
                    except TimeoutError:
                        continue
            idle = _memory_kib(server.pid)["VmRSS"]
            shares = [clients // procs + (i < clients % procs) for i in range(procs)]
            t0 = time.monotonic()
            with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [
                    pool.submit(run_clients, endpoint, n, seconds, seed * 100 + i, mix)
                    for i, n in enumerate(shares)
                    if n
                ]
                tally = Tally()
                for f in futures:
                    tally.merge(f.result())
            elapsed = time.monotonic() - t0
            with Client(endpoint, timeout_s=10) as client:
                end = time.monotonic() + 10  # vanished clients' work is dropped when a send to them fails
                while (info := client.info()).in_flight and time.monotonic() < end:
                    time.sleep(0.2)
            peak = _memory_kib(server.pid)["VmHWM"]
            alive = server.poll() is None
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return Phase(name, tally, elapsed, idle / 1024, peak / 1024, info.in_flight, info.healthy, alive, load)


def report(phases: list[Phase], clients: int) -> str:
    lines = [
        f"{clients} clients; load average at the end of each phase shown (1, 5, 15 min)",
        "",
        "| phase | s | requests | finals | lost | duplicated | misrouted | unexpected | id-less refusals "
        "| valid p50 / p99 / max s (deadline 30) | late | idle MiB | peak MiB | in flight after | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for p in phases:
        t = p.tally
        lat = sorted(t.latencies) or [0.0]
        pct = [lat[min(len(lat) - 1, int(q * len(lat)))] for q in (0.5, 0.99)] + [lat[-1]]
        lines.append(
            f"| {p.name} | {p.seconds:.0f} | {sum(t.kinds.values())} | {t.finals} | {t.lost} | {t.duplicated} "
            f"| {t.misrouted} | {len(t.unexpected)} | {t.anonymous_got} of {t.anonymous_expected} "
            f"| {' / '.join(f'{x:.2f}' for x in pct)} | {t.late} | {p.idle_mib:.0f} | {p.peak_mib:.0f} "
            f"| {p.in_flight_after} | {p.load} |"
        )
    lines.append("")
    for p in phases:
        lines.append(f"{p.name}: " + ", ".join(f"{k} {v}" for k, v in sorted(p.tally.kinds.items())))
        if p.tally.dropped_ok or p.tally.kinds["oversized_frame"]:
            lines.append(f"  frames over the socket limit dropped unanswered: {p.tally.dropped_ok}"
                         f" of {p.tally.kinds['oversized_frame']}")  # fmt: skip
        if p.tally.lost:
            lines.append(f"  lost: {dict(p.tally.lost_kinds)}")
        if p.tally.disconnects:
            lines.append(f"  the clients' own connections dropped: {p.tally.disconnects}")
        for u in p.tally.unexpected[:10]:
            lines.append(f"  unexpected: {u}")
        if not (p.server_alive and p.healthy_after):
            lines.append("  THE SERVER DIED OR ITS WORKER STOPPED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0, help="per phase (default 60)")
    parser.add_argument("--procs", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--delay", type=float, default=0.05, help="simulated model seconds per batch (default 0.05)")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--no-baseline", action="store_true", help="the mixed phase only")
    parser.add_argument("--serve", metavar="ENDPOINT", help=argparse.SUPPRESS)  # the server process itself
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.delay, args.max_batch)
        return 0
    phases = []
    for name, mix in ([] if args.no_baseline else [("valid only", BASELINE)]) + [("mixed", MIX)]:
        phases.append(run_phase(name, mix, args.clients, args.seconds, args.procs, args.delay, args.max_batch))
        print(f"{name}: done", file=sys.stderr)
    print(report(phases, args.clients))
    bad = any(p.tally.lost or p.tally.duplicated or p.tally.misrouted or p.tally.unexpected or p.tally.late
              or p.in_flight_after or not p.server_alive for p in phases)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
