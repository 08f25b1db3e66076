"""Instruction language: a small compositional grammar, degree words, and noise.

An instruction is composed, not filled from one template per task: a task gives an `Ask` (the
subject as the artist refers to it, verb phrases, the wanted state, complaints, a degree class),
and a *frame* turns it into a sentence (imperative, question, hedge, wish, complaint, a context
prefix), with politeness, hedges and degree words drawn from synonym lists; then casing and typo
noise (never inside an object's name, which must stay exact to be referable). So the sentences
are the product of verbs x referring expressions x degree words x frames x politeness x noise.

Held out for the generalization split (`gen`), never in train/val/test:
- frames (HELD_OUT_FRAMES): "what if X were ...?" and terse notes "X -> a bit bigger";
- words (HELD_OUT_WORDS): verb and state templates using any of these words ("enlarge the
  chair", "ditch the cone", "clone the vase"): unseen phrasings of intents seen in training.
The held-out compositions and variants are in `heldout.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

DEGREES: dict[str, tuple[str, ...]] = {  # degree words before a comparative ("a bit bigger")
    "small": ("a bit", "slightly", "a little", "a touch", "a tad", "a little bit", "just slightly"),
    "medium": ("noticeably", "somewhat", "a fair bit", "moderately", "quite a bit", "clearly"),
    "large": ("much", "a lot", "way", "significantly", "dramatically", "far", "a whole lot"),
}
ADVERBS: dict[str, tuple[str, ...]] = {  # degree words after a verb ("scale it up a bit")
    "small": ("a bit", "slightly", "a little", "a touch", "a tad"),
    "medium": ("noticeably", "a fair bit", "quite a bit", "moderately"),
    "large": ("a lot", "significantly", "dramatically", "a whole lot"),
}
DEGREE_MEANING = {"small": "small", "medium": "moderate", "large": "big"}

_PLEASE_PRE = ("", "", "", "please ", "pls ", "ok, ", "hey, ", "right, ")
_PLEASE_POST = ("", "", "", " please", ", thanks", " thx", " if you can", " for me")
_QUESTION = ("could you ", "can you ", "could we ", "can we ", "would you ", "any chance you could ")
_HEDGE = ("maybe ", "perhaps ", "I think we should ", "not sure, but maybe ", "hmm, ", "I guess we could ",
          "kinda want to ", "might be nice to ")  # fmt: skip
_WANT = ("I want {s} {state}", "I'd like {s} {state}", "{s} should be {state}", "{s} needs to be {state}",
         "{s} has to be {state}", "let's have {s} {state}")  # fmt: skip
_COMPLAINT_TAIL = ("", "", ", can you fix that", ", fix it", ". Any ideas?", ", not sure why")
_CONTEXT = ("for the client shot, ", "before we render, ", "quick one: ", "for the next pass, ", "one more thing: ",
            "for the final frame, ", "last note: ")  # fmt: skip

FRAMES = ("imperative", "question", "hedged", "want", "complaint", "context", "what_if", "note")
HELD_OUT_FRAMES = ("what_if", "note")
HELD_OUT_TEXT = {"what_if": "what if ", "note": " -> "}  # what marks a held-out frame in the text
HELD_OUT_WORDS = ("enlarge", "downsize", "ditch", "clone", "nudge", "repaint", "crank", "dial", "stretch out",
                  "push in", "recolour", "shove", "sparkle")  # fmt: skip
_HELD_WORD = re.compile(r"\b(" + "|".join(HELD_OUT_WORDS) + r")\b", re.IGNORECASE)


def held_word(text: str) -> bool:
    """Whether a template (or an instruction) uses a held-out word."""
    return _HELD_WORD.search(text) is not None


@dataclass
class Ask:
    """What an instruction says, before it is put into a sentence.

    `verbs` are imperative verb phrases with {s} (the subject) and {deg} or {adv} slots (degree
    words before a comparative, or after a verb); `state` is the wanted state as a predicate
    ("{deg} bigger", "red"); `complaint` (optional) says what is wrong now ("{s} looks {deg} too
    small"). A template with a held-out word is used only when the lexicon is held out.
    """

    subject: str
    verbs: list[str]
    state: str
    complaint: list[str] = field(default_factory=list)
    degree: str | None = None  # "small" | "medium" | "large"; None: no degree words
    protect: tuple[str, ...] = ()  # exact object names in the text: no typos or casing there


class NoPhrasing(ValueError):
    """The ask cannot be phrased as the split asks (no template with a held-out word, say)."""


def frames_for(ask: Ask, held_out: bool) -> list[str]:
    """The frames this ask can be phrased with: the held-out ones only for the gen split."""
    if held_out:
        return list(HELD_OUT_FRAMES)
    return [f for f in FRAMES if f not in HELD_OUT_FRAMES and (f != "complaint" or ask.complaint)]


def compose(ask: Ask, frame: str, rng: np.random.Generator, lexicon: bool = False) -> tuple[str, str]:
    """The instruction text of an ask in a frame, without noise, and the degree words it used.

    `lexicon`: use only templates with a held-out word (the gen split's unseen phrasings);
    otherwise never. NoPhrasing if the ask has none of the kind needed.
    """
    verbs = [v for v in ask.verbs if held_word(v) == lexicon]
    if not verbs:
        raise NoPhrasing("no verb template for this split")
    complaints = [c for c in ask.complaint if not held_word(c)]
    state_ok = not held_word(ask.state)
    if lexicon:  # the frame must show the held-out verb: imperative-like frames only
        frame = frame if frame in ("imperative", "question", "hedged", "context") else "imperative"
    deg = str(rng.choice(DEGREES[ask.degree])) if ask.degree else ""
    adv = str(rng.choice(ADVERBS[ask.degree])) if ask.degree else ""

    def fill(template: str) -> str:
        return _tidy(template.replace("{s}", ask.subject).replace("{deg}", deg).replace("{adv}", adv))

    verb_template = str(rng.choice(verbs))
    used = adv if "{adv}" in verb_template else deg
    verb = fill(verb_template)
    state = fill(ask.state)
    if frame in ("want", "what_if", "note") and not state_ok:
        frame = "imperative"
    if frame == "complaint" and not complaints:
        frame = "imperative"
    if frame == "imperative":
        text = str(rng.choice(_PLEASE_PRE)) + verb + str(rng.choice(_PLEASE_POST)) + str(rng.choice(("", ".", "!")))
    elif frame == "question":
        text = str(rng.choice(_QUESTION)) + verb + str(rng.choice(_PLEASE_POST)) + "?"
    elif frame == "hedged":
        text = str(rng.choice(_HEDGE)) + verb + str(rng.choice(("?", "", "...")))
    elif frame == "context":
        text = str(rng.choice(_CONTEXT)) + verb + str(rng.choice(("", ".", "!")))
    elif frame == "want":
        text, used = fill(str(rng.choice(_WANT)).replace("{state}", state)) + str(rng.choice(("", ".", "!"))), deg
    elif frame == "complaint":
        text, used = fill(str(rng.choice(complaints))) + str(rng.choice(_COMPLAINT_TAIL)), deg
    elif frame == "what_if":
        text, used = f"what if {ask.subject} were {state}?", deg
    elif frame == "note":
        text, used = f"{ask.subject} -> {state}" + str(rng.choice(("", ", pls", " (thx)"))), deg
    else:
        raise ValueError(f"unknown frame {frame!r}; known: {', '.join(FRAMES)}")
    text = _tidy(text)
    # A template without a degree slot ("X doesn't look metallic enough") used no degree words.
    return text, used if ask.degree and used and re.search(rf"\b{re.escape(used)}\b", text) else ""


def _tidy(text: str) -> str:
    return re.sub(r"\s+([,.?!])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()


def plural(word: str) -> str:
    """English plural of a kind word ("box" -> "boxes", "puppy" -> "puppies", "lamp shade" -> "lamp shades")."""
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


# ---------------------------------------------------------------- noise
_KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"


def noise(text: str, rng: np.random.Generator, protect: tuple[str, ...] = ()) -> str:
    """Casing and typo noise, leaving the protected names (object names) exactly as they are, and
    the held-out words too (a gen phrasing must stay that phrasing)."""
    pieces = _split_protected(text, protect + tuple(m.group() for m in _HELD_WORD.finditer(text)))
    typo_rate = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.03, 0.1))
    casing = rng.choice(["keep", "lower", "upper", "capital"], p=[0.35, 0.2, 0.03, 0.42])
    out = []
    for piece, protected in pieces:
        if not protected:
            piece = re.sub(r"[A-Za-z]{4,}", lambda m: _typo(m.group(), rng, typo_rate), piece)
            piece = {"lower": piece.lower(), "upper": piece.upper()}.get(str(casing), piece)
        out.append(piece)
    text = "".join(out)
    if casing == "capital" and text and not pieces[0][1]:
        text = text[0].upper() + text[1:]
    return text


def _split_protected(text: str, protect: tuple[str, ...]) -> list[tuple[str, bool]]:
    if not protect:
        return [(text, False)]
    pattern = "(" + "|".join(re.escape(p) for p in sorted(protect, key=len, reverse=True)) + ")"
    return [(p, p in protect) for p in re.split(pattern, text) if p]


def _typo(word: str, rng: np.random.Generator, rate: float) -> str:
    if rate == 0.0 or rng.random() >= rate:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:  # swap two neighbours
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == 1:  # drop one
        return word[:i] + word[i + 1 :]
    if kind == 2:  # double one
        return word[:i] + word[i] + word[i:]
    row = next((r for r in _KEYBOARD.split() if word[i].lower() in r), None)  # a neighbouring key
    if row is None:
        return word
    j = row.index(word[i].lower())
    return word[:i] + row[min(len(row) - 1, j + 1) if j == 0 or rng.random() < 0.5 else j - 1] + word[i + 1 :]
