# The run's plot (contactcenter/sim/plot.py) on a simulated year: what it keeps per call, what
# it adds to the run's time, and how long its series and its PNG take. Rules:
# - It prints figures and never fails on speed or size.
# - The run is simulated twice, with and without the plot (same seed, same calls), so the
#   plot's cost per call is the difference; the plot's memory is its arrays as allocated and
#   its interval sums (RunPlot.memory_bytes), divided by the calls it kept.
# Run: python tests/bench/bench_sim_plot.py [--hours 8760] [--rate 250] [--out year.png] [--json OUT]
from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from contactcenter.sim.plot import RunPlot
from contactcenter.sim.scenario import Scenario
from contactcenter.sim.virtual import simulate


def main() -> int:
    ap = argparse.ArgumentParser(description="the run's plot on a simulated year")
    ap.add_argument("--hours", type=float, default=8760.0, help="measured hours (default a year, 8760)")
    ap.add_argument(
        "--rate", type=float, default=250.0, help="calls per hour (default 250: 2.2 million a year)"
    )
    ap.add_argument("--aht", type=float, default=300.0, help="mean handling time, s (default 300)")
    ap.add_argument("--patience", type=float, default=120.0, help="mean patience, s (default 120)")
    ap.add_argument("--out", help="keep the PNG here (default: a temporary file)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    erlangs = args.rate * args.aht / 3600.0
    operators = math.ceil(erlangs * 1.1)
    sc = Scenario.quick(
        arrival_rate=args.rate,
        aht=args.aht,
        operators=operators,
        patience=args.patience,
        hours=args.hours,
    )
    print(
        f"{args.hours:g} h at {args.rate:g} calls/h ({erlangs:.1f} Erlangs, {operators} operators,"
        f" patience {args.patience:g} s): ~{sc.expected_calls():,.0f} calls"
    )
    # CPU time of this process (not wall time): the figure a shared machine's other jobs
    # disturb least.
    gc.freeze()
    cpu = time.process_time()
    bare = simulate(sc)
    bare_cpu = time.process_time() - cpu
    plot = RunPlot.for_scenario(sc)
    cpu = time.process_time()
    with_plot = simulate(sc, on_call=plot.add)
    plot_cpu = time.process_time() - cpu
    gc.unfreeze()
    assert with_plot.kpis == bare.kpis  # the observer changes nothing
    kept = plot.calls
    memory = plot.memory_bytes()
    figures: dict[str, Any] = {
        "calls": with_plot.arrivals,
        "kept": kept,
        "plot_bytes": memory,
        "bytes_per_call": memory / kept if kept else None,
        "sim_cpu_s": bare_cpu,
        "sim_with_plot_cpu_s": plot_cpu,
        "add_us_per_call": 1e6 * (plot_cpu - bare_cpu) / with_plot.arrivals,
    }
    t = time.perf_counter()
    plot.waiting_through_day()
    figures["waiting_s"] = time.perf_counter() - t
    t = time.perf_counter()
    plot.service_level_through_day()
    figures["service_level_s"] = time.perf_counter() - t
    t = time.perf_counter()
    plot.wait_distribution()
    figures["histogram_s"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "year.png"
        t = time.perf_counter()
        plot.draw(out, f"{sc.name}: {args.hours:g} h at {args.rate:g} calls/h")
        figures["draw_s"] = time.perf_counter() - t
        figures["png_bytes"] = out.stat().st_size
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"calls simulated          {figures['calls']:>12,}")
    print(f"calls the plot kept      {kept:>12,}  (queued in the window)")
    per_call = figures["bytes_per_call"]
    print(f"plot's memory            {memory / 2**20:>12.1f} MB = {per_call:.1f} bytes per call")
    print(
        f"CPU without / with plot  {bare_cpu:>8.1f} s / {plot_cpu:.1f} s"
        f"  ({figures['add_us_per_call']:+.2f} µs per call)"
    )
    print(
        f"series: waiting {figures['waiting_s']:.2f} s, SL {figures['service_level_s']:.3f} s,"
        f" histogram {figures['histogram_s']:.2f} s; PNG {figures['draw_s']:.2f} s,"
        f" {figures['png_bytes'] / 1024:.0f} KB"
    )
    print(f"peak RSS                 {figures['peak_rss_mb']:>12.0f} MB (the whole process: the run too)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
