"""Evaluation metrics: pure functions over predicted and gold plans (no torch, no engine).

Definitions (one record; `pred` is the predicted plan's FIRST suggestion, the model's best, as
the prompt asks for the best first; `gold` is the gold plan's first suggestion):

- parsed: the engine returned a plan, or a PlanError other than invalid JSON (it wrote JSON
  that parsed but did not validate). schema_valid: a returned plan that `validate_plan` accepts
  against the record's scene.
- targets of an op: the scene names in its `targets`, `target`, `camera` and `mask.objects`
  fields; an op with none (add_light, set_world_color, set_frame_range, a generative edit with
  regions only) has the single target "" so that the op still counts.
- target F1: over the sets of (op type, target) pairs of pred and gold: precision = |P & G| / |P|,
  recall = |P & G| / |G|, F1 = 2PR / (P + R) (0 when P & G is empty).
- op-type accuracy: |multiset(pred op types) & multiset(gold op types)| / max(|pred ops|, |gold ops|):
  1 only for the same op types with the same counts; extra and missing ops both cost.
- op matching: each gold op, in order, takes the unmatched pred op of the same type whose target
  set overlaps it most (Jaccard; ties: the earliest).
- parameter error: for every numeric parameter leaf of a matched pair (vectors element-wise,
  integers included; ops' targets and free text excluded), e = min(1, |p - g| / max(|g|, 1)):
  absolute error for values within [-1, 1] (colors, factors near 1), relative above, capped at 1;
  a leaf present on one side only (e.g. a different modifier type) is e = 1. A record's
  parameter error is the mean e over its matched pairs' leaves; undefined (None) without one.
- plan accuracy within tolerance `tol` (default 0.1): pred and gold have the same op types with
  the same counts, every gold op is matched to a pred op with the same target set, the same
  categorical parameters (modes, axes, enum strings, booleans; free text excluded: generative
  prompts and new material/light names) and every numeric leaf within e <= tol.
  plan_accuracy_any: the same test passed by any predicted suggestion (a top-k accuracy).
- reasoning-plan consistency: the fraction of checks the reasoning passes, over pred's ops:
  each distinct target named in the reasoning (case-insensitive, as a whole name: "Cube" is not
  found in "Cube.001"), and each op's intent named (a case-insensitive stem from OP_INTENT, e.g.
  "bigger" or "scale" for scale). 1.0 when the reasoning names everything the plan does.

Records whose engine call failed get 0 for F1, op accuracy, plan accuracy and consistency (so
these are comparable to the parse rate) and None for parameter error.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evlm.edits import EditPlan, PlanError, Suggestion, validate_plan
from evlm.scene import SceneGraph

TOLERANCE = 0.1
TARGET_FIELDS = ("targets", "target", "camera")  # plus mask.objects of generative_edit
FREE_TEXT = {("generative_edit", "prompt"), ("generative_edit", "negative_prompt")}
FREE_TEXT |= {("assign_material", "name"), ("add_light", "name")}

_MOVE = (
    "move",
    "shift",
    "translat",
    "raise",
    "lower",
    "lift",
    "push",
    "pull",
    "closer",
    "further",
    "position",
    "offset",
)
_MODIFIERS = ("modifier", "bevel", "subdiv", "array", "solidify", "mirror", "decimate", "wireframe")
# Words that say what an op does; matched as case-insensitive substrings (stems).
OP_INTENT: dict[str, tuple[str, ...]] = {
    "translate": _MOVE,
    "rotate": ("rotat", "turn", "spin", "tilt", "angle", "face", "orient"),
    "scale": ("scal", "bigger", "smaller", "larger", "size", "shrink", "grow", "enlarg", "taller", "shorter", "wider"),
    "set_base_color": ("color", "colour", "tint", "hue", "paint", "lighter", "darker"),
    "set_roughness": ("rough", "gloss", "shin", "matte", "polish", "smooth"),
    "set_metallic": ("metal",),
    "set_emission": ("emissi", "emit", "glow"),
    "set_alpha": ("alpha", "transparen", "opacit", "opaque", "see-through", "fade"),
    "assign_material": ("material",),
    "set_light_color": ("color", "colour", "tint", "hue", "warm", "cool"),
    "set_light_energy": ("energy", "bright", "dim", "intens", "power", "strong", "weak", "watt"),
    "set_light_type": ("light type", "sun", "spot", "area", "point"),
    "add_light": ("add", "new light", "extra light", "another light", "fill light", "rim light"),
    "set_world_color": ("world", "background", "sky", "ambient", "environment"),
    "set_world_strength": ("world", "background", "sky", "ambient", "environment"),
    "set_focal_length": ("focal", "zoom", "lens", "telephoto", "wide"),
    "move_camera": ("camera",),
    "camera_look_at": ("look", "aim", "point", "frame", "center", "centre"),
    "set_visibility": ("hide", "hidden", "show", "visib", "reveal"),
    "duplicate": ("duplicat", "copy", "copies", "clone", "another", "more"),
    "delete": ("delet", "remov", "get rid", "clear"),
    "set_shading": ("shad", "smooth", "flat", "facet"),
    "add_modifier": _MODIFIERS,
    "adjust_modifier": _MODIFIERS,
    "remove_modifier": ("remov", "delet", "modifier"),
    "retime": ("retim", "slow", "fast", "timing", "speed", "tempo", "duration", "longer", "quicker"),
    "shift_keys": ("shift", "delay", "earlier", "later", "offset", "sooner"),
    "scale_amplitude": ("amplitude", "higher", "lower", "exaggerat", "subtle", "bigger", "smaller", "heav", "motion"),
    "set_interpolation": ("interpolat", "eas", "linear", "constant", "bezier", "smooth", "snap"),
    "insert_keyframe": ("keyframe", "key"),
    "delete_keyframe": ("keyframe", "key"),
    "set_frame_range": ("frame range", "frames", "range", "length", "duration"),
    "generative_edit": ("generat", "prompt", "inpaint", "repaint", "mask", "hand off", "hand-off"),
}


# ---------------------------------------------------------------- ops and their parts
def op_targets(op: Any) -> tuple[str, ...]:
    """The scene names an op acts on (module docstring), in order, without repeats; ("",) if none."""
    names: list[str] = []
    for f in TARGET_FIELDS:
        value = getattr(op, f, None)
        names += [value] if isinstance(value, str) else list(value or [])
    mask = getattr(op, "mask", None)
    if mask is not None:
        names += list(mask.objects)
    return tuple(dict.fromkeys(names)) or ("",)


def target_pairs(suggestion: Suggestion) -> set[tuple[str, str]]:
    return {(op.op, t) for op in suggestion.ops for t in op_targets(op)}


def _leaves(op: Any) -> dict[str, Any]:
    """Parameter leaves of an op by dotted path: targets, the op name and free text left out."""
    out: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}.{i}")
        else:
            out[path] = node

    data = op.model_dump(mode="python")
    for f in ("op", *TARGET_FIELDS):
        data.pop(f, None)
    if isinstance(data.get("mask"), dict):
        data["mask"].pop("objects", None)
    for op_name, f in FREE_TEXT:
        if op.op == op_name:
            data.pop(f, None)
    walk(data, "")
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def numeric_error(p: float, g: float) -> float:
    """min(1, |p - g| / max(|g|, 1))."""
    return min(1.0, abs(p - g) / max(abs(g), 1.0))


@dataclass(frozen=True)
class OpComparison:
    errors: list[float]  # numeric leaf errors (and 1.0 per leaf missing on one side)
    categorical_equal: bool  # every non-numeric leaf equal, and none missing
    same_targets: bool


def compare_ops(pred: Any, gold: Any) -> OpComparison:
    """Compare two ops of the same type."""
    a, b = _leaves(pred), _leaves(gold)
    errors, categorical_equal = [], True
    for path in sorted(a.keys() | b.keys()):
        if path not in a or path not in b:
            errors.append(1.0)
            categorical_equal = False
        elif _is_number(a[path]) and _is_number(b[path]):
            errors.append(numeric_error(float(a[path]), float(b[path])))
        elif a[path] != b[path]:
            categorical_equal = False
    return OpComparison(errors, categorical_equal, set(op_targets(pred)) == set(op_targets(gold)))


def match_ops(pred_ops: Sequence[Any], gold_ops: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(pred op, gold op) pairs: each gold op in order takes the unmatched pred op of its type
    with the largest target overlap (Jaccard; ties: the earliest)."""
    free = list(range(len(pred_ops)))
    pairs = []
    for g in gold_ops:
        g_targets = set(op_targets(g))
        best, best_overlap = None, -1.0
        for i in free:
            if pred_ops[i].op != g.op:
                continue
            p_targets = set(op_targets(pred_ops[i]))
            overlap = len(p_targets & g_targets) / len(p_targets | g_targets)
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        if best is not None:
            free.remove(best)
            pairs.append((pred_ops[best], g))
    return pairs


# ---------------------------------------------------------------- per-suggestion metrics
def target_f1(pred: Suggestion | None, gold: Suggestion) -> float:
    if pred is None:
        return 0.0
    p, g = target_pairs(pred), target_pairs(gold)
    hit = len(p & g)
    if hit == 0:
        return 0.0
    precision, recall = hit / len(p), hit / len(g)
    return 2 * precision * recall / (precision + recall)


def op_type_accuracy(pred: Suggestion | None, gold: Suggestion) -> float:
    if pred is None:
        return 0.0
    p, g = Counter(op.op for op in pred.ops), Counter(op.op for op in gold.ops)
    return sum((p & g).values()) / max(len(pred.ops), len(gold.ops))


def param_error(pred: Suggestion | None, gold: Suggestion) -> float | None:
    """Mean numeric leaf error over the matched ops; None when no op matches."""
    if pred is None:
        return None
    errors = [e for p, g in match_ops(pred.ops, gold.ops) for e in compare_ops(p, g).errors]
    return sum(errors) / len(errors) if errors else None


def suggestion_matches(pred: Suggestion | None, gold: Suggestion, tol: float = TOLERANCE) -> bool:
    """Plan accuracy's test (module docstring)."""
    if pred is None or Counter(op.op for op in pred.ops) != Counter(op.op for op in gold.ops):
        return False
    pairs = match_ops(pred.ops, gold.ops)
    if len(pairs) != len(gold.ops):
        return False
    for p, g in pairs:
        c = compare_ops(p, g)
        if not (c.same_targets and c.categorical_equal and all(e <= tol for e in c.errors)):
            return False
    return True


def _names(text: str, name: str) -> bool:
    """Whether `text` names `name` whole: not inside a longer name ("Cube" in "Cube.001")."""
    pattern = r"(?<![\w.])" + re.escape(name.lower()) + r"(?![\w]|\.\w)"
    return re.search(pattern, text) is not None


def reasoning_consistency(reasoning: str, pred: Suggestion | None) -> float:
    """Fraction of the plan's targets and op intents the reasoning names (module docstring)."""
    if pred is None:
        return 0.0
    text = reasoning.lower()
    targets = list(dict.fromkeys(t for op in pred.ops for t in op_targets(op) if t))
    checks = [_names(text, t) for t in targets]
    checks += [any(w in text for w in OP_INTENT.get(op.op, (op.op,)) + (op.op,)) for op in pred.ops]
    return sum(checks) / len(checks)


# ---------------------------------------------------------------- per record
@dataclass
class Prediction:
    """What the engine answered for one record."""

    id: str
    plan: EditPlan | None  # None: the engine failed
    reasoning: str = ""
    error: str | None = None  # "Type: message" of the engine's exception
    error_code: str | None = None  # PlanError.code, when that was the exception
    latency_s: float | None = None
    tokens: dict[str, int] | None = None


def prediction_from_exception(id_: str, exc: BaseException, latency_s: float | None = None) -> Prediction:
    code = exc.code if isinstance(exc, PlanError) else None
    return Prediction(id_, None, error=f"{type(exc).__name__}: {exc}", error_code=code, latency_s=latency_s)


def score_record(pred: Prediction, gold_plan: EditPlan, scene: SceneGraph | None, tol: float = TOLERANCE) -> dict:
    """Every per-record metric (module docstring) as a flat dict."""
    parsed = pred.plan is not None or (
        pred.error_code is not None and pred.error_code not in ("invalid_json", "wrong_type")
    )
    valid = False
    if pred.plan is not None:
        try:
            validate_plan(pred.plan.model_dump(mode="json"), scene)
            valid = True
        except PlanError:
            pass
    best = pred.plan.suggestions[0] if pred.plan is not None else None
    gold = gold_plan.suggestions[0]
    any_match = pred.plan is not None and any(suggestion_matches(s, gold, tol) for s in pred.plan.suggestions)
    return {
        "parsed": parsed,
        "schema_valid": valid,
        "target_f1": target_f1(best, gold),
        "op_accuracy": op_type_accuracy(best, gold),
        "param_error": param_error(best, gold),
        "plan_accuracy": suggestion_matches(best, gold, tol),
        "plan_accuracy_any": any_match,
        "consistency": reasoning_consistency(pred.reasoning, best),
        "latency_s": pred.latency_s,
    }


# ---------------------------------------------------------------- aggregation
RATE_METRICS = (
    "parsed",
    "schema_valid",
    "target_f1",
    "op_accuracy",
    "plan_accuracy",
    "plan_accuracy_any",
    "consistency",
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    s = sorted(values)
    rank = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(rank), math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def summarize(rows: Iterable[dict]) -> dict:
    """Means of the per-record metrics (booleans as rates); parameter error over the records
    where it is defined (`n_param`); latency mean/p50/p90 over the records that have one."""
    rows = list(rows)
    out: dict[str, Any] = {"n": len(rows)}
    for m in RATE_METRICS:
        out[m] = sum(float(r[m]) for r in rows) / len(rows) if rows else None
    errs = [r["param_error"] for r in rows if r["param_error"] is not None]
    out["param_error"] = sum(errs) / len(errs) if errs else None
    out["n_param"] = len(errs)
    lat = [r["latency_s"] for r in rows if r.get("latency_s") is not None]
    out["latency_mean_s"] = sum(lat) / len(lat) if lat else None
    out["latency_p50_s"] = percentile(lat, 50) if lat else None
    out["latency_p90_s"] = percentile(lat, 90) if lat else None
    return out


GROUP_KEYS = ("split", "family", "modality")


def aggregate(rows: Sequence[dict], keys: Sequence[str] = GROUP_KEYS) -> dict[str, dict]:
    """`summarize` overall and per value of each key: {"overall": .., "split=test": .., ...}."""
    groups: dict[str, dict] = {"overall": summarize(rows)}
    for key in keys:
        for value in sorted({r[key] for r in rows}):
            groups[f"{key}={value}"] = summarize(r for r in rows if r[key] == value)
    return groups
