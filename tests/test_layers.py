"""The house's layers: the pure core at the bottom, the wings side by side above it.

    evlm (core)  <-  evlm_server, blender_addon, evlm_batch, training

Read statically from every module's imports (top level and inside functions), so a lazy import
cannot hide an arrow; and at run time, importing the whole core loads no torch, bpy,
transformers or PIL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from draw_layers import edges, packages  # noqa: E402

PACKAGES = ("evlm", "evlm_server", "blender_addon", "evlm_batch", "training")

# Which package may import which (besides itself). Training may use the server's engine and prompt
# (train on what you serve) and the add-on in Blender (the Blender-built evaluation); batch drives
# the add-on's headless run inside Blender.
ALLOWED = {
    "evlm": set(),
    "evlm_server": {"evlm"},
    "blender_addon": {"evlm"},
    "evlm_batch": {"evlm", "blender_addon", "training"},
    "training": {"evlm", "evlm_server", "blender_addon"},
}


def _edges() -> list[tuple[str, str, str, list[str]]]:
    """(package, imported package, "file:line module", names used): scripts/draw_layers.py's import
    reading, the one docs/layers.png is drawn from."""
    return edges(ROOT, list(PACKAGES))


def test_every_package_has_a_rule() -> None:
    assert set(packages(ROOT)) == set(PACKAGES) == set(ALLOWED), "a new package needs its place in ALLOWED"


def test_every_arrow_points_down_or_sideways_as_allowed() -> None:
    bad = [where for pkg, top, where, _ in _edges() if top not in ALLOWED[pkg]]
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


@pytest.mark.xfail(
    strict=True, reason="evlm_batch.mesh_render reuses training.synth.render's privates until one renderer is shared"
)
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


def test_the_picture_of_the_layers_is_drawn_from_the_code(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import draw_layers

    assert draw_layers.main(["--out", str(tmp_path / "layers.png")]) == 0
    assert (tmp_path / "layers.png").read_bytes().startswith(b"\x89PNG")
    text = capsys.readouterr().out
    rows = {line.split()[2]: int(line.split()[1]) for line in text.splitlines() if line.startswith("row ")}
    assert set(rows) == set(PACKAGES) and rows["evlm"] == 0  # the core at the bottom
    assert all(rows[a] > rows[b] for a, b, _, _ in _edges())  # every arrow points down
    assert draw_layers.main(["--out", str(tmp_path / "layers.svg")]) == 2
