"""Instruction families of the synthetic generator, one module each (see each module's docstring).

Held out for the generalization split: the family variants in HELD_OUT_VARIANTS (drawn only for
`gen` examples), on top of the held-out sentence frames of `training.synth.language`.
"""

from __future__ import annotations

from training.synth.families import animation, degree, generative, mood, polysemy, reference, spatial
from training.synth.families.common import Context, Task

FAMILIES = ("vague_degree", "polysemy", "view_reference", "reference_matching", "mood_style", "animation", "generative")
WEIGHTS = (0.17, 0.14, 0.14, 0.14, 0.13, 0.14, 0.14)
MODALITIES = ("image", "video", "3d", "4d")
MODALITY_WEIGHTS = (0.3, 0.2, 0.3, 0.2)  # of generative examples
HELD_OUT_VARIANTS = tuple(f"{mood.FAMILY}:{v}" for v in mood.HELD_OUT)
HELD_OUT_FAMILY = mood.FAMILY  # the family a held-out-variant example is drawn from

_PROPOSE = {
    "vague_degree": degree.propose,
    "polysemy": polysemy.propose,
    "view_reference": spatial.propose,
    "reference_matching": reference.propose,
    "mood_style": mood.propose,
    "animation": animation.propose,
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


__all__ = ["FAMILIES", "HELD_OUT_VARIANTS", "Context", "Task", "needs_animation", "propose"]
