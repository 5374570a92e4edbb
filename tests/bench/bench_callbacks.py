# Callbacks on a busy day: the same day (same callers, same draws) with and without them,
# over several seeds, for each scenario asked for (by default an overloaded day and a tax
# deadline). Rules:
# - It prints figures and never fails: what callbacks change is a finding, not a test.
# - "Citizens" are first calls; repeat calls are callers who gave up calling again (the
#   scenario's `redial`). A citizen is served when one of their calls is answered or their
#   callback reaches a conversation; "never served" are the others (they gave up for good,
#   were turned away, or their callback failed): citizens - answered - callbacks completed,
#   which the follow-up of each citizen below counts again one by one.
# - Following a citizen from their first call to their conversation needs to know which
#   call a repeat call repeats, which the simulator does not say: `Citizens` wraps the
#   world's two redial steps (and the engine's hand-over of ended callbacks) for one run.
#   It works on the editable install only: in the compiled build those are native calls a
#   wrapper never sees (the bench refuses to run there).
# - Spread over seeds: mean, and the smallest and largest seed's figure.
# Run: python tests/bench/bench_callbacks.py [--scenario NAME ...] [--seeds 5] [--json OUT]
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call, Engine
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.resources import scenario as scenario_path
from contactcenter.sim import virtual
from contactcenter.sim.scenario import Scenario, load_scenario

SCENARIOS = ("010-overloaded", "010-deadline")
ENDS = ("completed", "failed", "expired", "cancelled")  # a callback's final states


class Citizens:
    """Who each call of one run belongs to (a repeat call to the citizen of the call it
    repeats), and when each citizen first queued and was first served."""

    def __init__(self) -> None:
        self.repeats_of: dict[str, str] = {}  # repeat call -> the call it repeats
        self.redial_of: dict[int, tuple[object, str]] = {}  # id(redial data) -> (it, call)
        self.calls: list[Call] = []
        self.callbacks: list[Callback] = []

    def __enter__(self) -> Citizens:
        world, tracker = virtual._World, self
        self._gave_up, self._call_again = world.gave_up, world.call_again
        self._drain = Engine.drain_completed_callbacks

        def gave_up(w: virtual._World, cid: str, now: float) -> None:
            again = w.again.get(cid)
            if again is not None:  # (kept alive here, so its id is never reused)
                tracker.redial_of[id(again)] = (again, cid)
            tracker._gave_up(w, cid, now)

        def call_again(w: virtual._World, again: Any, now: float) -> None:
            tracker.repeats_of[f"r{w.repeats + 1}"] = tracker.redial_of[id(again)][1]
            tracker._call_again(w, again, now)

        def drain(engine: Engine) -> list[Callback]:
            done = tracker._drain(engine)
            tracker.callbacks.extend(done)
            return done

        world.gave_up, world.call_again = gave_up, call_again  # type: ignore[method-assign]
        Engine.drain_completed_callbacks = drain  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        virtual._World.gave_up, virtual._World.call_again = self._gave_up, self._call_again  # type: ignore[method-assign]
        Engine.drain_completed_callbacks = self._drain  # type: ignore[method-assign]

    def citizen(self, call_id: str) -> str:
        while call_id in self.repeats_of:
            call_id = self.repeats_of[call_id]
        return call_id

    def follow_up(self) -> tuple[int, int, float | None]:
        """(citizens, never served, mean seconds from first queued to conversation of those
        served after queueing: redials and the wait for a callback included)."""
        first_queued: dict[str, float] = {}
        served_at: dict[str, float] = {}
        citizens: set[str] = set()
        for call in self.calls:
            if call.outcome is CallOutcome.CLOSED:
                continue  # (not offered: a line closed is not a citizen's call)
            who = self.citizen(call.call_id)
            citizens.add(who)
            if call.queued_at is not None:
                first_queued[who] = min(first_queued.get(who, call.queued_at), call.queued_at)
            if call.outcome is CallOutcome.ANSWERED and call.answered_at is not None:
                served_at[who] = call.answered_at
        for cb in self.callbacks:
            if cb.answered_at is not None and cb.call_id is not None:
                served_at[self.citizen(cb.call_id)] = cb.answered_at
        waits = [at - first_queued[who] for who, at in served_at.items() if who in first_queued]
        return len(citizens), len(citizens - served_at.keys()), statistics.fmean(waits) if waits else None


def figures(sc: Scenario, kpis: dict[str, Any], citizens: Citizens) -> dict[str, Any]:
    cb = kpis["callbacks"]
    counted, never_served, to_conversation = citizens.follow_up()
    first_calls = kpis["offered"] - kpis["repeat_calls"]
    served = kpis["answered"] + cb["completed"]
    if (counted, never_served) != (first_calls, first_calls - served):
        raise SystemExit(
            f"{sc.name}: citizens followed one by one ({counted}, {never_served} never"
            f" served) disagree with the KPIs ({first_calls}, {first_calls - served})"
        )
    # Operator time spent hearing citizens' phones ring (the operator is on the line first):
    # what a callback costs beyond a live call of the same talk time.
    ringing_s = 0.0
    if sc.callbacks is not None:
        missed = cb["attempts"] - cb["completed"]
        ringing_s = cb["completed"] * sc.callbacks.citizen_ring_s + missed * sc.callbacks.no_answer_s
    return {
        "citizens": first_calls,
        "calls": kpis["offered"],
        "repeat_calls": kpis["repeat_calls"],
        "answered_live": kpis["answered"],
        "abandoned": kpis["abandoned"],
        "p_abandon": kpis["p_abandon"],
        "never_served": never_served,
        "served": served,
        "asa_s": kpis["asa_s"],
        "first_queued_to_talk_s": to_conversation,
        "occupancy": kpis["occupancy"],
        "callbacks_accepted": cb["accepted"],
        "callbacks_completed": cb["completed"],
        "callbacks_failed": cb["failed"],
        "callbacks_expired": cb["expired"],
        "callbacks_cancelled": cb["cancelled"],
        "callbacks_open_at_end": cb["accepted"] - sum(cb[end] for end in ENDS),
        "callback_delay_s": cb["mean_delay_s"],
        "callback_max_delay_s": cb["max_delay_s"],
        "callback_wait_total_s": cb["mean_wait_total_s"],
        "called_back_on_phone_s": cb["mean_on_phone_s"],
        "citizen_ringing_h": ringing_s / 3600.0,
    }


def run(sc: Scenario) -> dict[str, Any]:
    with Citizens() as citizens:
        result = virtual.simulate(sc, on_call=citizens.calls.append)
    return figures(sc, result.kpis, citizens)


# (figure, label, format) of the comparison table; callbacks' own figures only "with".
BOTH = (
    ("calls", "calls (first calls + repeats)", "{:,.0f}"),
    ("repeat_calls", "repeat calls", "{:,.0f}"),
    ("abandoned", "abandoned calls", "{:,.0f}"),
    ("never_served", "citizens never served", "{:,.0f}"),
    ("served", "citizens served", "{:,.0f}"),
    ("asa_s", "live ASA s", "{:.1f}"),
    ("first_queued_to_talk_s", "first queued -> conversation s", "{:.0f}"),
    ("occupancy", "occupancy", "{:.3f}"),
)
WITH_ONLY = (
    ("callbacks_accepted", "callbacks accepted", "{:,.0f}"),
    ("callbacks_completed", "  completed", "{:,.0f}"),
    ("callbacks_failed", "  failed", "{:,.0f}"),
    ("callbacks_expired", "  expired", "{:,.0f}"),
    ("callbacks_open_at_end", "  still open at the end", "{:,.0f}"),
    ("callback_delay_s", "request -> conversation s", "{:.0f}"),
    ("callback_max_delay_s", "  longest s", "{:.0f}"),
    ("callback_wait_total_s", "called back: first queued -> talk s", "{:.0f}"),
    ("called_back_on_phone_s", "called back: time on the phone s", "{:.0f}"),
    ("citizen_ringing_h", "operator hours hearing citizens ring", "{:.1f}"),
)


def spread(values: list[float], fmt: str) -> str:
    return f"{fmt.format(statistics.fmean(values))} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def compare(name: str, seeds: int) -> list[dict[str, Any]]:
    base = load_scenario(scenario_path(name))
    if base.callbacks is None:
        raise SystemExit(f"{name} has no callbacks section")
    rows: list[dict[str, Any]] = []
    for seed in range(1, seeds + 1):
        sc = dataclasses.replace(base, seed=seed)
        on, off = run(sc), run(sc.with_callbacks(False))
        rows.append({"seed": seed, "with": on, "without": off})
        pairs = "; ".join(
            f"{key} {on[key]:,} with / {off[key]:,} without (cut {off[key] - on[key]:+,})"
            for key in ("abandoned", "never_served", "repeat_calls")
        )
        print(
            f"{name} seed {seed}: citizens {on['citizens']:,}; {pairs}; callbacks"
            f" {on['callbacks_completed']:,} done of {on['callbacks_accepted']:,}"
            f" (failed {on['callbacks_failed']}, expired {on['callbacks_expired']},"
            f" open {on['callbacks_open_at_end']})"
        )

    def column(side: str, key: str) -> list[float]:
        return [r[side][key] for r in rows if r[side][key] is not None]

    def cut(key: str) -> list[float]:
        return [r["without"][key] - r["with"][key] for r in rows]

    print(f"\n{name}, {len(rows)} seeds: mean (lowest..highest seed)")
    print(f"  {'':38} {'with callbacks':>24} {'without':>24}")
    for key, label, fmt in BOTH:
        both = (spread(column(side, key), fmt) for side in ("with", "without"))
        print(f"  {label:38}" + "".join(f" {figure:>24}" for figure in both))
    for key, label, fmt in WITH_ONLY:
        if values := column("with", key):
            print(f"  {label:38} {spread(values, fmt):>24}")
    for key in ("abandoned", "never_served", "repeat_calls"):
        values = cut(key)
        sd = f"  (sd {statistics.stdev(values):.0f})" if len(values) > 1 else ""
        print(f"  cut in {key:31} {spread(values, '{:+,.0f}'):>24}{sd}")
    print()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", action="append", help=f"(repeatable; default: {', '.join(SCENARIOS)})")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not virtual.__file__ or not virtual.__file__.endswith(".py"):
        raise SystemExit("run on the editable install: the compiled build hides the redials it follows")
    runs = {name: compare(name, args.seeds) for name in args.scenario or SCENARIOS}
    if args.json:
        args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
