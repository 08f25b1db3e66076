"""Handler: the generative hand-off, which changes nothing in the scene: it is reported (and
returned in `ApplyReport.handoffs`) for a generative editor, never a failure."""

from __future__ import annotations

from evlm.edits import GenerativeEdit

from .registry import handles
from .run import Run


@handles(GenerativeEdit)
def _generative_edit(run: Run, op: GenerativeEdit) -> None:
    run.handoffs.append(op)
    masked = ", ".join(op.mask.objects + [f"{len(op.mask.regions)} region(s)"] * bool(op.mask.regions))
    run.lines.append(
        f"Hand-off to a {op.modality} generative editor (scene unchanged): {op.prompt!r} on {masked or 'the whole view'}"
    )
