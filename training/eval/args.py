"""Value types for the eval commands' arguments: a bad value is a usage error (exit 2) that names it."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def number_in(lo: float, hi: float, *, above: bool = False) -> Callable[[str], float]:
    """A float in [lo, hi] (in (lo, hi] with `above`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (lo < value if above else lo <= value) or not value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {'(' if above else '['}{lo:g}, {hi:g}], got {value:g}")
        return value

    return parse


def names(text: str) -> list[str]:
    """A comma-separated list of names, at least one."""
    out = [s.strip() for s in text.split(",") if s.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return list(dict.fromkeys(out))
