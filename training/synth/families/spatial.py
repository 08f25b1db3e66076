"""view_reference: the target is named by where it is in a view ("the chair on the left in view
1", "the one closest to the camera"), resolved from the view's mark table: left/right by the
marks' x, front/back by the distance from that view's camera. Only unambiguous cases are made
(the chosen object beats the runner-up by 0.08 in x, or by 15% in distance). The edit is a
recolour to a named colour or a degree edit."""

from __future__ import annotations

import numpy as np

from evlm.scenetext import colour_name
from training.synth.families.attributes import ATTRIBUTES
from training.synth.families.common import Context, Task, make_plan, material_edit, other_colours, palette, phrase
from training.synth.families.degree import degree_task
from training.synth.heldout import HELD_OUT_COMPOSITIONS
from training.synth.kinds import COLORS
from training.synth.language import Ask
from training.synth.reasoning import Decision, upper_first
from training.synth.referring import Reference, display_color, fits, words

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
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def propose(ctx: Context) -> Task | None:
    scene, rng = ctx.scene, ctx.rng
    recolor = rng.random() < 0.4
    attr = None if recolor else ATTRIBUTES[ctx.choice(["size_up", "size_down", "darker", "raise", "shinier"])]
    op = "set_base_color" if recolor else attr.op
    if ((op, "position") in HELD_OUT_COMPOSITIONS) != (ctx.held_out == "composition"):
        return None
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
    mention = ctx.choice(
        [f"in view {view}", f"in the {ORDINALS[view]} view", f"in orbit {view}"]
        + (["from the main angle", ""] if view == 0 else [])
    )
    subject = f"{ctx.choice(_PHRASES[relation]).format(w=word)} {mention}".strip()
    listing = ", ".join(f"{n} ({_key_text(relation, k)})" for n, k in zip(ranked, keys, strict=True))
    ref = Reference(subject, "position")

    def resolve(t: str) -> list[str]:
        return [f"'{subject}': view {view}, {listing}; the {relation} one -> {t} (mark {scene.get(t).mark})."]

    distractors = [(ranked[1],), (ranked[-1],)] + [(n,) for n in ranked[2:-1]]
    distractors = list(dict.fromkeys(d for d in distractors if d[0] != target))
    if recolor:
        return _recolor_task(ctx, target, ref, resolve, distractors)
    if not attr.ok(scene, target):
        return None
    return degree_task(ctx, FAMILY, attr, target, ref, resolve, distractors)


def _pick(ctx: Context, view: int, relation: str) -> tuple[list[str], list[float], str] | None:
    """Candidates ranked by the relation (best first), their keys, and the word for them."""
    scene = ctx.scene
    marks = [m for m in ctx.shots[0][view].view.marks if scene.get(m.object).kind != "floor"]
    if len(marks) < 2:
        return None
    objs = [scene.get(m.object) for m in marks]
    groups = []
    for w in sorted({w for o in objs for w in words(o)}):
        group = [m for m, o in zip(marks, objs, strict=True) if fits(o, w)]
        if len(group) >= 2:
            groups.append((w, group))
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
    return f"x {key:.2f}" if relation in ("left", "right") else f"{key:.1f} m"


def _recolor_task(ctx: Context, target: str, ref: Reference, resolve, distractors) -> Task | None:  # noqa: ANN001
    scene = ctx.scene
    if not distractors:
        return None
    current = display_color(scene, scene.get(target))
    new = ctx.choice([c for c in other_colours(current) if colour_name(COLORS[NEAR[c]]) != current])
    ask = Ask(ref.phrase, [f"make {{s}} {new}", f"paint {{s}} {new}", f"turn {{s}} {new}", f"change {{s}} to {new}",
                           f"color {{s}} {new}", f"repaint {{s}} {new}"], new)  # fmt: skip
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], level: str, flip: bool) -> Decision:
        t = targets[0]
        name = new if level == "exact" else NEAR[new]
        ops, words_ = material_edit(scene, [t], {"color": palette(name)})
        plan = make_plan(f"Make {t} {name}.", [(f"Make {t} {name}", f"'{new}' as the base color.", 0.9, ops)])
        return Decision(f"recolour {ref.phrase} {new}.", resolve(t), [upper_first(f"{t}: {words_}")],
                        f"{t} ends {name}, the colour asked; nothing else changes.", plan)  # fmt: skip

    return Task(FAMILY, "recolor", "3d", ask, text, frame, decide, (target,), "exact", ("exact", "near"), distractors,
                can_flip=False, how="position")  # fmt: skip
