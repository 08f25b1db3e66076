"""Keyframe math for the animation ops, on plain data (pure Python: no bpy).

A channel (one F-curve) is a list of `Key`s in frame order. Every function returns a new list and
leaves its input alone; the add-on reads a curve into Keys, calls one of these, and writes the
result back, so this module holds all the arithmetic and is tested without Blender.

Keys follow Blender's F-curve model: a Bezier handle on each side of a key, as (frame, value),
with a handle type per side. AUTO and AUTO_CLAMPED handles are derived from the neighbouring
keys (`auto_handles`, Blender's own formula for auto smoothing "None"), VECTOR handles point a
third of the way to the neighbours, FREE and ALIGNED handles keep what they are given. Retiming,
shifting and scaling values transform the handles with the keys; for auto handles that is
exactly what recomputing them would give (the formula is invariant under those maps), so a
curve's shape is kept whichever handle types it has.

Easing: Blender applies `easing` only to its easing interpolations (SINE, QUAD, ...), never to
BEZIER. For a BEZIER curve, `set_interpolation` gives the easing its meaning with handles, as
Blender's easing equations do over a segment: EASE_IN leaves every key slowly (outgoing handle
flat), EASE_OUT arrives slowly (incoming handle flat), EASE_IN_OUT both; eased handles become
manual ones, so Blender keeps them. AUTO returns every key to automatic clamped handles, Blender's
default smooth curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from evlm.scene import INTERPOLATIONS  # the contract's list: one owner

HANDLE_TYPES = ("FREE", "ALIGNED", "VECTOR", "AUTO", "AUTO_CLAMPED")
EASINGS = ("AUTO", "EASE_IN", "EASE_OUT", "EASE_IN_OUT")
EXTRAPOLATIONS = ("CONSTANT", "LINEAR")
SAME_FRAME = 0.01  # Blender's threshold for "a key is already there" when inserting
_AUTO = ("AUTO", "AUTO_CLAMPED")


@dataclass(frozen=True)
class Key:
    """One keyframe. `left`/`right` are the handles as (frame, value); None: flat, one frame out."""

    frame: float
    value: float
    left: tuple[float, float] | None = None
    right: tuple[float, float] | None = None
    interpolation: str = "BEZIER"  # of the segment that starts at this key
    easing: str = "AUTO"
    left_type: str = "AUTO_CLAMPED"
    right_type: str = "AUTO_CLAMPED"

    def __post_init__(self) -> None:
        _finite("frame", self.frame)
        _finite("value", self.value)
        for side, default in (("left", self.frame - 1.0), ("right", self.frame + 1.0)):
            handle = getattr(self, side)
            handle = (default, self.value) if handle is None else tuple(handle)
            if len(handle) != 2:
                raise ValueError(f"{side} handle must be (frame, value), got {handle!r}")
            for x in handle:
                _finite(f"{side} handle", x)
            object.__setattr__(self, side, (float(handle[0]), float(handle[1])))
        for field, allowed in (
            ("interpolation", INTERPOLATIONS),
            ("easing", EASINGS),
            ("left_type", HANDLE_TYPES),
            ("right_type", HANDLE_TYPES),
        ):
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field} must be one of {', '.join(allowed)}, got {getattr(self, field)!r}")


# ---------------------------------------------------------------- timing
def retime(keys: Sequence[Key], factor: float, pivot: float) -> list[Key]:
    """Scale the timing about `pivot`: frame -> pivot + factor * (frame - pivot), handles too.

    factor 2 makes the motion twice as slow; values are unchanged.
    """
    _check(keys)
    _finite("pivot", pivot)
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"retime factor must be a finite number > 0, got {factor!r}")

    def t(f: float) -> float:
        return pivot + factor * (f - pivot)

    return [
        replace(k, frame=t(k.frame), left=(t(k.left[0]), k.left[1]), right=(t(k.right[0]), k.right[1])) for k in keys
    ]


def shift(keys: Sequence[Key], frames: float) -> list[Key]:
    """Move every key (and its handles) by `frames`."""
    _check(keys)
    _finite("frames", frames)
    return [
        replace(
            k,
            frame=k.frame + frames,
            left=(k.left[0] + frames, k.left[1]),
            right=(k.right[0] + frames, k.right[1]),
        )
        for k in keys
    ]


# ---------------------------------------------------------------- values
def scale_values(keys: Sequence[Key], factor: float, pivot: float) -> list[Key]:
    """value -> pivot + factor * (value - pivot), for keys and handles."""
    _check(keys)
    _finite("factor", factor)
    _finite("pivot", pivot)

    def s(v: float) -> float:
        return pivot + factor * (v - pivot)

    return [
        replace(k, value=s(k.value), left=(k.left[0], s(k.left[1])), right=(k.right[0], s(k.right[1]))) for k in keys
    ]


def scale_amplitude(keys: Sequence[Key], factor: float) -> list[Key]:
    """Scale the motion about the first key's value (factor 0 flattens it to that value)."""
    _check(keys)
    return scale_values(keys, factor, keys[0].value) if keys else []


def offset_values(keys: Sequence[Key], delta: float) -> list[Key]:
    """Add `delta` to every value (the whole motion moves, its shape kept)."""
    _check(keys)
    _finite("delta", delta)
    return [
        replace(k, value=k.value + delta, left=(k.left[0], k.left[1] + delta), right=(k.right[0], k.right[1] + delta))
        for k in keys
    ]


# ---------------------------------------------------------------- interpolation and easing
def set_interpolation(
    keys: Sequence[Key], interpolation: str, easing: str = "AUTO", extrapolation: str = "CONSTANT"
) -> list[Key]:
    """Set every key's interpolation and easing; for BEZIER, shape the handles (module docstring)."""
    _check(keys)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    if easing not in EASINGS:
        raise ValueError(f"easing must be one of {', '.join(EASINGS)}, got {easing!r}")
    out = [replace(k, interpolation=interpolation, easing=easing) for k in keys]
    if interpolation != "BEZIER":
        return out
    if easing == "AUTO":
        return auto_handles(
            [replace(k, left_type="AUTO_CLAMPED", right_type="AUTO_CLAMPED") for k in out], extrapolation
        )
    flat_in = easing in ("EASE_OUT", "EASE_IN_OUT")  # arrive slowly: incoming handles flat
    flat_out = easing in ("EASE_IN", "EASE_IN_OUT")  # leave slowly: outgoing handles flat
    # An eased key's handles become manual (ALIGNED when both are flat, else FREE, the other side
    # frozen where the automatic rule had it): Blender recomputes automatic handles, and may move
    # the other handle of a key with one, so a flat handle next to an automatic one would not stay.
    # A handle outside the motion (before the first key, after the last) needs no easing.
    kind = "ALIGNED" if flat_in and flat_out else "FREE"
    eased = []
    n = len(out)
    for i, k in enumerate(auto_handles(out, extrapolation)):
        ease_left = flat_in and (i > 0 or flat_out)
        ease_right = flat_out and (i < n - 1 or flat_in)
        if not (ease_left or ease_right):
            eased.append(k)
            continue
        left = (k.left[0], k.value) if ease_left else k.left
        right = (k.right[0], k.value) if ease_right else k.right
        eased.append(replace(k, left=left, right=right, left_type=kind, right_type=kind))
    return auto_handles(eased, extrapolation)  # an untouched end key stays automatic


# ---------------------------------------------------------------- insert and delete
def find_key(keys: Sequence[Key], frame: float, tolerance: float = 0.5) -> int | None:
    """Index of the key nearest `frame` within `tolerance` frames, or None."""
    _check(keys)
    _finite("frame", frame)
    best = min(range(len(keys)), key=lambda i: abs(keys[i].frame - frame), default=None)
    return best if best is not None and abs(keys[best].frame - frame) <= tolerance else None


def insert_key(keys: Sequence[Key], frame: float, value: float, extrapolation: str = "CONSTANT") -> list[Key]:
    """Add a key with automatic clamped handles (or set the value of the key already at `frame`).

    A new key takes the interpolation and easing of the key before it (BEZIER/AUTO when it comes
    first), as Blender does; automatic handles of every key are then recomputed, since a new
    neighbour changes them.
    """
    _check(keys)
    _finite("frame", frame)
    _finite("value", value)
    out = list(keys)
    at = find_key(out, frame, SAME_FRAME)
    if at is not None:  # replace the value, moving the handles with the key
        out[at] = offset_values([out[at]], value - out[at].value)[0]
    else:
        i = sum(1 for k in out if k.frame < frame)
        before = out[i - 1] if i > 0 else None
        out.insert(
            i,
            Key(
                frame,
                value,
                interpolation=before.interpolation if before else "BEZIER",
                easing=before.easing if before else "AUTO",
            ),
        )
    return auto_handles(out, extrapolation)


def delete_key(keys: Sequence[Key], frame: float, tolerance: float = 0.5, extrapolation: str = "CONSTANT") -> list[Key]:
    """Remove the key nearest `frame` (within `tolerance`); LookupError if there is none."""
    at = find_key(keys, frame, tolerance)
    if at is None:
        where = ", ".join(f"{k.frame:g}" for k in keys[:12]) or "none"
        raise LookupError(f"no key within {tolerance:g} frames of frame {frame:g} (keys at: {where})")
    return auto_handles([k for i, k in enumerate(keys) if i != at], extrapolation)


# ---------------------------------------------------------------- automatic handles
def auto_handles(keys: Sequence[Key], extrapolation: str = "CONSTANT") -> list[Key]:
    """Recompute AUTO, AUTO_CLAMPED and VECTOR handles from the neighbouring keys.

    Blender's F-curve rule (calchandleNurb_intern with auto smoothing "None"): the tangent sums
    the unit-time slopes towards both neighbours, each handle reaches a share of the gap to its
    neighbour (gaps capped at 5x each other); AUTO_CLAMPED keeps extremes flat and never
    overshoots a neighbour's value; with constant extrapolation the first and last keys are flat.
    Other handle types are left as they are.
    """
    _check(keys)
    if extrapolation not in EXTRAPOLATIONS:
        raise ValueError(f"extrapolation must be one of {', '.join(EXTRAPOLATIONS)}, got {extrapolation!r}")
    out = []
    n = len(keys)
    for i, k in enumerate(keys):
        prev = keys[i - 1] if i > 0 else None
        nxt = keys[i + 1] if i < n - 1 else None
        left, right = _handles(prev, k, nxt)
        if k.left_type in _AUTO and k.right_type in _AUTO and extrapolation == "CONSTANT" and i in (0, n - 1):
            left, right = (left[0], k.value), (right[0], k.value)
        out.append(replace(k, left=left, right=right))
    return out


def _handles(prev: Key | None, k: Key, nxt: Key | None) -> tuple[tuple[float, float], tuple[float, float]]:
    x2, y2 = k.frame, k.value
    if prev is None and nxt is None:
        x1, y1, x3, y3 = x2 - 1.0, y2, x2 + 1.0, y2
    elif prev is None:
        x3, y3 = nxt.frame, nxt.value
        x1, y1 = 2 * x2 - x3, 2 * y2 - y3  # a neighbour mirrored through the key
    elif nxt is None:
        x1, y1 = prev.frame, prev.value
        x3, y3 = 2 * x2 - x1, 2 * y2 - y1
    else:
        x1, y1, x3, y3 = prev.frame, prev.value, nxt.frame, nxt.value
    dxa, dya, dxb, dyb = x2 - x1, y2 - y1, x3 - x2, y3 - y2
    len_a, len_b = dxa or 1.0, dxb or 1.0
    left, right = k.left, k.right
    if k.left_type == "VECTOR":
        left = (x2 - dxa / 3, y2 - dya / 3)
    if k.right_type == "VECTOR":
        right = (x2 + dxb / 3, y2 + dyb / 3)
    auto_l, auto_r = k.left_type in _AUTO, k.right_type in _AUTO
    tx, ty = dxb / len_b + dxa / len_a, dyb / len_b + dya / len_a
    length = tx * 2.5614
    if not (auto_l or auto_r) or length == 0:
        return left, right
    len_a, len_b = min(len_a, 5 * len_b), min(len_b, 5 * len_a)
    extreme = (y1 - y2 <= 0 and y3 - y2 <= 0) or (y1 - y2 >= 0 and y3 - y2 >= 0)
    violate_l = violate_r = False
    if auto_l:
        hx, hy = x2 - tx * len_a / length, y2 - ty * len_a / length
        if k.left_type == "AUTO_CLAMPED":
            if extreme:
                hy = y2
            elif (y1 <= y2 and y1 > hy) or (y1 > y2 and y1 < hy):  # past the neighbour's value: clamp
                hy, violate_l = y1, True
        left = (hx, hy)
    if auto_r:
        hx, hy = x2 + tx * len_b / length, y2 + ty * len_b / length
        if k.right_type == "AUTO_CLAMPED":
            if extreme:
                hy = y2
            elif (y3 <= y2 and y3 > hy) or (y3 > y2 and y3 < hy):
                hy, violate_r = y3, True
        right = (hx, hy)
    # Keep the tangent continuous: the other handle follows the clamped one, whatever its type (as
    # Blender does).
    if violate_l:
        right = (right[0], y2 + (y2 - left[1]) / (left[0] - x2) * (x2 - right[0]))
    elif violate_r:
        left = (left[0], y2 + (y2 - right[1]) / (x2 - right[0]) * (left[0] - x2))
    return left, right


# ---------------------------------------------------------------- checks
def _check(keys: Sequence[Key]) -> None:
    if not isinstance(keys, Sequence) or not all(isinstance(k, Key) for k in keys):
        raise TypeError("keys must be a sequence of Key")
    if any(b.frame < a.frame for a, b in zip(keys, keys[1:], strict=False)):
        raise ValueError("keys must be in frame order")


def _finite(name: str, x: object) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
