# The virtual-time driver: what it plays around the core (IVR, ring delay, patience, shifts,
# line limit) on small runs, where each call's log can be checked one by one.
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim.scenario import Scenario, load_scenario, parse_scenario
from contactcenter.sim.virtual import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


def run_logged(sc: Scenario) -> tuple[dict[str, object], list[Call]]:
    log: list[Call] = []
    result = simulate(sc, on_call=log.append)
    return result.kpis, log


def test_same_seed_same_run_other_seed_other_run() -> None:
    sc = Scenario.quick(arrival_rate=300, aht=180, operators=16, patience=90.0, hours=3, seed=5)
    a, b = simulate(sc), simulate(sc)
    assert a.kpis == b.kpis and a.steps == b.steps
    c = simulate(sc.override(seed=6))
    assert c.kpis != a.kpis


def test_common_random_numbers_across_staffing() -> None:
    """Changing N changes waits, not who calls: same arrivals and talk times."""
    sc = Scenario.quick(arrival_rate=300, aht=180, operators=16, hours=2, seed=5)
    _, few = run_logged(sc)
    _, many = run_logged(sc.override(operators=30))
    by_id = {c.call_id: c for c in many}
    assert len(few) == len(many)
    for c in few:
        other = by_id[c.call_id]
        assert c.arrived_at == other.arrived_at
        assert c.ended_at is not None and c.answered_at is not None
        assert other.ended_at is not None and other.answered_at is not None
        assert math.isclose(c.ended_at - c.answered_at, other.ended_at - other.answered_at)


def test_ivr_ring_delay_and_patience_in_each_call() -> None:
    base = Scenario.quick(arrival_rate=400, aht=180, operators=18, patience=60.0, hours=2, seed=8)
    sc = dataclasses.replace(base, ivr_s=12.0, ivr_dist="const", ring_delay_s=3.0)
    kpis, log = run_logged(sc)
    assert kpis["abandoned"] and kpis["answered"]
    rung_then_left = 0
    for c in log:
        assert c.queued_at == c.arrived_at + 12.0
        if c.outcome is CallOutcome.ANSWERED:
            assert c.answered_at == c.offered_at + 3.0  # type: ignore[operator]
            continue
        # Hung up before anyone answered: patience runs until an operator answers, so some
        # left while a phone rang for them (then within the ring delay), the rest unrung.
        assert c.outcome is CallOutcome.ABANDONED and c.ended_at is not None and c.queued_at is not None
        assert c.ended_at - c.queued_at > 0
        if c.offered_at is not None:
            assert c.offered_at <= c.ended_at < c.offered_at + 3.0
            rung_then_left += 1
    assert kpis["asa_s"] >= 3.0  # type: ignore[operator]
    # Callers who left while it rang exist in this run, and the driver (which knows whom it
    # answered) never answered one of them: the core saw no stale fact.
    assert rung_then_left > 0
    assert simulate(sc).stale_facts == {}


def test_line_limit_blocks_and_blocked_calls_keep_their_skill() -> None:
    sc = Scenario.quick(arrival_rate=600, aht=180, operators=20, hours=2, seed=4, lines=22)
    result = simulate(sc)
    k = result.kpis
    assert k["blocked"] > 0 and k["max_concurrent_calls"] == 22
    assert k["by_skill"]["general"]["blocked"] == k["blocked"]
    assert k["offered"] == k["answered"] + k["abandoned"] + k["blocked"]


def test_shifts_log_operators_in_and_out() -> None:
    data = {
        "hours": 6,
        "wrap_up_s": 5,
        "patience_s": 300,
        "skills": {"info": {"aht_s": 120, "arrivals_per_h": 60}},
        "operators": [{"name": "day", "count": 2, "shift": [1, 3]}],
    }
    kpis, log = run_logged(parse_scenario(data, "shifts.yaml"))
    answered = [c for c in log if c.outcome is CallOutcome.ANSWERED]
    assert answered
    # with wrap-up, an operator whose shift ended leaves when the call in hand ends
    assert all(3600 <= c.answered_at <= 3 * 3600 for c in answered if c.answered_at is not None)
    by_hour = kpis["by_hour"]
    assert by_hour["00"]["occupancy"] is None  # type: ignore[index]  # nobody staffed before 01:00
    assert by_hour["01"]["occupancy"] is not None  # type: ignore[index]


def test_calls_nobody_can_answer_are_reported_unfinished() -> None:
    data = {
        "hours": 3,
        "wrap_up_s": 0,  # the shift's end wins over the next waiting call (core: after_call)
        "skills": {"info": {"aht_s": 60, "arrivals_per_h": 120}},
        "operators": [{"name": "am", "count": 1, "shift": [0, 1]}],
    }
    result = simulate(parse_scenario(data, "x.yaml"))
    assert result.unfinished > 100  # no patience, no operator after 01:00
    assert result.kpis["offered"] < result.arrivals


def test_weekday_scenario_end_to_end() -> None:
    result = simulate(load_scenario(EXAMPLES / "010-weekday.yaml"))
    k = result.kpis
    assert result.unfinished == 0 and not result.unknown_commands
    assert k["offered"] == result.arrivals == sum(g["offered"] for g in k["by_skill"].values())
    assert k["offered"] == sum(g["offered"] for g in k["by_hour"].values())
    assert set(k["by_skill"]) == {"info", "tramits", "tributs"}
    assert "03" not in k["by_hour"] and k["by_hour"]["10"]["occupancy"] > 0.5
    assert 0 < k["p_abandon"] < 0.3 and 0 < k["service_level"] <= 1


def test_trace_replay_offers_every_call_of_the_day_and_its_ivr_hang_ups_hang_up_there() -> None:
    from collections import Counter

    from contactcenter.sim.trace import TYPE_TO_SKILL, load_trace

    calls, _ = load_trace()
    day = Counter(c.day for c in calls).most_common(1)[0][0]  # what `busiest` means
    mine = [c for c in calls if c.day == day]
    in_ivr = Counter(TYPE_TO_SKILL[c.service_type] for c in mine if c.ivr_abandoned)
    assert sum(in_ivr.values()) > 0  # (the bank's callers do hang up in its IVR)
    result = simulate(load_scenario(EXAMPLES / "trace-busiest-day.yaml"))
    k = result.kpis
    assert result.arrivals == len(mine)
    # Who hung up in the IVR does so again, is never offered to a queue, and is counted apart
    # under the skill they were choosing.
    assert k["ivr_abandoned"] == sum(in_ivr.values())
    assert k["offered"] == len(mine) - sum(in_ivr.values())
    assert {s: g["ivr_abandoned"] for s, g in k["by_skill"].items() if g["ivr_abandoned"]} == dict(in_ivr)
    assert set(k["by_skill"]) == {"info", "tramits", "tributs"}


def test_head_starts_for_priority_callers_shorten_their_wait_less_than_strict_classes() -> None:
    """The same callers (common random numbers), three priority disciplines: priority-1
    callers wait least under strict classes, more with a 60 s head start, most with none."""
    base = {
        "name": "prio",
        "hours": 6,
        "seed": 3,
        "skills": {
            "vip": {"aht_s": 180, "arrivals_per_h": 60, "priority": 1, "patience_s": None},
            "std": {"aht_s": 180, "arrivals_per_h": 200, "priority": 0, "patience_s": None},
        },
        "operators": [{"name": "op", "count": 14, "skills": {"vip": 1, "std": 1}}],
    }

    def vip_asa(head_start: dict[int, float] | None) -> float:
        raw = {**base, **({"priority_head_start_s": head_start} if head_start is not None else {})}
        sc = parse_scenario(raw, "prio")
        assert parse_scenario(sc.to_raw(), "prio") == sc  # (the head starts round-trip)
        return float(simulate(sc).kpis["by_skill"]["vip"]["asa_s"])

    strict, head_start, none = vip_asa(None), vip_asa({1: 60.0}), vip_asa({1: 0.0})
    assert strict < head_start < none


def test_progress_is_reported_up_to_the_end() -> None:
    seen: list[float] = []
    simulate(Scenario.quick(arrival_rate=100, aht=60, operators=3, hours=5), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5
