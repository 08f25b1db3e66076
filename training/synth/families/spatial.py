"""view_reference: the target is named by where it is in a view ("the chair on the left in view
1", "the one closest to the camera"), resolved from the view's mark table: left/right by the
marks' x, front/back by the distance from that view's camera. Only unambiguous cases are made
(the chosen object beats the runner-up by 0.08 in x, or by 15% in distance). The edit is a
recolor to a named colour or a degree edit."""

from __future__ import annotations

import numpy as np

from training.synth.families.attributes import ATTRIBUTES
from training.synth.families.common import Context, Task, make_plan, phrase
from training.synth.families.degree import degree_task
from training.synth.language import ORDINALS, Ask
from training.synth.reasoning import Decision, describe, fmt_color, upper_first
from training.synth.scenes import COLORS, KINDS

FAMILY = "view_reference"
NEAR = {
    "red": "orange", "orange": "yellow", "yellow": "orange", "green": "teal", "teal": "green", "blue": "purple",
    "purple": "blue", "pink": "red", "brown": "orange", "white": "gray", "gray": "white", "black": "gray",
}  # fmt: skip
RELATIONS = ("left", "right", "front", "back")
_PHRASES = {
    "left": ("the {w} on the left", "the leftmost {w}", "the {w} on the left side"),
    "right": ("the {w} on the right", "the rightmost {w}", "the {w} on the right side"),
    "front": ("the {w} in front", "the {w} closest to the camera", "the nearest {w}"),
    "back": ("the {w} at the back", "the {w} farthest from the camera", "the {w} in the back"),
}


def propose(ctx: Context) -> Task | None:
    scene, rng = ctx.scene, ctx.rng
    n_views = len(ctx.shots[0])
    combos = [(v, r) for v in range(n_views) for r in RELATIONS]
    for i in rng.permutation(len(combos)):
        view, relation = combos[int(i)]
        found = _pick(ctx, view, relation)
        if found is not None:
            break
    else:
        return None
    ranked, keys, word = found
    target = ranked[0]
    base = ctx.choice(_PHRASES[relation]).format(w=word)
    mentions = [f"in view {view}", f"in the {ORDINALS[view]} view", f"in orbit {view}"]
    if view == 0:
        mentions += ["from the main angle", ""]
    mention = ctx.choice(mentions)
    subject = f"{base} {mention}".strip()
    view_words = f"view {view}" if mention else "no view named, so view 0 (the first)"
    listing = ", ".join(
        f"mark {scene.get(n).mark} ({n}) at {_key_text(relation, k)}" for n, k in zip(ranked, keys, strict=True)
    )

    def resolve(t: str) -> list[str]:
        return [
            f"'{subject}': {view_words}; candidates there: {listing}; "
            f"the {relation} one is mark {scene.get(t).mark} -> {t}: {describe(scene, t)}."
        ]

    distractors = [(ranked[1],), (ranked[-1],)] + [(n,) for n in ranked[2:-1]]
    distractors = list(dict.fromkeys(d for d in distractors if d[0] != target))
    if rng.random() < 0.5:
        return _recolor_task(ctx, target, subject, resolve, distractors)
    attr = ATTRIBUTES[ctx.choice(["size_up", "size_down", "darker", "raise"])]
    if not attr.ok(scene, target):
        return None
    return degree_task(ctx, FAMILY, attr, target, subject, (), resolve, distractors)


def _pick(ctx: Context, view: int, relation: str) -> tuple[list[str], list[float], str] | None:
    """Candidates ranked by the relation (best first), their keys, and the word for them."""
    scene = ctx.scene
    marks = ctx.shots[0][view].view.marks
    if len(marks) < 2:
        return None
    kinds = [scene.get(m.object).kind for m in marks]
    groups = [
        (KINDS[k].words[0], [m for m in marks if scene.get(m.object).kind == k])
        for k in set(kinds)
        if kinds.count(k) >= 2
    ]
    groups.sort(key=lambda g: g[0])
    groups.append((ctx.choice(["one", "object", "thing"]), list(marks)))
    word, group = groups[int(ctx.rng.integers(len(groups)))]
    pose = np.asarray(ctx.shots[0][view].view.pose).reshape(4, 4)
    if relation in ("left", "right"):
        keys = [m.center[0] for m in group]
    else:
        keys = []
        for m in group:
            lo, hi = scene.world_bounds(scene.get(m.object), float(ctx.shots[0][view].view.frame))
            keys.append(float(np.linalg.norm((lo + hi) / 2 - pose[:3, 3])))
    order = np.argsort(keys) if relation in ("left", "front") else np.argsort(keys)[::-1]
    ranked = [group[int(i)].object for i in order]
    ks = [keys[int(i)] for i in order]
    if relation in ("left", "right"):
        ok = abs(ks[0] - ks[1]) >= 0.08
    else:
        ok = max(ks[0], ks[1]) / max(min(ks[0], ks[1]), 1e-6) >= 1.15
    return (ranked, ks, word) if ok else None


def _key_text(relation: str, key: float) -> str:
    return f"x={key:.2f}" if relation in ("left", "right") else f"{key:.1f} m from the camera"


def _recolor_task(ctx: Context, target: str, subject: str, resolve, distractors) -> Task | None:  # noqa: ANN001
    scene = ctx.scene
    if not distractors:
        return None
    current = scene.get(target).color
    new = ctx.choice([c for c in COLORS if c != current and NEAR[c] != current])
    verbs = [
        f"make {{s}} {new}",
        f"paint {{s}} {new}",
        f"turn {{s}} {new}",
        f"change {{s}} to {new}",
        f"color {{s}} {new}",
    ]
    ask = Ask(subject, verbs, new)
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], level: str, flip: bool) -> Decision:
        t = targets[0]
        name = new if level == "exact" else NEAR[new]
        color = [float(c) for c in COLORS[name]]
        slot = 1 if scene.get(t).kind == "lamp" else 0
        mat = scene.main_material(t)
        ops = [{"op": "set_base_color", "targets": [t], "color": color, "slot": slot}]
        words = (
            f"set the base color of {t} (slot {slot}) from {fmt_color(mat.base_color)} to {name} {fmt_color(color)}."
        )
        plan = make_plan(
            f"Recolor {t} {name}: {subject}.", [(f"Make {t} {name}", f"'{new}' as a base color.", 0.9, ops)]
        )
        return Decision(
            f"recolor {subject} to {new}.",
            [f"'{new}' is a plain color: base color {fmt_color(COLORS[new])}; no degree words, so the full color."],
            resolve(t),
            [upper_first(words)],
            f"{t} ends {name}, the color asked for ({new}); only that object changes.",
            plan,
        )

    return Task(FAMILY, "recolor", "3d", ask, text, frame, decide, (target,), "exact", ("exact", "near"), distractors)
