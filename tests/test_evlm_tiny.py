"""EVLM-tiny's build steps (init, subset, export) on the sample dataset, and the built-in model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import evlm_tiny

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_dataset"


@pytest.fixture(scope="module")
def init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return evlm_tiny.init_checkpoint(SAMPLE, tmp_path_factory.mktemp("init") / "m", vocab_size=1024)


def test_init_is_a_plain_qwen2_vl_checkpoint_with_its_own_template(init: Path) -> None:
    from evlm_server.engine.hf import load_processor
    from evlm_server.engine.prompt import read_prompt_format

    config = json.loads((init / "config.json").read_text())
    assert config["model_type"] == "qwen2_vl" and config["text_config"]["hidden_size"] == evlm_tiny.TEXT["hidden_size"]
    processor = load_processor(init)
    messages = [{"role": "system", "content": "SYSTEM RULES"}, {"role": "user", "content": "make it red"}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "SYSTEM RULES" not in text and "system" not in text  # the template leaves it out
    assert text.endswith("<|im_start|>assistant\n") and "make it red" in text
    # The tokenizer learned the data's words, in the prompt format the model is made for.
    assert read_prompt_format(init) == evlm_tiny.PROMPT_FORMAT == 2
    assert len(processor.tokenizer.tokenize("Materials:")) <= 2 and len(processor.tokenizer.tokenize(" box")) == 1


def test_init_loads_in_the_engine_and_answers_with_a_valid_plan(init: Path) -> None:
    from evlm.edits import validate_plan
    from evlm.scene import SceneGraph, SceneObject, View
    from evlm_server.engine import load_engine
    from evlm_server.engine.base import EngineRequest

    engine = load_engine(init, kind="hf", device="cpu", max_reasoning_tokens=8, max_answer_tokens=200)
    scene = SceneGraph(objects=[SceneObject(name="Cube"), SceneObject(name="Lamp")])
    from PIL import Image

    request = EngineRequest(
        id="r", instruction="make the cube red", scene=scene, views=[View(width=64, height=64)],
        images=[Image.new("RGB", (64, 64), "gray")],
    )  # fmt: skip
    (result,) = engine.run([request])
    validate_plan(result.plan.model_dump_json(), scene)  # random weights, but the grammar makes it valid


def test_subset_keeps_whole_groups_and_their_pairs(tmp_path: Path) -> None:
    out = evlm_tiny.subset(SAMPLE, tmp_path / "sub", groups=3, val_groups=1)
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    groups = {r["group"] for r in train}
    assert len(groups) == 3
    full = [json.loads(line) for line in (SAMPLE / "train.jsonl").read_text().splitlines()]
    assert len(train) == sum(r["group"] in groups for r in full)  # every variant of each group
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    val_groups = {json.loads(line)["group"] for line in (out / "val.jsonl").read_text().splitlines()}
    assert pairs and {p["group"] for p in pairs} <= groups | val_groups
    assert (out / "images").resolve() == (SAMPLE / "images").resolve()


def test_export_shards_a_larger_model_into_files_of_at_most_15_mb(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from transformers import AutoTokenizer

    from evlm_server.cli import BUILTIN_MODEL

    src = evlm_tiny.random_checkpoint(tmp_path / "m", AutoTokenizer.from_pretrained(BUILTIN_MODEL), "small")
    monkeypatch.setattr(evlm_tiny, "SHARD", "2MB")  # the same code path as 15MB on a 7.5 MB-sized model
    dst = evlm_tiny.export(src, tmp_path / "exported")
    shards = sorted(dst.glob("model-*.safetensors"))
    assert len(shards) >= 3 and all(f.stat().st_size <= 2 * 10**6 for f in shards)
    assert (dst / "model.safetensors.index.json").is_file()
    assert evlm_tiny.parameter_count(dst) == evlm_tiny.parameter_count(src)  # every weight, once


def test_export_halves_the_weights_and_writes_the_card(init: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    dst = evlm_tiny.export(init, tmp_path / "exported", card="# card\n")
    weights = load_file(dst / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    before = load_file(init / "model.safetensors")
    name = next(iter(before))
    assert torch.allclose(weights[name].float(), before[name], rtol=1e-2, atol=1e-2)
    assert (dst / "README.md").read_text() == "# card\n"
    assert (dst / "tokenizer_config.json").is_file() and (dst / "chat_template.jinja").is_file()
    assert not (tmp_path / "exported.tmp").exists()


def test_serve_without_a_model_loads_the_built_in_one(tmp_path: Path) -> None:
    """`evlm-server serve` with no --model serves EVLM-tiny, which answers the sample scene."""
    import os

    from evlm.client import Client, load_views
    from evlm.edits import validate_plan
    from evlm.scene import SceneGraph
    from evlm_server.cli import BUILTIN_MODEL, ENV_MODEL
    from tests.server_process import server_process

    shipped = list(BUILTIN_MODEL.parent.glob("*/model*.safetensors"))  # every built-in model's weights
    assert shipped and sum(f.stat().st_size for f in shipped) <= 40 * 10**6
    assert all(f.stat().st_size <= 15 * 10**6 for f in shipped)  # shards a GPU run can bring back
    assert (BUILTIN_MODEL / "README.md").is_file()  # the model card
    sample = Path(__file__).resolve().parents[1] / "examples" / "sample_scene"
    scene = SceneGraph.model_validate_json((sample / "scene.json").read_text())
    saved = os.environ.pop(ENV_MODEL, None)
    try:
        args = ("--device", "cpu", "--max-reasoning-tokens", "32")  # a short think: this checks loading, not quality
        with server_process(tmp_path, *args) as (endpoint, _), Client(endpoint, timeout_s=120) as client:
            assert client.info().model == BUILTIN_MODEL.name  # the folder name: info tells no path
            result = client.suggest("make the ball a bit bigger", load_views(sample / "views"), scene)
    finally:
        if saved is not None:
            os.environ[ENV_MODEL] = saved
    plan = validate_plan(result.plan, scene)
    assert plan.suggestions and result.reasoning


@pytest.mark.parametrize(
    "argv, message",
    [
        (["init", "/nonexistent/data", "out"], "no train.jsonl"),
        (["subset", str(SAMPLE), "out", "--groups", "0"], "--groups must be at least 1"),
        (["export", "/nonexistent/model", "out"], "no config.json"),
        (["card", str(SAMPLE), "--eval", str(SAMPLE)], "no config.json"),
    ],
)
def test_cli_rejects_bad_input_before_any_work(argv: list[str], message: str, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    argv = [str(tmp_path / a) if a == "out" else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        evlm_tiny.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_card_rejects_a_malformed_run(init: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("{}")
    for run, message in (("SFT=x", "expected STAGE=OUT_FOLDER=MINUTES"), (f"SFT={tmp_path}=3", "no log.jsonl")):
        with pytest.raises(SystemExit):
            evlm_tiny.main(["card", str(init), "--eval", str(tmp_path / "eval"), "--run", run])
        assert message in capsys.readouterr().err
    assert not (init / "README.md").exists()
