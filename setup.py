# The build of the contactcenter package: pure Python, or with the sans-I/O core and the
# simulator's loop compiled to C extension modules by mypyc (as black and mypy ship).
# Rules:
# - A non-editable build (`pip install .`, `pip wheel .`, `python -m build`) is the compiled
#   one when it can be: mypyc (it comes with mypy, a build requirement in pyproject.toml), a C
#   compiler and Python's headers. Without them it is pure Python and says so in one line
#   (pip shows a build's output with -v; `contactcenter sim` names the core that ran).
# - An editable install (`pip install -e .`) is always pure Python: binaries built beside the
#   sources would shadow every later edit of them with stale code.
# - CONTACTCENTER_MYPYC=0 never compiles; =1 compiles or fails (for a build that must be the
#   fast one); unset compiles when it can.
# - The choice is made here, before setup(): a wheel that holds extension modules must say so
#   to setup() (it is then tagged for this Python and platform, not py3-none-any), and the
#   commands setuptools is about to run are the ones on this command line (PEP 517 runs
#   `bdist_wheel` for a wheel, `editable_wheel` for an editable install, `egg_info` or
#   `dist_info` for metadata, which need no compiling).
# mypyc compiles only what is mypy --strict clean (the [tool.mypy] files); compiled modules
# import exactly like the sources, which the wheel keeps beside them.
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup

# Every module of the core, and the simulator's loop (the driver and its caller streams).
COMPILED = [
    *sorted(str(p) for p in Path("contactcenter/core").glob("*.py") if p.stem != "__init__"),
    "contactcenter/sim/traffic.py",
    "contactcenter/sim/virtual.py",
]

EDITABLE_COMMANDS = {"editable_wheel", "develop"}
BUILD_COMMANDS = {"bdist_wheel", "bdist", "build", "build_ext", "install"}


def missing_toolchain() -> str | None:
    """Why this machine cannot compile the core, or None if it can."""
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not in the building Python (pip install mypy; it carries mypyc)"
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc}: apt-get install gcc)"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        return f"no Python headers ({include}/Python.h: apt-get install python3-dev)"
    return None


def compiled_extensions() -> list[Extension]:
    mode = os.environ.get("CONTACTCENTER_MYPYC", "")
    if mode not in ("", "0", "1"):
        raise SystemExit(f"CONTACTCENTER_MYPYC={mode!r}: 1 compiles or fails, 0 never compiles")
    args = set(sys.argv[1:])
    in_place = "--inplace" in args or ("build_ext" in args and "-i" in args)
    if args & EDITABLE_COMMANDS or in_place:
        if mode == "1":
            raise SystemExit(
                "CONTACTCENTER_MYPYC=1: an editable install is never compiled (stale binaries would"
                " shadow the sources); build a wheel (pip install .) or run scripts/build_compiled.py"
            )
        return []
    if not args & BUILD_COMMANDS or mode == "0":
        return []
    why = missing_toolchain()
    if why is not None:
        if mode == "1":
            raise SystemExit(f"CONTACTCENTER_MYPYC=1 cannot compile the core: {why}")
        print(
            f"contactcenter: building pure Python, the compiled core is 2-3x faster: {why}"
            " (CONTACTCENTER_MYPYC=0 builds pure Python without this notice)",
            file=sys.stderr,
            flush=True,
        )
        return []
    from mypyc.build import mypycify

    # group_name: the runtime shared by the compiled modules installs as contactcenter__mypyc
    # (a name that says whose it is) instead of a hash of the module list.
    return mypycify(COMPILED, opt_level="3", group_name="contactcenter")


setup(ext_modules=compiled_extensions())
