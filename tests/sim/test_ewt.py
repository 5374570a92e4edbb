# The expected wait told to callers, against the wait they then had, in simulated days: the
# engine's estimator (the queue's measured pace, core/estimates.py) must beat the classic
# k x AHT / N it replaced (N: every operator with the skill, at any level) on the same calls,
# and the KPI that reports its error (kpis.py, key `ewt`) must be what the calls say.
# Rules: no magic bounds: each comparison is between the two estimates of the same run. The
# runs have no callbacks, so the estimate is only told and changes nothing in the run; an
# Engine subclass notes the classic estimate beside each waiting call at the instant the
# engine gives its own (nothing the classic one reads changes within that event).
# tests/bench/bench_ewt.py prints the figures over several seeds.
from __future__ import annotations

import math
import statistics

import pytest

from contactcenter.core import events as ev
from contactcenter.core.commands import Command
from contactcenter.core.engine import Call, Engine
from contactcenter.core.kpis import EWT_KEYS, KpiCollector
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.resources import scenario as scenario_path
from contactcenter.sim import virtual
from contactcenter.sim.scenario import Scenario, load_scenario


class Shadowed(Engine):
    shadows: list[dict[str, float]] = []  # noqa: RUF012 - one per engine made, for the test to read

    def __post_init__(self) -> None:
        super().__post_init__()
        self.classic: dict[str, float] = {}
        Shadowed.shadows.append(self.classic)

    def _ivr_completed(self, e: ev.IvrCompleted) -> list[Command]:
        out = super()._ivr_completed(e)
        call = self.calls.get(e.call_id)
        if call is not None and call.position_at_entry is not None:
            n = self.ewt.staffed(e.skill, e.language)
            aht = self.ewt.aht(e.skill)
            self.classic[e.call_id] = math.inf if n <= 0 else call.position_at_entry * aht / n
        return out


Run = tuple[list[Call], dict[str, float], dict[str, object]]


def run(sc: Scenario, monkeypatch: pytest.MonkeyPatch) -> Run:
    Shadowed.shadows = []
    monkeypatch.setattr(virtual, "Engine", Shadowed)
    calls: list[Call] = []
    result = virtual.simulate(sc.with_callbacks(False), on_call=calls.append)
    [classic] = Shadowed.shadows
    return calls, classic, result.kpis


def told(calls: list[Call], outcome: CallOutcome, start_s: float) -> list[Call]:
    return [
        c
        for c in calls
        if c.outcome is outcome
        and c.arrived_at >= start_s
        and c.ewt_at_entry is not None
        and c.ewt_at_entry < math.inf
    ]


def error_of(calls: list[Call]) -> list[float]:
    """waited - told, of each call (all told an estimate)."""
    return [waited(c) - c.ewt_at_entry for c in calls if c.ewt_at_entry is not None]


def waited(call: Call) -> float:
    end = call.answered_at if call.outcome is CallOutcome.ANSWERED else call.ended_at
    assert end is not None and call.queued_at is not None
    return end - call.queued_at


SCENARIOS = {
    "010-weekday": {},
    "010-overloaded": {},
    "010-deadline": {},
    # M/M/N, where the classic formula is the textbook one (k x AHT / N, all N busy) and both
    # are unbiased (which is nearer 0 is then the noise's doing): the engine's must still be
    # closer while it learns the pace; 5 h, not 50.
    "mmn-200erl": {"hours": 5, "warmup_hours": 1},
}
MMN = "mmn-200erl"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_measured_pace_tells_waits_closer_than_k_aht_over_n(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = load_scenario(scenario_path(name)).override(**SCENARIOS[name])
    calls, classic, _ = run(sc, monkeypatch)
    answered = told(calls, CallOutcome.ANSWERED, sc.start_s)
    assert len(answered) > 1000

    def mae(estimate: dict[str, float]) -> float:
        return statistics.fmean(abs(waited(c) - estimate[c.call_id]) for c in answered)

    def bias(estimate: dict[str, float]) -> float:
        return statistics.fmean(waited(c) - estimate[c.call_id] for c in answered)

    engine = {c.call_id: c.ewt_at_entry for c in answered if c.ewt_at_entry is not None}
    assert mae(engine) < mae(classic)
    if name != MMN:
        assert abs(bias(engine)) < abs(bias(classic))
    gave_up = told(calls, CallOutcome.ABANDONED, sc.start_s)
    if gave_up:
        # Callers who hung up after waiting longer than they were told: surely told too short.
        def past(estimate: dict[str, float]) -> int:
            return sum(1 for c in gave_up if waited(c) > estimate[c.call_id])

        engine = {c.call_id: c.ewt_at_entry for c in gave_up if c.ewt_at_entry is not None}
        assert past(engine) < past(classic)


def test_the_ewt_kpi_is_what_the_calls_say(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(scenario_path("010-overloaded"))
    calls, _, kpis = run(sc, monkeypatch)
    answered = told(calls, CallOutcome.ANSWERED, sc.start_s)
    gave_up = told(calls, CallOutcome.ABANDONED, sc.start_s)
    errors = error_of(answered)
    ewt = kpis["ewt"]
    assert isinstance(ewt, dict)
    assert ewt["answered"] == len(answered) and ewt["abandoned"] == len(gave_up) > 0
    assert ewt["mae_s"] == pytest.approx(statistics.fmean(abs(x) for x in errors))
    assert ewt["bias_s"] == pytest.approx(statistics.fmean(errors))
    past = sum(1 for c in gave_up if c.ewt_at_entry is not None and waited(c) > c.ewt_at_entry)
    assert ewt["abandoned_past_ewt"] == pytest.approx(past / len(gave_up))
    by_skill = kpis["by_skill"]
    assert isinstance(by_skill, dict)
    for skill, group in by_skill.items():
        mine = error_of([c for c in answered if c.skill == skill])
        assert group["ewt_mae_s"] == pytest.approx(statistics.fmean(abs(x) for x in mine))
        assert group["ewt_bias_s"] == pytest.approx(statistics.fmean(mine))


def test_the_ewt_kpi_by_hand() -> None:
    def call(cid: str, outcome: CallOutcome, queued: float, end: float, told: float | None) -> Call:
        c = Call(call_id=cid, arrived_at=queued)
        c.skill, c.language, c.outcome, c.queued_at, c.ewt_at_entry = "info", "ca", outcome, queued, told
        c.offered_at = c.answered_at = end if outcome is CallOutcome.ANSWERED else None
        c.ended_at = end + 100 if outcome is CallOutcome.ANSWERED else end
        return c

    a, ab = CallOutcome.ANSWERED, CallOutcome.ABANDONED
    k = KpiCollector()
    k.add_all(
        [
            call("at-once", a, 0, 0, None),  # served at once: told nothing
            call("longer", a, 10, 70, 40),  # waited 60 s, told 40 s: +20
            call("shorter", a, 20, 50, 50),  # waited 30 s, told 50 s: -20
            call("exact", a, 30, 40, 10),  # 0
            call("unknown", a, 40, 100, math.inf),  # nobody staffed: no estimate to measure
            call("gave-up-late", ab, 50, 120, 30),  # hung up after 70 s, told 30 s
            call("gave-up-early", ab, 60, 70, 30),  # after 10 s, told 30 s: a lower bound only
        ]
    )
    ewt = k.kpis()["ewt"]
    assert tuple(ewt) == EWT_KEYS
    assert ewt == {
        "answered": 3,
        "mae_s": (20 + 20 + 0) / 3,
        "bias_s": (20 - 20 + 0) / 3,
        "abandoned": 2,
        "abandoned_past_ewt": 1 / 2,
    }
    group = k.group(skill="info")
    assert (group["ewt_mae_s"], group["ewt_bias_s"]) == (40 / 3, 0.0)
    assert KpiCollector().kpis()["ewt"] == dict.fromkeys(EWT_KEYS, None) | {"answered": 0, "abandoned": 0}
