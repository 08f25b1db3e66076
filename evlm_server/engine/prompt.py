"""The model's prompt: chat messages for one request (pure functions, no torch).

Layout, the same for every backend and for training data:
- system: the role, how to reason, the op vocabulary, the output rules;
- user: every view as a labelled image (index, camera position, frame, set-of-marks), then the
  reference images, then the scene graph as compact JSON (or a note that there is none: a
  generative hand-off), then the instruction;
- assistant: starts with `<think>`; the reasoning ends with `</think>`, then the JSON plan.

Messages use the Hugging Face chat format; image parts carry no data: the images travel to the
processor separately, in the order of `request_images()`.

Prompt formats: a checkpoint is served the prompt it was trained on, declared in its folder's
`evlm.json` (`{"prompt_format": 2}`; absent: 1).
- 1: the scene graph as compact JSON; every view labelled with its camera position and its
  marks' object names. What Qwen-class instruct models read best zero-shot.
- 2: the scene graph as one line per thing (`evlm.scenetext`: about a third fewer tokens, colour
  names and light warmth spelled out); the first view lists its marks with their centres (where
  "the left one" is decided), the others only their label and frame. For small models trained
  by this project, where every prompt token costs training time and latency.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from evlm.edits import vocabulary_text
from evlm.scenetext import num, scene_text

if TYPE_CHECKING:
    from evlm.scene import View
    from evlm_server.engine.base import EngineRequest

THINK_START = "<think>"
THINK_END = "</think>"
ASSISTANT_PREFIX = THINK_START + "\n"  # appended after the chat template's assistant header
ANSWER_PREFIX = THINK_END + "\n"  # between the reasoning and the JSON plan

ROLE = (
    "You are EVLM, an editing assistant for Blender scenes. The user gives an editing "
    "instruction, which may be vague or ambiguous, rendered views of the scene, optional "
    "reference images, and the scene graph. Work out what the user means and answer with a "
    "short list of concrete, alternative edit suggestions."
)

REASONING_RULES = (
    "Think first, inside <think> ... </think>:\n"
    "1. Interpret the intent: list the plausible readings of the ambiguous words.\n"
    "2. Resolve the targets: tie what the user refers to to scene-graph names, with evidence "
    "from the views (marks, positions, colors) and the reference images.\n"
    "3. Choose ops and magnitudes, in scene units (metres, degrees, linear RGB in [0, 1]).\n"
    "4. Reflect: does each plan match the intent and the reference? Fix it if not."
)

OUTPUT_RULES = (
    "After </think>, output only the JSON edit plan, nothing else:\n"
    '{"reasoning": <one-paragraph summary>, "suggestions": [{"title": ..., "rationale": ..., '
    '"confidence": <0..1>, "ops": [<op>, ...]}, ...]}\n'
    "Best suggestion first. Name targets exactly as in the scene graph. Without a scene graph, "
    "answer with generative_edit ops: a refined editing prompt and a mask (object names "
    "and/or view boxes in normalized [0, 1] view coordinates)."
)

NO_SCENE_NOTE = (
    "No scene graph: this is a plain image or video editing request. Answer with a "
    "generative hand-off (generative_edit: refined prompt + mask as view boxes)."
)


PROMPT_FORMATS = (1, 2)
FORMAT_FILE = "evlm.json"  # in a checkpoint folder: {"prompt_format": N}


def read_prompt_format(model_dir: str | Path) -> int:
    """The prompt format a checkpoint was trained on (1 when it does not say)."""
    path = Path(model_dir) / FORMAT_FILE
    if not path.is_file():
        return 1
    try:
        fmt = json.loads(path.read_text()).get("prompt_format", 1)
    except (OSError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: not a JSON object with a prompt_format ({e})") from None
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"{path}: prompt_format {fmt!r} is not one of {PROMPT_FORMATS}")
    return fmt


def write_prompt_format(model_dir: str | Path, prompt_format: int) -> None:
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format {prompt_format!r} is not one of {PROMPT_FORMATS}")
    (Path(model_dir) / FORMAT_FILE).write_text(json.dumps({"prompt_format": prompt_format}) + "\n")


def system_prompt() -> str:
    return "\n\n".join([ROLE, REASONING_RULES, vocabulary_text(), OUTPUT_RULES])


def view_label(index: int, view: View, prompt_format: int = 1) -> str:
    """One line that names a view (module docstring: what each format puts there)."""
    if prompt_format == 2:
        text = f"View {index} ({view.label + ', ' if view.label else ''}frame {view.frame})"
        if index == 0 and view.marks:
            text += ", marks: " + ", ".join(
                f"{m.index} {m.object} ({num(m.center[0])} {num(m.center[1])})" for m in view.marks
            )
        return text + ":"
    parts = [f"View {index}"]
    if view.label:
        parts.append(view.label)
    pose = view.pose  # camera-to-world, row-major: the translation is the last column
    parts.append(f"camera at ({pose[3]:.2f}, {pose[7]:.2f}, {pose[11]:.2f})")
    parts.append(f"frame {view.frame}")
    text = ", ".join(parts)
    if view.marks:
        text += "; marks: " + ", ".join(f"{m.index}={m.object}" for m in view.marks)
    return text + ":"


def build_messages(request: EngineRequest, prompt_format: int = 1) -> list[dict]:
    """Chat messages for a request (system + user); see the module docstring for the layout."""
    content: list[dict] = []
    for i, view in enumerate(request.views):
        content += [{"type": "text", "text": view_label(i, view, prompt_format) + "\n"}, {"type": "image"}]
        content.append({"type": "text", "text": "\n"})
    for j in range(len(request.references)):
        label = f"Reference image {j} (what the user wants it to look like):\n"
        content += [{"type": "text", "text": label}, {"type": "image"}]
        content.append({"type": "text", "text": "\n"})
    if request.scene is None:
        scene_text_ = NO_SCENE_NOTE
    elif prompt_format == 2:
        scene_text_ = scene_text(request.scene)
    else:
        scene_text_ = "Scene graph (JSON):\n" + request.scene.to_prompt_json()
    content.append({"type": "text", "text": scene_text_ + "\n\n"})
    content.append(
        {
            "type": "text",
            "text": f"Instruction: {request.instruction}\nGive at most {request.max_suggestions} suggestions.",
        }
    )
    return [
        {"role": "system", "content": system_prompt()},
        {"role": "user", "content": content},
    ]


def request_images(request: EngineRequest) -> list:
    """The request's images in prompt order: the views, then the references."""
    return list(request.images) + list(request.references)
