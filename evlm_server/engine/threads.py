"""How many threads torch computes with on a CPU: from what is free, re-decided as the load changes.

Why: torch's intra-op threads (OpenMP) wait for each other at the end of every parallel op. When
another process holds a core, the thread on it is descheduled and every op waits a time slice
for it: measured here on 2 cores, a suggest took 35.5 s with torch's default 2 threads beside
one busy core, against 4.5 s with 1 thread. So the policy counts the cores that other processes
are using (the machine's busy CPU time minus this process's own, over the last interval) and
gives torch only the cores left, at least one. The engines re-decide between model calls
(`apply`), so a Blender capture that starts mid-request is seen within a second.

The CPU counters come from /proc/stat on Linux, else from psutil when it is installed; without
either the policy keeps one thread. torch is imported when a count is applied, so the command
line can check `--threads` before it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

from evlm.cliargs import arg_type


def check_threads(text: str) -> int | None:
    """`--threads`: a positive count, or `auto` (None)."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"expected a positive count or 'auto', got {text!r}")
    return int(text)


threads_arg = arg_type(check_threads)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has been busy (all cores), or None if unknown here."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:]
        ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)
    except Exception:  # psutil missing, or no counters on this platform
        return None


class _LoadSampler:
    """The CPU counters every `interval_s` (a file read, microseconds), in a daemon thread shared
    by every policy of the process; keeps the last `window_s`."""

    _shared: _LoadSampler | None = None
    _lock = threading.Lock()

    def __init__(self, interval_s: float = 0.2, window_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.samples: deque[tuple[float, float, float]] = deque(maxlen=round(window_s / interval_s) + 1)
        self._sample()
        threading.Thread(target=self._run, name="evlm-load", daemon=True).start()

    @classmethod
    def shared(cls) -> _LoadSampler | None:
        """The process's sampler, started on first use; None where there are no counters."""
        with cls._lock:
            if cls._shared is None and _machine_busy_s() is not None:
                cls._shared = cls()
            return cls._shared

    def others_busy(self) -> float | None:
        """Cores that other processes kept busy (None: no interval yet): the more of the last
        interval's and the window's, so a load that starts is seen within one interval, and one
        that stops must stay gone for the whole window."""
        samples = list(self.samples)
        if len(samples) < 2:
            return None

        def between(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
            return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / max(b[0] - a[0], 1e-6))

        return max(between(samples[-2], samples[-1]), between(samples[0], samples[-1]))

    def _sample(self) -> None:
        busy = _machine_busy_s()
        if busy is not None:
            self.samples.append((time.monotonic(), busy, time.process_time()))

    def _run(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self._sample()


class ThreadPolicy:
    """`threads` fixed (a count) or None: auto, up to `max_threads` (default: the usable cores)."""

    def __init__(self, threads: int | None = None, max_threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.fixed = threads
        self.cores = usable_cores()
        self.max_threads = max(1, min(max_threads or self.cores, self.cores))
        self.current = 0
        self.others_busy = 0.0  # cores other processes used over the sampler's window
        self._sampler = _LoadSampler.shared() if threads is None else None

    @property
    def mode(self) -> str:
        return "fixed" if self.fixed is not None else "auto"

    def apply(self) -> int:
        """Set torch's thread count for the next model calls; returns it. Cheap: call it often."""
        wanted = self.fixed if self.fixed is not None else self.decide()
        if wanted != self.current:
            import torch

            torch.set_num_threads(wanted)
            self.current = wanted
        return wanted

    def decide(self) -> int:
        """Threads for what is free now: the cores that other processes leave, at least one."""
        others = self._sampler.others_busy() if self._sampler is not None else None
        if others is None:  # nothing measured (yet): one thread is safe under any load
            return 1
        self.others_busy = others
        # A core counts as free only when others leave nearly all of it: a thread that shares a
        # core waits for its time slice at every op, which costs far more than the core gives.
        free = int(self.cores - others + 0.2)
        return max(1, min(self.max_threads, free))

    def info(self) -> dict:
        return {
            "threads": self.current,
            "threads_policy": self.mode,
            "cores": self.cores,
            "others_busy_cores": round(self.others_busy, 2),
        }
