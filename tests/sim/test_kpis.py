# KPI definitions on a hand-made list of calls: every expected value is worked out by hand in
# the comments, so a change of definition shows up here first.
from __future__ import annotations

import math

import pytest

from contactcenter.core.engine import Call
from contactcenter.core.kpis import GROUP_KEYS, KPI_KEYS, UNKNOWN_SKILL, KpiCollector, operator_times
from contactcenter.core.lifecycle import CallOutcome, CallState, OperatorState

A, AB, B, C = CallOutcome.ANSWERED, CallOutcome.ABANDONED, CallOutcome.BLOCKED, CallOutcome.CLOSED


def call(
    cid: str,
    arrived: float,
    outcome: CallOutcome,
    ended: float,
    skill: str | None = None,
    queued: float | None = None,
    offered: float | None = None,
    answered: float | None = None,
) -> Call:
    c = Call(call_id=cid, arrived_at=arrived)
    c.state, c.outcome, c.ended_at = CallState.ENDED, outcome, ended
    c.skill, c.language = skill, "ca" if skill else None
    c.queued_at, c.offered_at, c.answered_at = queued, offered, answered
    return c


CALLS = [
    # answered at once: wait 0, talk 100
    call("c1", 10, A, 115, "a", queued=15, offered=15, answered=15),
    # waited 32 s (rang from 55, answered 57): delayed, outside T = 20
    call("c2", 20, A, 157, "a", queued=25, offered=55, answered=57),
    # abandoned after 10 s in queue: a short abandon
    call("c3", 30, AB, 40, "b", queued=30),
    # abandoned after 60 s in queue
    call("c4", 40, AB, 100, "b", queued=40),
    # blocked at admission: no skill on the call; the driver says it wanted "a"
    call("c5", 50, B, 50),
    # hour 01: waited 7 s (offered at 3710, answered 3712): delayed but within T
    call("c6", 3700, A, 3812, "b", queued=3705, offered=3710, answered=3712),
    # hung up in the IVR: not offered to a queue, counted apart (ivr_abandoned)
    call("c7", 60, AB, 70),
    # arrived after the window: not counted
    call("c8", 7300, A, 7500, "a", queued=7300, offered=7300, answered=7300),
    # arrived outside opening hours: not offered
    call("c9", 80, C, 80),
]


@pytest.fixture
def collector() -> KpiCollector:
    k = KpiCollector(start=0.0, end=7200.0, sl_threshold_s=20.0, wrap_up_s=10.0)
    k.add_all(CALLS, {"c5": "a"})
    k.add_operator_time(0.0, busy_s=3000.0, staffed_s=6000.0)
    k.add_operator_time(3600.0, busy_s=1000.0, staffed_s=4000.0)
    k.add_operator_time(7200.0, busy_s=99.0, staffed_s=99.0)  # after the window: ignored
    k.observe_concurrent(10.0, 3)
    k.observe_concurrent(3700.0, 5)
    k.observe_concurrent(9000.0, 99)  # after the window: ignored
    return k


def test_overall_kpis_by_hand(collector: KpiCollector) -> None:
    k = collector.kpis()
    assert tuple(k) == KPI_KEYS
    # offered: c1-c6 (c7 hung up in the IVR, c8 after the window, c9 closed)
    # = answered 3 + abandoned 2 + blocked 1
    assert (k["offered"], k["answered"], k["abandoned"], k["blocked"]) == (6, 3, 2, 1)
    assert k["ivr_abandoned"] == 1
    handled = 5
    assert k["p_wait"] == pytest.approx(4 / handled)  # c2, c3, c4, c6 found no free operator
    assert k["asa_s"] == pytest.approx((0 + 32 + 7) / 3)
    assert k["mean_wait_s"] == pytest.approx((0 + 32 + 10 + 60 + 7) / handled)
    assert k["service_level"] == pytest.approx(2 / 3)  # c1, c6 answered within 20 s
    assert k["sl_threshold_s"] == 20.0
    assert k["aht_s"] == pytest.approx(100 + 10)  # talk 100 s each, plus 10 s wrap-up
    assert k["p_abandon"] == pytest.approx(2 / handled)  # blocked excluded
    assert k["occupancy"] == pytest.approx((3000 + 1000) / (6000 + 4000))
    assert k["max_concurrent_calls"] == 5
    # SL2: (answered within T: c1, c6) + (abandoned within T: c3 after 10 s)
    assert collector.group()["sl2"] == pytest.approx(3 / handled)
    assert collector.closed == 1


def test_by_skill_and_by_hour(collector: KpiCollector) -> None:
    k = collector.kpis()
    assert list(k["by_skill"]) == [UNKNOWN_SKILL, "a", "b"]
    for group in (*k["by_skill"].values(), *k["by_hour"].values()):
        assert tuple(group) == GROUP_KEYS
    a, b, none = k["by_skill"]["a"], k["by_skill"]["b"], k["by_skill"][UNKNOWN_SKILL]
    assert (a["offered"], a["answered"], a["abandoned"], a["blocked"]) == (3, 2, 0, 1)
    assert a["p_wait"] == pytest.approx(1 / 2) and a["asa_s"] == pytest.approx(16)
    assert a["service_level"] == pytest.approx(1 / 2) and a["p_abandon"] == 0
    assert (b["offered"], b["answered"], b["abandoned"]) == (3, 1, 2)
    assert b["p_wait"] == 1 and b["asa_s"] == pytest.approx(7)
    assert b["mean_wait_s"] == pytest.approx((10 + 60 + 7) / 3)
    assert b["sl2"] == pytest.approx(2 / 3) and b["p_abandon"] == pytest.approx(2 / 3)
    # occupancy and lines are not attributable to one skill
    assert a["occupancy"] is None and a["max_concurrent_calls"] is None
    assert (none["offered"], none["abandoned"], none["ivr_abandoned"], none["asa_s"]) == (0, 0, 1, None)
    h0, h1 = k["by_hour"]["00"], k["by_hour"]["01"]
    assert list(k["by_hour"]) == ["00", "01"]
    assert (h0["offered"], h1["offered"], h0["ivr_abandoned"]) == (5, 1, 1)
    assert h0["occupancy"] == pytest.approx(0.5) and h1["occupancy"] == pytest.approx(0.25)
    assert (h0["max_concurrent_calls"], h1["max_concurrent_calls"]) == (3, 5)
    assert h1["asa_s"] == pytest.approx(7) and h1["service_level"] == 1


def test_empty_window_gives_none_not_zero() -> None:
    k = KpiCollector(start=3600.0, end=7200.0).kpis()
    assert (k["offered"], k["answered"]) == (0, 0)
    for key in ("p_wait", "asa_s", "mean_wait_s", "service_level", "aht_s", "p_abandon", "occupancy"):
        assert k[key] is None, key
    assert k["max_concurrent_calls"] is None and k["by_skill"] == {} and k["by_hour"] == {}


def test_warm_up_is_excluded_by_arrival_time() -> None:
    k = KpiCollector(start=100.0, end=200.0)
    k.add(call("early", 99.9, A, 150, "a", queued=99.9, offered=99.9, answered=99.9))  # ends inside
    k.add(call("in", 100.0, A, 500, "a", queued=100, offered=130, answered=130))  # ends after
    k.add(call("late", 200.0, A, 210, "a", queued=200, offered=200, answered=200))
    out = k.kpis()
    assert out["answered"] == 1 and out["asa_s"] == 30


def test_operator_times_include_the_current_state() -> None:
    time_in = {
        OperatorState.AVAILABLE: 100.0,
        OperatorState.RESERVED: 10.0,
        OperatorState.TALKING: 300.0,
        OperatorState.WRAP_UP: 50.0,
        OperatorState.PAUSED: 500.0,
    }
    # talking since 1000, now 1100: 100 s more busy
    assert operator_times(time_in, OperatorState.TALKING, 1000.0, 1100.0) == (460.0, 560.0)
    # paused: neither busy nor staffed (shrinkage)
    assert operator_times(time_in, OperatorState.PAUSED, 1000.0, 1100.0) == (360.0, 460.0)
    assert operator_times(time_in, OperatorState.AVAILABLE, 1000.0, 1100.0) == (360.0, 560.0)
    assert operator_times({}, OperatorState.LOGGED_OUT, 0.0, 1e6) == (0.0, 0.0)


def test_answered_call_without_times_is_a_bug_not_a_kpi() -> None:
    k = KpiCollector()
    with pytest.raises(ValueError, match="lacks"):
        k.add(call("x", 1.0, A, 5.0, "a"))


def test_window_must_not_be_empty() -> None:
    with pytest.raises(ValueError):
        KpiCollector(start=5.0, end=5.0)
    assert KpiCollector().end == math.inf
