# Callbacks on an overloaded day: the same day (same callers, same draws) with and without
# them, over several seeds. Rules:
# - It prints figures and never fails: what callbacks change is a finding, not a test.
# - "Citizens" are first calls; repeat calls are callers who gave up calling again
#   (the scenario's `redial`); "lost" are abandons that were not followed by a repeat call.
# - Time on the phone: what callers spent holding (queue time of answered, abandoned and
#   called-back calls) plus the callbacks' conversations are not counted (talk is talk).
# Run: python tests/bench/bench_callbacks.py [--scenario 010-overloaded] [--seeds 5] [--json OUT]
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from contactcenter.resources import scenario as scenario_path
from contactcenter.sim.scenario import load_scenario
from contactcenter.sim.virtual import simulate


def figures(kpis: dict[str, Any]) -> dict[str, Any]:
    cb = kpis["callbacks"]
    citizens = kpis["offered"] - kpis["repeat_calls"]
    handled = kpis["answered"] + kpis["abandoned"] + kpis["called_back"]
    hold_s = (kpis["mean_wait_s"] or 0.0) * handled
    return {
        "citizens": citizens,
        "calls": kpis["offered"],
        "repeat_calls": kpis["repeat_calls"],
        "answered_live": kpis["answered"],
        "abandoned": kpis["abandoned"],
        "p_abandon": kpis["p_abandon"],
        "lost": kpis["abandoned"] - kpis["repeat_calls"],
        "asa_s": kpis["asa_s"],
        "hold_h": hold_s / 3600.0,
        "callbacks_accepted": cb["accepted"],
        "callbacks_completed": cb["completed"],
        "callbacks_failed": cb["failed"],
        "callbacks_expired": cb["expired"],
        "callback_delay_s": cb["mean_delay_s"],
        "callback_max_delay_s": cb["max_delay_s"],
        "callback_wait_total_s": cb["mean_wait_total_s"],
        "called_back_on_phone_s": cb["mean_on_phone_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="010-overloaded")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    base = load_scenario(scenario_path(args.scenario))
    if base.callbacks is None:
        raise SystemExit(f"{args.scenario} has no callbacks section")
    rows: list[dict[str, Any]] = []
    for seed in range(1, args.seeds + 1):
        sc = dataclasses.replace(base, seed=seed)
        on = figures(simulate(sc).kpis)
        off = figures(simulate(sc.with_callbacks(False)).kpis)
        rows.append({"seed": seed, "with": on, "without": off})
        print(
            f"seed {seed}: citizens {on['citizens']:,}"
            f" | with callbacks: calls {on['calls']:,}, abandoned {on['abandoned']:,}"
            f" ({100 * on['p_abandon']:.1f} %), lost {on['lost']:,}, ASA {on['asa_s']:.1f} s,"
            f" hold {on['hold_h']:.1f} h, callbacks {on['callbacks_completed']:,} done"
            f" / {on['callbacks_accepted']:,} (failed {on['callbacks_failed']}, expired"
            f" {on['callbacks_expired']}), request->talk {on['callback_delay_s']:.0f} s"
            f" (max {on['callback_max_delay_s']:.0f} s)"
            f" | without: calls {off['calls']:,}, abandoned {off['abandoned']:,}"
            f" ({100 * off['p_abandon']:.1f} %), lost {off['lost']:,}, ASA {off['asa_s']:.1f} s,"
            f" hold {off['hold_h']:.1f} h"
        )

    def mean(side: str, key: str) -> float:
        return statistics.fmean(r[side][key] for r in rows)

    print(f"mean over {len(rows)} seeds (with / without callbacks):")
    for key in ("calls", "repeat_calls", "abandoned", "lost", "asa_s", "hold_h"):
        print(f"  {key:14} {mean('with', key):10.1f} / {mean('without', key):10.1f}")
    for key in ("callbacks_completed", "callback_delay_s", "callback_wait_total_s", "called_back_on_phone_s"):
        print(f"  {key:24} {mean('with', key):10.1f}")
    if args.json:
        args.json.write_text(json.dumps({"scenario": args.scenario, "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
