# Scale benchmark: the virtual-time simulator on a synthetic year of 010 traffic (the shipped
# 010-weekday scenario run for 8,760 hours, its day profiles scaled to about 2.2 million
# calls), and the bank month of the bundled trace (42,059 calls) replayed faithfully: all its
# days superposed on one (`month`: `--trace bank --date all`, with the shipped scenario's
# team), and its 31 days in a row with the trace's own staffing, patience and time away
# (`month-faithful`: `--from 2010-08-01 --to 2010-08-31 --staffing trace --patience trace
# --away trace`, whose sim wall time includes the replays that estimate the time away).
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
import json
import os
import resource
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contactcenter.sim.scenario import Scenario

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


def month(faithful: bool) -> Scenario:
    from contactcenter.sim.scenario import Scenario

    bank = Scenario.for_trace("bank")
    if not faithful:
        return bank.replaying(day="all")
    return bank.replaying(
        first_day="2010-08-01", last_day="2010-08-31", staffing="trace", patience_fit="km", away="trace"
    )


def child(case: str, calls: float) -> None:
    from contactcenter.sim.scenario import parse_scenario
    from contactcenter.sim.virtual import simulate

    sc = parse_scenario(year_raw(calls), "(year)") if case == "year" else month(case == "month-faithful")
    expected = sc.expected_calls()
    t0 = time.perf_counter()
    result = simulate(sc)
    result.wall_s = time.perf_counter() - t0  # (with the estimating replays, for month-faithful)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=float, default=2.2e6, help="calls in the synthetic year (default 2.2 M)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case (default 1800)")
    ap.add_argument(
        "--cases", default="year,month,month-faithful", help="year,month,month-faithful (default all)"
    )
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.calls)
        return 0
    cases = args.cases.split(",")
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
        f"{'case':<14} {'expected':>11} {'arrivals':>11} {'sim wall s':>10} {'calls/s':>9}"
        f" {'process s':>9} {'peak RSS MB':>11} {'SL':>7} {'abandon':>8}"
    )
    for r in rows:
        print(
            f"{r['case']:<14} {r['expected_calls']:>11,.0f} {r['arrivals']:>11,} {r['sim_wall_s']:>10.1f}"
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
