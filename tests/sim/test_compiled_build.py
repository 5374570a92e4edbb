# The compiled build (the wheel setup.py makes when a C compiler is there; scripts/
# build_compiled.py builds it once per source version and installs it into a folder, the
# same build tests/packaging installs in a fresh virtualenv) must be the same engine, only
# faster: its modules really are compiled, its events really are read-only, the core's own
# tests pass on it, and the simulator gives the same KPIs, to the last digit, as the
# pure-Python build for the same seed.
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compiled() -> Path:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_compiled.py")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr
    path = Path(run.stdout.strip())
    assert (path / "contactcenter" / "core").is_dir()
    return path


def _env(compiled: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if compiled is not None:
        # The build first, then the checkout (for `tests`), with -P so the current
        # directory is never put ahead of them.
        env["PYTHONPATH"] = f"{compiled}{os.pathsep}{ROOT}"
        env["CC_EXPECT_COMPILED"] = "1"
    return env


def _python(compiled: Path | None, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", *args],
        cwd=ROOT,
        env=_env(compiled),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


PROBE = """
import importlib, importlib.machinery, json
from contactcenter.core import events as ev
from contactcenter.core.commands import ConnectCall
mods = ["contactcenter.core.engine", "contactcenter.core.events", "contactcenter.core.queues",
        "contactcenter.core.pool", "contactcenter.core.kpis", "contactcenter.sim.virtual",
        "contactcenter.sim.traffic", "contactcenter.config"]
out = {m: importlib.import_module(m).__file__ for m in mods}
refused = []
for obj, field in ((ev.CallArrived(now=1, call_id="c"), "call_id"), (ev.Tick(now=1), "now"),
                   (ConnectCall(call_id="c", operator_id="a"), "operator_id")):
    try:
        setattr(obj, field, "x")
    except AttributeError:
        refused.append(field)
out["refused"] = refused
out["suffixes"] = importlib.machinery.EXTENSION_SUFFIXES
print(json.dumps(out))
"""


def test_core_and_sim_loop_are_compiled_and_events_read_only_at_run_time(compiled: Path) -> None:
    run = _python(compiled, "-c", PROBE)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    suffixes = tuple(out.pop("suffixes"))
    assert out.pop("refused") == ["call_id", "now", "operator_id"]
    assert out.pop("contactcenter.config").endswith(".py")  # only the core and the loop compile
    for module, path in out.items():
        assert path.startswith(str(compiled)) and path.endswith(suffixes), (module, path)


def test_core_unit_tests_pass_on_the_compiled_build(compiled: Path) -> None:
    # conftest.py refuses to start if any core module is not the compiled one. The
    # importlib import mode leaves sys.path alone: the default one would put the checkout
    # first, and its sources would be imported instead of the build.
    run = _python(
        compiled,
        "-m",
        "pytest",
        "--import-mode=importlib",
        "-q",
        "-W",
        "error",
        "-p",
        "no:cacheprovider",
        "tests/unit",
        timeout=900,
    )
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    assert " passed" in run.stdout and " failed" not in run.stdout


RUNS = {
    # M/M/N+M: abandonment, no IVR, the driver's inlined paths
    "mmn-abandon": [
        "--arrival-rate", "900", "--aht", "200", "--operators", "50", "--patience", "60",
        "--hours", "6", "--warmup-hours", "1", "--seed", "3",
    ],
    # the 010 day: three skills, languages, IVR, lognormal talk, relaxation, wrap-up,
    # ring delay, shifts, line limit
    "010-weekday": ["--scenario", "sim/scenarios/010-weekday.yaml", "--hours", "14"],
    # the Technion trace's busiest day, replayed
    "trace": ["--scenario", "sim/scenarios/trace-busiest-day.yaml"],
    # an overloaded day with callbacks, opening hours and repeat calls
    "010-overloaded": ["--scenario", "sim/scenarios/010-overloaded.yaml"],
}  # fmt: skip


@pytest.mark.parametrize("name", list(RUNS))
def test_compiled_build_gives_the_same_kpis(compiled: Path, name: str, tmp_path: Path) -> None:
    results = []
    for build in (None, compiled):
        out = tmp_path / f"{'compiled' if build else 'pure'}.json"
        run = _python(build, "-m", "contactcenter.cli", "sim", *RUNS[name], "--json", str(out))
        assert run.returncode == 0, run.stderr
        # The footer says which build ran (rich may wrap it: compare words).
        footer = "compiled core" if build else "pure-Python core"
        assert footer in " ".join(run.stdout.split())
        results.append(json.loads(out.read_text()))
    pure, fast = results
    # The run's metadata names the build; all else, the numbers and the run, is the same.
    assert (pure["run"].pop("core"), fast["run"].pop("core")) == ("pure-Python", "compiled")
    assert pure["offered"] > 1000 and pure["answered"] > 0
    assert fast == pure
