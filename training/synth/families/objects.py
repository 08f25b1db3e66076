"""object_edit: edits of one object (or one kind of object) that are not about a degree of an
attribute: remove, hide, show, duplicate, shading, modifiers, recolour, material presets, glow.

    delete       "delete the cone", "get rid of all the vases"; a kind's root takes its children
                 with it ("remove the lamp": base, shade and the light parented to it)
    hide / show  set_visibility (every piece of a group); "unhide the chair" for a hidden one
    duplicate    "add another chair next to it": offset = its width along a free side + 0.15 m
    shading      smooth for round things, flat for a "faceted" or "low-poly look"
    modifiers    bevel (width 1.5 / 4 / 8 % of its smallest side, 3 segments), hollow (solidify
                 0.01 / 0.02 / 0.05 m), mirror (the axis named), smoother (subdivision 1 / 2 / 3),
                 lower-poly (decimate 0.7 / 0.5 / 0.25), wireframe, a row of N (array);
                 adjust_modifier when it has that modifier already (more bevel, more copies,
                 smoother), remove_modifier to take one off ("make it blocky again" removes a
                 subdivision; "lower-poly" on a subdivided object: remove it, else decimate)
    recolour     a named colour; presets (gold, chrome, glass, rubber, matte black)
    glow         set_emission: "make the shade glow" (2 / 5 / 12), "turn the glow off" (0)
Material edits go through `material_edit` (a material shared with an object that is not a
target is not edited in place: the target gets its own; "make only the left chair red").
A wrong magnitude either misses the amount or overreaches (an extra target or an unasked op).
"""

from __future__ import annotations

import numpy as np

from training.synth.families.attributes import camera_axes
from training.synth.families.common import (
    LEVELS,
    Context,
    Task,
    degree_words,
    first_task,
    keys_stay,
    make_plan,
    material_edit,
    other_colours,
    other_objects,
    palette,
    phrase,
    pick_target,
    r4,
    task,
    weights_of,
)
from training.synth.language import Ask, plural
from training.synth.reasoning import Decision, fmt, fmt_color, fmt_vec, upper_first
from training.synth.referring import Reference, fits, noun, pick_group, refer, resolve
from training.synth.scenes import NO_MATERIAL, SynthScene, main_slot

FAMILY = "object_edit"
ROUND = ("ball", "torus", "vase", "bottle", "mug", "cylinder", "cone", "statue", "plant", "hydrant", "dog")
BEVEL = {"small": 0.015, "medium": 0.04, "large": 0.08}  # of the smallest side
SOLID = {"small": 0.01, "medium": 0.02, "large": 0.05}
SUBSURF = {"small": 1, "medium": 2, "large": 3}
DECIMATE = {"small": 0.7, "medium": 0.5, "large": 0.25}
WIRE = {"small": 0.01, "medium": 0.02, "large": 0.04}
MORE = {"small": 1, "medium": 2, "large": 4}
GLOW = {"small": 2.0, "medium": 5.0, "large": 12.0}
PRESETS = {  # name -> words, values
    "gold": (("gold", "golden"), {"color": [0.9, 0.65, 0.15], "roughness": 0.25, "metallic": 1.0}),
    "chrome": (("chrome", "mirror-like metal"), {"color": [0.9, 0.9, 0.9], "roughness": 0.05, "metallic": 1.0}),
    "glass": (("glass", "see-through glass"), {"color": [0.9, 0.95, 1.0], "roughness": 0.05, "alpha": 0.2}),
    "rubber": (("rubber", "rubbery"), {"roughness": 0.85, "metallic": 0.0}),
    "matte_black": (("matte black",), {"color": [0.03, 0.03, 0.03], "roughness": 0.9, "metallic": 0.0}),
}
MODS = {"BEVEL": "Bevel", "SOLIDIFY": "Solidify", "MIRROR": "Mirror", "SUBSURF": "Subdivision", "DECIMATE": "Decimate",
        "WIREFRAME": "Wireframe", "ARRAY": "Array"}  # fmt: skip
VARIANTS = ("delete", "delete", "delete_group", "hide", "hide", "show", "show", "duplicate", "duplicate", "shading",
            "bevel", "hollow", "mirror", "smoother", "lower_poly", "wireframe", "row", "more_copies", "tweak", "tweak",
            "tweak", "unmodify", "recolor", "recolor", "preset", "glow", "glow_off")  # fmt: skip


def propose(ctx: Context) -> Task | None:
    return first_task(ctx, weights_of(VARIANTS), lambda v: _BUILDERS[v](ctx, v))


def _pick(ctx: Context, ok=lambda o: True) -> str | None:  # noqa: ANN001
    return pick_target(ctx, [n for n in ctx.visible_names() if ok(ctx.scene.get(n))])


def _group_names(scene: SynthScene, name: str) -> list[str]:
    """An object with everything parented to it (lights too): what "the lamp" is."""
    out = [name]
    for o in scene.graph.objects:
        if o.parent == name:
            out += _group_names(scene, o.name)
    return out


def _delete(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    if variant == "delete_group":
        picked = pick_group(ctx, [n for n in ctx.visible_names() if scene.get(n).role == "main"])
        if picked is None:
            return None
        names, ref = picked
        gold = tuple(names)
        distractors = [(n,) for n in ctx.visible_names() if n not in names][:3]
        extra = distractors[0][0] if distractors else None
    else:
        found = _whole_object(ctx, "delete")
        if found is None:
            return None
        ref, gold, distractors = found
        extra = distractors[0][0] if distractors else None
    words = ["delete {s}", "remove {s}", "get rid of {s}", "take {s} out", "ditch {s}", "lose {s}"]
    ask = Ask(ref.phrase, words, "gone", ["{s} shouldn't be there", "{s} is cluttering the shot"], None, ref.protect)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        ts = list(targets) + ([extra] if lv == "extra" and extra and extra not in targets else [])
        if lv == "part" and len(ts) > 1:
            ts = ts[:-1]
        if flip:  # argues for hiding, answers with a delete
            ops = [{"op": "set_visibility", "targets": ts, "visible": False}]
            words_ = f"hide {', '.join(ts)} (reversible)"
        else:
            ops = [{"op": "delete", "targets": ts}]
            words_ = f"delete {', '.join(ts)}"
        kids = [t for t in ts if scene.has(t) and scene.get(t).parent] + [t for t in ts if not scene.has(t)]
        note = (
            f"; {', '.join(kids)} hang from it and go too" if kids and len(ts) > 1 and variant != "delete_group" else ""
        )
        plan = make_plan(
            upper_first(words_) + ".",
            [(f"Delete {ts[0]}" + (" and more" if len(ts) > 1 else ""), "Removed from the scene.", 0.9, ops)],
        )
        return Decision(f"remove {ref.phrase} from the scene.", [_resolve_many(ctx, ref, targets)],
                        [upper_first(words_) + note + "."], f"only {ref.phrase} goes; the rest stays.", plan)  # fmt: skip

    levels = ("exact", "extra", "part") if len(gold) > 1 else ("exact", "extra")
    return task(FAMILY, variant, ask, said, decide, gold, "exact", levels, distractors, ref.how)


def _whole_object(ctx: Context, intent: str) -> tuple[Reference, tuple[str, ...], list[tuple[str, ...]]] | None:
    """A visible kind root with everything parented to it (what "the lamp" is), a reference to
    it, and the other roots (with theirs) as wrong targets, its own kind first."""
    name = _pick(ctx, lambda o: o.role == "main")
    ref = refer(ctx, name, intent) if name is not None else None
    if ref is None:
        return None
    scene = ctx.scene
    others = [tuple(_group_names(scene, d[0])) for d in other_objects(ctx, name) if scene.get(d[0]).role == "main"]
    return ref, tuple(_group_names(scene, name)), others


def _resolve_many(ctx: Context, ref: Reference, targets: tuple[str, ...]) -> str:
    """The resolution of one object and what hangs from it, or of several of a kind."""
    scene = ctx.scene
    if not scene.get(targets[0]).parent and any(scene.has(t) and scene.get(t).parent is None for t in targets[1:]):
        marks = ", ".join(f"{t} (mark {scene.get(t).mark})" for t in targets if scene.has(t))
        return f"'{ref.phrase}' -> {marks}."
    rest = targets[1:]
    return resolve(ctx, ref, targets[0]) + (f" Its children: {', '.join(rest)}." if rest else "")


def _hide(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    if variant == "show":
        if not scene.hidden:
            return None
        name = ctx.choice([o.name for o in scene.hidden])
        ref = refer(ctx, name, "set_visibility")
        if ref is None:
            return None
        gold = (name,)
        distractors = [(n,) for n in ctx.visible_names()]
        distractors.sort(key=lambda d: not fits(scene.get(d[0]), noun(scene.get(name))))
        ask = Ask(ref.phrase, ["unhide {s}", "show {s} again", "bring {s} back", "make {s} visible"], "visible again",
                  ["{s} is missing from the render"], None, ref.protect)  # fmt: skip
    else:
        found = _whole_object(ctx, "set_visibility")
        if found is None:
            return None
        ref, gold, distractors = found
        ask = Ask(ref.phrase, ["hide {s}", "hide {s} in the render", "take {s} out of the shot for now", "make {s} invisible"],
                  "hidden for now", ["{s} is in the way for this shot"], None, ref.protect)  # fmt: skip
    visible = variant == "show"
    extra = distractors[0][0] if distractors else None
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        ts = list(targets) + ([extra] if lv == "extra" and extra and extra not in targets else [])
        ops = (
            [{"op": "delete", "targets": ts}]
            if flip and not visible
            else [{"op": "set_visibility", "targets": ts, "visible": visible != flip}]
        )
        words_ = (f"delete {', '.join(ts)}" if flip and not visible
                  else f"{'show' if visible != flip else 'hide'} {', '.join(ts)} (viewport and render)")  # fmt: skip
        plan = make_plan(
            upper_first(words_) + ".",
            [(f"{'Show' if visible else 'Hide'} {ts[0]}", "Visibility only; nothing is deleted.", 0.9, ops)],
        )
        state = "back in the render" if visible else "out of the render, still in the file"
        return Decision(f"{ref.phrase} {state}.", [_resolve_many(ctx, ref, targets)], [upper_first(words_) + "."],
                        f"{', '.join(targets)} {'shows' if visible else 'hides'}; nothing is deleted.", plan)  # fmt: skip

    return task(FAMILY, variant, ask, said, decide, gold, "exact", ("exact", "extra"), distractors, ref.how)


# ---------------------------------------------------------------- duplicate
def _free_offset(scene: SynthScene, names: list[str], gap: float, ctx: Context) -> tuple[np.ndarray, str]:
    """An offset beside the objects (their width along a side + gap), on the first side from the
    camera's right, left, back and front where the copy overlaps nothing."""
    lo, hi = np.min([scene.bounds(n)[0] for n in names], axis=0), np.max([scene.bounds(n)[1] for n in names], axis=0)
    axes = camera_axes(scene)
    others = [scene.bounds(o.name) for o in scene.objects if o.name not in names and o.kind not in ("floor", "rug")
              and o.name != scene.on.get(names[0])]  # fmt: skip
    best = None
    for side in ("right", "left", "back", "closer"):
        d = axes[side]
        axis = int(abs(d[1]) > abs(d[0]))
        sign = 1.0 if d[axis] > 0 else -1.0
        vec = np.zeros(3)
        vec[axis] = sign * (hi[axis] - lo[axis] + gap)
        nlo, nhi = lo + vec, hi + vec
        overlap = sum(
            float(np.prod(np.clip(np.minimum(nhi, b[1]) - np.maximum(nlo, b[0]), 0, None)[:2])) for b in others
        )
        if best is None or overlap < best[0] - 1e-9:
            best = (overlap, vec, side)
        if overlap == 0.0:
            break
    return best[1], best[2]


def _duplicate(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    name = _pick(ctx, lambda o: o.role == "main" and o.name not in scene.motions and o.kind not in ("rug",))
    if name is None:
        return None
    ref = refer(ctx, name, "duplicate")
    if ref is None:
        return None
    gold = tuple(n for n in _group_names(scene, name) if scene.has(n))
    w = noun(scene.get(name))
    ask = Ask(ref.phrase, [f"add another {w} next to {{s}}", "duplicate {s}", "make a copy of {s} beside it",
                           f"I need a second {w} next to {{s}}", "clone {s} and put the copy next to it"],
              f"with a twin {w} beside it", [], None, ref.protect)  # fmt: skip
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        ts = [t for t in targets if scene.has(t)]
        vec, side = _free_offset(scene, ts, 0.15, ctx)
        if lv == "overlap":
            vec = vec * 0.3
        if flip:
            vec = -vec
        offset = [r4(v) for v in vec]
        ops = [{"op": "duplicate", "targets": ts, "offset": offset}]
        words_ = f"duplicate {', '.join(ts)}, offset {fmt_vec(offset)} m ({side} side seen from {scene.main_camera}, its width + 0.15 m gap)"
        plan = make_plan(
            f"Duplicate {ts[0]} beside it.", [(f"Duplicate {ts[0]}", f"A copy on its free {side} side.", 0.85, ops)]
        )
        return Decision(f"a second {w} like {ref.phrase}, placed beside it, not on top of it.", [_resolve_many(ctx, ref, targets)],
                        [upper_first(words_) + "."], "the copy stands next to the original, touching nothing.", plan)  # fmt: skip

    distractors = [tuple(n for n in _group_names(scene, d[0]) if scene.has(n)) for d in other_objects(ctx, name)
                   if scene.get(d[0]).role == "main" and d[0] not in scene.motions]  # fmt: skip
    return task(FAMILY, variant, ask, said, decide, gold, "exact", ("exact", "overlap"), distractors, ref.how)


# ---------------------------------------------------------------- shading and modifiers
def _has(scene: SynthScene, name: str, kind: str) -> str | None:
    return next((m.name for m in scene.get(name).modifiers if m.type == kind), None)


def _size(scene: SynthScene, name: str) -> float:
    lo, hi = scene.bounds(name)
    return float(min(hi - lo))


def _tweak(ctx: Context, variant: str) -> Task | None:
    """More of a modifier the object has already: adjust_modifier ("wider bevel on the table")."""
    scene = ctx.scene
    have = {"BEVEL": "bevel", "SUBSURF": "smoother", "SOLIDIFY": "hollow"}
    options = [have[m.type] for o in scene.objects if ctx.visible(o.name) for m in o.modifiers if m.type in have]
    if not options:
        return None
    return _modifier_task(ctx, ctx.choice(options), must_have=True)


def _modifier_task(ctx: Context, variant: str, must_have: bool = False) -> Task | None:
    scene = ctx.scene
    kind_of = {"bevel": "BEVEL", "hollow": "SOLIDIFY", "mirror": "MIRROR", "smoother": "SUBSURF", "lower_poly": "DECIMATE",
               "wireframe": "WIREFRAME", "row": "ARRAY", "more_copies": "ARRAY"}  # fmt: skip
    mtype = kind_of[variant]
    ok = {
        "bevel": lambda o: (
            o.kind
            in ("box", "table", "coffee_table", "desk", "shelf", "pedestal", "tv", "bench", "book", "cylinder", "chair")
        ),
        "hollow": lambda o: o.kind in ("vase", "mug", "box", "cylinder", "bottle", "pedestal"),
        "mirror": lambda o: o.kind in ("statue", "character", "dog", "car", "chair", "armchair", "sofa", "vase"),
        "smoother": lambda o: o.kind in ROUND or o.kind in ("sofa", "armchair", "statue"),
        "lower_poly": lambda o: o.kind in ROUND or _has(scene, o.name, "SUBSURF") is not None,
        "wireframe": lambda o: o.kind in ("box", "ball", "torus", "cone", "cylinder", "statue", "vase"),
        "row": lambda o: o.kind in ("box", "cylinder", "cone", "book", "chair", "vase", "bottle", "mug"),
        "more_copies": lambda o: o.name in scene.array_counts,
    }[variant]
    if must_have:
        name = _pick(ctx, lambda o: _has(scene, o.name, mtype) is not None and o.name not in scene.motions)
    else:
        name = _pick(ctx, lambda o: ok(o) and o.role == "main" and o.name not in scene.motions)
    if name is None:
        return None
    existing = _has(scene, name, mtype)
    subsurf = _has(scene, name, "SUBSURF")
    intent = ("remove_modifier" if variant == "lower_poly" and subsurf else
              "adjust_modifier" if existing and variant != "lower_poly" else "add_modifier")  # fmt: skip
    ref = refer(ctx, name, intent)
    if ref is None:
        return None
    w = noun(scene.get(name))
    size = _size(scene, name)
    axis_word, axes = ctx.choice([("left to right", [True, False, False]), ("front to back", [False, True, False])])
    count = int(ctx.choice([3, 4, 5]))
    verbs = {
        "bevel": (["bevel {s}", "round the edges of {s} {adv}", "soften the edges of {s} {adv}", "give {s} rounded edges"],
                  "with {deg} rounder edges", ["the edges of {s} are {deg} too sharp"]),
        "hollow": (["make {s} hollow", "give {s} walls {adv}", "hollow out {s}"], "hollow", ["{s} is solid, it should be hollow"]),
        "mirror": ([f"mirror {{s}} {axis_word}", f"make {{s}} symmetrical {axis_word}"], f"symmetrical {axis_word}", []),
        "smoother": (["make {s} {deg} smoother", "subdivide {s} {adv}", "smooth out the geometry of {s} {adv}"],
                     "{deg} smoother", ["{s} looks {deg} too blocky"]),
        "lower_poly": (["make {s} {deg} lower-poly", "reduce the polygons of {s} {adv}", "simplify the mesh of {s} {adv}"],
                       "{deg} lower-poly", ["{s} has {deg} too many polygons"]),
        "wireframe": (["turn {s} into a wireframe", "give {s} a wireframe look", "make {s} a wire mesh"], "a wireframe", []),
        "row": ([f"make a row of {count} {plural(w)} from {{s}}", f"repeat {{s}} {count} times in a row",
                 f"array {{s}} into {count} copies"], f"repeated {count} times", []),
        "more_copies": (["add {deg} more copies to {s}", "make {s} {deg} longer with more repeats", "extend {s} {adv}"],
                        "{deg} longer", ["{s} is {deg} too short"]),
    }[variant]  # fmt: skip
    if existing and variant in ("bevel", "hollow", "smoother"):  # it has one: ask for more of it
        label = {"bevel": "bevel", "hollow": "walls", "smoother": "subdivision"}[variant]
        verbs = ({"bevel": ["make the bevel on {s} {deg} wider", "round the edges of {s} {adv} more", "widen the bevel of {s} {adv}"],
                  "hollow": ["make the walls of {s} {deg} thicker", "thicken the shell of {s} {adv}"],
                  "smoother": ["make {s} {deg} smoother", "add {adv} more subdivision to {s}", "smooth {s} out {adv} more"]}[variant],
                 f"with {{deg}} more {label}", [f"the {label} on {{s}} is {{deg}} too subtle"])  # fmt: skip
    has_degree = variant in ("bevel", "hollow", "smoother", "lower_poly", "wireframe", "more_copies")
    level = ctx.choice(LEVELS) if has_degree else "exact"
    ask = Ask(ref.phrase, verbs[0], verbs[1], verbs[2], level if has_degree else None, ref.protect)
    said = phrase(ctx, ask)

    def settings(lv: str, flip: bool) -> dict:
        if mtype == "BEVEL":
            return {"type": "BEVEL", "width": r4(max(0.002, size * BEVEL[lv] * (0.3 if flip else 1))), "segments": 3}
        if mtype == "SOLIDIFY":
            return {"type": "SOLIDIFY", "thickness": SOLID[lv] * (0.2 if flip else 1)}
        if mtype == "MIRROR":
            a = axes if lv == "exact" else [True, True, False]
            return {"type": "MIRROR", "axes": a if not flip else [not x for x in a]}
        if mtype == "SUBSURF":
            return {"type": "SUBSURF", "levels": SUBSURF[lv] if not flip else 0}
        if mtype == "DECIMATE":
            return {"type": "DECIMATE", "ratio": DECIMATE[lv] if not flip else 1.0}
        if mtype == "WIREFRAME":
            return {"type": "WIREFRAME", "thickness": WIRE[lv]}
        if variant == "more_copies":
            now = scene.array_counts.get(name, 3)
            return {
                "type": "ARRAY",
                "count": max(1, now + MORE[lv] * (-1 if flip else 1)),
                "relative_offset": [1.0, 0.0, 0.0],
            }
        return {"type": "ARRAY", "count": count if lv == "exact" else count + 2, "relative_offset": [1.2, 0.0, 0.0]}

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        mod = _has(scene, t, mtype)
        sub = _has(scene, t, "SUBSURF")
        alt = None
        if variant == "lower_poly" and sub and not flip:
            ops = [{"op": "remove_modifier", "targets": [t], "name": sub}]
            words_ = f"{t} has {sub} (SUBSURF): removing it lowers the polygons most"
            alt = [{"op": "add_modifier", "targets": [t], "modifier": settings(lv, flip)}]
        elif variant == "lower_poly" and sub:  # flipped: argues for more subdivision
            ops = [{"op": "adjust_modifier", "targets": [t], "name": sub, "modifier": {"type": "SUBSURF", "levels": 3}}]
            words_ = f"{t} has {sub} (SUBSURF): raise it to levels 3"
        elif mod and variant != "lower_poly":
            ops = [{"op": "adjust_modifier", "targets": [t], "name": mod, "modifier": settings(lv, flip)}]
            words_ = f"{t} has {mod} ({mtype}) already: adjust it to {_settings_text(ops[0]['modifier'])}"
        else:
            ops = [{"op": "add_modifier", "targets": [t], "modifier": settings(lv, flip)}]
            words_ = f"add {mtype} to {t}: {_settings_text(ops[0]['modifier'])}"
        if variant == "more_copies":
            words_ += f" (the views show {scene.array_counts.get(t, 0)} copies)"
        if variant == "bevel":
            words_ += f"; smallest side {fmt(_size(scene, t))} m"
        amount = degree_words(said[2], lv) if has_degree else ""
        sugg = [(f"{mtype.title()} on {t}", f"'{verbs[1].replace('{deg} ', '')}' via {mtype}.", 0.8, ops)]
        if alt:
            sugg.append(("Decimate instead", "Keep the subdivision, decimate on top.", 0.2, alt))
        plan = make_plan(upper_first(words_) + ".", sugg)
        return Decision(f"{ref.phrase} {verbs[1].replace('{deg} ', '')}: a modifier, non-destructive.", [resolve(ctx, ref, t)],
                        [upper_first(words_) + "."] + ([upper_first(amount) + "."] if amount else []),
                        f"only {t}'s modifiers change; its shape stays editable.", plan)  # fmt: skip

    levels = LEVELS if has_degree else ("exact", "more") if mtype in ("ARRAY", "MIRROR") else ("exact",)
    if levels == ("exact",):
        return None
    distractors = [d for d in other_objects(ctx, name) if scene.get(d[0]).role == "main"]
    flips = variant not in ("row", "wireframe")  # a row or a wireframe has no opposite to argue for
    return task(FAMILY, variant, ask, said, decide, (name,), level, levels, distractors, ref.how, can_flip=flips)


def _settings_text(m: dict) -> str:
    return ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}" for k, v in m.items() if k != "type")


def _shading(ctx: Context, variant: str) -> Task | None:
    smooth = ctx.rng.random() < 0.6
    name = _pick(ctx, lambda o: (o.kind in ROUND) == smooth and o.role == "main")
    if name is None:
        return None
    ref = refer(ctx, name, "set_shading")
    if ref is None:
        return None
    if smooth:
        verbs, state = (
            ["shade {s} smooth", "smooth out the facets on {s}", "get rid of the faceted look on {s}"],
            "smooth-shaded",
        )
    else:
        verbs, state = ["give {s} a faceted look", "shade {s} flat", "make {s} look low-poly and faceted"], "faceted"
    ask = Ask(ref.phrase, verbs, state, [f"{{s}} looks {'faceted' if smooth else 'too smooth'}"], None, ref.protect)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ops = [{"op": "set_shading", "targets": [t], "smooth": smooth != flip}]
        if lv == "extra":  # overreach: geometry too
            ops.append(
                {
                    "op": "add_modifier",
                    "targets": [t],
                    "modifier": {"type": "SUBSURF", "levels": 2} if smooth else {"type": "DECIMATE", "ratio": 0.5},
                }
            )
        words_ = f"{t} shading {'smooth' if smooth != flip else 'flat'}" + (" and a modifier" if lv == "extra" else "")
        plan = make_plan(
            upper_first(words_) + ".",
            [(f"Shade {t} {'smooth' if smooth else 'flat'}", "Shading only; geometry stays.", 0.85, ops)],
        )
        return Decision(f"{ref.phrase} {state}: shading, not geometry.", [resolve(ctx, ref, t)], [upper_first(words_) + "."],
                        f"only {t}'s shading changes.", plan)  # fmt: skip

    return task(
        FAMILY, variant, ask, said, decide, (name,), "exact", ("exact", "extra"), other_objects(ctx, name), ref.how
    )


def _unmodify(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    name = _pick(ctx, lambda o: bool(o.modifiers) and o.role == "main")
    if name is None:
        return None
    mod = ctx.choice(scene.get(name).modifiers)
    ref = refer(ctx, name, "remove_modifier")
    if ref is None:
        return None
    label = {"BEVEL": "bevel", "SUBSURF": "subdivision", "MIRROR": "mirror", "SOLIDIFY": "solidify", "ARRAY": "array",
             "DECIMATE": "decimation", "WIREFRAME": "wireframe"}[mod.type]  # fmt: skip
    verbs = [f"remove the {label} from {{s}}", f"get rid of the {label} on {{s}}", f"turn off the {label} on {{s}}"]
    if mod.type == "SUBSURF":
        verbs.append("make {s} blocky again")
    ask = Ask(ref.phrase, verbs, f"without the {label}", [], None, ref.protect)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        own = [m for m in scene.get(t).modifiers if m.type == mod.type] or scene.get(t).modifiers
        if not own:  # a wrong target without modifiers: it can only get one
            ops = [
                {
                    "op": "add_modifier",
                    "targets": [t],
                    "modifier": {"type": mod.type} if mod.type != "MIRROR" else {"type": "MIRROR"},
                }
            ]
            words_ = f"{t} has no {label}: add one"
        else:
            gone = own[0] if not flip else next((m for m in scene.get(t).modifiers if m.name != own[0].name), own[0])
            ops = [{"op": "remove_modifier", "targets": [t], "name": gone.name}]
            words_ = f"remove {gone.name} ({gone.type}) from {t}"
            if lv == "extra":  # overreach: flat shading as well
                ops.append({"op": "set_shading", "targets": [t], "smooth": False})
                words_ += " and shade it flat"
        plan = make_plan(
            upper_first(words_) + ".", [(f"Remove {label} from {t}", "The modifier goes; the mesh stays.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} without its {label}.", [resolve(ctx, ref, t) + f" Modifiers: {', '.join(m.name for m in scene.get(t).modifiers) or 'none'}."],
                        [upper_first(words_) + "."], "only that modifier goes.", plan)  # fmt: skip

    distractors = [d for d in other_objects(ctx, name) if scene.get(d[0]).role == "main"]
    return task(FAMILY, variant, ask, said, decide, (name,), "exact", ("exact", "extra"), distractors, ref.how,
                 can_flip=len(scene.get(name).modifiers) > 1)  # fmt: skip


# ---------------------------------------------------------------- colour, presets, glow
def _recolor(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    name = _pick(ctx, lambda o: o.kind not in ("rug",))
    if name is None:
        return None
    obj = scene.get(name)
    mat = obj.materials[main_slot(obj)]
    shared = mat != NO_MATERIAL and len(scene.users(mat)) > 1
    if variant == "preset":
        key = ctx.choice(list(PRESETS))
        words_, values = PRESETS[key]
        word = ctx.choice(list(words_))
        goal_name = key.replace("_", " ")
    else:
        word = ctx.choice(other_colours(obj.color))
        values, goal_name = {"color": palette(word)}, word
    intent = (
        "assign_material"
        if shared or mat == NO_MATERIAL
        else "set_base_color"
        if "color" in values
        else "set_roughness"
    )
    ref = refer(ctx, name, intent)
    if ref is None:
        return None
    only = shared and ctx.rng.random() < 0.6
    pre = "only " if only else ""
    verbs = [f"make {pre}{{s}} {word}", f"paint {pre}{{s}} {word}", f"turn {pre}{{s}} {word}", f"give {pre}{{s}} a {word} look",
             f"recolour {{s}} {word}"]  # fmt: skip
    if variant == "preset":
        verbs = [f"make {pre}{{s}} {word}", f"give {pre}{{s}} a {word} material", f"I want {pre}{{s}} in {word}"]
    ask = Ask(ref.phrase, verbs, word, [], None, ref.protect)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        vals = dict(values)
        if lv == "near" and "color" in vals:
            vals["color"] = [r4(0.5 * c + 0.25) for c in vals["color"]]
        if lv == "near" and "color" not in vals:
            vals = {k: r4(v * 0.5 + 0.25) for k, v in vals.items()}
        if flip:
            vals = {"color": [r4(1 - c) for c in vals.get("color", [0.5, 0.5, 0.5])]}
        ops, words_ = material_edit(scene, [t], vals)
        plan = make_plan(
            f"Make {t} {goal_name}.", [(f"Make {t} {goal_name}", f"'{word}' as material values.", 0.9, ops)]
        )
        return Decision(f"{ref.phrase} in {goal_name}" + (", and no other object" if only else "") + ".", [resolve(ctx, ref, t)],
                        [upper_first(f"{t}: {words_}")], f"{t} ends {goal_name}; objects sharing its material keep theirs{keys_stay(ctx, t)}.", plan)  # fmt: skip

    return task(
        FAMILY, variant, ask, said, decide, (name,), "exact", ("exact", "near"), other_objects(ctx, name), ref.how
    )


def _glow(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    off = variant == "glow_off"

    def ok(o) -> bool:  # noqa: ANN001
        m = o.materials[main_slot(o)]
        glowing = m != NO_MATERIAL and scene.material(m).emission_strength > 0
        return glowing == off and o.kind not in ("rug",)

    name = _pick(ctx, ok)
    if name is None:
        return None
    ref = refer(ctx, name, "set_emission")
    if ref is None:
        return None
    colour = ctx.choice(["warm", "white", "red", "blue", "green", "orange", "pink", "teal"])
    rgb = {"warm": [1.0, 0.8, 0.5], "white": [1.0, 1.0, 1.0]}.get(colour) or palette(colour)
    if off:
        verbs, state, level, levels = (["turn off the glow on {s}", "stop {s} glowing", "kill the emission on {s}"], "not glowing",
                                       "off", ("off", "dim"))  # fmt: skip
        degree = None
    else:
        c = "" if colour in ("warm", "white") else f" {colour}"
        verbs = [
            f"make {{s}} glow{c} {{adv}}",
            f"light up {{s}}{c}",
            f"make {{s}} emit{c} light {{adv}}",
            f"make {{s}} sparkle{c}",
        ]
        state, level, levels, degree = f"glowing{c}", ctx.choice(LEVELS), LEVELS, "set"
    ask = Ask(ref.phrase, verbs, state, [], level if degree else None, ref.protect)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        o = scene.get(t)
        mat = scene.main_material(t)
        if off:
            strength = 0.0 if lv == "off" else r4(mat.emission_strength * 0.5)
            color = list(mat.emission_color)
        else:
            strength, color = GLOW[lv], rgb
        if flip:
            strength = r4(mat.emission_strength) if off else 0.0
        shared = o.materials[main_slot(o)] != NO_MATERIAL and len(scene.users(o.materials[main_slot(o)])) > 1
        ops = []
        note = ""
        if shared or o.materials[main_slot(o)] == NO_MATERIAL:
            own, note = material_edit(scene, [t], {"color": list(mat.base_color[:3])})
            ops += own
            note = f" first: {note}"
        ops.append({"op": "set_emission", "targets": [t], "color": color, "strength": strength, "slot": main_slot(o)})
        words_ = f"emission of {t} {fmt_color(color)} at {fmt(strength)} (was {fmt(mat.emission_strength)}){note}"
        amount = degree_words(said[2], lv) if degree else ""
        plan = make_plan(
            upper_first(words_.split(" first:")[0]) + ".",
            [(f"{'No glow' if off else 'Glow'} on {t}", "Emission on its material.", 0.85, ops)],
        )
        return Decision(f"{ref.phrase} {state}: emission, not a light.", [resolve(ctx, ref, t)],
                        [upper_first(words_) + "."] + ([upper_first(amount) + "."] if amount else []),
                        f"only {t} {'stops glowing' if off else 'glows'}.", plan)  # fmt: skip

    return task(FAMILY, variant, ask, said, decide, (name,), level, levels, other_objects(ctx, name), ref.how)


_BUILDERS = {
    "delete": _delete, "delete_group": _delete, "hide": _hide, "show": _hide, "duplicate": _duplicate,
    "shading": _shading, "bevel": _modifier_task, "hollow": _modifier_task, "mirror": _modifier_task,
    "smoother": _modifier_task, "lower_poly": _modifier_task, "wireframe": _modifier_task, "row": _modifier_task,
    "more_copies": _modifier_task, "tweak": _tweak, "unmodify": _unmodify, "recolor": _recolor, "preset": _recolor,
    "glow": _glow, "glow_off": _glow,
}  # fmt: skip
