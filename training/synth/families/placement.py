"""spatial_relation: where things stand relative to each other, computed from the scene's bounds.

    put_on     "set the vase on the table": translate so the object's lowest point meets the
               support's top and its centre sits on a free spot of the top (inside its outline,
               clear of what stands there already)
    next_to    "move the lamp next to the sofa": beside the other's bounds with a 0.15 m gap, on
               the free side nearest to where it is now; on the floor
    drop       "put the mug on the floor": down until its lowest point is at the floor's top
    line_up    "line up the chairs": every one to the mean of the axis they do not spread along
    face       "turn the chair to face the table": rotate about Z until its front (-Y) points at
               the other's centre
    same_size  "make the small vase as tall as the other one": a uniform scale by the heights' ratio
    swap       "swap the crate and the ball": each moves to the other's place (on the floor)
An object with children moves as its root (they follow); animated objects are left out (moving
them would move their keys: an animation edit, not a placement).
"""

from __future__ import annotations

import math

import numpy as np

from training.synth.families.common import (
    Context,
    Task,
    first_task,
    make_plan,
    other_objects,
    phrase,
    r4,
    task,
    weights_of,
)
from training.synth.kinds import KINDS
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt, fmt_vec, upper_first
from training.synth.referring import Reference, noun, pick_group, refer, resolve
from training.synth.scenes import SynthObject, SynthScene

FAMILY = "spatial_relation"
GAP = 0.15
VARIANTS = ("put_on", "put_on", "put_on", "next_to", "next_to", "drop", "line_up", "face", "face", "same_size", "swap")


def propose(ctx: Context) -> Task | None:
    return first_task(ctx, weights_of(VARIANTS), lambda v: _BUILDERS[v](ctx))


def _movable(scene: SynthScene, o: SynthObject) -> bool:
    return o.role == "main" and o.name not in scene.motions and o.kind not in ("rug", "floor")


def _top(scene: SynthScene, support: SynthObject) -> tuple[float, np.ndarray, np.ndarray]:
    """A support's top: its height and its outline's corners in its own (rotated) frame."""
    verts = np.concatenate([m.vertices for m, _ in support.parts])
    top = float(verts[:, 2].max())
    flat = verts[verts[:, 2] > top - 0.06][:, :2]
    return top + float(support.location[2]), flat.min(axis=0), flat.max(axis=0)


def _to_world(support: SynthObject, uv: np.ndarray) -> np.ndarray:
    c, s = math.cos(support.rotation_z), math.sin(support.rotation_z)
    return support.location[:2] + np.array([c * uv[0] - s * uv[1], s * uv[0] + c * uv[1]])


def free_spot(scene: SynthScene, obj: str, support: SynthObject) -> np.ndarray | None:
    """A point on the support's top where `obj` fits, clear of what stands there, nearest the
    top's centre (world XY); None if it does not fit."""
    lo, hi = scene.group_bounds(obj)
    r = float(max(hi[:2] - lo[:2])) / 2
    _, ulo, uhi = _top(scene, support)
    if (uhi - ulo).min() < 2 * r + 0.02:
        return None
    others = [scene.group_bounds(n) for n, s in scene.on.items() if s == support.name and n != obj]
    best = None
    for u in np.linspace(ulo[0] + r, uhi[0] - r, 7):
        for v in np.linspace(ulo[1] + r, uhi[1] - r, 5):
            p = _to_world(support, np.array([u, v]))
            clear = all(p[0] + r < b[0][0] - 0.02 or p[0] - r > b[1][0] + 0.02 or p[1] + r < b[0][1] - 0.02
                        or p[1] - r > b[1][1] + 0.02 for b in others)  # fmt: skip
            d = math.hypot(u - (ulo[0] + uhi[0]) / 2, v - (ulo[1] + uhi[1]) / 2)
            if clear and (best is None or d < best[0] - 1e-9):
                best = (d, p)
    return None if best is None else best[1]


def _ref_pair(ctx: Context, a: str, b: str, intent: str) -> tuple[Reference, Reference] | None:
    """References to the object that moves and to the one it relates to."""
    ra = refer(ctx, a, intent)
    rb = refer(ctx, b, intent, ways=("name", "kind", "color_kind", "mark"), second=True) if ra is not None else None
    return (ra, rb) if ra is not None and rb is not None else None


def _put_on(ctx: Context) -> Task | None:
    scene = ctx.scene
    supports = [
        o
        for o in scene.objects
        if KINDS[o.kind].support and o.role == "main" and ctx.visible(o.name) and o.name not in scene.motions
    ]
    smalls = [o for o in scene.objects if KINDS[o.kind].small and _movable(scene, o) and ctx.visible(o.name)
              and _footprint(scene, o.name) <= 0.45]  # fmt: skip
    pairs = [(s, t) for s in smalls for t in supports if scene.on.get(s.name) != t.name and s.name != t.name
             and scene.on.get(t.name) != s.name and free_spot(scene, s.name, t) is not None]  # fmt: skip
    if not pairs:
        return None
    small, support = ctx.choice(pairs)
    refs = _ref_pair(ctx, small.name, support.name, "translate")
    if refs is None:
        return None
    ra, rb = refs
    ask = Ask(ra.phrase, [f"put {{s}} on {rb.phrase}", f"set {{s}} on top of {rb.phrase}", f"move {{s}} onto {rb.phrase}",
                          f"place {{s}} on {rb.phrase}", f"shove {{s}} onto {rb.phrase}"], f"on {rb.phrase}",
              [f"{{s}} should be on {rb.phrase}"], None, ra.protect + rb.protect)  # fmt: skip
    top, _, _ = _top(scene, support)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        lo, hi = scene.group_bounds(t)
        centre = (lo + hi) / 2
        if flip:  # reasons for "next to", answers "on"
            spot, z = _beside(scene, t, support.name)[0][0], lo[2]
            where = f"beside {support.name} on the floor"
        else:
            spot = free_spot(scene, t, support)
            if spot is None:
                spot = _to_world(support, np.zeros(2))
            z = top + (0.25 if lv == "float" else 0.0)
            where = f"{support.name}'s top (z {fmt(top)})"
        vector = [r4(spot[0] - centre[0]), r4(spot[1] - centre[1]), r4(z - lo[2])]
        ops = [{"op": "translate", "targets": [t], "vector": vector}]
        words = (f"{t} bottom z {fmt(lo[2])} -> {fmt(z)}, centre ({fmt(centre[0])}, {fmt(centre[1])}) -> "
                 f"({fmt(spot[0])}, {fmt(spot[1])}) on {where}: translate {fmt_vec(vector)}")  # fmt: skip
        plan = make_plan(
            f"Move {t} onto {support.name}.",
            [(f"Put {t} on {support.name}", "Resting on the top, on a free spot.", 0.85, ops)],
        )
        return Decision(f"{ra.phrase} should stand on {rb.phrase}: its bottom on the top, inside its outline.",
                        [resolve(ctx, ra, t), f"'{rb.phrase}' -> {support.name} (mark {support.mark}, top at z {fmt(top)})."],
                        [upper_first(words) + "."], f"{t} rests on {support.name}, clear of what stands there.", plan)  # fmt: skip

    distractors = [(o.name,) for o in smalls if o is not small and scene.on.get(o.name) != support.name]
    return task(
        FAMILY, "put_on", ask, phrase(ctx, ask), decide, (small.name,), "exact", ("exact", "float"), distractors, ra.how
    )


def _footprint(scene: SynthScene, name: str) -> float:
    lo, hi = scene.group_bounds(name)
    return float(max(hi[:2] - lo[:2]))


def _beside(scene: SynthScene, obj: str, anchor: str) -> list[tuple[np.ndarray, str]]:
    """Centres (XY) where obj stands beside anchor with a gap, nearest its place first, clear of
    the others first."""
    lo, hi = scene.group_bounds(obj)
    alo, ahi = scene.group_bounds(anchor)
    half = (hi - lo) / 2
    centre = (lo + hi) / 2
    acentre = (alo + ahi) / 2
    spots = {
        "+X": np.array([ahi[0] + GAP + half[0], acentre[1]]), "-X": np.array([alo[0] - GAP - half[0], acentre[1]]),
        "+Y": np.array([acentre[0], ahi[1] + GAP + half[1]]), "-Y": np.array([acentre[0], alo[1] - GAP - half[1]]),
    }  # fmt: skip
    blockers = [scene.group_bounds(o.name) for o in scene.objects
                if o.role == "main" and o.kind not in ("floor", "rug") and o.name not in (obj, anchor) and o.name not in scene.on]  # fmt: skip

    def overlap(p: np.ndarray) -> float:
        nlo, nhi = p - half[:2], p + half[:2]
        return sum(
            float(np.prod(np.clip(np.minimum(nhi, b[1][:2]) - np.maximum(nlo, b[0][:2]), 0, None))) for b in blockers
        )

    ranked = sorted(spots.items(), key=lambda kv: (overlap(kv[1]) > 0, float(np.linalg.norm(kv[1] - centre[:2]))))
    return [(p, side) for side, p in ranked]


def _next_to(ctx: Context) -> Task | None:
    scene = ctx.scene
    floor = [o for o in scene.objects if _movable(scene, o) and o.name not in scene.on and ctx.visible(o.name)]
    anchors = [
        o
        for o in scene.objects
        if o.role == "main" and o.kind not in ("floor", "rug") and o.name not in scene.on and ctx.visible(o.name)
    ]
    pairs = [(a, b) for a in floor for b in anchors if a is not b]
    if not pairs:
        return None
    mover, anchor = ctx.choice(pairs)
    lo, hi = scene.group_bounds(mover.name)
    alo, ahi = scene.group_bounds(anchor.name)
    if np.linalg.norm((lo + hi)[:2] / 2 - (alo + ahi)[:2] / 2) < (np.max(ahi - alo) / 2 + np.max(hi - lo) / 2 + 0.4):
        return None  # already next to it
    refs = _ref_pair(ctx, mover.name, anchor.name, "translate")
    if refs is None:
        return None
    ra, rb = refs
    ask = Ask(ra.phrase, [f"move {{s}} next to {rb.phrase}", f"put {{s}} beside {rb.phrase}", f"place {{s}} by {rb.phrase}",
                          f"bring {{s}} over to {rb.phrase}"], f"next to {rb.phrase}", [f"{{s}} is too far from {rb.phrase}"],
              None, ra.protect + rb.protect)  # fmt: skip

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        tlo, thi = scene.group_bounds(t)
        centre = (tlo + thi) / 2
        (spot, side), *rest = _beside(scene, t, anchor.name)
        if flip:  # reasons for the far side
            spot, side = rest[-1]
        if lv == "touching":
            spot = (
                spot
                + (spot - (alo + ahi)[:2] / 2)
                / max(1e-6, float(np.linalg.norm(spot - (alo + ahi)[:2] / 2)))
                * -GAP
                * 2.5
            )
        vector = [r4(spot[0] - centre[0]), r4(spot[1] - centre[1]), 0.0]
        ops = [{"op": "translate", "targets": [t], "vector": vector}]
        kids = [c.name for c in scene.children(t)]
        words = (f"{anchor.name} spans x {fmt(alo[0])} to {fmt(ahi[0])}, y {fmt(alo[1])} to {fmt(ahi[1])}; its free {side} side "
                 f"nearest {t}: centre ({fmt(spot[0])}, {fmt(spot[1])}), {GAP} m gap: translate {fmt_vec(vector)}")  # fmt: skip
        plan = make_plan(
            f"Move {t} beside {anchor.name}.",
            [(f"Move {t} next to {anchor.name}", f"{GAP} m gap, free side.", 0.85, ops)],
        )
        return Decision(f"{ra.phrase} beside {rb.phrase}, with a small gap, on the floor.",
                        [resolve(ctx, ra, t) + (f" {', '.join(kids)} follow it." if kids else ""), resolve(ctx, rb, anchor.name)],
                        [upper_first(words) + "."], f"{t} ends beside {anchor.name}, touching nothing.", plan)  # fmt: skip

    distractors = [(o.name,) for o in floor if o is not mover and o is not anchor]
    return task(
        FAMILY,
        "next_to",
        ask,
        phrase(ctx, ask),
        decide,
        (mover.name,),
        "exact",
        ("exact", "touching"),
        distractors,
        ra.how,
    )


def _drop(ctx: Context) -> Task | None:
    scene = ctx.scene
    raised = [o for o in scene.objects if _movable(scene, o) and o.name in scene.on and ctx.visible(o.name)]
    if not raised:
        return None
    obj = ctx.choice(raised)
    ref = refer(ctx, obj.name, "translate")
    if ref is None:
        return None
    ask = Ask(ref.phrase, ["put {s} on the floor", "drop {s} to the floor", "move {s} down to the ground", "set {s} on the floor"],
              "on the floor", ["{s} should be on the floor"], None, ref.protect)  # fmt: skip
    floor_top = float(scene.bounds(scene.floor)[1][2])

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        lo, hi = scene.group_bounds(t)
        dz = floor_top - lo[2]
        if lv == "half":
            dz *= 0.5
        # beside what it stood on, so it does not end inside it
        spot, side = _beside(scene, t, scene.on.get(t, t))[0] if scene.on.get(t) else ((lo + hi)[:2] / 2, "")
        if flip:
            dz = -dz
        centre = (lo + hi) / 2
        vector = [r4(spot[0] - centre[0]), r4(spot[1] - centre[1]), r4(dz)]
        ops = [{"op": "translate", "targets": [t], "vector": vector}]
        under = f"; {side} of {scene.on[t]} so it clears it" if scene.on.get(t) else ""
        words = f"{t} bottom z {fmt(lo[2])} -> floor top {fmt(floor_top)}{under}: translate {fmt_vec(vector)}"
        plan = make_plan(
            f"Move {t} down to the floor.",
            [(f"Put {t} on the floor", "Bottom on the floor, beside its support.", 0.85, ops)],
        )
        return Decision(f"{ref.phrase} on the floor: down to z {fmt(floor_top)}.", [resolve(ctx, ref, t)],
                        [upper_first(words) + "."], f"{t} rests on the floor, clear of what it stood on.", plan)  # fmt: skip

    distractors = [(o.name,) for o in raised if o is not obj] + other_objects(ctx, obj.name)
    distractors = [d for d in distractors if _movable(scene, scene.get(d[0]))]
    distractors = list(dict.fromkeys(distractors))
    return task(
        FAMILY, "drop", ask, phrase(ctx, ask), decide, (obj.name,), "exact", ("exact", "half"), distractors, ref.how
    )


# ---------------------------------------------------------------- several objects
def _line_up(ctx: Context) -> Task | None:
    scene = ctx.scene
    movable = [o.name for o in scene.objects if _movable(scene, o) and ctx.visible(o.name)]
    picked = pick_group(ctx, movable, key=lambda o: (noun(o), scene.on.get(o.name)))  # the same word, on the same thing
    if picked is None:
        return None
    names, ref = picked
    ask = Ask(ref.phrase, ["line up {s}", "put {s} in a row", "align {s}", "make {s} line up neatly"], "lined up",
              ["{s} are all over the place"], None, ref.protect)  # fmt: skip

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        centres = {t: (scene.group_bounds(t)[0] + scene.group_bounds(t)[1]) / 2 for t in targets}
        pts = np.array([c[:2] for c in centres.values()])
        spread = pts.max(axis=0) - pts.min(axis=0)
        axis = 1 if spread[0] >= spread[1] else 0  # align the axis they do not spread along
        if flip:
            axis = 1 - axis
        goal = float(pts[:, axis].mean())
        k = 0.5 if lv == "half" else 1.0
        ops, words = [], []
        for t, c in centres.items():
            d = r4((goal - c[axis]) * k)
            if abs(d) < 1e-3:
                continue
            vec = [0.0, 0.0, 0.0]
            vec[axis] = d
            ops.append({"op": "translate", "targets": [t], "vector": vec})
            words.append(f"{t} {'XY'[axis]} {fmt(c[axis])} -> {fmt(c[axis] + d)}")
        if not ops:
            ops = [{"op": "translate", "targets": [targets[0]], "vector": [0.0, 0.0, 0.0]}]
        line = f"they spread along {'XY'[1 - axis]}: put every {'XY'[axis]} at the mean {fmt(goal)}"
        plan = make_plan(
            f"Align {', '.join(targets)} on {'XY'[axis]} = {fmt(goal)}.",
            [("Line them up", "One line, order kept.", 0.85, ops)],
        )
        marks = ", ".join(f"{t} (mark {scene.get(t).mark})" for t in targets)
        return Decision(f"{ref.phrase} in one straight line, order kept.", [f"'{ref.phrase}' -> {marks}."],
                        [upper_first(line) + ": " + "; ".join(words) + "."], "they end on one line; nothing else moves.", plan)  # fmt: skip

    others = [n for n in ctx.visible_names() if n not in names and _movable(scene, scene.get(n))]
    if len(others) < 2:
        return None
    distractors = [tuple(others[: len(names)])]
    return task(
        FAMILY, "line_up", ask, phrase(ctx, ask), decide, tuple(names), "exact", ("exact", "half"), distractors, ref.how
    )


def _face(ctx: Context) -> Task | None:
    scene = ctx.scene
    fronts = [o for o in scene.objects if KINDS[o.kind].front and _movable(scene, o) and ctx.visible(o.name)]
    targets = [o for o in scene.objects if o.role == "main" and o.kind not in ("floor", "rug") and ctx.visible(o.name)]
    pairs = []
    for a in fronts:
        for b in targets:
            if a is not b and abs(_turn(scene, a.name, b.name)) > 25:
                pairs.append((a, b))
    if not pairs:
        return None
    a, b = ctx.choice(pairs)
    refs = _ref_pair(ctx, a.name, b.name, "rotate")
    if refs is None:
        return None
    ra, rb = refs
    ask = Ask(ra.phrase, [f"turn {{s}} to face {rb.phrase}", f"make {{s}} face {rb.phrase}", f"point {{s}} toward {rb.phrase}",
                          f"rotate {{s}} so it faces {rb.phrase}"], f"facing {rb.phrase}", [f"{{s}} should face {rb.phrase}"],
              None, ra.protect + rb.protect)  # fmt: skip

    def decide(targets_: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets_[0]
        deg = _turn(scene, t, b.name)
        if flip:
            deg = deg - math.copysign(180.0, deg)
        if lv == "half":
            deg /= 2
        deg = r4(deg)
        ops = [{"op": "rotate", "targets": [t], "degrees": [0.0, 0.0, deg]}]
        now = math.degrees(scene.get(t).rotation_z)
        words = f"{t} faces -Y turned {fmt(now)} deg; {b.name} lies at {fmt(now + _turn(scene, t, b.name))} deg from it: rotate {fmt(deg)} deg about Z"
        plan = make_plan(
            f"Turn {t} toward {b.name}.", [(f"Turn {t} to face {b.name}", "Its front (-Y) toward it.", 0.85, ops)]
        )
        return Decision(f"{ra.phrase}'s front toward {rb.phrase}: a turn about Z.", [resolve(ctx, ra, t), resolve(ctx, rb, b.name)],
                        [upper_first(words) + "."], f"{t}'s front points at {b.name}; it stays in place.", plan)  # fmt: skip

    distractors = [(o.name,) for o in fronts if o is not a and o is not b and abs(_turn(scene, o.name, b.name)) > 10]
    return task(
        FAMILY, "face", ask, phrase(ctx, ask), decide, (a.name,), "exact", ("exact", "half"), distractors, ra.how
    )


def _turn(scene: SynthScene, name: str, other: str) -> float:
    """Degrees about Z that turn `name`'s front (-Y) toward `other`'s centre, in (-180, 180]."""
    lo, hi = scene.group_bounds(name)
    olo, ohi = scene.group_bounds(other)
    d = (olo + ohi)[:2] / 2 - (lo + hi)[:2] / 2
    want = math.atan2(d[1], d[0])
    rz = scene.get(name).rotation_z
    now = math.atan2(-math.cos(rz), math.sin(rz))  # the direction of local -Y
    return (math.degrees(want - now) + 180.0) % 360.0 - 180.0


def _same_size(ctx: Context) -> Task | None:
    scene = ctx.scene
    objs = [o for o in scene.objects if _movable(scene, o) and ctx.visible(o.name)]
    pairs = []
    for a in objs:
        for b in objs:
            if a is not b and noun(a) == noun(b):
                ha, hb = _height(scene, a.name), _height(scene, b.name)
                if hb / ha > 1.25 or ha / hb > 1.25:
                    pairs.append((a, b))
    if not pairs:
        return None
    a, b = ctx.choice(pairs)
    refs = _ref_pair(ctx, a.name, b.name, "scale")
    if refs is None:
        return None
    ra, rb = refs
    ask = Ask(ra.phrase, [f"make {{s}} as tall as {rb.phrase}", f"make {{s}} the same size as {rb.phrase}",
                          f"match the size of {{s}} to {rb.phrase}", f"scale {{s}} to match {rb.phrase}"],
              f"the same size as {rb.phrase}", [f"{{s}} should be as big as {rb.phrase}"], None, ra.protect + rb.protect)  # fmt: skip

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ht, hb = _height(scene, t), _height(scene, b.name)
        f = hb / ht
        if flip:
            f = 1 / f
        if lv == "half":
            f = math.sqrt(f)
        f = r4(f)
        ops = [{"op": "scale", "targets": [t], "factor": [f, f, f]}]
        words = f"heights {t} {fmt(ht)} m, {b.name} {fmt(hb)} m: scale {t} x{fmt(f)} (uniform)"
        plan = make_plan(
            f"Scale {t} to {b.name}'s height.",
            [(f"Match {t} to {b.name}", "Uniform scale by the heights' ratio.", 0.85, ops)],
        )
        return Decision(f"{ra.phrase} the size of {rb.phrase}: a uniform scale.", [resolve(ctx, ra, t), resolve(ctx, rb, b.name)],
                        [upper_first(words) + "."], f"{t} ends {fmt(hb)} m tall, like {b.name}.", plan)  # fmt: skip

    distractors = [
        (o.name,)
        for o in objs
        if o is not a and o is not b and abs(_height(scene, o.name) - _height(scene, b.name)) > 0.05
    ]
    return task(
        FAMILY, "same_size", ask, phrase(ctx, ask), decide, (a.name,), "exact", ("exact", "half"), distractors, ra.how
    )


def _height(scene: SynthScene, name: str) -> float:
    lo, hi = scene.group_bounds(name)
    return float(hi[2] - lo[2])


def _swap(ctx: Context) -> Task | None:
    scene = ctx.scene
    floor = [
        o
        for o in scene.objects
        if _movable(scene, o) and o.name not in scene.on and ctx.visible(o.name) and not scene.children(o.name)
    ]
    if len(floor) < 3:
        return None
    a, b = (floor[int(i)] for i in ctx.rng.choice(len(floor), 2, replace=False))
    refs = _ref_pair(ctx, a.name, b.name, "translate")
    if refs is None:
        return None
    ra, rb = refs
    ask = Ask(ra.phrase, [f"swap {{s}} and {rb.phrase}", f"switch the places of {{s}} and {rb.phrase}", f"trade {{s}}'s spot with {rb.phrase}"],
              f"where {rb.phrase} is", [], None, ra.protect + rb.protect)  # fmt: skip

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ca = (np.add(*scene.group_bounds(t))) / 2
        cb = (np.add(*scene.group_bounds(b.name))) / 2
        d = (cb - ca) * (0.5 if lv == "half" else 1.0)
        va = [r4(d[0]), r4(d[1]), 0.0]
        vb = [r4(-d[0]), r4(-d[1]), 0.0]
        ops = [
            {"op": "translate", "targets": [t], "vector": va},
            {"op": "translate", "targets": [b.name], "vector": vb},
        ]
        moves = f"{t} by {fmt_vec(va)}, {b.name} by {fmt_vec(vb)}"
        if flip:  # argues for moving only one of them
            ops, moves = ops[:1], f"only {t} by {fmt_vec(va)}"
        words = f"centres {t} ({fmt(ca[0])}, {fmt(ca[1])}), {b.name} ({fmt(cb[0])}, {fmt(cb[1])}): {moves}"
        plan = make_plan(
            f"Swap {t} and {b.name}.", [(f"Swap {t} and {b.name}", "Each to the other's place.", 0.85, ops)]
        )
        return Decision(f"{ra.phrase} and {rb.phrase} trade places.", [resolve(ctx, ra, t), resolve(ctx, rb, b.name)],
                        [upper_first(words) + "."], "each ends where the other was; nothing else moves.", plan)  # fmt: skip

    distractors = [(o.name,) for o in floor if o is not a and o is not b]
    return task(
        FAMILY, "swap", ask, phrase(ctx, ask), decide, (a.name,), "exact", ("exact", "half"), distractors, ra.how
    )


_BUILDERS = {"put_on": _put_on, "next_to": _next_to, "drop": _drop, "line_up": _line_up, "face": _face,
             "same_size": _same_size, "swap": _swap}  # fmt: skip
