# `contactcenter load`'s plan and report, without Asterisk (fast; beside the live tests that
# use them): per-call figures seeded and independent, a trace's calls time-scaled, what SIPp's
# injection file carries (figures only, never a number), the operator side's talk time per
# caller, the controller's histograms read back, and the cross-check that lists disagreements.
from __future__ import annotations

import argparse
import itertools
import math
import statistics

import pytest

from contactcenter.config import ConfigError
from contactcenter.sim.load import (
    NUMBER_PREFIX,
    LoadPlan,
    LoadReport,
    TalkPerCaller,
    bucket_quantile,
    cross_check,
    expected,
    plan_from,
    trace_callers,
    trace_selection,
)
from contactcenter.sim.sipp import PLAN_START_RATE, PlannedCall, call_index, injection_rows
from contactcenter.sim.tracefile import TraceRecord


def test_draws_are_seeded_per_figure_and_have_the_planned_mean() -> None:
    plan = LoadPlan(calls=1000, rate=50, patience_s=40, talk_s=8, draws="exponential", seed=7)
    first, again = plan.planned(), plan.planned()
    assert first == again  # the same seed, the same calls
    other_seed = LoadPlan(calls=1000, rate=50, patience_s=40, talk_s=8, draws="exponential", seed=8).planned()
    assert [c.talk_s for c in other_seed] != [c.talk_s for c in first]
    # Another talk time leaves every caller's patience as it was: one stream per figure.
    longer_talk = LoadPlan(calls=1000, rate=50, patience_s=40, talk_s=20, draws="exponential", seed=7)
    assert [c.patience_s for c in longer_talk.planned()] == [c.patience_s for c in first]
    for draws in ("exponential", "lognormal"):
        calls = LoadPlan(calls=1000, rate=50, patience_s=40, talk_s=8, draws=draws, seed=7).planned()
        assert statistics.fmean(c.talk_s for c in calls) == pytest.approx(8, rel=0.15), draws
        assert min(c.talk_s for c in calls) >= 1.0  # (a talk of 0 s would be no call)
    assert {c.talk_s for c in LoadPlan(calls=5, rate=5, talk_s=8).planned()} == {8}  # fixed: as planned


def test_poisson_arrivals_come_at_the_planned_rate_and_even_ones_at_its_spacing() -> None:
    rate = 20.0
    poisson = LoadPlan(calls=1000, rate=rate, poisson=True, seed=3).planned()
    gaps = [b.arrive_s - a.arrive_s for a, b in itertools.pairwise(poisson)]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.1)
    even = LoadPlan(calls=4, rate=rate).planned()
    assert [c.arrive_s for c in even] == [i / rate for i in range(4)]


def test_the_injection_file_carries_each_calls_figures_and_no_number() -> None:
    calls = [
        PlannedCall(0.0, 30.0, 4.0),
        PlannedCall(1.5, 12.25, 7.5, priority=1),
        PlannedCall(1.6, 1.0, 1.0, ivr_hangup_s=2.0),
    ]
    rows = injection_rows(calls)
    assert rows[0] == "SEQUENTIAL" and len(rows) == len(calls) + 1
    for index, (call, row) in enumerate(zip(calls, rows[1:], strict=True)):
        number, pause_ms, ivr_ms, stay_ms, talk, priority, _ = row.split(";")
        assert call_index(NUMBER_PREFIX + number, NUMBER_PREFIX) == index
        # SIPp starts call i at i / PLAN_START_RATE: the pause makes up the rest of its arrival.
        assert int(pause_ms) == round((call.arrive_s - index / PLAN_START_RATE) * 1000)
        assert (int(ivr_ms), int(stay_ms), float(talk), int(priority)) == (
            round(call.ivr_hangup_s * 1000),
            round(call.patience_s * 1000),
            call.talk_s,
            call.priority,
        )
        assert "+" not in row
    assert call_index("+34600000001", NUMBER_PREFIX) is None  # not one of ours


def _record(i: int, outcome: str, arrival: float, ivr: float, wait: float, talk: float) -> TraceRecord:
    return TraceRecord(f"c{i}", "2024-01-01", arrival, "" if outcome == "ivr_abandoned" else "info", "", 0,
                       ivr, outcome, wait, talk, "op" if outcome == "served" else "")  # fmt: skip


def test_a_traces_calls_become_callers_time_scaled() -> None:
    records = [
        _record(0, "served", 36000, 20, 90, 300),
        _record(1, "abandoned", 36060, 15, 120, 0),
        _record(2, "ivr_abandoned", 36120, 30, 0, 0),
    ]
    scale = 10.0
    served, abandoning, ivr = trace_callers(records, scale)
    assert [c.arrive_s for c in (served, abandoning, ivr)] == [0.0, 6.0, 12.0]
    assert served.talk_s == 30.0 and served.patience_s > (90 + 300) / scale  # waits longer than it did
    assert abandoning.patience_s == 12.0 and abandoning.ivr_hangup_s == 0
    assert 0 < ivr.ivr_hangup_s <= 30 / scale


def test_a_bank_selection_is_the_days_calls_from_the_hour_on() -> None:
    chosen = trace_selection("bank", "2010-08-02", "10:00", 5, 30.0)
    assert len(chosen.records) == len(chosen.callers) == 5
    assert all(r.day == "2010-08-02" and r.arrival_s >= 36000 for r in chosen.records)
    with pytest.raises(ConfigError, match="--date"):
        trace_selection("bank", "1999-01-01", None, 5, 1.0)
    with pytest.raises(ConfigError, match="--from"):
        trace_selection("bank", None, "25:00", 5, 1.0)


def _args(**changes: object) -> argparse.Namespace:
    base: dict[str, object] = dict(
        calls=10, max_concurrent=None, rate=None, arrival_rate=None, trace=None, date=None, start=None,
        time_scale=1.0, lines=None, operators=None, talk_seconds=4.0, patience=60.0, draws="fixed", seed=0,
        wrap_up=None, digits="11",
    )  # fmt: skip
    base.update(changes)
    return argparse.Namespace(**base)


def test_the_flags_make_the_plan() -> None:
    assert plan_from(_args()).rate == 125.0  # a burst
    hourly = plan_from(_args(arrival_rate=360, time_scale=10))
    assert hourly.poisson and hourly.rate == pytest.approx(360 / 3600 * 10)
    assert (hourly.talk_s, hourly.patience_s) == (4.0 / 10, 60.0 / 10)  # the same load, 10 times faster
    replay = plan_from(_args(trace="bank", date="2010-08-02", start="10:00", calls=6, time_scale=20))
    assert replay.callers is not None and replay.calls == 6
    with pytest.raises(ValueError, match="--trace"):
        plan_from(_args(date="2010-08-02"))
    with pytest.raises(ValueError, match="--time-scale"):
        plan_from(_args(time_scale=0))


def test_a_simulated_operators_leg_talks_as_long_as_its_caller_planned() -> None:
    talks = {"1700000000.7": 12.5}
    link = TalkPerCaller(link=None, talk_of=talks.get)  # type: ignore[arg-type]  # (only rewrite is used)
    ring = {
        "Action": "Originate",
        "Channel": "Local/load0001@cc-sim-operator/n",
        "Variable": ["CC_CALL_ID=1700000000.7", "CC_ROOM=1700000000.7", "CC_TALK_SECONDS=4"],
    }
    rewritten = link.rewrite(ring)
    assert [v for v in rewritten["Variable"] if v.startswith("CC_TALK_SECONDS=")] == ["CC_TALK_SECONDS=12.5"]
    unknown = {**ring, "Variable": ["CC_CALL_ID=other"]}
    assert link.rewrite(unknown) == unknown
    phone = {**ring, "Channel": "PJSIP/rosa"}
    assert link.rewrite(phone) is phone  # a real phone's call is not ours to time


def test_a_histograms_percentile_is_the_bound_of_its_bucket() -> None:
    before = {0.001: 10.0, 0.005: 10.0, 0.01: 10.0, math.inf: 10.0}
    after = {0.001: 60.0, 0.005: 108.0, 0.01: 109.0, math.inf: 110.0}  # 100 more: 50, 48, 1, 1
    assert bucket_quantile(before, after, 50) == 0.001
    assert bucket_quantile(before, after, 99) == 0.01
    assert bucket_quantile(before, after, 100) == math.inf
    assert bucket_quantile(after, after, 50) is None


def _report(**changes: object) -> LoadReport:
    base: dict[str, object] = dict(
        mode="up", calls=10, lines=5, kpis={"offered": 10, "answered": 5, "blocked": 5, "abandoned": 0,
        "closed": 0, "callback": 0}, sipp={"successful": 10, "failed": 0, "exit_code": 0}, max_lines_in_use=5,
        asterisk_max_channels=15, asterisk_max_citizen_channels=10, channels_left=0,
        channel_samples_skipped=0, connected_s=1.0, wall_s=10.0, routing_latency_ms={}, controller_cpu_s=0.1,
        controller_cpu_wait_s=0.0, peak_rss_mb=30.0, ami_events=70, ami_events_per_call=7.0,
        event_loop_lag_ms={},
    )  # fmt: skip
    base.update(changes)
    return LoadReport(**base)  # type: ignore[arg-type]


def test_the_cross_check_lists_each_disagreement() -> None:
    plan = LoadPlan(calls=10, rate=100, patience_s=30, talk_s=20, operators=5, lines=5)
    want = expected(plan, 5, 1.0)
    assert want is not None and cross_check(_report(), want) == []
    lost = _report(kpis={"offered": 9, "answered": 4, "blocked": 5, "abandoned": 0, "closed": 0})
    found = cross_check(lost, want)
    assert any("ended 9 calls of the 10" in m for m in found) and any("predicts" in m for m in found), found
    assert any("SIPp failed 2" in m for m in cross_check(_report(sipp={"successful": 8, "failed": 2}), want))
    assert any("still has 3 channels" in m for m in cross_check(_report(channels_left=3), want))


def test_a_traces_callers_each_key_their_own_service_and_language_by_their_own_sipp() -> None:
    import yaml

    from contactcenter.sim.load import centre_for, operators_per_skill, sipp_plans
    from tests.conftest import TEST_CONFIG

    chosen = trace_selection("bank", "2010-08-02", "10:00", 60, 30.0)
    asked = {r.skill for r in chosen.records if r.outcome != "ivr_abandoned"}
    assert len(asked) >= 2, asked  # (the selection asks for more than one service)
    assert [(c.skill, c.language, c.priority) for c in chosen.callers if c.ivr_hangup_s == 0] == [
        (r.skill, r.language, r.priority) for r in chosen.records if r.outcome != "ivr_abandoned"
    ]
    plan = LoadPlan(calls=len(chosen.callers), rate=1, callers=chosen.callers, max_concurrent=30)
    # Operators shared by the calls each skill has (largest remainders), all of them placed.
    per_skill = operators_per_skill(plan, 50)
    assert sum(per_skill.values()) == 50 and set(per_skill) == asked
    counts = {k: sum(1 for c in chosen.callers if c.skill == k and c.ivr_hangup_s == 0) for k in asked}
    for skill, n in per_skill.items():
        assert abs(n - 50 * counts[skill] / sum(counts.values())) < 1, (skill, n, counts)
    cfg = centre_for(yaml.safe_load(TEST_CONFIG.read_text()), plan, "test")
    assert {
        k: sum(1 for op in cfg.operators if op.id.startswith("load") and k in op.skills) for k in asked
    } == {k: operators_per_skill(plan, cfg.lines)[k] for k in asked}
    # One SIPp per set of keys; each caller keeps its index in the plan (its number).
    sipp = sipp_plans(cfg, plan, chosen.callers, 5060)
    by_keys = {p.digits: p for p in sipp.plans}
    default = cfg.ivr.default_language
    for i, c in enumerate(chosen.callers):
        keys = "11" if c.ivr_hangup_s else cfg.ivr_keys(c.language or default, c.skill)
        assert by_keys[keys].indices is not None and i in by_keys[keys].indices
    assert sorted(i for p in sipp.plans for i in p.indices or []) == list(range(len(chosen.callers)))
    assert sum(p.max_concurrent or 0 for p in sipp.plans) >= 30
    rows = injection_rows(
        by_keys[cfg.ivr_keys(default, "tramits")].calls,
        indices=by_keys[cfg.ivr_keys(default, "tramits")].indices,
    )
    assert [int(r.split(";")[0]) for r in rows[1:]] == by_keys[cfg.ivr_keys(default, "tramits")].indices
    with pytest.raises(ValueError, match="no choice for 'astrologia'"):
        cfg.ivr_keys(default, "astrologia")
