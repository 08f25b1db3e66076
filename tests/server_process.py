"""An evlm-server process for end-to-end tests, shared by the main and the Blender suites."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from evlm.client import Client

ROOT = Path(__file__).resolve().parent.parent
SERVER_PYTHON = ROOT / ".venv" / "bin" / "python"  # the server's environment (torch), whichever runs the test


@contextmanager
def server_process(tmp: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`evlm-server serve ARGS` on an ipc socket in `tmp`, answering pings, until the block ends."""
    endpoint = f"ipc://{tmp}/evlm.sock"
    log = open(tmp / "server.log", "w+b")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(SERVER_PYTHON), "-m", "evlm_server", "serve", "--bind", endpoint, *args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        with Client(endpoint, timeout_s=2) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    client.ping()
                    break
                except TimeoutError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        pytest.fail(f"server did not come up:\n{log.read().decode(errors='replace')}")
        yield endpoint, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def serving(tmp: Path, *args: str) -> Iterator[str]:
    """The endpoint of a `server_process`."""
    with server_process(tmp, *args) as (endpoint, _):
        yield endpoint
