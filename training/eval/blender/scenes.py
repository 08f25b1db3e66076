"""The evaluation's scenes, built in Blender by code (needs bpy), never by the synthetic generator.

Seven styles an artist might open: a living room, a product shot, a street with cars, a
character animation shot, a still life, a gallery, and Blender's own factory scene. Names are
an artist's (`Sofa`, `Lamp_Shade`) and Blender's defaults (`Cube.001`, `Material.002`); there
are parents (a lamp's parts under an empty, wheels under a car), several lights and cameras,
animated objects among static ones, and same-kind distractors (two chairs, two cars, two
crates, two paintings). `build(name)` replaces the open file with a fresh one holding the scene.
"""

from __future__ import annotations

from collections.abc import Callable

import bpy

from training.eval.blender.build import (
    box,
    boxes,
    camera,
    cylinder,
    empty,
    fresh,
    keys,
    light,
    material,
    monkey,
    sphere,
    world,
)

SCENES: dict[str, Callable[[], None]] = {}


def _scene(fn: Callable[[], None]) -> Callable[[], None]:
    SCENES[fn.__name__] = fn
    return fn


def build(name: str) -> bpy.types.Scene:
    if name not in SCENES:
        raise ValueError(f"no scene {name!r}; known: {', '.join(SCENES)}")
    SCENES[name]()
    scene = bpy.context.scene
    bpy.context.view_layer.update()
    return scene


def _chair(name: str, at: tuple, mat: bpy.types.Material, turn: float = 0.0) -> bpy.types.Object:
    legs = [((0.04, 0.04, 0.45), (x, y, 0.225)) for x in (-0.19, 0.19) for y in (-0.19, 0.19)]
    parts = [((0.45, 0.45, 0.05), (0, 0, 0.475)), ((0.45, 0.05, 0.5), (0, 0.2, 0.75)), *legs]
    return boxes(name, parts, at, mat, rotate=(0, 0, turn), group="Furniture")


def _table(name: str, size: tuple, at: tuple, mat: bpy.types.Material, group: str = "Furniture") -> bpy.types.Object:
    w, d, h = size
    legs = [((0.06, 0.06, h - 0.05), (x, y, (h - 0.05) / 2)) for x in (-w / 2 + 0.08, w / 2 - 0.08)
            for y in (-d / 2 + 0.08, d / 2 - 0.08)]  # fmt: skip
    return boxes(name, [((w, d, 0.05), (0, 0, h - 0.025)), *legs], at, mat, group=group)


def _car(suffix: str, at: tuple, paint: bpy.types.Material, tyres: bpy.types.Material, turn: float) -> bpy.types.Object:
    body = boxes(
        f"Car{suffix}", [((4.2, 1.8, 0.7), (0, 0, 0.65)), ((2.2, 1.6, 0.6), (-0.2, 0, 1.3))], at, paint,
        rotate=(0, 0, turn), group="Cars",
    )  # fmt: skip
    for label, x, y in (("FL", 1.3, 0.85), ("FR", 1.3, -0.85), ("RL", -1.3, 0.85), ("RR", -1.3, -0.85)):
        cylinder(f"Wheel_{label}{suffix}", 0.33, 0.25, (x, y, 0.33), tyres, base=False, rotate=(90, 0, 0),
                 parent=body, group="Cars")  # fmt: skip
    return body


# ---------------------------------------------------------------- a living room
@_scene
def living_room() -> None:
    fresh(frames=(1, 96))
    world((0.4, 0.5, 0.6), 1.0)
    box("Floor", (7, 6, 0.1), (0, 0, -0.1), material("Floor_Wood", (0.3, 0.16, 0.07), roughness=0.6), group="Room")
    box("Wall_Back", (7, 0.1, 3), (0, 3.0, 0), material("Wall_Paint", (0.8, 0.75, 0.65)), group="Room")
    box("Rug", (2.6, 1.8, 0.02), (0, 0.3, 0), material("Rug_Wool", (0.35, 0.05, 0.05), roughness=0.9), group="Room")
    sofa = boxes(
        "Sofa",
        [((2.2, 0.9, 0.45), (0, 0, 0.225)), ((2.2, 0.2, 0.5), (0, 0.35, 0.7)),
         ((0.2, 0.9, 0.25), (-1.0, 0, 0.575)), ((0.2, 0.9, 0.25), (1.0, 0, 0.575))],
        (0, 2.2, 0), material("Sofa_Fabric", (0.15, 0.2, 0.3), roughness=0.8), group="Furniture",
    )  # fmt: skip
    cushion = material("Cushion_Mustard", (0.7, 0.45, 0.05), roughness=0.9)
    box("Sofa_Cushion", (0.5, 0.5, 0.15), (-0.6, -0.05, 0.45), cushion, parent=sofa, group="Furniture")
    box("Sofa_Cushion.001", (0.5, 0.5, 0.15), (0.0, -0.05, 0.45), cushion, parent=sofa, group="Furniture")
    walnut = material("Walnut", (0.2, 0.1, 0.05), roughness=0.4)
    table = _table("Coffee_Table", (1.2, 0.6, 0.45), (0, 0.4, 0), walnut)
    bevel = table.modifiers.new("Bevel", "BEVEL")
    bevel.width, bevel.segments = 0.005, 2
    box("Book", (0.22, 0.3, 0.04), (0.3, 0.4, 0.45), material("Book_Cover", (0.5, 0.1, 0.08)), group="Props")
    cylinder("Vase", 0.09, 0.35, (1.6, -0.8, 0), material("Vase_Glaze", (0.05, 0.35, 0.35), roughness=0.2),
             group="Props")  # fmt: skip
    _chair("Chair", (2.2, -1.8, 0), material("Chair_Oak", (0.45, 0.28, 0.12)), turn=180)
    _chair("Chair.001", (2.9, -1.8, 0), material("Chair_Painted", (0.05, 0.3, 0.08)), turn=180)
    lamp = empty("Floor_Lamp", (-2.6, 2.3, 0), group="Furniture")
    metal = material("Lamp_Brass", (0.6, 0.45, 0.2), metallic=1.0, roughness=0.3)
    cylinder("Lamp_Base", 0.18, 0.03, (0, 0, 0), metal, parent=lamp, group="Furniture")
    cylinder("Lamp_Pole", 0.015, 1.5, (0, 0, 0.03), metal, parent=lamp, group="Furniture")
    cylinder("Lamp_Shade", 0.25, 0.3, (0, 0, 1.35), material("Shade_Linen", (0.85, 0.8, 0.65)), top=0.17,
             caps=False, parent=lamp, group="Furniture")  # fmt: skip
    light("Lamp_Light", "POINT", 60.0, (0, 0, 1.45), color=(1.0, 0.85, 0.6), parent=lamp)
    light("Ceiling_Light", "AREA", 150.0, (0, 0.5, 2.8), color=(0.85, 0.92, 1.0), aim=(0, 0.5, 0), size=1.0)
    light("Window_Sun", "SUN", 3.0, (3, -3, 5), aim=(0, 0, 0))
    box("TV_Stand", (1.6, 0.4, 0.5), (0, -2.6, 0), material("Stand_Black", (0.02, 0.02, 0.02)), group="Furniture")
    box("TV", (1.4, 0.06, 0.8), (0, -2.6, 0.5), material("TV_Screen", (0.01, 0.01, 0.01), roughness=0.2),
        group="Furniture")  # fmt: skip
    pot = cylinder("Plant_Pot", 0.2, 0.35, (2.9, 2.5, 0), material("Terracotta", (0.5, 0.2, 0.08)), group="Props")
    sphere("Plant", 0.35, (0, 0, 0.6), material("Leaves", (0.05, 0.3, 0.05), roughness=0.8), parent=pot,
           group="Props")  # fmt: skip
    box("Cube.001", (0.45, 0.45, 0.45), (-1.5, 2.5, 0), material("Material.001", (0.5, 0.5, 0.5)))
    fan = boxes(
        "Ceiling_Fan", [((1.3, 0.14, 0.02), (0, 0, 0)), ((0.14, 1.3, 0.02), (0, 0, 0)), ((0.2, 0.2, 0.12), (0, 0, 0.05))],
        (0, 0.3, 2.7), material("Fan_White", (0.85, 0.85, 0.85)), group="Furniture",
    )  # fmt: skip
    keys(fan, "rotation_euler", 2, [(1, 0.0), (96, 1440.0)], "LINEAR")
    camera("Cam_Main", (0, -5.2, 1.6), (0, 1.2, 0.6), 32, active=True)
    camera("Cam_Closeup", (1.8, -1.2, 1.1), (0, 0.4, 0.5), 50)


# ---------------------------------------------------------------- a product shot on a turntable
@_scene
def product_shot() -> None:
    fresh(frames=(1, 120))
    world((0.18, 0.18, 0.2), 1.0)
    paper = material("Seamless_Paper", (0.75, 0.75, 0.75), roughness=0.9)
    box("Backdrop_Floor", (3, 2.4, 0.02), (0, 0, -0.02), paper, group="Studio")
    box("Backdrop", (3, 0.05, 1.5), (0, 1.2, 0), paper, group="Studio")
    pedestal = cylinder("Pedestal", 0.4, 0.3, (0, 0, 0), material("Pedestal_Marble", (0.8, 0.8, 0.78), roughness=0.3),
                        segments=48, group="Product")  # fmt: skip
    keys(pedestal, "rotation_euler", 2, [(1, 0.0), (120, 360.0)], "LINEAR")
    bottle = box("Perfume_Bottle", (0.16, 0.07, 0.22), (0, 0, 0.3),
                 material("Bottle_Glass", (0.7, 0.85, 0.9), roughness=0.05, alpha=0.35), parent=pedestal,
                 group="Product")  # fmt: skip
    cylinder("Bottle_Cap", 0.03, 0.06, (0, 0, 0.22), material("Cap_Gold", (1.0, 0.7, 0.25), metallic=1.0, roughness=0.2),
             parent=bottle, group="Product")  # fmt: skip
    box("Packaging", (0.2, 0.12, 0.28), (0.7, 0.3, 0), material("Box_Print", (0.9, 0.85, 0.8)), rotate=(0, 0, 20),
        group="Product")  # fmt: skip
    sphere("Sphere", 0.1, (-0.7, -0.2, 0), material("Material.001", (0.8, 0.8, 0.8)), base=True, smooth=False)
    box("Cube", (0.15, 0.15, 0.15), (-0.6, 0.5, 0), material("Material", (0.8, 0.8, 0.8)))
    light("Key_Light", "AREA", 300.0, (1.5, -1.5, 1.8), aim=(0, 0, 0.4), size=1.0)
    light("Fill_Light", "AREA", 80.0, (-1.8, -1.2, 1.2), aim=(0, 0, 0.4), size=1.0)
    light("Rim_Light", "SPOT", 500.0, (0, 1.0, 1.4), aim=(0, 0, 0.4))
    camera("Product_Cam", (0, -2.4, 0.7), (0, 0, 0.45), 85, active=True)
    camera("Top_Cam", (1.2, -0.9, 1.6), (1.2, -0.9, 0), 35)


# ---------------------------------------------------------------- a street with a car driving by
@_scene
def street() -> None:
    fresh(frames=(1, 72))
    world((0.35, 0.55, 0.9), 1.0)
    box("Road", (30, 8, 0.05), (0, 0, -0.05), material("Asphalt", (0.03, 0.03, 0.03), roughness=0.9), group="Street")
    concrete = material("Concrete", (0.45, 0.45, 0.42), roughness=0.9)
    box("Sidewalk", (30, 3, 0.15), (0, 5.5, 0), concrete, group="Street")
    box("Sidewalk.001", (30, 3, 0.15), (0, -5.5, 0), concrete, group="Street")
    tyres = material("Tire_Rubber", (0.02, 0.02, 0.02), roughness=0.9)
    car = _car("", (-10, -1.8, 0), material("Car_Paint", (0.6, 0.02, 0.02), metallic=0.5, roughness=0.3), tyres, 0)
    keys(car, "location", 0, [(1, -10.0), (72, 10.0)], "LINEAR")
    _car(".001", (4, 1.8, 0), material("Car_Paint.001", (0.02, 0.08, 0.5), metallic=0.5, roughness=0.3), tyres, 180)
    for suffix, x in (("", -4.0), (".001", 6.0)):
        pole = cylinder(f"Street_Lamp{suffix}", 0.08, 5.0, (x, 4.6, 0.15), material(f"Lamp_Metal{suffix}", (0.1, 0.1, 0.1)),
                        group="Street")  # fmt: skip
        sphere(f"Lamp_Bulb{suffix}", 0.2, (0, 0, 5.1), material(f"Bulb_Glow{suffix}", (1, 1, 1), emission=(1.0, 0.8, 0.5),
               strength=8.0), parent=pole, group="Street")  # fmt: skip
        light(f"Street_Lamp_Light{suffix}", "POINT", 200.0, (0, 0, 4.85), color=(1.0, 0.9, 0.7), parent=pole)
    box("Building_A", (8, 6, 12), (-7, 10, 0), material("Brick", (0.4, 0.15, 0.1)), group="Buildings")
    box("Building_B", (6, 6, 18), (5, 10, 0), material("Plaster", (0.7, 0.65, 0.55)), group="Buildings")
    cylinder("Traffic_Cone", 0.18, 0.55, (-1, 4.5, 0.15), material("Cone_Orange", (1.0, 0.25, 0.0)), top=0.02,
             group="Street")  # fmt: skip
    cylinder("Trash_Bin", 0.25, 0.8, (9, 5.8, 0.15), material("Bin_Green", (0.05, 0.2, 0.05)), group="Street")
    light("Sun", "SUN", 4.0, (0, 0, 20), aim=(5, -5, 0))
    camera("Street_Cam", (0, -16, 2), (0, 0, 1.5), 28, active=True)
    camera("Drone_Cam", (-6, -12, 14), (-6, 8, 0), 24)


# ---------------------------------------------------------------- a character animation shot
@_scene
def character() -> None:
    fresh(frames=(1, 48))
    world((0.25, 0.3, 0.35), 1.0)
    box("Ground", (7, 6, 0.1), (0, 0, -0.1), material("Grass", (0.1, 0.25, 0.05), roughness=0.9), group="Set")
    hero = cylinder("Hero", 0.25, 1.0, (-2, 0, 0), material("Hero_Suit", (0.1, 0.3, 0.8)), group="Characters")
    sphere("Hero_Head", 0.2, (0, 0, 1.2), material("Skin", (0.8, 0.55, 0.4)), parent=hero, group="Characters")
    keys(hero, "location", 2, [(1, 0.0), (10, 0.0), (18, 0.8), (26, 0.0)], "BEZIER")
    keys(hero, "location", 0, [(1, -2.0), (48, 2.0)], "LINEAR")
    ball = sphere("Sphere_Ball", 0.15, (1.5, 1.5, 1.5), material("Ball_Rubber", (0.9, 0.3, 0.05)), group="Props")
    keys(ball, "location", 2, [(1, 1.5), (10, 0.15), (20, 0.9), (30, 0.15), (40, 0.5), (48, 0.15)], "LINEAR")
    wood = material("Crate_Wood", (0.45, 0.3, 0.15))
    box("Crate", (0.6, 0.6, 0.6), (-1.2, 1.6, 0), wood, group="Props")
    box("Crate.001", (0.6, 0.6, 0.6), (-0.4, 1.9, 0), wood, rotate=(0, 0, 15), group="Props")
    cylinder("Hat", 0.22, 0.25, (1.0, -1.5, 0), material("Hat_Felt", (0.3, 0.05, 0.05)), top=0.12, group="Props")
    light("Key_Light", "AREA", 400.0, (3, -4, 5), aim=(0, 0, 0.5), size=2.0)
    light("Rim_Light", "SPOT", 1000.0, (-3, 4, 4), aim=(0, 0, 1))
    light("Sun", "SUN", 2.0, (0, 0, 10), aim=(2, 3, 0))
    camera("Anim_Cam", (0, -9, 2), (0, 0, 1), 50, active=True)
    camera("Side_Cam", (9, 0, 1.5), (0, 6, 1), 35)


# ---------------------------------------------------------------- a still life on a table
@_scene
def still_life() -> None:
    fresh(frames=(1, 24))
    world((0.1, 0.1, 0.1), 1.0)
    _table("Table", (2.0, 1.2, 0.8), (0, 0, 0), material("Table_Oak", (0.35, 0.2, 0.1)), group="Set")
    box("Drape", (3, 0.05, 2.0), (0, 1.3, 0), material("Velvet", (0.2, 0.02, 0.05), roughness=1.0), group="Set")
    box("Floor", (3, 3, 0.05), (0, 0, -0.05), material("Floor_Stone", (0.3, 0.3, 0.3)), group="Set")
    cylinder("Vase", 0.1, 0.4, (-0.55, 0.25, 0.8), material("Vase_Ceramic", (0.1, 0.2, 0.6), roughness=0.6))
    sphere("Apple", 0.05, (0.05, -0.15, 0.8), material("Apple_Skin", (0.6, 0.03, 0.02), roughness=0.4), base=True)
    sphere("Apple.001", 0.05, (0.2, -0.25, 0.8), material("Apple_Skin.001", (0.6, 0.03, 0.02), roughness=0.4),
           base=True)  # fmt: skip
    sphere("Pear", 0.055, (-0.15, -0.3, 0.8), material("Pear_Skin", (0.5, 0.6, 0.1)), base=True, scale=(1, 1, 1.3))
    cylinder("Bowl", 0.12, 0.09, (0.45, 0.05, 0.8), material("Bowl_Porcelain", (0.9, 0.9, 0.88), roughness=0.2),
             top=0.2, caps=False, segments=32)  # fmt: skip
    cylinder("Wine_Bottle", 0.045, 0.32, (-0.25, 0.35, 0.8),
             material("Glass_Green", (0.05, 0.25, 0.08), roughness=0.05, alpha=0.6))  # fmt: skip
    candle = cylinder("Candle", 0.03, 0.18, (0.75, 0.35, 0.8), material("Candle_Wax", (0.9, 0.85, 0.7)))
    cylinder("Candle_Flame", 0.012, 0.04, (0, 0, 0.185), material("Flame", (1, 0.6, 0.2), emission=(1.0, 0.5, 0.1),
             strength=3.0), top=0.0, parent=candle)  # fmt: skip
    light("Candle_Light", "POINT", 3.0, (0, 0, 0.22), color=(1.0, 0.6, 0.3), parent=candle)
    box("Knife", (0.22, 0.025, 0.006), (0.2, 0.15, 0.8), material("Steel", (0.7, 0.7, 0.7), metallic=1.0, roughness=0.2),
        rotate=(0, 0, 30))  # fmt: skip
    box("Cube.002", (0.4, 0.4, 0.4), (1.3, -0.3, 0), material("Material.002", (0.5, 0.5, 0.5)))
    light("Window_Light", "AREA", 150.0, (-2, -1, 2), color=(0.8, 0.9, 1.0), aim=(0, 0, 0.9), size=1.5)
    camera("Camera", (0, -2.6, 1.35), (0, 0, 0.9), 50, active=True)


# ---------------------------------------------------------------- a gallery with a statue
@_scene
def gallery() -> None:
    fresh(frames=(1, 24))
    world((0.3, 0.3, 0.32), 1.0)
    box("Gallery_Floor", (10, 10, 0.1), (0, 0, -0.1), material("Polished_Concrete", (0.5, 0.5, 0.5), roughness=0.2),
        group="Room")  # fmt: skip
    white = material("Gallery_White", (0.85, 0.85, 0.85))
    box("Wall_Back", (10, 0.2, 4), (0, 4, 0), white, group="Room")
    box("Wall_Left", (0.2, 10, 4), (-5, 0, 0), white, group="Room")
    box("Plinth", (0.6, 0.6, 1.0), (0, 0, 0), material("Plinth_Paint", (0.9, 0.9, 0.9)), group="Art")
    monkey("Statue", 0.5, (0, 0, 1.0), material("Marble", (0.9, 0.88, 0.85), roughness=0.3), group="Art")
    box("Painting", (1.2, 0.05, 0.9), (-2, 3.87, 0.75), material("Canvas_A", (0.6, 0.4, 0.2)), group="Art")
    box("Painting.001", (1.2, 0.05, 0.9), (2, 3.87, 0.75), material("Canvas_B", (0.2, 0.3, 0.5)), group="Art")
    box("Bench", (1.6, 0.5, 0.45), (0.5, -2.2, 0), material("Bench_Leather", (0.1, 0.07, 0.05)), group="Room")
    light("Spot_Statue", "SPOT", 800.0, (0.5, -1, 3.5), aim=(0, 0, 1.2))
    light("Spot_Paintings", "SPOT", 600.0, (0, 2, 3.8), aim=(0, 3.9, 1.2))
    light("Ceiling_Area", "AREA", 300.0, (0, 0, 3.9), aim=(0, 0, 0), size=3.0)
    camera("Gallery_Cam", (4, -5, 1.7), (2, 3.9, 1.2), 35, active=True)
    camera("Detail_Cam", (-1, -1.6, 1.4), (0.5, -2.2, 0.3), 85)


# ---------------------------------------------------------------- Blender's factory scene
@_scene
def factory() -> None:
    """What File > New > General opens: `Cube`, `Light`, `Camera` and the default world."""
    bpy.ops.wm.read_factory_settings(use_empty=False)
