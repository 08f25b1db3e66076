"""Decoding of request images on the server (PIL), with the same limits the protocol checks.

The protocol has already bounded what decoding can hold (pixels per image and per request, read
from the headers); the server decodes a request's images only when the engine is about to take
it, one image at a time, and the batch it forms is bounded in pixels too (`Limits`).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from evlm.protocol import ErrorCode, ProtocolError


def decode_image(blob: bytes, max_pixels: int) -> Image.Image:
    """A PNG/JPEG blob as an RGB image, fully decoded. ValueError if it is corrupt or too large;
    MemoryError passes through (it is the server's state, not the image's fault)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(blob), formats=["PNG", "JPEG"])
            if img.width * img.height > max_pixels:
                raise ValueError(f"{img.width}x{img.height} is over {max_pixels} pixels")
            img.load()  # decodes the whole body: a truncated or corrupt file fails here
        return img if img.mode == "RGB" else img.convert("RGB")
    except (ValueError, MemoryError):
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, Image.DecompressionBombError, ...
        raise ValueError(f"cannot decode image ({type(e).__name__}: {e})") from None


def decode_request_images(blobs: list[bytes], n_views: int, max_pixels: int) -> list[Image.Image]:
    """A request's views then references, decoded. ProtocolError `bad_image` names the image at
    fault; `overloaded` if the server ran out of memory (retry later)."""
    images = []
    for i, blob in enumerate(blobs):
        what = f"view {i}" if i < n_views else f"reference {i - n_views}"
        try:
            images.append(decode_image(blob, max_pixels))
        except ValueError as e:
            raise ProtocolError(ErrorCode.BAD_IMAGE, f"{what}: {e}") from None
        except MemoryError:
            images.clear()  # give back what this request took before saying so
            raise ProtocolError(ErrorCode.OVERLOADED, f"out of memory decoding {what}; retry later") from None
    return images
