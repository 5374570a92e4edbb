#!/usr/bin/env python3
"""Build the compiled wheel (what `pip install .` makes with a C compiler), cached; print where.

    python scripts/build_compiled.py            # prints DIR: the wheel installed, importable
    PYTHONPATH=DIR python -P -m contactcenter.cli sim ...
    python scripts/build_compiled.py --wheel    # prints the wheel file itself

It is the same build as a user's `pip install .` (setup.py, CONTACTCENTER_MYPYC unset, so
the build decides as it would for them), with this interpreter's setuptools and mypy instead
of an isolated build environment: no network, and the mypy version is part of the cache key.
The core (contactcenter/core) and the simulator's loop (sim/virtual.py, sim/traffic.py) are
compiled to C extension modules by mypyc; a build that comes out without them is refused. DIR
holds the wheel installed with `pip install --target` (a whole, importable `contactcenter`,
with `contactcenter.sim`); put it first on PYTHONPATH and run with -P (no current directory on
sys.path) so the sources of a checkout cannot shadow it. The tests of the compiled build, the
wheel test (tests/packaging) and the benchmark all use this one build.

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
import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
# The package and the card's folders it links to (contactcenter/sim, contactcenter/dialplans,
# contactcenter/configs): copied as they are, links as links, so the copy builds like the
# checkout.
TREES = ("contactcenter", "sim", "dialplans", "config")
TOP_FILES = ("setup.py", "pyproject.toml")  # and README.md, copied but not in the key
KEEP = 3
SITE = "site"  # DIR, inside one build's folder, beside the wheel


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
    for tree in TREES:
        # rglob does not descend into linked folders: each link is one entry (copied as a
        # link), and its target is one of TREES.
        files += sorted(
            p
            for p in (ROOT / tree).rglob("*")
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
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        fail(f"no C compiler ({cc}; apt-get install gcc)")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        fail(f"Python's headers are missing ({include}/Python.h; apt-get install python3-dev)")


def compiled_modules(src: Path) -> list[str]:
    """The modules setup.py compiles, as paths inside a wheel, without the suffix."""
    core = sorted(p.stem for p in (src / "contactcenter/core").glob("*.py") if p.stem != "__init__")
    loop = ["contactcenter/sim/traffic", "contactcenter/sim/virtual"]
    return [*(f"contactcenter/core/{m}" for m in core), *loop]


def check_wheel(wheel: Path, src: Path) -> None:
    """Refuse a wheel whose core came out pure Python (or that installs a stray top level)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    pure = [m for m in compiled_modules(src) if not any(m + s in names for s in suffixes)]
    if pure:
        fail(f"the wheel holds no extension module for {', '.join(pure)}: not a compiled build")
    tops = {n.split("/", 1)[0] for n in names}
    # Beside the package: the runtime its compiled modules share (setup.py names it) and the
    # wheel's own contactcenter-<version>.dist-info.
    beside = ("contactcenter__mypyc.", "contactcenter-")
    stray = sorted(t for t in tops if t != "contactcenter" and not t.startswith(beside))
    if stray:
        fail(f"the wheel installs more than the contactcenter package: {', '.join(stray)}")


def copy_sources(src: Path) -> None:
    """What a build reads, copied into src as it is in the checkout (links as links)."""
    for path in [*source_files(), ROOT / "README.md"]:
        target = src / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=False)


def build(dest: Path) -> None:
    check_toolchain()
    with tempfile.TemporaryDirectory(prefix="cc-mypyc-") as tmp:
        src = Path(tmp) / "src"
        copy_sources(src)
        out = Path(tmp) / "out"
        # The build decides as a user's would: whatever CONTACTCENTER_MYPYC says here, the
        # check below is what makes this the compiled one.
        env = {k: v for k, v in os.environ.items() if k != "CONTACTCENTER_MYPYC"}
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        run = subprocess.run(
            [*pip, "wheel", "--no-build-isolation", "--no-deps", "-w", str(out), str(src)],
            env=env,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            fail("the mypyc build failed (output above)")
        wheel = next(out.glob("*.whl"))
        check_wheel(wheel, src)
        run = subprocess.run(
            [*pip, "install", "--no-deps", "--no-compile", "--target", str(out / SITE), str(wheel)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            fail("installing the compiled wheel failed (output above)")
        # Moved in whole under a temporary name, then renamed: complete or absent, never
        # half-built, even if two builds of the same version race.
        staging = dest.parent / f".building-{os.getpid()}"
        shutil.move(str(out), staging)
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
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if this version is cached")
    ap.add_argument("--wheel", action="store_true", help="print the wheel's path instead of DIR")
    args = ap.parse_args()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    dest = root / build_key()
    if args.force and dest.exists():
        shutil.rmtree(dest)
    if not (dest / SITE).is_dir():  # also a folder left by an older layout of this cache
        shutil.rmtree(dest, ignore_errors=True)
        print(f"build_compiled: compiling the core with mypyc into {dest} ...", file=sys.stderr, flush=True)
        build(dest)
    os.utime(dest)
    prune(root, dest)
    print(next(dest.glob("*.whl")) if args.wheel else dest / SITE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
