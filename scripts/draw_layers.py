"""The packages and their import arrows, read from the code and drawn: docs/layers.png.

    .venv/bin/python scripts/draw_layers.py [--out docs/layers.png]

Each top-level package of the project is a box whose area is its number of non-blank Python lines
(its sub-packages listed inside); an arrow goes from a package to each package it imports, labelled
with how many import statements make it. Packages stand on the ones they import: a package with no
arrow out sits at the bottom, each other one a row above the highest package it imports. The
import reading (`imports`, `edges`) is the one tests/test_layers.py checks the layering with: every
`import` and `from ... import` in a file, top level or inside a function, so a lazy import
cannot hide an arrow. Prints the same picture as text.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PACKAGES = {"tests", "scripts", "configs", "examples", "docs", "build", "dist"}


def packages(root: Path = ROOT) -> list[str]:
    """The project's top-level Python packages: folders at the root holding an __init__.py."""
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in NOT_PACKAGES and not p.name.startswith(".")
    )


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names used from it) for every import in a file: the names it
    imports, and attributes read off a module it binds (`import a.b as m; m._x` uses `_x`)."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str, list[str]]] = []
    bound: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append((node.lineno, a.name, []))
                bound[a.asname or a.name.split(".")[0]] = len(out) - 1
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
            for a in node.names:
                bound[a.asname or a.name] = len(out) - 1
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            out[bound[node.value.id]][2].append(node.attr)
    return out


def edges(root: Path = ROOT, names: list[str] | None = None) -> list[tuple[str, str, str, list[str]]]:
    """(importing package, imported package, "file:line module", names used) for every import
    from one of the project's packages into another."""
    names = names if names is not None else packages(root)
    out = []
    for pkg in names:
        for path in sorted((root / pkg).rglob("*.py")):
            for line, module, used in imports(path):
                top = module.split(".")[0]
                if top in names and top != pkg:
                    out.append((pkg, top, f"{path.relative_to(root)}:{line} {module}", used))
    return out


def lines_of_code(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.py") for line in p.read_text().splitlines() if line.strip())


@dataclass
class Box:
    name: str
    loc: int
    parts: list[tuple[str, int]] = field(default_factory=list)  # sub-packages and their lines
    row: int = 0


def layout(root: Path = ROOT) -> tuple[list[Box], Counter]:
    """The boxes (with their row: 0 at the bottom) and the arrows {(from, to): import statements}."""
    names = packages(root)
    arrows = Counter((a, b) for a, b, _, _ in edges(root, names))
    boxes = {}
    for name in names:
        folder = root / name
        parts = sorted(
            ((p.name, lines_of_code(p)) for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file()),
            key=lambda item: -item[1],
        )
        boxes[name] = Box(name, lines_of_code(folder), parts)
    rows: dict[str, int] = {}

    def row(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in rows:
            below = [b for (a, b) in arrows if a == name and b not in seen]
            rows[name] = 1 + max((row(b, (*seen, name)) for b in below), default=-1)  # a cycle is cut
        return rows[name]

    for name in names:
        boxes[name].row = row(name)
    return sorted(boxes.values(), key=lambda b: (b.row, -b.loc)), arrows


def text(boxes: list[Box], arrows: Counter) -> str:
    out = []
    for box in sorted(boxes, key=lambda b: (-b.row, -b.loc)):
        to = ", ".join(f"{b} ({n})" for (a, b), n in sorted(arrows.items()) if a == box.name)
        parts = ", ".join(f"{p} {n}" for p, n in box.parts)
        out.append(
            f"row {box.row}  {box.name:<14} {box.loc:>6} lines  -> {to or '-'}" + (f"   [{parts}]" if parts else "")
        )
    return "\n".join(out)


def columns(boxes: list[Box], arrows: Counter) -> list[str]:
    """Left-to-right order of the packages above the bottom row, one column each, so that the
    arrows between them span as few columns as possible (every order tried: a handful of packages)."""
    above = [b.name for b in boxes if b.row > 0]
    pairs = [(a, b, n) for (a, b), n in arrows.items() if a in above and b in above]

    def cost(order: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
        at = {name: i for i, name in enumerate(order)}
        return sum(n * abs(at[a] - at[b]) ** 2 for a, b, n in pairs), order

    return list(min(itertools.permutations(above), key=cost)) if len(above) <= 8 else above


def draw(boxes: list[Box], arrows: Counter, out: Path) -> Path:
    """The picture: the bottom row (the core) as one wide bar, every other package in its own
    column above it at its row, so each package's arrow to the core drops straight down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    scale = 0.024  # inches per sqrt(line): a box's area is scale^2 x its lines
    aspect, gap_x, gap_y, margin = 1.5, 0.45, 0.8, 0.4
    by_name = {b.name: b for b in boxes}
    order = columns(boxes, arrows)
    size = {n: (scale * (aspect * by_name[n].loc) ** 0.5, scale * (by_name[n].loc / aspect) ** 0.5) for n in order}
    width = sum(w for w, _ in size.values()) + gap_x * (len(order) - 1) + 2 * margin
    figure_w = max(width, 7.0)  # room for the caption; the boxes are centred
    left = margin + (figure_w - width) / 2
    bottom = [b for b in boxes if b.row == 0]
    bar_w = width - 2 * margin
    place: dict[str, tuple[float, float, float, float]] = {}
    y = margin
    for b in bottom:  # usually the core alone; several would stack
        h = max(0.3, scale**2 * b.loc / bar_w)  # at least a line of text high
        place[b.name] = (left, y, bar_w, h)
        y += h + gap_y
    rows = sorted({by_name[n].row for n in order})
    row_h = {r: max(size[n][1] for n in order if by_name[n].row == r) for r in rows}
    row_y = {}
    for r in rows:
        row_y[r] = y
        y += row_h[r] + gap_y
    x = left
    for n in order:
        w, h = size[n]
        r = by_name[n].row
        place[n] = (x, row_y[r] + (row_h[r] - h) / 2, w, h)
        x += w + gap_x
    height = y - gap_y + margin + 0.45
    fig = plt.figure(figsize=(figure_w, height), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, figure_w)
    ax.set_ylim(0, height)
    ax.axis("off")
    colours = plt.get_cmap("Pastel1")
    for i, b in enumerate(sorted(boxes, key=lambda b: b.name)):
        x0, y0, w, h = place[b.name]
        ax.add_patch(FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                    fc=colours(i % 9), ec="#333333", lw=1.2, zorder=2))  # fmt: skip
        parts = [f"{p}/ {n:,}" for p, n in b.parts[:6]]
        if b.row == 0:  # the wide bar: one line
            lines = ["   ".join([f"{b.name}  {b.loc:,} lines", *parts])]
        else:
            lines = [b.name, f"{b.loc:,} lines", *parts]
        # Fit the box: about 0.6 em per character across, 1.3 em per line down.
        fs = min(9.0, w * 72 / (0.6 * max(map(len, lines))), h * 72 / (1.3 * len(lines)))
        ax.text(x0 + w / 2, y0 + h / 2, "\n".join(lines), ha="center", va="center", fontsize=fs, zorder=3)
    bottoms = {b.name for b in bottom}
    for (a, b), n in sorted(arrows.items()):
        xa, ya, wa, _ = place[a]
        xb, yb, wb, hb = place[b]
        if b in bottoms:  # straight down into the bar
            start, end = (xa + wa / 2, ya), (xa + wa / 2, yb + hb)
        else:  # from the side of the bottom edge that faces the target, to the target's top
            side = 0.25 if xb > xa else -0.25 if xb < xa else 0.0
            start, end = (xa + wa * (0.5 + side), ya), (xb + wb * (0.5 - side / 2), yb + hb)
        ax.annotate("", xy=end, xytext=start, zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="#555555", lw=0.7 + 0.3 * min(n, 16) ** 0.5,
                                    shrinkA=1, shrinkB=1))  # fmt: skip
        mid = (start[0] + (end[0] - start[0]) * 0.45, start[1] + (end[1] - start[1]) * 0.45)
        ax.text(*mid, str(n), fontsize=7.5, color="#222222", ha="center", va="center", zorder=4,
                bbox=dict(fc="white", ec="none", pad=0.6))  # fmt: skip
    ax.text(margin, height - 0.12, "Packages: area ~ non-blank Python lines, sub-packages inside.\n"
            "Arrows: importer -> imported, labelled with the number of import statements.", fontsize=8,
            va="top")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "layers.png", help="PNG to write")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() != ".png":
        print(f"error: --out must be a .png file, got {args.out}", file=sys.stderr)
        return 2
    boxes, arrows = layout()
    print(text(boxes, arrows))
    print(draw(boxes, arrows, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
