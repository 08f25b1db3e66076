"""Do the carried wheels install and import on the device machine? Checked here, with no device time.

Every wheel in WHEEL_DIR is for CPython 3.12 on x86-64 Linux, one version per package, and every
requirement of each (its METADATA's Requires-Dist whose markers hold on that machine) is either
carried too or in the device image's package list. Exit status 1 names what is missing.

    python scripts/device/check_wheels.py .whl scripts/device/device_packages.txt
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

DEVICE = default_environment() | {"python_version": "3.12", "python_full_version": "3.12.3",
                                  "implementation_name": "cpython", "platform_python_implementation": "CPython",
                                  "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                                  "os_name": "posix", "extra": ""}  # fmt: skip


def problems(wheel_dir: Path, device_names: set[str]) -> list[str]:
    out, carried = [], {}
    for whl in sorted(wheel_dir.glob("*.whl")):
        name, version, _, tags = parse_wheel_filename(whl.name)
        if name in carried:
            out.append(f"{name}: two versions ({carried[name][0]} and {version}): the install stops")
        ok = any(t.interpreter in ("py3", "cp312") and (t.platform == "any" or "x86_64" in t.platform) for t in tags)
        if not ok:
            out.append(f"{whl.name}: not for CPython 3.12 on x86-64 Linux")
        carried[name] = (version, whl)
    for name, (_, whl) in carried.items():
        with zipfile.ZipFile(whl) as z:
            meta = next(n for n in z.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
            lines = z.read(meta).decode().splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is not None and not req.marker.evaluate(DEVICE):
                continue  # an extra, or another platform's need
            need = canonicalize_name(req.name)
            if need not in carried and need not in device_names:
                out.append(f"{name} needs {req}: neither carried nor on the device image")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    wheel_dir, listing = Path(argv[0]), Path(argv[1])
    if not wheel_dir.is_dir() or not listing.is_file():
        print(f"check_wheels: no folder {wheel_dir} or no file {listing}", file=sys.stderr)
        return 2
    names = {canonicalize_name(x.strip()) for x in listing.read_text().splitlines() if x.strip() and x[0] != "#"}
    found = problems(wheel_dir, names)
    for p in found:
        print(f"check_wheels: {p}", file=sys.stderr)
    n = len(list(wheel_dir.glob("*.whl")))
    print(f"check_wheels: {n} wheels, {'OK' if not found else f'{len(found)} problems'}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
