"""animation (4D): timing and feel of keyframed motion, computed from the keys in the scene graph.
Magnitudes per degree class (small / medium / large), or the numbers the instruction gives:

    slower / faster   retime x1.25 / x1.6 / x2.2 (faster: the inverse) about the object's first key
    snappier          retime x0.85 / x0.7 / x0.55, then BEZIER with EASE_OUT
    less_floaty       retime and amplitude x0.85 / x0.7 / x0.55 (a bounce or a jump)
    amplitude         "the jump should go higher": scale_amplitude x1.25 / x1.6 / x2.2
                      (lower: the inverse)
    mechanical, stepped, smoother: set_interpolation LINEAR / CONSTANT / BEZIER + EASE_IN_OUT
    later / earlier   shift_keys +6 / +12 / +24 frames, or "N frames", "half a second" (x fps)
    hold              "hold the last pose for a second": insert_keyframe at last key + 0.5 / 1 / 2 s
                      with the last value
    extend            "the slide should end further": insert_keyframe on the last key, value
                      + 0.2 / 0.5 / 1.0 m along the slide
    drop_bounce       "remove the last bounce": delete_keyframe on its peak and its landing
    trim              "end the timeline when the motion ends": set_frame_range to the last key
    length            "make the animation 4 seconds long": set_frame_range, length = s x fps
    animate           "make the chair slide 1 m to the left over 2 seconds": two insert_keyframe
                      on a static object (start value at the range's start, end value later)
An edit that pushes a key past the frame range also extends the range (set_frame_range).
"""

from __future__ import annotations

import math

from training.synth.families.attributes import camera_axes
from training.synth.families.common import LEVELS, Context, Task, degree_words, first_task, make_plan, phrase, r4
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt, upper_first
from training.synth.referring import MOTION_WORDS, Reference, noun, refer, resolve
from training.synth.scenes import SynthScene

FAMILY = "animation"
SLOW = {"small": 1.25, "medium": 1.6, "large": 2.2}
SNAP = {"small": 0.85, "medium": 0.7, "large": 0.55}
AMP = {"small": 1.25, "medium": 1.6, "large": 2.2}
SHIFT = {"small": 6, "medium": 12, "large": 24}
EXTEND = {"small": 0.2, "medium": 0.5, "large": 1.0}
HOLD = {"half a second": 0.5, "a second": 1.0, "two seconds": 2.0}
SECONDS = ("2", "3", "4", "5", "6", "8")
INTERP = ("LINEAR", "CONSTANT", "BEZIER")
GOLD_INTERP = {"mechanical": "LINEAR", "stepped": "CONSTANT", "smoother": "BEZIER"}
FLIP_INTERP = {"mechanical": "BEZIER", "stepped": "BEZIER", "smoother": "LINEAR"}
NOUNS = {"bounce": "bounce", "bob": "bobbing", "spin": "spin", "slide": "slide", "jump": "jump"}
AMPLITUDE = {  # motion -> verbs, state, complaints; each names the motion: "the ball is too big" is a size edit
    "bounce": (("make {s} bounce {deg} higher", "make {s} go {deg} higher"), "bouncing {deg} higher",
               ("{s} bounces {deg} too low",)),
    "bob": (("make {s} bob {deg} more", "make {s} move {deg} more"), "bobbing {deg} more", ("{s} bobs {deg} too little",)),
    "jump": (("make {s} jump {deg} higher", "{s} should jump {deg} higher"), "jumping {deg} higher",
             ("{s} jumps {deg} too low",)),
    "slide": (("make {s} slide {deg} farther", "make {s} travel {deg} farther"), "sliding {deg} farther",
              ("{s} slides {deg} too short a way",)),
    "spin": (("make {s} turn {deg} more", "give {s} {deg} more rotation"), "turning {deg} more", ("{s} doesn't turn enough",)),
}  # fmt: skip
TIMING = {  # variant -> verbs, state, complaints, meaning
    "slower": (("slow {s} down {adv}", "make {s} {deg} slower", "stretch out {s} {adv}"), "{deg} slower",
               ("{s} is {deg} too fast", "{s} feels {deg} too quick"), "slower = retime above 1, about its first key"),
    "faster": (("speed {s} up {adv}", "make {s} {deg} faster", "make {s} {deg} quicker"), "{deg} faster",
               ("{s} is {deg} too slow", "{s} drags {deg} too long"), "faster = retime below 1, about its first key"),
    "snappier": (("make {s} {deg} snappier", "give {s} {deg} more snap"), "{deg} snappier",
                 ("{s} feels {deg} too sluggish",), "snappier = quicker, then ease out"),
    "less_floaty": (("make {s} {deg} less floaty", "make {s} feel {deg} heavier"), "{deg} less floaty",
                    ("{s} is {deg} too floaty", "{s} hangs in the air {deg} too long"),
                    "floaty = too slow and too high: retime and amplitude below 1"),
    "mechanical": (("make {s} more mechanical", "make {s} feel robotic", "make {s} linear"), "more mechanical",
                   ("{s} feels too organic",), "mechanical = constant speed: LINEAR"),
    "stepped": (("make {s} stepped", "make {s} look like stop motion"), "stepped, like stop motion", (),
                "stepped = hold each key: CONSTANT"),
    "smoother": (("make {s} smoother", "ease {s} in and out", "smooth out {s}"), "smoother",
                 ("{s} looks too abrupt",), "smoother = eased: BEZIER, EASE_IN_OUT"),
}  # fmt: skip


def _channel(scene: SynthScene, name: str):  # noqa: ANN202
    anim = scene.graph.animation
    return next(c for a in anim.objects if a.object == name for c in a.channels)  # type: ignore[union-attr]


def _keys_text(scene: SynthScene, name: str) -> str:
    ch = _channel(scene, name)
    keys = ", ".join(f"{fmt(k.frame)}: {fmt(k.value)}" for k in ch.keyframes)
    return f"{ch.path}[{ch.index}] keys {{{keys}}}"


def _range_op(scene: SynthScene, last: float) -> tuple[list[dict], str]:
    """Extend the frame range when a key moves past its end."""
    anim = scene.graph.animation
    if last <= anim.frame_end:  # type: ignore[union-attr]
        return [], ""
    length = int(math.ceil(last)) - anim.frame_start + 1  # type: ignore[union-attr]
    op = {"op": "set_frame_range", "start": anim.frame_start, "length": length, "fps": anim.fps}  # type: ignore[union-attr]
    return [op], f"range to {anim.frame_start}-{anim.frame_start + length - 1}"  # type: ignore[union-attr]


def _last_key(scene: SynthScene, name: str | None = None, moved: dict[str, list[float]] | None = None) -> float:
    """The last key of the scene, with some objects' keys replaced by `moved` frames."""
    last = 0.0
    for a in scene.graph.animation.objects:  # type: ignore[union-attr]
        frames = (moved or {}).get(a.object) or [k.frame for c in a.channels for k in c.keyframes]
        last = max(last, max(frames))
    return last


def _timing_ops(scene: SynthScene, variant: str, name: str, level: str, flip: bool) -> tuple[list[dict], list[str]]:
    ch = _channel(scene, name)
    pivot = ch.keyframes[0].frame
    ops: list[dict] = []
    words: list[str] = []

    def retime(f: float) -> None:
        f = r4(f)
        ops.append({"op": "retime", "targets": [name], "factor": f, "pivot_frame": pivot})
        words.append(f"retime {name} x{fmt(f)} about frame {fmt(pivot)}")
        frames = [pivot + (k.frame - pivot) * f for k in ch.keyframes]
        extra, text = _range_op(scene, _last_key(scene, moved={name: frames}))
        ops.extend(extra)
        words.extend([text] if text else [])

    def interp(kind: str, easing: str = "AUTO") -> None:
        ops.append({"op": "set_interpolation", "targets": [name], "interpolation": kind, "easing": easing})
        words.append(f"{name} keys {kind}" + (f" {easing}" if easing != "AUTO" else ""))

    def amplitude(f: float) -> None:
        f = r4(f)
        ops.append({"op": "scale_amplitude", "targets": [name], "channel": ch.path, "index": ch.index, "factor": f})
        words.append(f"{ch.path}[{ch.index}] amplitude x{fmt(f)}")

    if variant in ("slower", "faster"):
        retime(SLOW[level] if (variant == "slower") != flip else 1 / SLOW[level])
    elif variant == "snappier":
        retime(SNAP[level] if not flip else 1 / SNAP[level])
        interp("BEZIER", "EASE_OUT" if not flip else "EASE_IN_OUT")
    elif variant == "less_floaty":
        f = SNAP[level] if not flip else 1 / SNAP[level]
        retime(f)
        amplitude(f)
    elif variant in ("amplitude", "amplitude_down"):
        up = (variant == "amplitude") != flip
        amplitude(AMP[level] if up else 1 / AMP[level])
    else:  # interpolation variants: the level is the interpolation
        kind = FLIP_INTERP[variant] if flip else level
        interp(kind, "EASE_IN_OUT" if kind == "BEZIER" else "AUTO")
    return ops, words


def _subject(ctx: Context, name: str, intent: str, animated: list[str]) -> Reference | None:
    """ "the bounce" / "the jump of the dog" when its motion is unique, else a reference to it."""
    scene = ctx.scene
    motion = scene.motions[name]
    if (
        ctx.rng.random() < 0.55
        and sum(scene.motions[n] == motion for n in animated) == 1
        and ctx.held_out != "composition"
    ):
        w = noun(scene.get(name))
        options = [f"the {NOUNS[motion]}", f"the {MOTION_WORDS[motion]} {w}", f"the {w}'s {NOUNS[motion]}"]
        return Reference(ctx.choice(options), "motion")
    ref = refer(ctx, name, intent)
    if ref is None:
        return None
    text = ctx.choice(["{r}", "the animation of {r}", "the motion of {r}"]).format(r=ref.phrase)
    return Reference(text, ref.how, ref.protect)


def propose(ctx: Context) -> Task | None:
    scene = ctx.scene
    if scene.graph.animation is None or not scene.motions:
        return None
    animated = [n for n in scene.motions if ctx.visible(n)]
    kinds = {"timing": 8.0, "shift": 3.0, "hold": 1.5, "extend": 1.0, "drop_bounce": 2.5, "drop_key": 1.5, "trim": 1.0,
             "length": 1.0, "animate": 2.0}  # fmt: skip
    builders = {"timing": lambda c, a, k: _timing_task(c, a), "shift": _shift_task, "hold": _hold_task, "extend": _extend_task,
                "drop_bounce": _drop_task, "drop_key": _drop_key_task, "trim": _range_task, "length": _range_task, "animate": _animate_task}  # fmt: skip
    return first_task(ctx, kinds, lambda k: builders[k](ctx, animated, k))


def _resolve_line(ctx: Context, ref: Reference, t: str) -> str:
    scene = ctx.scene
    if ref.how == "motion":
        return f"'{ref.phrase}' -> {t} (mark {scene.get(t).mark}, {scene.motions.get(t, 'static')}): {_keys_text(scene, t)}."
    return resolve(ctx, ref, t)[:-1] + f": {_keys_text(scene, t)}."


def _smaller(text: str) -> str:
    """An amplitude phrasing turned down: "bounce higher" -> "bounce lower", "bob more" -> "bob less"."""
    return text.replace("higher", "lower").replace("more", "less").replace("farther", "shorter")


def _timing_task(ctx: Context, animated: list[str]) -> Task | None:
    scene = ctx.scene
    if len(animated) < 2:
        return None
    name = ctx.choice(animated)
    motion = scene.motions[name]
    variant = ctx.choice(
        [v for v in (*TIMING, "amplitude", "amplitude_down") if v != "less_floaty" or motion in ("bounce", "jump")]
    )
    intent = {"mechanical": "set_interpolation", "stepped": "set_interpolation", "smoother": "set_interpolation",
              "amplitude": "scale_amplitude", "amplitude_down": "scale_amplitude"}.get(variant, "retime")  # fmt: skip
    ref = _subject(ctx, name, intent, animated)
    if ref is None:
        return None
    if variant.startswith("amplitude"):
        verbs, state, complaint = AMPLITUDE[motion]
        if variant == "amplitude_down":
            verbs = tuple(_smaller(v) for v in verbs)
            state = _smaller(state)
            complaint = ("{s} moves {deg} too much",)
        meaning = (
            "a bigger motion = amplitude above 1" if variant == "amplitude" else "a smaller motion = amplitude below 1"
        )
        has_degree = True
    else:
        verbs, state, complaint, meaning = TIMING[variant]
        has_degree = variant not in GOLD_INTERP
    level = ctx.choice(LEVELS) if has_degree else GOLD_INTERP[variant]
    ask = Ask(ref.phrase, list(verbs), state, list(complaint), level if has_degree else None, ref.protect)
    text, frame, used = phrase(ctx, ask)
    if has_degree and not used:
        level = "medium"
    label = variant.replace("_", " ")

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ops, words = _timing_ops(scene, variant, t, lv, flip)
        degree = degree_words(used, lv) if has_degree else f"no amount: all keys {lv}"
        plan = make_plan(
            upper_first("; ".join(words)) + ".", [(f"{upper_first(label)}: {t}", meaning + ".", 0.85, ops)]
        )
        return Decision(f"change how {ref.phrase} moves ({label}), not how it looks; {meaning}.",
                        [_resolve_line(ctx, ref, t)], [upper_first("; ".join(words)) + ".", upper_first(degree) + "."],
                        f"only {t}'s keys change, {label}.", plan)  # fmt: skip

    levels = LEVELS if has_degree else INTERP
    distractors = [(n,) for n in animated if n != name]
    return Task(
        FAMILY, variant, "4d", ask, text, frame, decide, (name,), level, levels, distractors, shots="4d", how=ref.how
    )


def _shift_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    scene = ctx.scene
    anim = scene.graph.animation
    if len(animated) < 2:
        return None
    name = ctx.choice(animated)
    first = _channel(scene, name).keyframes[0].frame
    later = first <= anim.frame_start + 6 or ctx.rng.random() < 0.6  # type: ignore[union-attr]
    ref = _subject(ctx, name, "shift_keys", animated)
    if ref is None:
        return None
    word = "later" if later else "earlier"
    numeric = ctx.rng.random() < 0.45
    fps = anim.fps  # type: ignore[union-attr]
    if numeric:  # in order of size, whatever the fps
        amounts = {
            "6": "6 frames",
            "10": "10 frames",
            "half": "half a second",
            "second": "a second",
            "two": "2 seconds",
        }
        level = ctx.choice(list(amounts))
        frames = {"6": 6.0, "10": 10.0, "half": fps / 2, "second": fps, "two": 2 * fps}
        if not later:
            level = ctx.choice([k for k in amounts if frames[k] <= first - anim.frame_start] or ["none"])  # type: ignore[union-attr]
            if level == "none":
                return None
        amount = amounts[level]
        verbs = [f"start {{s}} {amount} {word}", f"make {{s}} start {amount} {word}", f"shift {{s}} {amount} {word}"]
        if later:
            verbs.append(f"delay {{s}} by {amount}")
        ask = Ask(ref.phrase, verbs, f"starting {amount} {word}", [], None, ref.protect)
        levels = tuple(amounts)
    else:
        frames = {k: float(v) for k, v in SHIFT.items()}
        level = ctx.choice([lv for lv in LEVELS if later or frames[lv] <= first - anim.frame_start] or ["none"])  # type: ignore[union-attr]
        if level == "none":
            return None
        ask = Ask(ref.phrase, [f"start {{s}} {{adv}} {word}", f"make {{s}} start {{deg}} {word}", f"move {{s}} {{adv}} {word}"],
                  f"starting {{deg}} {word}", [f"{{s}} starts {{deg}} too {'early' if later else 'late'}"], level, ref.protect)  # fmt: skip
        levels = LEVELS
    text, frame, used = phrase(ctx, ask)
    if not numeric and not used:
        level = "medium"
    sign = 1 if later else -1

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        n = r4(frames.get(lv, 12.0) * sign * (-1 if flip else 1))
        ch = _channel(scene, t)
        ops = [{"op": "shift_keys", "targets": [t], "frames": n}]
        words = [f"shift {t}'s keys {fmt(n)} frames ({fmt(ch.keyframes[0].frame)} -> {fmt(ch.keyframes[0].frame + n)})"]
        extra, text_ = _range_op(scene, _last_key(scene, moved={t: [k.frame + n for k in ch.keyframes]}))
        ops += extra
        words += [text_] if text_ else []
        amount = f"'{ask.state}' = {fmt(abs(n))} frames at {fmt(fps)} fps" if numeric else degree_words(used, lv)
        plan = make_plan(
            upper_first("; ".join(words)) + ".", [(f"Start {t} {word}", "Same motion, moved in time.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} should start {word}: shift its keys, same motion.", [_resolve_line(ctx, ref, t)],
                        [upper_first("; ".join(words)) + ".", upper_first(amount) + "."],
                        f"{t} starts {word}; its motion and the others stay.", plan)  # fmt: skip

    distractors = [(n,) for n in animated if n != name]
    return Task(FAMILY, f"start_{word}", "4d", ask, text, frame, decide, (name,), level, levels, distractors, shots="4d",
                how=ref.how)  # fmt: skip


def _hold_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    scene = ctx.scene
    fps = scene.graph.animation.fps  # type: ignore[union-attr]
    if len(animated) < 2:
        return None
    name = ctx.choice(animated)
    ref = _subject(ctx, name, "insert_keyframe", animated)
    if ref is None:
        return None
    level = ctx.choice(list(HOLD))
    ask = Ask(ref.phrase, [f"hold the last pose of {{s}} for {level}", f"make {{s}} hold its last pose for {level}",
                           f"let {{s}} rest at the end for {level}"], f"holding its last pose for {level}",
              [f"{{s}} ends too abruptly, give it {level} of hold"], None, ref.protect)  # fmt: skip
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ch = _channel(scene, t)
        last = ch.keyframes[0 if flip else -1]  # flipped: holds the first pose, before the motion
        hold = r4(fps * HOLD[lv])
        at = r4(last.frame - hold if flip else last.frame + hold)
        ops = [
            {
                "op": "insert_keyframe",
                "target": t,
                "channel": ch.path,
                "index": ch.index,
                "frame": at,
                "value": last.value,
            }
        ]
        words = [
            f"key {ch.path}[{ch.index}] of {t} at frame {fmt(at)} = {fmt(last.value)} (the {'first' if flip else 'last'} key's value)"
        ]
        extra, text_ = _range_op(scene, max(at, _last_key(scene)))
        ops += extra
        words += [text_] if text_ else []
        plan = make_plan(
            upper_first("; ".join(words)) + ".", [(f"Hold {t}'s last pose", f"{lv} = {fmt(hold)} frames.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} should hold its final pose {lv}: a key with the same value later.",
                        [_resolve_line(ctx, ref, t)], [upper_first("; ".join(words)) + f"; {lv} at {fmt(fps)} fps = {fmt(hold)} frames."],
                        f"{t} stays still for {lv} after its last key.", plan)  # fmt: skip

    distractors = [(n,) for n in animated if n != name]
    return Task(
        FAMILY,
        "hold",
        "4d",
        ask,
        text,
        frame,
        decide,
        (name,),
        level,
        tuple(HOLD),
        distractors,
        shots="4d",
        how=ref.how,
    )


def _extend_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    scene = ctx.scene
    slides = [n for n in animated if scene.motions[n] == "slide"]
    if not slides or len(animated) < 2:
        return None
    name = ctx.choice(slides)
    ref = _subject(ctx, name, "insert_keyframe", animated)
    if ref is None:
        return None
    level = ctx.choice(LEVELS)
    ask = Ask(ref.phrase, ["make {s} end {deg} further", "make {s} go {deg} further at the end", "extend {s} {adv}"],
              "ending {deg} further", ["{s} stops {deg} too early"], level, ref.protect)  # fmt: skip
    text, frame, used = phrase(ctx, ask)
    if not used:
        level = "medium"

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ch = _channel(scene, t)
        first, last = ch.keyframes[0], ch.keyframes[-1]
        direction = 1.0 if last.value >= first.value else -1.0
        if ch.path != "location":  # a wrong target that spins: more turn instead
            direction = direction * 0.0 + (1.0 if last.value >= first.value else -1.0)
        d = EXTEND[lv] * direction * (-1 if flip else 1)
        value = r4(last.value + d)
        ops = [
            {
                "op": "insert_keyframe",
                "target": t,
                "channel": ch.path,
                "index": ch.index,
                "frame": last.frame,
                "value": value,
            }
        ]
        words = f"set {t}'s last key (frame {fmt(last.frame)}) {ch.path}[{ch.index}] {fmt(last.value)} -> {fmt(value)}"
        plan = make_plan(
            upper_first(words) + ".", [(f"End {t} further", "The last key moves along the path.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} should end further along its path: change its last key.", [_resolve_line(ctx, ref, t)],
                        [upper_first(words) + ".", upper_first(degree_words(used, lv)) + "."],
                        f"{t} travels further; its timing stays.", plan)  # fmt: skip

    distractors = [(n,) for n in animated if n != name]
    return Task(
        FAMILY, "extend", "4d", ask, text, frame, decide, (name,), level, LEVELS, distractors, shots="4d", how=ref.how
    )


def _drop_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    scene = ctx.scene
    bouncers = [n for n in animated if scene.motions[n] == "bounce" and len(_channel(scene, n).keyframes) >= 5]
    if not bouncers or len(animated) < 2:
        return None
    name = ctx.choice(bouncers)
    ref = _subject(ctx, name, "delete_keyframe", animated)
    if ref is None:
        return None
    ask = Ask(ref.phrase, ["remove the last bounce of {s}", "cut the last bounce from {s}", "drop the final bounce of {s}"],
              "one bounce shorter", ["{s} bounces one time too many"], None, ref.protect)  # fmt: skip
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ch = _channel(scene, t)
        keys = ch.keyframes[-2:] if not flip else ch.keyframes[1:3]
        keys = keys if lv == "both" else keys[:1]
        ops = [
            {"op": "delete_keyframe", "target": t, "channel": ch.path, "index": ch.index, "frame": k.frame}
            for k in keys
        ]
        which = "its last peak and landing" if not flip else "its first bounce"
        words = f"delete {t}'s keys at frames {', '.join(fmt(k.frame) for k in keys)} ({which})"
        plan = make_plan(
            upper_first(words) + ".", [(f"Remove {t}'s last bounce", "Delete its last peak and landing.", 0.85, ops)]
        )
        return Decision(f"one bounce fewer at the end of {ref.phrase}: delete the last bounce's keys.",
                        [_resolve_line(ctx, ref, t)], [upper_first(words) + "."],
                        f"{t} settles one bounce earlier; the earlier bounces stay.", plan)  # fmt: skip

    distractors = [(n,) for n in animated if n != name]
    return Task(FAMILY, "drop_bounce", "4d", ask, text, frame, decide, (name,), "both", ("both", "one"), distractors,
                shots="4d", how=ref.how)  # fmt: skip


def _drop_key_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    """A slide that stops halfway (a middle key): "make the slide one smooth move" deletes it."""
    scene = ctx.scene
    slides = [n for n in animated if scene.motions[n] == "slide" and len(_channel(scene, n).keyframes) == 3]
    if not slides or len(animated) < 2:
        return None
    name = ctx.choice(slides)
    ref = _subject(ctx, name, "delete_keyframe", animated)
    if ref is None:
        return None
    ask = Ask(ref.phrase, ["make {s} one smooth move", "remove the stop in the middle of {s}", "delete the middle key of {s}",
                           "get rid of the hitch halfway through {s}"], "one smooth move", ["{s} hesitates halfway"], None, ref.protect)  # fmt: skip
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ch = _channel(scene, t)
        key = ch.keyframes[len(ch.keyframes) // 2] if not flip else ch.keyframes[-1]
        ops = [{"op": "delete_keyframe", "target": t, "channel": ch.path, "index": ch.index, "frame": key.frame}]
        if lv == "extra":
            ops.append({"op": "set_interpolation", "targets": [t], "interpolation": "LINEAR", "easing": "AUTO"})
        words = f"delete {t}'s key at frame {fmt(key.frame)} ({'the middle one' if not flip else 'the last one'})"
        plan = make_plan(
            upper_first(words) + ".", [(f"Smooth {t}'s move", "One move from the first key to the last.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} in one move: its middle key goes.", [_resolve_line(ctx, ref, t)], [upper_first(words) + "."],
                        f"{t} moves from its first key to its last without stopping.", plan)  # fmt: skip

    distractors = [(n,) for n in animated if n != name]
    return Task(FAMILY, "drop_key", "4d", ask, text, frame, decide, (name,), "exact", ("exact", "extra"), distractors,
                shots="4d", how=ref.how)  # fmt: skip


def _range_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    """trim / length: the timeline, not an object; the wrong target retimes an object instead."""
    scene = ctx.scene
    anim = scene.graph.animation
    if ctx.held_out == "composition" or not animated:
        return None
    last = int(math.ceil(_last_key(scene)))
    fps = anim.fps  # type: ignore[union-attr]
    subject = ctx.choice(["the animation", "the timeline", "the shot", "the frame range"])
    if kind == "trim":
        if anim.frame_end <= last + 6:  # type: ignore[union-attr]
            return None
        ask = Ask(subject, ["trim {s} to where the motion ends", "end {s} when the animation stops", "cut the dead frames at the end of {s}"],
                  "ending with the last key", ["{s} runs on long after everything stops"])  # fmt: skip
        level, levels = "exact", ("exact", "slack")
    else:
        level = ctx.choice(list(SECONDS))
        ask = Ask(subject, [f"make {{s}} {level} seconds long", f"set {{s}} to {level} seconds", f"I need {{s}} at {level} seconds"],
                  f"{level} seconds long")  # fmt: skip
        levels = SECONDS
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        if targets:  # the wrong reading: retime an object's motion instead of the range
            t = targets[0]
            ops = [
                {"op": "retime", "targets": [t], "factor": 0.8, "pivot_frame": _channel(scene, t).keyframes[0].frame}
            ]
            words = f"retime {t} x0.8"
        else:
            if kind == "trim":
                length = last - anim.frame_start + 1 + (24 if lv == "slack" else 0)  # type: ignore[union-attr]
                if flip:
                    length = anim.frame_end - anim.frame_start + 1 + 24  # type: ignore[union-attr]
            else:
                length = int(round(float(lv) * fps)) * (2 if flip else 1)
            ops = [{"op": "set_frame_range", "start": anim.frame_start, "length": length, "fps": fps}]  # type: ignore[union-attr]
            words = f"frames {anim.frame_start}-{anim.frame_start + length - 1} at {fmt(fps)} fps ({length} frames)"  # type: ignore[union-attr]
        plan = make_plan(
            upper_first(words) + ".",
            [("Set the frame range" if not targets else "Retime", "The timeline, not the motion.", 0.85, ops)],
        )
        why = (f"the last key is at frame {last}; the range is {anim.frame_start}-{anim.frame_end}" if kind == "trim"  # type: ignore[union-attr]
               else f"{lv} s x {fmt(fps)} fps")  # fmt: skip
        return Decision(f"{subject}: the scene's frame range, not any object's keys.", [why + "."], [upper_first(words) + "."],
                        "only the range changes; every key stays.", plan)  # fmt: skip

    distractors = [(n,) for n in animated]
    return Task(FAMILY, kind, "4d", ask, text, frame, decide, (), level, levels, distractors, shots="4d")


def _animate_task(ctx: Context, animated: list[str], kind: str) -> Task | None:
    """Keyframe a static object: "make the chair slide 1 m to the left over 2 seconds"."""
    scene = ctx.scene
    anim = scene.graph.animation
    fps = anim.fps  # type: ignore[union-attr]
    static = [
        n
        for n in ctx.visible_names()
        if n not in scene.motions and scene.get(n).parent is None and scene.get(n).kind not in ("rug",)
    ]
    if len(static) < 2:
        return None
    name = ctx.choice(static)
    ref = refer(ctx, name, "insert_keyframe")
    if ref is None:
        return None
    way = ctx.choice(["left", "right", "closer", "back"])
    vec = camera_axes(scene)[way]
    axis = int(abs(vec[1]) > abs(vec[0]))
    sign = 1.0 if vec[axis] > 0 else -1.0
    dist, secs = ctx.choice(["0.5", "1", "2"]), ctx.choice(["1", "2", "3"])
    level = f"{dist}m/{secs}s"
    where = {
        "left": "to the left",
        "right": "to the right",
        "closer": "toward the camera",
        "back": "away from the camera",
    }[way]
    ask = Ask(ref.phrase, [f"make {{s}} slide {dist} m {where} over {secs} seconds", f"animate {{s}} moving {dist} m {where} in {secs} seconds",
                           f"keyframe {{s}} sliding {dist} m {where} over {secs} s"], f"sliding {dist} m {where} over {secs} seconds",
              [], None, ref.protect)  # fmt: skip
    text, frame, _ = phrase(ctx, ask)
    levels = tuple(f"{d}m/{s}s" for d in ("0.5", "1", "2") for s in ("1", "2", "3"))

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        d, s = (float(x) for x in lv.replace("m", "").replace("s", "").split("/"))
        start = float(scene.graph.get_object(t).location[axis])
        end = r4(start + d * sign * (-1 if flip else 1))
        f0 = float(anim.frame_start)  # type: ignore[union-attr]
        f1 = r4(f0 + s * fps)
        ops = [{"op": "insert_keyframe", "target": t, "channel": "location", "index": axis, "frame": f0, "value": r4(start)},
               {"op": "insert_keyframe", "target": t, "channel": "location", "index": axis, "frame": f1, "value": end}]  # fmt: skip
        words = [
            f"'{where}' seen from {scene.main_camera} ~ {'+-'[sign < 0]}{'XY'[axis]}",
            f"key location[{axis}] of {t}: frame {fmt(f0)} = {fmt(start)}, frame {fmt(f1)} = {fmt(end)}",
        ]
        extra, text_ = _range_op(scene, max(f1, _last_key(scene)))
        ops += extra
        words += [text_] if text_ else []
        plan = make_plan(
            upper_first(words[1]) + ".", [(f"Animate {t} sliding", f"{fmt(d)} m over {fmt(s)} s.", 0.85, ops)]
        )
        return Decision(f"{ref.phrase} should slide {dist} m {where} in {secs} s: two location keys.",
                        [resolve(ctx, ref, t)], [upper_first("; ".join(words)) + "."],
                        f"{t} moves {fmt(d)} m in {fmt(s * fps)} frames; nothing else moves.", plan)  # fmt: skip

    distractors = [(n,) for n in static if n != name]
    return Task(
        FAMILY, "animate", "4d", ask, text, frame, decide, (name,), level, levels, distractors, shots="4d", how=ref.how
    )
