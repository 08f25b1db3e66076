"""animation (4D): timing and feel of keyframed motion ("slow the bounce down", "snappier", "less
floaty", "make it stepped"). Magnitudes per degree class (small / medium / large):

    slower / faster   retime x1.25 / x1.6 / x2.2 (faster: the inverse), pivot = first frame
    snappier          retime x0.85 / x0.7 / x0.55, then BEZIER with EASE_OUT
    less_floaty       retime x0.85 / x0.7 / x0.55 and bounce height x0.85 / x0.7 / x0.55
    amplitude         scale_amplitude of the motion's channel x1.25 / x1.6 / x2.2
    mechanical, stepped, smoother: set_interpolation LINEAR / CONSTANT / BEZIER + EASE_IN_OUT
A retime that pushes the last key past the frame range also extends the range (set_frame_range).
"""

from __future__ import annotations

import math

from training.synth.families.common import LEVELS, Context, Task, make_plan, phrase, refer
from training.synth.language import DEGREE_MEANING, Ask
from training.synth.reasoning import Decision, describe, fmt, locate, upper_first
from training.synth.scenes import SynthScene

FAMILY = "animation"
SLOW = {"small": 1.25, "medium": 1.6, "large": 2.2}
SNAP = {"small": 0.85, "medium": 0.7, "large": 0.55}
AMP = {"small": 1.25, "medium": 1.6, "large": 2.2}
INTERP = ("LINEAR", "CONSTANT", "BEZIER")
MOTION_PHRASES = {
    "bounce": ("the bounce", "the bouncing ball", "the ball's bounce"),
    "slide": ("the slide", "the sliding box", "the box's slide"),
    "spin": ("the spin", "the spinning box"),
}
AMPLITUDE_WORDS = {  # motion -> (verbs, state, complaints)
    "bounce": (("make {s} {deg} higher", "make {s} go {deg} higher"), "{deg} higher", ("{s} is {deg} too low",)),
    "slide": (
        ("make {s} go {deg} farther", "make {s} travel {deg} farther"),
        "{deg} longer",
        ("{s} is {deg} too short",),
    ),
    "spin": (("make {s} turn {deg} more", "give {s} {deg} more rotation"), "{deg} wider", ("{s} doesn't turn enough",)),
}
VARIANTS = {  # variant -> verbs, state, complaints, has degree, meaning
    "slower": (("slow {s} down {adv}", "make {s} {deg} slower", "slow down {s} {adv}"), "{deg} slower",
               ("{s} is {deg} too fast", "{s} feels {deg} too quick"), True,
               "'slower' = stretch the timing: retime by a factor above 1 (2 = twice as slow) about the first frame"),
    "faster": (("speed {s} up {adv}", "make {s} {deg} faster", "make {s} {deg} quicker"), "{deg} faster",
               ("{s} is {deg} too slow", "{s} drags {deg} too long"), True,
               "'faster' = compress the timing: retime by a factor below 1 about the first frame"),
    "snappier": (("make {s} {deg} snappier", "give {s} {deg} more snap"), "{deg} snappier",
                 ("{s} feels {deg} too sluggish", "{s} is {deg} too mushy"), True,
                 "'snappier' = quicker moves that settle: retime below 1 and ease out (fast start, soft stop)"),
    "less_floaty": (("make {s} {deg} less floaty", "make {s} feel {deg} heavier"), "{deg} less floaty",
                    ("{s} is {deg} too floaty", "{s} hangs in the air {deg} too long"), True,
                    "'floaty' = too slow and too high for its weight: less floaty = faster timing and a lower bounce"),
    "amplitude": ((), "", (), True, "a bigger motion = scale the channel's amplitude about its first key"),
    "mechanical": (("make {s} more mechanical", "make {s} feel robotic", "make {s} linear"), "more mechanical",
                   ("{s} feels too organic", "{s} is too eased"), False,
                   "'mechanical' = constant speed, no easing: LINEAR interpolation"),
    "stepped": (("make {s} stepped", "make {s} look like stop motion", "give {s} a choppy stepped feel"), "stepped, like stop motion",
                (), False, "'stepped' / stop motion = hold each key: CONSTANT interpolation"),
    "smoother": (("make {s} smoother", "ease {s} in and out", "smooth out {s}"), "smoother",
                 ("{s} looks too abrupt", "{s} feels too robotic"), False,
                 "'smoother' = eased starts and stops: BEZIER with EASE_IN_OUT"),
}  # fmt: skip
GOLD_INTERP = {"mechanical": "LINEAR", "stepped": "CONSTANT", "smoother": "BEZIER"}
FLIP_INTERP = {"mechanical": "BEZIER", "stepped": "BEZIER", "smoother": "LINEAR"}


def _channel(scene: SynthScene, name: str):  # noqa: ANN202
    anim = scene.graph.animation
    return next(c for a in anim.objects if a.object == name for c in a.channels)  # type: ignore[union-attr]


def _range_op(scene: SynthScene, name: str, factor: float) -> tuple[list[dict], str]:
    """Extend the frame range when a retime pushes the last key past it."""
    anim = scene.graph.animation
    assert anim is not None
    pivot = float(anim.frame_start)
    last = 0.0
    for a in anim.objects:
        for c in a.channels:
            k = max(key.frame for key in c.keyframes)
            last = max(last, pivot + (k - pivot) * factor if a.object == name else k)
    if last <= anim.frame_end:
        return [], ""
    length = int(math.ceil(last)) - anim.frame_start + 1
    op = {"op": "set_frame_range", "start": anim.frame_start, "length": length, "fps": anim.fps}
    return (
        [op],
        f"the last key moves to frame {fmt(last)}, so extend the range to {anim.frame_start}-{anim.frame_start + length - 1}",
    )


def _ops(scene: SynthScene, variant: str, name: str, level: str, flip: bool) -> tuple[list[dict], list[str]]:
    anim = scene.graph.animation
    assert anim is not None
    pivot = float(anim.frame_start)
    ch = _channel(scene, name)
    ops: list[dict] = []
    words: list[str] = []

    def retime(f: float) -> None:
        f = round(f, 4)
        ops.append({"op": "retime", "targets": [name], "factor": f, "pivot_frame": pivot})
        words.append(f"retime {name} by {fmt(f)} about frame {fmt(pivot)}")
        extra, text = _range_op(scene, name, f)
        ops.extend(extra)
        if text:
            words.append(text)

    def interp(kind: str, easing: str = "AUTO") -> None:
        ops.append({"op": "set_interpolation", "targets": [name], "interpolation": kind, "easing": easing})
        words.append(f"set {name}'s keys to {kind}" + (f" {easing}" if easing != "AUTO" else ""))

    def amplitude(f: float, path: str, index: int) -> None:
        f = round(f, 4)
        ops.append({"op": "scale_amplitude", "targets": [name], "channel": path, "index": index, "factor": f})
        words.append(f"scale the {path}[{index}] motion of {name} by {fmt(f)} about its first key")

    if variant in ("slower", "faster"):
        f = SLOW[level] if (variant == "slower") != flip else 1 / SLOW[level]
        retime(f)
    elif variant == "snappier":
        retime(SNAP[level] if not flip else 1 / SNAP[level])
        interp("BEZIER", "EASE_OUT" if not flip else "EASE_IN_OUT")
    elif variant == "less_floaty":
        f = SNAP[level] if not flip else 1 / SNAP[level]
        retime(f)
        amplitude(f, ch.path, ch.index)
    elif variant == "amplitude":
        amplitude(AMP[level] if not flip else 1 / AMP[level], ch.path, ch.index)
    else:  # interpolation variants: the level is the interpolation
        kind = FLIP_INTERP[variant] if flip else level
        interp(kind, "EASE_IN_OUT" if kind == "BEZIER" else "AUTO")
    return ops, words


def propose(ctx: Context) -> Task | None:
    scene = ctx.scene
    animated = [n for n in scene.motions if ctx.visible(n)]
    if len(animated) < 2:
        return None
    name = ctx.choice(animated)
    motion = scene.motions[name]
    options = [v for v in VARIANTS if v != "less_floaty" or motion == "bounce"]
    variant = ctx.choice(options)
    verbs, state, complaint, has_degree, meaning = VARIANTS[variant]
    if variant == "amplitude":
        verbs, state, complaint = AMPLITUDE_WORDS[motion]
    if ctx.rng.random() < 0.6:
        subject, protect = ctx.choice(MOTION_PHRASES[motion]), ()
    else:
        ref = refer(ctx, name)
        subject = ctx.choice(["{r}", "the animation of {r}", "the motion of {r}"]).format(r=ref.phrase)
        protect = ref.protect
    level = ctx.choice(LEVELS) if has_degree else GOLD_INTERP[variant]
    ask = Ask(subject, list(verbs), state, list(complaint), level if has_degree else None, protect)
    text, frame, used = phrase(ctx, ask)
    if has_degree and not used:
        level = "medium"
    levels = LEVELS if has_degree else INTERP

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ops, words = _ops(scene, variant, t, lv, flip)
        ch = _channel(scene, t)
        keys = ", ".join(f"{fmt(k.frame)}: {fmt(k.value)}" for k in ch.keyframes)
        target_line = (
            f"'{subject}' -> {t}, the object doing the {scene.motions[t]} ({locate(scene, ctx.shots, t)}: {describe(scene, t)}); "
            f"it animates {ch.path}[{ch.index}] with keys {{{keys}}} ({ch.keyframes[0].interpolation})."
        )
        if has_degree:
            degree = f"'{used}' = {DEGREE_MEANING[lv]}." if used else f"No degree words: {DEGREE_MEANING[lv]}."
            size = DEGREE_MEANING[lv]
        else:
            degree, size = f"No magnitude: the whole curve gets {lv} interpolation.", f"{lv} keys throughout"
        plan = make_plan(
            f"{upper_first(variant.replace('_', ' '))} for {t}: {'; '.join(words)}.",
            [(f"{upper_first(variant.replace('_', ' '))}: {t}", meaning + ".", 0.85, ops)],
        )
        return Decision(
            f"change how {subject} moves ({variant.replace('_', ' ')}), not what it looks like.",
            [meaning + ".", degree],
            [target_line],
            [upper_first("; ".join(words)) + "."],
            f"only {t}'s keys change: {size}, in the direction '{variant.replace('_', ' ')}' asks; its path and the other motion stay.",
            plan,
        )

    distractors = [(n,) for n in animated if n != name]
    return Task(FAMILY, variant, "4d", ask, text, frame, decide, (name,), level, levels, distractors, shots="4d")
