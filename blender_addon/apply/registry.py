"""Each op's rules, registered by its `evlm.edits` class: the handler that changes the scene, the
extra check it needs before anything changes, and what it leaves behind that checks of later ops
in the same suggestion must know (a deleted object, a removed modifier, ...).

    @handles(SetFocalLength, check=_check_focal_length)
    def _set_focal_length(run: Run, op: SetFocalLength) -> None: ...

Dispatch is by the op's class (never by a string from the plan), and every op class of the
vocabulary has exactly one entry (a test holds them together).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bpy
from pydantic import BaseModel

from .run import Run


@dataclass
class Planned:
    """What earlier ops of the suggestion will have done, as far as later checks care."""

    deleted: set[str] = field(default_factory=set)
    removed_modifiers: set[tuple[str, str]] = field(default_factory=set)  # (object, modifier)
    fresh_slots: set[tuple[str, int]] = field(default_factory=set)  # (object, slot) given a new material
    channels: set[tuple[str, str, int]] = field(default_factory=set)  # (object, channel, index) keyed


Handler = Callable[[Run, Any], None]
Check = Callable[[bpy.types.Scene, Any, Planned], None]
Plans = Callable[[Planned, Any], None]


@dataclass(frozen=True)
class Rules:
    handler: Handler
    check: Check | None = None  # beyond the named targets' existence and kind
    plans: Plans | None = None  # record in Planned what the op will do


RULES: dict[type[BaseModel], Rules] = {}


def handles(op_class: type[BaseModel], check: Check | None = None, plans: Plans | None = None) -> Callable:
    """Register the decorated function as the handler of `op_class`, with its check and plans."""

    def register(handler: Handler) -> Handler:
        if op_class in RULES:
            raise RuntimeError(f"{op_class.__name__} has two handlers")
        RULES[op_class] = Rules(handler, check, plans)
        return handler

    return register


def rules(op: BaseModel) -> Rules:
    return RULES[type(op)]
