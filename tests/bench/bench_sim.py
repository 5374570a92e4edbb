# Simulator benchmark: the engine's virtual-time simulator against SimPy and ciw on one
# M/M/N workload (Poisson arrivals, exponential service, N operators, FIFO, no abandonment).
# Rules:
# - It prints figures and never fails on speed: a missing or failing model is reported as
#   such and the others still run (exit code 0 unless the arguments are wrong).
# - Each model runs in its own subprocess, timed from spawn to exit with perf_counter and
#   measured for peak RSS with wait4's rusage of that one child, so interpreter start-up,
#   imports and memory are counted the same way for all three.
# - SimPy and ciw are reference models written here in a few lines each, as plainly as
#   their documentation shows; Erlang C is computed here too (not imported from sim/) so the
#   reference does not depend on the code it checks.
# Run: python tests/bench/bench_sim.py [--quick] [--json OUT]
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SL_THRESHOLD_S = 20.0
DEFAULT_AHT_S = 180.0
DEFAULT_ERLANGS = 200.0
DEFAULT_CALLS = 200_000
QUICK_CALLS = 20_000
# Issue 7's goals for what a user installs (the compiled wheel), in the same run.
GOAL_VS_SIMPY = 2.0
GOAL_VS_CIW = 5.0


# --- closed form ----------------------------------------------------------------------------


def erlang_c(erlangs: float, operators: int, aht_s: float, threshold_s: float) -> dict[str, float]:
    """P(wait), ASA (mean wait over all calls) and service level of an M/M/N queue."""
    if operators <= erlangs:
        return {"p_wait": 1.0, "asa_s": math.inf, "service_level": 0.0}
    b = 1.0  # Erlang B by its recurrence: no factorials, no overflow at hundreds of servers
    for k in range(1, operators + 1):
        b = erlangs * b / (k + erlangs * b)
    c = operators * b / (operators - erlangs * (1.0 - b))
    spare = operators - erlangs
    return {
        "p_wait": c,
        "asa_s": c * aht_s / spare,
        "service_level": 1.0 - c * math.exp(-spare * threshold_s / aht_s),
    }


def summarise_waits(waits: list[float], threshold_s: float) -> dict[str, float]:
    n = len(waits)
    if n == 0:
        return {"p_wait": math.nan, "asa_s": math.nan, "service_level": math.nan}
    return {
        "p_wait": sum(1 for w in waits if w > 0.0) / n,
        "asa_s": sum(waits) / n,
        "service_level": sum(1 for w in waits if w <= threshold_s) / n,
    }


# --- reference models (run in a child process) ----------------------------------------------


def model_simpy(
    rate_per_s: float, aht_s: float, operators: int, horizon_s: float, seed: int
) -> dict[str, Any]:
    """M/M/N in SimPy: a source process and one process per call on a simpy.Resource."""
    import random

    import simpy

    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=operators)
    waits: list[float] = []
    arrivals = 0

    def call(env: simpy.Environment) -> Any:
        arrived = env.now
        with servers.request() as req:
            yield req
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(1.0 / aht_s))

    def source(env: simpy.Environment) -> Any:
        nonlocal arrivals
        while True:
            yield env.timeout(rng.expovariate(rate_per_s))
            arrivals += 1
            env.process(call(env))

    env.process(source(env))
    t0 = time.perf_counter()
    env.run(until=horizon_s)
    elapsed = time.perf_counter() - t0
    # Calls still waiting at the horizon have no wait yet; they count as simulated work.
    stats = summarise_waits(waits, SL_THRESHOLD_S)
    return {"calls": arrivals, "measured": len(waits), "model_s": elapsed, **stats}


def model_ciw(rate_per_s: float, aht_s: float, operators: int, horizon_s: float, seed: int) -> dict[str, Any]:
    """M/M/N in ciw: one node, exponential arrivals and service, N servers."""
    import ciw

    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=rate_per_s)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / aht_s)],
        number_of_servers=[operators],
    )
    sim = ciw.Simulation(network)
    t0 = time.perf_counter()
    sim.simulate_until_max_time(horizon_s)
    elapsed = time.perf_counter() - t0
    # ciw writes a record when service ends; calls still in the node at the horizon were
    # simulated too but have no record.
    waits = [r.waiting_time for r in sim.get_all_records() if r.record_type == "service"]
    in_system = len(sim.nodes[1].all_individuals)
    return {
        "calls": len(waits) + in_system,
        "measured": len(waits),
        "model_s": elapsed,
        **summarise_waits(waits, SL_THRESHOLD_S),
    }


MODELS = {"simpy": model_simpy, "ciw": model_ciw}
# The engine runs twice: as a user installs it (the wheel, whose core and simulator loop
# setup.py compiles with mypyc when a C compiler is there) and as the checkout's editable
# install (CPython running the sources). The goals are the wheel's.
ENGINES = ("engine-mypyc", "engine")
LABELS = {
    "engine-mypyc": "engine (wheel, mypyc)",
    "engine": "engine (editable, CPython)",
    "simpy": "SimPy",
    "ciw": "ciw",
}
GOAL_ENGINE = "engine-mypyc"


def child_main(args: argparse.Namespace) -> int:
    result = MODELS[args.child](args.rate / 3600.0, args.aht, args.operators, args.hours * 3600.0, args.seed)
    Path(args.out).write_text(json.dumps(result))
    return 0


# --- the harness ------------------------------------------------------------------------------


def run_child(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`, return its wall time, peak RSS (MB), exit code and stderr tail."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
            )
        except FileNotFoundError as exc:
            return {"rc": 127, "wall_s": 0.0, "rss_mb": math.nan, "stderr": str(exc), "timed_out": False}
        killer = threading.Timer(timeout_s, proc.kill)
        killer.start()
        try:
            # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be a running max
            # over every child so far, not a per-model figure.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
    rss_kb = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss  # macOS: bytes
    return {
        "rc": proc.returncode,
        "wall_s": wall,
        "rss_mb": rss_kb / 1024,
        "stderr": "\n".join(tail),
        "timed_out": wall >= timeout_s,
    }


def engine_command() -> list[str]:
    """The installed `contactcenter` script (next to this interpreter first, not a pyenv shim)."""
    beside = Path(sys.executable).parent / "contactcenter"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("contactcenter")
    return [found] if found else [sys.executable, "-m", "contactcenter.cli"]


def fmt_hours(hours: float) -> str:
    return f"{hours:.6g}"


def compiled_engine() -> tuple[list[str], dict[str, str]] | str:
    """The command and environment that run the wheel a user installs, or why it is not
    available. scripts/build_compiled.py builds the wheel once per source version (not timed;
    the tests use the same build) and installs it with `pip install --target`: the files a pip
    install puts in site-packages, run here from that folder."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "build_compiled.py"
    print("building the compiled wheel (cached after the first time) ...", file=sys.stderr, flush=True)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    if run.returncode != 0:
        return "build failed: " + (run.stderr.strip().splitlines() or ["?"])[-1]
    env = {**os.environ, "PYTHONPATH": run.stdout.strip()}
    return [sys.executable, "-P", "-m", "contactcenter.cli"], env  # -P: no checkout on sys.path


def run_engine(
    w: dict[str, Any],
    workdir: Path,
    timeout_s: float,
    prefix: list[str],
    model: str = "engine",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    out = workdir / f"{model}.json"
    cmd = [
        *prefix, "sim",
        "--arrival-rate", f"{w['rate_per_h']:.6g}",
        "--aht", f"{w['aht_s']:.6g}",
        "--operators", str(w["operators"]),
        "--patience", "none",
        "--service-dist", "exp",
        "--hours", fmt_hours(w["hours"]),
        "--warmup-hours", "0",
        "--seed", str(w["seed"]),
        "--lines", "100000",
        "--sl-threshold", f"{SL_THRESHOLD_S:g}",
        "--json", str(out),
    ]  # fmt: skip
    run = run_child(cmd, timeout_s, env)
    row: dict[str, Any] = {"model": LABELS[model], "command": " ".join(cmd), **run}
    if run["rc"] != 0 or not out.is_file():
        # No script, or argparse's "invalid choice: 'sim'". Any other refusal (an option it
        # does not know yet, a bad value) is a failure, shown with its stderr.
        err = run["stderr"]
        absent = run["rc"] == 127 or "No such file" in err or ("invalid choice: 'sim'" in err)
        row["status"] = "not available yet" if absent else _failure(run)
        return row
    try:
        data = json.loads(out.read_text())
        row.update(
            status="ok",
            calls=int(data["offered"]),
            measured=int(data["answered"]),
            p_wait=float(data["p_wait"]),
            asa_s=float(data["asa_s"]),
            service_level=float(data["service_level"]),
            engine_json=data,
        )
    except (ValueError, KeyError, TypeError) as exc:
        row["status"] = f"unreadable JSON ({type(exc).__name__}: {exc})"
    return row


def run_reference(name: str, w: dict[str, Any], workdir: Path, timeout_s: float) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", name,
        "--rate", repr(w["rate_per_h"]), "--aht", repr(w["aht_s"]),
        "--operators", str(w["operators"]), "--hours", repr(w["hours"]),
        "--seed", str(w["seed"]), "--out", str(out),
    ]  # fmt: skip
    run = run_child(cmd, timeout_s)
    row: dict[str, Any] = {"model": LABELS[name], **run}
    if run["rc"] != 0 or not out.is_file():
        missing = "ModuleNotFoundError" in run["stderr"]
        row["status"] = "not installed" if missing else _failure(run)
        return row
    row.update(status="ok", **json.loads(out.read_text()))
    return row


def _failure(run: dict[str, Any]) -> str:
    return f"timed out after {run['wall_s']:.0f} s" if run["timed_out"] else f"failed (exit {run['rc']})"


def ratio(engine: dict[str, Any], other: dict[str, Any]) -> float | None:
    if engine.get("status") != "ok" or other.get("status") != "ok":
        return None
    return float(engine["calls_per_s"] / other["calls_per_s"])


def report(
    w: dict[str, Any],
    rows: list[dict[str, Any]],
    ref: dict[str, float],
    ratios: dict[tuple[str, str], float | None],
) -> None:
    head = ["model", "calls simulated", "wall s", "calls/s", "peak RSS MB", "P(wait)", "ASA s", "SL20"]
    lines: list[list[str]] = []
    for r in rows:
        if r.get("status") != "ok":
            lines.append([r["model"], r["status"], "", "", "", "", "", ""])
            continue
        lines.append(
            [
                r["model"],
                f"{r['calls']:,}",
                f"{r['wall_s']:.2f}",
                f"{r['calls_per_s']:,.0f}",
                f"{r['rss_mb']:.0f}",
                f"{r['p_wait']:.4f}",
                f"{r['asa_s']:.2f}",
                f"{r['service_level']:.4f}",
            ]
        )
    figures = [f"{ref['p_wait']:.4f}", f"{ref['asa_s']:.2f}", f"{ref['service_level']:.4f}"]
    lines.append(["Erlang C", "(closed form)", "", "", "", *figures])
    title = (
        f"M/M/{w['operators']}: {w['erlangs']:g} Erlangs = {w['rate_per_h']:,.0f} calls/h"
        f" x AHT {w['aht_s']:g} s, "
        f"{fmt_hours(w['hours'])} h simulated (~{w['calls']:,} calls), seed {w['seed']}, no abandonment,"
        f" best of {w['repeat']}"
    )
    goal_lines = []
    goals = {"SimPy": GOAL_VS_SIMPY, "ciw": GOAL_VS_CIW}
    for (engine, name), times in ratios.items():
        goal = goals[name]
        if engine != LABELS[GOAL_ENGINE]:  # the editable build: a reference, no goal
            figure = "n/a" if times is None else f"{times:.2f}x calls/s"
            goal_lines.append(f"{engine} / {name}: {figure}")
        elif times is None:
            goal_lines.append(f"{engine} / {name}: n/a (goal >= {goal:g}x: not measured)")
        else:
            verdict = "met" if times >= goal else "NOT met"
            goal_lines.append(f"{engine} / {name}: {times:.2f}x calls/s (goal >= {goal:g}x: {verdict})")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
        for x in [head, *lines]:
            cells = (
                c.rjust(wd) if i else c.ljust(wd) for i, (c, wd) in enumerate(zip(x, widths, strict=True))
            )
            print("  ".join(cells))
        print("\n".join(goal_lines))
        return
    table = Table(title=title)
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i == 0 else "right")
    for x in lines:
        table.add_row(*x)
    console = Console(width=max(Console().width, 120))  # a pipe would get 80 and wrap the table
    console.print(table)
    for r in rows:
        if r.get("status") not in ("ok", "not available yet") and r.get("stderr"):
            console.print(f"[dim]{r['model']}: {r['stderr']}[/dim]", markup=True)
    for g in goal_lines:
        console.print(g, markup=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Engine simulator vs SimPy vs ciw on one M/M/N queue.")
    p.add_argument("--calls", type=int, help=f"calls to simulate (default {DEFAULT_CALLS:,})")
    p.add_argument("--erlangs", type=float, default=DEFAULT_ERLANGS, help="offered load (default 200)")
    p.add_argument("--aht", type=float, default=DEFAULT_AHT_S, help="mean handling time, s (default 180)")
    p.add_argument("--operators", type=int, help="N (default ceil(1.05 x Erlangs): 210 for 200 E)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help=f"a {QUICK_CALLS:,}-call smoke run")
    p.add_argument(
        "--models",
        default="engine-mypyc,engine,simpy,ciw",
        help="comma-separated subset to run (default: all four)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per model; the fastest is reported")
    p.add_argument("--timeout", type=float, default=1800.0, help="per-model wall limit, s")
    p.add_argument("--json", metavar="OUT", help="write every figure to this file")
    p.add_argument(
        "--engine-cmd",
        metavar="CMD",
        help="the engine's CLI, e.g. '.venv/bin/contactcenter' (default: installed)",
    )
    # The reference models run through this same file in a child process.
    p.add_argument("--child", choices=sorted(MODELS), help=argparse.SUPPRESS)
    p.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    p.add_argument("--hours", type=float, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args)

    if args.erlangs <= 0 or args.aht <= 0:
        p.error("--erlangs and --aht must be positive")
    calls = args.calls or (QUICK_CALLS if args.quick else DEFAULT_CALLS)
    if calls < 1:
        p.error("--calls must be >= 1")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    operators = args.operators or math.ceil(1.05 * args.erlangs)
    if operators <= args.erlangs:
        p.error(f"--operators {operators} <= {args.erlangs:g} Erlangs: the queue would grow without bound")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(LABELS)
    if unknown:
        p.error(f"unknown model(s) in --models: {', '.join(sorted(unknown))}")

    rate_per_h = args.erlangs * 3600.0 / args.aht
    hours = calls / rate_per_h
    w = {
        "erlangs": args.erlangs, "aht_s": args.aht, "operators": operators, "rate_per_h": rate_per_h,
        "hours": hours, "calls": calls, "seed": args.seed, "sl_threshold_s": SL_THRESHOLD_S,
        "repeat": args.repeat,
    }  # fmt: skip
    ref = erlang_c(args.erlangs, operators, args.aht, SL_THRESHOLD_S)

    commands: dict[str, tuple[list[str], dict[str, str] | None] | str] = {
        "engine": (shlex.split(args.engine_cmd) if args.engine_cmd else engine_command(), None)
    }
    if "engine-mypyc" in models:
        commands["engine-mypyc"] = compiled_engine()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmp:
        workdir = Path(tmp)
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in LABELS if m in models}
        # Repeats go round the models in turn, so a busy spell on the machine hits all alike.
        for rep in range(args.repeat):
            for m, done in runs.items():
                if done and done[-1].get("status") != "ok":
                    continue  # missing or broken: once is enough
                print(f"running {m} ({rep + 1}/{args.repeat}) ...", file=sys.stderr, flush=True)
                if m in ENGINES:
                    how = commands[m]
                    if isinstance(how, str):
                        row: dict[str, Any] = {"model": LABELS[m], "status": how}
                    else:
                        row = run_engine(w, workdir, args.timeout, how[0], m, how[1])
                else:
                    row = run_reference(m, w, workdir, args.timeout)
                if row.get("status") == "ok":
                    row["calls_per_s"] = row["calls"] / row["wall_s"]
                elif m == "engine" and row.get("status") == "not available yet":
                    print("engine: not available yet (`contactcenter sim` is not there)", file=sys.stderr)
                done.append(row)
        for done in runs.values():
            ok = [r for r in done if r.get("status") == "ok"]
            # The fastest of the repeats: noise only ever adds time (as timeit reports).
            best = dict(min(ok, key=lambda r: r["wall_s"])) if ok else dict(done[-1])
            best["walls_s"] = [round(r["wall_s"], 3) for r in ok]
            rows.append(best)

    by_name = {r["model"]: r for r in rows}
    ratios = {
        (LABELS[e], ref_name): ratio(by_name.get(LABELS[e], {}), by_name.get(ref_name, {}))
        for e in ENGINES
        if e in models
        for ref_name in ("SimPy", "ciw")
    }
    report(w, rows, ref, ratios)

    if args.json:
        doc = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
            },
            "versions": _versions(),
            "workload": w,
            "erlang_c": ref,
            "results": rows,
            "ratios": {f"{e}/{r}": x for (e, r), x in ratios.items()},
            "goals": {
                f"{LABELS[GOAL_ENGINE]}/SimPy": GOAL_VS_SIMPY,
                f"{LABELS[GOAL_ENGINE]}/ciw": GOAL_VS_CIW,
            },
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 0


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for pkg in ("contactcenter", "simpy", "ciw"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
