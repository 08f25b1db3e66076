"""camera: the shot, computed from the camera's pose and lens and the subject's bounds.

    zoom        "zoom in a bit": focal length x1.25 / x1.6 / x2.2 (out: the inverse)
    dolly       "move the camera closer": along its view axis by 15 / 30 / 50 % of its distance
                to what it looks at (back: the other way)
    closer_on   "closer on the statue": aim at it and move 30 / 50 / 65 % of the way there; the
                alternative keeps the camera and zooms by the same ratio
    frame       "frame the car": aim at it and move (along the line from it to the camera) to
                where its bounding sphere fills 70 % of the narrower field of view
    point_at    "point the camera at the dog": camera_look_at
    height      "a higher camera angle": up 0.3 / 0.7 / 1.5 m (lower: down, above 0.3 m)
    lens        "use a telephoto lens" (85 mm), "wide-angle" (24 mm), "set the lens to 50 mm"
With one camera it is "the camera"; with several, the camera is named, or called by its role
("the close-up camera"); an unqualified "the camera" then means the main one.
"""

from __future__ import annotations

import math

import numpy as np

from training.synth.families.common import (
    LEVELS,
    Context,
    Task,
    degree_words,
    first_task,
    make_plan,
    phrase,
    r4,
    task,
    weights_of,
)
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt, fmt_vec, upper_first
from training.synth.referring import Reference, refer, resolve

FAMILY = "camera"
ZOOM = {"small": 1.25, "medium": 1.6, "large": 2.2}
DOLLY = {"small": 0.15, "medium": 0.3, "large": 0.5}
TOWARD = {"small": 0.3, "medium": 0.5, "large": 0.65}
HEIGHT = {"small": 0.3, "medium": 0.7, "large": 1.5}
FILL = {"exact": 0.7, "loose": 0.35}
ROLE_WORDS = {"main": "the main camera", "closeup": "the close-up camera", "top": "the top camera",
              "wide": "the wide camera", "side": "the side camera"}  # fmt: skip
VARIANTS = ("zoom", "dolly", "closer_on", "closer_on", "frame", "frame", "point_at", "point_at", "height", "lens")


def propose(ctx: Context) -> Task | None:
    return first_task(ctx, weights_of(VARIANTS), lambda v: _BUILDERS[v](ctx))


def refer_camera(ctx: Context, cam: str) -> Reference:
    scene = ctx.scene
    cams = scene.graph.camera_names()
    if len(cams) == 1:
        return Reference(ctx.choice(["the camera", "the camera", "the shot", "the view"]), "only")
    options = [Reference(cam, "name", (cam,)), Reference(ROLE_WORDS[scene.camera_roles[cam]], "role")]
    if cam == scene.main_camera:
        options.append(Reference("the camera", "main"))
    return options[int(ctx.rng.integers(len(options)))]


def _camera_facts(ctx: Context, ref: Reference, cam: str) -> str:
    scene = ctx.scene
    pose = scene.camera_poses[cam]
    why = {"only": "the only camera", "main": "the main (active) camera", "role": f"the {scene.camera_roles[cam]} camera",
           "name": "by name"}[ref.how]  # fmt: skip
    return f"'{ref.phrase}' -> {cam} ({why}; at {fmt_vec([r4(v) for v in pose[:3, 3]])}, {fmt(scene.camera(cam).focal_length)} mm)."


def _aim(scene, cam: str) -> tuple[np.ndarray, np.ndarray, float]:  # noqa: ANN001
    """The camera's position, its view direction, and the distance to what it looks at (the
    scene's middle along its view axis)."""
    pose = scene.camera_poses[cam]
    eye, fwd = pose[:3, 3], -pose[:3, 2]
    lo = np.min([scene.bounds(o.name)[0] for o in scene.objects], axis=0)
    hi = np.max([scene.bounds(o.name)[1] for o in scene.objects], axis=0)
    dist = max(0.5, float(np.dot((lo + hi) / 2 - eye, fwd)))
    return eye, fwd, dist


def _fov(scene, cam: str) -> float:  # noqa: ANN001
    c = scene.camera(cam)
    return 2 * math.atan(c.sensor_width / 2 / c.focal_length)


def _camera_only(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    cams = scene.graph.camera_names()
    if len(cams) < 2 or ctx.held_out == "composition":
        return None
    cam = ctx.choice(cams)
    ref = refer_camera(ctx, cam)
    up = ctx.rng.random() < 0.6
    level = ctx.choice(LEVELS)
    if variant == "zoom":
        verbs = (
            ["zoom {s} in {adv}", "tighten {s} {adv}", "push in {s} {adv}"]
            if up
            else ["zoom {s} out {adv}", "widen {s} {adv}"]
        )
        state = "{deg} tighter" if up else "{deg} wider"
    elif variant == "dolly":
        verbs = (
            ["move {s} {deg} closer", "dolly {s} in {adv}", "bring {s} in {adv}"]
            if up
            else ["pull {s} back {adv}", "move {s} {deg} farther away", "dolly {s} out {adv}"]
        )
        state = "{deg} closer" if up else "{deg} farther back"
    elif variant == "height":
        if not up and scene.camera_poses[cam][2, 3] < HEIGHT["large"] + 0.5:
            return None
        verbs = (
            ["raise {s} {adv}", "move {s} up {adv}", "give {s} a {deg} higher angle"]
            if up
            else ["lower {s} {adv}", "move {s} down {adv}", "give {s} a {deg} lower angle"]
        )
        state = "{deg} higher" if up else "{deg} lower"
    else:  # lens
        kind = ctx.choice(["tele", "wide", "mm"])
        mm = {"tele": 85.0, "wide": 24.0}.get(kind) or float(ctx.choice([28, 35, 50, 85, 135]))
        if abs(mm - scene.camera(cam).focal_length) < 1:
            return None
        verbs = {"tele": ["use a telephoto lens on {s}", "give {s} a long lens"], "wide": ["use a wide-angle lens on {s}", "give {s} a wide lens"],
                 "mm": [f"set {{s}} to {mm:g} mm", f"change {{s}}'s lens to {mm:g} mm"]}[kind]  # fmt: skip
        state, level = f"at {mm:g} mm", str(mm)
    ask = Ask(ref.phrase, verbs, state, [], None if variant == "lens" else level, ref.protect)
    said = phrase(ctx, ask)
    sign = 1 if up else -1

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        c = targets[0]
        s = -sign if flip else sign
        eye, fwd, dist = _aim(scene, c)
        focal = scene.camera(c).focal_length
        if variant == "zoom":
            value = r4(min(4000.0, max(1.0, focal * ZOOM[lv] ** s)))
            ops = [{"op": "set_focal_length", "camera": c, "value": value}]
            words = f"focal length {fmt(focal)} -> {fmt(value)} mm (x{fmt(ZOOM[lv] ** s)})"
        elif variant == "dolly":
            vec = [r4(v) for v in fwd * dist * DOLLY[lv] * s]
            ops = [{"op": "move_camera", "camera": c, "vector": vec}]
            words = f"along its view axis {fmt(DOLLY[lv] * s)} x {fmt(dist)} m: move {fmt_vec(vec)}"
        elif variant == "height":
            vec = [0.0, 0.0, r4(HEIGHT[lv] * s)]
            ops = [{"op": "move_camera", "camera": c, "vector": vec}]
            words = f"move {c} {fmt(vec[2])} m on Z"
        else:
            value = float(lv) if not flip else focal
            ops = [{"op": "set_focal_length", "camera": c, "value": value}]
            words = f"focal length {fmt(focal)} -> {fmt(value)} mm"
        amount = degree_words(said[2], lv) if variant != "lens" else f"'{ask.state}' = {lv} mm"
        plan = make_plan(
            upper_first(words) + ".", [(f"{variant.title()}: {c}", "The camera changes; the scene stays.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} {ask.state.replace('{deg} ', '')}: a camera change, not an object change.",
                        [_camera_facts(ctx, ref, c)], [upper_first(words) + ".", upper_first(amount) + "."],
                        f"only {c} changes.", plan)  # fmt: skip

    levels = (
        LEVELS
        if variant != "lens"
        else tuple(str(v) for v in (24.0, 35.0, 50.0, 85.0, 135.0) if v != float(level)) + (level,)
    )
    distractors = [(c,) for c in cams if c != cam]
    return task(FAMILY, variant, ask, said, decide, (cam,), level, levels, distractors, ref.how)


# ---------------------------------------------------------------- the camera and a subject
def _subject_task(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    cam = scene.main_camera if ctx.rng.random() < 0.7 else ctx.choice(scene.graph.camera_names())
    names = [n for n in ctx.visible_names() if scene.get(n).role == "main"]
    if len(names) < 2:
        return None
    subject = ctx.choice(names)
    intent = {"closer_on": "camera_look_at", "frame": "camera_look_at", "point_at": "camera_look_at"}[variant]
    ref = refer(ctx, subject, intent)
    if ref is None:
        return None
    cref = refer_camera(ctx, cam)
    on_cam = "" if cref.how in ("only", "main") or ctx.rng.random() < 0.5 else f" with {cref.phrase}"
    if variant == "closer_on":
        verbs = [f"get closer on {{s}}{on_cam}", f"get {{adv}} closer to {{s}}{on_cam}", f"push in on {{s}}{on_cam}",
                 f"go {{deg}} tighter on {{s}}{on_cam}"]  # fmt: skip
        state, level, levels, degree = "{deg} closer", ctx.choice(LEVELS), LEVELS, "y"
    elif variant == "frame":
        verbs = [
            f"frame {{s}}{on_cam}",
            f"fit {{s}} in the shot{on_cam}",
            f"make {{s}} fill the frame{on_cam}",
            f"center the shot on {{s}}{on_cam}",
        ]
        state, level, levels, degree = "framed", "exact", tuple(FILL), None
    else:
        verbs = [
            f"point {cref.phrase} at {{s}}",
            f"aim {cref.phrase} at {{s}}",
            f"have {cref.phrase} look at {{s}}",
            f"look at {{s}}{on_cam}",
        ]
        state, level, levels, degree = f"in the middle of {cref.phrase}", "exact", ("exact", "extra"), None
    ask = Ask(ref.phrase, verbs, state, [], level if degree else None, ref.protect + cref.protect)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        eye = scene.camera_poses[cam][:3, 3]
        lo, hi = scene.group_bounds(t)  # what must fit in the shot: the object with its children
        centre = np.add(*scene.bounds(t)) / 2  # where camera_look_at aims: the object's own box centre
        to = centre - eye
        dist = float(np.linalg.norm(to))
        look = {"op": "camera_look_at", "camera": cam, "target": t}
        focal = scene.camera(cam).focal_length
        sugg = []
        if variant == "closer_on":
            k = TOWARD[lv] * (-1 if flip else 1)
            vec = [r4(v) for v in to * k]
            zoom = r4(min(4000.0, focal / (1 - k)))
            sugg = [(f"Move {cam} toward {t}", "Closer: perspective changes.", 0.65, [look, {"op": "move_camera", "camera": cam, "vector": vec}]),
                    (f"Zoom {cam} on {t}", "Same place, longer lens.", 0.35, [look, {"op": "set_focal_length", "camera": cam, "value": zoom}])]  # fmt: skip
            words = (f"{t} centre {fmt_vec([r4(v) for v in centre])} is {fmt(dist)} m away: aim at it, move {fmt(k)} of the way "
                     f"{fmt_vec(vec)}; or zoom {fmt(focal)} -> {fmt(zoom)} mm")  # fmt: skip
            amount = degree_words(said[2], lv)
        elif variant == "frame":
            radius = float(np.linalg.norm(hi - lo)) / 2
            d = radius / math.tan(_fov(scene, cam) / 2) / FILL[lv]
            if flip:
                d *= 3
            where = [r4(v) for v in centre - to / max(dist, 1e-6) * d]
            sugg = [
                (
                    f"Frame {t}",
                    "Aimed at it, at the distance that fits it.",
                    0.85,
                    [look, {"op": "move_camera", "camera": cam, "vector": where, "mode": "absolute"}],
                )
            ]
            words = (f"{t} bounding radius {fmt(radius)} m, field of view {fmt(math.degrees(_fov(scene, cam)))} deg: {fmt(d)} m away "
                     f"fills {int(FILL[lv] * 100)}%; aim at it and put {cam} at {fmt_vec(where)} on the line from it")  # fmt: skip
            amount = ""
        else:
            aim = t if not flip else next(n for n in names if n != t)  # flipped: argues for another object
            ops = [{"op": "camera_look_at", "camera": cam, "target": aim}]
            if lv == "extra":
                ops.append({"op": "set_focal_length", "camera": cam, "value": r4(focal * 1.6)})
            sugg = [(f"Aim {cam} at {aim}", "Rotation only; the camera stays put.", 0.85, ops)]
            aim_centre = np.add(*scene.bounds(aim)) / 2
            words = f"aim {cam} at {aim}'s centre {fmt_vec([r4(v) for v in aim_centre])}"
            amount = ""
        plan = make_plan(upper_first(words.split(";")[0]) + ".", sugg)
        return Decision(f"{ref.phrase} {state.replace('{deg} ', '')} in {cam}'s shot: a camera change; {t} stays.",
                        [_camera_facts(ctx, cref, cam), resolve(ctx, ref, t)],
                        [upper_first(words) + "."] + ([upper_first(amount) + "."] if amount else []),
                        f"{cam} ends on {t}; no object moves.", plan)  # fmt: skip

    distractors = [(n,) for n in names if n != subject]
    return task(FAMILY, variant, ask, said, decide, (subject,), level, levels, distractors, ref.how)


_BUILDERS = {
    "zoom": lambda ctx: _camera_only(ctx, "zoom"), "dolly": lambda ctx: _camera_only(ctx, "dolly"),
    "height": lambda ctx: _camera_only(ctx, "height"), "lens": lambda ctx: _camera_only(ctx, "lens"),
    "closer_on": lambda ctx: _subject_task(ctx, "closer_on"), "frame": lambda ctx: _subject_task(ctx, "frame"),
    "point_at": lambda ctx: _subject_task(ctx, "point_at"),
}  # fmt: skip
