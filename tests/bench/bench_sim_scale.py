# Scale benchmark: the virtual-time simulator on a synthetic year of 010 traffic (the shipped
# 010-weekday scenario run for 8,760 hours, its day profiles scaled to about 2.2 million
# calls), and, only while contactcenter/sim/tracefile.py has no bank_trace() (the bundled
# bank trace's loader), the superposed month of the old trace replay (`trace: {day: all}`).
# Rules:
# - It prints figures and never fails on speed.
# - Each case runs in its own subprocess (this script with --child), so its peak RSS
#   (resource.getrusage of that process, read at its end) is its own; the parent bounds each
#   child with a timeout and reports a child that timed out or failed as such.
# - The child reports the simulator's own wall time (SimResult.wall_s: the run, not imports)
#   and the parent the time from spawn to exit.
# Run: python tests/bench/bench_sim_scale.py [--calls 2200000] [--timeout 1800] [--json OUT]
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

YEAR_H = 8760.0


def year_raw(calls: float) -> dict[str, Any]:
    """010-weekday for a year, every hourly rate scaled so that ~`calls` arrive."""
    from contactcenter.resources import scenario
    from contactcenter.sim.scenario import load_scenario

    day = load_scenario(scenario("010-weekday"))
    per_year = day.expected_calls() / (day.warmup_hours + day.hours) * (day.warmup_hours + YEAR_H)
    scale = calls / per_year
    raw = day.to_raw()
    raw["name"] = "010-year"
    raw["hours"] = YEAR_H
    for skill in raw["skills"].values():
        rates = skill["arrivals_per_h"]
        skill["arrivals_per_h"] = [r * scale for r in rates] if isinstance(rates, list) else rates * scale
    return raw


def month_raw() -> dict[str, Any]:
    from contactcenter.resources import scenario
    from contactcenter.sim.scenario import load_scenario

    raw = load_scenario(scenario("trace-busiest-day")).to_raw()
    raw["trace"] = {"day": "all"}
    raw["name"] = "trace-month"
    return raw


def child(case: str, calls: float) -> None:
    from contactcenter.sim.scenario import parse_scenario
    from contactcenter.sim.virtual import simulate

    raw = year_raw(calls) if case == "year" else month_raw()
    sc = parse_scenario(raw, f"({case})")
    expected = sc.expected_calls()
    result = simulate(sc)
    k = result.kpis
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "case": case,
                "expected_calls": expected,
                "arrivals": result.arrivals,
                "offered": k.get("offered"),
                "service_level": k.get("service_level"),
                "p_abandon": k.get("p_abandon"),
                "sim_wall_s": result.wall_s,
                "calls_per_s": result.calls_per_s,
                "peak_rss_mb": peak / 1024,
            }
        )
    )


def has_bank_trace() -> bool:
    if importlib.util.find_spec("contactcenter.sim.tracefile") is None:
        return False
    import contactcenter.sim.tracefile as tracefile

    return hasattr(tracefile, "bank_trace")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=float, default=2.2e6, help="calls in the synthetic year (default 2.2 M)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case (default 1800)")
    ap.add_argument("--cases", default=None, help="year,month (default: year; month too without bank_trace)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.calls)
        return 0
    cases = args.cases.split(",") if args.cases else ["year"] if has_bank_trace() else ["year", "month"]
    rows: list[dict[str, Any]] = []
    for case in cases:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", case, "--calls", str(args.calls)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:  # subprocess.run kills the child it started
            print(f"{case}: timed out after {args.timeout:g} s")
            continue
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"{case}: failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["process_wall_s"] = wall
        row["load_avg"] = os.getloadavg()  # other work on the machine slows a run: say how much there was
        rows.append(row)
    print(
        f"{'case':<8} {'expected':>11} {'arrivals':>11} {'sim wall s':>10} {'calls/s':>9}"
        f" {'process s':>9} {'peak RSS MB':>11} {'SL':>7} {'abandon':>8}"
    )
    for r in rows:
        print(
            f"{r['case']:<8} {r['expected_calls']:>11,.0f} {r['arrivals']:>11,} {r['sim_wall_s']:>10.1f}"
            f" {r['calls_per_s']:>9,.0f} {r['process_wall_s']:>9.1f} {r['peak_rss_mb']:>11.0f}"
            f" {100 * (r['service_level'] or 0):>6.1f}% {100 * (r['p_abandon'] or 0):>7.1f}%"
        )
    for r in rows:
        print(
            f"{r['case']}: load average at its end (1, 5, 15 min): "
            + " ".join(f"{x:.2f}" for x in r["load_avg"])
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
