"""Keyframes of an F-curve read and written in bulk (imports bpy).

`read` gives an F-curve's keys as `evlm.keyframes.Key`s (the pure model the animation ops compute
on) together with its raw arrays; `write` puts computed keys back. Keyframe points are read and
written with foreach_get/set: raw, exact, and free of the handle-type rewriting that setting one
key's handles through RNA triggers. The raw arrays are also what the journal keeps to restore a
curve exactly.
"""

from __future__ import annotations

import bpy

from evlm import keyframes as kf

_VEC = ("co", "handle_left", "handle_right")
_ENUM = ("interpolation", "easing", "handle_left_type", "handle_right_type", "type")
_FLOAT = ("amplitude", "back", "period")
_BOOL = ("select_control_point", "select_left_handle", "select_right_handle")
_EXTRA = ("type", *_FLOAT, *_BOOL)  # kept per key; not part of kf.Key
_ENUM_VALUE = {p: {i.identifier: i.value for i in bpy.types.Keyframe.bl_rna.properties[p].enum_items} for p in _ENUM}
_ENUM_NAME = {p: {v: k for k, v in values.items()} for p, values in _ENUM_VALUE.items()}
# what a key new to Blender gets (fcurve.keyframe_points.insert gives these)
_NEW_KEY = {
    "type": _ENUM_VALUE["type"]["KEYFRAME"], "amplitude": 0.8, "back": 1.70158, "period": 4.1,
    "select_control_point": False, "select_left_handle": False, "select_right_handle": False,
}  # fmt: skip

Raw = dict[str, list]


def raw_keys(fc: bpy.types.FCurve) -> Raw:
    """Every stored property of every key of `fc`, as flat arrays."""
    points, n = fc.keyframe_points, len(fc.keyframe_points)
    raw: Raw = {}
    for props, size, zero in ((_VEC, 2, 0.0), (_ENUM, 1, 0), (_FLOAT, 1, 0.0), (_BOOL, 1, False)):
        for p in props:
            raw[p] = [zero] * (n * size)
            points.foreach_get(p, raw[p])
    return raw


def set_raw(fc: bpy.types.FCurve, raw: Raw) -> None:
    """Make `fc`'s keys exactly `raw` (as `raw_keys` gives), adding or removing points to fit."""
    points, n = fc.keyframe_points, len(raw["interpolation"])
    while len(points) > n:
        points.remove(points[len(points) - 1], fast=True)
    if len(points) < n:
        points.add(n - len(points))
    for p, values in raw.items():
        points.foreach_set(p, values)


def read(fc: bpy.types.FCurve) -> tuple[list[kf.Key], Raw]:
    """The keys of `fc` in the pure model, and its raw arrays (for `write`)."""
    raw = raw_keys(fc)
    co, hl, hr = raw["co"], raw["handle_left"], raw["handle_right"]
    keys = [
        kf.Key(
            co[2 * i],
            co[2 * i + 1],
            (hl[2 * i], hl[2 * i + 1]),
            (hr[2 * i], hr[2 * i + 1]),
            interpolation=_ENUM_NAME["interpolation"][raw["interpolation"][i]],
            easing=_ENUM_NAME["easing"][raw["easing"][i]],
            left_type=_ENUM_NAME["handle_left_type"][raw["handle_left_type"][i]],
            right_type=_ENUM_NAME["handle_right_type"][raw["handle_right_type"][i]],
        )
        for i in range(len(co) // 2)
    ]
    return keys, raw


def write(
    fc: bpy.types.FCurve, keys: list[kf.Key], raw: Raw, insert_at: int | None = None, remove_at: int | None = None
) -> None:
    """Write `keys` over `fc`, whose keys were `raw`, with one key inserted or removed at most (the
    properties a Key does not carry follow their keys; a new key gets Blender's defaults)."""
    extra = {p: list(raw[p]) for p in _EXTRA}
    for p, values in extra.items():
        if remove_at is not None:
            del values[remove_at]
        if insert_at is not None:
            values.insert(insert_at, _NEW_KEY[p])
    set_raw(fc, _raw_from_keys(keys) | extra)
    fc.update()  # sort, and recompute automatic handles with the curve's own smoothing


def _raw_from_keys(keys: list[kf.Key]) -> Raw:
    return {
        "co": [x for k in keys for x in (k.frame, k.value)],
        "handle_left": [x for k in keys for x in k.left],
        "handle_right": [x for k in keys for x in k.right],
        "interpolation": [_ENUM_VALUE["interpolation"][k.interpolation] for k in keys],
        "easing": [_ENUM_VALUE["easing"][k.easing] for k in keys],
        "handle_left_type": [_ENUM_VALUE["handle_left_type"][k.left_type] for k in keys],
        "handle_right_type": [_ENUM_VALUE["handle_right_type"][k.right_type] for k in keys],
    }
