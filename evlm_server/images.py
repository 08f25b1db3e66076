"""Decoding of request images on the server (PIL), with the same limits the protocol checks."""

from __future__ import annotations

import io
import warnings

from PIL import Image


def decode_image(blob: bytes, max_pixels: int) -> Image.Image:
    """A PNG/JPEG blob as an RGB image, fully decoded. ValueError if it is corrupt or too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(blob), formats=["PNG", "JPEG"])
            if img.width * img.height > max_pixels:
                raise ValueError(f"{img.width}x{img.height} is over {max_pixels} pixels")
            img.load()  # decodes the whole body: a truncated or corrupt file fails here
        return img.convert("RGB")
    except ValueError:
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, Image.DecompressionBombError, ...
        raise ValueError(f"cannot decode image ({type(e).__name__}: {e})") from None
