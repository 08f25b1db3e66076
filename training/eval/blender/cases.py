"""The Blender-built evaluation set: scenes built with bpy, instructions as artists type them, and
predicates on the scene after the best suggestion is applied.

A case is a few lines: the scene (a builder in `scenes.py`), a short name, the kind of request,
the instruction, the objects the edit is about (`targets`; `also`: others an edit may name
without being wrong, e.g. a lamp's parts under the lamp), the check (`checks.py`), a hand-written
gold edit that passes it and a decoy, a plausible wrong edit that must not (both typed ops of the
vocabulary; the Blender suite applies both through the add-on's apply to prove each check). The
gold edits exist only to validate the checks: they are not training data, and nothing here is
shared with the training generator (these cases measure generalization).

Right target: the applied suggestion's ops name (in their `targets`, `target` and `camera`
fields) every object of `targets` and nothing outside `targets` and `also`. A case that lists
only `also` ("add a third cushion": a copy of either cushion will do) needs at least one of them
named; a case with neither (a new light, the world) is on target when the ops name no object.

Pure Python (no bpy): the command line reads it to choose cases; Blender runs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evlm.edits import OPS, EditOp
from training.eval.blender.checks import (
    Check,
    aims_at,
    all_of,
    any_of,
    colour,
    copies,
    distance_ratio,
    duration_ratio,
    eased,
    energy_ratio,
    glow,
    gone,
    grounded,
    height_ratio,
    hidden,
    in_container,
    interpolation,
    lens_mm,
    lens_ratio,
    light_colour,
    light_type,
    modifier,
    moved,
    new_light,
    next_to,
    on_top_of,
    peak_ratio,
    reversed_motion,
    size_ratio,
    smooth_shaded,
    speed_ratio,
    starts_later,
    surface,
    travel_ratio,
    turned,
    unchanged,
    world_colour,
    world_ratio,
)

KINDS = (
    "lights", "removal", "visibility", "duplication", "camera", "modifiers", "timing", "animation", "placement",
    "material", "emission", "transform", "world",
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    scene: str
    name: str
    kind: str
    instruction: str
    targets: tuple[str, ...]
    check: Check
    gold: tuple[EditOp, ...]
    decoy: tuple[EditOp, ...]
    also: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.scene}/{self.name}"


def op(kind: str, **fields: object) -> EditOp:
    """One typed op of the vocabulary, checked now: op("scale", targets=["Cube"], factor=[2, 2, 2])."""
    return OPS[kind].model_validate({"op": kind, **fields})


def named(ops: Iterable[EditOp]) -> set[str]:
    """The scene objects the ops act on (a generative hand-off's mask does not count: it edits nothing)."""
    out: set[str] = set()
    for o in ops:
        out.update(getattr(o, "targets", None) or [])
        out.update(v for v in (getattr(o, "target", None), getattr(o, "camera", None)) if v)
    return out


def right_target(case: Case, ops: Iterable[EditOp]) -> bool:
    names, must, may = named(ops), set(case.targets), set(case.targets) | set(case.also)
    return must <= names <= may and (bool(names) or not may)


def _case(scene: str, name: str, kind: str, instruction: str, targets: Iterable[str], check: Check,
          gold: Iterable[EditOp], decoy: Iterable[EditOp], also: Iterable[str] = ()) -> Case:  # fmt: skip
    return Case(scene, name, kind, instruction, tuple(targets), check, tuple(gold), tuple(decoy), tuple(also))


def _living_room() -> list[Case]:
    c = lambda *a, **k: _case("living_room", *a, **k)  # noqa: E731
    lamp_parts = ("Floor_Lamp", "Lamp_Base", "Lamp_Pole", "Lamp_Shade")
    return [
        c("dim_floor_lamp", "lights", "the floor lamp is way too bright, it's blowing out the sofa. tone it down",
          ["Lamp_Light"], all_of(energy_ratio("Lamp_Light", 0.05, 0.7), unchanged("Ceiling_Light")),
          [op("set_light_energy", targets=["Lamp_Light"], value=0.4)],
          [op("set_light_energy", targets=["Ceiling_Light"], value=0.4)], also=lamp_parts),
        c("warm_ceiling_light", "lights", "warm up the ceiling light, it feels like an office in here",
          ["Ceiling_Light"], all_of(light_colour("Ceiling_Light", "warmer"), unchanged("Lamp_Light")),
          [op("set_light_color", targets=["Ceiling_Light"], color=[1.0, 0.8, 0.6])],
          [op("set_light_color", targets=["Lamp_Light"], color=[1.0, 0.7, 0.4])]),
        c("delete_green_chair", "removal", "get rid of the green chair",
          ["Chair.001"], all_of(gone("Chair.001"), unchanged("Chair")),
          [op("delete", targets=["Chair.001"])], [op("delete", targets=["Chair"])]),
        c("delete_book", "removal", "delete the book on the coffee table",
          ["Book"], all_of(gone("Book"), unchanged("Coffee_Table", "Vase")),
          [op("delete", targets=["Book"])], [op("delete", targets=["Vase"])]),
        c("hide_rug", "visibility", "hide the rug for now, I want to judge the floor on its own",
          ["Rug"], hidden("Rug"), [op("set_visibility", targets=["Rug"], visible=False)], [op("delete", targets=["Rug"])]),
        c("third_cushion", "duplication", "add a third cushion to the sofa",
          [], any_of(copies("Sofa_Cushion", 1, 1, over="Sofa"), copies("Sofa_Cushion.001", 1, 1, over="Sofa")),
          [op("duplicate", targets=["Sofa_Cushion.001"], offset=[0.6, 0.0, 0.0])],
          [op("duplicate", targets=["Sofa_Cushion.001"], offset=[0.0, 0.0, 0.0])], also=["Sofa_Cushion", "Sofa_Cushion.001"]),
        c("push_in_on_sofa", "camera", "main cam is too wide, push in on the sofa a bit",
          ["Cam_Main"], any_of(lens_ratio("Cam_Main", 1.15, 3.0),
                               all_of(distance_ratio("Cam_Main", "Sofa", 0.3, 0.9), aims_at("Cam_Main", "Sofa", 20))),
          [op("set_focal_length", camera="Cam_Main", value=45.0)], [op("set_focal_length", camera="Cam_Main", value=24.0)],
          also=["Sofa"]),
        c("closeup_on_tv", "camera", "point the close-up camera at the TV",
          ["Cam_Closeup", "TV"], aims_at("Cam_Closeup", "TV"),
          [op("camera_look_at", camera="Cam_Closeup", target="TV")],
          [op("camera_look_at", camera="Cam_Closeup", target="Coffee_Table")]),
        c("rounder_table_edges", "modifiers", "round off the coffee table edges more, they look razor sharp",
          ["Coffee_Table"], modifier("Coffee_Table", "BEVEL", width=(0.015, 0.2)),
          [op("adjust_modifier", targets=["Coffee_Table"], name="Bevel", modifier={"type": "BEVEL", "width": 0.03})],
          [op("adjust_modifier", targets=["Coffee_Table"], name="Bevel", modifier={"type": "BEVEL", "width": 0.01})]),
        c("slower_fan", "timing", "the ceiling fan spins way too fast, slow it down",
          ["Ceiling_Fan"], speed_ratio("Ceiling_Fan", "rotation_euler[2]", 0.05, 0.75),
          [op("retime", targets=["Ceiling_Fan"], factor=2.0)], [op("retime", targets=["Ceiling_Fan"], factor=0.5)]),
        c("reverse_fan", "animation", "the fan should turn the other way",
          ["Ceiling_Fan"], reversed_motion("Ceiling_Fan", "rotation_euler[2]"),
          [op("insert_keyframe", target="Ceiling_Fan", channel="rotation_euler", index=2, frame=96.0, value=-25.1327)],
          [op("rotate", targets=["Ceiling_Fan"], degrees=[0.0, 0.0, 180.0])]),
        c("vase_on_table", "placement", "put the vase on the coffee table",
          ["Vase"], on_top_of("Vase", "Coffee_Table"),
          [op("translate", targets=["Vase"], vector=[-0.3, 0.4, 0.45], mode="absolute")],
          [op("translate", targets=["Vase"], vector=[0.0, 0.0, 0.45])]),
        c("match_the_chairs", "material", "make the wooden chair match the green one",
          ["Chair"], all_of(colour("Chair", "green"), unchanged("Chair.001")),
          [op("set_base_color", targets=["Chair"], color=[0.05, 0.3, 0.08])],
          [op("set_base_color", targets=["Chair.001"], color=[0.45, 0.28, 0.12])]),
        c("tv_on", "emission", "turn the TV on, give the screen a soft blue glow",
          ["TV"], glow("TV", power=(0.3, 50.0), colour="blue"),
          [op("set_emission", targets=["TV"], color=[0.2, 0.4, 1.0], strength=2.0)],
          [op("set_emission", targets=["TV"], color=[1.0, 0.3, 0.1], strength=2.0)]),
        c("bigger_plant", "transform", "the potted plant looks tiny in that corner, scale the whole thing up quite a bit",
          ["Plant_Pot"], all_of(size_ratio("Plant_Pot", 1.3, 3.0), size_ratio("Plant", 1.3, 3.0), grounded("Plant_Pot")),
          [op("scale", targets=["Plant_Pot"], factor=[1.6, 1.6, 1.6])], [op("scale", targets=["Plant"], factor=[1.6, 1.6, 1.6])],
          also=["Plant"]),
        c("taller_box", "transform", "the little grey box next to the sofa should be a bit taller",
          ["Cube.001"], all_of(height_ratio("Cube.001", 1.1, 2.0), grounded("Cube.001")),
          [op("scale", targets=["Cube.001"], factor=[1.0, 1.0, 1.5])], [op("translate", targets=["Cube.001"], vector=[0.0, 0.0, 0.3])]),
        c("night_outside", "world", "it's supposed to be night outside, make the sky way darker",
          [], world_ratio(None, 0.3), [op("set_world_strength", value=0.15)], [op("set_world_strength", value=0.6)]),
    ]  # fmt: skip


def _product_shot() -> list[Case]:
    c = lambda *a, **k: _case("product_shot", *a, **k)  # noqa: E731
    return [
        c("rim_to_half", "lights", "rim light is too harsh, bring it down to about half",
          ["Rim_Light"], all_of(energy_ratio("Rim_Light", 0.35, 0.65), unchanged("Key_Light", "Fill_Light")),
          [op("set_light_energy", targets=["Rim_Light"], value=0.5)], [op("set_light_energy", targets=["Key_Light"], value=0.5)]),
        c("blue_fill", "lights", "make the fill light a cool blue",
          ["Fill_Light"], all_of(light_colour("Fill_Light", "blue"), unchanged("Key_Light")),
          [op("set_light_color", targets=["Fill_Light"], color=[0.5, 0.7, 1.0])],
          [op("set_light_color", targets=["Key_Light"], color=[0.5, 0.7, 1.0])]),
        c("key_to_spot", "lights", "switch the key light to a spot",
          ["Key_Light"], light_type("Key_Light", "SPOT"),
          [op("set_light_type", targets=["Key_Light"], type="SPOT")], [op("set_light_type", targets=["Fill_Light"], type="SPOT")]),
        c("lens_135", "camera", "put a longer lens on the product camera, something like 135mm",
          ["Product_Cam"], lens_mm("Product_Cam", 120.0, 150.0),
          [op("set_focal_length", camera="Product_Cam", value=135.0)], [op("set_focal_length", camera="Product_Cam", value=100.0)]),
        c("top_cam_on_bottle", "camera", "aim the top camera at the perfume bottle",
          ["Top_Cam", "Perfume_Bottle"], aims_at("Top_Cam", "Perfume_Bottle"),
          [op("camera_look_at", camera="Top_Cam", target="Perfume_Bottle")],
          [op("camera_look_at", camera="Top_Cam", target="Sphere")]),
        c("matte_black_cap", "material", "the cap should be matte black instead of gold",
          ["Bottle_Cap"], all_of(colour("Bottle_Cap", "black"), surface("Bottle_Cap", roughness=(0.4, None), metallic=(None, 0.5))),
          [op("set_base_color", targets=["Bottle_Cap"], color=[0.01, 0.01, 0.01]),
           op("set_roughness", targets=["Bottle_Cap"], value=0.8), op("set_metallic", targets=["Bottle_Cap"], value=0.0)],
          [op("set_base_color", targets=["Bottle_Cap"], color=[0.01, 0.01, 0.01])]),
        c("less_see_through", "material", "the glass is too see-through, make the bottle less transparent",
          ["Perfume_Bottle"], surface("Perfume_Bottle", alpha=(0.55, None)),
          [op("set_alpha", targets=["Perfume_Bottle"], value=0.8)], [op("set_alpha", targets=["Perfume_Bottle"], value=0.2)]),
        c("subtle_bevel_box", "modifiers", "add a subtle bevel to the packaging so the edges catch the light",
          ["Packaging"], modifier("Packaging", "BEVEL", width=(0.001, 0.03)),
          [op("add_modifier", targets=["Packaging"], modifier={"type": "BEVEL", "width": 0.01, "segments": 3})],
          [op("add_modifier", targets=["Packaging"], modifier={"type": "BEVEL", "width": 0.1, "segments": 3})]),
        c("smooth_the_ball", "modifiers", "the ball looks faceted, smooth it out",
          ["Sphere"], any_of(smooth_shaded("Sphere"), modifier("Sphere", "SUBSURF", levels=(1, None))),
          [op("set_shading", targets=["Sphere"], smooth=True)], [op("set_shading", targets=["Cube"], smooth=True)]),
        c("slower_turntable", "timing", "the turntable spins too fast, one turn should take twice as long",
          ["Pedestal"], speed_ratio("Pedestal", "rotation_euler[2]", 0.4, 0.62),
          [op("retime", targets=["Pedestal"], factor=2.0)], [op("retime", targets=["Pedestal"], factor=1.2)]),
        c("half_turn", "animation", "the turntable should only do half a turn over the same time",
          ["Pedestal"], all_of(travel_ratio("Pedestal", "rotation_euler[2]", 0.4, 0.6), duration_ratio("Pedestal", 0.95, 1.05)),
          [op("scale_amplitude", targets=["Pedestal"], channel="rotation_euler", index=2, factor=0.5)],
          [op("retime", targets=["Pedestal"], factor=2.0)]),
        c("delete_default_cube", "removal", "delete the default cube, it doesn't belong in the shot",
          ["Cube"], all_of(gone("Cube"), unchanged("Sphere")), [op("delete", targets=["Cube"])], [op("delete", targets=["Sphere"])]),
        c("ball_on_pedestal", "placement", "put the little ball up on the pedestal next to the bottle",
          ["Sphere"], all_of(on_top_of("Sphere", "Pedestal"), next_to("Sphere", "Perfume_Bottle", gap=0.3)),
          [op("translate", targets=["Sphere"], vector=[0.2, -0.1, 0.3], mode="absolute")],
          [op("translate", targets=["Sphere"], vector=[0.2, -0.1, 0.5], mode="absolute")]),
        c("black_background", "world", "make the background pure black",
          [], world_ratio(None, 0.05), [op("set_world_color", color=[0.0, 0.0, 0.0])], [op("set_world_strength", value=0.5)]),
    ]  # fmt: skip


def _street() -> list[Case]:
    c = lambda *a, **k: _case("street", *a, **k)  # noqa: E731
    wheels = ("Wheel_FL", "Wheel_FR", "Wheel_RL", "Wheel_RR")
    parked_wheels = tuple(f"{w}.001" for w in wheels)
    lights = ["Street_Lamp_Light", "Street_Lamp_Light.001"]
    return [
        c("slower_car", "timing", "the car zips past way too fast, make the drive take about twice as long",
          ["Car"], duration_ratio("Car", 1.6, 2.5),
          [op("retime", targets=["Car"], factor=2.0)], [op("retime", targets=["Car"], factor=1.2)], also=wheels),
        c("car_a_second_later", "timing", "have the red car come in a second later",
          ["Car"], starts_later("Car", 20, 30),
          [op("shift_keys", targets=["Car"], frames=24.0)], [op("shift_keys", targets=["Car"], frames=5.0)], also=wheels),
        c("ease_the_car", "animation", "the red car should ease in and out, not move at that constant speed",
          ["Car"], eased("Car"),
          [op("set_interpolation", targets=["Car"], interpolation="BEZIER")],
          [op("set_interpolation", targets=["Car"], interpolation="CONSTANT")], also=wheels),
        c("delete_cone", "removal", "delete the traffic cone",
          ["Traffic_Cone"], all_of(gone("Traffic_Cone"), unchanged("Trash_Bin")),
          [op("delete", targets=["Traffic_Cone"])], [op("delete", targets=["Trash_Bin"])]),
        c("second_cone", "duplication", "add another traffic cone a couple of meters further down the sidewalk",
          ["Traffic_Cone"], copies("Traffic_Cone", 1, 1, over="Sidewalk", spacing=(1.0, 3.5)),
          [op("duplicate", targets=["Traffic_Cone"], offset=[2.0, 0.0, 0.0])],
          [op("duplicate", targets=["Traffic_Cone"], offset=[0.0, 0.0, 0.0])]),
        c("sodium_street_lights", "lights", "street lights should be a warm sodium orange",
          lights, all_of(*(light_colour(n, "orange") for n in lights)),
          [op("set_light_color", targets=lights, color=[1.0, 0.35, 0.05])],
          [op("set_light_color", targets=lights[:1], color=[1.0, 0.35, 0.05])]),
        c("left_bulb_off", "emission", "switch off the glow of the bulb on the left street lamp",
          ["Lamp_Bulb"], all_of(glow("Lamp_Bulb", ratio=(None, 0.1)), unchanged("Lamp_Bulb.001")),
          [op("set_emission", targets=["Lamp_Bulb"], color=[1.0, 0.8, 0.5], strength=0.0)],
          [op("set_emission", targets=["Lamp_Bulb.001"], color=[1.0, 0.8, 0.5], strength=0.0)],
          also=["Street_Lamp", "Street_Lamp_Light"]),
        c("hide_parked_car", "visibility", "hide the parked blue car",
          ["Car.001"], all_of(hidden("Car.001"), unchanged("Car")),
          [op("set_visibility", targets=["Car.001"], visible=False)], [op("set_visibility", targets=["Car"], visible=False)],
          also=parked_wheels),
        c("drone_on_red_car", "camera", "make the drone camera look at the red car",
          ["Drone_Cam", "Car"], aims_at("Drone_Cam", "Car"),
          [op("camera_look_at", camera="Drone_Cam", target="Car")], [op("camera_look_at", camera="Drone_Cam", target="Car.001")]),
        c("repaint_parked_car", "material", "repaint the parked car a dark green",
          ["Car.001"], all_of(colour("Car.001", "green"), unchanged("Car")),
          [op("set_base_color", targets=["Car.001"], color=[0.02, 0.2, 0.04])],
          [op("set_base_color", targets=["Car"], color=[0.02, 0.2, 0.04])], also=parked_wheels),
        c("shorter_building", "transform", "the building on the right is too tall, make it shorter",
          ["Building_B"], all_of(height_ratio("Building_B", 0.4, 0.9), grounded("Building_B"), unchanged("Building_A")),
          [op("scale", targets=["Building_B"], factor=[1.0, 1.0, 0.7])], [op("scale", targets=["Building_A"], factor=[1.0, 1.0, 0.7])]),
        c("dusk", "world", "make it feel like dusk: darker and more orange sky",
          [], all_of(world_ratio(None, 0.7), world_colour("warmer")),
          [op("set_world_color", color=[0.45, 0.2, 0.08]), op("set_world_strength", value=0.6)],
          [op("set_world_strength", value=0.5)]),
        c("bin_by_the_cone", "placement", "move the trash bin next to the traffic cone",
          ["Trash_Bin"], next_to("Trash_Bin", "Traffic_Cone", gap=0.6),
          [op("translate", targets=["Trash_Bin"], vector=[-0.4, 4.5, 0.15], mode="absolute")],
          [op("translate", targets=["Trash_Bin"], vector=[-1.0, 4.5, 0.15], mode="absolute")]),
    ]  # fmt: skip


def _character() -> list[Case]:
    c = lambda *a, **k: _case("character", *a, **k)  # noqa: E731
    return [
        c("higher_jump", "animation", "make the hero's jump about 30% higher",
          ["Hero"], peak_ratio("Hero", 1.2, 1.5),
          [op("scale_amplitude", targets=["Hero"], channel="location", index=2, factor=1.3)],
          [op("translate", targets=["Hero"], vector=[0.0, 0.0, 0.3])], also=["Hero_Head"]),
        c("snappier_ball", "timing", "the ball's bounce feels floaty, speed it up a bit",
          ["Sphere_Ball"], all_of(duration_ratio("Sphere_Ball", 0.5, 0.9), unchanged("Hero")),
          [op("retime", targets=["Sphere_Ball"], factor=0.7)], [op("retime", targets=["Hero"], factor=0.7)]),
        c("smoother_bounce", "animation", "the ball bounce looks stiff and robotic, make it smoother",
          ["Sphere_Ball"], interpolation("Sphere_Ball"),
          [op("set_interpolation", targets=["Sphere_Ball"], interpolation="BEZIER")],
          [op("set_interpolation", targets=["Hero"], interpolation="BEZIER")]),
        c("ball_later", "timing", "start the ball bouncing 10 frames later",
          ["Sphere_Ball"], all_of(starts_later("Sphere_Ball", 8, 12), unchanged("Hero")),
          [op("shift_keys", targets=["Sphere_Ball"], frames=10.0)],
          [op("shift_keys", targets=["Sphere_Ball", "Hero"], frames=10.0)]),
        c("delete_second_crate", "removal", "delete the second crate",
          ["Crate.001"], all_of(gone("Crate.001"), unchanged("Crate")),
          [op("delete", targets=["Crate.001"])], [op("delete", targets=["Crate"])]),
        c("stack_crates", "duplication", "duplicate the first crate and stack the copy on top of it",
          ["Crate"], copies("Crate", 1, 1, place="on_top"),
          [op("duplicate", targets=["Crate"], offset=[0.0, 0.0, 0.6])], [op("duplicate", targets=["Crate"], offset=[0.8, 0.0, 0.0])]),
        c("side_cam_on_hero", "camera", "point the side camera at the hero",
          ["Side_Cam", "Hero"], aims_at("Side_Cam", "Hero"),
          [op("camera_look_at", camera="Side_Cam", target="Hero")],
          [op("camera_look_at", camera="Side_Cam", target="Sphere_Ball")], also=["Hero_Head"]),
        c("pull_back", "camera", "pull the main camera back a little, the hero's head gets cut off",
          ["Anim_Cam"], any_of(distance_ratio("Anim_Cam", "Hero", 1.1, 2.0), lens_ratio("Anim_Cam", 0.5, 0.9)),
          [op("move_camera", camera="Anim_Cam", vector=[0.0, -3.0, 0.0])],
          [op("move_camera", camera="Anim_Cam", vector=[0.0, 3.0, 0.0])]),
        c("rim_to_a_tenth", "lights", "the rim light is way too strong, cut it to a tenth",
          ["Rim_Light"], energy_ratio("Rim_Light", 0.07, 0.14),
          [op("set_light_energy", targets=["Rim_Light"], value=0.1)], [op("set_light_energy", targets=["Rim_Light"], value=0.5)]),
        c("wireframe_crates", "modifiers", "give both crates a wireframe look",
          ["Crate", "Crate.001"], all_of(modifier("Crate", "WIREFRAME"), modifier("Crate.001", "WIREFRAME")),
          [op("add_modifier", targets=["Crate", "Crate.001"], modifier={"type": "WIREFRAME", "thickness": 0.02})],
          [op("add_modifier", targets=["Crate"], modifier={"type": "WIREFRAME", "thickness": 0.02})]),
        c("angle_the_crate", "transform", "turn the first crate about 45 degrees so it sits at an angle",
          ["Crate"], all_of(turned("Crate", 35, 45, period=90), grounded("Crate")),
          [op("rotate", targets=["Crate"], degrees=[0.0, 0.0, 45.0])], [op("rotate", targets=["Crate"], degrees=[45.0, 0.0, 0.0])]),
        c("hat_on_head", "placement", "put the hat on the hero's head",
          ["Hat"], on_top_of("Hat", "Hero_Head", tolerance=0.03),
          [op("translate", targets=["Hat"], vector=[-2.0, 0.0, 1.4], mode="absolute")],
          [op("translate", targets=["Hat"], vector=[-2.0, 0.0, 1.0], mode="absolute")]),
        c("yellow_ball", "material", "make the ball bright yellow",
          ["Sphere_Ball"], colour("Sphere_Ball", "yellow"),
          [op("set_base_color", targets=["Sphere_Ball"], color=[1.0, 0.8, 0.0])],
          [op("set_base_color", targets=["Sphere_Ball"], color=[1.0, 0.3, 0.0])]),
        c("hide_the_hat", "visibility", "hide the hat for this shot",
          ["Hat"], hidden("Hat"), [op("set_visibility", targets=["Hat"], visible=False)],
          [op("set_visibility", targets=["Hero_Head"], visible=False)]),
    ]  # fmt: skip


def _still_life() -> list[Case]:
    c = lambda *a, **k: _case("still_life", *a, **k)  # noqa: E731
    apples = ["Apple", "Apple.001"]
    return [
        c("pear_in_bowl", "placement", "the pear should sit in the bowl",
          ["Pear"], in_container("Pear", "Bowl"),
          [op("translate", targets=["Pear"], vector=[0.45, 0.05, 0.8], mode="absolute")],
          [op("translate", targets=["Pear"], vector=[0.45, 0.05, 1.0], mode="absolute")]),
        c("delete_knife", "removal", "get rid of the knife, it's distracting",
          ["Knife"], all_of(gone("Knife"), unchanged("Vase")), [op("delete", targets=["Knife"])], [op("delete", targets=["Vase"])]),
        c("brighter_flame", "emission", "make the candle flame glow brighter",
          ["Candle_Flame"], glow("Candle_Flame", ratio=(1.5, None)),
          [op("set_emission", targets=["Candle_Flame"], color=[1.0, 0.5, 0.1], strength=6.0)],
          [op("set_light_energy", targets=["Candle_Light"], value=2.0)]),
        c("warmer_window", "lights", "the window light is too cold and too bright, make it warmer and a little dimmer",
          ["Window_Light"], all_of(light_colour("Window_Light", "warmer"), energy_ratio("Window_Light", 0.3, 0.95)),
          [op("set_light_color", targets=["Window_Light"], color=[1.0, 0.85, 0.7]),
           op("set_light_energy", targets=["Window_Light"], value=0.7)],
          [op("set_light_color", targets=["Window_Light"], color=[1.0, 0.85, 0.7])]),
        c("metal_vase", "material", "make the vase look like polished metal",
          ["Vase"], surface("Vase", metallic=(0.7, None), roughness=(None, 0.35)),
          [op("set_metallic", targets=["Vase"], value=1.0), op("set_roughness", targets=["Vase"], value=0.15)],
          [op("set_metallic", targets=["Vase"], value=1.0)]),
        c("green_apples", "material", "both apples should be green, not red",
          apples, all_of(*(colour(n, "green") for n in apples)),
          [op("set_base_color", targets=apples, color=[0.2, 0.6, 0.05])],
          [op("set_base_color", targets=apples[:1], color=[0.2, 0.6, 0.05])]),
        c("thicker_bowl", "modifiers", "the bowl is paper thin, give it some thickness",
          ["Bowl"], any_of(modifier("Bowl", "SOLIDIFY", thickness=(0.003, 0.05)), modifier("Bowl", "SOLIDIFY", thickness=(-0.05, -0.003))),
          [op("add_modifier", targets=["Bowl"], modifier={"type": "SOLIDIFY", "thickness": 0.01})],
          [op("add_modifier", targets=["Bowl"], modifier={"type": "SUBSURF", "levels": 1})]),
        c("tighter_shot", "camera", "tighter shot of the fruit please, longer lens on the camera",
          ["Camera"], lens_ratio("Camera", 1.3, 4.0),
          [op("set_focal_length", camera="Camera", value=85.0)], [op("set_focal_length", camera="Camera", value=35.0)]),
        c("smaller_bottle", "transform", "the wine bottle is a bit too big, scale it down slightly",
          ["Wine_Bottle"], all_of(size_ratio("Wine_Bottle", 0.7, 0.95), grounded("Wine_Bottle")),
          [op("scale", targets=["Wine_Bottle"], factor=[0.85, 0.85, 0.85])],
          [op("scale", targets=["Wine_Bottle"], factor=[1.15, 1.15, 1.15])]),
        c("more_apples", "duplication", "add a couple more apples on the table",
          [], copies("Apple", 2, 3, over="Table"),
          [op("duplicate", targets=["Apple"], offset=[-0.12, 0.05, 0.0]), op("duplicate", targets=["Apple.001"], offset=[0.1, -0.1, 0.0])],
          [op("duplicate", targets=["Apple"], offset=[0.0, 0.0, 0.3])], also=apples),
        c("hide_grey_box", "visibility", "hide the grey box on the floor",
          ["Cube.002"], hidden("Cube.002"), [op("set_visibility", targets=["Cube.002"], visible=False)],
          [op("delete", targets=["Cube.002"])]),
        c("warm_background", "world", "give the background a warm tint",
          [], world_colour("warmer"), [op("set_world_color", color=[0.3, 0.15, 0.05])],
          [op("set_world_color", color=[0.05, 0.1, 0.3])]),
    ]  # fmt: skip


def _gallery() -> list[Case]:
    c = lambda *a, **k: _case("gallery", *a, **k)  # noqa: E731
    paintings = ["Painting", "Painting.001"]
    return [
        c("look_at_statue", "camera", "point the gallery camera at the statue",
          ["Gallery_Cam", "Statue"], aims_at("Gallery_Cam", "Statue"),
          [op("camera_look_at", camera="Gallery_Cam", target="Statue")],
          [op("camera_look_at", camera="Gallery_Cam", target="Bench")], also=["Plinth"]),
        c("wider_lens", "camera", "use a wider lens on the gallery camera so more of the room is in frame",
          ["Gallery_Cam"], lens_ratio("Gallery_Cam", 0.4, 0.85),
          [op("set_focal_length", camera="Gallery_Cam", value=24.0)], [op("set_focal_length", camera="Gallery_Cam", value=50.0)]),
        c("light_the_statue", "lights", "add another light near the statue, its face is too dark",
          [], new_light(near="Statue", within=4.0),
          [op("add_light", name="Statue_Fill", type="AREA", location=[-1.5, -1.0, 2.0], energy=200.0)],
          [op("set_light_energy", targets=["Spot_Statue"], value=2.0)]),
        c("delete_bench", "removal", "delete the bench",
          ["Bench"], all_of(gone("Bench"), unchanged("Plinth")), [op("delete", targets=["Bench"])], [op("delete", targets=["Plinth"])]),
        c("bronze_statue", "material", "make the statue look like bronze",
          ["Statue"], all_of(colour("Statue", "bronze"), surface("Statue", metallic=(0.6, None))),
          [op("set_base_color", targets=["Statue"], color=[0.45, 0.25, 0.1]), op("set_metallic", targets=["Statue"], value=1.0),
           op("set_roughness", targets=["Statue"], value=0.35)],
          [op("set_base_color", targets=["Statue"], color=[0.45, 0.25, 0.1])]),
        c("bench_to_wall", "placement", "push the bench back against the wall under the paintings",
          ["Bench"], next_to("Bench", "Wall_Back", gap=0.15),
          [op("translate", targets=["Bench"], vector=[0.0, 3.6, 0.0], mode="absolute")],
          [op("translate", targets=["Bench"], vector=[0.0, 2.5, 0.0], mode="absolute")]),
        c("hide_right_painting", "visibility", "hide the painting on the right",
          ["Painting.001"], all_of(hidden("Painting.001"), unchanged("Painting")),
          [op("set_visibility", targets=["Painting.001"], visible=False)],
          [op("set_visibility", targets=["Painting"], visible=False)]),
        c("backlit_paintings", "emission", "make the paintings glow a little, like they're backlit",
          paintings, all_of(*(glow(n, power=(0.05, 10.0)) for n in paintings)),
          [op("set_emission", targets=paintings, color=[1.0, 1.0, 1.0], strength=0.5)],
          [op("set_emission", targets=paintings[:1], color=[1.0, 1.0, 1.0], strength=0.5)]),
        c("darker_room", "world", "the room should feel darker, dim the environment light",
          [], world_ratio(None, 0.6), [op("set_world_strength", value=0.4)],
          [op("set_light_energy", targets=["Ceiling_Area"], value=0.4)]),
        c("bevel_plinth", "modifiers", "the plinth edges look too sharp, bevel them",
          ["Plinth"], modifier("Plinth", "BEVEL", width=(0.002, 0.1)),
          [op("add_modifier", targets=["Plinth"], modifier={"type": "BEVEL", "width": 0.02, "segments": 2})],
          [op("add_modifier", targets=["Statue"], modifier={"type": "BEVEL", "width": 0.02, "segments": 2})]),
        c("bigger_statue", "transform", "make the statue a bit bigger",
          ["Statue"], all_of(size_ratio("Statue", 1.1, 1.6), grounded("Statue")),
          [op("scale", targets=["Statue"], factor=[1.25, 1.25, 1.25])], [op("scale", targets=["Plinth"], factor=[1.25, 1.25, 1.25])]),
    ]  # fmt: skip


def _factory() -> list[Case]:
    c = lambda *a, **k: _case("factory", *a, **k)  # noqa: E731
    return [
        c("red_cube", "material", "make the cube red",
          ["Cube"], colour("Cube", "red"),
          [op("set_base_color", targets=["Cube"], color=[0.8, 0.05, 0.04])],
          [op("set_base_color", targets=["Cube"], color=[0.8, 0.4, 0.05])]),
        c("dim_a_little", "lights", "the light's a bit strong, dim it a little",
          ["Light"], energy_ratio("Light", 0.4, 0.95),
          [op("set_light_energy", targets=["Light"], value=0.7)], [op("set_light_energy", targets=["Light"], value=0.2)]),
        c("twice_as_big", "transform", "make the cube twice as big",
          ["Cube"], size_ratio("Cube", 1.8, 2.2),
          [op("scale", targets=["Cube"], factor=[2.0, 2.0, 2.0])], [op("scale", targets=["Cube"], factor=[2.0, 2.0, 1.0])]),
        c("raise_a_meter", "transform", "raise the cube by a meter",
          ["Cube"], moved("Cube", dz=(0.8, 1.2), dxy=(None, 0.05)),
          [op("translate", targets=["Cube"], vector=[0.0, 0.0, 1.0])], [op("translate", targets=["Cube"], vector=[0.0, 0.0, 0.3])]),
        c("rounder_cube", "modifiers", "subdivide the cube so it looks rounder",
          ["Cube"], any_of(modifier("Cube", "SUBSURF", levels=(1, None)), modifier("Cube", "BEVEL", width=(0.1, None))),
          [op("add_modifier", targets=["Cube"], modifier={"type": "SUBSURF", "levels": 2})],
          [op("add_modifier", targets=["Cube"], modifier={"type": "BEVEL", "width": 0.02})]),
        c("brighter_world", "world", "brighten the world background a lot",
          [], world_ratio(2.0, None), [op("set_world_strength", value=3.0)], [op("set_world_strength", value=1.2)]),
        c("row_of_five", "duplication", "make a row of five cubes",
          ["Cube"], any_of(modifier("Cube", "ARRAY", count=(5, 5)), copies("Cube", 4, 4)),
          [op("add_modifier", targets=["Cube"], modifier={"type": "ARRAY", "count": 5, "relative_offset": [1.2, 0.0, 0.0]})],
          [op("add_modifier", targets=["Cube"], modifier={"type": "ARRAY", "count": 3, "relative_offset": [1.2, 0.0, 0.0]})]),
        c("glowing_cube", "emission", "make the cube glow orange",
          ["Cube"], glow("Cube", power=(0.5, None), colour="orange"),
          [op("set_emission", targets=["Cube"], color=[1.0, 0.3, 0.02], strength=3.0)],
          [op("set_base_color", targets=["Cube"], color=[1.0, 0.3, 0.02])]),
    ]  # fmt: skip


CASES: tuple[Case, ...] = tuple(
    _living_room() + _product_shot() + _street() + _character() + _still_life() + _gallery() + _factory()
)
BY_ID: dict[str, Case] = {c.id: c for c in CASES}


def select(
    kinds: Iterable[str] | None = None, ids: Iterable[str] | None = None, limit: int | None = None
) -> list[Case]:
    """The cases of these kinds and/or ids, in the set's order, at most `limit`. Raises ValueError on
    an unknown kind or id."""
    kinds, ids = (set(kinds) if kinds else None), (list(ids) if ids else None)
    if kinds and (bad := sorted(kinds - set(KINDS))):
        raise ValueError(f"unknown kind {', '.join(bad)}; known: {', '.join(KINDS)}")
    if ids and (bad := [i for i in ids if i not in BY_ID]):
        raise ValueError(f"unknown case {', '.join(bad)}; see --list")
    chosen = [c for c in CASES if (kinds is None or c.kind in kinds) and (ids is None or c.id in ids)]
    return chosen[:limit] if limit is not None else chosen
