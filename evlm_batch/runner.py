"""Run jobs with many requests in flight, locally (threads) or on a Ray cluster, into results.jsonl.

Local: a thread pool of `in_flight` workers, each job's request going to the endpoints in turn
(round robin). A job's server wait, and a .blend's whole Blender process, overlap with the others;
pyrender renders are serialized (one GL context per process).

Before the first job, every endpoint must answer a ping (check_servers): with a server down, a
batch fails at once with the reason instead of waiting out each job's timeout.

Ray: each job is a Ray task (`process_job` in a Ray worker process) sent to the endpoints in turn,
at most `in_flight` at a time; records come back to this process, the only writer of the results.
Ray is an optional extra (`pip install -e '.[ray]'` in a checkout), imported only here, only then.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from evlm_batch.jobs import Job
from evlm_batch.process import Options, process_job
from evlm_batch.records import JobRecord
from evlm_batch.results import ResultsLog, read_results

PING_TIMEOUT_S = 10.0  # at most; a server answers pings at once, even while it runs a batch


class ServersUnreachable(RuntimeError):
    """An endpoint did not answer before the batch started: nothing was run."""


def check_servers(endpoints: list[str], options: Options) -> None:
    """Ping every endpoint (at once, each within min(options.timeout, PING_TIMEOUT_S)); raise
    ServersUnreachable naming each one that did not answer and why."""
    import zmq

    from evlm.client import Client, RequestTimeout, ServerError

    timeout = min(options.timeout, PING_TIMEOUT_S)

    def probe(endpoint: str) -> str | None:
        try:
            with Client(endpoint, timeout_s=timeout, curve=options.curve()) as client:
                client.ping()
        except RequestTimeout:
            curve = ", or it does not accept these CURVE keys" if options.server_key else ""
            return f"{endpoint}: no answer within {timeout:g} s (is evlm-server running there{curve}?)"
        except ServerError as e:
            return f"{endpoint}: {e.code}: {e.message}"
        except (ValueError, OSError, zmq.ZMQError) as e:  # a malformed endpoint, an unreadable key file
            return f"{endpoint}: {e}"
        return None

    unique = list(dict.fromkeys(endpoints))
    with ThreadPoolExecutor(max_workers=len(unique)) as pool:
        problems = [p for p in pool.map(probe, unique) if p is not None]
    if problems:
        raise ServersUnreachable(
            f"{len(problems)} of {len(unique)} servers unreachable; nothing was run:\n  " + "\n  ".join(problems)
        )


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # done in an earlier run (resume)
    ok: int = 0
    errors: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def plan_run(jobs: list[Job], options: Options, resume: bool) -> tuple[list[Job], dict[str, JobRecord], int]:
    """The jobs still to do, the previous records by key, and how many were skipped as done."""
    previous = read_results(options.out / "results.jsonl")
    if not resume:
        return jobs, previous, 0
    todo = [j for j in jobs if j.key not in previous or previous[j.key].status != "ok"]
    return todo, previous, len(jobs) - len(todo)


def run_batch(
    jobs: list[Job],
    endpoints: list[str],
    options: Options,
    in_flight: int = 2,
    resume: bool = True,
    ray_address: str | None = None,
    progress: bool = True,
    on_record: Callable[[JobRecord], None] | None = None,
    check: bool = True,
) -> Summary:
    """Run the jobs not done yet (resume) and append their records to OUT/results.jsonl. Raises
    ServersUnreachable (with `check`, before any job) if an endpoint does not answer a ping."""
    if not endpoints:
        raise ValueError("no server endpoint")
    if in_flight < 1:
        raise ValueError(f"in_flight must be at least 1, got {in_flight}")
    options.out.mkdir(parents=True, exist_ok=True)
    todo, previous, skipped = plan_run(jobs, options, resume)
    if todo and check:
        check_servers(endpoints, options)
    summary = Summary(total=len(jobs), skipped=skipped)
    assigned = list(zip(todo, itertools.cycle(endpoints), strict=False))
    records = (
        _ray(assigned, options, in_flight, ray_address)
        if ray_address is not None
        else _local(assigned, options, in_flight)
    )
    bar = _bar(len(jobs), skipped, progress)
    with ResultsLog(options.out / "results.jsonl") as log:
        for record in records:
            before = previous.get(record.key)
            record.attempt = before.attempt + 1 if before else 1
            record.run_id = summary.run_id
            log.write(record)
            if record.status == "ok":
                summary.ok += 1
            else:
                summary.errors += 1
            if on_record is not None:
                on_record(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(ok=summary.ok, errors=summary.errors, refresh=False)
    if bar is not None:
        bar.close()
    return summary


def _bar(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="scene", desc="evlm-batch", dynamic_ncols=True)


def _local(assigned: list[tuple[Job, str]], options: Options, in_flight: int) -> Iterator[JobRecord]:
    pending = iter(assigned)
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="evlm-batch") as pool:
        running = set()
        for job, endpoint in itertools.islice(pending, in_flight):
            running.add(pool.submit(process_job, job, endpoint, options))
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                for job, endpoint in itertools.islice(pending, 1):
                    running.add(pool.submit(process_job, job, endpoint, options))
                yield future.result()  # process_job records its errors; it does not raise


def _ray(assigned: list[tuple[Job, str]], options: Options, in_flight: int, address: str) -> Iterator[JobRecord]:
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray, the optional extra `ray`: pip install -e '.[ray]' in a checkout") from None
    if not ray.is_initialized():
        ray.init(address=address or None, ignore_reinit_error=True, log_to_driver=False)
    task = ray.remote(max_retries=1)(_ray_job)
    opts = options.to_dict()
    pending = iter(assigned)
    running = [
        task.remote(str(job.scene), job.instruction, endpoint, opts)
        for job, endpoint in itertools.islice(pending, in_flight)
    ]
    while running:
        done, running = ray.wait(running, num_returns=1)
        for job, endpoint in itertools.islice(pending, 1):
            running.append(task.remote(str(job.scene), job.instruction, endpoint, opts))
        yield JobRecord.model_validate(ray.get(done[0]))


def _ray_job(scene: str, instruction: str, endpoint: str, options: dict) -> dict:
    """A Ray task: one job in a Ray worker process (plain arguments and a plain record back, so any
    worker can take it and no class travels between processes)."""
    from pathlib import Path

    return process_job(Job(Path(scene), instruction), endpoint, Options.from_dict(options)).to_json()
