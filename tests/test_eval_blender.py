"""The Blender-built evaluation set: its checks on hand-made states, its cases, its report, and the
`evlm-eval --blender` runner end to end (real server, real Blender, real capture and apply)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evlm.edits import EditPlan, Suggestion, validate_plan
from evlm_server.engine.base import EngineResult
from evlm_server.engine.null import NullEngine
from training.eval.blender import checks, cli
from training.eval.blender import report as reports
from training.eval.blender.cases import BY_ID, CASES, KINDS, Case, op, right_target, select
from training.eval.blender.state import Light, Material, Object, SceneState, World, is_colour

ROOT = Path(__file__).resolve().parent.parent
BLENDER_PYTHON = ROOT / ".venv-blender" / "bin" / "python"
needs_blender = pytest.mark.skipif(not BLENDER_PYTHON.exists(), reason="no .venv-blender (scripts/setup_blender.sh)")


# ---------------------------------------------------------------- hand-made states
def obj(name: str, lo=(0, 0, 0), hi=(1, 1, 1), **kw) -> Object:  # noqa: ANN001
    m = kw.pop("matrix", None) or (1, 0, 0, lo[0], 0, 1, 0, lo[1], 0, 0, 1, lo[2], 0, 0, 0, 1)
    return Object(name=name, type=kw.pop("type", "MESH"), parent=None, matrix=tuple(map(float, m)),
                  lo=tuple(map(float, lo)), hi=tuple(map(float, hi)), rendered=kw.pop("rendered", True), **kw)  # fmt: skip


def state(*objects: Object, materials=None, world=None, fps=24.0) -> SceneState:  # noqa: ANN001
    return SceneState({o.name: o for o in objects}, materials or {}, world, 1, 48, fps, 1, None)


def lamp(energy: float, color=(1.0, 1.0, 1.0)) -> Object:  # noqa: ANN001
    return obj("Lamp", (2, 2, 2), (2, 2, 2), type="LIGHT", light=Light("POINT", energy, color))


def test_ratio_checks_read_the_measure_against_before() -> None:
    check = checks.energy_ratio("Lamp", None, 0.1)
    assert check(state(lamp(100)), state(lamp(5))).ok
    outcome = check(state(lamp(100)), state(lamp(50)))
    assert not outcome.ok and "100 -> 50 W (0.5x)" in outcome.detail
    assert check.text == "Lamp's energy <= 0.1x what it was"


def test_a_missing_object_fails_the_check_saying_so() -> None:
    outcome = checks.energy_ratio("Lamp", None, 0.1)(state(lamp(100)), state())
    assert not outcome.ok and "Lamp is not in the scene" in outcome.detail
    assert checks.gone("Lamp")(state(lamp(100)), state()).ok


def test_all_of_and_any_of() -> None:
    dim, gone = checks.energy_ratio("Lamp", None, 0.5), checks.gone("Lamp")
    before, after = state(lamp(100)), state(lamp(10))
    assert checks.all_of(dim, checks.unchanged("Lamp")).fn(before, after).ok is False
    assert checks.any_of(gone, dim)(before, after).ok
    assert not checks.any_of(gone, checks.energy_ratio("Lamp", 2.0, None))(before, after).ok


def test_named_colours_are_ranges_of_the_linear_colour() -> None:
    assert is_colour((0.8, 0.05, 0.04), "red") and not is_colour((0.8, 0.4, 0.05), "red")
    assert is_colour((1.0, 0.26, 0.0), "orange") and is_colour((1.0, 0.8, 0.0), "yellow")
    assert is_colour((0.02, 0.2, 0.04), "green") and is_colour((0.5, 0.7, 1.0), "blue")
    assert is_colour((0.9, 0.9, 0.88), "white") and is_colour((0.01, 0.01, 0.01), "black")
    assert not is_colour((0.5, 0.5, 0.5), "white") and not is_colour((0.1, 0.1, 0.1), "black")


def test_aims_at_measures_the_angle_from_the_cameras_minus_z() -> None:
    # a camera at the origin looking down -Z (identity rotation) and one looking along +X
    down = obj("Cam", (0, 0, 0), (0, 0, 0), type="CAMERA", lens=50.0)
    along_x = obj("Cam", (0, 0, 0), (0, 0, 0), type="CAMERA", lens=50.0,
                  matrix=(0, 0, -1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1))  # fmt: skip
    target = obj("Ball", (4.9, -0.1, -0.1), (5.1, 0.1, 0.1))
    outcome = checks.aims_at("Cam", "Ball")(state(down, target), state(along_x, target))
    assert outcome.ok and "90.0 -> 0.0 degrees" in outcome.detail
    assert not checks.aims_at("Cam", "Ball")(state(along_x, target), state(down, target)).ok


def test_on_top_of_and_next_to() -> None:
    table = obj("Table", (0, 0, 0), (2, 1, 0.8))
    on = obj("Vase", (0.5, 0.4, 0.8), (0.7, 0.6, 1.2))
    beside = obj("Vase", (2.1, 0.4, 0.8), (2.3, 0.6, 1.2))
    assert checks.on_top_of("Vase", "Table")(state(), state(table, on)).ok
    assert not checks.on_top_of("Vase", "Table")(state(), state(table, beside)).ok  # at the height, not over it
    chair = obj("Chair", (2.2, 0, 0), (2.7, 0.5, 1.0))
    assert checks.next_to("Chair", "Table", gap=0.5)(state(), state(table, chair)).ok
    inside = obj("Chair", (1.5, 0, 0), (2.0, 0.5, 1.0))
    assert "clashing" in checks.next_to("Chair", "Table")(state(), state(table, inside)).detail


def test_copies_beside_inside_and_on_top() -> None:
    crate = obj("Crate", (0, 0, 0), (1, 1, 1), vertices=8)
    copy = lambda lo: obj("Crate.001", lo, tuple(v + 1 for v in lo), vertices=8)  # noqa: E731
    before = state(crate)
    assert checks.copies("Crate", 1, 1)(before, state(crate, copy((1.5, 0, 0)))).ok
    assert not checks.copies("Crate", 1, 1)(before, state(crate, copy((0.1, 0, 0)))).ok  # inside the original
    assert not checks.copies("Crate", 1, 1)(before, state(crate, copy((1.5, 0, 0.5)))).ok  # floating
    assert checks.copies("Crate", 1, 1, place="on_top")(before, state(crate, copy((0, 0, 1)))).ok
    other = obj("Crate.001", (3, 0, 0), (3.5, 0.5, 0.5), vertices=8)  # another size: not a copy
    assert "copies of Crate: []" in checks.copies("Crate", 1)(before, state(crate, other)).detail


def test_animation_checks_use_seconds_keys_and_the_track() -> None:
    from training.eval.blender.state import Key

    def keyed(frames: tuple, fps: float = 24.0, interpolation: str = "LINEAR") -> SceneState:
        keys = {"location[0]": tuple(Key(float(f), float(i), interpolation, "AUTO") for i, f in enumerate(frames))}
        return state(obj("Car", keys=keys), fps=fps)

    assert checks.duration_ratio("Car", 1.6, 2.5)(keyed((1, 49)), keyed((1, 97))).ok
    slower_rate = keyed((1, 49), fps=12.0)  # a lower frame rate slows it down too
    assert checks.duration_ratio("Car", 1.6, 2.5)(keyed((1, 49)), slower_rate).ok
    assert checks.starts_later("Car", 8, 12)(keyed((1, 49)), keyed((11, 59))).ok
    assert not checks.starts_later("Car", 8, 12)(keyed((1, 49)), keyed((11, 99))).ok  # also stretched
    assert checks.interpolation("Car")(keyed((1, 49)), keyed((1, 49), interpolation="BEZIER")).ok

    def moving(speeds: list[float]) -> SceneState:
        track, x = [], 0.0
        for f, v in enumerate(speeds):
            track.append((float(f), x, 0.0, 0.0))
            x += v
        return state(obj("Car", track=tuple(track)))

    steady, smooth = moving([1.0] * 40), moving([math.sin(math.pi * i / 39) for i in range(40)])
    assert checks.eased("Car")(steady, smooth).ok and not checks.eased("Car")(smooth, steady).ok


def test_world_and_material_checks() -> None:
    mat = lambda c, m=0.0: Material(c, 1.0, 0.5, m, (0.0, 0.0, 0.0), 0.0)  # noqa: E731
    before = state(obj("Vase", materials=("Clay",)), materials={"Clay": mat((0.6, 0.3, 0.2))},
                   world=World((0.4, 0.5, 0.6), 1.0))  # fmt: skip
    after = state(obj("Vase", materials=("Clay",)), materials={"Clay": mat((0.1, 0.6, 0.1), 1.0)},
                  world=World((0.4, 0.3, 0.2), 0.2))  # fmt: skip
    assert checks.colour("Vase", "green")(before, after).ok
    assert checks.surface("Vase", metallic=(0.7, None))(before, after).ok
    assert checks.world_ratio(None, 0.3)(before, after).ok and checks.world_colour("warmer")(before, after).ok
    assert not checks.world_colour("cooler")(before, after).ok


# ---------------------------------------------------------------- cases
def test_the_set_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 60
    assert len(BY_ID) == len(CASES), "case ids are unique"
    for kind in KINDS:
        assert sum(c.kind == kind for c in CASES) >= 4, kind
    assert len({c.scene for c in CASES}) >= 6
    assert all(c.gold and c.decoy and c.instruction.strip() for c in CASES)


def test_cases_stay_out_of_the_training_generator() -> None:
    """The set measures generalization: no instruction of it appears in the generator's code."""
    text = "\n".join(p.read_text(errors="replace").lower() for p in (ROOT / "training" / "synth").rglob("*.py"))
    assert not [c.instruction for c in CASES if c.instruction.lower() in text]
    assert "training.eval.blender" not in text


def test_right_target_is_exact_with_allowed_extras() -> None:
    case = Case("s", "n", "lights", "dim the lamp", ("Lamp_Light",), checks.gone("x"), (), (), also=("Floor_Lamp",))
    energy = lambda *names: op("set_light_energy", targets=list(names), value=0.5)  # noqa: E731
    assert right_target(case, [energy("Lamp_Light")])
    assert right_target(case, [energy("Lamp_Light"), op("translate", targets=["Floor_Lamp"], vector=[0, 0, 1])])
    assert not right_target(case, [energy("Lamp_Light", "Other_Light")])
    assert not right_target(case, [op("set_world_strength", value=0.5)])
    either = Case("s", "n", "duplication", "one more", (), checks.gone("x"), (), (), also=("A", "B"))
    assert right_target(either, [op("duplicate", targets=["B"], offset=[1, 0, 0])])
    assert not right_target(either, [op("set_world_strength", value=0.5)])  # names none of them
    scene_wide = Case("s", "n", "world", "darker", (), checks.gone("x"), (), ())
    assert right_target(scene_wide, [op("set_world_strength", value=0.5)])
    assert not right_target(scene_wide, [op("scale", targets=["A"], factor=[2, 2, 2])])
    look = op("camera_look_at", camera="Cam", target="Statue")  # both the camera and what it looks at
    assert right_target(Case("s", "n", "camera", "look", ("Cam", "Statue"), checks.gone("x"), (), ()), [look])


def test_select_filters_and_rejects_unknown_names() -> None:
    assert {c.kind for c in select(["world", "camera"])} == {"world", "camera"}
    assert [c.id for c in select(ids=["factory/red_cube"])] == ["factory/red_cube"]
    assert len(select(limit=3)) == 3
    with pytest.raises(ValueError, match="unknown kind"):
        select(["colour"])
    with pytest.raises(ValueError, match="unknown case"):
        select(ids=["factory/nope"])


# ---------------------------------------------------------------- report
def record(kind: str, passed: bool, right: bool, error: dict | None = None) -> dict:
    return {"id": f"s/{kind}{passed}{right}", "scene": "s", "kind": kind, "passed": passed, "right_target": right,
            "applied": passed or right, "error": error, "latency_s": 1.0, "ops": [], "detail": "d", "plan": {},
            "reasoning": "long"}  # fmt: skip


def test_summary_groups_by_kind_and_overall() -> None:
    records = [
        record("lights", True, True),
        record("lights", False, True),
        record("world", False, False, {"code": "timeout", "message": "no reply"}),
    ]
    report = reports.summarize(records, {"model": "m"})
    assert (report["kinds"]["lights"]["pass_rate"], report["kinds"]["lights"]["right_target_rate"]) == (0.5, 1.0)
    assert report["overall"]["n"] == 3 and report["overall"]["errors"] == 1
    assert list(report["kinds"]) == ["lights", "world"]  # the set's order of kinds
    assert "plan" not in report["cases"][0] and "reasoning" not in report["cases"][0]
    text = reports.markdown(report)
    assert "| lights | 2 | 50.0% (1/2) | 100.0% (2/2) |" in text and "error timeout: no reply" in text


# ---------------------------------------------------------------- the command line
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--kinds", "colour"], "unknown kind colour"),
        (["--cases", "factory/nope"], "unknown case factory/nope"),
        (["--model", "/nonexistent"], "not a checkpoint folder"),
        (["--blender-python", "/nonexistent/python"], "no Python with bpy"),
        (["--endpoint", "ipc:///nonexistent/evlm.sock"], "no evlm-server answers at ipc:///nonexistent/evlm.sock"),
        (["--endpoint", "tcp://127.0.0.1:5555", "--device", "cuda"], "--device set up the server evlm-eval starts"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv: list, message: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert cli.main([*argv, "--out", str(tmp_path / "out"), "--limit", "1"]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["--limit", "0"])
    assert e.value.code == 2


def test_the_eval_command_dispatches_blender(capsys) -> None:  # noqa: ANN001
    from training.eval.cli import main

    assert main(["--blender", "--list", "--kinds", "world"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == sum(c.kind == "world" for c in CASES) and "factory/brighter_world" in "\n".join(listed)


def test_a_blender_that_dies_or_hangs_costs_one_case_each(serve, tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    dies = tmp_path / "dies"
    dies.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    hangs = tmp_path / "hangs"
    hangs.write_text("#!/bin/sh\nsleep 60\n")
    for fake in (dies, hangs):
        fake.chmod(0o755)
    monkeypatch.setattr(cli, "HUNG_MARGIN_S", 0.5)
    endpoint = serve(NullEngine()).endpoint
    for fake in (dies, hangs):
        out = tmp_path / f"out_{fake.name}"
        argv = ["--endpoint", endpoint, "--blender-python", str(fake), "--out", str(out),
                "--cases", "factory/red_cube,factory/dim_a_little", "--timeout", "1"]  # fmt: skip
        assert cli.main(argv) == 1  # done, with errors
        report = json.loads((out / "report.json").read_text())
        assert [c["error"]["code"] for c in report["cases"]] == ["blender_crashed"] * 2
        assert report["overall"]["errors"] == 2 and report["overall"]["pass_rate"] == 0.0
    died = json.loads((tmp_path / "out_dies" / "report.json").read_text())["cases"][0]
    assert "Segmentation fault" in died["error"]["message"]
    assert capsys.readouterr().out.count("ERROR") == 4


class ScriptedEngine:
    """Answers each instruction with a fixed plan (validated against the request's scene)."""

    name, max_batch, needs_pixels = "scripted", 4, False

    def __init__(self, answers: dict[str, list[Suggestion]]) -> None:
        self.answers = answers

    def info(self) -> dict:
        return {"model": None, "device": "none"}

    def run(self, batch: list) -> list:
        out = []
        for req in batch:
            plan = EditPlan(reasoning="scripted", suggestions=self.answers[req.instruction])
            out.append(EngineResult("scripted", validate_plan(plan.model_dump(mode="json"), req.scene)))
        return out


@needs_blender
@pytest.mark.slow
def test_end_to_end_through_capture_server_and_apply(serve, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """Three cases through real Blender and a real server: the best suggestion is the most confident
    one that applies; the gold edit passes, the decoy fails, a plan that cannot apply is skipped."""
    hat, dim, red = BY_ID["character/hat_on_head"], BY_ID["factory/dim_a_little"], BY_ID["factory/red_cube"]
    s = lambda ops, confidence: Suggestion(title="t", rationale="", confidence=confidence, ops=list(ops))  # noqa: E731
    unusable = [op("set_roughness", targets=["Hat"], value=0.5, slot=3)]  # a valid plan; the hat has one slot
    answers = {
        # the gold edit is the most confident one that applies
        hat.instruction: [s(hat.decoy, 0.4), s(unusable, 0.9), s(hat.gold, 0.6)],
        dim.instruction: [s(dim.gold, 0.3), s(dim.decoy, 0.8)],  # the decoy wins on confidence, and fails
        red.instruction: [s([op("generative_edit", modality="3d", prompt="red", mask={"objects": ["Cube"]})], 1.0)],
    }
    server = serve(ScriptedEngine(answers))
    out = tmp_path / "out"
    argv = ["--endpoint", server.endpoint, "--out", str(out), "--cases", f"{hat.id},{dim.id},{red.id}"]
    assert cli.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    cases = {c["id"]: c for c in report["cases"]}
    assert cases[hat.id]["passed"] and cases[hat.id]["right_target"] and cases[hat.id]["suggestion"]["index"] == 2
    assert cases[hat.id]["ops"] == [o.model_dump(mode="json") for o in hat.gold]
    assert "Hat -0.0 cm from Hero_Head's top, over it" in cases[hat.id]["detail"]  # measured in Blender after the apply
    assert not cases[dim.id]["passed"] and cases[dim.id]["right_target"]  # right light, wrong amount
    assert "1000 -> 200 W (0.2x)" in cases[dim.id]["detail"]
    assert not cases[red.id]["applied"] and not cases[red.id]["passed"]
    assert "none of the 1" in cases[red.id]["not_applied"]
    assert report["overall"] | {"latency_mean_s": None, "latency_p50_s": None} == {
        "n": 3, "passed": 1, "pass_rate": 0.3333, "right_target": 2, "right_target_rate": 0.6667, "applied": 2,
        "applied_rate": 0.6667, "errors": 0, "latency_mean_s": None, "latency_p50_s": None,
    }  # fmt: skip
    assert report["kinds"]["placement"]["pass_rate"] == 1.0 and report["kinds"]["lights"]["pass_rate"] == 0.0
    lines = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [hat.id, red.id, dim.id] and lines[0]["reasoning"] == "scripted"  # set order
    printed = capsys.readouterr().out
    assert "PASS  target ok  character/hat_on_head: translate(Hat)" in printed and (out / "report.md").is_file()


@needs_blender
@pytest.mark.slow
def test_the_command_starts_its_own_server(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli.main(["--engine", "null", "--out", str(out), "--cases", "gallery/darker_room"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["engine"] == "null" and report["overall"]["applied"] == 0
    # judged on the scene as it was left
    assert report["cases"][0]["detail"] == "world brightness 0.3014 -> 0.3014 (1x)"
    assert "serving null" in (out / "server.log").read_text()
