"""Before/after contact sheets: the views before the edit on top, after it below (PIL)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from evlm_batch.mesh_scene import atomic_write

LABEL_W = 56
PAD = 4


def contact_sheet(before: list[bytes], after: list[bytes], thumb: int = 192) -> bytes:
    """PNG bytes: a row of `before` images and a row of `after` images, each scaled to `thumb` px high."""
    if not before or not after:
        raise ValueError("a contact sheet needs images before and after")
    rows = [[_thumb(b, thumb) for b in before], [_thumb(a, thumb) for a in after]]
    width = LABEL_W + max(sum(im.width + PAD for im in row) for row in rows) + PAD
    sheet = Image.new("RGB", (width, 2 * (thumb + PAD) + PAD), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, (label, row) in enumerate(zip(("before", "after"), rows, strict=True)):
        y = PAD + r * (thumb + PAD)
        draw.text((6, y + thumb // 2 - 6), label, fill=(230, 230, 230))
        x = LABEL_W
        for im in row:
            sheet.paste(im, (x, y))
            x += im.width + PAD
    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    return buf.getvalue()


def _thumb(data: bytes, height: int) -> Image.Image:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    return im.resize((max(1, round(im.width * height / im.height)), height), Image.Resampling.BILINEAR)


def write_contact_sheet(path: Path, before: list[bytes], after: list[bytes]) -> Path:
    atomic_write(path, contact_sheet(before, after))
    return path
