"""The Hugging Face engine on tiny random checkpoints built here (no downloads).

The model is random, so what it says is noise; what is tested is the machinery around it:
loading, the prompt, batching, streaming, cancellation, and above all that constrained decoding
always ends with a plan that validates against the request's own scene.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("xgrammar")

from PIL import Image  # noqa: E402

from evlm.edits import plan_json_schema, validate_plan  # noqa: E402
from evlm.scene import Light, SceneGraph, SceneObject, View  # noqa: E402
from evlm_server.engine import Cancelled, EngineRequest, EngineResult, load_engine  # noqa: E402
from evlm_server.engine.prompt import NO_SCENE_NOTE, build_messages, request_images  # noqa: E402
from tests.conftest import make_scene  # noqa: E402

ARCHS = ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]  # Qwen3-VL: its image-only processor without torchvision


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict:
    from training.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny")
    return {arch: make_tiny_checkpoint(root / arch, arch=arch, seed=0) for arch in ARCHS}


@pytest.fixture(scope="module")
def engines(checkpoints) -> dict:
    return {arch: load_engine(path, device="cpu") for arch, path in checkpoints.items()}


def request(scene: SceneGraph | None, n_views: int = 6, n_refs: int = 0, **kw) -> EngineRequest:
    colors = [
        (200, 40, 40),
        (40, 200, 40),
        (40, 40, 200),
        (200, 200, 40),
        (40, 200, 200),
        (9, 9, 9),
    ]
    images = [Image.new("RGB", (320, 240), colors[i % 6]) for i in range(n_views)]
    views = [View(label=f"orbit {i}", width=320, height=240) for i in range(n_views)]
    refs = [Image.new("RGB", (200, 200), (250, 180, 120)) for _ in range(n_refs)]
    kw.setdefault("id", "r")
    kw.setdefault("instruction", "make it cozier")
    return EngineRequest(scene=scene, views=views, images=images, references=refs, **kw)


def other_scene() -> SceneGraph:
    return SceneGraph(
        objects=[SceneObject(name="Sphere.001"), SceneObject(name="Key", type="LIGHT")],
        lights=[Light(name="Key", type="AREA")],
    )


def plan_names(result: EngineResult) -> set[str]:
    """Every string value in the plan that could be a target name."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("targets", "target", "camera", "objects"):
                    found.update([v] if isinstance(v, str) else v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(result.plan.model_dump())
    return found


# ------------------------------------------------------------------ checkpoint and prompt
@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_checkpoint_loads(checkpoints, arch):
    from transformers import AutoModelForImageTextToText

    from evlm_server.engine.hf import load_processor

    path = checkpoints[arch]
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
    assert model.config.model_type == arch
    processor = load_processor(path)
    tok = processor.tokenizer
    for special in ("<|im_start|>", "<|im_end|>", "<|image_pad|>", "<think>", "</think>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.get_output_embeddings().weight.shape[0] >= len(tok)


def test_tiny_checkpoint_is_deterministic(checkpoints, tmp_path):
    from training.tiny import make_tiny_checkpoint

    again = make_tiny_checkpoint(tmp_path / "again", arch="qwen2_vl", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (checkpoints["qwen2_vl"] / name).read_bytes()
    other = make_tiny_checkpoint(tmp_path / "other", arch="qwen2_vl", seed=1)
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()


def test_prompt_has_images_scene_and_instruction(engines):
    scene = make_scene()
    req = request(scene, n_views=6, n_refs=1, instruction="the lamp should feel warmer")
    messages = build_messages(req)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "set_base_color" in messages[0]["content"]  # the op vocabulary
    parts = messages[1]["content"]
    assert sum(p["type"] == "image" for p in parts) == 7 == len(request_images(req))
    text = "".join(p.get("text", "") for p in parts)
    assert "View 0" in text and "View 5" in text and "Reference image 0" in text
    assert "marks" not in text  # these views carry no set-of-marks table
    for name in scene.object_names() + scene.material_names():
        assert name in text
    assert text.rstrip().endswith("Give at most 3 suggestions.")
    assert "the lamp should feel warmer" in text

    rendered = engines["qwen2_vl"].processor.apply_chat_template(messages, tokenize=False)
    assert rendered.count("<|vision_start|><|image_pad|><|vision_end|>") == 7
    # Views come before references, in the order of request_images().
    assert rendered.index("View 5") < rendered.index("Reference image 0")

    no_scene = "".join(p.get("text", "") for p in build_messages(request(None, 1))[1]["content"])
    assert NO_SCENE_NOTE in no_scene


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize("arch", ARCHS)
def test_six_view_request_gives_valid_plan(engines, arch):
    scene = make_scene()
    progress: list[tuple[str, str]] = []
    req = request(scene, on_progress=lambda stage, text: progress.append((stage, text)))
    [result] = engines[arch].run([req])
    assert isinstance(result, EngineResult), result
    validate_plan(result.plan.model_dump(), scene)
    assert plan_names(result) <= set(scene.object_names())
    assert set(result.timings) == {"prefill", "reason", "answer", "total"}
    assert result.tokens["prompt"] > 6 * 16  # six views of 16 merged patches each, and text
    assert 0 < result.tokens["reasoning"] <= 256 + 1
    assert 0 < result.tokens["answer"] <= 768
    # Both stages were streamed; the answer stream is the plan's JSON, complete.
    reasoning = "".join(t for s, t in progress if s == "reasoning")
    answer = "".join(t for s, t in progress if s == "answer")
    assert reasoning.strip() == result.reasoning
    assert validate_plan(answer, scene) == result.plan


def test_sampling_seeds_all_valid(checkpoints):
    engine = load_engine(
        checkpoints["qwen2_vl"], device="cpu", temperature=1.0,
        max_reasoning_tokens=32, max_answer_tokens=300,
    )  # fmt: skip
    scene = make_scene()
    for seed in range(6):
        engine.seed = seed
        [result] = engine.run([request(scene, n_views=2)])
        assert isinstance(result, EngineResult), (seed, result)
        assert result.tokens["answer"] <= 300


def test_batch_of_three_different_scenes(engines):
    engine = engines["qwen2_5_vl"]
    scenes = [make_scene(), other_scene(), None]
    batch = [request(s, n_views=n, id=f"r{i}") for i, (s, n) in enumerate(zip(scenes, [6, 3, 1], strict=True))]
    results = engine.run(batch)
    assert len(results) == 3
    for result, scene in zip(results, scenes, strict=True):
        assert isinstance(result, EngineResult), result
        validate_plan(result.plan.model_dump(), scene)
    # Each row had its own grammar: no row names the other scene's objects.
    assert not plan_names(results[0]) & {"Sphere.001", "Key"}
    assert not plan_names(results[1]) & {"Cube", "chair_02", "Lamp"}
    ops = {op.op for s in results[2].plan.suggestions for op in s.ops}
    assert not ops & {"translate", "set_base_color", "set_light_energy"}  # nothing to target


def test_cancel_mid_batch(engines):
    engine = engines["qwen2_vl"]
    seen = {"pieces": 0}

    def on_progress(stage, text):
        seen["pieces"] += 1

    doomed = request(make_scene(), n_views=2, id="doomed", on_progress=on_progress,
                     is_cancelled=lambda: seen["pieces"] >= 5)  # fmt: skip
    kept = request(other_scene(), n_views=2, id="kept")
    early = request(make_scene(), n_views=1, id="early", is_cancelled=lambda: True)
    results = engine.run([doomed, kept, early])
    assert isinstance(results[0], Cancelled)
    assert isinstance(results[1], EngineResult)
    validate_plan(results[1].plan.model_dump(), other_scene())
    assert isinstance(results[2], Cancelled)


def test_missing_or_broken_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_engine(tmp_path / "nope")
    with pytest.raises(ValueError, match="config.json"):
        load_engine(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match=str(tmp_path)):
        load_engine(tmp_path)


def test_engine_package_does_not_import_torch():
    code = "import sys, evlm_server.engine; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------ the grammar alone
def test_finisher_closes_random_walks_within_budget(engines):
    """Tokens drawn uniformly from what the masks allow (a worse model than a random one), with
    budgets down to the shortest possible plan: always a valid plan, never over budget."""
    import torch
    import xgrammar as xgr

    from evlm_server.engine.grammar import mask_rows

    grammar = engines["qwen2_vl"].grammar
    odd = SceneGraph(objects=[SceneObject(name='Würfel "x" \\ 😀'), SceneObject(name="A" * 63)])
    bitmask = xgr.allocate_token_bitmask(1, grammar.vocab_size)
    for scene in (make_scene(), odd, None):
        compiled = grammar.compile(plan_json_schema(scene, 3))
        shortest = len(grammar.constraint(compiled, 10**6).complete())
        for budget in (shortest, shortest + 40, 400):
            for seed in range(8):
                rng = random.Random(seed)
                c = grammar.constraint(compiled, budget)
                while not c.done:
                    scores = torch.zeros(1, grammar.vocab_size)
                    mask_rows(scores, [c], [0], bitmask)
                    c.accept(rng.choice(torch.isfinite(scores[0]).nonzero().flatten().tolist()))
                assert len(c.all_ids) <= budget
                text = c.text()
                json.loads(text)
                validate_plan(text, scene)


def test_string_bounds_hold_token_by_token(engines):
    """Strings are unbounded in the grammar (fast masks); the length mask keeps them in bounds,
    also against tokens that open and close a string at once."""
    import torch
    import xgrammar as xgr

    from evlm_server.engine.grammar import mask_rows, schema_grammar, split_string_bounds

    engine = engines["qwen2_vl"]
    grammar, tok = engine.grammar, engine.tokenizer
    schema = plan_json_schema(make_scene(), 3)
    unbounded, bounds = split_string_bounds(schema)
    assert bounds["title"] == (1, 80) and bounds["reasoning"] == (0, 1200)
    assert "maxLength" not in json.dumps(unbounded)
    ebnf = str(schema_grammar(unbounded)).splitlines()
    string_rule = next(line for line in ebnf if line.startswith("basic_string ::="))
    assert string_rule.endswith(r'\ud800-\udfff]* "\""))')  # the fast, escape-free rule

    def allowed_after(prefix: str) -> set[int]:
        c = grammar.constraint(grammar.compile(schema), 768)
        for t in tok.encode(prefix, add_special_tokens=False):
            c.accept(t)
        scores = torch.zeros(1, grammar.vocab_size)
        mask_rows(scores, [c], [0], xgr.allocate_token_bitmask(1, grammar.vocab_size))
        return set(torch.isfinite(scores[0]).nonzero().flatten().tolist())

    quote = tok.convert_tokens_to_ids('"')
    start = '{"reasoning": "", "suggestions": [{"title": "'
    assert quote not in allowed_after(start)  # a title has at least one character
    assert quote in allowed_after(start + "a")
    full = allowed_after(start + "a" * 80)
    assert quote in full and all(grammar.vocab.quotes.closes[t] for t in full)
    # No token may carry a whole empty string, e.g. `""`, where one could be a title.
    empty = [t for t, raw in enumerate(grammar.vocab.decoded) if b'""' in raw]
    assert empty and not set(empty) & allowed_after('{"reasoning": "", "suggestions": [{"title')
    # ...but where "" is allowed, a token that writes it whole (` ""`, ` "",`) is allowed too:
    # a model trained on such plans must be able to write its learned token.
    whole_empty = {t for t, raw in enumerate(grammar.vocab.decoded) if raw.lstrip(b" ").startswith(b'""')}
    assert whole_empty & allowed_after('{"reasoning":')


def test_special_tokens_never_match_json(engines):
    import xgrammar as xgr

    from evlm_server.engine.grammar import allowed_token_ids

    engine = engines["qwen2_vl"]
    tok = engine.tokenizer
    compiled = engine.grammar.compile(plan_json_schema(make_scene(), 3))
    c = engine.grammar.constraint(compiled, 768)
    for t in tok.encode('{"reasoning": "', add_special_tokens=False):
        c.accept(t)
    bitmask = xgr.allocate_token_bitmask(1, engine.grammar.vocab_size)
    c.fill(bitmask, 0)
    allowed = set(allowed_token_ids(bitmask[0], engine.grammar.vocab_size))
    assert not allowed & set(tok.all_special_ids)
    assert not allowed & set(range(len(tok), engine.grammar.vocab_size))
    decoded = engine.grammar.vocab.decoded
    control = {i for i, raw in enumerate(decoded) if any(b < 0x20 for b in raw)}
    assert control and not allowed & control  # a control character inside a string breaks JSON


def test_think_end_written_as_text(engines):
    """Qwen2-VL's own tokenizer has no `</think>` token: the model spells it out. The reasoning
    must end there, `</think>` must not leak into the stream, and the answer must start."""
    import torch

    from evlm_server.engine.stages import Row, StageDecoder

    engine = engines["qwen2_vl"]
    tok = engine.tokenizer
    saved, engine.think_end_id = engine.think_end_id, None
    try:
        streamed: list[str] = []
        req = request(make_scene(), n_views=1, on_progress=lambda s, t: streamed.append(t))
        compiled = engine.grammar.compile(plan_json_schema(req.scene, 3))
        row = Row(0, req, engine.grammar.constraint(compiled, 768))
        decoder = StageDecoder(engine, [row])
        spelled = [tok.convert_tokens_to_ids(c) for c in "</think>"]  # one byte token each
        ids = tok.encode("the lamp", add_special_tokens=False) + spelled + engine.newline_ids
        for i in range(len(ids)):
            decoder.step(torch.tensor([ids[: i + 1]]))
            if i < len(ids) - len(spelled) - 1:
                assert row.phase == "reason"
        assert row.phase == "answer"
        assert "".join(streamed) == "the lamp" == row.reasoning_text(tok)
    finally:
        engine.think_end_id = saved


def test_grammar_logits_processor_with_plain_generate(engines):
    """grammar.GrammarLogitsProcessor on its own: one HF `generate`, a grammar per row."""
    import torch

    from evlm_server.engine.grammar import GrammarLogitsProcessor

    engine = engines["qwen2_vl"]
    grammar, tok = engine.grammar, engine.tokenizer
    scenes = [make_scene(), other_scene()]
    constraints = [grammar.constraint(grammar.compile(plan_json_schema(s, 2)), 200) for s in scenes]
    prompt = "<|im_start|>assistant\n"
    inputs = tok([prompt, prompt + "Plan:"], return_tensors="pt", padding=True)
    torch.manual_seed(0)
    engine.model.generate(
        **inputs,
        logits_processor=[GrammarLogitsProcessor(constraints, grammar.vocab_size)],
        max_new_tokens=201,
        do_sample=True,
        eos_token_id=engine.stop_id,
        pad_token_id=engine.pad_id,
    )
    for c, scene in zip(constraints, scenes, strict=True):
        c.finish()
        assert len(c.all_ids) <= 200
        validate_plan(c.text(), scene)
