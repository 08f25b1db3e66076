"""The Blender-built evaluation set checks itself: for every case, the hand-written gold edit applied
through the add-on's real apply makes the case's predicate pass, and the unedited scene and the
decoy (a plausible wrong edit) make it fail. Both edits are valid plans for the captured scene."""

from __future__ import annotations

import pytest

from blender_addon import apply, capture
from evlm.edits import EditPlan, Suggestion, validate_plan
from training.eval.blender import measure, scenes
from training.eval.blender.cases import CASES, right_target


def _suggestion(ops: tuple) -> Suggestion:
    return Suggestion(title="edit", rationale="", confidence=1.0, ops=list(ops))


def _judged(case, scene, ops):  # noqa: ANN001, ANN202
    """The case's check on `scene` before and after `ops` (none: a second look at the same scene)."""
    before = measure.snapshot(scene)
    if ops:
        apply.apply_suggestion(scene, _suggestion(ops))
    return case.check(before, measure.snapshot(scene))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gold_passes_and_unedited_and_decoy_fail(case) -> None:  # noqa: ANN001
    scene = scenes.build(case.scene)
    graph = capture.extract_scene_graph(scene)
    names = set(graph.object_names())
    assert set(case.targets) | set(case.also) <= names, "a case names objects its scene lacks"
    for ops in (case.gold, case.decoy):  # both are plans a model could write for this capture
        validate_plan(EditPlan(reasoning="", suggestions=[_suggestion(ops)]).model_dump(mode="json"), graph)
    unedited = _judged(case, scene, ())
    assert not unedited.ok, f"passes with no edit: {unedited.detail}"
    gold = _judged(case, scene, case.gold)
    assert gold.ok, f"gold edit fails: {gold.detail}"
    decoy = _judged(case, scenes.build(case.scene), case.decoy)  # on a fresh scene
    assert not decoy.ok, f"decoy passes: {decoy.detail}"
    assert right_target(case, case.gold)
