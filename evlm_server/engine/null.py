"""An engine with no model: answers every request at once with a generative hand-off.

For measuring the server and the wire alone (scripts/bench_protocol.py) and for testing the
server's queueing, cancel and deadlines without a model. `delay_s` simulates model time in small
steps so cancellation is observed the way a real engine observes it.
"""

from __future__ import annotations

import time

from evlm.edits import EditPlan, validate_plan
from evlm_server.engine.base import Cancelled, EngineRequest, EngineResult


class NullEngine:
    name = "null"

    def __init__(self, delay_s: float = 0.0, max_batch: int = 8, needs_pixels: bool = True) -> None:
        self.delay_s = delay_s
        self.needs_pixels = needs_pixels  # False: the server skips decoding (pure wire benchmarks)
        self.max_batch = max_batch
        self.batches: list[int] = []  # sizes of the batches run, for tests

    def info(self) -> dict:
        return {"model": None, "device": "none", "delay_s": self.delay_s}

    def run(self, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
        self.batches.append(len(batch))
        end = time.monotonic() + self.delay_s
        while time.monotonic() < end and not all(r.is_cancelled() for r in batch):
            time.sleep(min(0.01, max(0.0, end - time.monotonic())))
        return [self._answer(r) for r in batch]

    def _answer(self, req: EngineRequest) -> EngineResult | Exception:
        if req.is_cancelled():
            return Cancelled(req.id)
        req.on_progress("reasoning", "No model: handing the edit to a generative editor.")
        plan: EditPlan = validate_plan(
            {
                "reasoning": "no model loaded",
                "suggestions": [{
                    "title": "Generative edit",
                    "rationale": "Passes the instruction on unchanged.",
                    "confidence": 0.0,
                    "ops": [{
                        "op": "generative_edit", "modality": "3d" if req.scene else "image",
                        "prompt": req.instruction[:400], "negative_prompt": "", "strength": 0.5,
                        "mask": {"objects": [], "regions": []},
                    }],
                }],
            },
            req.scene,
        )  # fmt: skip
        return EngineResult(reasoning="(null engine)", plan=plan, timings={"total": self.delay_s})
