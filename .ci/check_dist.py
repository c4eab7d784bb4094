"""Check the contents of the sdist and wheel that ``make package`` built: ``python .ci/check_dist.py DIST_DIR``.

Both must hold the package's data files (``py.typed`` and every ``rrl_sb3/hyperparams/*.yml`` of the clone) and every
module of the clone; the sdist also LICENSE, README.md and pyproject.toml (what a build from it needs), the wheel the
license file, the SPDX license expression and the ``rrl-bench`` entry point. Exits non-zero naming what is missing.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_files() -> list[str]:
    """The clone's files that both archives must hold, relative to the clone: modules, py.typed, the hyperparams."""
    package = ROOT / "rrl_sb3"
    files = [package / "py.typed", *sorted((package / "hyperparams").glob("*.yml"))]
    files += sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    return [p.relative_to(ROOT).as_posix() for p in files]


def main(dist: Path) -> int:
    sdists, wheels = sorted(dist.glob("rrl_sb3-*.tar.gz")), sorted(dist.glob("rrl_sb3-*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        print(f"expected one sdist and one wheel in {dist}, found {[p.name for p in sdists + wheels]}")
        return 1
    sdist, wheel = sdists[0], wheels[0]
    version = wheel.name.split("-")[1]
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        info = f"rrl_sb3-{version}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode() if f"{info}/entry_points.txt" in in_wheel else ""

    missing = [f"{sdist.name}: {name}" for name in ["LICENSE", "README.md", "pyproject.toml", *package_files()]]
    missing = [m for m in missing if m.split(": ", 1)[1] not in in_sdist]
    missing += [f"{wheel.name}: {name}" for name in [*package_files(), f"{info}/licenses/LICENSE"] if name not in in_wheel]
    if "License-Expression: MIT" not in metadata.splitlines():
        missing.append(f"{wheel.name}: License-Expression: MIT in METADATA")
    if "rrl-bench = rrl_sb3.benchmark.cli:main" not in entry_points:
        missing.append(f"{wheel.name}: the rrl-bench entry point")
    for line in missing:
        print(f"missing from {line}")
    if not missing:
        print(f"{sdist.name} and {wheel.name}: {len(package_files())} package files, license and metadata present")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "dist")))
