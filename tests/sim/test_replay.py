"""Trace replays (sim/replay.py, the scenario's `trace`, `staffing`, `away`, `patience_fit`):
what the trace recorded is replayed as it was; what it could not record is drawn or
estimated. Expected values are derived from the trace's own records."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from contactcenter.config import ConfigError
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim import fit, replay, traffic, virtual
from contactcenter.sim.roster import parse_roster
from contactcenter.sim.scenario import Scenario, parse_scenario
from contactcenter.sim.tracefile import TraceRecord, bank_trace, write_trace
from contactcenter.sim.virtual import simulate

DAY = "2010-08-02"


def _bank(**replaying: object) -> Scenario:
    return Scenario.for_trace("bank").replaying(**replaying)  # type: ignore[arg-type]


def test_a_day_s_callers_are_the_trace_s_calls_as_recorded() -> None:
    sc = _bank(day=DAY)
    mine = [r for r in bank_trace().records if r.day == DAY]
    chosen = replay.chosen(sc)
    assert [c.record for c in chosen] == sorted(mine, key=lambda r: (r.arrival_s, r.day, r.call_id))
    talk = {s.name: (lambda: 0.125) for s in sc.skills}
    out = list(replay.callers(chosen, dict.fromkeys(talk, "ca"), talk, lambda skill, priority: math.inf))
    assert [c[0] for c in out] == [r.arrival_s for r in sorted(mine, key=lambda r: (r.arrival_s, r.call_id))]
    served = sum(1 for r in mine if r.served and r.talk_s > 0)
    assert sum(1 for c in out if c[5] != 0.125) == served  # the bank's own talk times where it served
    in_ivr = sum(1 for r in mine if r.outcome == "ivr_abandoned")
    assert sum(1 for c in out if c[6] == traffic.HANGS_UP_IN_IVR) == in_ivr > 0
    # Languages: the trace's where it knows them (PE is English), else the scenario's draw.
    assert Counter(c[2] for c in out)["en"] == sum(1 for r in mine if r.language == "en")
    assert [(c[1], c[3], c[4]) for c in out] == [
        (r.skill, r.priority, r.ivr_s) for r in sorted(mine, key=lambda r: (r.arrival_s, r.call_id))
    ]


def test_days_in_a_row_follow_the_calendar_and_superposed_days_share_one() -> None:
    trace = bank_trace()
    days = ["2010-08-05", "2010-08-06", "2010-08-07"]
    in_a_row = _bank(first_day=days[0], last_day=days[-1])
    assert in_a_row.trace is not None and in_a_row.trace.days == tuple(days)
    assert in_a_row.hours == 72.0  # the run covers the days
    at = {c.record.call_id: c.at for c in replay.chosen(in_a_row)}
    for r in trace.select(days):
        assert at[r.call_id] == pytest.approx(days.index(r.day) * 86_400 + r.arrival_s)
    superposed = _bank(first_day=days[0], last_day=days[-1], superpose=True)
    assert superposed.hours == 24.0
    chosen = replay.chosen(superposed)
    assert len(chosen) == len(trace.select(days)) and all(c.at == c.record.arrival_s for c in chosen)
    k = simulate(in_a_row).kpis
    queued = sum(1 for r in trace.select(days) if r.outcome != "ivr_abandoned")
    assert k["offered"] == queued and k["ivr_abandoned"] == len(trace.select(days)) - queued


def test_a_day_the_trace_lacks_is_an_error_naming_the_flag() -> None:
    with pytest.raises(ConfigError) as e:
        _bank(day="2011-01-01")
    assert e.value.field == "--date" and "2010-08-01 to 2010-08-31" in e.value.problem
    with pytest.raises(ConfigError) as e:
        _bank(first_day="2011-01-01", last_day="2011-01-03")
    assert e.value.field == "--from"


def _records() -> list[TraceRecord]:
    """A small trace of our format: two days, two skills, an IVR hang-up, a served and an
    abandoned call each day."""
    out = []
    for d, day in enumerate(("2026-03-02", "2026-03-03")):
        for i, (skill, outcome) in enumerate(
            [("padro", "served"), ("padro", "abandoned"), ("multes", "served"), ("", "ivr_abandoned")]
        ):
            served = outcome == "served"
            out.append(
                TraceRecord(
                    call_id=f"{day}-{i}",
                    day=day,
                    arrival_s=9 * 3600 + 60 * i + d,
                    skill=skill,
                    language="es" if i == 0 else "",
                    priority=i % 2,
                    ivr_s=12.0,
                    outcome=outcome,
                    wait_s=0.0 if outcome == "ivr_abandoned" else 30.0,
                    talk_s=100.0 + i if served else 0.0,
                    operator="op-a" if served else "",
                )
            )
    return out


def test_a_trace_file_replays_alone_with_its_skills_and_languages(tmp_path: Path) -> None:
    path = tmp_path / "site.csv"
    write_trace(_records(), path)
    sc = Scenario.for_trace(str(path), operators=3).replaying(day="2026-03-03")
    assert {s.name for s in sc.skills} == {"padro", "multes"}
    padro = next(s for s in sc.skills if s.name == "padro")
    assert dict(padro.languages) == {"es": 1.0}  # the languages its callers are known to speak
    k = simulate(sc).kpis
    day = [r for r in _records() if r.day == "2026-03-03"]
    assert k["offered"] == sum(1 for r in day if r.outcome != "ivr_abandoned")
    assert k["ivr_abandoned"] == 1 and "" not in k["by_skill"]  # (chose no skill: in none)
    with pytest.raises(ConfigError) as e:
        Scenario.for_trace(str(path))
    assert e.value.field == "--trace" and "--staffing" in e.value.problem


def test_a_scenario_missing_a_skill_of_the_trace_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "site.csv"
    write_trace(_records(), path)
    raw = {
        "hours": 24,
        "trace": {"source": "site.csv", "day": "2026-03-02"},
        "skills": {"padro": {"aht_s": 100}},
        "operators": 2,
    }
    with pytest.raises(ConfigError) as e:
        parse_scenario(raw, str(tmp_path / "s.yaml"))  # (the trace file is the scenario's neighbour)
    assert e.value.field == "skills" and e.value.value == "multes"


def test_staffing_from_the_trace_logs_its_operators_in_for_their_working_periods() -> None:
    sc = _bank(day=DAY, staffing="trace")
    assert sc.operators == ()
    periods = fit.working_periods(bank_trace().select([DAY]))
    assert replay.stretches(sc) == [(p.start_s, p.end_s, p.operator, p.skills) for p in periods]
    answered: list[Call] = []
    simulate(sc, on_call=lambda c: answered.append(c) if c.outcome is CallOutcome.ANSWERED else None)
    spans: dict[str, list[tuple[float, float, tuple[str, ...]]]] = {}
    for p in periods:
        spans.setdefault(p.operator, []).append((p.start_s, p.end_s, p.skills))
    assert answered
    for c in answered:  # by one of the day's operators, inside a period of theirs, in a skill of theirs
        assert c.operator_id in spans and c.answered_at is not None
        assert any(a <= c.answered_at <= b and c.skill in skills for a, b, skills in spans[c.operator_id])


ROSTER = """interval,skill,operators,away
09:00,padro,2,0.1
09:30,padro,3,
10:00,padro,1,
09:00,multes,1,0.1
"""


def test_a_roster_staffs_each_half_hour_with_its_count(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER)
    raw = {
        "hours": 24,
        "skills": {
            "padro": {"aht_s": 120, "arrivals_per_h": 20},
            "multes": {"aht_s": 200, "arrivals_per_h": 5},
        },
        "staffing": "roster.csv",
    }
    sc = parse_scenario(raw, str(tmp_path / "s.yaml"))
    assert sc.staffing == str(tmp_path / "roster.csv")
    assert isinstance(sc.away, tuple) and sc.away[18] == 0.1 and sc.away[19] is None  # (its away column)
    roster = parse_roster(ROSTER)
    stretches = replay.stretches(sc)
    for k in range(48):  # operators logged in at the middle of each half hour = the roster's count
        t = k * 1800 + 900
        for skill in ("padro", "multes"):
            on = sum(1 for a, b, _, skills in stretches if a <= t < b and skill in skills)
            assert on == roster.operators(k, skill)
    answered: list[Call] = []
    simulate(sc, on_call=lambda c: answered.append(c) if c.outcome is CallOutcome.ANSWERED else None)
    assert answered and all(c.answered_at is not None and c.answered_at >= 9 * 3600 for c in answered)
    with pytest.raises(ConfigError) as e:
        parse_scenario({**raw, "operators": 3}, str(tmp_path / "s.yaml"))
    assert "not both" in e.value.problem
    (tmp_path / "bad.csv").write_text("interval,skill,operators\n09:15,padro,2\n")
    with pytest.raises(ConfigError) as e:
        parse_scenario({**raw, "staffing": "bad.csv"}, str(tmp_path / "s.yaml"))
    assert e.value.field == "staffing" and "line 2" in e.value.problem


def test_breaks_take_the_share_of_each_half_hour_an_operator_is_logged_in() -> None:
    shares = [0.0] * 16 + [0.25] * 16 + [0.5] * 16
    raw = Scenario.quick(arrival_rate=60, aht=180, operators=4, hours=24).to_raw()
    raw["away"] = shares
    sc = parse_scenario(raw)
    stretches = [(3600.0, 80_000.0, "op-1", ("general",)), (0.0, 86_400.0, "op-2", ("general",))]
    breaks = replay.away_breaks(sc, stretches)
    for t_in, t_out, op, _ in stretches:
        for k in range(48):
            lo, hi = max(t_in, k * 1800.0), min(t_out, (k + 1) * 1800.0)
            mine = [(at, s) for at, (who, s) in breaks if who == op and lo <= at < hi]
            want = shares[k] * max(0.0, hi - lo)
            if want >= replay.MIN_BREAK_S:
                assert len(mine) == 1 and mine[0][1] == pytest.approx(want)
                assert lo <= mine[0][0] and mine[0][0] + mine[0][1] <= hi + 1e-6  # inside the half hour
            else:
                assert mine == []


def test_time_away_makes_callers_wait_longer_with_the_same_callers() -> None:
    base = Scenario.quick(arrival_rate=100, aht=180, operators=7, patience=120, hours=8)
    kpis = []
    for share in (0.0, 0.1, 0.2):
        raw = base.to_raw()
        raw["away"] = share
        kpis.append(simulate(parse_scenario(raw)).kpis)
    assert [k["offered"] for k in kpis] == [kpis[0]["offered"]] * 3  # common random numbers
    assert kpis[0]["asa_s"] < kpis[1]["asa_s"] < kpis[2]["asa_s"]
    assert kpis[0]["p_abandon"] < kpis[2]["p_abandon"]


@pytest.mark.parametrize("staffing", ["trace", None], ids=["trace-staffing", "scenario-groups"])
def test_time_away_estimated_from_the_trace_shows_the_trace_s_own_share_in_the_replay(
    staffing: str | None,
) -> None:
    """The calibration's claim: replayed with it, the operators are seen not talking while
    their callers wait as often as in the trace, half hour by half hour (the trace's own
    operators, or the scenario's groups in their place)."""
    sc = _bank(day="2010-08-16", staffing=staffing, patience_fit="km", away="trace")
    stretches = replay.stretches(sc) if staffing else virtual._group_stretches(sc)
    shares = replay.calibrated_away(sc, stretches)
    records = replay.replayed_records(sc)
    periods = fit.working_periods(records)
    target = fit.away_share(records, periods)
    own = replay.run_periods(stretches)  # (the run's operators, on its clock)

    def replayed_share(away: list[float]) -> list[float | None]:
        seen: list[TraceRecord] = []
        simulate(_with_away(sc, away), on_call=lambda c: replay._as_record(c, seen))
        return fit.away_share(seen, own)

    def gaps(got: list[float | None]) -> tuple[float, float]:
        """(mean |trace - replay| per half hour, |mean trace - mean replay|) where both have one."""
        pairs = [(w, h) for w, h in zip(target, got, strict=True) if w is not None and h is not None]
        assert len(pairs) >= 20
        each = sum(abs(w - h) for w, h in pairs) / len(pairs)
        return each, abs(sum(w for w, _ in pairs) - sum(h for _, h in pairs)) / len(pairs)

    calibrated = gaps(replayed_share(shares))
    naive = gaps(replayed_share([0.0 if w is None else w for w in target]))  # the trace's share as is
    assert calibrated[0] < naive[0] and calibrated[1] < naive[1], (calibrated, naive)
    if staffing == "trace":  # (the scenario's groups are not the bank's operators: no exact match)
        assert calibrated[1] < 0.02 < naive[1], (calibrated, naive)
    # (less time away than the trace's share reads, where it reads one)
    assert sum(a for a, w in zip(shares, target, strict=True) if w is not None) < sum(
        w for w in target if w is not None
    )


def _with_away(sc: Scenario, shares: list[float]) -> Scenario:
    raw = sc.to_raw()
    raw["away"] = shares
    return parse_scenario(raw, sc.source)


def test_patience_fitted_on_the_trace_draws_per_skill_and_priority() -> None:
    sc = _bank(day=DAY, patience_fit="km")
    records = replay.replayed_records(sc)
    model = fit.fit_patience(records, "km")
    streams = {s.name: traffic.streams(sc.seed, s.name) for s in sc.skills}
    out = list(
        replay.replay_callers(
            sc,
            streams,
            {s.name: "ca" for s in sc.skills},
            {s.name: (lambda: 1.0) for s in sc.skills},
            {s.name: math.inf for s in sc.skills},
        )
    )
    # Each caller's draw lies on the fitted curve of their cell, or on its exponential tail.
    for c in out:
        if c[6] == traffic.HANGS_UP_IN_IVR:
            continue
        fitted = model.for_cell(c[1], c[3])
        assert c[6] in set(fitted.times) or c[6] > fitted.times[-1]
    # Same seed, same draws; another seed, others.
    again = list(
        replay.replay_callers(
            sc, {s.name: traffic.streams(sc.seed, s.name) for s in sc.skills},
            {s.name: "ca" for s in sc.skills}, {s.name: (lambda: 1.0) for s in sc.skills},
            {s.name: math.inf for s in sc.skills},
        )
    )  # fmt: skip
    assert again == out
