"""Before/after contact sheets (PIL): a caption (the instruction, the applied suggestion and its
changes), the views before the edit on top, after it below.

For an animation edit the rows are the same camera at several frames across the animation, each
labelled with its frame, so a retimed or re-eased motion differs visibly between the rows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from evlm.headless_result import AppliedSuggestion
from evlm_batch.mesh_scene import atomic_write
from evlm_batch.records import SkippedOp

LABEL_W = 56
PAD = 4
MIN_WIDTH = 640  # room for a readable caption even under one or two views
MAX_CAPTION_LINES = 12
FONT_PX = 14
LINE_H = FONT_PX + 5
BACKGROUND, TEXT, DIM = (24, 24, 24), (230, 230, 230), (160, 160, 160)
# Stand-ins for characters the apply reports use that Pillow's bundled font has no glyph for.
ASCII_FOR = {"×": "x", "→": "->", "←": "<-", "–": "-", "—": "-", "≈": "~", "≤": "<=", "≥": ">="}


def caption(instruction: str, applied: AppliedSuggestion | None, skipped: Sequence[SkippedOp] = ()) -> list[str]:
    """The caption's lines: the instruction, the applied suggestion and what it changed (and skipped)."""
    lines = [f'"{instruction}"']
    if applied is not None:
        lines.append(f"applied {applied.index + 1}. {applied.title}")
        lines += [f"  {line}" for line in applied.lines]
    lines += [f"  skipped {s.op}: {s.reason}" for s in skipped]
    return lines


def contact_sheet(
    before: list[bytes],
    after: list[bytes],
    caption: Sequence[str] = (),
    thumb: int = 192,
    frames: tuple[Sequence[int], Sequence[int]] | None = None,
) -> bytes:
    """PNG bytes: `caption` (lines, wrapped to the sheet's width), then a row of `before` images
    and a row of `after` images, each scaled to `thumb` px high; `frames` (one frame number per
    image of each row) labels every image with the frame it shows."""
    if not before or not after:
        raise ValueError("a contact sheet needs images before and after")
    if frames is not None and (len(frames[0]) != len(before) or len(frames[1]) != len(after)):
        raise ValueError("frames needs one frame number per image of each row")
    rows = [[_thumb(b, thumb) for b in before], [_thumb(a, thumb) for a in after]]
    width = max(MIN_WIDTH, LABEL_W + max(sum(im.width + PAD for im in row) for row in rows) + PAD)
    font = caption_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text = wrap_lines([drawable(line, font) for line in caption], font, width - 2 * PAD - 4, measure)
    top = PAD + len(text) * LINE_H + (PAD if text else 0)
    sheet = Image.new("RGB", (width, top + 2 * (thumb + PAD) + PAD), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, line in enumerate(text):
        draw.text((PAD + 2, PAD + i * LINE_H), line, fill=TEXT if i == 0 else DIM, font=font)
    for r, (label, row) in enumerate(zip(("before", "after"), rows, strict=True)):
        y = top + r * (thumb + PAD)
        draw.text((6, y + thumb // 2 - FONT_PX // 2), label, fill=TEXT, font=font)
        x = LABEL_W
        for k, im in enumerate(row):
            sheet.paste(im, (x, y))
            if frames is not None:
                tag = f"frame {frames[r][k]}"
                box = draw.textbbox((x + 3, y + 2), tag, font=font)
                draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=BACKGROUND)
                draw.text((x + 3, y + 2), tag, fill=TEXT, font=font)
            x += im.width + PAD
    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    return buf.getvalue()


def caption_font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=FONT_PX)  # Pillow's bundled scalable font (needs FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()  # the small bitmap font


def drawable(text: str, font) -> str:  # noqa: ANN001
    """`text` with every character the font cannot draw (it would show as a box) replaced by an
    ASCII stand-in (ASCII_FOR), else `?`."""
    missing = bytes(font.getmask("\ue000"))  # a private-use character: no font draws it
    return "".join(c if c.isascii() or bytes(font.getmask(c)) != missing else ASCII_FOR.get(c, "?") for c in text)


def wrap_lines(lines: Sequence[str], font, width: int, draw: ImageDraw.ImageDraw) -> list[str]:  # noqa: ANN001
    """Each line broken at spaces to fit `width` pixels (continuations indented like the line);
    at most MAX_CAPTION_LINES lines, the last saying how many were left out."""
    out: list[str] = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        words, current = line.split(), indent
        for word in words:
            candidate = f"{current} {word}" if current.strip() else f"{current}{word}"
            if draw.textlength(candidate, font=font) <= width or not current.strip():
                current = candidate
            else:
                out.append(current)
                current = f"{indent}  {word}"
        out.append(current)
    if len(out) > MAX_CAPTION_LINES:
        out = out[: MAX_CAPTION_LINES - 1] + [f"  ... ({len(out) - MAX_CAPTION_LINES + 1} more lines)"]
    return out


def _thumb(data: bytes, height: int) -> Image.Image:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    return im.resize((max(1, round(im.width * height / im.height)), height), Image.Resampling.BILINEAR)


def write_contact_sheet(
    path: Path,
    before: list[bytes],
    after: list[bytes],
    caption: Sequence[str] = (),
    frames: tuple[Sequence[int], Sequence[int]] | None = None,
) -> Path:
    atomic_write(path, contact_sheet(before, after, caption, frames=frames))
    return path
