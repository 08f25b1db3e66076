"""evlm.marks: the one set-of-marks semantics (which objects, where, what numbers), on hand-made ID passes."""

from __future__ import annotations

import numpy as np
import pytest

from evlm.marks import (
    MAX_ID,
    MIN_MARK_PIXELS,
    deep_point,
    id_color,
    ids_from_rgb,
    inner_distance,
    marks_from_ids,
    number_marks,
)


def brute_distance(mask: np.ndarray) -> np.ndarray:
    """City-block distance to the nearest pixel outside the mask (or outside the array), pixel by pixel."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=int)
    outside = [(y, x) for y in range(h) for x in range(w) if not mask[y, x]]
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                border = min(y + 1, x + 1, h - y, w - x)
                out[y, x] = min([border] + [abs(y - b) + abs(x - a) for b, a in outside])
    return out


def eroded_point(mask: np.ndarray) -> tuple[int, int]:
    """The definition: erode by a 3x3 cross while anything is left; of what is left, the pixel
    nearest its centroid."""
    core = mask.copy()
    while True:
        inner = core.copy()
        inner[1:, :] &= core[:-1, :]
        inner[:-1, :] &= core[1:, :]
        inner[:, 1:] &= core[:, :-1]
        inner[:, :-1] &= core[:, 1:]
        inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
        if not inner.any():
            break
        core = inner
    ys, xs = np.nonzero(core)
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(ys[i]), int(xs[i])


def test_inner_distance_and_deep_point_match_their_definitions() -> None:
    rng = np.random.default_rng(7)
    for _ in range(80):
        h, w = (int(v) for v in rng.integers(1, 14, 2))
        mask = rng.random((h, w)) < rng.uniform(0.3, 1.0)
        np.testing.assert_array_equal(inner_distance(mask), brute_distance(mask))
        if mask.any():
            assert deep_point(mask) == eroded_point(mask)
    with pytest.raises(ValueError, match="non-empty"):
        deep_point(np.zeros((3, 3), dtype=bool))


def test_id_colours_read_back_through_small_errors() -> None:
    ids = np.array([[0, 1, 2], [31, 32, 1023], [1024, 20000, MAX_ID]])
    rgb = np.zeros((*ids.shape, 3), dtype=np.uint8)
    for (y, x), i in np.ndenumerate(ids):
        if i:
            rgb[y, x] = id_color(int(i))
    assert all(c % 8 == 4 for i in ids.ravel() if i for c in id_color(int(i)))
    np.testing.assert_array_equal(ids_from_rgb(rgb), ids)
    noise = np.random.default_rng(0).integers(-3, 4, rgb.shape)
    noisy = np.where(rgb > 0, rgb.astype(int) + noise, rgb).astype(np.uint8)  # rounding, colour transforms
    np.testing.assert_array_equal(ids_from_rgb(noisy), ids)
    for bad in (0, MAX_ID + 1, True, 1.0):
        with pytest.raises(ValueError, match="object id"):
            id_color(bad)
    with pytest.raises(ValueError, match="ID pass"):
        ids_from_rgb(np.zeros((2, 2), dtype=np.uint8))


def test_marks_are_numbered_by_name() -> None:
    assert number_marks(["Lamp", "Cube.003", "chair_02", "Floor", "Cube.003"]) == {
        "Cube.003": 1,
        "Floor": 2,
        "Lamp": 3,
        "chair_02": 4,
    }


def test_marks_from_an_id_pass() -> None:
    h, w = 40, 50
    ids = np.zeros((h, w), dtype=np.int64)
    ids[5:15, 5:25] = 1  # a box
    ids[20:36, 30:46] = 2  # a ring: its centre is on the ring, not in the hole
    ids[24:32, 34:42] = 0
    ids[2:4, 40:42] = 3  # 4 pixels: too few to carry a mark
    ids[30:38, 2:10] = 4  # shown, but not a marked object (a floor)
    ids[10:12, 10:12] = 5  # an object hidden behind the box but for 4 pixels
    objects = [(1, 7, "Box"), (2, 3, "Ring"), (3, 9, "Speck"), (5, 4, "Hidden"), (6, 5, "Offscreen")]
    marks = marks_from_ids(ids, objects)
    assert [(m.index, m.object) for m in marks] == [(3, "Ring"), (7, "Box")]  # sorted by mark number
    ring, box = marks
    assert box.box == [0.1, 0.125, 0.5, 0.375] and ring.box == [0.6, 0.5, 0.92, 0.9]
    cx, cy = round(box.center[0] * w - 0.5), round(box.center[1] * h - 0.5)
    assert ids[cy, cx] == 1 and 5 <= cy < 15 and 5 <= cx < 25
    cx, cy = round(ring.center[0] * w - 0.5), round(ring.center[1] * h - 0.5)
    assert ids[cy, cx] == 2  # on the ring
    assert all(v == round(v, 4) for m in marks for v in (*m.center, *m.box))
    ids[2:4, 40:43] = 3  # 6 pixels: enough
    assert MIN_MARK_PIXELS == 6 and "Speck" in [m.object for m in marks_from_ids(ids, objects)]
    assert marks_from_ids(ids, objects, min_pixels=200) == []  # the box shows 196 pixels, the ring 192
    with pytest.raises(ValueError, match="integer array"):
        marks_from_ids(ids.astype(float), objects)
