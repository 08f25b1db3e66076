"""The scene graph as the model reads it (prompt format 2): one short line per thing.

JSON repeats every key for every object, and numbers are most of a scene's tokens (a byte-level
tokenizer spends a token per digit), so this text names each field once per line, leaves out
what a reader can infer (a mesh's type, its origin when its bounds are given, zero rotations,
unit scales, default material values) and rounds to centimetres. It also writes what a small
model cannot easily compute from numbers but artists say all the time: a colour's name ("the red
chair") and a light's warmth ("cooler light"). Pure and deterministic: training data and
serving go through this one function.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

from evlm.scene import GEOMETRY_TYPES, SceneGraph

# Hue ranges in degrees (of the sRGB colour), first match wins; red wraps around 0.
_HUES = ((15, "red"), (40, "orange"), (70, "yellow"), (165, "green"), (195, "cyan"), (255, "blue"),
         (290, "purple"), (335, "pink"), (360, "red"))  # fmt: skip


def num(x: float) -> str:
    """A number to 2 decimals, trailing zeros dropped: 0.5, -1.35, 150, 0."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def vec(values: Sequence[float]) -> str:
    return " ".join(num(v) for v in values)


def _srgb(linear: float) -> float:
    c = min(max(linear, 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def colour_name(rgb: Sequence[float]) -> str:
    """The everyday name of a linear RGB colour (Blender's base colours are linear): what a
    person looking at the render would call it."""
    h, s, v = colorsys.rgb_to_hsv(*(_srgb(c) for c in rgb[:3]))
    if v < 0.28:
        return "black"
    if s < 0.15:
        return "white" if v > 0.85 else "grey"
    hue = h * 360
    name = next(n for top, n in _HUES if hue < top)
    if name in ("orange", "yellow") and s < 0.35:
        return "beige"
    if name == "orange" and v < 0.75:
        return "brown"
    if name == "red" and s < 0.45 and v > 0.7:
        return "pink"
    return name


def light_warmth(rgb: Sequence[float]) -> str:
    """Warm, neutral or cool, from the red/blue balance of a light's colour."""
    r, _, b = rgb[:3]
    if r - b > 0.1:
        return "warm"
    if b - r > 0.1:
        return "cool"
    return "neutral"


def scene_text(scene: SceneGraph) -> str:
    """Objects, materials, lights, cameras, world and animation, a line each (module docstring)."""
    head = f"frame {scene.frame_current}"
    if scene.animation is not None:
        a = scene.animation
        head += f" of {a.frame_start}-{a.frame_end} at {num(a.fps)} fps"
    lines = [f"Scene: {head}", "Objects:"]
    lines += [_object_line(o) for o in scene.objects]
    if scene.materials:
        lines.append("Materials:")
        lines += [_material_line(m) for m in scene.materials]
    if scene.lights:
        lines.append("Lights:")
        for light in scene.lights:
            lines.append(
                f"- {light.name}, {light.type.lower()}, color {vec(light.color)} ({light_warmth(light.color)}), "
                f"energy {num(light.energy)}"
            )
    if scene.cameras:
        lines.append("Cameras:")
        lines += [f"- {c.name}, lens {num(c.focal_length)}" for c in scene.cameras]
    w = scene.world
    lines.append(f"World: color {vec(w.color)} ({colour_name(w.color)}), strength {num(w.strength)}")
    if scene.animation is not None and scene.animation.objects:
        lines.append("Animation:")
        for anim in scene.animation.objects:
            for ch in anim.channels:
                keys = " ".join(f"{num(k.frame)}:{num(k.value)}" for k in ch.keyframes)
                kinds = ",".join(sorted({k.interpolation.lower() for k in ch.keyframes}))
                lines.append(f"- {anim.object} {ch.path}[{ch.index}] keys {keys}" + (f" ({kinds})" if kinds else ""))
    return "\n".join(lines)


def _object_line(o) -> str:  # noqa: ANN001
    parts = [o.name if o.mark is None else f"#{o.mark} {o.name}"]
    geometry = o.type in GEOMETRY_TYPES
    if o.type != "MESH":
        parts.append(o.type.lower())
    if o.parent:
        parts.append(f"parent {o.parent}")
    if not geometry:  # a mesh's bounds say where it is; a light, camera or empty has only its origin
        parts.append("at " + vec(o.location))
    if any(abs(r) >= 0.005 for r in o.rotation):
        parts.append("rot " + vec(o.rotation))
    if any(abs(s - 1.0) >= 0.005 for s in o.scale):
        parts.append("scale " + vec(o.scale))
    if geometry:
        parts.append(f"box {vec(o.bbox_min)} to {vec(o.bbox_max)}")
    if o.materials:
        parts.append("mat " + ",".join(m or "-" for m in o.materials))
    if o.modifiers:
        parts.append("mod " + ",".join(f"{m.name}:{m.type.lower()}" for m in o.modifiers))
    if not o.visible:
        parts.append("hidden")
    return "- " + ", ".join(parts)


def _material_line(m) -> str:  # noqa: ANN001
    parts = [m.name, f"color {vec(m.base_color[:3])} ({colour_name(m.base_color)})"]
    if abs(m.roughness - 0.5) >= 0.005:
        parts.append("rough " + num(m.roughness))
    if m.metallic >= 0.005:
        parts.append("metal " + num(m.metallic))
    if m.emission_strength > 0 and any(c > 0 for c in m.emission_color):
        parts.append(f"emit {vec(m.emission_color)} x{num(m.emission_strength)}")
    if m.alpha < 0.995:
        parts.append("alpha " + num(m.alpha))
    return "- " + ", ".join(parts)
