# Callbacks in the virtual-time simulator, through the real core. Expected figures are
# derived from each run's own counts, never written in.
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from contactcenter.resources import scenario as scenario_path
from contactcenter.sim.scenario import Scenario, load_scenario
from contactcenter.sim.virtual import SimResult, simulate

OVERLOADED = "010-overloaded"


def overloaded(**changes: object) -> Scenario:
    return dataclasses.replace(load_scenario(scenario_path(OVERLOADED)), **changes)  # type: ignore[arg-type]


def test_every_accepted_callback_ends_and_no_caller_who_took_one_abandons() -> None:
    seen: list[object] = []
    result = simulate(overloaded(), on_call=seen.append)
    k, cb = result.kpis, result.kpis["callbacks"]
    assert cb["accepted"] > 0 and cb["offered"] >= cb["accepted"]
    # Each request ends: completed, failed (attempts spent) or expired; none is left open.
    assert cb["requested"] == cb["completed"] + cb["failed"] + cb["expired"] + cb["cancelled"]
    assert cb["requested"] == cb["accepted"]  # (no repeat numbers in the simulator: no merges)
    policy = overloaded().callbacks
    assert policy is not None
    assert cb["completed"] <= cb["attempts"] <= policy.policy.attempts * cb["requested"]
    # Called-back callers are neither answered nor abandoned live, and counted once.
    assert k["called_back"] == cb["accepted"]
    assert k["offered"] == k["answered"] + k["abandoned"] + k["blocked"] + k["called_back"]
    # Their time: the delay is said as it is (request -> conversation), never 0.
    assert cb["mean_delay_s"] > 0 and cb["max_delay_s"] >= cb["mean_delay_s"]
    assert cb["mean_wait_total_s"] > cb["mean_delay_s"]  # the hold before the request counts too
    assert result.unfinished == 0
    assert not result.unknown_commands


def test_callbacks_off_leave_the_run_exactly_as_a_scenario_without_them() -> None:
    off = simulate(overloaded().with_callbacks(False)).kpis
    plain = simulate(overloaded(callbacks=None)).kpis
    assert off == plain
    assert off["callbacks"]["offered"] == 0 and off["called_back"] == 0


def test_callbacks_are_dialled_only_within_opening_hours() -> None:
    sc = overloaded()
    assert sc.open_hours is not None
    opens, closes = sc.open_hours
    # A day whose line closes early: callbacks still pending at closing are never dialled
    # after it; they end (expired) rather than stay open.
    from contactcenter.core.engine import Engine

    dialled_at: list[float] = []
    original = Engine._dial_callback

    def spy(self: Engine, cb: object, op: object, now: float, out: list[object]) -> bool:
        done = original(self, cb, op, now, out)  # type: ignore[arg-type]
        if done:
            dialled_at.append(now)
        return done

    Engine._dial_callback = spy  # type: ignore[method-assign]
    try:
        result = simulate(sc)
    finally:
        Engine._dial_callback = original  # type: ignore[method-assign]
    assert dialled_at, "no callback was dialled"
    assert all(opens * 3600 <= t % 86400 < closes * 3600 for t in dialled_at)
    assert result.kpis["callbacks"]["requested"] == result.kpis["callbacks"]["accepted"]


def test_same_seed_same_callbacks() -> None:
    a, b = simulate(overloaded()).kpis, simulate(overloaded()).kpis
    assert a == b
    c = simulate(overloaded(seed=2)).kpis
    assert c["callbacks"] != a["callbacks"]


def test_repeat_calls_come_from_callers_who_gave_up() -> None:
    with_redial = simulate(overloaded(callbacks=None)).kpis
    without = simulate(overloaded(callbacks=None, redial=None)).kpis
    assert without["repeat_calls"] == 0
    assert 0 < with_redial["repeat_calls"] <= with_redial["abandoned"]
    # Every repeat call is one more call offered, on top of the same day's first calls.
    assert with_redial["offered"] - with_redial["repeat_calls"] == without["offered"]


# --- a peak followed by spare capacity: where callbacks pay --------------------------------
# On 010-deadline (a tax deadline's morning, then an ordinary afternoon) callbacks pile up in
# the peak, beyond what operators can serve then, and are served in the afternoon by
# operators who would otherwise be idle; on 010-overloaded the few callbacks taken are served
# within the peak they were taken in, in their callers' place, one for one instead of a live
# caller. Each day is run with and without callbacks on the same draws.

DEADLINE = "010-deadline"
# Five days: if callbacks changed nothing, a cut in every one of them would have a chance of
# (1/2)**5 = 1 in 32 (a sign test), so "in every seed" is the margin, not a figure written in.
SEEDS = range(1, 6)


@dataclass(frozen=True)
class SameDay:
    seed: int
    with_callbacks: SimResult
    without: SimResult


def same_days(name: str) -> list[SameDay]:
    base = load_scenario(scenario_path(name))
    days = []
    for seed in SEEDS:
        sc = dataclasses.replace(base, seed=seed)
        days.append(SameDay(seed, simulate(sc), simulate(sc.with_callbacks(False))))
    return days


@pytest.fixture(scope="module")
def deadline_days() -> list[SameDay]:
    return same_days(DEADLINE)


@pytest.fixture(scope="module")
def overloaded_days() -> list[SameDay]:
    return same_days(OVERLOADED)


def citizens(k: dict[str, Any]) -> int:
    """Citizens who called: first calls (a repeat call is a citizen calling again)."""
    return int(k["offered"] - k["repeat_calls"])


def served(k: dict[str, Any]) -> int:
    """Citizens served: a call answered, or a callback that reached a conversation (a
    citizen is answered once: who is served does not call again)."""
    return int(k["answered"] + k["callbacks"]["completed"])


def test_on_a_deadline_day_callbacks_cut_abandonment_and_citizens_never_served(
    deadline_days: list[SameDay],
) -> None:
    for day in deadline_days:
        on, off = day.with_callbacks.kpis, day.without.kpis
        assert citizens(on) == citizens(off), day.seed  # the same citizens call on both days
        never_on, never_off = citizens(on) - served(on), citizens(off) - served(off)
        assert on["abandoned"] < off["abandoned"], day.seed
        assert never_on < never_off, day.seed
        # Who took a callback does not call again: fewer repeat calls.
        assert on["repeat_calls"] < off["repeat_calls"], day.seed
        # The citizens served on top were served with operator time left idle without them.
        assert on["occupancy"] > off["occupancy"], day.seed


def test_on_a_deadline_day_every_accepted_callback_ends(deadline_days: list[SameDay]) -> None:
    for day in deadline_days:
        result = day.with_callbacks
        cb = result.kpis["callbacks"]
        assert cb["completed"] > 0, day.seed
        assert cb["requested"] == cb["accepted"], day.seed  # (no merges in the simulator)
        assert cb["requested"] == cb["completed"] + cb["failed"] + cb["expired"] + cb["cancelled"], day.seed
        assert result.kpis["called_back"] == cb["accepted"], day.seed
        assert result.unfinished == 0 and not result.unknown_commands, day.seed


def test_on_010_overloaded_callbacks_serve_fewer_extra_citizens_than_on_the_deadline(
    overloaded_days: list[SameDay], deadline_days: list[SameDay]
) -> None:
    # Served in the peak they were taken in, callbacks there replace live callers one for one
    # (and cost the ringing of citizens' phones): whatever they change in the number served on
    # any overloaded day is less than what they add on any deadline day.
    def extra(days: list[SameDay]) -> list[int]:
        return [served(d.with_callbacks.kpis) - served(d.without.kpis) for d in days]

    assert max(extra(overloaded_days)) < min(extra(deadline_days))
