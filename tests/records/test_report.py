# `contactcenter report` on real records files: those of the drive in centre.py (the live
# writer), of hand-made calls over a change of summer time, and of simulator runs. Every
# expected figure is derived: counted from the file's rows with SQL of its own, or computed
# by the core's KpiCollector from the same calls, or taken from the simulator's own KPIs.
from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter.cli import main
from contactcenter.core.engine import Call
from contactcenter.core.kpis import GROUP_KEYS, KpiCollector, operator_times
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.records import SimRecords
from contactcenter.records.report import build_report, open_records
from contactcenter.records.store import REPEAT_WINDOW_S
from contactcenter.sim.scenario import Scenario
from contactcenter.sim.virtual import daily_hours, simulate
from tests.conftest import TEST_CONFIG
from tests.records.centre import EPOCH, HOURS, MADRID, STOP_AT, WRAP_UP_S, Centre, drive
from tests.records.test_records import recorded, rows, writer_for

DAY = dt.datetime.fromtimestamp(EPOCH, MADRID).date()  # the drive's local day
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COUNTS = ("offered", "answered", "abandoned", "blocked", "called_back")


@pytest.fixture
async def drive_records(tmp_path: Path) -> tuple[Path, Centre]:
    path = tmp_path / "records.sqlite"
    centre, _, _ = await recorded(path)
    return path, centre


def report_of(
    path: Path, first: dt.date, last: dt.date | None = None, skill: str | None = None
) -> dict[str, Any]:
    records = open_records(path)
    try:
        return build_report(records, first, last or first, skill=skill)
    finally:
        records.close()


def outcome_counts(path: Path, where: str = "1 = 1") -> Counter[str]:
    return Counter(
        {
            r["outcome"]: r["n"]
            for r in rows(path, f"SELECT outcome, COUNT(*) AS n FROM calls WHERE {where} GROUP BY outcome")
        }
    )


def offered_rows(path: Path, where: str = "1 = 1") -> int:
    """Calls offered to the centre, counted in the rows: neither turned away while closed nor
    hung up in the IVR (abandoned before they ever queued: core/kpis.py's ivr_abandoned)."""
    (row,) = rows(
        path,
        "SELECT COUNT(*) AS n FROM calls WHERE outcome != 'closed'"
        f" AND NOT (outcome = 'abandoned' AND queued_at IS NULL) AND ({where})",
    )
    return int(row["n"])


def artefacts(tmp_path: Path) -> Path:
    """Where plots are kept for a person to look at: $CC_ARTEFACTS, else the test's folder."""
    folder = Path(os.environ.get("CC_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header, which must be a PNG's."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- the figures ------------------------------------------------------------------------------


async def test_counts_equal_the_rows_and_kpis_equal_the_core_s_collector(
    drive_records: tuple[Path, Centre],
) -> None:
    path, centre = drive_records
    report = report_of(path, DAY)
    total = report["total"]
    by_outcome = outcome_counts(path)
    assert total["offered"] == offered_rows(path)
    assert total["ivr_abandoned"] == sum(by_outcome.values()) - by_outcome["closed"] - offered_rows(path)
    assert (
        total["answered"],
        total["abandoned"],
        total["blocked"],
        total["called_back"],
        total["closed"],
    ) == (
        by_outcome["answered"],
        by_outcome["abandoned"] - total["ivr_abandoned"],
        by_outcome["blocked"],
        by_outcome["callback"],
        by_outcome["closed"],
    )
    # The same calls, counted by the simulator's collector on the driver's clock.
    collector = KpiCollector(sl_threshold_s=report["sl_threshold_s"], wrap_up_s=WRAP_UP_S)
    collector.add_all(centre.calls)
    collector.add_callbacks(centre.callbacks)
    expected = collector.group()
    for key in GROUP_KEYS:
        if key not in ("occupancy", "max_concurrent_calls"):  # (operator time: below)
            assert total[key] == pytest.approx(expected[key]), key
    assert total["callbacks"] == pytest.approx(collector.callback_kpis())
    assert total["callbacks"]["completed"] == 1 and total["callbacks"]["mean_delay_s"] is not None
    # Occupancy: busy / staffed as the core counted each operator's time, up to the stop.
    busy = staffed = 0.0
    for op in centre.engine.operators.values():
        b, s = operator_times(op.time_in, op.state, op.since, STOP_AT)
        busy, staffed = busy + b, staffed + s
    assert total["occupancy"] == pytest.approx(busy / staffed)
    for op in centre.engine.operators.values():
        b, s = operator_times(op.time_in, op.state, op.since, STOP_AT)
        got = report["operators"][op.operator_id]
        assert (got["busy_s"], got["staffed_s"], got["occupancy"]) == pytest.approx((b, s, b / s))
    assert report["operators"]["pau"]["paused_by_reason_s"].keys() == {"no-answer", "break"}


async def test_half_hours_hours_and_days_partition_the_calls(drive_records: tuple[Path, Centre]) -> None:
    path, _ = drive_records
    report = report_of(path, DAY)
    assert list(report["by_day"]) == [DAY.isoformat()]
    for key, seconds in (("by_half_hour", 1800), ("by_hour", 3600)):
        periods = report[key]
        assert sum(p["offered"] for p in periods.values()) == report["total"]["offered"]
        for label, period in periods.items():
            start = dt.datetime.fromisoformat(label).timestamp()
            within = f"arrived_at >= {start!r} AND arrived_at < {start + seconds!r}"
            counts = outcome_counts(path, within)
            assert period["offered"] == offered_rows(path, within), label
            assert period["closed"] == counts["closed"], label
    # (The drive's calls came between 19:00 and 20:02 local time.)
    assert [dt.datetime.fromisoformat(k).strftime("%H:%M") for k in report["by_hour"]] == ["19:00", "20:00"]


async def test_demand_by_weekday_and_hour_with_the_share_outside_opening_hours(
    drive_records: tuple[Path, Centre],
) -> None:
    path, _ = drive_records
    demand = report_of(path, DAY - dt.timedelta(days=2), DAY + dt.timedelta(days=4))["demand"]
    expected = [[0] * 24 for _ in range(7)]
    arrivals = rows(path, "SELECT arrived_at, outcome FROM calls")
    for r in arrivals:
        local = dt.datetime.fromtimestamp(r["arrived_at"], MADRID)
        expected[local.weekday()][local.hour] += 1
    assert demand["arrived"] == expected
    closed = sum(r["outcome"] == CallOutcome.CLOSED.value for r in arrivals)
    assert (demand["total"], demand["closed"], demand["share_closed"]) == (
        len(arrivals),
        closed,
        closed / len(arrivals),
    )
    assert closed and all(not HOURS.is_open(r["arrived_at"]) for r in arrivals if r["outcome"] == "closed")
    assert demand["days"] == [1] * 7  # Saturday 28 February to Friday 6 March
    for w in range(7):
        for h in range(24):
            at = dt.datetime.combine(DAY + dt.timedelta(days=w - DAY.weekday()), dt.time(h, 30), MADRID)
            assert (demand["open_share"][w][h] > 0) == HOURS.is_open(at.timestamp()), (w, h)


async def test_one_skill_counts_only_its_calls_and_has_no_occupancy(
    drive_records: tuple[Path, Centre],
) -> None:
    path, _ = drive_records
    report = report_of(path, DAY, skill="info")
    counts = outcome_counts(path, "skill = 'info'")
    assert report["total"]["offered"] == sum(counts.values()) - counts["closed"]
    assert report["total"]["occupancy"] is None  # the centre's, not a skill's
    assert report["operators"] == report_of(path, DAY)["operators"]  # every operator's


async def test_a_day_when_summer_time_ends_has_25_hours(tmp_path: Path) -> None:
    day = dt.date(2026, 10, 25)  # clocks go back at 03:00 in Madrid: 02:00-03:00 twice
    midnight = dt.datetime.combine(day, dt.time(), MADRID).timestamp()
    length = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), MADRID).timestamp() - midnight
    path = tmp_path / "dst.sqlite"
    records = SimRecords(
        path, epoch=midnight, window=(0.0, length), hours=None, sl_threshold_s=20, wrap_up_s=0, tz=MADRID
    )
    records.open()
    calls = []
    for k in range(int(length // 3600)):  # one call 10 minutes into every hour that passes
        call = Call(f"c{k}", k * 3600.0 + 600)
        call.ended_at, call.outcome = call.arrived_at + 5, CallOutcome.ABANDONED  # hung up in the IVR
        calls.append(call)
    records([], calls, [], {})
    records.close()
    report = report_of(path, day)
    assert len(report["by_hour"]) == len(calls) == 25
    assert all((p["offered"], p["ivr_abandoned"]) == (0, 1) for p in report["by_hour"].values())
    assert {"2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00"} <= set(report["by_hour"])
    assert report["by_hour_of_day"]["02"]["ivr_abandoned"] == 2


async def test_a_report_reads_the_file_while_the_controller_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    writer = writer_for(path, flush_every_s=0.02)
    await writer.start()
    try:
        centre = drive([writer])
        while writer.backlog:
            await asyncio.sleep(0.02)
        report = report_of(path, DAY)  # (WAL: a reader beside the writer, neither waits)
        not_offered = sum(
            c.outcome is CallOutcome.CLOSED or (c.outcome is CallOutcome.ABANDONED and c.queued_at is None)
            for c in centre.calls
        )
        assert report["total"]["offered"] == len(centre.calls) - not_offered
    finally:
        await writer.stop(STOP_AT)


# --- the command ------------------------------------------------------------------------------


async def test_the_command_prints_writes_the_json_and_a_png_plot(
    drive_records: tuple[Path, Centre], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = drive_records
    out, png = tmp_path / "report.json", artefacts(tmp_path) / "report-drive.png"
    rc = main(
        ["report", "--records", str(path), "--from", DAY.isoformat(), "--json", str(out), "--plot", str(png)]
    )
    printed = capsys.readouterr().out
    assert rc == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(report_of(path, DAY)))
    assert "by hour of arrival" in printed and "demand" in printed and "closed treatment" in printed
    width, height = png_size(png)
    assert width > 1000 and height > 1000 and png.stat().st_size > 20_000
    print(f"report plot saved as {png}")


async def test_the_command_reads_the_records_of_a_centre_s_config(
    drive_records: tuple[Path, Centre], tmp_path: Path
) -> None:
    path, _ = drive_records
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    raw["records"]["path"] = str(path)
    config = tmp_path / "centre.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    out = tmp_path / "r.json"
    # `tributs` is one of the centre's skills, with no call in the records: zero, not an error.
    args = ["report", "--config", str(config), "--from", DAY.isoformat(), "--skill", "tributs", "--quiet"]
    assert main([*args, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["total"]["offered"] == 0


@pytest.mark.parametrize(
    ("days", "by", "title"),
    [
        (0, None, "by hour of arrival"),
        (1, None, "by day of arrival"),
        (0, "half-hour", "by half-hour of arrival"),
    ],
)
async def test_the_periods_printed(
    drive_records: tuple[Path, Centre],
    capsys: pytest.CaptureFixture[str],
    days: int,
    by: str | None,
    title: str,
) -> None:
    path, _ = drive_records
    last = DAY + dt.timedelta(days=days)
    args = ["report", "--records", str(path), "--from", DAY.isoformat(), "--to", last.isoformat()]
    assert main([*args, *(["--by", by] if by else [])]) == 0
    assert title in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "clue"),
    [
        (["--from", "2026-02-30"], "--from"),
        (["--from", "2 March"], "--from"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "--to"),
        (["--from", "2026-03-02", "--skill", "astrology"], "unknown skill"),
        (["--from", "2026-03-02", "--plot", "{tmp}/plot.jpg"], "--plot"),
        (["--from", "2026-03-02", "--json", "{tmp}/no-such-folder/r.json"], "--json"),
    ],
)
async def test_bad_arguments_are_one_line_and_exit_2(
    drive_records: tuple[Path, Centre],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    clue: str,
) -> None:
    path, _ = drive_records
    rc = main(["report", "--records", str(path), *(a.format(tmp=tmp_path) for a in args)])
    err = capsys.readouterr().err
    assert rc == 2 and clue in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("kind", ["missing", "not sqlite", "not records"])
def test_a_file_that_is_not_records_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "r.sqlite"
    if kind == "not sqlite":
        path.write_text("calls,answered\n1,2\n")
    elif kind == "not records":
        import sqlite3

        db = sqlite3.connect(path)
        db.execute("CREATE TABLE t (x)")
        db.close()
    rc = main(["report", "--records", str(path), "--from", "2026-03-02"])
    err = capsys.readouterr().err
    assert rc == 2 and str(path) in err and len(err.strip().splitlines()) == 1, err


# --- the simulator's records ------------------------------------------------------------------

QUICK = [
    "sim", "--arrival-rate", "300", "--aht", "180", "--operators", "13", "--patience", "600",
    "--hours", "2", "--warmup-hours", "0.5", "--seed", "5", "--lines", "22", "--callbacks", "--quiet",
]  # fmt: skip


def test_a_sim_run_s_records_report_the_sim_s_own_kpis(tmp_path: Path) -> None:
    records, sim_json, report_json = tmp_path / "run.sqlite", tmp_path / "sim.json", tmp_path / "report.json"
    day = "2026-03-02"
    assert main([*QUICK, "--records", str(records), "--records-day", day, "--json", str(sim_json)]) == 0
    png = artefacts(tmp_path) / "report-sim.png"
    args = ["report", "--records", str(records), "--from", day, "--quiet", "--plot", str(png)]
    assert main([*args, "--json", str(report_json)]) == 0
    sim, report = json.loads(sim_json.read_text()), json.loads(report_json.read_text())
    total = report["total"]
    assert sim["blocked"] and sim["abandoned"] and sim["called_back"]  # (the run has them all)
    assert {k: total[k] for k in COUNTS} == {k: sim[k] for k in COUNTS}
    for key in ("asa_s", "aht_s", "service_level", "p_abandon", "occupancy", "mean_wait_s"):
        assert total[key] == pytest.approx(sim[key], rel=1e-9), key
    for skill, group in sim["by_skill"].items():
        assert {k: report["by_skill"][skill][k] for k in COUNTS} == {k: group[k] for k in COUNTS}
    for key in ("offered", "accepted", "completed", "failed", "expired", "attempts"):
        assert total["callbacks"][key] == sim["callbacks"][key], key
    assert total["callbacks"]["mean_delay_s"] == pytest.approx(sim["callbacks"]["mean_delay_s"], rel=1e-9)
    # The warm-up (the model's start-up, not history) is not in the records.
    first = min(r["arrived_at"] for r in rows(records, "SELECT arrived_at FROM calls"))
    midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), dt.UTC).timestamp()
    assert first >= midnight + 0.5 * 3600
    png_size(png)
    print(f"report plot of a simulated run saved as {png}")


def test_a_sim_with_opening_hours_records_its_closed_demand(tmp_path: Path) -> None:
    base = Scenario.quick(arrival_rate=120, aht=120, operators=3, patience=60, hours=4, seed=2)
    scenario = Scenario(
        **{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "open_hours": (1.0, 3.0)}
    )
    path = tmp_path / "hours.sqlite"
    midnight = dt.datetime(2026, 3, 7, tzinfo=dt.UTC).timestamp()  # a Saturday
    records = SimRecords(
        path,
        epoch=midnight,
        window=(scenario.start_s, scenario.end_s),
        hours=daily_hours(1.0, 3.0),
        sl_threshold_s=scenario.sl_threshold_s,
        wrap_up_s=scenario.wrap_up_s,
    )
    records.open()
    result = simulate(scenario, records=records)
    records.close()
    report = report_of(path, dt.date(2026, 3, 7))
    demand = report["demand"]
    assert demand["closed"] == result.collector.closed > 0
    assert demand["total"] == result.kpis["offered"] + result.collector.closed
    assert demand["share_closed"] == pytest.approx(result.collector.closed / demand["total"])
    saturday = demand["arrived"][5]
    assert sum(saturday[1:3]) == result.kpis["offered"] and sum(saturday) == demand["total"]
    assert demand["open_share"][5][:4] == [0.0, 1.0, 1.0, 0.0]
    assert {k: report["total"][k] for k in COUNTS} == {k: result.kpis[k] for k in COUNTS}
    assert math.isclose(report["total"]["occupancy"], result.kpis["occupancy"], rel_tol=1e-9)


def test_a_sim_never_replaces_a_live_centre_s_records(
    drive_records: tuple[Path, Centre], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = drive_records
    before = path.read_bytes()
    rc = main([*QUICK, "--records", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and "live" in err and len(err.strip().splitlines()) == 1, err
    assert path.read_bytes() == before


async def test_audit_contacts_and_first_contact_resolution(tmp_path: Path) -> None:
    """The web's and phones' actions and each call's caller key reach the file; the report
    counts repeat calls (an earlier call in the 7 days before) and the dispositions given;
    retention blanks a caller key once no repeat can be counted against it."""
    from contactcenter.live.contacts import Contacts

    path = tmp_path / "records.sqlite"
    writer = writer_for(path)
    await writer.start()
    contacts = Contacts(secret=b"k" * 32)
    # Callers by arrival (wall clock): one calls three times (the first of them 8 days
    # before the others), one once, one withheld.
    day = dt.datetime.combine(DAY, dt.time(10), MADRID).timestamp()
    arrivals = [
        ("c0", "+34600000001", day - 8 * 86_400),
        ("c1", "+34600000001", day),
        ("c2", "+34600000002", day + 60),
        ("c3", "anonymous", day + 120),
        ("c4", "600000001", day + 180),  # (the same number, dialled nationally)
    ]
    for call_id, number, at in arrivals:
        key, earlier = contacts.arrived(call_id, number, at)
        writer.contact(call_id, at, key, earlier)
    writer.audit(day + 200, "ana", "operator", "wrap_up", "ana", {"disposition": "resolved", "call_id": "c1"})
    writer.audit(day + 260, "ana", "operator", "wrap_up", "ana", {"disposition": "resolved", "call_id": "c2"})
    writer.audit(day + 300, "sala", "supervisor", "pause", "ana", {"reason": "meeting"})
    await writer.stop(None)
    got = rows(
        path,
        "SELECT call_id, caller_key IS NOT NULL AS keyed, earlier_calls FROM contacts ORDER BY arrived_at",
    )
    # c0 is older than the 7-day window: c1 counts no earlier call; c4 counts c1.
    assert [(r["call_id"], r["keyed"], r["earlier_calls"]) for r in got] == [
        ("c0", 1, 0),
        ("c1", 1, 0),
        ("c2", 1, 0),
        ("c3", 0, None),
        ("c4", 1, 1),
    ]
    assert not rows(
        path, "SELECT * FROM contacts WHERE caller_key LIKE '%600000%'"
    )  # a hash, never the number
    audit = rows(path, "SELECT actor, role, action, target, detail FROM audit ORDER BY at")
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("ana", "wrap_up"),
        ("ana", "wrap_up"),
        ("sala", "pause"),
    ]
    assert json.loads(audit[2]["detail"]) == {"reason": "meeting"}

    contacts_report = report_of(path, DAY)["contacts"]
    known = [number for _, number, _ in arrivals[1:] if number != "anonymous"]  # (c0 is another day)
    assert contacts_report["calls_known_caller"] == len(known)
    assert contacts_report["repeat_calls_7d"] == 1
    assert contacts_report["first_contact_resolution"] == pytest.approx(1 - 1 / len(known))
    assert contacts_report["dispositions"] == {"resolved": 2}

    # Retention at the next start: a key older than the window is blanked, its count kept.
    writer = writer_for(path)
    await writer.start()
    await writer.stop(None)
    cutoff = time.time() - REPEAT_WINDOW_S
    kept = rows(path, "SELECT arrived_at, caller_key, earlier_calls FROM contacts ORDER BY arrived_at")
    assert [r["earlier_calls"] for r in kept] == [r["earlier_calls"] for r in got]
    assert all(
        (r["caller_key"] is None) == (r["arrived_at"] < cutoff or r["earlier_calls"] is None) for r in kept
    )
