"""evlm-server: a ZeroMQ ROUTER that queues requests and feeds them to an engine.

Two threads. The main thread owns every socket: it reads requests, checks them (protocol limits)
before any work, answers ping/info/cancel at once, queues suggests, forwards the worker's replies
and enforces deadlines. The worker thread feeds the engine continuously: it takes queued jobs
as the engine has room, decodes their images and submits them, so a request that arrives while
others decode joins them at the next step; it answers each as it finishes. A cancel or a
deadline sets the job's flag, and the engine drops the request at its next step. The worker
talks back over an inproc PUSH socket, never touching the ROUTER (ZeroMQ sockets are not
thread-safe), and survives its own errors; `health()` (in ping and info) says whether it runs.

"Every request answered exactly once" is kept in one place: `_pending`, owned by the main thread.
A final reply (result or error) is sent only for a key still in it, and removes it; so a job that
was cancelled, timed out or belonged to a client that left is answered by whichever comes first,
and the worker's late answer is dropped.

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
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from evlm.edits import PlanError
from evlm.protocol import (
    DEFAULT_ENDPOINT,
    Accepted,
    Cancel,
    Error,
    ErrorCode,
    Info,
    Limits,
    Ping,
    Progress,
    ProtocolError,
    Result,
    Suggest,
    encode,
    parse_request,
)
from evlm_server.engine.base import Cancelled, Engine, EngineRequest, EngineResult, PromptTooLong, Stepped, feeder
from evlm_server.images import decode_image

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
    request: Suggest
    blobs: list[bytes]
    received: float
    deadline: float | None
    cancelled: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    started_at: float = 0.0


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
    ) -> None:
        self.engine = engine
        self.bind = bind
        self.limits = limits
        self.curve = curve
        self.keepalive_s = keepalive_s
        self.shutdown_grace_s = shutdown_grace_s
        self.heartbeat_ms = heartbeat_ms
        self.bound_endpoint: str | None = None  # filled once bound (useful with tcp://...:0)
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._pending: dict[Key, Job] = {}
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._ctx = zmq.Context()
        self._inproc = f"inproc://evlm-worker-{id(self)}"
        self.stats = {"requests": 0, "errors": 0, "answered": 0}
        self._worker_thread: threading.Thread | None = None
        self._worker_started = 0.0
        self._worker_health = {"errors": 0, "last_error": None, "restarts": 0}

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
        self._start_worker()
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
                if pull in events:
                    self._drain_worker(router, pull)
                if router in events:
                    self._drain_requests(router)
                now = time.monotonic()
                self._watch_worker(router)
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
            worker = self._worker_thread
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
        # A hard ceiling per frame (libzmq drops the connection above it); below it our own
        # limit answers with a `too_large` error instead.
        router.setsockopt(zmq.MAXMSGSIZE, 2 * self.limits.max_message_bytes)
        router.setsockopt(zmq.HEARTBEAT_IVL, self.heartbeat_ms)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * self.heartbeat_ms)
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
    def _drain_requests(self, router: zmq.Socket) -> None:
        for _ in range(1000):  # bounded, so worker replies and deadlines get their turn
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            identity, frames = frames[0], frames[1:]
            self.stats["requests"] += 1
            try:
                self._handle(router, identity, frames)
            except ProtocolError as e:
                self._send(router, identity, Error(id=e.id, code=e.code, message=e.message))
            except Exception as e:  # a bug of ours must not kill the server or leave the client waiting
                log.exception("internal error on a request")
                self._send(router, identity, Error(code=ErrorCode.INTERNAL, message=f"{type(e).__name__}: {e}"))

    def _handle(self, router: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        msg, blobs = parse_request(frames, self.limits)
        key = (identity, msg.id)
        if isinstance(msg, Ping):
            info = {"pong": True, "time": time.time(), "health": self.health()}
            self._send(router, identity, Result(id=msg.id, info=info))
        elif isinstance(msg, Info):
            info = {"engine": self.engine.name, "max_batch": self.engine.max_batch,
                    "queue": len(self._queue), "in_flight": len(self._pending),
                    "limits": asdict(self.limits), "health": self.health(),
                    **self.engine.info()}  # fmt: skip
            self._send(router, identity, Result(id=msg.id, info=info))
        elif isinstance(msg, Cancel):
            job = self._pending.get(key)
            if job is None:
                raise ProtocolError(ErrorCode.UNKNOWN_ID, f"no request {msg.id!r} in flight", msg.id)
            self._finish(router, key, Error(id=msg.id, code=ErrorCode.CANCELLED, message="cancelled by the client"))
        elif isinstance(msg, Suggest):
            if self._stop.is_set():
                raise ProtocolError(ErrorCode.SHUTTING_DOWN, "server is shutting down", msg.id)
            if key in self._pending:
                raise ProtocolError(ErrorCode.DUPLICATE_ID, f"request {msg.id!r} is already in flight", msg.id)
            if len(self._pending) >= self.limits.max_queue:
                raise ProtocolError(
                    ErrorCode.OVERLOADED, f"{len(self._pending)} requests in flight; retry later", msg.id
                )
            now = time.monotonic()
            deadline = now + msg.deadline_s if msg.deadline_s else None
            job = Job(key=key, request=msg, blobs=blobs, received=now, deadline=deadline)
            self._pending[key] = job
            with self._cond:
                self._queue.append(job)
                position = len(self._queue)
                self._cond.notify()
            self._send(router, identity, Accepted(id=msg.id, queue_position=position))

    def _watch_worker(self, router: zmq.Socket) -> None:
        """If the worker thread died (it should not: it survives its own errors), answer the jobs
        it held with `internal` and start another."""
        if self._worker_thread.is_alive() or self._stop.is_set():
            return
        for key, job in list(self._pending.items()):
            if job.started:
                self._finish(router, key, Error(id=key[1], code=ErrorCode.INTERNAL, message="engine worker died"))
        now = time.monotonic()
        if now - self._worker_started < 1.0:  # it dies at once: retry at most once a second
            return
        log.error("engine worker thread died; starting another")
        self._worker_health["restarts"] += 1
        self._start_worker()

    def _drain_worker(self, router: zmq.Socket, pull: zmq.Socket) -> None:
        for _ in range(10_000):
            try:
                identity, rid, final, *frames = pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            key = (identity, rid.decode())
            job = self._pending.get(key)
            if job is None:
                continue  # already answered (cancelled, deadline, client gone)
            if final == b"1":
                self._finish(router, key, frames=frames)
            elif job.request.stream:
                self._send_frames(router, identity, frames)

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
        self, router: zmq.Socket, key: Key, reply: Error | Result | None = None, frames: list[bytes] | None = None
    ) -> None:
        """Send the one final reply of a job and forget it."""
        job = self._pending.pop(key, None)
        if job is None:
            return
        job.cancelled.set()  # if it is still queued or running, the worker skips or stops it
        if not job.started:
            self._forget_queued(job)
        self.stats["answered"] += 1
        self._send_frames(router, key[0], frames if frames is not None else encode(reply))

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
                job = self._pending.pop(key)
                job.cancelled.set()
                if not job.started:
                    self._forget_queued(job)

    def _forget_queued(self, job: Job) -> None:
        with self._cond:
            try:
                self._queue.remove(job)
            except ValueError:  # the worker took it meanwhile; it will see `cancelled`
                pass

    # ------------------------------------------------------------------ worker thread
    def health(self) -> dict:
        """The worker's state, for ping and info: `ok` is false while no worker thread runs."""
        alive = self._worker_thread is not None and self._worker_thread.is_alive()
        return {"ok": alive or self._stop.is_set(), "worker_alive": alive, **self._worker_health}

    def _start_worker(self) -> None:
        self._worker_started = time.monotonic()
        self._worker_thread = threading.Thread(target=self._worker, name="evlm-engine", daemon=True)
        self._worker_thread.start()

    def _worker(self) -> None:
        """Feed the engine continuously: queued jobs join the decode at its next step (as many as
        it has room for), finished ones are answered as they finish. Survives anything: a
        failure outside the engine's per-request results answers every job it held with
        `internal`, clears the engine and goes on."""
        push = self._ctx.socket(zmq.PUSH)
        push.connect(self._inproc)
        feed = feeder(self.engine)
        held: dict[int, Job] = {}  # id(EngineRequest) -> its job

        def reply(job: Job, final: bool, msg: object) -> None:
            push.send_multipart([job.key[0], job.key[1].encode(), b"1" if final else b"0", *encode(msg)])

        try:
            feed.clear()  # a restarted worker: whatever the last one left in the engine is answered
            while True:
                try:
                    jobs = self._next_jobs(busy=bool(held), room=max(0, feed.max_batch - len(held)))
                    if jobs is None:
                        return
                    for job in jobs:
                        self._submit(feed, job, held, reply)
                    if held:
                        for req, outcome in feed.step():
                            job = held.pop(id(req))
                            reply(job, True, self._final(job, outcome))
                except Exception as e:  # a bug of ours or the engine's: never die, never leave a job waiting
                    log.exception("engine worker failed; answering the %d job(s) it held", len(held))
                    self._worker_health["errors"] += 1
                    self._worker_health["last_error"] = f"{type(e).__name__}: {e}"
                    for job in held.values():
                        reply(job, True, Error(id=job.key[1], code=ErrorCode.INTERNAL, message=f"engine worker: {e}"))
                    held.clear()
                    feed.clear()
        finally:
            push.close(linger=1000)

    def _next_jobs(self, busy: bool, room: int) -> list[Job] | None:
        """Up to `room` queued jobs, marked started; waits for one while the engine is idle.
        None: stopping, and nothing is left to do."""
        with self._cond:
            while not busy and not self._queue and not self._stop.is_set():
                self._cond.wait(0.5)
            if self._stop.is_set() and not self._queue and not busy:
                return None
            jobs: list[Job] = []
            while self._queue and len(jobs) < room:
                job = self._queue.popleft()
                if not job.cancelled.is_set():
                    job.started = True
                    job.started_at = time.monotonic()
                    jobs.append(job)
            return jobs

    def _submit(self, feed: Stepped, job: Job, held: dict[int, Job], reply) -> None:  # noqa: ANN001
        try:
            req = self._engine_request(job, reply)
        except ValueError as e:
            reply(job, True, Error(id=job.key[1], code=ErrorCode.BAD_IMAGE, message=str(e)))
            return
        held[id(req)] = job
        feed.submit(req)

    def _engine_request(self, job: Job, reply) -> EngineRequest:  # noqa: ANN001
        msg = job.request
        images = []
        # Headers were checked on arrival; full decoding (which catches corrupt bodies) is the
        # worker's, and is skipped for engines that never look at pixels.
        blobs = job.blobs if getattr(self.engine, "needs_pixels", True) else []
        for i, blob in enumerate(blobs):
            what = f"view {i}" if i < len(msg.views) else f"reference {i - len(msg.views)}"
            try:
                images.append(decode_image(blob, self.limits.max_pixels))
            except ValueError as e:
                raise ValueError(f"{what}: {e}") from None
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

    def _final(self, job: Job, res: EngineResult | Exception) -> Result | Error:
        rid = job.key[1]
        if isinstance(res, EngineResult):
            timings = {**res.timings, "queue": job.started_at - job.received}
            return Result(
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
        if isinstance(res, PromptTooLong):
            return Error(id=rid, code=ErrorCode.PROMPT_TOO_LONG, message=str(res))
        log.error("engine error on %r: %s", rid, "".join(traceback.format_exception(res)).strip())
        return Error(id=rid, code=ErrorCode.ENGINE_ERROR, message=f"{type(res).__name__}: {res}")
