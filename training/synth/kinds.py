"""The kinds of object a synthetic scene is made of: meshes, names, the words artists use, looks.

A kind builds one or more pieces, each a Blender object: a chair is one piece; a floor lamp is
its base (with the pole) and its shade, parented to the base; a car is its body and four wheels.
A piece's meshes are in its own coordinates (its origin, Z up, metres, scale already applied),
one list per material slot, each slot with a *look* (wood, fabric, metal, ...) that picks its
material. Furniture and composites have their origin at the bottom centre, as artists model
them; the primitives (ball, cube, cylinder, cone, torus) at their centre, as Blender adds them.
Things with a front face -Y (Blender's front view looks along +Y).

Meshes are numpy (vertices, faces) pairs scaled and moved from cached unit shapes (trimesh's,
outward winding), and only become `trimesh.Trimesh` once per slot: building a scene costs
milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import trimesh

Mesh = tuple[np.ndarray, np.ndarray]  # vertices (n, 3), faces (m, 3)


# ---------------------------------------------------------------- shapes
@cache
def _unit(name: str) -> Mesh:
    make = {
        "box": lambda: trimesh.creation.box(),  # [-0.5, 0.5]^3
        "cylinder": lambda: trimesh.creation.cylinder(radius=1.0, height=1.0, sections=16),  # z in [-0.5, 0.5]
        "cone": lambda: trimesh.creation.cone(radius=1.0, height=1.0, sections=16),  # z in [0, 1]
        "sphere": lambda: trimesh.creation.icosphere(subdivisions=2),  # radius 1
        "torus": lambda: trimesh.creation.torus(
            major_radius=1.0, minor_radius=0.3, major_sections=16, minor_sections=8
        ),  # fmt: skip
    }[name]()
    return np.asarray(make.vertices, dtype=np.float64), np.asarray(make.faces, dtype=np.int64)


def _placed(name: str, scale: tuple[float, float, float], at: tuple[float, float, float]) -> Mesh:
    v, f = _unit(name)
    return v * np.asarray(scale) + np.asarray(at), f


def box(sx: float, sy: float, sz: float, x: float = 0.0, y: float = 0.0, z0: float = 0.0) -> Mesh:
    """A box, bottom at z0."""
    return _placed("box", (sx, sy, sz), (x, y, z0 + sz / 2))


def cyl(r: float, h: float, x: float = 0.0, y: float = 0.0, z0: float = 0.0, top: float | None = None) -> Mesh:
    """A cylinder (a frustum when `top`, the top radius, is given), bottom at z0."""
    v, f = _placed("cylinder", (r, r, h), (x, y, z0 + h / 2))
    if top is not None:
        t = (v[:, 2] - z0) / h  # 0 at the bottom, 1 at the top
        k = (1 - t) + t * top / r
        v = v.copy()
        v[:, 0] = x + (v[:, 0] - x) * k
        v[:, 1] = y + (v[:, 1] - y) * k
    return v, f


def cone(r: float, h: float, x: float = 0.0, y: float = 0.0, z0: float = 0.0) -> Mesh:
    return _placed("cone", (r, r, h), (x, y, z0))


def sphere(r: float, x: float = 0.0, y: float = 0.0, z: float = 0.0, squash: float = 1.0) -> Mesh:
    """A sphere centred at (x, y, z); `squash` scales its height."""
    return _placed("sphere", (r, r, r * squash), (x, y, z))


def torus(major: float, minor: float, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Mesh:
    return _placed("torus", (major, major, minor / 0.3), (x, y, z))


def turned(mesh: Mesh, axis: str, angle: float, about: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Mesh:
    """The mesh rotated about a line through `about` parallel to X or Y (winding kept)."""
    c, s = math.cos(angle), math.sin(angle)
    m = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) if axis == "x" else np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    v, f = mesh
    p = np.asarray(about)
    return (v - p) @ m.T + p, f


def merge(meshes: list[Mesh]) -> trimesh.Trimesh:
    """One trimesh of several meshes (no processing: the unit shapes are clean already)."""
    verts, faces, n = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + n)
        n += len(v)
    return trimesh.Trimesh(np.concatenate(verts), np.concatenate(faces), process=False)


# ---------------------------------------------------------------- pieces and kinds
@dataclass(frozen=True)
class Piece:
    """One Blender object of a kind: its meshes per material slot (with the slot's look), and
    where its origin sits in the kind's frame (the root piece's origin is (0, 0, 0))."""

    role: str
    slots: tuple[tuple[tuple[Mesh, ...], str], ...]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


def piece(role: str, *slots: tuple[list[Mesh], str], offset: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Piece:
    return Piece(role, tuple((tuple(meshes), look) for meshes, look in slots), offset)


@dataclass(frozen=True)
class Part:
    """A non-root piece: how it is named and what it is called."""

    names: tuple[str, ...]  # descriptive names; {stem} is the kind's stem
    primitive: str  # Blender's default name ("Cylinder")
    words: tuple[str, ...]  # "lamp shade", "shade"


@dataclass(frozen=True)
class Kind:
    words: tuple[str, ...]  # nouns an artist uses for it, most common first
    stems: tuple[str, ...]  # descriptive names of its root piece ("Sofa", "Coffee_Table")
    primitive: str  # Blender's default name for its root piece ("Cube")
    build: Callable[[np.random.Generator], list[Piece]]
    parts: dict[str, Part] = field(default_factory=dict)  # role -> naming, for the non-root pieces
    small: bool = False  # stands on tables, shelves and pedestals
    support: bool = False  # its top can hold small things
    front: bool = False  # it faces -Y
    motions: tuple[str, ...] = ()  # animations that suit it: bounce, spin, slide, jump, bob
    modifiers: tuple[str, ...] = ()  # modifier types an artist would have put on it
    main: str = "main"  # the piece whose colour is the kind's colour ("the red lamp": its shade)
    main_slot: int = 0  # and the slot of that piece
    min_radius: float = 0.0  # rough footprint, for layouts


# ---------------------------------------------------------------- builders (metres)
def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _chair(rng: np.random.Generator) -> list[Piece]:
    s = _u(rng, 0.9, 1.1)
    seat, leg = 0.45 * s, 0.43 * s
    legs = [box(0.04, 0.04, leg, sx * (seat / 2 - 0.03), sy * (seat / 2 - 0.03)) for sx in (-1, 1) for sy in (-1, 1)]
    frame = [box(seat, seat, 0.05, z0=leg), box(seat, 0.05, 0.5 * s, 0, seat / 2 - 0.025, leg + 0.05), *legs]
    return [piece("main", (frame, "wood"))]


def _armchair(rng: np.random.Generator) -> list[Piece]:
    w, d = _u(rng, 0.75, 0.95), _u(rng, 0.75, 0.9)
    body = [box(w - 0.3, d - 0.2, 0.42, 0, -0.05), box(w, 0.2, 0.85, 0, d / 2 - 0.1),
            box(0.15, d, 0.62, -(w / 2 - 0.075)), box(0.15, d, 0.62, w / 2 - 0.075)]  # fmt: skip
    return [piece("main", (body, "fabric"))]


def _sofa(rng: np.random.Generator) -> list[Piece]:
    w, d = _u(rng, 1.7, 2.3), _u(rng, 0.8, 0.95)
    body = [box(w - 0.4, d - 0.22, 0.42, 0, -0.06), box(w, 0.22, 0.85, 0, d / 2 - 0.11),
            box(0.2, d, 0.6, -(w / 2 - 0.1)), box(0.2, d, 0.6, w / 2 - 0.1)]  # fmt: skip
    return [piece("main", (body, "fabric"))]


def _table_like(w: float, d: float, h: float, look: str) -> list[Piece]:
    legs = [box(0.05, 0.05, h - 0.05, sx * (w / 2 - 0.06), sy * (d / 2 - 0.06)) for sx in (-1, 1) for sy in (-1, 1)]
    return [piece("main", ([box(w, d, 0.05, z0=h - 0.05), *legs], look))]


def _table(rng: np.random.Generator) -> list[Piece]:
    return _table_like(_u(rng, 0.9, 1.5), _u(rng, 0.7, 0.95), _u(rng, 0.72, 0.78), "wood")


def _coffee_table(rng: np.random.Generator) -> list[Piece]:
    return _table_like(_u(rng, 0.9, 1.3), _u(rng, 0.5, 0.65), _u(rng, 0.38, 0.46), "wood")


def _desk(rng: np.random.Generator) -> list[Piece]:
    w, d, h = _u(rng, 1.1, 1.5), _u(rng, 0.55, 0.7), _u(rng, 0.72, 0.76)
    parts = [box(w, d, 0.04, z0=h - 0.04), box(0.04, d, h - 0.04, -(w / 2 - 0.02)), box(0.4, d, h - 0.04, w / 2 - 0.2)]
    return [piece("main", (parts, "wood"))]


def _stool(rng: np.random.Generator) -> list[Piece]:
    h, r = _u(rng, 0.45, 0.65), _u(rng, 0.15, 0.2)
    legs = [box(0.035, 0.035, h - 0.05, r * 0.7 * math.cos(a), r * 0.7 * math.sin(a)) for a in (0.5, 2.6, 4.7)]
    return [piece("main", ([cyl(r, 0.05, z0=h - 0.05), *legs], "wood"))]


def _shelf(rng: np.random.Generator) -> list[Piece]:
    w, d, h = _u(rng, 0.7, 1.1), 0.3, _u(rng, 1.2, 1.8)
    n = int(rng.integers(3, 6))
    boards = [box(w, d, 0.03, z0=i * (h - 0.03) / (n - 1)) for i in range(n)]
    return [piece("main", ([box(0.03, d, h, -w / 2), box(0.03, d, h, w / 2), *boards], "wood"))]


def _lamp(rng: np.random.Generator) -> list[Piece]:
    h = _u(rng, 1.35, 1.7)
    base = piece("main", ([cyl(0.18, 0.04), cyl(0.02, h - 0.3, z0=0.04)], "metal"))
    shade = piece("shade", ([cyl(0.28, 0.32, top=0.15)], "shade"), offset=(0.0, 0.0, h - 0.32))
    return [base, shade]


def _rug(rng: np.random.Generator) -> list[Piece]:
    return [piece("main", ([box(_u(rng, 1.6, 2.4), _u(rng, 1.0, 1.6), 0.01)], "fabric"))]


def _plant(rng: np.random.Generator) -> list[Piece]:
    h = _u(rng, 0.25, 0.9)
    r = h * 0.28
    pot = cyl(r * 0.75, h * 0.35, top=r)
    leaves = [sphere(r * 1.25, 0, 0, h * 0.35 + r, squash=1.2), sphere(r * 0.8, r * 0.5, 0, h * 0.35 + r * 1.9)]
    return [piece("main", ([pot], "pot"), (leaves, "leaves"))]


def _vase(rng: np.random.Generator) -> list[Piece]:
    h, r = _u(rng, 0.18, 0.45), _u(rng, 0.06, 0.12)
    return [
        piece("main", ([cyl(r, h * 0.7, top=r * 1.15), cyl(r * 1.15, h * 0.3, z0=h * 0.7, top=r * 0.6)], "ceramic"))
    ]


def _bottle(rng: np.random.Generator) -> list[Piece]:
    h, r = _u(rng, 0.22, 0.34), _u(rng, 0.035, 0.05)
    return [piece("main", ([cyl(r, h * 0.65), cyl(r, h * 0.12, z0=h * 0.65, top=r * 0.35), cyl(r * 0.35, h * 0.23, z0=h * 0.77)], "glass"))]  # fmt: skip


def _mug(rng: np.random.Generator) -> list[Piece]:
    r, h = _u(rng, 0.04, 0.055), _u(rng, 0.09, 0.12)
    handle = turned(torus(h * 0.28, 0.012, r + h * 0.2, 0, h / 2), "x", math.pi / 2, (r + h * 0.2, 0, h / 2))
    return [piece("main", ([cyl(r, h), handle], "ceramic"))]


def _book(rng: np.random.Generator) -> list[Piece]:
    return [piece("main", ([box(_u(rng, 0.14, 0.2), _u(rng, 0.2, 0.26), _u(rng, 0.025, 0.05))], "paint"))]


def _tv(rng: np.random.Generator) -> list[Piece]:
    w = _u(rng, 0.8, 1.3)
    h = w * 0.58
    frame = [box(0.3, 0.2, 0.03), box(0.05, 0.04, 0.12, z0=0.03), box(w, 0.05, h, 0, 0, 0.15)]
    return [piece("main", (frame, "plastic"), ([box(w - 0.04, 0.01, h - 0.04, 0, -0.026, 0.17)], "screen"))]


def _ball(rng: np.random.Generator) -> list[Piece]:
    return [piece("main", ([sphere(_u(rng, 0.1, 0.3))], "rubber"))]


def _cube(rng: np.random.Generator) -> list[Piece]:
    sx, sy, sz = (float(v) for v in rng.uniform(0.25, 0.6, 3))
    return [piece("main", ([box(sx, sy, sz, z0=-sz / 2)], "paint"))]


def _cylinder(rng: np.random.Generator) -> list[Piece]:
    r, h = _u(rng, 0.1, 0.25), _u(rng, 0.3, 1.0)
    return [piece("main", ([cyl(r, h, z0=-h / 2)], "paint"))]


def _cone(rng: np.random.Generator) -> list[Piece]:
    r, h = _u(rng, 0.12, 0.28), _u(rng, 0.3, 0.7)
    return [piece("main", ([cone(r, h, z0=-h / 2)], "plastic"))]


def _torus(rng: np.random.Generator) -> list[Piece]:
    major = _u(rng, 0.12, 0.25)
    return [piece("main", ([torus(major, major * _u(rng, 0.25, 0.4))], "plastic"))]


def _pedestal(rng: np.random.Generator) -> list[Piece]:
    s, h = _u(rng, 0.35, 0.5), _u(rng, 0.7, 1.0)
    return [piece("main", ([box(s, s, h)], "stone"))]


def _statue(rng: np.random.Generator) -> list[Piece]:
    h = _u(rng, 0.35, 0.6)
    parts = [box(h * 0.45, h * 0.45, h * 0.1), cyl(h * 0.18, h * 0.55, z0=h * 0.1, top=h * 0.12),
             sphere(h * 0.15, 0, 0, h * 0.8)]  # fmt: skip
    return [piece("main", (parts, "stone"))]


def _dog(rng: np.random.Generator) -> list[Piece]:
    s = _u(rng, 0.8, 1.2)
    leg = 0.22 * s
    body = [box(0.22 * s, 0.55 * s, 0.22 * s, 0, 0, leg), box(0.18 * s, 0.22 * s, 0.18 * s, 0, -0.33 * s, leg + 0.14 * s),
            box(0.04 * s, 0.2 * s, 0.04 * s, 0, 0.35 * s, leg + 0.15 * s)]  # fmt: skip
    body += [box(0.06 * s, 0.06 * s, leg, sx * 0.07 * s, sy * 0.2 * s) for sx in (-1, 1) for sy in (-1, 1)]
    return [piece("main", (body, "fur"))]


def _character(rng: np.random.Generator) -> list[Piece]:
    s = _u(rng, 0.85, 1.1)
    legs = [box(0.12 * s, 0.14 * s, 0.8 * s, sx * 0.1 * s) for sx in (-1, 1)]
    torso = [box(0.4 * s, 0.22 * s, 0.6 * s, 0, 0, 0.8 * s)]
    arms = [box(0.1 * s, 0.12 * s, 0.6 * s, sx * 0.26 * s, 0, 0.78 * s) for sx in (-1, 1)]
    body = piece("main", (torso + arms, "paint"), (legs, "fabric"))
    head = piece("head", ([sphere(0.13 * s, 0, 0, 0.13 * s)], "skin"), offset=(0.0, 0.0, 1.42 * s))
    return [body, head]


def _car(rng: np.random.Generator) -> list[Piece]:
    w, length = _u(rng, 0.85, 1.05), _u(rng, 1.9, 2.4)
    r = _u(rng, 0.16, 0.2)
    body = piece("main", ([box(w, length, 0.35, z0=r), box(w * 0.85, length * 0.5, 0.28, 0, 0.05, r + 0.35)], "paint"))
    wheels = []
    for role, sx, sy in (("wheel_fl", -1, -1), ("wheel_fr", 1, -1), ("wheel_bl", -1, 1), ("wheel_br", 1, 1)):
        mesh = turned(cyl(r, 0.12, z0=-0.06), "y", math.pi / 2)  # axle along X
        wheels.append(piece(role, ([mesh], "tire"), offset=(sx * (w / 2 - 0.02), sy * (length / 2 - r * 1.4), r)))
    return [body, *wheels]


def _tree(rng: np.random.Generator) -> list[Piece]:
    h = _u(rng, 1.8, 3.2)
    crown = cone(h * 0.22, h * 0.7, z0=h * 0.3) if rng.random() < 0.5 else sphere(h * 0.25, 0, 0, h * 0.62, squash=1.3)
    return [piece("main", ([cyl(h * 0.05, h * 0.35)], "bark"), ([crown], "leaves"))]


def _street_lamp(rng: np.random.Generator) -> list[Piece]:
    h = _u(rng, 2.6, 3.4)
    return [piece("main", ([cyl(0.06, h), box(0.5, 0.08, 0.06, 0.22, 0, h - 0.06)], "metal"),
                  ([cyl(0.12, 0.1, 0.42, 0, h - 0.16, top=0.06)], "shade"))]  # fmt: skip


def _bench(rng: np.random.Generator) -> list[Piece]:
    w = _u(rng, 1.2, 1.8)
    legs = [box(0.06, 0.38, 0.42, sx * (w / 2 - 0.1)) for sx in (-1, 1)]
    return [piece("main", ([box(w, 0.42, 0.05, z0=0.42), *legs], "wood"))]


def _house(rng: np.random.Generator) -> list[Piece]:
    w, d, h = _u(rng, 2.0, 3.0), _u(rng, 2.0, 2.8), _u(rng, 1.8, 2.6)
    roof = cone(max(w, d) * 0.75, h * 0.5, z0=h)
    return [piece("main", ([box(w, d, h)], "paint"), ([roof], "roof"))]


def _hydrant(rng: np.random.Generator) -> list[Piece]:
    return [piece("main", ([cyl(0.1, 0.55), sphere(0.1, 0, 0, 0.55), cyl(0.04, 0.16, 0, 0.0, 0.35)], "paint"))]


def _fence(rng: np.random.Generator) -> list[Piece]:
    n, gap = int(rng.integers(5, 10)), _u(rng, 0.18, 0.26)
    pickets = [box(0.06, 0.03, 0.8, (i - (n - 1) / 2) * gap) for i in range(n)]
    rail = box(gap * (n - 1) + 0.06, 0.03, 0.06, 0, 0.03, 0.55)
    return [piece("main", ([*pickets, rail], "wood"))]


def _floor(rng: np.random.Generator) -> list[Piece]:  # sized by the layout (scenes.py)
    return [piece("main", ([box(1.0, 1.0, 0.02, z0=-0.02)], "floor"))]


KINDS: dict[str, Kind] = {
    "chair": Kind(("chair",), ("Chair", "Dining_Chair", "Wooden_Chair", "chair_01"), "Cube", _chair,
                  front=True, motions=("slide",), modifiers=("BEVEL",), min_radius=0.33),
    "armchair": Kind(("armchair", "chair"), ("Armchair", "Lounge_Chair", "Arm_Chair"), "Cube", _armchair,
                     front=True, modifiers=("BEVEL", "SUBSURF"), min_radius=0.6),
    "sofa": Kind(("sofa", "couch"), ("Sofa", "Couch", "Sofa_Main"), "Cube", _sofa,
                 front=True, modifiers=("BEVEL", "SUBSURF"), min_radius=1.1),
    "table": Kind(("table", "dining table"), ("Table", "Dining_Table", "table_01"), "Cube", _table,
                  support=True, modifiers=("BEVEL",), min_radius=0.8),
    "coffee_table": Kind(("coffee table", "table"), ("Coffee_Table", "CoffeeTable", "Side_Table"), "Cube", _coffee_table,
                         support=True, modifiers=("BEVEL",), min_radius=0.65),
    "desk": Kind(("desk", "table"), ("Desk", "Work_Desk", "desk_01"), "Cube", _desk, support=True,
                 modifiers=("BEVEL",), min_radius=0.75),
    "stool": Kind(("stool",), ("Stool", "Bar_Stool", "stool_01"), "Cylinder", _stool, support=True, motions=("spin",),
                  min_radius=0.22),
    "shelf": Kind(("shelf", "bookshelf"), ("Bookshelf", "Shelf", "Shelf_Unit"), "Cube", _shelf, support=True,
                  front=True, modifiers=("ARRAY", "BEVEL"), min_radius=0.55),
    "lamp": Kind(("lamp", "floor lamp"), ("Lamp", "Floor_Lamp", "Standing_Lamp"), "Cylinder", _lamp,
                 parts={"shade": Part(("{stem}_Shade", "Shade", "Lampshade"), "Cone", ("lamp shade", "shade"))},
                 main="shade", min_radius=0.3),
    "rug": Kind(("rug", "carpet"), ("Rug", "Carpet", "Area_Rug"), "Plane", _rug, min_radius=0.0),
    "plant": Kind(("plant", "potted plant"), ("Plant", "Potted_Plant", "Ficus", "Monstera"), "Cylinder", _plant,
                  small=True, main_slot=1, modifiers=("SUBSURF",), min_radius=0.25),
    "vase": Kind(("vase",), ("Vase", "Flower_Vase", "Vase_Tall"), "Cylinder", _vase, small=True, motions=("spin",),
                 modifiers=("SOLIDIFY", "SUBSURF"), min_radius=0.12),
    "bottle": Kind(("bottle",), ("Bottle", "Wine_Bottle", "Glass_Bottle"), "Cylinder", _bottle, small=True,
                   motions=("spin",), modifiers=("SUBSURF",), min_radius=0.06),
    "mug": Kind(("mug", "cup"), ("Mug", "Coffee_Mug", "Cup"), "Cylinder", _mug, small=True, modifiers=("SUBSURF",),
                min_radius=0.08),
    "book": Kind(("book",), ("Book", "Notebook", "Book_Red"), "Cube", _book, small=True, support=True,
                 modifiers=("BEVEL",), min_radius=0.14),
    "tv": Kind(("tv", "television", "screen"), ("TV", "Television", "Monitor"), "Cube", _tv, front=True,
               main_slot=0, modifiers=("BEVEL",), min_radius=0.55),
    "ball": Kind(("ball", "sphere"), ("Ball", "Sphere_Ball", "Beach_Ball", "ball_01"), "Sphere", _ball, small=True,
                 motions=("bounce", "bounce", "bob"), modifiers=("SUBSURF",), min_radius=0.25),
    "box": Kind(("box", "crate", "cube"), ("Crate", "Box", "Cardboard_Box", "crate_01"), "Cube", _cube, small=True,
                support=True, motions=("slide", "spin"), modifiers=("BEVEL",), min_radius=0.35),
    "cylinder": Kind(("cylinder", "pillar", "column"), ("Pillar", "Column", "Post"), "Cylinder", _cylinder,
                     small=True, modifiers=("BEVEL", "SUBSURF"), min_radius=0.22),
    "cone": Kind(("cone", "traffic cone"), ("Traffic_Cone", "Cone_Prop", "cone_01"), "Cone", _cone, small=True,
                 motions=("spin",), min_radius=0.25),
    "torus": Kind(("ring", "torus", "donut"), ("Ring", "Donut", "Torus_Ring"), "Torus", _torus, small=True,
                  motions=("spin", "bob"), modifiers=("SUBSURF",), min_radius=0.3),
    "pedestal": Kind(("pedestal", "plinth"), ("Pedestal", "Plinth", "Display_Stand"), "Cube", _pedestal,
                     support=True, modifiers=("BEVEL",), min_radius=0.35),
    "statue": Kind(("statue", "sculpture", "figure"), ("Statue", "Sculpture", "Bust"), "Suzanne", _statue,
                   small=True, front=True, motions=("spin",), modifiers=("SUBSURF", "MIRROR"), min_radius=0.2),
    "dog": Kind(("dog", "puppy"), ("Dog", "Puppy", "Dog_Rex"), "Cube", _dog, front=True, motions=("jump", "slide"),
                modifiers=("SUBSURF", "MIRROR"), min_radius=0.4),
    "character": Kind(("character", "figure", "guy"), ("Character", "Hero", "Mannequin"), "Cube", _character,
                      parts={"head": Part(("{stem}_Head", "Head"), "Sphere", ("head",))}, front=True,
                      motions=("jump", "slide"), modifiers=("MIRROR",), min_radius=0.35),
    "car": Kind(("car",), ("Car", "Sedan", "Taxi"), "Cube", _car,
                parts={w: Part((f"Wheel_{w[-2:].upper()}", f"{{stem}}_Wheel_{w[-2:].upper()}"), "Cylinder", ("wheel",))
                       for w in ("wheel_fl", "wheel_fr", "wheel_bl", "wheel_br")},
                front=True, motions=("slide",), modifiers=("MIRROR", "BEVEL"), min_radius=1.3),
    "tree": Kind(("tree",), ("Tree", "Pine_Tree", "Oak_Tree"), "Cone", _tree, main_slot=1, min_radius=0.7),
    "street_lamp": Kind(("street lamp", "lamppost"), ("Street_Lamp", "Lamppost", "StreetLight"), "Cylinder",
                        _street_lamp, main_slot=1, min_radius=0.45),
    "bench": Kind(("bench",), ("Bench", "Park_Bench"), "Cube", _bench, support=True, front=True,
                  modifiers=("BEVEL",), min_radius=0.95),
    "house": Kind(("house", "building"), ("House", "Building", "Cottage"), "Cube", _house, front=True,
                  modifiers=("BEVEL",), min_radius=1.9),
    "hydrant": Kind(("hydrant", "fire hydrant"), ("Hydrant", "Fire_Hydrant"), "Cylinder", _hydrant,
                    modifiers=("SUBSURF",), min_radius=0.18),
    "fence": Kind(("fence",), ("Fence", "Picket_Fence"), "Cube", _fence, modifiers=("ARRAY",), min_radius=1.0),
    "floor": Kind(("floor", "ground"), ("Floor", "Ground", "Ground_Plane"), "Plane", _floor),
}  # fmt: skip


# ---------------------------------------------------------------- looks (materials)
# Named colours, linear RGB (what Blender stores). Names are what instructions and reasoning use.
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.8, 0.05, 0.04),
    "orange": (0.9, 0.3, 0.02),
    "yellow": (0.9, 0.72, 0.05),
    "green": (0.1, 0.5, 0.1),
    "teal": (0.03, 0.42, 0.4),
    "blue": (0.05, 0.15, 0.7),
    "purple": (0.3, 0.06, 0.55),
    "pink": (0.9, 0.3, 0.45),
    "brown": (0.3, 0.12, 0.04),
    "white": (0.85, 0.85, 0.85),
    "gray": (0.3, 0.3, 0.3),
    "black": (0.03, 0.03, 0.03),
}
ANY = tuple(COLORS)


@dataclass(frozen=True)
class Look:
    colors: tuple[str, ...]
    roughness: float
    metallic: float
    names: tuple[str, ...]  # {Color} is the colour's name
    alpha: float = 1.0
    emission: tuple[float, float, float] | None = None  # an emissive look's glow colour
    glows: float = 0.0  # how often it glows


LOOKS: dict[str, Look] = {
    "wood": Look(("brown", "brown", "orange", "black", "white"), 0.6, 0.0, ("Wood", "Oak", "Walnut", "{Color}_Wood", "Wood_Dark")),
    "fabric": Look(ANY, 0.9, 0.0, ("Fabric_{Color}", "{Color}_Fabric", "Velvet_{Color}", "Upholstery")),
    "metal": Look(("gray", "gray", "black", "white", "yellow"), 0.3, 1.0, ("Metal", "Steel", "Chrome", "Brushed_Metal")),
    "plastic": Look(ANY, 0.4, 0.0, ("Plastic_{Color}", "{Color}_Plastic", "Plastic")),
    "rubber": Look(ANY, 0.6, 0.0, ("{Color}_Rubber", "Rubber_{Color}", "Rubber")),
    "ceramic": Look(("white", "blue", "teal", "green", "pink", "yellow", "black"), 0.3, 0.0, ("Ceramic_{Color}", "Ceramic", "Porcelain")),
    "glass": Look(("green", "teal", "white", "brown", "blue"), 0.05, 0.0, ("Glass", "{Color}_Glass", "Bottle_Glass"), alpha=0.35),
    "paint": Look(ANY, 0.5, 0.0, ("{Color}_Paint", "Paint_{Color}", "{Color}")),
    "shade": Look(("white", "yellow", "orange", "white"), 0.8, 0.0, ("Lampshade", "Shade_Fabric", "Lamp_Shade_Mat"),
                  emission=(1.0, 0.8, 0.5), glows=0.4),
    "screen": Look(("black",), 0.2, 0.0, ("Screen", "TV_Screen", "Display"), emission=(0.6, 0.75, 1.0), glows=0.6),
    "pot": Look(("orange", "brown", "white", "gray"), 0.8, 0.0, ("Terracotta", "Pot", "Clay")),
    "leaves": Look(("green", "green", "teal"), 0.7, 0.0, ("Leaves", "Foliage", "Leaf_Green")),
    "bark": Look(("brown",), 0.9, 0.0, ("Bark", "Tree_Bark")),
    "stone": Look(("white", "gray", "black"), 0.7, 0.0, ("Marble", "Stone", "Concrete", "Granite")),
    "fur": Look(("brown", "orange", "white", "black", "gray"), 0.9, 0.0, ("Fur", "Dog_Fur", "{Color}_Fur")),
    "skin": Look(("pink", "orange", "brown"), 0.6, 0.0, ("Skin", "Skin_Tone")),
    "tire": Look(("black",), 0.8, 0.0, ("Tire", "Rubber_Black", "Tyre")),
    "roof": Look(("red", "brown", "gray", "black"), 0.8, 0.0, ("Roof", "Roof_Tiles", "{Color}_Roof")),
    "floor": Look(("brown", "gray", "white"), 0.7, 0.0, ("Floor_Mat", "Wood_Floor", "Concrete", "Ground", "Tiles")),
}  # fmt: skip
