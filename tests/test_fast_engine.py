"""The fast engine (static KV cache, lean decode step, continuous batching) on tiny random
checkpoints, CPU float32.

What must hold: greedy decoding gives exactly the tokens of plain `model.generate` (so the prefill,
the multimodal rotary offset and our decode step are the reference's); requests that join and
leave while others decode get the tokens they would get alone; the full engine returns the same
schema-valid plans as the Hugging Face engine (on the built-in model too), and cancellation and
bad requests stay per request.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("xgrammar")

from PIL import Image  # noqa: E402

from evlm.edits import validate_plan  # noqa: E402
from evlm_server.engine import Cancelled, EngineResult, PromptTooLong  # noqa: E402
from evlm_server.engine.fast import FastEngine  # noqa: E402
from evlm_server.engine.fast_decode import Scheduler, Sequence, StaticDecoder, greedy_choose, supports_config  # noqa: E402
from evlm_server.engine.hf import HFEngine, load_processor  # noqa: E402
from evlm_server.engine.spec import DecodeSpec  # noqa: E402
from tests.conftest import make_scene  # noqa: E402
from tests.test_engine import request  # noqa: E402

ARCHS = ["qwen2_vl", "qwen2_5_vl"]
NEW = 32  # tokens compared per prompt


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict:
    from training.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny_fast")
    return {arch: make_tiny_checkpoint(root / arch, arch=arch, seed=0) for arch in ARCHS}


@pytest.fixture(scope="module")
def models(checkpoints) -> dict:
    from transformers import AutoModelForImageTextToText

    out = {}
    for arch, path in checkpoints.items():
        model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        out[arch] = (model.eval(), load_processor(path))
    return out


def prompt(processor, text: str, sizes: list[tuple[int, int]], color: int) -> dict:
    """A chat prompt with images of the given sizes (each size gives a different vision grid)."""
    content = []
    for i, _ in enumerate(sizes):
        content += [{"type": "text", "text": f"View {i}:"}, {"type": "image"}]
    content.append({"type": "text", "text": text})
    chat = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    images = [Image.new("RGB", s, (color, 255 - color, (37 * i) % 256)) for i, s in enumerate(sizes)]
    return dict(processor(text=[chat], images=images or None, return_tensors="pt"))


def reference(model, inputs: dict, n: int) -> tuple[list[int], torch.Tensor]:
    """Plain greedy `generate`: the new tokens and their logits [n, vocab]."""
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
            return_dict_in_generate=True,
            output_logits=True,
        )
    return out.sequences[0, inputs["input_ids"].shape[1] :].tolist(), torch.stack(out.logits, 1)[0]


def raw_scheduler(model, max_batch: int) -> Scheduler:
    """A scheduler with no stages: greedy tokens until each sequence's own length."""
    decoder = StaticDecoder(model, max_batch=max_batch, max_len=512, kv_bucket=64)
    return Scheduler(decoder, greedy_choose, lambda seqs, tokens: [False] * len(seqs))


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_tokens_match_plain_generate(models, arch):
    model, processor = models[arch]
    inputs = prompt(processor, "make the cube red", [(120, 90), (64, 100)], color=200)
    decoder = StaticDecoder(model, max_batch=4, max_len=512, kv_bucket=64)
    pre = decoder.prefill(inputs)
    assert pre.rope_delta < 0  # the vision tokens share positions: decode must continue from there
    # Decode in slot 2 of 3, the other slots idle: rows must not leak into each other.
    decoder.insert(2, pre)
    tokens, length, scores = [int(pre.logits.argmax())], pre.length, [pre.logits]
    for _ in range(NEW - 1):
        logits = decoder.decode([0, 0, tokens[-1]], [0, 0, length], [0, 0, length + pre.rope_delta])
        tokens.append(int(logits[2].argmax()))
        scores.append(logits[2])
        length += 1
    ref_tokens, ref_logits = reference(model, inputs, NEW)
    assert tokens == ref_tokens
    # Tokens alone are a weak check on a random model (a wrong rotary offset moves the logits by
    # ~7e-3 and still picks the same tokens); the logits must agree to float32 rounding.
    torch.testing.assert_close(torch.stack(scores), ref_logits, rtol=0, atol=1e-5)


def test_the_cuda_graph_step_gives_the_exact_steps_logits(models):
    """What a CUDA graph captures: the step over rows bucketed to a power of two and a KV length
    padded to the bucket, masked. Run eagerly here, it must give the logits of the exact step
    (the CPU's: no padding), row by row."""
    model, processor = models["qwen2_5_vl"]
    decoder = StaticDecoder(model, max_batch=4, max_len=512, kv_bucket=64)
    pres = [decoder.prefill(prompt(processor, text, [(90, 90)], color=c)) for text, c in (("a", 10), ("bb", 99))]
    decoder.insert(0, pres[0])
    decoder.insert(2, pres[1])  # slot 1 free: fed anything, ignored
    tokens, lengths = [5, 0, 9], [pres[0].length, 0, pres[1].length]
    positions = [lengths[0] + pres[0].rope_delta, 0, lengths[2] + pres[1].rope_delta]
    exact = decoder.decode(tokens, lengths, positions)  # rows 3, kv exactly max(lengths) + 1
    padded_rows, padded_kv = 4, -(-(max(lengths) + 1) // 64) * 64
    assert padded_kv > max(lengths) + 1
    for name, values in (("tokens", tokens), ("lengths", lengths), ("positions", positions)):
        getattr(decoder, name)[:padded_rows].copy_(torch.tensor(values + [0]))
    with torch.inference_mode():
        graph_shaped = decoder._step(padded_rows, padded_kv, masked=True)
    torch.testing.assert_close(graph_shaped[[0, 2]], exact[[0, 2]], rtol=0, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_joining_and_leaving_requests_match_solo_runs(models, arch):
    model, processor = models[arch]
    prompts = [
        prompt(processor, "make the cube red", [(120, 90)], color=10),
        prompt(processor, "move the lamp left", [(64, 100), (90, 90)], color=120),
        prompt(processor, "a brighter sky", [], color=0),  # text only: rope delta 0
        prompt(processor, "scale the chair", [(100, 56)], color=240),
    ]
    lengths = [NEW, 12, NEW, 20]
    solo = []
    for inputs, n in zip(prompts, lengths, strict=True):
        sched = raw_scheduler(model, max_batch=1)
        seq = sched.submit(Sequence(inputs, max_new_tokens=n))
        sched.wait([seq])
        solo.append(seq.tokens)
    assert solo[0] == reference(model, prompts[0], NEW)[0]

    # Two slots for four requests: 0 starts alone, 1 joins at step 5 and leaves first, 2 and 3
    # wait in the queue and take the freed slots while the others are mid-answer.
    sched = raw_scheduler(model, max_batch=2)
    seqs = [sched.submit(Sequence(prompts[0], max_new_tokens=lengths[0]))]
    for _ in range(5):
        sched.step()
    seqs.append(sched.submit(Sequence(prompts[1], max_new_tokens=lengths[1])))
    sched.step()
    seqs += [sched.submit(Sequence(p, max_new_tokens=n)) for p, n in zip(prompts[2:], lengths[2:], strict=True)]
    sched.wait(seqs)
    assert [s.tokens for s in seqs] == solo
    assert all(s.error is None for s in seqs) and not sched.busy()
    assert sched.steps < sum(lengths)  # they really decoded together


def test_supports():
    assert supports_config({"model_type": "qwen2_vl", "text_config": {}})
    assert supports_config({"model_type": "qwen2_5_vl", "text_config": {"rope_parameters": {"rope_type": "default"}}})
    assert not supports_config({"model_type": "llava"})
    assert not supports_config({"model_type": "qwen2_vl", "text_config": {"use_sliding_window": True}})
    assert not supports_config({"model_type": "qwen2_vl", "text_config": {"rope_parameters": {"rope_type": "yarn"}}})
    assert not FastEngine.supports("/nonexistent/checkpoint")


SPEC = DecodeSpec(max_reasoning_tokens=24, max_answer_tokens=200)


@pytest.fixture(scope="module")
def engine(checkpoints):
    return FastEngine(checkpoints["qwen2_5_vl"], SPEC, device="cpu", max_len=2048)


@pytest.mark.parametrize("arch", ARCHS)
def test_engine_plans_match_hf_engine(checkpoints, arch):
    fast = FastEngine(checkpoints[arch], SPEC, device="cpu", max_len=2048)
    hf = HFEngine(checkpoints[arch], SPEC, device="cpu")
    scene = make_scene()
    batch = [request(scene, n_views=2, id="a"), request(None, n_views=1, id="b", instruction="brighter")]
    for got, ref, req in zip(fast.run(batch), hf.run(batch), batch, strict=True):
        assert isinstance(got, EngineResult), got
        assert (got.reasoning, got.plan, got.tokens) == (ref.reasoning, ref.plan, ref.tokens)
        validate_plan(got.plan.model_dump_json(), req.scene)


def test_builtin_model_plans_match_hf_engine():
    """The same plans out on EVLM-tiny: the sample scene, its six views, two instructions, the
    lean decode loop against transformers' `generate`."""
    import io

    from evlm.client import load_views
    from evlm.scene import SceneGraph
    from evlm_server.cli import BUILTIN_MODEL
    from evlm_server.engine import EngineRequest

    sample = Path(__file__).resolve().parents[1] / "examples" / "sample_scene"
    scene = SceneGraph.model_validate_json((sample / "scene.json").read_text())
    views = load_views(sample / "views")
    images = [Image.open(io.BytesIO(png)).convert("RGB") for _, png in views]
    spec = DecodeSpec(max_reasoning_tokens=384)
    batch = [
        EngineRequest(id=str(i), instruction=text, scene=scene, views=[v for v, _ in views], images=images)
        for i, text in enumerate(["the ball bounces a bit too fast, slow it down", "make the ball a bit bigger"])
    ]
    fast = FastEngine(BUILTIN_MODEL, spec, device="cpu").run(batch)
    ref = HFEngine(BUILTIN_MODEL, spec, device="cpu").run(batch)
    for got, want in zip(fast, ref, strict=True):
        assert isinstance(got, EngineResult), got
        assert (got.reasoning, got.plan, got.tokens) == (want.reasoning, want.plan, want.tokens)


def test_requests_join_and_leave_a_running_decode(engine):
    """Fed continuously: a request submitted mid-decode joins at the next step, one cancelled
    mid-decode leaves at the next step, a broken one fails alone; each result equals its solo run."""
    scene = make_scene()
    solo = {r.id: engine.run([r])[0] for r in (request(scene, n_views=3, id="a"), request(None, n_views=2, id="b"))}
    cancel = threading.Event()
    first = request(scene, n_views=3, id="a")
    engine.submit(first)
    outcomes = {}
    for _ in range(5):
        outcomes.update((req.id, out) for req, out in engine.step())
    assert engine.scheduler.held() == 1
    broken = request(scene, n_views=1, id="x")
    broken.images = [Image.new("RGB", (2048, 1))]  # the processor refuses an aspect ratio of 200 or more
    late, doomed = request(None, n_views=2, id="b"), request(scene, n_views=1, id="c", is_cancelled=cancel.is_set)
    for req in (broken, late, doomed):
        engine.submit(req)
    peak, cancelled_at, left_at, start = 0, None, None, engine.scheduler.steps
    while engine.pending():
        if cancelled_at is None and engine.scheduler.steps > start + 6:
            assert any(s is not None and s.state.req is doomed for s in engine.scheduler.slots)  # decoding
            cancel.set()
            cancelled_at = engine.scheduler.steps
        for req, out in engine.step():
            outcomes[req.id] = out
            left_at = engine.scheduler.steps if req.id == "c" else left_at
        peak = max(peak, sum(s is not None for s in engine.scheduler.slots))
    assert left_at == cancelled_at + 1  # it left at the very next step
    assert peak >= 2  # they really decoded together
    assert isinstance(outcomes["x"], ValueError) and "aspect ratio" in str(outcomes["x"])
    assert isinstance(outcomes["c"], Cancelled)
    for rid in ("a", "b"):
        got, want = outcomes[rid], solo[rid]
        assert isinstance(got, EngineResult), got
        assert (got.reasoning, got.plan, got.tokens) == (want.reasoning, want.plan, want.tokens)
    assert not engine.scheduler.busy() and engine.pending() == 0


def test_prompt_longer_than_cache_fails_alone_before_any_work(checkpoints):
    small = FastEngine(checkpoints["qwen2_vl"], DecodeSpec(8, 200), device="cpu", max_len=1200)
    out = small.run([request(make_scene(), n_views=6, id="big"), request(None, n_views=0, id="ok")])
    assert isinstance(out[0], PromptTooLong) and "KV cache of 1200 tokens" in str(out[0])
    assert isinstance(out[1], EngineResult)
    assert small.scheduler.peak_rows == 1  # the long prompt never took a slot


def test_load_engine_picks_fast_for_supported_models(checkpoints, tmp_path):
    import json
    import shutil

    from evlm_server.engine import load_engine

    path = checkpoints["qwen2_vl"]
    assert load_engine(path, device="cpu").name == "fast"  # auto: the fast engine, on a CPU too
    assert load_engine(path, kind="hf", device="cpu", max_batch=2).name == "hf"
    windowed = shutil.copytree(path, tmp_path / "windowed")
    config = json.loads((windowed / "config.json").read_text())
    config["text_config"]["use_sliding_window"] = True
    (windowed / "config.json").write_text(json.dumps(config))
    assert load_engine(windowed, device="cpu").name == "hf"  # one the fast decoder does not support
    with pytest.raises(ValueError, match="unknown engine"):
        load_engine(path, kind="turbo")
