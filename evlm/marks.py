"""Set-of-marks semantics: one implementation for every renderer (pure: numpy only).

Blender capture, `evlm-synth` and `evlm-batch`'s mesh renderer all place marks here, from an
object-ID pass of the view (an image whose pixels hold the id of the object drawn there, 0 for
nothing), so the marks a model is trained on are the marks it is served:

- which objects: those with a mark number in the scene graph that show at least
  `MIN_MARK_PIXELS` pixels in the view; an object hidden behind another, or out of frame, gets no
  mark in that view;
- where: the box of its visible pixels, and as centre a visible pixel deep inside them (on the
  object even for a ring, or a chair seen between its legs), in normalized view coordinates
  (x right, y down), rounded to 4 decimals;
- numbers: visible geometry is numbered 1, 2, ... in the order of the objects' names
  (`number_marks`), a rule any client that knows the names (a .blend, a glTF file) can follow.

ID passes are drawn in flat colours: `id_color(i)` is object i's 8-bit colour, a multiple of 8 plus
4 in each channel, so rounding or a colour transform that moves a channel by up to 3 levels still
reads back as the same id (`ids_from_rgb`); black is nothing. 32,767 ids fit.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from evlm.scene import Mark

MIN_MARK_PIXELS = 6  # fewer visible pixels than this: no mark in that view
ID_LEVELS = 32  # id colour levels per channel (8-bit step 8)
MAX_ID = ID_LEVELS**3 - 1


def number_marks(names: Iterable[str]) -> dict[str, int]:
    """Mark numbers 1, 2, ... for the objects that can carry one, in the order of their names."""
    return {name: i for i, name in enumerate(sorted(set(names)), start=1)}


def id_color(object_id: int) -> tuple[int, int, int]:
    """The 8-bit sRGB colour that draws `object_id` (1..MAX_ID) in an ID pass."""
    if isinstance(object_id, bool) or not isinstance(object_id, int | np.integer) or not 1 <= object_id <= MAX_ID:
        raise ValueError(f"an object id is an integer in [1, {MAX_ID}], got {object_id!r}")
    i = int(object_id)
    return tuple(((i >> shift) % ID_LEVELS) * 8 + 4 for shift in (0, 5, 10))  # type: ignore[return-value]


def ids_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """An (H, W) int array of ids from an (H, W, 3) uint8 ID pass drawn with `id_color`."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError("an ID pass is an (H, W, 3) uint8 array")
    levels = rgb[..., :3].astype(np.int64) // 8
    return levels[..., 0] + (levels[..., 1] << 5) + (levels[..., 2] << 10)


def marks_from_ids(
    ids: np.ndarray, objects: Iterable[tuple[int, int, str]], min_pixels: int = MIN_MARK_PIXELS
) -> list[Mark]:
    """The mark table of a view from its ID pass (see the module docstring), sorted by mark number.

    `objects` holds (id in the pass, mark number, object name) for each object that carries a
    mark; ids in the pass that are not listed (unmarked geometry, background) get none.
    """
    if not isinstance(ids, np.ndarray) or ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be an (H, W) integer array")
    h, w = ids.shape
    flat = ids.ravel()
    counts = np.bincount(flat[(flat >= 0) & (flat <= MAX_ID)], minlength=MAX_ID + 1)
    marks = []
    for object_id, mark, name in objects:
        if not 0 < object_id <= MAX_ID or counts[object_id] < min_pixels:
            continue
        ys, xs = np.divmod(np.flatnonzero(flat == object_id), w)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        cy, cx = deep_point(ids[y0:y1, x0:x1] == object_id)  # outside its box nothing is the object
        marks.append(
            Mark(
                index=mark,
                object=name,
                center=[_r4((x0 + cx + 0.5) / w), _r4((y0 + cy + 0.5) / h)],
                box=[_r4(x0 / w), _r4(y0 / h), _r4(x1 / w), _r4(y1 / h)],
            )
        )
    return sorted(marks, key=lambda m: m.index)


def deep_point(mask: np.ndarray) -> tuple[int, int]:
    """(row, column) of a pixel of a non-empty boolean mask far from its border: among the pixels
    farthest from anything outside the mask (outside the array counts as outside), the one nearest
    their centroid. These are the pixels the last non-empty erosion by a 3x3 cross keeps."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError("the mask must be a non-empty 2-D boolean array")
    depth = inner_distance(mask)
    ys, xs = np.nonzero(depth == depth.max())
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(ys[i]), int(xs[i])


def inner_distance(mask: np.ndarray) -> np.ndarray:
    """City-block distance from each pixel of a boolean mask to the nearest pixel outside it (1 on
    its edge, 0 outside), outside the array counting as outside. Exact, with no Python loop: the
    distance transform of f (0 outside, "infinity" inside) along an axis is
    min over j of f[j] + |i - j|, which is i + running-min(f - i) from one side and
    -i + running-min(f + i) from the other; along the rows first, then the columns of that."""
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    far = sum(padded.shape)  # more than any distance inside; 16 bits hold it (and f - i) up to 16k pixels
    d = np.where(padded, far, 0).astype(np.int16 if far < 2**15 // 2 else np.int32)
    d = _along_columns(np.ascontiguousarray(d.T)).T  # numpy runs along the first axis fastest
    return _along_columns(np.ascontiguousarray(d))[1:-1, 1:-1]


def _along_columns(f: np.ndarray) -> np.ndarray:
    i = np.arange(f.shape[0], dtype=f.dtype)[:, None]
    down = np.minimum.accumulate(f - i, axis=0) + i
    up = np.minimum.accumulate((f + i)[::-1], axis=0)[::-1] - i
    return np.minimum(down, up)


def _r4(value: float) -> float:
    return round(float(value), 4) + 0.0  # + 0.0: no -0.0 in the JSON
