"""generative: edits no op can express (replace an object, restyle its material as marble, add a
cat, remove something from a photo, a watercolor look, a squash-and-stretch), answered with a
generative hand-off: a refined prompt and a mask for an image / video / 3D / 4D editor.

Modalities: image (one view, no scene graph: record.scene is None), video (the frames of view 0,
no scene graph), 3d (all views, scene graph, mask.objects = the target), 4d (animated scene, all
frames x views). Mask regions are the target's boxes from the mark tables (record view indices;
for 4d the first frame's views). Strength by edit: replace and remove 0.85, restyle, add, style
and motion effects 0.6; a wrong magnitude uses another of 0.35 / 0.6 / 0.85.
"""

from __future__ import annotations

from training.synth.families.common import LEVELS, Context, Task, make_plan, phrase
from training.synth.language import Ask
from training.synth.reasoning import Decision
from training.synth.referring import display_color, noun, refer, resolve

FAMILY = "generative"
STRENGTH = {"small": 0.35, "medium": 0.6, "large": 0.85}
GOLD_LEVEL = {
    "replace": "large",
    "restyle": "medium",
    "add": "medium",
    "remove": "large",
    "style": "medium",
    "motion_fx": "medium",
}
VARIANTS = {
    "image": ("replace", "restyle", "add", "remove", "style"),
    "video": ("replace", "restyle", "remove", "style", "motion_fx"),
    "3d": ("replace", "restyle", "add"),
    "4d": ("motion_fx", "replace"),
}
THINGS = {
    "ball": ("a basketball", "a glass orb", "a ripe orange", "a bowling ball"),
    "box": ("a treasure chest", "a stack of books", "a wicker basket"),
    "chair": ("a rocking chair", "a wooden bench", "a bean bag"),
    "armchair": ("a leather recliner", "a wicker chair"),
    "sofa": ("a chesterfield sofa", "a daybed"),
    "table": ("a marble table", "a picnic table", "a glass coffee table"),
    "coffee_table": ("a tree-trunk table", "a stack of crates"),
    "desk": ("a standing desk", "a drafting table"),
    "stool": ("a bar stool with a backrest", "a tree stump seat"),
    "shelf": ("a glass cabinet", "a ladder shelf"),
    "lamp": ("a brass lantern", "an arc floor lamp", "a paper lantern on a pole"),
    "rug": ("a bearskin rug", "a woven mat"),
    "plant": ("a bonsai tree", "a cactus", "a bouquet of tulips"),
    "vase": ("a crystal decanter", "an amphora", "a fishbowl"),
    "bottle": ("a champagne bottle", "a perfume flask"),
    "mug": ("a teacup", "a tin can"),
    "book": ("a laptop", "a photo frame"),
    "tv": ("a vintage radio", "a fireplace"),
    "cylinder": ("a stone column", "a tree stump", "a tin can"),
    "cone": ("a small pine tree", "an ice cream cone", "a wizard hat"),
    "torus": ("a donut", "a life buoy", "a rubber tire"),
    "pedestal": ("a marble column", "a stack of books"),
    "statue": ("a bronze horse", "a vase of flowers", "a chess king"),
    "dog": ("a cat", "a fox", "a sheep"),
    "character": ("a robot", "an astronaut", "a knight in armour"),
    "car": ("a vintage truck", "a horse carriage", "a motorbike"),
    "tree": ("a palm tree", "a cherry tree in bloom"),
    "street_lamp": ("a gas lantern", "a traffic light"),
    "bench": ("a picnic table", "a stone wall"),
    "house": ("a castle tower", "a lighthouse"),
    "hydrant": ("a post box", "a parking meter"),
    "fence": ("a hedge", "a stone wall"),
}
MATERIALS = ("marble", "polished gold", "weathered wood", "knitted wool", "rusty iron", "frosted glass", "moss")
ADDITIONS = ("a potted plant", "a small cat", "a stack of books", "a coffee mug", "a vase of flowers")
STYLES = (
    "a watercolor painting",
    "a pencil sketch",
    "a night scene with moonlight",
    "a snowy winter day",
    "a vintage photo",
)
EFFECTS = {  # motion -> (verb phrase, what the prompt adds, the state as a predicate)
    "bounce": (("make {s} squash and stretch when it lands", "squash and stretch on every landing", "squashing on every landing"),
               ("add a dust puff where {s} hits the floor", "a puff of dust at each impact", "kicking up dust at each impact")),
    "slide": (("add motion blur to {s}", "motion blur along its path", "motion-blurred"),
              ("make {s} leave a glowing trail", "a glowing trail behind it", "leaving a glowing trail")),
    "spin": (("add motion blur to {s}", "rotational motion blur", "blurred as it spins"),
             ("make {s} throw off sparks as it spins", "sparks flying off it", "throwing off sparks")),
    "bob": (("make {s} leave ripples as it bobs", "ripples spreading under it", "leaving ripples"),
            ("make {s} glow softly as it floats", "a soft floating glow", "glowing as it floats")),
    "jump": (("make {s} stretch as it jumps", "stretch on the way up and squash on landing", "stretching as it jumps"),
             ("add a dust cloud when {s} lands", "a dust cloud on landing", "kicking up dust on landing")),
}  # fmt: skip


PROMPTS = {
    "replace": "Replace {label}, {pos}, with {thing}, same size, position and lighting",
    "restyle": "Make {label}, {pos}, look like it is made of {material}, same shape and size",
    "add": "Add {thing} {rel} {label}, {pos}, matching the lighting and scale",
    "remove": "Remove {label}, {pos}, and fill in the floor and background behind it to match",
    "motion_fx": "Give {label}, {pos}, {effect}, keeping its path and timing",
    "style": "Restyle the whole {medium} as {style}, keeping the layout and objects recognizable",
}


def _position(center: list[float], view: int, plain: bool) -> str:
    x = "left" if center[0] < 0.38 else "right" if center[0] > 0.62 else "center"
    y = "top" if center[1] < 0.4 else "bottom" if center[1] > 0.6 else "middle"
    where = "the center" if (x, y) == ("center", "middle") else f"the {y} {x}"
    return f"at {where} of the frame" if plain else f"at {where} of view {view}"


def propose(ctx: Context, modality: str) -> Task | None:
    if ctx.held_out == "composition":
        return None
    scene = ctx.scene
    shots = ctx.shots
    if modality == "video" and len(shots) < 2:
        return None
    n_frames, n_views = len(shots), len(shots[0])
    variant = ctx.choice(VARIANTS[modality])
    # Mask regions: (record view index, frame, view). Records hold image: view 0 of the first
    # frame; video: view 0 of every frame; 3d: every view; 4d: every frame x view, frame-major
    # (generate._shot_list), so the first frame's views are record views 0..V-1.
    if modality == "image":
        region_views = [(0, 0, 0)]
    elif modality == "video":
        region_views = [(f, f, 0) for f in range(n_frames)][:16]
    else:
        region_views = [(v, 0, v) for v in range(n_views)][:16]

    def boxes(name: str) -> list[tuple[int, list[float], list[float]]]:
        out = []
        for rv, f, v in region_views:
            for m in shots[f][v].view.marks:
                if m.object == name and m.box is not None:
                    out.append((rv, m.box, m.center))
        return out

    candidates = [o.name for o in scene.marked if o.kind != "floor" and o.role == "main" and boxes(o.name)]
    if variant == "motion_fx":
        candidates = [n for n in candidates if n in scene.motions]
    if not candidates:
        return None
    plain = modality in ("image", "video")
    medium = "video" if modality == "video" else "image" if modality == "image" else f"{modality} scene"
    if variant == "style":
        target, how, protect = None, "global", ()
        wholes = (
            ["the video", "the clip", "the footage"]
            if modality == "video"
            else ["the image", "the picture", "the shot"]
        )
        subject = ctx.choice(wholes)
    else:
        target = ctx.choice(candidates)
        ways = ("kind", "color", "color_kind") if plain else ("name", "kind", "color", "color_kind", "mark")
        ref = refer(ctx, target, "generative_edit", ways)  # a plain picture has no names or marks to go by
        if ref is None:
            return None
        subject, how, protect = ref.phrase, ref.how, ref.protect
    ref = ref if variant != "style" else None

    obj = scene.get(target) if target else None
    if variant == "replace":
        thing = ctx.choice(THINGS[obj.kind])
        if obj.kind == "box" and ctx.rng.random() < 0.5:
            thing = ctx.choice(("a wooden crate", "a cardboard box"))
        ask = Ask(
            subject, [f"replace {{s}} with {thing}", f"swap {{s}} for {thing}", f"turn {{s}} into {thing}"], thing
        )
        slots = {"thing": thing}
        change, why = f"replaced with {thing}, same size, position and lighting", "swap an object for a different one"
    elif variant == "restyle":
        material = ctx.choice(MATERIALS)
        ask = Ask(
            subject,
            [f"make {{s}} look like {material}", f"give {{s}} a {material} look", f"make {{s}} out of {material}"],
            f"made of {material}",
        )
        slots = {"material": material}
        change, why = f"made of {material}, same shape and size", f"give a surface the texture of {material}"
    elif variant == "add":
        thing, rel = (
            ctx.choice(ADDITIONS),
            ctx.choice(
                ["next to", "on top of"]
                if obj.kind in ("table", "coffee_table", "box", "stool", "pedestal")
                else ["next to"]
            ),
        )
        ask = Ask(
            subject,
            [f"add {thing} {rel} {{s}}", f"put {thing} {rel} {{s}}"],
            f"{'beside' if rel == 'next to' else 'topped with'} {thing}",
        )
        slots = {"thing": thing, "rel": rel}
        change, why = (
            f"with {thing} {rel} it, matching the lighting and scale",
            "add new content that is not in the scene",
        )
    elif variant == "remove":
        ask = Ask(
            subject,
            ["remove {s}", "get rid of {s}", "erase {s}", "take {s} out"],
            "gone",
            ["{s} shouldn't be there", "{s} is distracting"],
        )
        slots = {}
        change, why = (
            "removed, the floor and background behind it filled in to match",
            "take an object out of a picture",
        )
    elif variant == "style":
        style = ctx.choice(STYLES)
        ask = Ask(
            subject,
            [f"make {{s}} look like {style}", f"turn {{s}} into {style}", f"restyle {{s}} as {style}"],
            f"like {style}",
        )
        slots = {"style": style, "medium": medium}
        change, why = f"restyled as {style}, layout and objects kept recognizable", "restyle a whole picture"
    else:
        verb, effect, state = ctx.choice(EFFECTS[scene.motions[target]])
        ask = Ask(subject, [verb], state)
        slots = {"effect": effect}
        change, why = f"with {effect}, path and timing unchanged", "deform or add effects to a motion"
    ask.protect = protect
    text, frame, _ = phrase(ctx, ask)
    level = GOLD_LEVEL[variant]

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0] if targets else None
        s = STRENGTH[lv]
        if t is None:
            regions = [{"view": rv, "box": [0.0, 0.0, 1.0, 1.0]} for rv, _, _ in region_views]
            prompt = PROMPTS["style"].format(**slots)
            where = [f"'{subject}' is the whole {medium}: the mask is every full frame."]
        else:
            o = scene.get(t)
            found = boxes(t)
            regions = [{"view": rv, "box": _grow(box) if variant == "add" else box} for rv, box, _ in found]
            word = noun(o)
            label = f"the {display_color(scene, o)} {word}" + ("" if plain else f" ({t})")
            pos = _position(found[0][2], found[0][0], plain)
            prompt = PROMPTS[variant].format(label=label, pos=pos, **slots)
            if plain:
                where = [f"'{subject}': in view {found[0][0]} the {display_color(scene, o)} {word} is at "
                         f"({found[0][2][0]:.2f}, {found[0][2][1]:.2f})."]  # fmt: skip
            else:
                where = [resolve(ctx, ref, t)]
        prompt += "; keep everything else unchanged" + (
            "; consistent across frames." if modality in ("video", "4d") else "."
        )
        mask = {"objects": [] if plain or t is None else [t], "regions": regions}
        op = {"op": "generative_edit", "modality": modality, "prompt": prompt[:400],
              "negative_prompt": "blurry, distorted, extra objects, changed background", "strength": s, "mask": mask}  # fmt: skip
        plan = make_plan(
            f"Generative {medium} edit: {variant.replace('_', ' ')}.",
            [(f"Generative edit: {variant}", f"No op can {why}; hand off to a {medium} editor.", 0.8, [op])],
        )
        scope = f"no scene graph (a plain {medium}): only a generative hand-off" if plain else (
            f"no op can {why}: a generative hand-off to a {modality} editor")  # fmt: skip
        strength_why = {"large": "the content changes", "medium": "shape and layout stay", "small": "a light touch"}[lv]
        return Decision(
            f"{variant.replace('_', ' ')}: {subject} {change}; {scope}.",
            where,
            [
                f"generative_edit ({modality}), strength {s} ({strength_why}), mask: {len(regions)} region(s)"
                + ("" if plain or t is None else f" and {t}")
                + "; the prompt names what changes."
            ],  # fmt: skip
            f"the mask covers {'the whole ' + medium if t is None else t} wherever it shows.",
            plan,
        )

    others = [(n,) for n in candidates if n != target]
    if target is None:
        others = [(n,) for n in candidates]
    return Task(FAMILY, variant, modality, ask, text, frame, decide, (target,) if target else (), level, LEVELS, others,
                can_flip=False, shots=modality, how=how)  # fmt: skip


def _grow(box: list[float]) -> list[float]:
    """Room around and above an object for something added next to or on top of it."""
    w, h = box[2] - box[0], box[3] - box[1]
    return [round(max(0.0, box[0] - 0.4 * w), 4), round(max(0.0, box[1] - 0.8 * h), 4),
            round(min(1.0, box[2] + 0.4 * w), 4), round(min(1.0, box[3] + 0.1 * h), 4)]  # fmt: skip
