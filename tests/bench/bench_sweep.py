# Sweep benchmark: one parameter sweep of the virtual-time simulator (contactcenter/sim/batch.py)
# run three ways: serially in this process, on a process pool of 2 workers, and on a local
# Dask cluster of 2 worker processes (loopback only, dashboard off). Rules:
# - It prints figures and never fails on speed; a way that cannot run (no Dask) is reported
#   as such and the others still run.
# - The pool is timed from its creation (spawning its workers is what a user waits for); the
#   Dask cluster is started first and timed apart, then the sweep on it (users connect to a
#   cluster that is already up).
# - The three must give the same KPIs (same seeds, same numbers): checked and printed.
# Run: python tests/bench/bench_sweep.py [--sweep operators=20:27:1] [--seeds 4] [--json OUT]
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from contactcenter.sim.batch import (
    InProcess,
    TaskResult,
    make_executor,
    parse_sweep,
    plan,
    render_batch,
    run_batch,
    summarise,
)
from contactcenter.sim.scenario import Scenario


def _fingerprint(results: list[TaskResult]) -> list[str]:
    return [json.dumps([r.point, r.seed, r.kpis], sort_keys=True) for r in results]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=float, default=200.0, help="calls per hour (default 200)")
    ap.add_argument("--aht", type=float, default=300.0, help="mean handling time, s (default 300)")
    ap.add_argument("--hours", type=float, default=8.0, help="measured hours per run (default 8)")
    ap.add_argument("--sweep", default="operators=20:27:1")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    sc = Scenario.quick(
        arrival_rate=args.rate, aht=args.aht, operators=20, hours=args.hours, warmup_hours=0.5
    )
    tasks = plan(sc, args.seeds, [parse_sweep(args.sweep)])
    calls = sum(1 for _ in tasks) * sc.expected_calls()
    print(
        f"sweep {args.sweep} x {args.seeds} seeds = {len(tasks)} runs of {sc.expected_calls():,.0f} calls"
        f" ({args.rate:g}/h, AHT {args.aht:g} s, {args.hours:g} h + 0.5 h warm-up): ~{calls:,.0f} calls;"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    figures: dict[str, Any] = {"runs": len(tasks), "calls": calls, "cpus": os.cpu_count()}
    fingerprints: dict[str, list[str]] = {}

    t0 = time.perf_counter()
    serial = run_batch(tasks, InProcess())
    figures["serial_s"] = time.perf_counter() - t0
    fingerprints["serial"] = _fingerprint(serial)

    t0 = time.perf_counter()
    pool = make_executor(None, workers=args.workers)
    try:
        pooled = run_batch(tasks, pool)
    finally:
        pool.close()
    figures["pool_s"] = time.perf_counter() - t0
    fingerprints["pool"] = _fingerprint(pooled)

    try:
        from distributed import LocalCluster
    except ImportError:
        print("dask: not installed (pip install contactcenter[dask]): skipped")
    else:
        t0 = time.perf_counter()
        with LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            figures["dask_start_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            dask = make_executor(cluster.scheduler_address)
            try:
                on_dask = run_batch(tasks, dask)
            finally:
                dask.close()
            figures["dask_s"] = time.perf_counter() - t0
        fingerprints["dask"] = _fingerprint(on_dask)

    print(render_batch(summarise(serial)))
    print()
    print(f"{'way':<28} {'wall s':>8} {'runs/s':>8} {'speed-up':>9}")
    serial_s = figures["serial_s"]
    for way, key in (
        ("serial (this process)", "serial_s"),
        (f"process pool, {args.workers} workers", "pool_s"),
    ):
        print(
            f"{way:<28} {figures[key]:8.2f} {len(tasks) / figures[key]:8.2f} {serial_s / figures[key]:8.2f}x"
        )
    if "dask_s" in figures:
        way = f"Dask LocalCluster, {args.workers} w."
        print(
            f"{way:<28} {figures['dask_s']:8.2f} {len(tasks) / figures['dask_s']:8.2f}"
            f" {serial_s / figures['dask_s']:8.2f}x"
            f"   (cluster start-up {figures['dask_start_s']:.2f} s, not counted)"
        )
    load = os.getloadavg()
    figures["load_avg"] = load
    print(
        f"load average at the end (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        " (other work on the machine skews the speed-ups)"
    )
    same = all(fp == fingerprints["serial"] for fp in fingerprints.values())
    figures["same_numbers"] = same
    print(f"same KPIs from {', '.join(fingerprints)}: {'yes' if same else 'NO'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
