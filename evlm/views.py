"""Camera geometry and image helpers for capturing views (pure: numpy only, no bpy, no PIL).

The Blender add-on renders the views; everything that does not need Blender lives here so it is
tested without it: orbit camera poses that frame a bounding box, pinhole intrinsics computed the
way Blender computes its view plane, projection of world points to normalized view coordinates,
the set-of-marks overlay, and image encoding (Blender's Python has no PIL).

Conventions (those of `evlm.scene.View`):
- a pose is a camera-to-world 4x4 matrix; the camera looks down its local -Z, +Y is up, +X right;
- intrinsics are [fx, fy, cx, cy] in pixels, pixel (0, 0) being the top-left corner of the image;
- view coordinates are normalized: x = pixel x / width (right), y = pixel y / height (DOWN).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence

import numpy as np

from evlm.scene import Mark

SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")
WORLD_UP = (0.0, 0.0, 1.0)  # Blender is Z-up
# The orbit views every renderer takes (Blender capture, evlm-synth, evlm-batch's mesh files).
ORBIT_LENS_MM, ORBIT_SENSOR_MM = 50.0, 36.0
ORBIT_ELEVATION_DEG = 28.0
ORBIT_FILL = 0.9  # the framed box spans at most 90% of each orbit view
ACTIVE_CAMERA_LABEL = "active camera"  # the view from the scene's camera (the prompt shows the label)


def orbit_label(index: int) -> str:
    return f"orbit {index}"


def _vec(value: Sequence[float] | np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be {n} finite numbers, got {value!r}")
    return arr


def _size(width: int, height: int) -> None:
    for what, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{what} must be a positive integer, got {v!r}")


# ---------------------------------------------------------------- cameras


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = WORLD_UP) -> np.ndarray:
    """Camera-to-world matrix of a camera at `eye` looking at `target`, its +Y towards `up`.

    When the view direction is parallel to `up` (straight down or up), world +Y serves as up.
    """
    eye_, target_, up_ = _vec(eye, 3, "eye"), _vec(target, 3, "target"), _vec(up, 3, "up")
    forward = target_ - eye_
    norm = np.linalg.norm(forward)
    if norm < 1e-12:
        raise ValueError("eye and target are the same point")
    forward /= norm
    if np.linalg.norm(up_) < 1e-12:
        raise ValueError("up must not be the zero vector")
    right = np.cross(forward, up_ / np.linalg.norm(up_))
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, (0.0, 1.0, 0.0) if abs(forward[1]) < 0.9 else (1.0, 0.0, 0.0))
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, forward)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, cam_up, -forward, eye_
    return pose


def camera_intrinsics(
    width: int,
    height: int,
    lens_mm: float,
    sensor_width_mm: float = 36.0,
    sensor_height_mm: float = 24.0,
    sensor_fit: str = "AUTO",
    shift_x: float = 0.0,
    shift_y: float = 0.0,
) -> list[float]:
    """Pinhole [fx, fy, cx, cy] in pixels of a Blender perspective camera (square pixels).

    As Blender's view plane: with AUTO fit the sensor width spans the longer image side; with
    HORIZONTAL the sensor width spans the width, with VERTICAL the sensor height spans the height.
    Shift is in units of that fitted side; +shift_y moves the image content down.
    """
    _size(width, height)
    if sensor_fit not in SENSOR_FITS:
        raise ValueError(f"sensor_fit must be one of {SENSOR_FITS}, got {sensor_fit!r}")
    for what, v in (("lens_mm", lens_mm), ("sensor_width_mm", sensor_width_mm), ("sensor_height_mm", sensor_height_mm)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ValueError(f"{what} must be a positive number, got {v!r}")
    if not all(isinstance(s, int | float) and math.isfinite(s) for s in (shift_x, shift_y)):
        raise ValueError("shift_x and shift_y must be finite numbers")
    fit = sensor_fit if sensor_fit != "AUTO" else ("HORIZONTAL" if width >= height else "VERTICAL")
    fitted_px = width if fit == "HORIZONTAL" else height
    sensor = sensor_height_mm if sensor_fit == "VERTICAL" else sensor_width_mm  # AUTO uses the width
    f = lens_mm / sensor * fitted_px
    return [f, f, width / 2 - shift_x * fitted_px, height / 2 + shift_y * fitted_px]


def _intrinsics(intrinsics: Sequence[float]) -> np.ndarray:
    k = _vec(intrinsics, 4, "intrinsics")
    if k[0] <= 0 or k[1] <= 0:
        raise ValueError(f"focal lengths must be positive, got {list(k[:2])}")
    return k


def _pose(pose: Sequence[float] | np.ndarray) -> np.ndarray:
    m = np.asarray(pose, dtype=np.float64)
    if m.shape == (16,):
        m = m.reshape(4, 4)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise ValueError("pose must be a finite 4x4 matrix (or 16 numbers, row-major)")
    return m


def orbit_poses(
    bbox_min: Sequence[float],
    bbox_max: Sequence[float],
    count: int,
    intrinsics: Sequence[float],
    width: int,
    height: int,
    elevation_deg: float = 28.0,
    start_azimuth_deg: float = -45.0,
    fill: float = 0.9,
) -> list[np.ndarray]:
    """`count` camera-to-world poses evenly spaced in azimuth around an axis-aligned box.

    Every camera looks at the box centre from `elevation_deg` above the horizontal plane; view 0
    sits at `start_azimuth_deg` (-45: the +X, -Y side, where Blender's default camera is) and the
    next ones go counter-clockwise seen from above. Each camera is as close as it can be with all
    eight corners inside the central `fill` fraction of the frame (given the intrinsics and image
    size), so the box fills the picture whatever its shape.
    """
    lo, hi = _vec(bbox_min, 3, "bbox_min"), _vec(bbox_max, 3, "bbox_max")
    if np.any(hi < lo):
        raise ValueError(f"bbox_max {list(hi)} is below bbox_min {list(lo)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if not (isinstance(fill, int | float) and 0 < fill <= 1):
        raise ValueError(f"fill must be in (0, 1], got {fill!r}")
    if not (isinstance(elevation_deg, int | float) and -90 <= elevation_deg <= 90):
        raise ValueError(f"elevation_deg must be in [-90, 90], got {elevation_deg!r}")
    _size(width, height)
    fx, fy, cx, cy = _intrinsics(intrinsics)
    # Tangents of the four half-angles of the frustum, shrunk to the fill fraction.
    tangents = np.array([(width - cx) / fx, cx / fx, cy / fy, (height - cy) / fy]) * fill
    if np.any(tangents <= 0):
        raise ValueError("the principal point must lie inside the image")
    center = (lo + hi) / 2
    corners = box_corners(lo, hi) - center
    radius = float(np.linalg.norm(hi - lo)) / 2
    elevation = math.radians(elevation_deg)
    poses = []
    for i in range(count):
        azimuth = math.radians(start_azimuth_deg) + 2 * math.pi * i / count
        outward = np.array(
            [math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)]
        )
        axes = look_at(center + outward, center)
        right, up, forward = axes[:3, 0], axes[:3, 1], -axes[:3, 2]
        x, y, along = corners @ right, corners @ up, corners @ forward
        # A corner at camera depth d + along fits when x <= t_right * depth, -x <= t_left * depth, ...
        needed = np.concatenate([x / tangents[0], -x / tangents[1], y / tangents[2], -y / tangents[3]]) - np.tile(
            along, 4
        )
        # Also keep every corner clearly in front of the camera (a box seen exactly edge-on).
        distance = max(float(needed.max()), float((-along).max()) + 0.05 * radius, 1e-3)
        poses.append(look_at(center + outward * distance, center))
    return poses


def orbit_cameras(
    bbox_min: Sequence[float], bbox_max: Sequence[float], count: int, size: int
) -> tuple[list[np.ndarray], list[float]]:
    """The orbit views of a box: `count` poses (`orbit_poses` with the orbit lens, elevation and
    fill) and their intrinsics, for square views of `size` pixels."""
    intrinsics = camera_intrinsics(size, size, ORBIT_LENS_MM, ORBIT_SENSOR_MM)
    poses = orbit_poses(bbox_min, bbox_max, count, intrinsics, size, size, ORBIT_ELEVATION_DEG, fill=ORBIT_FILL)
    return poses, intrinsics


def frame_samples(start: int, end: int, count: int) -> list[int]:
    """`count` frames evenly spread over [start, end], both ends included, rounded, repeats dropped."""
    for what, v in (("start", start), ("end", end), ("count", count)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{what} must be an integer, got {v!r}")
    if end < start:
        raise ValueError(f"end frame {end} is before start frame {start}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if count == 1:
        return [start]
    frames = (int(math.floor(start + (end - start) * i / (count - 1) + 0.5)) for i in range(count))
    return list(dict.fromkeys(frames))


# ---------------------------------------------------------------- projection


def box_corners(bbox_min: Sequence[float], bbox_max: Sequence[float]) -> np.ndarray:
    """The 8 corners (8, 3) of an axis-aligned box, in the order of Blender's `Object.bound_box`."""
    lo, hi = _vec(bbox_min, 3, "bbox_min"), _vec(bbox_max, 3, "bbox_max")
    signs = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0], [1, 0, 0], [1, 0, 1], [1, 1, 1], [1, 1, 0]])
    return np.where(signs == 1, hi, lo)


def _to_camera(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """World points (N, 3) in camera coordinates (N, 3): x right, y up, z backwards."""
    world_to_cam = np.linalg.inv(pose)
    return points @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]


def _pixels(cam: np.ndarray, k: np.ndarray) -> np.ndarray:
    depth = -cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([k[2] + k[0] * cam[:, 0] / depth, k[3] - k[1] * cam[:, 1] / depth], axis=1)


def project(
    points: Sequence[Sequence[float]] | np.ndarray,
    pose: Sequence[float] | np.ndarray,
    intrinsics: Sequence[float],
    width: int,
    height: int,
    near: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) to normalized view coordinates (N, 2) and a visibility mask (N,).

    A point is visible when it is at least `near` in front of the camera and inside the frame.
    Points behind the camera get NaN coordinates.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
        raise ValueError("points must be an (N, 3) array of finite numbers")
    _size(width, height)
    k = _intrinsics(intrinsics)
    cam = _to_camera(pts, _pose(pose))
    in_front = -cam[:, 2] >= near
    uv = _pixels(cam, k) / np.array([width, height])
    uv[~in_front] = np.nan
    inside = np.all((uv >= 0) & (uv <= 1), axis=1)  # NaN compares False
    return uv, in_front & inside


def project_box(
    corners: Sequence[Sequence[float]] | np.ndarray,
    pose: Sequence[float] | np.ndarray,
    intrinsics: Sequence[float],
    width: int,
    height: int,
    near: float = 1e-6,
) -> tuple[list[float], list[float]] | None:
    """Where a box (its 8 world corners, any orientation) appears in a view, or None if it does not.

    Returns (center, box): box = [x0, y0, x1, y1], the projected box clipped to the frame, and
    center = the projected box centre, or the clipped box's centre when that point is off-frame
    or behind the camera. A box that crosses the camera plane is clipped at `near` first, so its
    projection is right, not mirrored.
    """
    pts = np.asarray(corners, dtype=np.float64)
    if pts.shape != (8, 3) or not np.all(np.isfinite(pts)):
        raise ValueError("corners must be an (8, 3) array of finite numbers")
    _size(width, height)
    k, cam = _intrinsics(intrinsics), _to_camera(pts, _pose(pose))
    depth = -cam[:, 2]
    # Clip every segment between two corners at the near plane: the clipped hull's extreme
    # points are corners in front plus edge crossings (diagonals only add inner points).
    kept = [cam[depth >= near]]
    i, j = np.triu_indices(8, 1)
    crossing = (depth[i] >= near) != (depth[j] >= near)
    if np.any(crossing):
        a, b = cam[i[crossing]], cam[j[crossing]]
        t = (depth[i[crossing]] - near) / (depth[i[crossing]] - depth[j[crossing]])
        kept.append(a + (b - a) * t[:, None])
    front = np.concatenate(kept)
    if len(front) == 0:
        return None
    uv = _pixels(front, k) / np.array([width, height])
    x0, y0 = uv.min(axis=0)
    x1, y1 = uv.max(axis=0)
    if x1 < 0 or y1 < 0 or x0 > 1 or y0 > 1:
        return None
    box = [float(np.clip(v, 0.0, 1.0)) for v in (x0, y0, x1, y1)]
    mid = cam.mean(axis=0)
    if -mid[2] >= near:
        c = _pixels(mid[None], k)[0] / np.array([width, height])
        if box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3]:
            return [float(c[0]), float(c[1])], box
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], box


# ---------------------------------------------------------------- set-of-marks overlay

# 3x5 bitmap digits, one string of 15 cells per glyph, row by row.
_GLYPHS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001010010010",
    "8": "111101111101111",
    "9": "111101111001111",
}
_FONT = {c: np.array([int(b) for b in s], dtype=bool).reshape(5, 3) for c, s in _GLYPHS.items()}


def mark_scale(width: int, height: int) -> int:
    """Integer magnification of the 3x5 font: digits 15 px tall at 384 px, 5 px at 128 px or less."""
    return max(1, min(width, height) // 128)


def _label_bitmap(index: int, scale: int) -> np.ndarray:
    """The digits of `index` with a one-cell margin: True = ink. Shape (7*s, (4*n+1)*s)."""
    text = str(index)
    cells = np.zeros((7, 4 * len(text) + 1), dtype=bool)
    for n, ch in enumerate(text):
        cells[1:6, 1 + 4 * n : 4 + 4 * n] = _FONT[ch]
    return np.kron(cells, np.ones((scale, scale), dtype=bool))


def draw_marks(rgb: np.ndarray, marks: Iterable[Mark], scale: int | None = None) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with each mark's index drawn at its centre.

    Each label is a filled box (black on light surroundings, white on dark ones) with the digits
    in the opposite colour. Labels are kept inside the image and nudged aside when they would
    cover a label already drawn (marks are drawn in index order).
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("rgb must be an (H, W, 3) uint8 array")
    h, w = rgb.shape[:2]
    s = mark_scale(w, h) if scale is None else scale
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise ValueError(f"scale must be a positive integer, got {s!r}")
    out = rgb.copy()
    placed: list[tuple[int, int, int, int]] = []
    for mark in sorted(marks, key=lambda m: m.index):
        ink = _label_bitmap(mark.index, s)
        lh, lw = ink.shape
        cx, cy = mark.center[0] * w, mark.center[1] * h
        top, left = _place(int(round(cy - lh / 2)), int(round(cx - lw / 2)), lh, lw, h, w, placed)
        placed.append((top, left, top + lh, left + lw))
        # Crop the label to the image (an image smaller than a label still gets what fits).
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = min(top + lh, h), min(left + lw, w)
        if t1 <= t0 or l1 <= l0:
            continue
        patch = out[t0:t1, l0:l1]
        light = patch.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        box, text = ((0, 0, 0), (255, 255, 255)) if light.mean() >= 128 else ((255, 255, 255), (0, 0, 0))
        cell = ink[t0 - top : t1 - top, l0 - left : l1 - left]
        patch[:] = box
        patch[cell] = text
    return out


def _place(
    top: int, left: int, lh: int, lw: int, h: int, w: int, placed: list[tuple[int, int, int, int]]
) -> tuple[int, int]:
    """The first of a few positions around (top, left), inside the image, not over a placed label."""

    def clamp(t: int, lft: int) -> tuple[int, int]:
        return min(max(t, 0), max(h - lh, 0)), min(max(lft, 0), max(w - lw, 0))

    def free(t: int, lft: int) -> bool:
        return all(t >= b1 or t + lh <= b0 or lft >= a1 or lft + lw <= a0 for b0, a0, b1, a1 in placed)

    steps = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1), (2, 0), (-2, 0)]
    for dy, dx in steps:
        candidate = clamp(top + dy * lh, left + dx * lw)
        if free(*candidate):
            return candidate
    return clamp(top, left)


# ---------------------------------------------------------------- image files


def encode_png(rgb: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of an (H, W, 3) RGB or (H, W, 4) RGBA uint8 image (8 bits per channel).

    Each row uses the Sub filter (difference with the pixel on its left): renders are mostly
    smooth, so this compresses them far better than no filter, at numpy speed.
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError("image must be an (H, W, 3) or (H, W, 4) uint8 array")
    h, w, channels = rgb.shape
    if h < 1 or w < 1 or h > 2**31 - 1 or w > 2**31 - 1:
        raise ValueError(f"image size {w}x{h} cannot be stored in a PNG")
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ValueError(f"level must be an integer in [0, 9], got {level!r}")
    rows = np.ascontiguousarray(rgb).reshape(h, w * channels)
    filtered = np.empty((h, w * channels + 1), dtype=np.uint8)
    filtered[:, 0] = 1  # filter type Sub
    filtered[:, 1 : 1 + channels] = rows[:, :channels]
    filtered[:, 1 + channels :] = rows[:, channels:] - rows[:, :-channels]  # uint8 wraps mod 256

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    color_type = 2 if channels == 3 else 6
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(filtered.tobytes(), level))
        + chunk(b"IEND", b"")
    )


def decode_bmp(data: bytes) -> np.ndarray:
    """An uncompressed 24- or 32-bit BMP file (what Blender writes) as an (H, W, 3) uint8 RGB array."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError("BMP data must be bytes")
    data = bytes(data)
    if len(data) < 54 or data[:2] != b"BM":
        raise ValueError("not a BMP file")
    (offset,) = struct.unpack_from("<I", data, 10)
    header_size, width, height, planes, bpp, compression = struct.unpack_from("<IiiHHI", data, 14)
    if header_size < 40 or planes != 1:
        raise ValueError(f"unsupported BMP header (size {header_size}, planes {planes})")
    if bpp not in (24, 32) or compression not in (0, 3) or (compression == 3 and bpp != 32):
        raise ValueError(f"unsupported BMP pixel format ({bpp} bits, compression {compression})")
    if width < 1 or height == 0:
        raise ValueError(f"bad BMP size {width}x{height}")
    if compression == 3:  # BITFIELDS: only the usual B, G, R byte order is supported
        masks = struct.unpack_from("<III", data, 54 if header_size == 40 else 14 + 40)
        if masks != (0xFF0000, 0xFF00, 0xFF):
            raise ValueError(f"unsupported BMP channel masks {[hex(m) for m in masks]}")
    channels, rows = bpp // 8, abs(height)
    stride = (width * channels + 3) // 4 * 4  # rows are padded to 4 bytes
    if offset + stride * rows > len(data):
        raise ValueError("truncated BMP file")
    pixels = np.frombuffer(data, dtype=np.uint8, count=stride * rows, offset=offset).reshape(rows, stride)
    bgr = pixels[:, : width * channels].reshape(rows, width, channels)[:, :, 2::-1]
    return np.ascontiguousarray(bgr[::-1] if height > 0 else bgr)  # positive height: bottom-up
