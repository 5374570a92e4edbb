"""The replay is faithful to the trace it replays (issue 11): the bundled bank month, each
working day replayed with the bank's own staffing and the patience and time away estimated
from its records, reproduces what the bank recorded that day within sim/faithful.py's
stated tolerance. The expected figures are the trace's own, counted by faithful.recorded
(itself checked here against plain counting)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from contactcenter.cli import main
from contactcenter.sim import faithful
from contactcenter.sim.scenario import Scenario
from contactcenter.sim.tracefile import TraceRecord, bank_trace
from contactcenter.sim.virtual import simulate


def _record(i: int, outcome: str, wait: float) -> TraceRecord:
    served = outcome == "served"
    skill = "" if outcome == "ivr_abandoned" else "a"
    return TraceRecord(
        call_id=str(i), day="2026-01-05", arrival_s=100.0 * i, skill=skill,
        language="", priority=0, ivr_s=5.0, outcome=outcome, wait_s=wait, talk_s=60.0 if served else 0.0,
        operator="x" if served else "",
    )  # fmt: skip


def test_recorded_figures_use_the_simulator_s_definitions() -> None:
    records = [
        _record(0, "served", 0.0),
        _record(1, "served", 30.0),
        _record(2, "served", 90.0),
        _record(3, "abandoned", 40.0),
        _record(4, "ivr_abandoned", 0.0),
    ]
    got = faithful.recorded(records)
    assert got["offered"] == 4 and got["ivr_abandoned"] == 1  # (IVR hang-ups apart, as the KPIs)
    assert got["answered"] == 3 and got["p_abandon"] == 1 / 4
    assert got["p_wait"] == 3 / 4 and got["asa_s"] == 40.0
    gaps = {
        g.figure: g
        for g in faithful.compare({"answered": 3.3, "p_abandon": 0.35, "p_wait": 0.75, "asa_s": 20.0}, got)
    }
    assert gaps["answered"].error == pytest.approx(0.1) and gaps["p_abandon"].error == pytest.approx(0.1)
    assert gaps["asa_s"].error == pytest.approx(-0.5) and gaps["p_wait"].within


def _working_days() -> list[str]:
    trace = bank_trace()
    return [
        d
        for d in trace.days()
        if faithful.recorded(trace.select([d]))["answered"] >= faithful.MIN_WORKING_DAY_SERVED
    ]


def test_every_working_day_of_the_bank_month_replays_within_the_tolerance() -> None:
    trace = bank_trace()
    days = _working_days()
    assert len(days) >= 20  # (the bank's Sunday-Thursday weeks of August)
    base = Scenario.for_trace("bank")
    errors: dict[str, list[float]] = {f: [] for f in faithful.FIGURES}
    outside = []
    for day in days:
        sc = base.replaying(day=day, staffing="trace", patience_fit="km", away="trace")
        gaps = faithful.compare(simulate(sc).kpis, faithful.recorded(trace.select([day])))
        for g in gaps:
            errors[g.figure].append(abs(g.error))
            if not g.within:
                outside.append(f"{day} {g.text()}")
    assert outside == []
    for figure, errs in errors.items():
        assert statistics.mean(errs) <= faithful.MEAN_TOLERANCE[figure], (figure, statistics.mean(errs))


def test_the_cli_compares_a_replayed_day_with_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = _working_days()[0]
    out = tmp_path / "k.json"
    argv = ["sim", "--trace", "bank", "--date", day, "--staffing", "trace", "--patience", "trace"]
    assert main([*argv, "--away", "trace", "--json", str(out), "--no-progress"]) == 0
    k = json.loads(out.read_text())
    assert k["trace"] == faithful.recorded(bank_trace().select([day]))
    assert k["run"]["flags"]["trace"] == "bank" and k["run"]["flags"]["patience_fit"] == "km"
    printed = capsys.readouterr().out
    for gap in faithful.compare(k, k["trace"]):
        assert gap.text() in printed
