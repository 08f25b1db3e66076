"""Predicates on Blender state: does the scene after the edit do what the instruction asked?

Each builder returns a `Check`: a sentence saying what passes (`text`) and a function of the
snapshots before and after the edit (`state.SceneState`) that returns an `Outcome`: pass or not,
and what was measured ("Lamp_Light energy 60 -> 6 W (0.1x)"). Checks judge outcomes, not op
names, so different valid edits pass alike: "make the ball bigger" is any uniform scale-up in the
range, whichever op made it; "slow the car down" is a longer drive in seconds, by retiming its
keys or by lowering the frame rate. `all_of` and `any_of` combine them; guards such as
`unchanged("Chair.001")` fail an edit that also hit a distractor.

Pure Python (no bpy): tested on hand-made states in the main suite, used in Blender by `run.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from training.eval.blender.state import (
    Object,
    SceneState,
    angle,
    distance,
    fmt,
    is_colour,
    warmth,
)

Range = tuple[float | None, float | None]
SMOOTH_INTERPOLATIONS = frozenset({"BEZIER", "SINE", "QUAD", "CUBIC", "QUART", "QUINT", "EXPO", "CIRC"})


class Missing(Exception):
    """An object a check needs is not in a snapshot: the check fails, saying so."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # what was measured


@dataclass(frozen=True)
class Check:
    text: str  # what passes, in words
    fn: Callable[[SceneState, SceneState], Outcome]

    def __call__(self, before: SceneState, after: SceneState) -> Outcome:
        try:
            return self.fn(before, after)
        except Missing as e:
            return Outcome(False, str(e))


def all_of(*checks: Check) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        outcomes = [c(before, after) for c in checks]
        return Outcome(all(o.ok for o in outcomes), "; ".join(o.detail for o in outcomes))

    return Check(" and ".join(c.text for c in checks), fn)


def any_of(*checks: Check) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        outcomes = [c(before, after) for c in checks]
        return Outcome(any(o.ok for o in outcomes), " | ".join(o.detail for o in outcomes))

    return Check("either " + " or ".join(f"({c.text})" for c in checks), fn)


# ---------------------------------------------------------------- helpers
def _get(state: SceneState, name: str, when: str) -> Object:
    obj = state.objects.get(name)
    if obj is None:
        raise Missing(f"{name} is not in the scene {when}")
    return obj


def _both(before: SceneState, after: SceneState, name: str) -> tuple[Object, Object]:
    return _get(before, name, "before"), _get(after, name, "after")


def _inside(value: float, bounds: Range) -> bool:
    lo, hi = bounds
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _says(bounds: Range, unit: str = "") -> str:
    lo, hi = bounds
    if lo is not None and hi is not None:
        return f"in [{lo:g}, {hi:g}]{unit}"
    return f">= {lo:g}{unit}" if lo is not None else f"<= {hi:g}{unit}"


def _ratio(after: float, before: float) -> float:
    if before == 0:
        return math.inf if after > 0 else 1.0
    return after / before


def _ratio_check(text: str, bounds: Range, measure: Callable[[SceneState], float], what: str, unit: str = "") -> Check:
    """after / before of `measure` within `bounds`."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = measure(before), measure(after)
        r = _ratio(a, b)
        return Outcome(_inside(r, bounds), f"{what} {fmt(b)} -> {fmt(a)}{unit} ({fmt(r)}x)")

    return Check(f"{text} {_says(bounds, 'x')} what it was", fn)


# ---------------------------------------------------------------- existence and visibility
def gone(name: str) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        return Outcome(name not in after.objects, f"{name} {'gone' if name not in after.objects else 'still there'}")

    return Check(f"{name} no longer exists", fn)


def hidden(name: str) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        obj = _get(after, name, "after")
        return Outcome(not obj.rendered, f"{name} {'hidden' if not obj.rendered else 'still rendered'}")

    return Check(f"{name} still exists but no longer renders", fn)


def unchanged(*names: str) -> Check:
    """Guards: these objects (a distractor, the other chair) are as they were."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        changed = [n for n in names if _difference(before, after, n)]
        detail = "; ".join(f"{n}: {_difference(before, after, n)}" for n in changed)
        return Outcome(not changed, detail or f"{', '.join(names)} unchanged")

    return Check(f"{', '.join(names)} unchanged", fn)


def _difference(before: SceneState, after: SceneState, name: str) -> str:
    b, a = _get(before, name, "before"), after.objects.get(name)
    if a is None:
        return "gone"
    close = lambda x, y: all(abs(p - q) <= 1e-4 for p, q in zip(x, y, strict=True))  # noqa: E731
    if not close(a.matrix, b.matrix) or not close(a.lo, b.lo) or not close(a.hi, b.hi):
        return "moved or resized"
    if a.rendered != b.rendered:
        return "visibility changed"
    if [after.materials.get(m) for m in a.materials if m] != [before.materials.get(m) for m in b.materials if m]:
        return "material changed"
    if (a.light, a.lens, a.keys, a.modifiers) != (b.light, b.lens, b.keys, b.modifiers):
        return "light, camera, animation or modifiers changed"
    return ""


# ---------------------------------------------------------------- lights
def _light(state: SceneState, name: str, when: str) -> Object:
    obj = _get(state, name, when)
    if obj.light is None:
        raise Missing(f"{name} is not a light {when}")
    return obj


def energy_ratio(name: str, lo: float | None, hi: float | None) -> Check:
    return _ratio_check(
        f"{name}'s energy", (lo, hi), lambda s: _light(s, name, "").light.energy, f"{name} energy", " W"
    )


def light_colour(name: str, colour: str) -> Check:
    """`colour`: a name in state.COLOURS, or "warmer" / "cooler" (red minus blue up / down by 0.1)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _light(before, name, "before").light.color, _light(after, name, "after").light.color
        return Outcome(_colour_ok(b, a, colour), f"{name} light colour {fmt(b)} -> {fmt(a)}")

    return Check(f"{name}'s light is {colour}", fn)


def _colour_ok(before: tuple, after: tuple, colour: str) -> bool:
    if colour == "warmer":
        return warmth(after) >= warmth(before) + 0.1
    if colour == "cooler":
        return warmth(after) <= warmth(before) - 0.1
    return is_colour(after, colour)


def light_type(name: str, kind: str) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        a = _light(after, name, "after").light.type
        return Outcome(a == kind, f"{name} type {_light(before, name, 'before').light.type} -> {a}")

    return Check(f"{name} is a {kind} light", fn)


def new_light(near: str | None = None, within: float = 5.0) -> Check:
    """A light that was not there before, giving light, (optionally) within `within` m of `near`'s centre."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        new = [o for n, o in after.objects.items() if n not in before.objects and o.light and o.light.energy > 0]
        if near is not None:
            centre = _get(after, near, "after").center
            new = [o for o in new if distance(o.location, centre) <= within]
        return Outcome(bool(new), f"new lights{' near ' + near if near else ''}: {[o.name for o in new]}")

    return Check(f"a new light{f' within {within:g} m of {near}' if near else ''}", fn)


# ---------------------------------------------------------------- materials and emission
def _material(state: SceneState, name: str, when: str, slot: int = 0):  # noqa: ANN202
    _get(state, name, when)
    material = state.material_of(name, slot)
    if material is None:
        raise Missing(f"{name} has no material in slot {slot} {when}")
    return material


def colour(name: str, colour: str) -> Check:
    """The base colour of `name`'s material (slot 0) is `colour` (state.COLOURS), or warmer / cooler."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _material(before, name, "before").base_color, _material(after, name, "after").base_color
        return Outcome(_colour_ok(b, a, colour), f"{name} base colour {fmt(b)} -> {fmt(a)}")

    return Check(f"{name} is {colour}", fn)


def surface(name: str, **bounds: Range) -> Check:
    """Material values of `name` (slot 0) within absolute bounds: metallic=(0.7, None), alpha=(None, 0.5)..."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _material(before, name, "before"), _material(after, name, "after")
        ok = all(_inside(getattr(a, k), v) for k, v in bounds.items())
        return Outcome(ok, ", ".join(f"{name} {k} {fmt(getattr(b, k))} -> {fmt(getattr(a, k))}" for k in bounds))

    return Check(" and ".join(f"{name}'s {k} {_says(v)}" for k, v in bounds.items()), fn)


def glow(name: str, power: Range = (None, None), ratio: Range = (None, None), colour: str | None = None) -> Check:
    """Emission of `name`'s material: power (strength x brightest channel) absolute and/or vs before, its hue."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _material(before, name, "before"), _material(after, name, "after")
        ok = _inside(a.glow, power) and _inside(_ratio(a.glow, b.glow), ratio)
        ok = ok and (colour is None or is_colour(a.emission_color, colour))
        return Outcome(ok, f"{name} glow {fmt(b.glow)} -> {fmt(a.glow)}, emission colour {fmt(a.emission_color)}")

    parts = [f"{name}'s glow"]
    parts += [_says(power)] if power != (None, None) else []
    parts += [f"{_says(ratio, 'x')} what it was"] if ratio != (None, None) else []
    parts += [f"in {colour}"] if colour else []
    return Check(" ".join(parts), fn)


# ---------------------------------------------------------------- cameras
def _camera(state: SceneState, name: str, when: str) -> Object:
    obj = _get(state, name, when)
    if obj.lens is None:
        raise Missing(f"{name} is not a camera {when}")
    return obj


def aims_at(camera: str, target: str, within: float = 10.0) -> Check:
    """The camera's view direction within `within` degrees of the direction to the target's centre."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        cam, obj = _camera(after, camera, "after"), _get(after, target, "after")
        to = tuple(c - p for c, p in zip(obj.center, cam.location, strict=True))
        off = angle(cam.forward, to)
        b = _camera(before, camera, "before")
        was = angle(b.forward, tuple(c - p for c, p in zip(obj.center, b.location, strict=True)))
        return Outcome(off <= within, f"{camera} is {was:.1f} -> {off:.1f} degrees off {target}")

    return Check(f"{camera} looks within {within:g} degrees of {target}", fn)


def lens_ratio(camera: str, lo: float | None, hi: float | None) -> Check:
    return _ratio_check(f"{camera}'s focal length", (lo, hi), lambda s: _camera(s, camera, "").lens, camera, " mm")


def lens_mm(camera: str, lo: float, hi: float) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _camera(before, camera, "before").lens, _camera(after, camera, "after").lens
        return Outcome(lo <= a <= hi, f"{camera} {fmt(b)} -> {fmt(a)} mm")

    return Check(f"{camera}'s focal length in [{lo:g}, {hi:g}] mm", fn)


def distance_ratio(name: str, target: str, lo: float | None, hi: float | None) -> Check:
    """How far `name` (its origin) is from `target`'s centre, against before."""

    def measure(state: SceneState) -> float:
        return distance(_get(state, name, "").location, _get(state, target, "").center)

    return _ratio_check(f"{name}'s distance to {target}", (lo, hi), measure, f"{name} to {target}", " m")


# ---------------------------------------------------------------- modifiers and shading
def modifier(name: str, kind: str, **bounds: Range) -> Check:
    """`name` has a modifier of type `kind` whose settings are within bounds: width=(0.03, None), ..."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        mods = [m for m in _get(after, name, "after").modifiers if m.type == kind]
        ok = any(all(k in m.settings and _inside(m.settings[k], v) for k, v in bounds.items()) for m in mods)
        was = [m for m in _get(before, name, "before").modifiers if m.type == kind]
        return Outcome(ok, f"{name} {kind} modifiers {_settings(was)} -> {_settings(mods)}")

    said = " with " + ", ".join(f"{k} {_says(v)}" for k, v in bounds.items()) if bounds else ""
    return Check(f"{name} has {'an' if kind[0] in 'AEIOU' else 'a'} {kind} modifier{said}", fn)


def _settings(modifiers: list) -> str:
    return "[" + "; ".join(", ".join(f"{k} {fmt(v)}" for k, v in m.settings.items()) for m in modifiers) + "]"


def no_modifier(name: str, kind: str) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        left = [m.name for m in _get(after, name, "after").modifiers if m.type == kind]
        return Outcome(not left, f"{name} {kind} modifiers left: {left}")

    return Check(f"{name} has no {kind} modifier", fn)


def smooth_shaded(name: str) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        return Outcome(a.smooth >= 0.9, f"{name} smooth faces {b.smooth:.0%} -> {a.smooth:.0%}")

    return Check(f"{name} is shaded smooth", fn)


# ---------------------------------------------------------------- animation
def _duration(state: SceneState, name: str) -> float:
    span = _get(state, name, "").key_range()
    if span is None:
        raise Missing(f"{name} has no keys")
    return (span[1] - span[0]) / state.fps


def duration_ratio(name: str, lo: float | None, hi: float | None) -> Check:
    """How long `name`'s animation lasts in seconds (first to last key, at the scene's fps), against before."""
    return _ratio_check(f"{name}'s motion lasts", (lo, hi), lambda s: _duration(s, name), f"{name} motion", " s")


def starts_later(name: str, lo: float, hi: float) -> Check:
    """The first key moves `lo`..`hi` frames later and the motion keeps its length (within 20%)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        rb, ra = b.key_range(), a.key_range()
        if rb is None or ra is None:
            raise Missing(f"{name} has no keys")
        shift, stretch = ra[0] - rb[0], _ratio(ra[1] - ra[0], rb[1] - rb[0])
        ok = lo <= shift <= hi and 0.8 <= stretch <= 1.25
        return Outcome(ok, f"{name} keys {fmt(rb)} -> {fmt(ra)} (start {shift:+g} frames, length {stretch:.2f}x)")

    return Check(f"{name}'s animation starts {lo:g}-{hi:g} frames later, same length", fn)


def _travel(state: SceneState, name: str, channel: str) -> tuple[float, float]:
    """How far one channel ("rotation_euler[2]") goes from its first key to its last, and in how many seconds."""
    keys = _get(state, name, "").keys.get(channel)
    if not keys or len(keys) < 2 or keys[-1].frame == keys[0].frame:
        raise Missing(f"{name} has no motion on {channel}")
    return keys[-1].value - keys[0].value, (keys[-1].frame - keys[0].frame) / state.fps


def speed_ratio(name: str, channel: str, lo: float | None, hi: float | None) -> Check:
    """Average speed of one channel (its change from first to last key per second), against before."""

    def measure(state: SceneState) -> float:
        travel, seconds = _travel(state, name, channel)
        return abs(travel) / seconds

    return _ratio_check(f"{name}'s {channel} speed", (lo, hi), measure, f"{name} {channel} speed", "/s")


def travel_ratio(name: str, channel: str, lo: float | None, hi: float | None) -> Check:
    """How far one channel goes from first to last key (whatever the time), against before."""
    return _ratio_check(
        f"{name}'s {channel} travel", (lo, hi), lambda s: abs(_travel(s, name, channel)[0]), f"{name} {channel} travel"
    )


def reversed_motion(name: str, channel: str) -> Check:
    """One channel now goes the other way, about as far (0.5-2x)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        (b, _), (a, _) = _travel(before, name, channel), _travel(after, name, channel)
        ok = a * b < 0 and 0.5 <= abs(a) / abs(b) <= 2.0
        return Outcome(ok, f"{name} {channel} travel {b:.3g} -> {a:.3g}")

    return Check(f"{name}'s {channel} runs the other way", fn)


def interpolation(name: str, allowed: frozenset[str] = SMOOTH_INTERPOLATIONS) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        was = sorted({k.interpolation for keys in b.keys.values() for k in keys})
        now = sorted({k.interpolation for keys in a.keys.values() for k in keys})
        return Outcome(bool(now) and set(now) <= allowed, f"{name} interpolation {was} -> {now}")

    return Check(f"every key of {name} interpolates as one of {', '.join(sorted(allowed))}", fn)


def eased(name: str) -> Check:
    """Starts and stops gently: the speed in the first and last tenth of the motion is under half the middle's."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _ease(_get(before, name, "before")), _ease(_get(after, name, "after"))
        return Outcome(a <= 0.5, f"{name} end/middle speed {b:.2f} -> {a:.2f}")

    return Check(f"{name}'s motion eases in and out", fn)


def _ease(obj: Object) -> float:
    track = obj.track
    if len(track) < 10:
        raise Missing(f"{obj.name} barely moves")
    speeds = [math.dist(p[1:], q[1:]) for p, q in zip(track, track[1:], strict=False)]
    n = max(1, len(speeds) // 10)
    middle = sorted(speeds)[len(speeds) // 2] or 1e-9
    return max(sum(speeds[:n]) / n, sum(speeds[-n:]) / n) / middle


def peak_ratio(name: str, lo: float, hi: float, base_tolerance: float = 0.02) -> Check:
    """How high `name` goes above its lowest point (world z of its origin over the motion), against
    before; its lowest point stays where it was (it still lands)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        if not b.track or not a.track:
            raise Missing(f"{name} is not animated")
        (b_lo, b_hi), (a_lo, a_hi) = _z_range(b), _z_range(a)
        r = _ratio(a_hi - a_lo, b_hi - b_lo)
        ok = lo <= r <= hi and abs(a_lo - b_lo) <= base_tolerance
        return Outcome(ok, f"{name} z range [{b_lo:.3f}, {b_hi:.3f}] -> [{a_lo:.3f}, {a_hi:.3f}] ({r:.2f}x)")

    return Check(f"{name}'s peak height {lo:g}-{hi:g}x what it was, lowest point kept", fn)


def _z_range(obj: Object) -> tuple[float, float]:
    zs = [p[3] for p in obj.track]
    return min(zs), max(zs)


# ---------------------------------------------------------------- transform
def size_ratio(name: str, lo: float, hi: float, uniform: bool = True) -> Check:
    """Every axis of `name`'s world bounds scaled by lo..hi (and by the same factor, when uniform)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        ratios = [y / x for x, y in zip(b.size, a.size, strict=True) if x > 1e-6]
        ok = all(lo <= r <= hi for r in ratios) and (not uniform or max(ratios) <= 1.05 * min(ratios))
        return Outcome(ok, f"{name} size {fmt(b.size)} -> {fmt(a.size)} ({fmt(tuple(ratios))}x)")

    return Check(f"{name} is {lo:g}-{hi:g}x its size{' on every axis alike' if uniform else ''}", fn)


def height_ratio(name: str, lo: float, hi: float) -> Check:
    return _ratio_check(f"{name}'s height", (lo, hi), lambda s: _get(s, name, "").size[2], f"{name} height", " m")


def moved(name: str, dz: Range = (None, None), dxy: Range = (None, None)) -> Check:
    """Where `name`'s centre went: up/down by dz and sideways by dxy (metres)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        up = a.center[2] - b.center[2]
        side = math.dist(a.center[:2], b.center[:2])
        return Outcome(_inside(up, dz) and _inside(side, dxy), f"{name} moved {up:+.3f} m up, {side:.3f} m sideways")

    parts = ([f"up {_says(dz, ' m')}"] if dz != (None, None) else []) + (
        [f"sideways {_says(dxy, ' m')}"] if dxy != (None, None) else []
    )
    return Check(f"{name}'s centre moves {' and '.join(parts)}", fn)


def turned(name: str, lo: float, hi: float, period: float = 360.0) -> Check:
    """Heading about world Z changed by lo..hi degrees (either way; `period` 90 for a square box) and
    the object is not tipped over (its local Z within 3 degrees of where it was)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        turn = abs(a.yaw - b.yaw) % period
        turn = min(turn, period - turn)
        tilt = angle(a.axis(2), b.axis(2))
        return Outcome(lo <= turn <= hi and tilt <= 3.0, f"{name} turned {turn:.1f} degrees, tilted {tilt:.1f}")

    return Check(f"{name} turned {lo:g}-{hi:g} degrees about the vertical, not tipped", fn)


def grounded(name: str, tolerance: float = 0.02) -> Check:
    """`name`'s lowest point is where it was: it still stands on what it stood on."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _both(before, after, name)
        return Outcome(abs(a.bottom - b.bottom) <= tolerance, f"{name} bottom {b.bottom:.3f} -> {a.bottom:.3f}")

    return Check(f"{name}'s lowest point stays within {tolerance * 100:g} cm", fn)


# ---------------------------------------------------------------- placement
def _xy_inside(point: tuple, obj: Object, margin: float = 0.0) -> bool:
    return all(obj.lo[i] - margin <= point[i] <= obj.hi[i] + margin for i in (0, 1))


def on_top_of(name: str, support: str, tolerance: float = 0.02) -> Check:
    """`name`'s lowest point within `tolerance` of `support`'s top, its centre over `support`'s top."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        obj, base = _get(after, name, "after"), _get(after, support, "after")
        gap, over = obj.bottom - base.top, _xy_inside(obj.center, base)
        ok = abs(gap) <= tolerance and over
        return Outcome(ok, f"{name} {gap * 100:+.1f} cm from {support}'s top, {'over' if over else 'not over'} it")

    return Check(f"{name} rests on {support} (within {tolerance * 100:g} cm, centre over its top)", fn)


def in_container(name: str, container: str, above: float = 0.03) -> Check:
    """`name`'s centre over `container`, its lowest point between the container's bottom and rim (+ above)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        obj, box = _get(after, name, "after"), _get(after, container, "after")
        over = _xy_inside(obj.center, box)
        ok = over and box.bottom - 0.01 <= obj.bottom <= box.top + above
        where = f"bottom {obj.bottom:.3f} (rim {box.top:.3f}, floor {box.bottom:.3f})"
        return Outcome(ok, f"{name} {'over' if over else 'not over'} {container}, {where}")

    return Check(f"{name} sits in {container}", fn)


def next_to(name: str, other: str, gap: float = 0.5, ground: float = 0.05) -> Check:
    """Side by side: the horizontal gap between their bounds at most `gap`, not inside each other
    (overlap under 2 cm), standing on the same level (bottoms within `ground`)."""

    def fn(before: SceneState, after: SceneState) -> Outcome:
        a, b = _get(after, name, "after"), _get(after, other, "after")
        apart = [max(b.lo[i] - a.hi[i], a.lo[i] - b.hi[i]) for i in range(3)]  # per axis; < 0: overlap
        horizontal = math.hypot(max(apart[0], 0.0), max(apart[1], 0.0))
        clash = all(d < -0.02 for d in apart)
        level = abs(a.bottom - b.bottom)
        ok = horizontal <= gap and not clash and level <= ground
        return Outcome(
            ok,
            f"{name} {horizontal:.2f} m from {other}, {'clashing' if clash else 'apart'}, levels {level:.3f} m apart",
        )

    return Check(f"{name} stands next to {other} (within {gap:g} m, not inside it, same level)", fn)


def copies(
    name: str,
    lo: int,
    hi: int | None = None,
    *,
    place: str | None = "level",
    over: str | None = None,
    spacing: Range = (None, None),
) -> Check:
    """lo..hi new objects that are copies of `name` (same type and vertex count, size within 5%).

    `place`: "level" (each copy's lowest point within 3 cm of the original's and its centre at least
    half the original's width away from every object like it: beside them, not inside one),
    "on_top" (resting on the original),
    or None. `over`: each copy's centre over that object's top. `spacing`: metres from the original.
    """

    def fn(before: SceneState, after: SceneState) -> Outcome:
        original = _get(after, name, "after")
        alike = [
            o for o in after.objects.values()
            if o.type == original.type and o.vertices == original.vertices
            and all(abs(x - y) <= 0.05 * max(y, 1e-3) for x, y in zip(o.size, original.size, strict=True))
        ]  # fmt: skip
        found = [o for o in alike if o.name not in before.objects]
        base = _get(after, over, "after") if over else None
        bad = [f"{o.name} {why}" for o in found if (why := _misplaced(o, original, alike, place, base, spacing))]
        ok = lo <= len(found) <= (hi if hi is not None else math.inf) and not bad
        return Outcome(ok, f"copies of {name}: {[o.name for o in found]}" + (f" ({'; '.join(bad)})" if bad else ""))

    count = f"{lo}" if hi == lo else f"{lo}-{hi}" if hi is not None else f"at least {lo}"
    count += " new copy" if (lo, hi) == (1, 1) else " new copies"
    where = {"level": ", each beside it at its level", "on_top": ", each resting on it", None: ""}[place]
    where += (f", over {over}" if over else "") + (
        f", {_says(spacing, ' m')} from it" if spacing != (None, None) else ""
    )
    return Check(f"{count} of {name}{where}", fn)


def _misplaced(
    copy: Object, original: Object, alike: list[Object], place: str | None, over: Object | None, spacing: Range
) -> str:
    apart = distance(copy.center, original.center)
    if place == "level" and abs(copy.bottom - original.bottom) > 0.03:
        return f"not level with {original.name} ({copy.bottom - original.bottom:+.3f} m)"
    crowded = [o.name for o in alike if o is not copy and distance(copy.center, o.center) < max(original.size[:2]) / 2]
    if place == "level" and crowded:
        return f"inside {', '.join(crowded)}"
    if place == "on_top" and (abs(copy.bottom - original.top) > 0.03 or not _xy_inside(copy.center, original)):
        return f"not resting on {original.name}"
    if over is not None and not _xy_inside(copy.center, over):
        return f"not over {over.name}"
    if not _inside(apart, spacing):
        return f"{apart:.2f} m from {original.name}"
    return ""


# ---------------------------------------------------------------- world
def _world(state: SceneState):  # noqa: ANN202
    if state.world is None:
        raise Missing("the scene has no world")
    return state.world


def world_ratio(lo: float | None, hi: float | None) -> Check:
    """World brightness (luminance of its colour x strength) against before."""
    return _ratio_check("the world's brightness", (lo, hi), lambda s: _world(s).brightness, "world brightness")


def world_colour(colour: str) -> Check:
    def fn(before: SceneState, after: SceneState) -> Outcome:
        b, a = _world(before).color, _world(after).color
        return Outcome(_colour_ok(b, a, colour), f"world colour {fmt(b)} -> {fmt(a)}")

    return Check(f"the world is {colour}", fn)
