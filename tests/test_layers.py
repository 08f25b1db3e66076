"""The house's layers: the pure core at the bottom, the wings side by side above it.

    evlm (core)  <-  evlm_server, blender_addon, evlm_render  <-  evlm_batch, training

Read statically from every module's imports (top level and inside functions), so a lazy import
cannot hide an arrow; and at run time, importing the whole core loads no torch, bpy,
transformers or PIL.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("evlm", "evlm_server", "blender_addon", "evlm_render", "evlm_batch", "training")

# Which package may import which (besides itself). Training may use the server's engine and prompt
# (train on what you serve) and the add-on in Blender (the Blender-built evaluation); batch drives
# the add-on's headless run inside Blender; both draw with the one offscreen renderer.
ALLOWED = {
    "evlm": set(),
    "evlm_server": {"evlm"},
    "blender_addon": {"evlm"},
    "evlm_render": {"evlm"},
    "evlm_batch": {"evlm", "blender_addon", "evlm_render"},
    "training": {"evlm", "evlm_server", "blender_addon", "evlm_render"},
}


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names used from it) for every import in a file: the names it
    imports, and attributes read off a module it binds (`import a.b as m; m._x` uses `_x`)."""
    tree = ast.parse(path.read_text(), str(path))
    out, bound = [], {}
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


def _edges() -> list[tuple[str, str, str, list[str]]]:
    edges = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for line, module, names in _imports(path):
                top = module.split(".")[0]
                if top in PACKAGES and top != pkg:
                    edges.append((pkg, top, f"{path.relative_to(ROOT)}:{line} {module}", names))
    return edges


def test_every_arrow_points_down_or_sideways_as_allowed() -> None:
    bad = [where for pkg, top, where, _ in _edges() if top not in ALLOWED[pkg]]
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_package_takes_another_ones_private_names() -> None:
    bad = []
    for _, _, where, names in _edges():
        private = [n for n in names if n.startswith("_")]
        if private or any(part.startswith("_") for part in where.split()[-1].split(".")):
            bad.append(f"{where}: {private}")
    assert not bad, "private names used across packages:\n" + "\n".join(bad)


def test_the_core_imports_neither_torch_nor_bpy() -> None:
    modules = sorted(
        "evlm." + ".".join(p.relative_to(ROOT / "evlm").with_suffix("").parts)
        for p in (ROOT / "evlm").rglob("*.py")
        if p.name != "__init__.py"
    )
    assert "evlm.protocol" in modules and "evlm.record" in modules
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; "
        "import evlm_server.engine, evlm_server.cli; "
        "bad = [m for m in ('torch', 'bpy', 'transformers', 'PIL') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
