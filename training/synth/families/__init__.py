"""Instruction families of the synthetic generator, one module each (see each module's docstring).

FAMILIES and WEIGHTS set how often each is drawn; together with the variants inside each family
they set the share of every op in the answers (scripts/synth_stats.py measures it; the README has
the table). What the gen split holds out is in `training.synth.heldout`.
"""

from __future__ import annotations

from training.synth.families import (
    animation,
    camera,
    degree,
    generative,
    lighting,
    mood,
    objects,
    placement,
    polysemy,
    reference,
    spatial,
)
from training.synth.families.common import Context, Task

FAMILIES = ("vague_degree", "polysemy", "view_reference", "reference_matching", "mood_style", "animation",
            "object_edit", "spatial_relation", "camera", "lighting", "generative")  # fmt: skip
WEIGHTS = (0.14, 0.05, 0.05, 0.04, 0.04, 0.17, 0.20, 0.10, 0.08, 0.08, 0.05)
MODALITIES = ("image", "video", "3d", "4d")
MODALITY_WEIGHTS = (0.35, 0.25, 0.25, 0.15)  # of generative examples
# Families that can phrase a held-out composition (an (op, referring style) pair), by weight.
COMPOSITION_FAMILIES = ("vague_degree", "object_edit", "spatial_relation", "camera", "animation")
VARIANT_FAMILY = mood.FAMILY  # the family a held-out-variant example is drawn from

_PROPOSE = {
    "vague_degree": degree.propose,
    "polysemy": polysemy.propose,
    "view_reference": spatial.propose,
    "reference_matching": reference.propose,
    "mood_style": mood.propose,
    "animation": animation.propose,
    "object_edit": objects.propose,
    "spatial_relation": placement.propose,
    "camera": camera.propose,
    "lighting": lighting.propose,
}


def needs_animation(family: str, modality: str | None) -> bool:
    return family == "animation" or (family == "generative" and modality in ("video", "4d"))


def propose(family: str, ctx: Context, modality: str | None = None) -> Task | None:
    """A task of this family for the context's scene, or None if the scene does not suit it."""
    if family == "generative":
        if modality not in MODALITIES:
            raise ValueError(f"generative needs a modality in {MODALITIES}, got {modality!r}")
        return generative.propose(ctx, modality)
    if family not in _PROPOSE:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return _PROPOSE[family](ctx)


__all__ = ["FAMILIES", "MODALITIES", "Context", "Task", "needs_animation", "propose"]
