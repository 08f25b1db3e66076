"""Evaluation: metrics on hand-made predictions (exact numbers), the harness, the report, and
`evlm-eval` end to end on a tiny random checkpoint with the real engine."""

from __future__ import annotations

import json
import time

import pytest

from evlm.edits import Suggestion, parse_plan
from evlm_server.engine.base import EngineResult
from tests.conftest import make_scene
from tests.test_data import write_dataset
from training.data.loader import load_dataset_dir
from training.eval import metrics as M
from training.eval.harness import evaluate, select
from training.eval.report import write_report


def sug(*ops: dict) -> Suggestion:
    return Suggestion.model_validate({"title": "t", "rationale": "", "confidence": 0.5, "ops": list(ops)})


def scale(targets, factor, **kw) -> dict:
    return {"op": "scale", "targets": targets, "factor": factor, **kw}


def energy(value, **kw) -> dict:
    return {"op": "set_light_energy", "targets": ["Lamp"], "value": value, **kw}


WARM = {"op": "set_light_color", "targets": ["Lamp"], "color": [1.0, 0.8, 0.6]}
GOLD = sug(scale(["Cube"], [1.2, 1.2, 1.2]), energy(0.7))
WRONG = sug(scale(["Cube", "chair_02"], [1.3, 1.2, 1.0]), WARM)  # one op right, one wrong
CLOSE = sug(energy(0.75), scale(["Cube"], [1.25, 1.25, 1.25]))  # same plan, reordered, within 0.1


# ---------------------------------------------------------------- metrics, by hand
def test_target_f1_and_op_accuracy():
    # P = {(scale, Cube), (scale, chair_02), (set_light_color, Lamp)}, G = {(scale, Cube), (set_light_energy, Lamp)}
    assert M.target_f1(WRONG, GOLD) == pytest.approx(0.4)  # P = 1/3, R = 1/2
    assert M.op_type_accuracy(WRONG, GOLD) == 0.5
    assert M.target_f1(CLOSE, GOLD) == 1.0 and M.op_type_accuracy(CLOSE, GOLD) == 1.0
    assert M.target_f1(None, GOLD) == 0.0 and M.op_type_accuracy(None, GOLD) == 0.0
    # An extra op costs op accuracy: 1 common type / max(3, 2) ops.
    assert M.op_type_accuracy(sug(scale(["Cube"], [1, 1, 1]), WARM, WARM), GOLD) == pytest.approx(1 / 3)
    assert M.op_targets(parse_plan(_world_plan()).suggestions[0].ops[0]) == ("",)


def _world_plan() -> dict:
    op = {"op": "set_world_color", "color": [0.1, 0.1, 0.2]}
    return {"reasoning": "", "suggestions": [{"title": "t", "rationale": "", "confidence": 0.5, "ops": [op]}]}


def test_parameter_error_and_plan_accuracy():
    # Matched: scale <-> scale. |1.3-1.2|/1.2, 0, |1.0-1.2|/1.2 -> mean (0.1 + 0.2) / 1.2 / 3.
    assert M.param_error(WRONG, GOLD) == pytest.approx((0.1 + 0.2) / 1.2 / 3)
    # energy 0.05/1 and three factors 0.05/1.2 -> (0.05 + 0.125) / 4
    assert M.param_error(CLOSE, GOLD) == pytest.approx(0.04375)
    assert M.param_error(sug(WARM), GOLD) is None  # no op matches
    assert M.suggestion_matches(CLOSE, GOLD, tol=0.1)
    assert not M.suggestion_matches(CLOSE, GOLD, tol=0.045)  # 0.05 > 0.045
    assert not M.suggestion_matches(WRONG, GOLD)
    assert not M.suggestion_matches(sug(energy(0.75, mode="absolute"), scale(["Cube"], [1.2, 1.2, 1.2])), GOLD)
    assert not M.suggestion_matches(sug(energy(0.7), scale(["chair_02"], [1.2, 1.2, 1.2])), GOLD)  # target
    assert not M.suggestion_matches(sug(energy(0.7), scale(["Cube"], [1.4, 1.2, 1.2])), GOLD)  # 0.2/1.2 > 0.1
    assert not M.suggestion_matches(sug(energy(0.7)), GOLD)
    # Large magnitudes are relative: 1100 vs 1000 W is e = 0.1.
    assert M.numeric_error(1100.0, 1000.0) == pytest.approx(0.1) and M.numeric_error(0.3, 0.0) == pytest.approx(0.3)
    assert M.numeric_error(-500.0, 2.0) == 1.0


def test_op_matching_prefers_target_overlap():
    gold = sug(scale(["chair_02"], [2, 2, 2]), scale(["Cube"], [1.2, 1.2, 1.2]))
    pred = sug(scale(["Cube"], [1.2, 1.2, 1.2]), scale(["chair_02"], [2, 2, 2]))
    pairs = M.match_ops(pred.ops, gold.ops)
    assert [(p.targets, g.targets) for p, g in pairs] == [(["chair_02"], ["chair_02"]), (["Cube"], ["Cube"])]
    assert M.param_error(pred, gold) == 0.0 and M.suggestion_matches(pred, gold)


def test_reasoning_consistency():
    # Checks: targets Cube (yes), chair_02 (no), Lamp (yes); intents scale "bigger" (yes), light color (no).
    assert M.reasoning_consistency("Make the Cube bigger and dim the Lamp.", WRONG) == pytest.approx(3 / 5)
    assert M.reasoning_consistency("The cube should be larger; the lamp dimmer (less energy).", GOLD) == 1.0
    assert M.reasoning_consistency("Scale Cube.001 up.", sug(scale(["Cube"], [2, 2, 2]))) == 0.5  # not the Cube
    assert M.reasoning_consistency("Scale the Cube.", sug(scale(["Cube"], [2, 2, 2]))) == 1.0
    assert M.reasoning_consistency("anything", None) == 0.0


def test_score_record_parse_and_validity():
    scene = make_scene()
    gold = parse_plan({"reasoning": "", "suggestions": [GOLD.model_dump()]})
    failed = M.score_record(M.Prediction("a", None, error="PlanError: ...", error_code="invalid_json"), gold, scene)
    assert failed == {
        "parsed": False, "schema_valid": False, "target_f1": 0.0, "op_accuracy": 0.0, "param_error": None,
        "plan_accuracy": False, "plan_accuracy_any": False, "consistency": 0.0, "latency_s": None,
    }  # fmt: skip
    bad_target = M.prediction_from_exception("a", _plan_error())
    assert bad_target.error_code == "missing_target"
    assert M.score_record(bad_target, gold, scene)["parsed"] is True
    ghost = parse_plan({"reasoning": "", "suggestions": [sug(scale(["Ghost"], [1, 1, 1])).model_dump()]})
    row = M.score_record(M.Prediction("a", ghost, "Scale the Ghost."), gold, scene)
    assert row["parsed"] and not row["schema_valid"] and row["consistency"] == 1.0
    two = parse_plan({"reasoning": "", "suggestions": [WRONG.model_dump(), CLOSE.model_dump()]})
    row = M.score_record(M.Prediction("a", two, "Cube bigger, Lamp warm.", latency_s=0.5), gold, scene)
    assert row["parsed"] and row["schema_valid"] and row["target_f1"] == pytest.approx(0.4)
    assert row["plan_accuracy"] is False and row["plan_accuracy_any"] is True and row["latency_s"] == 0.5


def _plan_error():
    from evlm.edits import PlanError

    return PlanError("missing_target", "scale: object 'Ghost' is not in the scene", "suggestions.0.ops.0.targets.0")


def test_aggregate_and_percentiles():
    assert M.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5 and M.percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(
        3.7
    )
    assert M.percentile([5.0], 90) == 5.0
    base = {"schema_valid": True, "target_f1": 1.0, "op_accuracy": 1.0, "plan_accuracy": True, "consistency": 1.0}
    rows = [
        {**base, "split": "test", "family": "polysemy", "modality": "3d", "parsed": True, "param_error": 0.2,
         "plan_accuracy_any": True, "latency_s": 1.0},
        {**base, "split": "test", "family": "animation", "modality": "4d", "parsed": True, "param_error": 0.4,
         "plan_accuracy_any": False, "latency_s": 3.0, "target_f1": 0.5},
        {**base, "split": "gen", "family": "animation", "modality": "4d", "parsed": False, "param_error": None,
         "plan_accuracy_any": False, "latency_s": 2.0, "schema_valid": False, "target_f1": 0.0},
    ]  # fmt: skip
    groups = M.aggregate(rows)
    assert list(groups) == [
        "overall", "split=gen", "split=test", "family=animation", "family=polysemy", "modality=3d", "modality=4d",
    ]  # fmt: skip
    o = groups["overall"]
    assert o["n"] == 3 and o["parsed"] == pytest.approx(2 / 3) and o["target_f1"] == pytest.approx(0.5)
    assert (
        o["param_error"] == pytest.approx(0.3) and o["n_param"] == 2 and o["plan_accuracy_any"] == pytest.approx(1 / 3)
    )
    assert (o["latency_mean_s"], o["latency_p50_s"], o["latency_p90_s"]) == (2.0, 2.0, pytest.approx(2.8))
    a = groups["family=animation"]
    assert a["n"] == 2 and a["target_f1"] == 0.25 and a["param_error"] == pytest.approx(0.4)


# ---------------------------------------------------------------- the harness with a scripted engine
class OracleEngine:
    """Answers each record with its gold plan and reasoning (looked up by request id); one id fails."""

    name, max_batch, needs_pixels = "oracle", 8, True

    def __init__(self, records, fail_id=None):
        self.records = {r.id: r for r in records}
        self.fail_id = fail_id
        self.batches = []

    def info(self):
        return {"device": "none"}

    def run(self, batch):
        self.batches.append([(r.id, len(r.images), len(r.references), r.images[0].mode) for r in batch])
        out = []
        for req in batch:
            r = self.records[req.id]
            out.append(RuntimeError("boom") if req.id == self.fail_id else EngineResult(r.reasoning, r.plan))
        return out


def test_harness_scores_gold_answers_perfectly(tmp_path):
    data = load_dataset_dir(write_dataset(tmp_path / "ds"))
    examples = select(data, ["test", "gen", "train"])
    assert [e.record.id for e in examples] == ["e1", "e2", "e3", "g1", "t1"]  # t2 is a wrong_target variant
    assert [e.record.id for e in select(data, ["train"], variants=None)] == ["t1", "t2"]
    assert [e.record.id for e in select(data, ["test", "gen"], limit=1)] == ["e1", "g1"]
    engine = OracleEngine([e.record for e in examples], fail_id="g1")
    result = evaluate(engine, examples, batch=2)
    assert engine.batches[0] == [("e1", 1, 0, "RGB"), ("e2", 2, 1, "RGB")]  # views and reference decoded
    assert [len(b) for b in engine.batches] == [2, 2, 1]
    g = result.groups
    assert g["overall"]["n"] == 5 and g["overall"]["parsed"] == pytest.approx(0.8)
    assert g["split=test"]["plan_accuracy"] == 1.0 and g["split=test"]["param_error"] == 0.0
    # The hand-written gold reasoning names every target and op intent of its plan.
    assert g["split=test"]["consistency"] == 1.0 and g["split=train"]["consistency"] == 1.0
    assert g["split=gen"]["parsed"] == 0.0 and result.predictions[3].error == "RuntimeError: boom"
    paths = write_report(result, tmp_path / "out")
    table = paths["markdown"].read_text()
    assert "| split=test | 3 | 1.000 | 1.000 | 1.000 | 1.000 | 0.000 | 1.000 | 1.000 | 1.000 |" in table
    saved = json.loads(paths["json"].read_text())
    assert saved["groups"]["overall"]["n"] == 5 and [r["id"] for r in saved["records"]] == [
        "e1",
        "e2",
        "e3",
        "g1",
        "t1",
    ]
    assert paths["plot"].read_bytes().startswith(b"\x89PNG")
    preds = [json.loads(line) for line in paths["predictions"].read_text().splitlines()]
    assert preds[3]["plan"] is None and preds[0]["plan"] == examples[0].record.plan.model_dump(mode="json")


# ---------------------------------------------------------------- evlm-eval end to end, real engine
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    from training.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ck", arch="qwen2_vl", seed=0)


def test_evlm_eval_end_to_end_on_a_tiny_random_checkpoint(tmp_path, tiny_checkpoint, capsys):
    from training.eval.cli import main

    data = write_dataset(tmp_path / "ds")
    out = tmp_path / "report"
    argv = ["--model", str(tiny_checkpoint), "--data", str(data), "--splits", "test,gen", "--out", str(out),
            "--batch", "2", "--device", "cpu", "--max-reasoning-tokens", "16", "--max-answer-tokens", "300",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "| overall | 4 |" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["groups"]["overall"]
    # A random model under the grammar: every answer is a plan that validates against its scene.
    assert overall["n"] == 4 and overall["parsed"] == 1.0 and overall["schema_valid"] == 1.0
    assert 0.0 <= overall["target_f1"] <= 1.0 and overall["latency_p90_s"] >= overall["latency_p50_s"] > 0
    assert set(metrics["groups"]) >= {"split=test", "split=gen", "family=animation", "modality=image", "modality=4d"}
    assert metrics["config"]["device"] == "cpu" and metrics["config"]["variants"] == "correct"
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == ["e1", "e2", "e3", "g1"]
    assert all(p["error"] is None and 0 < p["tokens"]["answer"] <= 300 and p["plan"] for p in preds)
    assert (out / "report.md").read_text().startswith("# EVLM evaluation")
    assert (out / "metrics.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("prompt_format", [1, 2])
def test_engine_prompt_matches_the_collators_prompt(tmp_path, tiny_checkpoint, prompt_format):
    """The collator's prompt part is, token for token, as long as the engine's prompt, in the
    prompt format the checkpoint declares (the engine reads it; training is told it)."""
    import shutil

    from evlm_server.engine import load_engine
    from evlm_server.engine.prompt import write_prompt_format
    from training.data.collate import Collator
    from training.eval.harness import predict

    model = shutil.copytree(tiny_checkpoint, tmp_path / "model")
    write_prompt_format(model, prompt_format)
    examples = load_dataset_dir(write_dataset(tmp_path / "ds"), ["test"])["test"][:3]  # a scene; a reference; none
    engine = load_engine(model, device="cpu", max_reasoning_tokens=4, max_answer_tokens=300)
    assert engine.prompt_format == prompt_format
    predictions = predict(engine, examples)
    for fmt in (1, 2):
        collator = Collator(engine.processor, prompt_format=fmt)
        counts = [collator.encode(ex)["segment_ids"].count(0) for ex in examples]
        same = [pred.tokens["prompt"] == n for pred, n in zip(predictions, counts, strict=True)]
        assert all(same) if fmt == prompt_format else not same[0]  # the scene's text differs between formats


def test_evlm_eval_rejects_bad_input(tmp_path, tiny_checkpoint, capsys):
    from training.eval.cli import main

    data = write_dataset(tmp_path / "ds")
    assert main(["--model", str(tmp_path / "none"), "--data", str(data), "--no-progress"]) == 2
    assert "model checkpoint not found" in capsys.readouterr().err
    assert main(["--model", str(tiny_checkpoint), "--data", str(tmp_path / "nodata")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    (data / "val.jsonl").unlink()
    assert main(["--model", str(tiny_checkpoint), "--data", str(data), "--splits", "val"]) == 2
    assert "split file not found" in capsys.readouterr().err
    for bad in (["--splits", "test,dev"], ["--limit", "0"], ["--batch", "x"], ["--tolerance", "2"]):
        with pytest.raises(SystemExit) as e:
            main(["--model", str(tiny_checkpoint), "--data", str(data), *bad])
        assert e.value.code == 2


# ---------------------------------------------------------------- latency per request
class TimedEngine:
    """A batch takes `wall_s`; request i reports its own generation as `own[i]` seconds (prefill +
    reason + answer), or fails."""

    max_batch = 8

    def __init__(self, records, own, wall_s=0.3):
        self.records, self.own, self.wall_s = {r.id: r for r in records}, own, wall_s

    def run(self, batch):
        time.sleep(self.wall_s)
        out = []
        for req, own in zip(batch, self.own, strict=True):
            r = self.records[req.id]
            stages = {"prefill": 0.01, "reason": own - 0.02, "answer": 0.01, "total": self.wall_s}
            out.append(RuntimeError("boom") if own is None else EngineResult(r.reasoning, r.plan, timings=stages))
        return out


def test_latency_is_measured_per_request_not_per_batch(tmp_path):
    from training.eval.harness import predict, request_latencies

    examples = select(load_dataset_dir(write_dataset(tmp_path / "ds")), ["test"])[:3]
    preds = predict(TimedEngine([e.record for e in examples], [0.05, 0.15, 0.10]), examples, batch=3)
    lat = [p.latency_s for p in preds]
    # Each request: the batch's shared work (wall - longest generation) plus its own generation.
    assert lat[1] == max(lat) and lat[1] - lat[0] == pytest.approx(0.10) and lat[2] - lat[0] == pytest.approx(0.05)
    assert 0.3 <= lat[1] < 0.3 + 0.2  # the slowest request waited the whole batch
    # A failed request, or an engine without per-request stages, gets the batch's wall time.
    ok = EngineResult("r", examples[0].record.plan, timings={"prefill": 0.1, "reason": 0.2, "answer": 0.1})
    assert request_latencies([ok, RuntimeError("x")], 1.0) == [pytest.approx(1.0), 1.0]
    bare = EngineResult("r", examples[0].record.plan, timings={"total": 0.5})
    assert request_latencies([bare, bare], 0.7) == [0.7, 0.7]


def test_evlm_eval_defaults_to_the_built_in_model(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from evlm_server.cli import BUILTIN_MODEL
    from training.eval.cli import main, parser

    monkeypatch.delenv("EVLM_MODEL", raising=False)
    assert parser().parse_args(["--data", "d"]).model == str(BUILTIN_MODEL)
    monkeypatch.setenv("EVLM_MODEL", "/some/model")
    assert parser().parse_args(["--data", "d"]).model == "/some/model"
    monkeypatch.delenv("EVLM_MODEL")
    data, out = write_dataset(tmp_path / "ds"), tmp_path / "report"
    argv = ["--data", str(data), "--splits", "test", "--limit", "1", "--out", str(out), "--device", "cpu",
            "--max-reasoning-tokens", "8", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["config"]["model"] == str(BUILTIN_MODEL)
