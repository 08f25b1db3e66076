"""Continuous quality scores of a (reasoning, answer) pair against a gold plan.

Plan similarity, sim(P, G) in [0, 1]:
- Ops are matched per suggestion, greedily in the gold's order, to an unused op of the same kind
  (`op` name). A matched pair scores q = t * (0.4 + 0.6 * v):
  t = target agreement: Jaccard of the scene names the two ops refer to (`_refs` fields; for a
      generative_edit also the mask's mean region IoU), 1 when the op names nothing;
  v = value agreement: the product over the op's other leaf fields (every field must be right:
      a wrong mode or the wrong direction sinks the op) of a per-field similarity:
      exp(-d) with d the error in the field's unit: factors, energies, bevel widths and
      thicknesses |ln(p/g)| / ln 2 (twice or half: d = 1; the other sign: d = 10), [0, 1]
      values and colour channels |p - g| / 0.25, metres |p - g| / 0.2,
      degrees |p - g| / 30, frames |p - g| / 10; a vector (colour, offset, XYZ factor) takes the
      Euclidean norm of its components' d; strings score their word Jaccard, everything else
      (enums, booleans, integers, modality) 1 if equal else 0. A generative_edit's strength is a
      [0, 1] value; an emission strength is a factor.
      Direction counts: a change that goes the other way from the gold's change, or no change
      where the gold changes (a factor below 1 where the gold's is above, a darker colour where
      the gold's is lighter: the dot product of the two changes from the baseline is not
      positive) scores 0. The baseline is the identity for
      relative ops (factor 1, offset 0) and, given the scene, the current value for absolute ones
      (a material's colour or roughness, a light's colour, the world's colour and strength).
- A suggestion scores sum(q) / (gold ops + unmatched extra ops): a missing op counts 0, an extra
  op costs as much as a missing one.
- A plan scores the weighted mean of its suggestions against the gold's, position by position,
  weights 1, 1/2, 1/4, ... (the first suggestion is what an artist applies); a missing
  suggestion scores 0; suggestions beyond the gold's are ignored.
`target_sim` and `value_sim` are the same sums with q = t and q = v.

Scores of a record whose reasoning describes plan D and whose answer is plan P, gold G:
- answer = sim(P, G);
- reasoning = c * (I + T + M + F) / 4, with c = sim(D, P) (does the reasoning support the plan it
  ends in?), I = 1 (the synthetic rationales always list the right readings), T = target_sim(D, G)
  (targets resolved right?), M = value_sim(D, G) (magnitudes right?), F = sim(P, G) (the
  reflection says the plan fits the intent: true only as far as the plan is right).
So: correct (D = P = G): 1 and 1. wrong_magnitude (D = P, values off): answer 0.4 + 0.6v-ish,
reasoning 0.6 + 0.4v-ish. wrong_target (D = P, other targets): answer near 0, reasoning about
0.5. contradiction (P = G, D differs): answer 1, reasoning low (c small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel

from evlm.edits import EditPlan, GenerativeEdit, Suggestion
from evlm.scene import SceneGraph

_LOG_FIELDS = {"factor", "energy", "width", "thickness"}  # multiplicative quantities (a bevel twice as wide: d = 1)
_LOG_OP_FIELDS = {("set_light_energy", "value"), ("set_world_strength", "value"), ("set_focal_length", "value"),
                  ("set_emission", "strength")}  # fmt: skip
_METRE_FIELDS = {"vector", "location", "offset", "relative_offset"}
_DEGREE_FIELDS = {"degrees"}
_FRAME_FIELDS = {"frame", "frames", "pivot_frame", "start", "length"}
_STRING_FIELDS = {"prompt", "negative_prompt", "name"}


@dataclass(frozen=True)
class Similarity:
    overall: float
    target: float
    value: float


@dataclass(frozen=True)
class Scores:
    reasoning: float
    answer: float


def plan_similarity(pred: EditPlan, gold: EditPlan, scene: SceneGraph | None = None) -> Similarity:
    """sim(pred, gold) and its target and value parts (module docstring). `scene`: the scene the
    plans edit, for the baselines of absolute ops (without it only relative ops are direction-checked)."""
    weights = [0.5**i for i in range(len(gold.suggestions))]
    total = sum(weights)
    acc = [0.0, 0.0, 0.0]
    for i, (w, g) in enumerate(zip(weights, gold.suggestions, strict=True)):
        if i < len(pred.suggestions):
            s = _suggestion_similarity(pred.suggestions[i], g, scene)
            acc = [a + w * x for a, x in zip(acc, s, strict=True)]
    return Similarity(*(round(a / total, 6) for a in acc))


def score(described: EditPlan, answer: EditPlan, gold: EditPlan, scene: SceneGraph | None = None) -> Scores:
    """The module docstring's formula. Rounded to 4 decimals (stable JSON)."""
    c = plan_similarity(described, answer, scene).overall
    d = plan_similarity(described, gold, scene)
    f = plan_similarity(answer, gold, scene).overall
    reasoning = c * (1.0 + d.target + d.value + f) / 4
    return Scores(reasoning=_clip4(reasoning), answer=_clip4(f))


def _clip4(x: float) -> float:
    return round(min(1.0, max(0.0, x)), 4) + 0.0


def _suggestion_similarity(pred: Suggestion, gold: Suggestion, scene: SceneGraph | None) -> tuple[float, float, float]:
    unused = list(pred.ops)
    q_sum = t_sum = v_sum = 0.0
    for g in gold.ops:
        best, best_q, best_tv = None, -1.0, (0.0, 0.0)
        for p in unused:
            if p.op != g.op:
                continue
            t, v = _op_similarity(p, g, scene)
            q = t * (0.4 + 0.6 * v)
            if q > best_q:
                best, best_q, best_tv = p, q, (t, v)
        if best is not None:
            unused.remove(best)
            q_sum += best_q
            t_sum += best_tv[0]
            v_sum += best_tv[1]
    denom = len(gold.ops) + len(unused)
    return q_sum / denom, t_sum / denom, v_sum / denom


def _refs(model: BaseModel) -> set[str]:
    out: set[str] = set()
    for field in getattr(type(model), "_refs", {}):
        value = getattr(model, field)
        out.update(value if isinstance(value, list) else [value])
    return out


def _op_similarity(p: BaseModel, g: BaseModel, scene: SceneGraph | None = None) -> tuple[float, float]:
    """(t, v) of two ops of the same kind (module docstring)."""
    if isinstance(p, GenerativeEdit) and isinstance(g, GenerativeEdit):
        parts = []
        if p.mask.objects or g.mask.objects:
            parts.append(_jaccard(set(p.mask.objects), set(g.mask.objects)))
        if p.mask.regions or g.mask.regions:
            parts.append(_regions_iou(p, g))
        t = sum(parts) / len(parts) if parts else 1.0
    else:
        pr, gr = _refs(p), _refs(g)
        t = _jaccard(pr, gr) if (pr or gr) else 1.0
    base = _baseline(g, scene)
    ref_fields = set(getattr(type(g), "_refs", {})) | {"op", "mask"}
    sims = []
    for name in type(g).model_fields:
        if name in ref_fields:
            continue
        pv, gv = getattr(p, name), getattr(g, name)
        if name in base and _opposite(g.op, name, pv, gv, base[name]):  # type: ignore[attr-defined]
            sims.append(0.0)
        else:
            sims.append(_leaf_similarity(g.op, name, pv, gv))  # type: ignore[attr-defined]
    return t, math.prod(sims)


def _baseline(g: BaseModel, scene: SceneGraph | None) -> dict[str, object]:
    """What each changing field of the gold op changes from (module docstring); {} if unknown."""
    op = g.op  # type: ignore[attr-defined]
    mode = getattr(g, "mode", "relative")
    if op == "scale" and mode == "relative":
        return {"factor": [1.0, 1.0, 1.0]}
    if op in ("translate", "rotate") and mode == "relative":
        return {"vector": [0.0, 0.0, 0.0], "degrees": [0.0, 0.0, 0.0]}
    if op == "set_light_energy" and mode == "multiply":
        return {"value": 1.0}
    if op in ("retime", "scale_amplitude"):
        return {"factor": 1.0}
    if op == "shift_keys":
        return {"frames": 0.0}
    if scene is None:
        return {}
    if op in ("set_base_color", "set_roughness", "set_metallic", "set_alpha"):
        obj = scene.get_object(g.targets[0])  # type: ignore[attr-defined]
        slot = g.slot  # type: ignore[attr-defined]
        if obj is None or slot >= len(obj.materials):
            return {}
        mat = next((m for m in scene.materials if m.name == obj.materials[slot]), None)
        if mat is None:
            return {}
        field = {"set_base_color": "color", "set_roughness": "value", "set_metallic": "value", "set_alpha": "value"}[op]
        current = {"set_base_color": mat.base_color[:3], "set_roughness": mat.roughness,
                   "set_metallic": mat.metallic, "set_alpha": mat.alpha}[op]  # fmt: skip
        return {field: current}
    if op == "set_light_color":
        light = next((lt for lt in scene.lights if lt.name == g.targets[0]), None)  # type: ignore[attr-defined]
        return {"color": light.color} if light else {}
    if op == "set_world_color":
        return {"color": scene.world.color}
    if op == "set_world_strength":
        return {"value": scene.world.strength}
    return {}


def _opposite(op: str, name: str, p: object, g: object, base: object) -> bool:
    """Whether p fails to change its baseline the way g does (the dot product of the two changes is
    not positive: the other way, or no change at all)."""
    pv = [float(x) for x in (p if isinstance(p, list) else [p])]  # type: ignore[union-attr]
    gv = [float(x) for x in (g if isinstance(g, list) else [g])]  # type: ignore[union-attr]
    bv = [float(x) for x in (base if isinstance(base, list) else [base])]  # type: ignore[union-attr]
    if name in _LOG_FIELDS or (op, name) in _LOG_OP_FIELDS:
        dp = [math.log((a + 1e-3) / (b + 1e-3)) for a, b in zip(pv, bv, strict=True)]
        dg = [math.log((a + 1e-3) / (b + 1e-3)) for a, b in zip(gv, bv, strict=True)]
    else:
        dp = [a - b for a, b in zip(pv, bv, strict=True)]
        dg = [a - b for a, b in zip(gv, bv, strict=True)]
    if sum(b * b for b in dg) < 1e-12:  # the gold changes nothing here: nothing to go against
        return False
    return sum(a * b for a, b in zip(dp, dg, strict=True)) <= 1e-12  # the other way, or no change at all


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _regions_iou(p: GenerativeEdit, g: GenerativeEdit) -> float:
    """Mean over the gold regions of the best IoU with a predicted region of the same view,
    divided like ops: unmatched predicted regions count as misses."""
    total = 0.0
    for gr in g.mask.regions:
        same = [pr.box for pr in p.mask.regions if pr.view == gr.view]
        total += max((_iou(b, gr.box) for b in same), default=0.0)
    return total / max(len(g.mask.regions), len(p.mask.regions))


def _iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _leaf_similarity(op: str, name: str, p: object, g: object) -> float:
    if isinstance(g, BaseModel):  # a modifier's settings
        if type(p) is not type(g):
            return 0.0
        return math.prod(
            _leaf_similarity(op, f, getattr(p, f), getattr(g, f)) for f in type(g).model_fields if f != "type"
        )
    if isinstance(g, bool) or isinstance(g, int) and name in ("slot", "index", "segments", "levels", "count"):
        return 1.0 if p == g else 0.0
    if isinstance(g, str):
        if name in _STRING_FIELDS:
            return _jaccard(set(str(p).lower().split()), set(g.lower().split()))
        return 1.0 if p == g else 0.0
    if isinstance(g, (int, float)):
        return math.exp(-_distance(op, name, float(p), float(g)))  # type: ignore[arg-type]
    if isinstance(g, list) and g and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in g):
        pv = [float(x) for x in p]  # type: ignore[union-attr]
        return math.exp(-math.hypot(*(_distance(op, name, a, b) for a, b in zip(pv, g, strict=True))))
    return 1.0 if p == g else 0.0


def _distance(op: str, name: str, p: float, g: float) -> float:
    """|p - g| in the field's unit of error (module docstring)."""
    if name in _LOG_FIELDS or (op, name) in _LOG_OP_FIELDS:
        if p * g < 0:  # a negative thickness where a positive one is wanted: the other side
            return 10.0
        return abs(math.log((abs(p) + 1e-4) / (abs(g) + 1e-4))) / math.log(2)
    if name in _METRE_FIELDS:
        return abs(p - g) / 0.2
    if name in _DEGREE_FIELDS:
        return abs(p - g) / 30.0
    if name in _FRAME_FIELDS:
        return abs(p - g) / 10.0
    return abs(p - g) / 0.25  # [0, 1] quantities: roughness, metallic, alpha, strength, colour channels
