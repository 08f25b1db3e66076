"""What applying says: the report of what changed, the error that refuses a suggestion, and how
numbers are written in both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from evlm.edits import GenerativeEdit

ERROR_CODES = ("missing_target", "wrong_kind", "not_applicable", "failed")


class ApplyError(Exception):
    """A suggestion that cannot be applied. `code` is one of ERROR_CODES; `op_index` is the op's place."""

    def __init__(self, code: str, message: str, op_index: int | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown ApplyError code {code!r}")
        super().__init__(code, message, op_index)
        self.code, self.message, self.op_index = code, message, op_index

    def __str__(self) -> str:
        where = f"op {self.op_index}: " if self.op_index is not None else ""
        return f"{self.code}: {where}{self.message}"


@dataclass
class ApplyReport:
    """What changed: one readable line per change ("Cube: location +[0, 0, 1]")."""

    lines: list[str]
    handoffs: list[GenerativeEdit] = field(default_factory=list)  # edits for a generative editor

    def __str__(self) -> str:
        return "\n".join(self.lines)


def fmt(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def signed(values: Iterable[float]) -> str:
    return "+" + fmt(values)
