"""evlm.transforms: the four mode/space branches of translate, rotate and scale, on numbers
worked out by hand (a parent at (1, 2, 3), turned 90 degrees about Z, scaled 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evlm.transforms import compose, decompose, euler_matrix, euler_xyz, rotated, scaled, translated

RZ90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # (x, y, z) -> (-y, x, z)
RX90 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
PARENT = compose([1, 2, 3], RZ90, [2, 2, 2])
BASIS = compose([1, 0, 0], np.eye(3), [1, 1, 1])  # the child's origin is at (1, 4, 3) in the world


def test_euler_matrix_is_blenders_xyz_order() -> None:
    assert euler_matrix([0, 0, math.pi / 2]) == pytest.approx(RZ90)
    assert euler_matrix([math.pi / 2, 0, 0]) == pytest.approx(RX90)
    # X first, then Z, about fixed axes: X stays and then turns to Y; Y turns to Z, which Z keeps
    m = euler_matrix([math.pi / 2, 0, math.pi / 2])
    assert m @ [1, 0, 0] == pytest.approx([0, 1, 0]) and m @ [0, 1, 0] == pytest.approx([0, 0, 1])
    angles = [0.3, -0.7, 2.5]
    assert euler_xyz(euler_matrix(angles)) == pytest.approx(angles)
    assert euler_xyz(euler_matrix([0.2, math.pi / 2, 0]))[1] == pytest.approx(math.pi / 2)  # gimbal lock


def test_decompose_and_compose() -> None:
    loc, rot, scale = decompose(compose([1, 2, 3], RZ90, [-2, 3, 4]))  # mirrored in X
    assert loc == pytest.approx([1, 2, 3]) and rot == pytest.approx(RZ90) and scale == pytest.approx([-2, 3, 4])
    assert compose(loc, rot, scale) == pytest.approx(compose([1, 2, 3], RZ90, [-2, 3, 4]))


def test_translate_the_four_branches() -> None:
    assert (PARENT @ BASIS)[:3, 3] == pytest.approx([1, 4, 3])
    # relative world: 2 m up in the world is 1 m up in the parent's frame (scaled 2)
    assert translated(PARENT, BASIS, [0, 0, 2], "relative", "world") == pytest.approx([1, 0, 1])
    # relative local: 1 m along the child's X axis, which lies along world +Y: world (1, 5, 3)
    loc = translated(PARENT, BASIS, [1, 0, 0], "relative", "local")
    assert loc == pytest.approx([1.5, 0, 0])
    assert (PARENT @ compose(loc, np.eye(3), [1, 1, 1]))[:3, 3] == pytest.approx([1, 5, 3])
    # absolute world: the origin goes to the world's origin
    loc = translated(PARENT, BASIS, [0, 0, 0], "absolute", "world")
    assert loc == pytest.approx([-1, 0.5, -1.5])
    assert (PARENT @ compose(loc, np.eye(3), [1, 1, 1]))[:3, 3] == pytest.approx([0, 0, 0])
    # absolute local: the basis location itself
    assert translated(PARENT, BASIS, [7, 8, 9], "absolute", "local") == pytest.approx([7, 8, 9])
    # without a parent, world and local locations are the same thing
    assert translated(np.eye(4), BASIS, [0, 0, 2], "relative", "world") == pytest.approx([1, 0, 2])


def test_rotate_the_four_branches() -> None:
    # relative world about X: the world rotation becomes RX90 @ RZ90, so the basis R with
    # RZ90 @ R = RX90 @ RZ90: R = RZ90^T RX90 RZ90, a turn of 90 degrees about -Y
    r = rotated(PARENT, np.eye(3), [90, 0, 0], "relative", "world")
    assert r == pytest.approx(euler_matrix([0, -math.pi / 2, 0]))
    assert RZ90 @ r == pytest.approx(RX90 @ RZ90)
    # absolute world: the parent is already turned 90 degrees about Z, so nothing is left to the child
    assert rotated(PARENT, RX90, [0, 0, 90], "absolute", "world") == pytest.approx(np.eye(3))
    # relative local: after the object's own rotation
    assert rotated(PARENT, RZ90, [90, 0, 0], "relative", "local") == pytest.approx(RZ90 @ RX90)
    # absolute local: the basis rotation is the turn
    assert rotated(PARENT, RZ90, [90, 0, 0], "absolute", "local") == pytest.approx(RX90)


def test_scale_relative_and_absolute() -> None:
    assert scaled([2, 3, 4], [0.5, 1, 2], "relative") == pytest.approx([1, 3, 8])
    assert scaled([2, 3, 4], [0.5, 1, 2], "absolute") == pytest.approx([0.5, 1, 2])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        translated(PARENT, BASIS, [0, 0, 1], "sideways", "world")
    with pytest.raises(ValueError, match="space must be one of"):
        rotated(PARENT, np.eye(3), [0, 0, 1], "relative", "screen")
    with pytest.raises(ValueError, match="4x4"):
        translated(np.eye(3), BASIS, [0, 0, 1], "relative", "world")
    with pytest.raises(ValueError, match="3 finite numbers"):
        scaled([1, 1, 1], [1, math.nan, 1], "relative")
