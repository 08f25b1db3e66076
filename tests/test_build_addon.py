"""scripts/build_addon.py: the manifest it writes, and (slow: it downloads wheels) the zip itself."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_addon  # noqa: E402

SOURCE_MANIFEST = (ROOT / "blender_addon" / "blender_manifest.toml").read_text()
BLENDER_EXT = next(
    (ROOT / ".venv-blender" / "lib").glob("python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"),
    None,
)


def test_source_manifest() -> None:
    m = tomllib.loads(SOURCE_MANIFEST)
    assert (m["schema_version"], m["id"], m["type"], m["blender_version_min"]) == ("1.0.0", "evlm", "add-on", "4.2.0")
    assert m["version"] == build_addon.project_version()
    assert set(m["permissions"]) == {"network", "files"} and m["license"] == ["SPDX:MIT"]
    assert re.fullmatch(r"[^<>]+ <[^@\s<>]+@[^@\s<>]+\.[a-z]+>", m["maintainer"]), m["maintainer"]
    assert m["website"].startswith("https://")
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")  # what SPDX:MIT and pyproject's license name
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    assert all(len(reason) <= 64 and not reason.endswith(".") for reason in m["permissions"].values())
    names = {build_addon._dist(Path(w).name) for w in m["wheels"]}
    assert names == {build_addon._norm(p.split("==")[0]) for p in build_addon.PINS} | {"evlm_core"}


def test_manifest_text_writes_wheels_and_platforms() -> None:
    text = build_addon.manifest_text(SOURCE_MANIFEST, ["a-1-py3-none-any.whl", "b-2-py3-none-any.whl"],
                                     ["linux-x64", "windows-x64"], build_addon.project_version())  # fmt: skip
    m = tomllib.loads(text)
    assert m["wheels"] == ["./wheels/a-1-py3-none-any.whl", "./wheels/b-2-py3-none-any.whl"]
    assert m["platforms"] == ["linux-x64", "windows-x64"]
    again = build_addon.manifest_text(text, ["c-3-py3-none-any.whl"], ["macos-arm64"], build_addon.project_version())
    assert tomllib.loads(again)["platforms"] == ["macos-arm64"]  # replaced, not added twice
    with pytest.raises(build_addon.BuildError, match="version"):
        build_addon.manifest_text(SOURCE_MANIFEST, [], ["linux-x64"], "9.9.9")
    with pytest.raises(build_addon.BuildError, match="wheels"):
        build_addon.manifest_text(
            SOURCE_MANIFEST.replace("wheels = [", "wheelz = ["), [], [], build_addon.project_version()
        )


def test_command_line() -> None:
    run = [sys.executable, str(ROOT / "scripts" / "build_addon.py")]
    out = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--platform" in out.stdout and "--out" in out.stdout
    bad = subprocess.run([*run, "--platform", "amiga-68k"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    bad = subprocess.run([*run, "--python-version", "eleven"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--python-version" in bad.stderr


def test_check_zip_catches_a_missing_wheel(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("blender_manifest.toml", 'wheels = ["./wheels/a-1-py3-none-any.whl"]\n')
        zf.writestr("__init__.py", "")
    with pytest.raises(build_addon.BuildError, match="missing"):
        build_addon.check_zip(path)


@pytest.mark.slow
def test_build_linux_zip(tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "evlm.zip"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_addon.py"), "--out", str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    manifest = build_addon.check_zip(out)  # every listed wheel is in the zip, and nothing else
    assert manifest["platforms"] == ["linux-x64"]
    # a linux-x64 build gives exactly the wheels the source manifest lists
    assert manifest["wheels"] == tomllib.loads(SOURCE_MANIFEST)["wheels"]
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"__init__.py", "ui.py", "preferences.py", "headless.py", "LICENSE"} <= names
        assert zf.read("LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert not [n for n in names if n.endswith((".safetensors", ".bin", ".pt"))]  # no model weights
        project = next(n for n in names if n.startswith("wheels/evlm_core-"))
        (tmp_path / "p.whl").write_bytes(zf.read(project))
    with zipfile.ZipFile(tmp_path / "p.whl") as whl:  # the contract travels in the core's wheel, alone
        inner = set(whl.namelist())
    assert {"evlm/protocol.py", "evlm/session.py", "evlm/feedback.py"} <= inner
    packages = {n.split("/")[0] for n in inner if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"evlm"}, packages  # no server, training or batch code
    if BLENDER_EXT is not None:  # Blender's own validator, as `blender --command extension validate`
        check = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(out)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    # reproducible: sorted entries, fixed timestamps, in the zip and in the project's wheel
    for archive in (out, tmp_path / "p.whl"):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
        assert {i.date_time[:3] for i in infos} == {(1980, 1, 1)}, archive
    assert [i.filename for i in zipfile.ZipFile(out).infolist()][1:] == sorted(names - {"blender_manifest.toml"})
