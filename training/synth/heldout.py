"""What the generalization split (`gen`) holds out, in one place.

A gen example is one of four kinds, drawn with GEN_KINDS' weights; train, val and test never
contain any of them:
- frame: a held-out sentence frame ("what if X were ...?", "X -> ...": language.HELD_OUT_FRAMES);
- lexicon: a verb or state template with a held-out word ("enlarge", "ditch", "clone", ...:
  language.HELD_OUT_WORDS), an unseen phrasing of an intent seen in training;
- composition: an (edit, referring style) pair never seen in training, though both halves are
  common there: "make object 3 bigger" (scale by mark), "paint the tall vase blue" (recolour by
  size), "delete the red chair" (delete by colour and kind), ...: HELD_OUT_COMPOSITIONS;
- variant: a whole task variant held out (HELD_OUT_VARIANTS: the "more dramatic" mood).
"""

from __future__ import annotations

from training.synth.language import HELD_OUT_FRAMES, HELD_OUT_WORDS

# (the primary op of the gold plan, how the target is referred to)
HELD_OUT_COMPOSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("scale", "mark"),
        ("set_base_color", "size"),
        ("delete", "color_kind"),
        ("duplicate", "relation"),
        ("camera_look_at", "color_kind"),
        ("retime", "name"),
        ("translate", "size"),
        ("set_visibility", "mark"),
        ("add_modifier", "color"),
        ("set_roughness", "relation"),
    }
)
HELD_OUT_VARIANTS = ("mood_style:dramatic",)
GEN_KINDS = {"frame": 0.3, "lexicon": 0.2, "composition": 0.35, "variant": 0.15}


def describe() -> dict:
    """The held-out design as meta.json states it."""
    return {
        "gen_kinds": GEN_KINDS,
        "frames": list(HELD_OUT_FRAMES),
        "words": list(HELD_OUT_WORDS),
        "compositions": sorted(f"{op} x {how}" for op, how in HELD_OUT_COMPOSITIONS),
        "variants": list(HELD_OUT_VARIANTS),
        "note": "each gen example is one of these kinds; train/val/test contain none of them",
    }
