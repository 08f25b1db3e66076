"""The eval harness: runs the real engine over dataset records and scores its answers.

Each record becomes the `EngineRequest` the server would build (format.engine_request; images
decoded by `evlm_server.images.decode_image`, as the server decodes them), batches go through
`engine.run`, and every answer is scored against the record's gold plan (metrics.py).

Latency of a request (`request_latencies`): from the start of the `engine.run` call that answered
it to the end of that request's own generation (the engine's per-request `prefill`, `reason`
and `answer` timings), plus the batch's shared work (prompt building before generation, result
checks after it): the wall time minus the longest request's generation. Requests that finish
early in a batch show it, so mean, p50 and p90 differ; with `batch=1` it is the call's wall time.
An engine that reports no per-request stages gets the wall time for every request.

By default only the "correct" variant records are evaluated: their plans are the gold ones.
The other variants (wrong magnitude, wrong target, contradiction) exist to train RKTO and hold
deliberately bad plans, so scoring a model against them would reward copying mistakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evlm_server.engine.base import Engine, EngineResult
from training.data.format import engine_request
from training.data.loader import Example, LocalDataset
from training.eval.metrics import TOLERANCE, Prediction, aggregate, prediction_from_exception, score_record

GOLD_VARIANTS = ("correct",)


@dataclass
class EvalResult:
    rows: list[dict]  # per record: id, split, family, modality, variant and its metrics
    groups: dict[str, dict]  # metrics.aggregate(rows)
    predictions: list[Prediction]
    config: dict = field(default_factory=dict)


def select(
    data: LocalDataset, splits: Sequence[str], limit: int | None = None, variants: Sequence[str] | None = GOLD_VARIANTS
) -> list[Example]:
    """The records to evaluate: per split in order, those of `variants` (None: all), the first
    `limit` of each split."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    out = []
    for split in splits:
        chosen = [e for e in data[split] if variants is None or e.record.variant in variants]
        out += chosen[:limit] if limit is not None else chosen
    return out


def predict(
    engine: Engine,
    examples: Sequence[Example],
    batch: int = 1,
    on_batch: Callable[[int], None] = lambda n: None,
) -> list[Prediction]:
    """The engine's answer to every example, in order; `on_batch(n)` after each batch of n."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    out: list[Prediction] = []
    for start in range(0, len(examples), batch):
        chunk = examples[start : start + batch]
        requests = [engine_request(e.record, e.images(), e.references()) for e in chunk]
        t0 = time.perf_counter()
        try:
            results: list[EngineResult | Exception] = engine.run(requests)
        except Exception as e:  # the engine contract returns failures, but a broken batch must not end the run
            results = [e] * len(chunk)
        wall = time.perf_counter() - t0
        if len(results) != len(chunk):
            raise RuntimeError(f"engine answered {len(results)} of {len(chunk)} requests")
        latencies = request_latencies(results, wall)
        for ex, res, latency in zip(chunk, results, latencies, strict=True):
            if isinstance(res, Exception):
                out.append(prediction_from_exception(ex.record.id, res, latency))
            else:
                out.append(
                    Prediction(ex.record.id, res.plan, res.reasoning, latency_s=latency, tokens=dict(res.tokens))
                )
        on_batch(len(chunk))
    return out


STAGES = ("prefill", "reason", "answer")  # an engine's per-request generation time, in seconds


def request_latencies(results: Sequence[EngineResult | Exception], wall: float) -> list[float]:
    """Each request's latency in a batch that took `wall` seconds (module docstring): its own
    generation plus the batch's shared work; `wall` for a failed request or without stage timings."""
    own = [
        sum(r.timings[k] for k in STAGES)
        if isinstance(r, EngineResult) and all(k in r.timings for k in STAGES)
        else None
        for r in results
    ]
    known = [t for t in own if t is not None]
    shared = max(0.0, wall - max(known)) if known else wall
    return [wall if t is None else min(wall, shared + t) for t in own]


def score(examples: Sequence[Example], predictions: Sequence[Prediction], tol: float = TOLERANCE) -> list[dict]:
    """Per-record rows: the record's labels and its metrics."""
    rows = []
    for ex, pred in zip(examples, predictions, strict=True):
        r = ex.record
        if pred.id != r.id:
            raise ValueError(f"prediction {pred.id!r} is not for record {r.id!r}")
        labels = {"id": r.id, "split": r.split, "family": r.family, "modality": r.modality, "variant": r.variant}
        rows.append(labels | score_record(pred, r.plan, r.scene, tol))
    return rows


def evaluate(
    engine: Engine,
    examples: Sequence[Example],
    batch: int = 1,
    tol: float = TOLERANCE,
    on_batch: Callable[[int], None] = lambda n: None,
) -> EvalResult:
    """Run the engine over the examples and score it: per-record rows and grouped metrics."""
    if not examples:
        raise ValueError("nothing to evaluate: no records selected")
    predictions = predict(engine, examples, batch, on_batch)
    rows = score(examples, predictions, tol)
    return EvalResult(rows, aggregate(rows), predictions, {"batch": batch, "tolerance": tol})
