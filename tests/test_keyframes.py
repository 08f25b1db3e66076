"""The animation ops' keyframe math, on hand-computed numbers (no Blender)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evlm import keyframes as kf
from evlm.keyframes import Key

L = 2 * 2.5614  # Blender's tangent scale: a handle reaches gap * 2 / L along the frame axis


def approx_keys(actual: list[Key], expected: list[Key], tol: float = 1e-9) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a.frame == pytest.approx(e.frame, abs=tol) and a.value == pytest.approx(e.value, abs=tol)
        assert a.left == pytest.approx(e.left, abs=tol), (a, e)
        assert a.right == pytest.approx(e.right, abs=tol), (a, e)
        assert (a.interpolation, a.easing, a.left_type, a.right_type) == (
            e.interpolation,
            e.easing,
            e.left_type,
            e.right_type,
        )


def free(frame: float, value: float, left: tuple, right: tuple, **kw) -> Key:
    return Key(frame, value, left, right, left_type="FREE", right_type="FREE", **kw)


CURVE = [free(10, 5, (8, 4), (12, 6)), free(20, 1, (18, 1), (22, 1), interpolation="LINEAR")]


def test_key_defaults_and_validation() -> None:
    k = Key(5, 2)
    assert k.left == (4.0, 2.0) and k.right == (6.0, 2.0)
    assert (k.interpolation, k.easing, k.left_type, k.right_type) == ("BEZIER", "AUTO", "AUTO_CLAMPED", "AUTO_CLAMPED")
    for bad in (
        dict(frame=math.nan, value=0),
        dict(frame=0, value=math.inf),
        dict(frame=0, value=0, left=(1, 2, 3)),
        dict(frame=0, value=0, right=(1, math.nan)),
        dict(frame=0, value=0, interpolation="SMOOTH"),
        dict(frame=0, value=0, easing="EASE"),
        dict(frame=0, value=0, left_type="AUTOMATIC"),
        dict(frame="1", value=0),
        dict(frame=True, value=0),
    ):
        with pytest.raises(ValueError):
            Key(**bad)


def test_retime_scales_frames_and_handles_about_the_pivot() -> None:
    out = kf.retime(CURVE, 2.0, 10.0)
    approx_keys(out, [free(10, 5, (6, 4), (14, 6)), free(30, 1, (26, 1), (34, 1), interpolation="LINEAR")])
    out = kf.retime(CURVE, 0.5, 0.0)
    approx_keys(out, [free(5, 5, (4, 4), (6, 6)), free(10, 1, (9, 1), (11, 1), interpolation="LINEAR")])
    assert CURVE[0].frame == 10  # input untouched
    for factor in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="factor"):
            kf.retime(CURVE, factor, 0.0)


def test_shift_moves_keys_and_handles() -> None:
    approx_keys(
        kf.shift(CURVE, -3),
        [free(7, 5, (5, 4), (9, 6)), free(17, 1, (15, 1), (19, 1), interpolation="LINEAR")],
    )
    with pytest.raises(ValueError):
        kf.shift(CURVE, math.nan)


def test_scale_amplitude_about_the_first_value() -> None:
    # first value 5: 1 -> 5 + 2 * (1 - 5) = -3; handles 4 -> 3, 6 -> 7
    approx_keys(
        kf.scale_amplitude(CURVE, 2.0),
        [free(10, 5, (8, 3), (12, 7)), free(20, -3, (18, -3), (22, -3), interpolation="LINEAR")],
    )
    flat = kf.scale_amplitude(CURVE, 0.0)
    assert {k.value for k in flat} == {5.0} and {k.left[1] for k in flat} == {5.0}
    assert kf.scale_amplitude([], 3.0) == []


def test_scale_values_and_offset() -> None:
    approx_keys(
        kf.scale_values(CURVE, 3.0, 0.0),
        [free(10, 15, (8, 12), (12, 18)), free(20, 3, (18, 3), (22, 3), interpolation="LINEAR")],
    )
    approx_keys(
        kf.offset_values(CURVE, -1.5),
        [free(10, 3.5, (8, 2.5), (12, 4.5)), free(20, -0.5, (18, -0.5), (22, -0.5), interpolation="LINEAR")],
    )


def test_auto_clamped_handles_follow_blenders_rule() -> None:
    keys = kf.auto_handles([Key(0, 0), Key(10, 5), Key(30, 10)])
    # middle: tangent (2, 5/20 + 5/10); handles reach 10 * 2 / L and 20 * 2 / L frames
    assert keys[1].left == pytest.approx((10 - 20 / L, 5 - 0.75 * 10 / L))
    assert keys[1].right == pytest.approx((10 + 40 / L, 5 + 0.75 * 20 / L))
    # ends: neighbour mirrored through the key; flat with constant extrapolation
    assert keys[0].left == pytest.approx((-20 / L, 0)) and keys[0].right == pytest.approx((20 / L, 0))
    assert keys[2].left == pytest.approx((30 - 40 / L, 10)) and keys[2].right == pytest.approx((30 + 40 / L, 10))
    # linear extrapolation: the end keeps the slope of its segment (5 / 10 per frame)
    first = kf.auto_handles([Key(0, 0), Key(10, 5), Key(30, 10)], "LINEAR")[0]
    assert first.right == pytest.approx((20 / L, 0.5 * 20 / L))


def test_auto_clamped_extreme_is_flat_and_auto_is_not() -> None:
    clamped = kf.auto_handles([Key(0, 0), Key(10, 2), Key(20, 1)])[1]
    assert clamped.left == pytest.approx((10 - 20 / L, 2)) and clamped.right == pytest.approx((10 + 20 / L, 2))
    auto = kf.auto_handles([Key(0, 0), Key(10, 2, left_type="AUTO", right_type="AUTO"), Key(20, 1)])[1]
    # tangent y: -1/10 + 2/10 = 0.1
    assert auto.left == pytest.approx((10 - 20 / L, 2 - 0.1 * 10 / L))


def test_auto_clamped_never_overshoots_and_keeps_the_tangent() -> None:
    # prev gap 10 is capped at 5x the next gap (1): left handle at 10 - 2 * 5 / L, its value clamped
    # to the previous key's 0; the right handle follows the clamped slope: 1 + 1 * 0.2
    k = kf.auto_handles([Key(0, 0), Key(10, 1), Key(11, 10)])[1]
    assert k.left == pytest.approx((10 - 10 / L, 0))
    assert k.right == pytest.approx((10 + 2 / L, 1.2))
    # Blender moves the other handle even when it is not automatic: here a FREE one 0.5 frames out
    mixed = kf.auto_handles([Key(0, 0), Key(10, 1, right=(10.5, 7), right_type="FREE"), Key(11, 10)])[1]
    assert mixed.right == pytest.approx((10.5, 1 + 0.5 / (10 / L)))


def test_vector_and_free_handles() -> None:
    keys = [Key(0, 2), Key(10, 5, (1, 1), (2, 2), left_type="VECTOR", right_type="VECTOR"), Key(16, 8)]
    k = kf.auto_handles(keys)[1]
    assert k.left == pytest.approx((10 - 10 / 3, 4)) and k.right == pytest.approx((12, 6))
    approx_keys(kf.auto_handles(CURVE), CURVE)  # FREE handles are kept


def test_insert_key_between_and_after() -> None:
    base = kf.auto_handles([Key(0, 0, interpolation="LINEAR"), Key(10, 5, interpolation="CONSTANT")])
    out = kf.insert_key(base, 20, 0)
    assert [k.frame for k in out] == [0, 10, 20]
    assert out[2].interpolation == "CONSTANT"  # the key before it
    assert out[1].left == pytest.approx((10 - 20 / L, 5))  # the old last key is now a peak: flat
    approx_keys(out, kf.auto_handles(out))
    mid = kf.insert_key(base, 4, 1)
    assert [k.frame for k in mid] == [0, 4, 10] and mid[1].interpolation == "LINEAR"
    assert (mid[1].left_type, mid[1].right_type) == ("AUTO_CLAMPED", "AUTO_CLAMPED")
    first = kf.insert_key(base, -5, 3)
    assert first[0].frame == -5 and first[0].interpolation == "BEZIER"
    assert kf.insert_key([], 7, 2) == [Key(7, 2, (7 - 2 / L, 2), (7 + 2 / L, 2))]


def test_insert_key_on_an_existing_frame_sets_its_value() -> None:
    out = kf.insert_key(CURVE, 10.004, 7)  # within Blender's 0.01 frame threshold
    assert len(out) == 2 and out[0].frame == 10
    assert out[0].value == 7 and out[0].left == (8, 6) and out[0].right == (12, 8)  # FREE handles move with it


def test_delete_key_nearest_within_tolerance() -> None:
    keys = kf.auto_handles([Key(0, 0), Key(10, 5), Key(20, 0)])
    out = kf.delete_key(keys, 10.3)
    assert [k.frame for k in out] == [0, 20]
    approx_keys(out, kf.auto_handles([Key(0, 0), Key(20, 0)]))
    with pytest.raises(LookupError, match="keys at: 0, 10, 20"):
        kf.delete_key(keys, 11)
    assert kf.find_key(keys, 19.6) == 2 and kf.find_key(keys, 15) is None
    assert kf.find_key(keys, 15, tolerance=5) in (1, 2)


def test_set_interpolation_linear_keeps_handles() -> None:
    out = kf.set_interpolation(CURVE, "LINEAR", "EASE_IN")
    assert [(k.interpolation, k.easing) for k in out] == [("LINEAR", "EASE_IN")] * 2
    assert [(k.left, k.right) for k in out] == [(k.left, k.right) for k in CURVE]


def test_set_interpolation_bezier_easing_shapes_handles() -> None:
    keys = kf.auto_handles([Key(0, 0), Key(10, 5), Key(30, 10)])
    ease_in = kf.set_interpolation(keys, "BEZIER", "EASE_IN")
    for k, before in zip(ease_in[:-1], keys, strict=False):
        assert k.right == (before.right[0], k.value)  # leaves slowly
        assert k.left == pytest.approx(before.left)  # arrives as before, its handle now manual
        assert (k.left_type, k.right_type) == ("FREE", "FREE")
    assert ease_in[-1] == replace(keys[-1], easing="EASE_IN")  # after the last key there is no motion to ease
    ease_out = kf.set_interpolation(keys, "BEZIER", "EASE_OUT")
    for k, before in zip(ease_out[1:], keys[1:], strict=True):
        assert k.left == (before.left[0], k.value) and k.right == pytest.approx(before.right)  # arrives slowly
        assert (k.left_type, k.right_type) == ("FREE", "FREE")
    assert ease_out[0] == replace(keys[0], easing="EASE_OUT")
    both = kf.set_interpolation(keys, "BEZIER", "EASE_IN_OUT")
    assert all(k.left[1] == k.right[1] == k.value for k in both)
    assert {(k.left_type, k.right_type) for k in both} == {("ALIGNED", "ALIGNED")}
    back = kf.set_interpolation(both, "BEZIER", "AUTO")
    approx_keys(back, keys)  # AUTO restores Blender's automatic clamped handles
    with pytest.raises(ValueError, match="interpolation"):
        kf.set_interpolation(keys, "SMOOTH")
    with pytest.raises(ValueError, match="easing"):
        kf.set_interpolation(keys, "LINEAR", "SLOW")


def test_bad_key_lists_are_rejected() -> None:
    with pytest.raises(ValueError, match="frame order"):
        kf.shift([Key(5, 0), Key(1, 0)], 1)
    with pytest.raises(TypeError):
        kf.shift([(1, 0)], 1)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        kf.shift("keys", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extrapolation"):
        kf.auto_handles(CURVE, "CYCLIC")


values = st.floats(-100, 100, allow_nan=False)


@st.composite
def auto_curves(draw) -> list[Key]:
    gaps = draw(st.lists(st.floats(0.5, 20), min_size=1, max_size=6))
    start = draw(st.floats(-50, 50))
    frames = [start + sum(gaps[:i]) for i in range(len(gaps) + 1)]
    types = st.sampled_from(["AUTO", "AUTO_CLAMPED"])
    return kf.auto_handles([Key(f, draw(values), left_type=(t := draw(types)), right_type=t) for f in frames])


@settings(max_examples=60, deadline=None)
@given(auto_curves(), st.floats(0.05, 20), st.floats(-50, 50), st.floats(-50, 50), st.floats(0.05, 10))
def test_moving_keys_keeps_automatic_handles_consistent(keys, factor, pivot, delta, gain) -> None:
    # Transforming handles with the keys gives what recomputing them would: the shape is kept.
    for moved in (
        kf.retime(keys, factor, pivot),
        kf.shift(keys, delta),
        kf.scale_values(keys, gain, pivot),
        kf.offset_values(keys, delta),
    ):
        approx_keys(moved, kf.auto_handles(moved), tol=1e-6 * (1 + max(abs(k.value) + abs(k.frame) for k in keys)))
