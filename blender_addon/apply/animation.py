"""Handlers: the animation (4D) ops, on the object's action through the F-curve access module
(either action model). The new keys are computed by `evlm.keyframes`; Blender then recomputes
automatic handles. An action shared by several objects is edited once and the report names the
others it moves."""

from __future__ import annotations

from collections.abc import Callable

import bpy

from evlm import keyframes as kf
from evlm.edits import (
    DeleteKeyframe,
    InsertKeyframe,
    Retime,
    ScaleAmplitude,
    SetFrameRange,
    SetInterpolation,
    ShiftKeys,
)

from .. import fcurves
from . import keys
from .registry import Planned, handles
from .report import ApplyError
from .run import Run
from .spatial import is_euler


def _check_channel(scene: bpy.types.Scene, op: ScaleAmplitude | DeleteKeyframe, planned: Planned) -> None:
    """The channel must be animated now, or keyed by an earlier op of the suggestion."""
    names = getattr(op, "targets", None) or [op.target]
    for name in names:
        planned_here = (name, op.channel, op.index) in planned.channels or (
            op.index < 0 and any(c[:2] == (name, op.channel) for c in planned.channels)
        )
        if not fcurves.fcurves(scene.objects[name], op.channel, op.index) and not planned_here:
            axis = "" if op.index < 0 else f"[{op.index}]"
            raise ApplyError("not_applicable", f"{op.op}: {name!r} has no animated {op.channel}{axis}")


def _frames(found: list[kf.Key]) -> str:
    return f"{found[0].frame:g}–{found[-1].frame:g}" if found else "none"


def _each_curve(
    run: Run, targets: list[str], change: Callable[[list[kf.Key], bpy.types.FCurve], list[kf.Key]], what: str
) -> None:
    for name, found, shared in run.animated(targets):
        count, before, after = 0, [], []
        for fc in found.fcurves:
            current, raw = keys.read(fc)
            if not current:
                continue
            moved = change(current, fc)
            run.write_keys(fc, moved, raw)
            count += len(current)
            before += current[:1] + current[-1:]
            after += moved[:1] + moved[-1:]
        before.sort(key=lambda k: k.frame)
        after.sort(key=lambda k: k.frame)
        run.lines.append(f"{name}: {what} ({count} keys, frames {_frames(before)} → {_frames(after)}){shared}")


@handles(Retime)
def _retime(run: Run, op: Retime) -> None:
    _each_curve(
        run, op.targets, lambda current, fc: kf.retime(current, op.factor, op.pivot_frame),
        f"retimed ×{op.factor:g} about frame {op.pivot_frame:g}",
    )  # fmt: skip


@handles(ShiftKeys)
def _shift_keys(run: Run, op: ShiftKeys) -> None:
    _each_curve(
        run, op.targets, lambda current, fc: kf.shift(current, op.frames), f"keys shifted {op.frames:+g} frames"
    )


@handles(SetInterpolation)
def _set_interpolation(run: Run, op: SetInterpolation) -> None:
    _each_curve(
        run, op.targets,
        lambda current, fc: kf.set_interpolation(current, op.interpolation, op.easing, fc.extrapolation),
        f"interpolation → {op.interpolation}, easing {op.easing}",
    )  # fmt: skip


@handles(ScaleAmplitude, check=_check_channel)
def _scale_amplitude(run: Run, op: ScaleAmplitude) -> None:
    for name, found, shared in run.animated(op.targets):
        for fc in (f for f in found.fcurves if f.data_path == op.channel and op.index in (-1, f.array_index)):
            current, raw = keys.read(fc)
            if current:
                run.write_keys(fc, kf.scale_amplitude(current, op.factor), raw)
                run.lines.append(
                    f"{name}: {op.channel}[{fc.array_index}] amplitude ×{op.factor:g} about {current[0].value:.4g}"
                    f"{shared}"
                )


def _check_insert(scene: bpy.types.Scene, op: InsertKeyframe, planned: Planned) -> None:
    obj = scene.objects[op.target]
    if op.channel == "rotation_euler" and not is_euler(obj):
        raise ApplyError(
            "not_applicable", f"{op.op}: {op.target!r} rotates in {obj.rotation_mode} mode, not with Euler angles"
        )


def _plans_channel(planned: Planned, op: InsertKeyframe) -> None:
    planned.channels.add((op.target, op.channel, op.index))


@handles(InsertKeyframe, check=_check_insert, plans=_plans_channel)
def _insert_keyframe(run: Run, op: InsertKeyframe) -> None:
    obj = run.obj(op.target)
    run.journal.save_transform(obj)
    fc = fcurves.ensure_fcurve(obj, op.channel, op.index, run.journal.on_undo)
    current, raw = keys.read(fc)
    new = kf.insert_key(current, op.frame, op.value, fc.extrapolation)
    added = len(new) > len(current)
    run.write_keys(fc, new, raw, insert_at=kf.find_key(new, op.frame, kf.SAME_FRAME) if added else None)
    verb = "new key" if added else "key set"
    run.lines.append(f"{op.target}: {op.channel}[{op.index}] {verb} at frame {op.frame:g} = {op.value:.4g}")


@handles(DeleteKeyframe, check=_check_channel)
def _delete_keyframe(run: Run, op: DeleteKeyframe) -> None:
    obj = run.obj(op.target)
    deleted = 0
    for fc in fcurves.fcurves(obj, op.channel, op.index):
        current, raw = keys.read(fc)
        at = kf.find_key(current, op.frame)
        if at is not None:
            run.journal.save_transform(obj)
            run.write_keys(fc, kf.delete_key(current, op.frame, extrapolation=fc.extrapolation), raw, remove_at=at)
            run.lines.append(f"{op.target}: {op.channel}[{fc.array_index}] key at frame {current[at].frame:g} deleted")
            deleted += 1
    if not deleted:
        raise ApplyError("not_applicable", f"{op.op}: {op.target!r} has no {op.channel} key near frame {op.frame:g}")


@handles(SetFrameRange)
def _set_frame_range(run: Run, op: SetFrameRange) -> None:
    scene, render = run.scene, run.scene.render
    old = (scene.frame_start, scene.frame_end, render.fps / render.fps_base)
    run.journal.on_undo(_set_range, scene, scene.frame_start, scene.frame_end)
    _set_range(scene, op.start, op.start + op.length - 1)
    fps = max(1, round(op.fps))
    run.journal.set(render, "fps", fps)
    run.journal.set(render, "fps_base", fps / op.fps)  # e.g. 24 / 1.001 for 23.976
    run.lines.append(
        f"Scene: frames {old[0]}–{old[1]} at {old[2]:.4g} fps → {scene.frame_start}–{scene.frame_end} at {op.fps:.4g} fps"
    )


def _set_range(scene: bpy.types.Scene, start: int, end: int) -> None:
    scene.frame_start = start  # may push the end up; the end is set next, and is >= start
    scene.frame_end = end
