# Callbacks in the virtual-time simulator, through the real core. Expected figures are
# derived from each run's own counts, never written in.
from __future__ import annotations

import dataclasses

from contactcenter.resources import scenario as scenario_path
from contactcenter.sim.scenario import Scenario, load_scenario
from contactcenter.sim.virtual import simulate

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
