"""A short run of scripts/stress_server.py: many clients mixing valid, hostile and oversized
requests against a real server process; no reply lost, duplicated or misrouted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import stress_server  # noqa: E402


@pytest.mark.slow
def test_a_mixed_load_loses_duplicates_and_misroutes_nothing() -> None:
    phase = stress_server.run_phase("mixed", stress_server.MIX, clients=12, seconds=5, procs=2, delay_s=0.05,
                                    max_batch=4)  # fmt: skip
    t = phase.tally
    assert sum(t.kinds.values()) > 100 and t.kinds["valid"] > 30, t.kinds
    assert (t.lost, t.duplicated, t.misrouted, t.unexpected, t.late) == (0, 0, 0, [], 0), stress_server.report(
        [phase], 12
    )
    assert t.anonymous_got == t.anonymous_expected > 0
    assert t.dropped_ok == t.kinds["oversized_frame"]
    assert phase.server_alive and phase.healthy_after and phase.in_flight_after == 0
