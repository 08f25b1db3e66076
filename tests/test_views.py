"""Camera geometry, set-of-marks drawing and image codecs of evlm.views, on hand-computed numbers."""

from __future__ import annotations

import io
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evlm.scene import Mark
from evlm.views import (
    ACTIVE_CAMERA_LABEL,
    ORBIT_ELEVATION_DEG,
    ORBIT_FILL,
    box_corners,
    camera_intrinsics,
    decode_bmp,
    draw_marks,
    encode_png,
    frame_samples,
    look_at,
    mark_scale,
    orbit_cameras,
    orbit_label,
    orbit_poses,
    project,
    project_box,
)

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_scene"
K384 = [50 / 36 * 384, 50 / 36 * 384, 192.0, 192.0]  # a 50 mm lens on a 36 mm sensor, 384 px square


# ---------------------------------------------------------------- cameras


def test_look_at_matches_blender_camera_axes() -> None:
    # A camera at -Y looking at the origin is Blender's rotation (90°, 0, 0): X right, Y = world Z, Z = world -Y.
    pose = look_at((0, -5, 0), (0, 0, 0))
    expected = np.array([[1, 0, 0, 0], [0, 0, -1, -5], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    np.testing.assert_allclose(pose, expected, atol=1e-12)


def test_look_at_straight_down_uses_world_y_as_up() -> None:
    pose = look_at((0, 0, 10), (0, 0, 0))
    np.testing.assert_allclose(pose[:3, :3], np.eye(3), atol=1e-12)  # Blender's top view: camera unrotated
    np.testing.assert_allclose(pose[:3, 3], (0, 0, 10))


def test_look_at_rejects_degenerate_input() -> None:
    with pytest.raises(ValueError, match="same point"):
        look_at((1, 2, 3), (1, 2, 3))
    with pytest.raises(ValueError, match="zero vector"):
        look_at((0, 0, 1), (0, 0, 0), up=(0, 0, 0))
    with pytest.raises(ValueError, match="eye must be 3 finite"):
        look_at((0, math.nan, 1), (0, 0, 0))


def test_intrinsics_follow_blender_sensor_fit() -> None:
    assert camera_intrinsics(256, 256, 50) == pytest.approx([355.5556, 355.5556, 128, 128], abs=1e-4)  # sample views
    # AUTO: the sensor width spans the longer side, landscape or portrait.
    assert camera_intrinsics(1920, 1080, 50)[:2] == pytest.approx([50 / 36 * 1920] * 2)
    assert camera_intrinsics(1080, 1920, 50)[:2] == pytest.approx([50 / 36 * 1920] * 2)
    assert camera_intrinsics(1920, 1080, 50, sensor_fit="HORIZONTAL")[0] == pytest.approx(50 / 36 * 1920)
    assert camera_intrinsics(1920, 1080, 50, sensor_fit="VERTICAL")[0] == pytest.approx(50 / 24 * 1080)
    # Shift is in units of the fitted side; +Y shift moves the content down (cy grows).
    assert camera_intrinsics(200, 100, 50, shift_x=0.1, shift_y=0.2)[2:] == pytest.approx([100 - 20, 50 + 40])


def test_intrinsics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="width"):
        camera_intrinsics(0, 10, 50)
    with pytest.raises(ValueError, match="lens_mm"):
        camera_intrinsics(10, 10, -1)
    with pytest.raises(ValueError, match="sensor_fit"):
        camera_intrinsics(10, 10, 50, sensor_fit="DIAGONAL")


# ---------------------------------------------------------------- projection


def test_point_straight_ahead_projects_to_the_centre() -> None:
    pose = look_at((3, -4, 2), (0, 0, 1))
    uv, visible = project([[0, 0, 1]], pose, K384, 384, 384)
    np.testing.assert_allclose(uv, [[0.5, 0.5]], atol=1e-12)
    assert visible.tolist() == [True]


def test_projection_x_right_y_down() -> None:
    pose = np.eye(4)  # at the origin looking down -Z, +Y up
    f = K384[0]
    uv, visible = project([[1, 0, -10], [0, 1, -10], [0, 0, 10], [100, 0, -10]], pose, K384, 384, 384)
    np.testing.assert_allclose(uv[0], [(192 + f * 0.1) / 384, 0.5])  # right of centre
    np.testing.assert_allclose(uv[1], [0.5, (192 - f * 0.1) / 384])  # above centre: smaller y
    assert np.isnan(uv[2]).all()  # behind the camera
    assert visible.tolist() == [True, True, False, False]  # the last one is off-frame


def test_projection_accepts_row_major_pose_list() -> None:
    pose = look_at((0, -5, 0), (0, 0, 0))
    uv_a, _ = project([[0.5, 0, 0.2]], pose, K384, 384, 384)
    uv_b, _ = project([[0.5, 0, 0.2]], pose.reshape(-1).tolist(), K384, 384, 384)
    np.testing.assert_allclose(uv_a, uv_b)
    with pytest.raises(ValueError, match="4x4"):
        project([[0, 0, 0]], [1, 2, 3], K384, 384, 384)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        project([[0, 0]], pose, K384, 384, 384)


def test_project_box_straight_ahead() -> None:
    # A 2 m cube 10 m ahead: its front face at 9 m spans ±f/9 pixels.
    f = K384[0]
    center, box = project_box(box_corners((-1, -1, -11), (1, 1, -9)), np.eye(4), K384, 384, 384)
    assert center == pytest.approx([0.5, 0.5])
    half = f / 9 / 384
    assert box == pytest.approx([0.5 - half, 0.5 - half, 0.5 + half, 0.5 + half])


def test_project_box_clips_at_the_camera_plane() -> None:
    # A box around the camera: its far half fills the frame; without clipping the corners behind
    # the camera would project mirrored, to a wrong, small box.
    center, box = project_box(box_corners((-1, -1, -5), (1, 1, 5)), np.eye(4), K384, 384, 384)
    assert box == [0.0, 0.0, 1.0, 1.0]
    assert center == pytest.approx([0.5, 0.5])
    assert project_box(box_corners((-1, -1, 1), (1, 1, 3)), np.eye(4), K384, 384, 384) is None  # behind
    assert project_box(box_corners((50, -1, -11), (52, 1, -9)), np.eye(4), K384, 384, 384) is None  # off to the side


def test_project_box_partly_off_frame_centre_stays_inside() -> None:
    f = K384[0]
    x_edge = 192 / f * 10  # world x of the right frame edge at 10 m
    center, box = project_box(box_corners((x_edge - 0.2, -0.5, -10), (x_edge + 3, 0.5, -10)), np.eye(4), K384, 384, 384)
    assert box[2] == 1.0 and box[0] == pytest.approx((192 + f * (x_edge - 0.2) / 10) / 384)
    assert box[0] <= center[0] <= box[2]  # the box centre is off-frame: the clipped box's centre instead
    assert center[0] == pytest.approx((box[0] + 1) / 2)


@pytest.mark.parametrize("count", [1, 4, 6])
@pytest.mark.parametrize("size", [(384, 384), (320, 200)])
def test_orbit_poses_frame_the_whole_box_tightly(count: int, size: tuple[int, int]) -> None:
    w, h = size
    k = camera_intrinsics(w, h, 50)
    lo, hi = np.array([-1.7, -1.35, -0.02]), np.array([1.4, 1.35, 1.65])
    poses = orbit_poses(lo, hi, count, k, w, h, fill=0.9)
    assert len(poses) == count
    center = (lo + hi) / 2
    for pose in poses:
        uv, visible = project(box_corners(lo, hi), pose, k, w, h)
        assert visible.all()
        # Tight: inside the central 90% (about the principal point), and touching that limit.
        spread = np.abs(uv - 0.5).max() / 0.5
        assert spread <= 0.9 + 1e-9 and spread == pytest.approx(0.9, abs=1e-6)
        c, _ = project([center], pose, k, w, h)
        np.testing.assert_allclose(c, [[0.5, 0.5]], atol=1e-9)  # looks at the box centre


def test_orbit_poses_azimuth_and_elevation() -> None:
    poses = orbit_poses((-1, -1, -1), (1, 1, 1), 4, K384, 384, 384, elevation_deg=30)
    for i, pose in enumerate(poses):
        d = pose[:3, 3] / np.linalg.norm(pose[:3, 3])
        azimuth = math.radians(-45 + 90 * i)
        c = math.cos(math.radians(30))
        np.testing.assert_allclose(d, [c * math.cos(azimuth), c * math.sin(azimuth), 0.5], atol=1e-12)
    distances = [np.linalg.norm(p[:3, 3]) for p in poses]
    assert distances == pytest.approx([distances[0]] * 4)  # a cube looks the same from each side


def test_orbit_poses_match_the_sample_scene_cameras() -> None:
    """Orbit 0 of the built-in sample (rendered by real Blender) looks the same way as ours."""
    scene = json.loads((SAMPLE / "scene.json").read_text())
    view = json.loads((SAMPLE / "views" / "view_0.json").read_text())
    meshes = [o for o in scene["objects"] if o["type"] == "MESH"]
    lo = np.min([o["bbox_min"] for o in meshes], axis=0)
    hi = np.max([o["bbox_max"] for o in meshes], axis=0)
    ours = orbit_poses(lo, hi, 6, view["intrinsics"], view["width"], view["height"])[0]
    theirs = np.array(view["pose"]).reshape(4, 4)
    np.testing.assert_allclose(ours[:3, :3], theirs[:3, :3], atol=2e-4)


def test_orbit_poses_flat_and_point_boxes() -> None:
    # A flat floor seen at elevation 0 (edge-on) and a single point still give usable cameras.
    for lo, hi in (((-2, -2, 0), (2, 2, 0)), ((1, 1, 1), (1, 1, 1))):
        for pose in orbit_poses(lo, hi, 3, K384, 384, 384, elevation_deg=0):
            uv, visible = project(box_corners(lo, hi), pose, K384, 384, 384)
            assert visible.all()


def test_orbit_poses_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="below bbox_min"):
        orbit_poses((0, 0, 1), (1, 1, 0), 6, K384, 384, 384)
    with pytest.raises(ValueError, match="count"):
        orbit_poses((0, 0, 0), (1, 1, 1), 0, K384, 384, 384)
    with pytest.raises(ValueError, match="fill"):
        orbit_poses((0, 0, 0), (1, 1, 1), 6, K384, 384, 384, fill=1.5)
    with pytest.raises(ValueError, match="principal point"):
        orbit_poses((0, 0, 0), (1, 1, 1), 6, [100, 100, 500, 10], 384, 384)


def test_frame_samples() -> None:
    assert frame_samples(1, 48, 8) == [1, 8, 14, 21, 28, 35, 41, 48]
    assert frame_samples(1, 3, 8) == [1, 2, 3]  # fewer frames than asked: repeats dropped
    assert frame_samples(5, 5, 3) == [5]
    assert frame_samples(10, 20, 1) == [10]
    with pytest.raises(ValueError, match="before start"):
        frame_samples(10, 1, 2)
    with pytest.raises(ValueError, match="count"):
        frame_samples(1, 10, 0)


# ---------------------------------------------------------------- set-of-marks


def _mark(index: int, x: float, y: float) -> Mark:
    return Mark(index=index, object=f"obj{index}", center=[x, y])


def test_draw_mark_on_light_background_is_black_box_white_digit() -> None:
    img = np.full((64, 64, 3), 200, dtype=np.uint8)
    out = draw_marks(img, [_mark(7, 0.5, 0.5)])
    assert (img == 200).all()  # the input is left alone
    changed = np.argwhere((out != 200).any(axis=2))
    (t, left), (b, r) = changed.min(axis=0), changed.max(axis=0)
    assert (b - t + 1, r - left + 1) == (7, 5)  # scale 1: one 3x5 glyph plus a one-pixel margin
    label = out[t : b + 1, left : r + 1]
    ink = (label == 255).all(axis=2)
    assert ((label == 0).all(axis=2) | ink).all()  # only black box and white ink
    seven = np.array([[1, 1, 1], [0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(ink[1:6, 1:4], seven)
    assert abs((t + b) / 2 - 32) <= 1 and abs((left + r) / 2 - 32) <= 1  # centred on the mark


def test_draw_mark_on_dark_background_is_white_box_and_scales() -> None:
    img = np.zeros((384, 384, 3), dtype=np.uint8)
    out = draw_marks(img, [_mark(12, 0.25, 0.75)])
    assert mark_scale(384, 384) == 3
    changed = np.argwhere((out != 0).any(axis=2))
    (t, left), (b, r) = changed.min(axis=0), changed.max(axis=0)
    assert (b - t + 1, r - left + 1) == (7 * 3, 9 * 3)  # two glyphs, scaled 3x
    assert abs((left + r) / 2 - 96) <= 2 and abs((t + b) / 2 - 288) <= 2


def test_draw_marks_keeps_labels_inside_and_apart() -> None:
    img = np.full((64, 64, 3), 128, dtype=np.uint8)
    out = draw_marks(img, [_mark(1, 0.5, 0.5), _mark(2, 0.5, 0.5), _mark(3, 1.0, 1.0)])
    boxes = (out == 0).all(axis=2)  # the boxes are black on this mid-grey
    labels = []
    for index in (1, 2, 3):  # find each label by drawing it alone
        alone = (draw_marks(img, [_mark(index, 0.5, 0.5)]) != 128).any(axis=2)
        labels.append(alone.sum())
    assert boxes.sum() + (out == 255).all(axis=2).sum() == sum(labels)  # no label covers another
    assert (out[-1, -1] != 128).any()  # the corner mark is clamped into the image


def test_draw_marks_rejects_bad_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        draw_marks(np.zeros((4, 4, 3), dtype=np.float32), [])
    with pytest.raises(ValueError, match="scale"):
        draw_marks(np.zeros((4, 4, 3), dtype=np.uint8), [], scale=0)
    tiny = draw_marks(np.zeros((3, 3, 3), dtype=np.uint8), [_mark(5, 0.5, 0.5)])  # smaller than a label
    assert tiny.shape == (3, 3, 3)


# ---------------------------------------------------------------- image codecs


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 3, 3), (13, 17, 3), (64, 48, 4)])
def test_png_round_trips_through_pil(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_png(img)))
    decoded.load()
    assert decoded.mode == ("RGB" if shape[2] == 3 else "RGBA")
    np.testing.assert_array_equal(np.asarray(decoded), img)


def test_png_compresses_smooth_images() -> None:
    ramp = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (256, 256, 3)).copy()
    assert len(encode_png(ramp)) < 2000  # 196,608 raw bytes; the Sub filter turns it into ones


def test_png_rejects_bad_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), dtype=np.int32))
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="size"):
        encode_png(np.zeros((0, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="level"):
        encode_png(np.zeros((4, 4, 3), dtype=np.uint8), level=10)


@pytest.mark.parametrize("mode, width", [("RGB", 7), ("RGB", 8), ("RGBA", 5)])
def test_bmp_decodes_pil_files(mode: str, width: int) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(6, width, len(mode)), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, mode).save(buf, "BMP")
    np.testing.assert_array_equal(decode_bmp(buf.getvalue()), img[:, :, :3])


def test_bmp_top_down_and_errors() -> None:
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    stride = 12  # 9 bytes of pixels padded to 12
    rows = b"".join(img[y, :, ::-1].tobytes() + b"\0" * 3 for y in range(2))  # BGR, top row first
    header = b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 3, -2, 1, 24, 0, stride * 2, 0, 0, 0, 0)  # negative height: top-down
    np.testing.assert_array_equal(decode_bmp(header + info + rows), img)
    with pytest.raises(ValueError, match="truncated"):
        decode_bmp(header + info + rows[:-5])
    with pytest.raises(ValueError, match="not a BMP"):
        decode_bmp(b"\x89PNG" + b"\0" * 60)
    paletted = header + struct.pack("<IiiHHIIiiII", 40, 3, 2, 1, 8, 0, 0, 0, 0, 0, 0) + rows
    with pytest.raises(ValueError, match="8 bits"):
        decode_bmp(paletted)


def test_orbit_cameras_are_the_orbit_lens_and_poses() -> None:
    poses, k = orbit_cameras((-1, -1, 0), (1, 1, 1), 4, 384)
    assert k == pytest.approx(K384)
    expected = orbit_poses((-1, -1, 0), (1, 1, 1), 4, K384, 384, 384, ORBIT_ELEVATION_DEG, fill=ORBIT_FILL)
    for a, b in zip(poses, expected, strict=True):
        np.testing.assert_allclose(a, b)
    assert (orbit_label(3), ACTIVE_CAMERA_LABEL) == ("orbit 3", "active camera")
