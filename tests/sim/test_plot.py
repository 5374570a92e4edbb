# The run's plot (contactcenter/sim/plot.py): each series recomputed by plain code from the
# same calls (collected beside the plot), against the run's KPIs and against the engine's own
# queue; the PNG it writes; and what it keeps per call (a year is 2.2 million calls).
from __future__ import annotations

import itertools
import math
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.resources import scenario as scenario_path
from contactcenter.sim.plot import DAY_S, RunPlot
from contactcenter.sim.scenario import Scenario, load_scenario
from contactcenter.sim.virtual import SimResult, simulate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Seen:
    """What the test keeps of an ended call (the plot keeps its own, more compact)."""

    arrived: float
    queued: float | None
    left: float | None  # Call.wait's end: answered, else ended
    outcome: CallOutcome | None
    skill: str | None

    @property
    def wait(self) -> float:
        assert self.queued is not None and self.left is not None
        return self.left - self.queued


def _run(sc: Scenario, **kw: object) -> tuple[RunPlot, list[Seen], SimResult]:
    plot = RunPlot.for_scenario(sc)
    seen: list[Seen] = []

    def on_call(call: Call) -> None:
        plot.add(call)
        left = call.answered_at if call.answered_at is not None else call.ended_at
        seen.append(Seen(call.arrived_at, call.queued_at, left, call.outcome, call.skill))

    result = simulate(sc, on_call=on_call, **kw)  # type: ignore[arg-type]
    return plot, seen, result


def _queued_in_window(sc: Scenario, seen: Iterable[Seen]) -> list[Seen]:
    return [c for c in seen if c.queued is not None and sc.start_s <= c.arrived < sc.end_s]


def _shipped(name: str, **flags: object) -> Scenario:
    return load_scenario(scenario_path(name)).override(**flags)


# --- calls waiting ----------------------------------------------------------------------------


def test_waiting_calls_integrate_to_the_queue_waits_and_match_the_engines_queue() -> None:
    # Two hours after a half-hour warm-up, callers who hang up: not folded (shorter than a day).
    sc = Scenario.quick(arrival_rate=100, aht=180, operators=5, patience=120, hours=2, warmup_hours=0.5)
    plot, seen, result = _run(sc, measure_queue=True)
    calls = _queued_in_window(sc, seen)
    assert len(calls) > 100 and {c.outcome for c in calls} == {CallOutcome.ANSWERED, CallOutcome.ABANDONED}
    assert any(c.arrived < sc.start_s and c.queued is not None for c in seen)  # the warm-up's are left out
    for step in (60.0, 45.0):
        series = plot.waiting_through_day(step)
        assert not series.folded and set(series.days) == {1}
        assert math.fsum(series.total) * step == pytest.approx(math.fsum(c.wait for c in calls), rel=1e-9)
        (skill,) = series.by_skill
        assert series.by_skill[skill] == pytest.approx(series.total)
        # The steps cover the window and the queue's drain after it, no more.
        assert series.start_s <= sc.start_s < series.start_s + step
        last = max(sc.end_s, *(c.left or 0.0 for c in calls))
        assert (
            series.start_s + (len(series.total) - 1) * step
            < last
            <= series.start_s + len(series.total) * step
        )
    # The engine's own queue, integrated over the window at every event (measure_queue), holds
    # the warm-up's late waiters too; the series' steps inside the window hold only the window's
    # callers, and do not go past its end.
    series = plot.waiting_through_day(60.0)
    inside = [v for s, v in zip(series.starts_s, series.total, strict=True) if s + 60.0 <= sc.end_s]
    warmup_overlap = math.fsum(
        max(0.0, c.wait - max(0.0, sc.start_s - c.queued))
        for c in seen
        if c.queued is not None and c.arrived < sc.start_s and (c.left or 0.0) > sc.start_s
    )
    assert result.queue_area is not None
    assert math.fsum(inside) * 60.0 + warmup_overlap == pytest.approx(result.queue_area, rel=1e-9)


def _overlap_by_step(waits: Iterable[tuple[float, float]], step: float, steps: range) -> dict[int, float]:
    """Seconds of waiting in each step [k step, (k + 1) step): plain overlap, step by step."""
    return {
        k: math.fsum(max(0.0, min(out, (k + 1) * step) - max(q, k * step)) for q, out in waits) for k in steps
    }


def _call(cid: int, arrived: float, queued: float, left: float, outcome: CallOutcome, skill: str) -> Call:
    call = Call(str(cid), arrived)
    call.queued_at, call.skill, call.outcome, call.ended_at = queued, skill, outcome, left
    if outcome is CallOutcome.ANSWERED:
        call.answered_at = left
        call.ended_at = left + 100.0  # the talk: not queue time
    return call


def test_a_run_of_days_folds_onto_one_day_as_the_mean_over_days() -> None:
    # Two days; waits of the second day overlap the first's times of day, one wait crosses
    # midnight of the last day (after the window: its drain), one is in no step's middle.
    step = 60.0
    waits = [  # (queued, left, skill)
        (10 * 3600.0, 10 * 3600.0 + 150.0, "info"),
        (DAY_S + 10 * 3600.0 + 60.0, DAY_S + 10 * 3600.0 + 90.0, "info"),
        (DAY_S + 10 * 3600.0 + 20.0, DAY_S + 10 * 3600.0 + 500.0, "tributs"),
        (2 * DAY_S - 40.0, 2 * DAY_S + 75.0, "tributs"),
        (3600.0 + 7.5, 3600.0 + 8.25, "info"),
    ]
    plot = RunPlot(window=(0.0, 2 * DAY_S), sl_threshold_s=20.0, skills=["info", "tributs"])
    for i, (q, out, skill) in enumerate(waits):
        plot.add(_call(i, q - 1.0, q, out, CallOutcome.ABANDONED, skill))
    series = plot.waiting_through_day(step)
    per_day = round(DAY_S / step)
    assert series.folded and series.start_s == 0.0 and len(series.total) == per_day
    # Days covered: two of each step, three of the steps the drain after midnight reaches.
    drain_steps = math.ceil(75.0 / step)
    assert series.days == tuple(3 if k < drain_steps else 2 for k in range(per_day))
    all_steps = range(2 * per_day + drain_steps)
    for wanted in (None, "info", "tributs"):
        mine = [(q, out) for q, out, skill in waits if wanted in (None, skill)]
        area = _overlap_by_step(mine, step, all_steps)
        expect = [math.fsum(a for k, a in area.items() if k % per_day == tod) for tod in range(per_day)]
        got = series.total if wanted is None else series.by_skill[wanted]
        assert got == pytest.approx([e / (d * step) for e, d in zip(expect, series.days, strict=True)])
    assert max(series.total) > 0


def test_a_shipped_week_folds_and_keeps_every_second_of_waiting() -> None:
    sc = _shipped("010-weekday", hours=48)  # three skills, IVR time and a ring delay
    plot, seen, _ = _run(sc)
    calls = _queued_in_window(sc, seen)
    series = plot.waiting_through_day(300.0)
    assert series.folded and len(series.total) == 288
    area = math.fsum(v * d * 300.0 for v, d in zip(series.total, series.days, strict=True))
    assert area == pytest.approx(math.fsum(c.wait for c in calls), rel=1e-9)
    for skill, values in series.by_skill.items():
        mine = math.fsum(c.wait for c in calls if c.skill == skill)
        assert math.fsum(v * d * 300.0 for v, d in zip(values, series.days, strict=True)) == pytest.approx(
            mine, rel=1e-9
        )
    assert sorted(series.by_skill) == sorted(s.name for s in sc.skills)


# --- service level ----------------------------------------------------------------------------


def test_service_level_per_half_hour_is_the_kpis_definition_recounted_by_arrival() -> None:
    sc = _shipped("010-weekday")  # one day: folded onto itself
    plot, seen, result = _run(sc)
    calls = _queued_in_window(sc, seen)
    t = sc.sl_threshold_s
    for skill in (None, *(s.name for s in sc.skills)):
        rows = plot.service_level_through_day(skill)
        assert [r.start_s for r in rows] == [i * 1800.0 for i in range(48)]
        mine = [c for c in calls if skill in (None, c.skill)]
        for r in rows:
            here = [c for c in mine if r.start_s <= c.arrived % DAY_S < r.start_s + 1800.0]
            answered = [c for c in here if c.outcome is CallOutcome.ANSWERED]
            abandoned = [c for c in here if c.outcome is CallOutcome.ABANDONED]
            assert (r.answered, r.abandoned) == (len(answered), len(abandoned))
            within = sum(c.wait <= t for c in answered)
            assert r.service_level == (within / len(answered) if answered else None)
            short = sum(c.wait <= t for c in abandoned)
            assert r.sl2 == ((within + short) / len(here) if here else None)
    # Two half hours make the KPIs' hour (core/kpis.py: answered within T / answered).
    rows = plot.service_level_through_day()
    for hour, kpis in result.kpis["by_hour"].items():
        first, second = rows[2 * int(hour)], rows[2 * int(hour) + 1]
        in_hour = first.answered + second.answered
        sl = (first.answered_in_t + second.answered_in_t) / in_hour if in_hour else None
        assert sl == pytest.approx(kpis["service_level"])
        assert first.abandoned + second.abandoned == kpis["abandoned"]
    assert any(r.service_level is None for r in rows) and any(r.service_level for r in rows)


def test_a_short_run_has_its_own_intervals() -> None:
    sc = Scenario.quick(arrival_rate=90, aht=180, operators=4, patience=60, hours=1.25, warmup_hours=0.25)
    plot, _, result = _run(sc)
    rows = plot.service_level_through_day()
    first = math.floor(sc.start_s / 1800.0)
    assert [r.start_s for r in rows] == [k * 1800.0 for k in range(first, math.ceil(sc.end_s / 1800.0))]
    assert sum(r.answered for r in rows) == result.kpis["answered"]
    assert sum(r.answered_in_t for r in rows) / result.kpis["answered"] == pytest.approx(
        result.kpis["service_level"]
    )


# --- waits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["010-deadline", "trace-busiest-day"])
def test_the_wait_histogram_holds_every_served_abandoned_and_called_back_call(name: str) -> None:
    # 010-deadline has callbacks (three outcomes of a queued call); the other replays a trace.
    sc = _shipped(name)
    plot, seen, result = _run(sc)
    calls = _queued_in_window(sc, seen)
    hist = plot.wait_distribution()
    kpis = result.kpis
    assert (sum(hist.served), sum(hist.abandoned), sum(hist.called_back)) == (
        kpis["answered"],
        kpis["abandoned"],
        kpis["called_back"],
    )
    assert min(sum(hist.served), sum(hist.abandoned)) > 0 and (sum(hist.called_back) > 0) == bool(
        sc.callbacks
    )
    edges = hist.edges_s
    width = edges[1] - edges[0]
    assert all(b - a == pytest.approx(width) for a, b in itertools.pairwise(edges))
    assert edges[0] == 0.0 and max(c.wait for c in calls) < edges[-1]
    # The SL threshold is on an edge: the bins tell the waits within it from those beyond.
    assert (sc.sl_threshold_s / width) == pytest.approx(round(sc.sl_threshold_s / width))
    for outcome, counts in (
        (CallOutcome.ANSWERED, hist.served),
        (CallOutcome.ABANDONED, hist.abandoned),
        (CallOutcome.CALLBACK, hist.called_back),
    ):
        by_bin = Counter(math.floor(c.wait / width) for c in calls if c.outcome is outcome)
        assert counts == tuple(by_bin.get(i, 0) for i in range(len(edges) - 1))


# --- the picture ------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize(
    "sc",
    [
        Scenario.quick(arrival_rate=100, aht=180, operators=5, patience=120, hours=2, warmup_hours=0.5),
        load_scenario(scenario_path("010-deadline")),
    ],
    ids=["quick-2h", "010-deadline"],
)
def test_draw_writes_a_png(sc: Scenario, tmp_path: Path) -> None:
    plot, _, _ = _run(sc)
    out = tmp_path / "run.png"
    plot.draw(out, f"{sc.name}: {sc.hours:g} h")
    assert _png_size(out) == (1400, 1400)
    assert out.stat().st_size > 50_000  # three panels of lines and bars, not a blank page


def test_a_run_where_nobody_queued_still_draws(tmp_path: Path) -> None:
    sc = Scenario.quick(arrival_rate=5, aht=60, operators=50, hours=0.5)
    plot, _, _ = _run(sc)
    assert plot.calls > 0  # they queued and were answered at once: waits of 0
    assert math.fsum(plot.waiting_through_day().total) == 0.0
    empty = RunPlot(window=(0.0, 3600.0), sl_threshold_s=20.0, skills=["info"])
    for p, name in ((plot, "zero.png"), (empty, "empty.png")):
        p.draw(tmp_path / name, "nothing waits")
        assert _png_size(tmp_path / name) == (1400, 1400)
    assert empty.wait_distribution().served == (0,)
    assert all(r.service_level is None for r in empty.service_level_through_day())


def test_steps_and_intervals_must_divide_the_day() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        RunPlot(window=(0.0, 3600.0), sl_threshold_s=20.0, skills=[], interval_s=7 * 60.0)
    with pytest.raises(ValueError, match="empty window"):
        RunPlot(window=(10.0, 10.0), sl_threshold_s=20.0, skills=[])
    plot = RunPlot(window=(0.0, 3600.0), sl_threshold_s=20.0, skills=[])
    with pytest.raises(ValueError, match="step_s"):
        plot.waiting_through_day(7.0)


# --- what it keeps ----------------------------------------------------------------------------


def test_memory_per_call_is_a_few_machine_numbers() -> None:
    # One Call object re-used (the test's own memory stays flat): what grows is the plot's.
    calls = 60_000
    plot = RunPlot(window=(0.0, 365 * DAY_S), sl_threshold_s=20.0, skills=["info", "tramits"])
    call = _call(0, 0.0, 0.0, 0.0, CallOutcome.ANSWERED, "info")
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(calls):
            at = i * 500.0  # a call every 500 s: most of a year's half hours seen
            call.arrived_at, call.queued_at, call.answered_at = at, at + 1.0, at + 1.0 + i % 60
            call.skill = "info" if i % 3 else "tramits"
            plot.add(call)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plot.calls == calls
    per_call = (after - before) / calls
    assert per_call < 64, f"{per_call:.1f} bytes per call"
