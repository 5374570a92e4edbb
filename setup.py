# Opt-in compiled build of the sans-I/O core (and the simulator's hot loop) with mypyc.
#
#   CONTACTCENTER_MYPYC=1 pip install --no-build-isolation .
#
# mypyc ships with mypy; the core is mypy --strict clean, which is what mypyc needs to turn
# attribute access and calls into C. Compiled modules are plain extension modules that
# import exactly like the sources; the default build (and every editable install, whose
# edited sources must never be shadowed by stale binaries) stays pure Python.
import os
from pathlib import Path

from setuptools import setup

# Every module of the core, and the simulator's loop (the driver and its caller streams).
COMPILED = [
    *sorted(str(p) for p in Path("contactcenter/core").glob("*.py") if p.stem != "__init__"),
    "contactcenter/sim/traffic.py",
    "contactcenter/sim/virtual.py",
]

ext_modules = []
if os.environ.get("CONTACTCENTER_MYPYC") == "1":
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit(
            "CONTACTCENTER_MYPYC=1 needs mypy (which carries mypyc) in the building Python:"
            " pip install mypy, then build with --no-build-isolation"
        ) from None
    ext_modules = mypycify(COMPILED, opt_level="3")

setup(ext_modules=ext_modules)
