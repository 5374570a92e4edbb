# How close a replay comes to what its trace recorded. Rules:
# - The trace's own figures are computed here from its records with the simulator's
#   definitions (core/kpis.py): offered = queued callers (IVR hang-ups apart), abandonment =
#   abandoned / offered, P(wait) = share of the offered who waited at all, ASA = mean wait
#   of the served, served = answered. So "the replay reproduces the trace" compares like
#   with like.
# - The tolerance is stated once (TOLERANCE), per figure, as the test checks it: served
#   relative, the two shares in points (absolute), the mean wait relative. It was measured
#   on the bundled bank month replayed day by day with its own staffing and the patience and
#   time away estimated from it (`contactcenter sim --trace bank --date D --staffing trace
#   --patience trace --away trace`); sim/estimators.md gives the figures.
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contactcenter.sim.tracefile import TraceRecord

FIGURES = ("answered", "p_abandon", "p_wait", "asa_s")
LABELS = {
    "answered": "served",
    "p_abandon": "abandonment",
    "p_wait": "P(wait)",
    "asa_s": "mean wait of served",
}
RELATIVE = frozenset({"answered", "asa_s"})  # compared as replay / trace - 1; the others in points
# Per replayed working day (a day with at least MIN_WORKING_DAY_SERVED served calls; the bank's
# Fridays and Saturdays, 90 to 500 calls, swing more: see sim/estimators.md).
TOLERANCE = {"answered": 0.10, "p_abandon": 0.09, "p_wait": 0.12, "asa_s": 0.70}
# ... and over those days on average (mean absolute error).
MEAN_TOLERANCE = {"answered": 0.04, "p_abandon": 0.035, "p_wait": 0.045, "asa_s": 0.20}
MIN_WORKING_DAY_SERVED = 900


def recorded(records: Iterable[TraceRecord]) -> dict[str, float]:
    """The trace's figures for these records, as the simulator's KPIs name them."""
    offered = answered = abandoned = waited = ivr = 0
    served_wait = 0.0
    for r in records:
        if r.outcome == "ivr_abandoned":
            ivr += 1
            continue
        offered += 1
        if r.wait_s > 0:
            waited += 1
        if r.served:
            answered += 1
            served_wait += r.wait_s
        else:
            abandoned += 1
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "ivr_abandoned": ivr,
        "p_abandon": abandoned / offered if offered else 0.0,
        "p_wait": waited / offered if offered else 0.0,
        "asa_s": served_wait / answered if answered else 0.0,
    }


@dataclass(frozen=True, slots=True)
class Gap:
    figure: str
    trace: float
    replay: float
    error: float  # relative (RELATIVE) or in points
    tolerance: float

    @property
    def within(self) -> bool:
        return abs(self.error) <= self.tolerance

    def text(self) -> str:
        unit = "%" if self.figure in RELATIVE else " pts"
        err = 100 * self.error
        trace, replay = (
            (f"{self.trace:,.0f}", f"{self.replay:,.0f}")
            if self.figure == "answered"
            else (f"{self.trace:.1f} s", f"{self.replay:.1f} s")
            if self.figure == "asa_s"
            else (f"{100 * self.trace:.1f} %", f"{100 * self.replay:.1f} %")
        )
        return f"{LABELS[self.figure]}: trace {trace}, replay {replay} ({err:+.1f}{unit})"


def compare(
    replay: Mapping[str, Any], trace: Mapping[str, float], tolerance: Mapping[str, float] = TOLERANCE
) -> list[Gap]:
    """The replay's KPIs against the trace's figures, figure by figure."""
    gaps = []
    for f in FIGURES:
        got, want = float(replay.get(f) or 0.0), float(trace[f])
        error = (got / want - 1.0 if want else 0.0) if f in RELATIVE else got - want
        gaps.append(Gap(f, want, got, error, tolerance[f]))
    return gaps
