"""evlm-server: a ZeroMQ ROUTER that queues requests and hands batches to an engine.

Two threads. The main thread owns every socket: it reads requests, checks them (protocol limits)
before any work, answers ping/info/cancel at once, queues suggests, forwards the worker's replies
and enforces deadlines. The worker thread takes batches from the queue, decodes the images and
runs the engine; it talks back over an inproc PUSH socket, never touching the ROUTER (ZeroMQ
sockets are not thread-safe).

"Every request answered exactly once" is kept in one place: `_pending`, owned by the main thread.
A final reply (result or error) is sent only for a key still in it, and removes it; so a job that
was cancelled, timed out or belonged to a client that left is answered by whichever comes first,
and the worker's late answer is dropped. The worker names jobs by a serial number, never by the
client's id, so a late answer cannot reach a newer request that reuses the id. A message refused
because its id is taken (`duplicate_id`, a cancel's `unknown_id`) is answered without that id.

The main thread's work is bounded per turn: it reads requests until `turn_s` has passed (ZeroMQ
takes them from the clients in turn; a message is handled whole, and the largest header the
limits allow takes 0.1-0.3 s to check on a 2-core CPU), then forwards the worker's replies,
deadlines and keepalives. The
queue serves clients in turn too (fairqueue.py). Memory is bounded before any work: the socket
drops a frame over `Limits.max_frame_bytes` as it arrives, requests in flight hold at most
`max_queued_bytes`, and a batch decodes at most `max_batch_pixels`.

Liveness: ZMTP heartbeats drop dead connections; a keepalive `progress` goes to each waiting job
every `keepalive_s`, and with ROUTER_MANDATORY a send to a vanished client fails, which cancels
its work.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from evlm.cliargs import package_version
from evlm.edits import PlanError
from evlm.protocol import (
    DEFAULT_ENDPOINT,
    Accepted,
    Cancel,
    Error,
    ErrorCode,
    Info,
    InfoResult,
    Limits,
    Ping,
    Pong,
    Progress,
    ProtocolError,
    ServerInfo,
    Suggest,
    SuggestResult,
    encode,
    is_local_endpoint,
    parse_request,
    request_pixels,
)
from evlm_server.engine.base import Cancelled, Engine, EngineRequest, EngineResult
from evlm_server.fairqueue import FairQueue
from evlm_server.images import decode_request_images

log = logging.getLogger("evlm_server")

Key = tuple[bytes, str]  # (client identity, request id)


@dataclass
class CurveConfig:
    """CURVE encryption with a client allow-list (files made by `evlm-server keygen`)."""

    server_secret_file: Path  # server.key_secret
    allowed_dir: Path  # public keys (*.key) of the clients let in


@dataclass(eq=False, repr=False)  # identity semantics: a repr would print megabytes of blobs
class Job:
    key: Key
    serial: int  # how the worker names it: unique for the server's life, unlike the client's id
    request: Suggest
    blobs: list[bytes]
    received: float
    deadline: float | None
    pixels: int = 0  # what decoding its images holds
    nbytes: int = 0  # what its message holds while it waits
    cancelled: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    started_at: float = 0.0

    @property
    def client(self) -> bytes:
        return self.key[0]


class _LoggingAuthenticator(ThreadAuthenticator):
    """pyzmq logs refusals at debug level; an operator wants to see them."""

    def _send_zap_reply(self, request_id, status_code, status_text, user_id="anonymous"):  # noqa: ANN001
        if status_code != b"200":
            log.warning(
                "refused a client: CURVE %s (its public key is not in the allow-list)",
                status_text.decode(errors="replace"),
            )
        super()._send_zap_reply(request_id, status_code, status_text, user_id)


class Server:
    def __init__(
        self,
        engine: Engine,
        bind: str = DEFAULT_ENDPOINT,
        limits: Limits = Limits(),
        curve: CurveConfig | None = None,
        keepalive_s: float = 1.0,
        shutdown_grace_s: float = 10.0,
        heartbeat_ms: int = 1000,
        heartbeat_timeout_ms: int = 30_000,
        insecure_remote: bool = False,
        turn_s: float = 0.02,
    ) -> None:
        """ValueError for a non-loopback `bind` without CURVE (unless `insecure_remote`) or an
        engine that takes no request at a time."""
        if not is_local_endpoint(bind) and curve is None and not insecure_remote:
            raise ValueError(f"refusing to bind {bind} without CURVE (pass curve=, or insecure_remote=True)")
        if not isinstance(engine.max_batch, int) or engine.max_batch < 1:
            raise ValueError(f"engine max_batch must be at least 1, got {engine.max_batch!r}")
        self.engine = engine
        self.bind = bind
        self.limits = limits
        self.curve = curve
        self.keepalive_s = keepalive_s
        self.shutdown_grace_s = shutdown_grace_s
        self.heartbeat_ms = heartbeat_ms
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.turn_s = turn_s  # main thread: time spent reading requests before serving the rest
        self.bound_endpoint: str | None = None  # filled once bound (useful with tcp://...:0)
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._pending: dict[Key, Job] = {}
        self._by_serial: dict[int, Job] = {}  # the same jobs, by the name the worker knows them by
        self._serials = 0
        self._pending_bytes = 0
        self._queue: FairQueue[Job] = FairQueue()
        self._worker_thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._ctx = zmq.Context()
        self._inproc = f"inproc://evlm-worker-{id(self)}"
        self.stats = {"requests": 0, "errors": 0, "answered": 0}

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the server to shut down (thread-safe, and safe from a signal handler)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    def serve(self) -> None:
        """Run until `stop()`; then answer or error everything in flight and return."""
        router = self._open_router()
        pull = self._ctx.socket(zmq.PULL)
        pull.bind(self._inproc)
        worker = self._worker_thread = threading.Thread(target=self._worker, name="evlm-engine", daemon=True)
        worker.start()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        self.ready.set()
        log.info("serving %s on %s", self.engine.name, self.bound_endpoint)
        next_keepalive = time.monotonic() + self.keepalive_s
        stop_at: float | None = None
        try:
            while True:
                events = dict(poller.poll(50))
                if router in events:
                    self._drain_requests(router, time.monotonic() + self.turn_s)
                if pull in events or router in events:  # replies that came while requests were read
                    self._drain_worker(router, pull)
                now = time.monotonic()
                self._expire(router, now)
                if now >= next_keepalive:
                    self._keepalive(router)
                    next_keepalive = now + self.keepalive_s
                if self._stop.is_set():
                    if stop_at is None:
                        stop_at = now + self.shutdown_grace_s
                        self._shed_queue(router)
                    if not self._pending:
                        break
                    if now >= stop_at:
                        for key in list(self._pending):
                            self._finish(
                                router,
                                key,
                                Error(
                                    id=key[1],
                                    code=ErrorCode.SHUTTING_DOWN,
                                    message="server shut down before this finished",
                                ),
                            )
                        break
        finally:
            self.stop()
            worker.join(timeout=5)
            router.close(linger=1000)  # let the last replies leave
            pull.close(linger=0)
            if self.curve is not None and getattr(self, "_auth", None) is not None:
                self._auth.stop()
            if worker.is_alive():  # an engine that ignores cancellation: don't hang on its socket
                log.warning("engine still busy after shutdown; leaving its thread behind")
            else:
                self._ctx.term()
            log.info("stopped (%s)", self.stats)

    def _open_router(self) -> zmq.Socket:
        router = self._ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a vanished client raises: we drop its work
        router.setsockopt(zmq.LINGER, 1000)
        # A frame over the largest one a request needs is refused as its size arrives, before it
        # is in memory: libzmq drops that connection (no reply can reach it; our own client checks
        # sizes before sending). Below it, parse_request answers `too_large`. ZeroMQ holds a
        # multipart message whole before the server sees it, so each client may keep only a few
        # unread messages here (RCVHWM); more wait in its own socket.
        router.setsockopt(zmq.MAXMSGSIZE, self.limits.max_frame_bytes)
        router.setsockopt(zmq.RCVHWM, 8)
        router.setsockopt(zmq.HEARTBEAT_IVL, self.heartbeat_ms)
        # libzmq hears a peer only when a whole frame has arrived: a client sending the largest
        # frame allowed (32 MiB) must not look dead meanwhile, at 10 Mbit/s or on a busy machine
        # (with 3 s, 96 MB requests lost their connection under load, unanswered).
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, self.heartbeat_timeout_ms)
        router.setsockopt(zmq.HEARTBEAT_TTL, 6 * self.heartbeat_ms)
        router.setsockopt(zmq.SNDHWM, 10_000)
        if self.curve is not None:
            self._auth = _LoggingAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=str(self.curve.allowed_dir))
            public, secret = zmq.auth.load_certificate(str(self.curve.server_secret_file))
            if secret is None:
                raise ValueError(f"{self.curve.server_secret_file} holds no secret key")
            router.curve_secretkey = secret
            router.curve_publickey = public
            router.curve_server = True
        router.bind(self.bind)
        self.bound_endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        return router

    # ------------------------------------------------------------------ main thread
    def _drain_requests(self, router: zmq.Socket, until: float) -> None:
        """Read and handle requests until none is waiting or the turn's time is spent."""
        while True:
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            identity, frames = frames[0], frames[1:]
            self.stats["requests"] += 1
            try:
                self._handle(router, identity, frames)
            except ProtocolError as e:
                self._refuse(router, identity, e)
            except Exception as e:  # a bug of ours must not kill the server or leave the client waiting
                log.exception("internal error on a request")
                self._send(router, identity, Error(code=ErrorCode.INTERNAL, message=f"{type(e).__name__}: {e}"))
            if time.monotonic() >= until:
                return

    def _refuse(self, router: zmq.Socket, identity: bytes, e: ProtocolError) -> None:
        """An error for a message that started no request. It carries the message's id unless
        that id belongs to a request still in flight, whose one final reply is yet to come."""
        if e.id is not None and (identity, e.id) in self._pending:
            self._send(router, identity, Error(code=e.code, message=f"{e.message} (request {e.id!r})"))
        else:
            self._send(router, identity, Error(id=e.id, code=e.code, message=e.message))

    def _handle(self, router: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        msg, blobs = parse_request(frames, self.limits)
        key = (identity, msg.id)
        if isinstance(msg, Cancel):
            if key not in self._pending:
                raise ProtocolError(ErrorCode.UNKNOWN_ID, f"no request {msg.id!r} in flight")
            self._finish(router, key, Error(id=msg.id, code=ErrorCode.CANCELLED, message="cancelled by the client"))
            return
        if key in self._pending:
            raise ProtocolError(ErrorCode.DUPLICATE_ID, "a request with this id is still in flight", msg.id)
        if isinstance(msg, Ping):
            self._send(router, identity, InfoResult(id=msg.id, info=Pong(time=time.time())))
        elif isinstance(msg, Info):
            self._send(router, identity, InfoResult(id=msg.id, info=self.info()))
        elif isinstance(msg, Suggest):
            self._admit(router, identity, msg, blobs, sum(len(f) for f in frames))

    def _admit(self, router: zmq.Socket, identity: bytes, msg: Suggest, blobs: list[bytes], nbytes: int) -> None:
        """Queue a checked suggest, or say why not (every limit here is on what the server holds)."""
        limits = self.limits
        if self._stop.is_set():
            raise ProtocolError(ErrorCode.SHUTTING_DOWN, "server is shutting down", msg.id)
        if len(self._pending) >= limits.max_queue:
            raise ProtocolError(ErrorCode.OVERLOADED, f"{len(self._pending)} requests in flight; retry later", msg.id)
        mine = sum(1 for client, _ in self._pending if client == identity)
        if mine >= limits.max_client_queue:
            raise ProtocolError(
                ErrorCode.OVERLOADED, f"{mine} of your requests are in flight, limit {limits.max_client_queue}", msg.id
            )
        if self._pending_bytes + nbytes > limits.max_queued_bytes:
            raise ProtocolError(
                ErrorCode.OVERLOADED,
                f"requests in flight hold {self._pending_bytes} bytes, limit {limits.max_queued_bytes}; retry later",
                msg.id,
            )
        now = time.monotonic()
        self._serials += 1
        job = Job(
            key=(identity, msg.id), serial=self._serials, request=msg, blobs=blobs, received=now,
            deadline=now + msg.deadline_s if msg.deadline_s else None, pixels=request_pixels(blobs), nbytes=nbytes,
        )  # fmt: skip
        self._pending[job.key] = job
        self._by_serial[job.serial] = job
        self._pending_bytes += nbytes
        with self._cond:
            self._queue.push(job)
            position = self._queue.position(job)
            self._cond.notify()
        self._send(router, identity, Accepted(id=msg.id, queue_position=position))

    def info(self) -> ServerInfo:
        """What `info` answers: the engine's figures without file system paths."""
        details = dict(self.engine.info())
        path = details.pop("path", None)
        model = details.pop("model", None)
        worker = self._worker_thread
        return ServerInfo(
            version=package_version(),
            engine=self.engine.name,
            model=Path(str(path or model)).name if (path or model) else None,
            device=str(details.pop("device", "none")),
            max_batch=self.engine.max_batch,
            healthy=worker is not None and worker.is_alive(),
            queue=len(self._queue),
            in_flight=len(self._pending),
            limits=self.limits,
            details={k: v for k, v in details.items() if isinstance(v, str | int | float | bool) or v is None},
        )

    def _drain_worker(self, router: zmq.Socket, pull: zmq.Socket) -> None:
        for _ in range(10_000):
            try:
                serial, final, *frames = pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            job = self._by_serial.get(int.from_bytes(serial, "big"))
            if job is None:
                continue  # already answered (cancelled, deadline, client gone)
            if final == b"1":
                self._finish(router, job.key, frames=frames)
            elif job.request.stream:
                self._send_frames(router, job.client, frames)

    def _expire(self, router: zmq.Socket, now: float) -> None:
        for key, job in list(self._pending.items()):
            if job.deadline is not None and now > job.deadline:
                waited = now - job.received
                self._finish(
                    router,
                    key,
                    Error(
                        id=key[1],
                        code=ErrorCode.DEADLINE_EXCEEDED,
                        message=f"not done within {job.request.deadline_s:g} s ({waited:.1f} s)",
                    ),
                )

    def _keepalive(self, router: zmq.Socket) -> None:
        with self._cond:
            positions = {job.key: i + 1 for i, job in enumerate(self._queue)}
        for key, job in list(self._pending.items()):
            stage = "reasoning" if job.started else "queued"
            self._send(router, key[0], Progress(id=key[1], stage=stage, queue_position=positions.get(key, 0)))

    def _shed_queue(self, router: zmq.Socket) -> None:
        """On shutdown: what has not started is answered now; what runs gets the grace period."""
        with self._cond:
            queued = [job for job in self._queue if not job.started]
        for job in queued:
            self._finish(
                router,
                job.key,
                Error(
                    id=job.key[1], code=ErrorCode.SHUTTING_DOWN, message="server is shutting down; request not started"
                ),
            )

    def _finish(
        self,
        router: zmq.Socket,
        key: Key,
        reply: Error | SuggestResult | None = None,
        frames: list[bytes] | None = None,
    ) -> None:
        """Send the one final reply of a job and forget it."""
        job = self._drop(key)
        if job is None:
            return
        self.stats["answered"] += 1
        frames = frames if frames is not None else encode(reply)
        self._log_final(job, frames[0])
        self._send_frames(router, key[0], frames)

    def _drop(self, key: Key) -> Job | None:
        """Forget a job in flight (the one place that does), and stop the worker's work on it."""
        job = self._pending.pop(key, None)
        if job is None:
            return None
        del self._by_serial[job.serial]
        self._pending_bytes -= job.nbytes
        job.cancelled.set()  # if it is still queued or running, the worker skips or stops it
        if not job.started:
            with self._cond:
                self._queue.remove(job)  # False if the worker took it meanwhile: it will see `cancelled`
        return job

    def _log_final(self, job: Job, header: bytes) -> None:
        """One line per suggest at info: id, outcome, views, tokens, seconds; never its content."""
        if not log.isEnabledFor(logging.INFO):
            return
        reply = msgpack.unpackb(header, raw=False)
        seconds = time.monotonic() - job.received
        queued = (job.started_at or time.monotonic()) - job.received
        what = f"suggest {job.request.id} from {job.client[-4:].hex()}: {len(job.request.views)} views"
        if reply.get("type") == "result":
            tokens = " ".join(f"{k}={v}" for k, v in reply.get("tokens", {}).items()) or "none"
            log.info("%s, result in %.2f s (queued %.2f s), tokens %s", what, seconds, queued, tokens)
        else:
            log.info("%s, error %s after %.2f s", what, reply.get("code"), seconds)

    def _send(self, router: zmq.Socket, identity: bytes, reply: object) -> None:
        if isinstance(reply, Error):
            self.stats["errors"] += 1
            log.info("error %s for %r: %s", reply.code.value, reply.id, reply.message)
        self._send_frames(router, identity, encode(reply))

    def _send_frames(self, router: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        try:
            router.send_multipart([identity, *frames], zmq.NOBLOCK)
        except zmq.ZMQError as e:  # EHOSTUNREACH: the client is gone; EAGAIN: it stopped reading
            gone = [k for k in self._pending if k[0] == identity]
            if gone:
                log.info("client %s unreachable (%s): dropping %d request(s)", identity.hex(), e.strerror, len(gone))
            for key in gone:
                self._drop(key)

    # ------------------------------------------------------------------ worker thread
    def _worker(self) -> None:
        push = self._ctx.socket(zmq.PUSH)
        push.connect(self._inproc)
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._run_batch(push, batch)
        finally:
            push.close(linger=1000)

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._queue and not self._stop.is_set():
                self._cond.wait(0.5)
            if self._stop.is_set() and not self._queue:
                return None
            batch, pixels = [], 0
            while len(batch) < self.engine.max_batch:
                # A batch decodes at most max_batch_pixels; its first job always fits (the
                # protocol bounds a request to max_request_pixels).
                job = self._queue.pop(None if not batch else self.limits.max_batch_pixels - pixels)
                if job is None:
                    break
                if not job.cancelled.is_set():
                    job.started = True
                    job.started_at = time.monotonic()
                    batch.append(job)
                    pixels += job.pixels
            return batch

    def _run_batch(self, push: zmq.Socket, batch: list[Job]) -> None:
        def reply(job: Job, final: bool, msg: object) -> None:
            push.send_multipart([job.serial.to_bytes(8, "big"), b"1" if final else b"0", *encode(msg)])

        runnable: list[tuple[Job, EngineRequest]] = []
        for job in batch:
            try:
                runnable.append((job, self._engine_request(job, reply)))
            except ProtocolError as e:  # bad_image, or overloaded when memory ran out
                reply(job, True, Error(id=job.key[1], code=e.code, message=e.message))
        if not runnable:
            return
        try:
            results = self.engine.run([r for _, r in runnable])
        except Exception as e:  # the engine failed as a whole: every job of the batch hears why
            log.exception("engine failed on a batch of %d", len(runnable))
            results = [e] * len(runnable)
        for (job, _), res in zip(runnable, results, strict=True):
            reply(job, True, self._final(job, res))

    def _engine_request(self, job: Job, reply) -> EngineRequest:  # noqa: ANN001
        msg = job.request
        # Headers were checked on arrival; full decoding (which catches corrupt bodies) is the
        # worker's, and is skipped for engines that never look at pixels.
        blobs = job.blobs if getattr(self.engine, "needs_pixels", True) else []
        images = decode_request_images(blobs, len(msg.views), self.limits.max_pixels)
        n = len(msg.views)
        return EngineRequest(
            id=msg.id,
            instruction=msg.instruction,
            scene=msg.scene,
            views=msg.views,
            images=images[:n],
            references=images[n:],
            max_suggestions=msg.max_suggestions,
            on_progress=lambda stage, text: reply(job, False, Progress(id=msg.id, stage=stage, text=text)),
            is_cancelled=job.cancelled.is_set,
        )

    def _final(self, job: Job, res: EngineResult | Exception) -> SuggestResult | Error:
        rid = job.key[1]
        if isinstance(res, EngineResult):
            timings = {**res.timings, "queue": job.started_at - job.received}
            return SuggestResult(
                id=rid,
                reasoning=res.reasoning,
                plan=res.plan.model_dump(mode="json"),
                timings=timings,
                tokens=res.tokens,
            )
        if isinstance(res, Cancelled):
            return Error(id=rid, code=ErrorCode.CANCELLED, message="cancelled")
        if isinstance(res, PlanError):
            return Error(id=rid, code=ErrorCode.INVALID_PLAN, message=str(res))
        log.error("engine error on %r: %s", rid, "".join(traceback.format_exception(res)).strip())
        return Error(id=rid, code=ErrorCode.ENGINE_ERROR, message=f"{type(res).__name__}: {res}")
