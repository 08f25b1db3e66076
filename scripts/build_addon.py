"""Build the EVLM Blender extension: one installable zip with the add-on and the wheels it needs.

    python scripts/build_addon.py [--out dist/evlm-0.1.0.zip] [--platform linux-x64 ...|all]

The zip holds blender_addon/'s files at its root, `blender_manifest.toml` with its `wheels` and
`platforms` written for this build, and wheels/: pyzmq, msgpack, pydantic (+ pydantic-core,
annotated-types, typing-extensions, typing-inspection) for CPython 3.11 (Blender 4.2 to 5.0)
on each platform asked for, and the project's pure core as its own wheel (`evlm_core`: the `evlm/`
package only; no server, training code or model), which is how the add-on gets the wire
contract: never by copying its files. Install it with Blender's
Preferences > Get Extensions > Install from Disk, or `blender --command extension install-file`.
The zip is reproducible: sorted entries with fixed timestamps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "blender_addon"
MANIFEST = "blender_manifest.toml"

# Exact versions bundled (the ones .venv-blender runs the tests with). pydantic pins its core.
# Change them together with the `wheels` list of blender_addon/blender_manifest.toml (a test
# checks that a linux-x64 build gives exactly that list).
PINS = (
    "pyzmq==27.3.0",
    "msgpack==1.2.4",
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "annotated-types==0.8.0",
    "typing-extensions==4.16.0",
    "typing-inspection==0.4.5",
)

# Blender platform -> pip platform tags (newest first; pip also accepts older compatible ones).
# Blender 4.2 needs glibc 2.28 on Linux and macOS 11.2.
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "windows-arm64": ("win_arm64",),
    "macos-arm64": ("macosx_11_0_arm64",),
    "macos-x64": ("macosx_11_0_x86_64",),
}
EXCLUDE_DIRS = {"__pycache__"}
EXCLUDE_SUFFIXES = {".pyc", ".pyo"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(RuntimeError):
    pass


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def build_core_wheel(dest: Path, pip: list[str]) -> Path:
    """The pure core (`evlm/`) as its own wheel, `evlm_core`: all the add-on needs of this project.

    Built from a clean copy with a minimal pyproject written here, so the add-on carries no
    server, training code or model weights, and no build/ is left in the repo.
    """
    version = project_version()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    with tempfile.TemporaryDirectory(prefix="evlm-core-") as tmp:
        src = Path(tmp)
        shutil.copytree(ROOT / "evlm", src / "evlm", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy2(ROOT / "LICENSE", src / "LICENSE")
        (src / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "evlm-core"\nversion = "{version}"\nrequires-python = ">=3.11"\n'
            'description = "EVLM for Blender: the pure core (wire contract, scene graph, edit vocabulary)"\n'
            f"dependencies = {json.dumps(deps)}\n\n"
            '[tool.setuptools]\npackages = ["evlm"]\n'
        )
        # With setuptools at hand, build with it (no index needed); else pip fetches it.
        isolation = ["--no-build-isolation"] if _has_setuptools(pip) else []
        # Fixed zip timestamps (wheel honours SOURCE_DATE_EPOCH): the same sources, the same bytes.
        env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
        _run([*pip, "wheel", "--no-deps", *isolation, "-q", "-w", str(dest), str(src)], env=env)
    wheels = sorted(dest.glob("evlm_core-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one core wheel in {dest}, found {[w.name for w in wheels]}")
    return wheels[0]


def download_wheels(platform: str, python_version: str, dest: Path, pip: list[str]) -> list[Path]:
    """The pinned dependencies as binary wheels for one Blender platform."""
    abi = "cp" + python_version.replace(".", "")
    tags = [arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)]
    dest.mkdir(parents=True, exist_ok=True)
    _run([
        *pip, "download", "-q", "--only-binary=:all:", *tags, "--python-version", python_version,
        "--implementation", "cp", "--abi", abi, "-d", str(dest), *PINS,
    ])  # fmt: skip
    wheels = sorted(dest.glob("*.whl"))
    have = {_dist(w.name) for w in wheels}
    missing = [p for p in PINS if _norm(p.split("==")[0]) not in have]
    if missing:
        raise BuildError(f"{platform}: no wheel for {', '.join(missing)}")
    return wheels


def manifest_text(source: str, wheels: list[str], platforms: list[str], version: str) -> str:
    """The source manifest with this build's wheels and platforms (comments and order kept)."""
    data = tomllib.loads(source)
    if data.get("version") != version:
        raise BuildError(f"{MANIFEST} version {data.get('version')!r} differs from pyproject.toml's {version!r}")
    listing = "wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]"
    text, n = re.subn(r"(?ms)^wheels\s*=\s*\[.*?^\]", lambda _: listing, source)
    if n != 1:
        raise BuildError(f"{MANIFEST} must hold one top-level `wheels = [...]` list")
    text = re.sub(r"(?m)^platforms\s*=.*\n", "", text)
    plats = "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]\n"
    text, n = re.subn(r"(?m)^(blender_version_min\s*=.*\n)", lambda m: m.group(1) + plats, text)
    if n != 1:
        raise BuildError(f"{MANIFEST} has no blender_version_min")
    tomllib.loads(text)  # still valid TOML
    return text


def addon_files() -> list[Path]:
    files = []
    for path in sorted(ADDON.rglob("*")):
        rel = path.relative_to(ADDON)
        if path.is_dir() or EXCLUDE_DIRS & set(rel.parts) or path.suffix in EXCLUDE_SUFFIXES:
            continue
        if rel.parts[0] == "wheels" or rel.name == MANIFEST:
            continue  # written below
        files.append(path)
    return files


def build(out: Path, platforms: list[str], python_version: str = "3.11", pip: list[str] | None = None) -> Path:
    pip = pip or [sys.executable, "-m", "pip"]
    version = project_version()
    with tempfile.TemporaryDirectory(prefix="evlm-addon-") as tmp:
        tmp = Path(tmp)
        wheels: dict[str, Path] = {}
        core = build_core_wheel(tmp / "core", pip)
        wheels[core.name] = core
        for platform in platforms:
            for w in download_wheels(platform, python_version, tmp / platform, pip):
                wheels.setdefault(w.name, w)  # pure wheels are shared by every platform
        names = sorted(wheels)
        manifest = manifest_text((ADDON / MANIFEST).read_text(), names, platforms, version)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            _add(zf, MANIFEST, manifest.encode())
            _add(zf, "LICENSE", (ROOT / "LICENSE").read_bytes())  # the manifest's SPDX:MIT, in full
            for path in addon_files():
                _add(zf, path.relative_to(ADDON).as_posix(), path.read_bytes())
            for name in names:
                _add(zf, f"wheels/{name}", wheels[name].read_bytes(), zipfile.ZIP_STORED)  # already compressed
        check_zip(partial)
        partial.replace(out)
    return out


def check_zip(path: Path) -> dict:
    """The zip's manifest, after checking that every wheel it lists is in the zip (and nothing else)."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise BuildError(f"{path}: no {MANIFEST} at the root")
        manifest = tomllib.loads(zf.read(MANIFEST).decode())
    listed = {w.removeprefix("./") for w in manifest.get("wheels", [])}
    present = {n for n in names if n.startswith("wheels/")}
    if listed - present:
        raise BuildError(f"{path}: listed but missing: {sorted(listed - present)}")
    if present - listed:
        raise BuildError(f"{path}: in the zip but not listed: {sorted(present - listed)}")
    if "__init__.py" not in names:
        raise BuildError(f"{path}: no __init__.py at the root")
    copied = sorted(n for n in names if n.split("/")[0] in ("evlm_server", "training"))
    if copied:
        raise BuildError(f"{path}: contract files copied into the add-on (they come from the wheel): {copied}")
    return manifest


def _add(zf: zipfile.ZipFile, name: str, data: bytes, compress: int = zipfile.ZIP_DEFLATED) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = compress
    zf.writestr(info, data)


def _dist(wheel_name: str) -> str:
    return _norm(wheel_name.split("-")[0])


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _has_setuptools(pip: list[str]) -> bool:
    probe = [pip[0], "-c", "import setuptools"] if pip[1:3] == ["-m", "pip"] else None
    return probe is not None and subprocess.run(probe, capture_output=True).returncode == 0


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd[:4])} ... failed:\n{proc.stderr.strip() or proc.stdout.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="zip to write (default dist/evlm-VERSION.zip)")
    parser.add_argument(
        "--platform",
        action="append",
        choices=[*PLATFORMS, "all"],
        help="Blender platform to bundle wheels for; repeatable (default linux-x64)",
    )
    parser.add_argument("--python-version", default="3.11", help="Blender's Python (default 3.11, Blender 4.2-5.0)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d{1,2}", args.python_version):
        parser.error(f"--python-version must look like 3.11, got {args.python_version!r}")
    platforms = args.platform or ["linux-x64"]
    platforms = list(PLATFORMS) if "all" in platforms else list(dict.fromkeys(platforms))
    out = args.out or ROOT / "dist" / f"evlm-{project_version()}.zip"
    try:
        build(out, platforms, args.python_version)
        manifest = check_zip(out)
    except (BuildError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB) for {', '.join(platforms)}, Python {args.python_version}:")
    print("\n".join(f"  {w}" for w in manifest["wheels"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
