"""Before/after contact sheet of a folder: DIR/before_N.png on top, DIR/after_N.png below, captioned
with the instruction and the applied edit when DIR/result.json (headless.py --json) is there.

python scripts/contact_sheet.py DIR OUT.png    (the quick start runs it on headless --images output)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evlm.headless_result import HeadlessResult  # noqa: E402
from evlm_batch.contact import caption, contact_sheet  # noqa: E402
from evlm_batch.mesh_scene import atomic_write  # noqa: E402


def views(folder: Path, prefix: str) -> list[bytes]:
    files = sorted(folder.glob(f"{prefix}_*.png"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return [f.read_bytes() for f in files]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    before, after = views(folder, "before"), views(folder, "after")
    if not before or not after:
        raise SystemExit(f"need before_N.png and after_N.png in {folder} (nothing was applied?)")
    lines: list[str] = []
    if (folder / "result.json").is_file():
        result = HeadlessResult.model_validate_json((folder / "result.json").read_bytes())
        lines = caption(result.instruction, result.applied)
    atomic_write(out, contact_sheet(before, after, lines))
    print(out)
