#!/usr/bin/env python3
"""Build the compiled engine (setup.py with CONTACTCENTER_MYPYC=1) and print where it is.

    python scripts/build_compiled.py            # builds once per source version, prints DIR
    PYTHONPATH=DIR python -P -m contactcenter.cli sim ...

The core (contactcenter/core) and the simulator's loop (sim/virtual.py, sim/traffic.py) are
compiled to C extension modules by mypyc; the rest of the package is copied beside them, so
DIR holds a whole, importable `contactcenter` (with `contactcenter.sim`). Put DIR first on
PYTHONPATH and run with -P (no current directory on sys.path) so the sources of a checkout
cannot shadow it.

The build is made from a copy of the sources (an in-tree build would leave binaries beside
the sources of an editable install, which would then import stale code) and cached under
/var/cache/contactcenter/mypyc (or ~/.cache/contactcenter/mypyc when that is not writable),
keyed by a hash of every packaged file, the Python and the mypy version: a changed source
gets a new build; the newest three are kept. Needs mypy and setuptools in this interpreter
(the `test` extra) and a C compiler with Python's headers. Exit 2 with one line if not.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contactcenter", "sim")
TOP_FILES = ("setup.py", "pyproject.toml")  # and README.md, copied but not in the key
KEEP = 3


def fail(message: str) -> NoReturn:
    print(f"build_compiled: {message}", file=sys.stderr)
    raise SystemExit(2)


def cache_root() -> Path:
    system = Path("/var/cache/contactcenter/mypyc")
    try:
        system.mkdir(parents=True, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "contactcenter" / "mypyc"


def source_files() -> list[Path]:
    files = [ROOT / name for name in TOP_FILES]
    for pkg in PACKAGES:
        # The link contactcenter/sim -> ../sim is copied as a link (its target is copied too).
        files += sorted(
            p
            for p in (ROOT / pkg).rglob("*")
            if (p.is_file() or p.is_symlink()) and "__pycache__" not in p.parts
        )
    return files


def build_key() -> str:
    try:
        import mypy.version
    except ImportError:
        fail("mypy is not installed here (pip install -e '.[test]'): mypyc comes with it")
    h = hashlib.sha256()
    h.update(f"{sys.version}|{mypy.version.__version__}".encode())
    for path in source_files():
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + content + b"\0")
    return h.hexdigest()[:16]


def check_toolchain() -> None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        fail(f"no C compiler ({cc}; apt-get install gcc)")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        fail(f"Python's headers are missing ({include}/Python.h; apt-get install python3-dev)")


def build(dest: Path) -> None:
    check_toolchain()
    with tempfile.TemporaryDirectory(prefix="cc-mypyc-") as tmp:
        src = Path(tmp) / "src"
        for path in [*source_files(), ROOT / "README.md"]:
            target = src / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target, follow_symlinks=False)
        wheels = Path(tmp) / "wheels"
        env = {**os.environ, "CONTACTCENTER_MYPYC": "1"}
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        steps = [
            [*pip, "wheel", "--no-build-isolation", "--no-deps", "-w", str(wheels), str(src)],
            [*pip, "install", "--no-deps", "--no-compile", "--target", str(Path(tmp) / "out")],
        ]
        run = subprocess.run(steps[0], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            fail("the mypyc build failed (output above)")
        wheel = next(wheels.glob("*.whl"))
        run = subprocess.run([*steps[1], str(wheel)], capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            fail("installing the compiled wheel failed (output above)")
        # Moved in whole under a temporary name, then renamed: complete or absent, never
        # half-built, even if two builds of the same version race.
        staging = dest.parent / f".building-{os.getpid()}"
        shutil.move(str(Path(tmp) / "out"), staging)
        try:
            os.rename(staging, dest)
        except OSError:
            shutil.rmtree(staging)  # the other build won
            if not dest.is_dir():
                raise


def prune(root: Path, keep: Path) -> None:
    builds = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[KEEP:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if this version is cached")
    args = ap.parse_args()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    dest = root / build_key()
    if args.force and dest.exists():
        shutil.rmtree(dest)
    if not dest.exists():
        print(f"build_compiled: compiling the core with mypyc into {dest} ...", file=sys.stderr)
        build(dest)
    os.utime(dest)
    prune(root, dest)
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
