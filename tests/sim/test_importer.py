# `contactcenter trace import` (sim/importer.py): Asterisk's queue_log and CDR CSV into trace
# records. The fixtures (tests/sim/data/queue_log, Master.csv) were written from Asterisk's
# documented formats; each call in them tells one story (STORIES). Expected values are read
# from the fixture's own lines here with plain code (split on "|", csv), never typed in.
from __future__ import annotations

import csv
import datetime as dt
import re
import zoneinfo
from collections import Counter
from pathlib import Path

import pytest

from contactcenter.config import ConfigError
from contactcenter.sim.importer import ImportResult, import_queue_log, main
from contactcenter.sim.tracefile import COLUMNS, TraceRecord, read_trace, write_trace

DATA = Path(__file__).parent / "data"
QUEUE_LOG = DATA / "queue_log"
CDR = DATA / "Master.csv"
MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
IVR = "ivr-010"

# What each fixture call is (its uniqueid, as the file has it).
STORIES = {
    "1772438435.1": "served",  # RINGNOANSWER, CONNECT, COMPLETECALLER; an AGENTDUMP later
    "1772438489.2": "abandoned",  # ABANDON
    "1772438562.3": "timeout",  # EXITWITHTIMEOUT
    "1772438618.4": "key",  # EXITWITHKEY
    "pbx1-1772438660.5": "transfer",  # TRANSFER, then an ENTERQUEUE after it was served
    "1772438741.6": "transfer",  # BLINDTRANSFER
    "1772438793.7": "transfer",  # ATTENDEDTRANSFER LINK|..|.. padded with empty fields
    "1772438847.8": "overflow",  # EXITWITHTIMEOUT from info, ENTERQUEUE tributs, served there
    "1772438920.9": "unfinished",  # CONNECT, no end
    "1772441380.10": "unfinished",  # ENTERQUEUE, no end
    "1772438979.11": "malformed",  # a line of 3 fields
    "1772439034.12": "malformed",  # CONNECT holdtime "abc"
    "1772439096.13": "empty",  # EXITEMPTY; not in the CDR
    "1774747785.14": "served",  # 03:30 local on 2026-03-29, after the spring-forward
    "1792891800.15": "abandoned",  # CDR start 02:30 in the hour repeated on 2026-10-25
    "1772438000.1": "no_enter",  # a CONNECT with no ENTERQUEUE
}
CALL_EVENTS = {"ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY"} | {
    "COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER", "WITHDRAW"
}  # fmt: skip


def log_lines() -> list[tuple[int, list[str]]]:
    return [(n, text.split("|")) for n, text in enumerate(QUEUE_LOG.read_text().splitlines(), start=1)]


def lines_of(call_id: str) -> list[list[str]]:
    return [f for _, f in log_lines() if len(f) >= 5 and f[1] == call_id]


def cdr_rows() -> list[list[str]]:
    return list(csv.reader(CDR.read_text().splitlines()))


def wall_clock(at: dt.datetime) -> float:
    return at.hour * 3600 + at.minute * 60 + at.second


def expected_numbers(call_id: str) -> tuple[str, float, float, str, str]:
    """(last queue, wait, talk, operator, outcome) read from the call's lines as Asterisk
    documents their fields."""
    lines = lines_of(call_id)
    enters = [f for f in lines if f[4] == "ENTERQUEUE"]
    story = STORIES[call_id]
    if story in ("served", "transfer", "overflow"):
        connect = next(f for f in lines if f[4] == "CONNECT")
        end = next(f for f in lines if f[4] in ("COMPLETECALLER", "COMPLETEAGENT") or "TRANSFER" in f[4])
        data = [d for d in end[5:] if d] if end[4] == "ATTENDEDTRANSFER" else end[5:]
        if end[4] in ("COMPLETECALLER", "COMPLETEAGENT"):  # holdtime|calltime|origposition
            talk = data[1]
        elif end[4] == "ATTENDEDTRANSFER":  # destination (2 or 3 fields)|holdtime|calltime|origposition
            talk = data[-2]
        else:  # exten|context|holdtime|calltime[|origposition]
            talk = data[3]
        before = [e for e in enters if int(e[0]) <= int(connect[0])]
        wait = int(before[-1][0]) - int(before[0][0]) + int(connect[5])
        return before[-1][2], wait, float(talk), connect[3], "served"
    end = next(f for f in lines if f[4] in ("ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY"))
    waittime = end[8] if end[4] == "EXITWITHKEY" else end[7]
    return enters[-1][2], float(waittime), 0.0, "", "abandoned"


def recorded(result: ImportResult) -> dict[str, TraceRecord]:
    return {r.call_id: r for r in result.records}


def test_without_a_cdr_each_finished_call_is_what_its_lines_say() -> None:
    result = import_queue_log(QUEUE_LOG)
    got = recorded(result)
    finished = {c for c, s in STORIES.items() if s not in ("unfinished", "malformed", "no_enter")}
    assert set(got) == finished
    for call_id in finished:
        queue, wait, talk, operator, outcome = expected_numbers(call_id)
        entered = dt.datetime.fromtimestamp(int(lines_of(call_id)[0][0]), MADRID)
        assert got[call_id] == TraceRecord(
            call_id=call_id,
            day=entered.date().isoformat(),
            arrival_s=wall_clock(entered),
            skill=queue,
            language="",
            priority=0,
            ivr_s=0.0,
            outcome=outcome,
            wait_s=wait,
            talk_s=talk,
            operator=operator,
        ), STORIES[call_id]
    assert result.by_outcome == Counter(r.outcome for r in got.values())
    assert result.calls == len(STORIES)


def test_an_overflowed_call_has_the_last_queues_skill_and_waits_from_the_first_enterqueue() -> None:
    (call_id,) = [c for c, s in STORIES.items() if s == "overflow"]
    enters = [f for f in lines_of(call_id) if f[4] == "ENTERQUEUE"]
    first_queue, last_queue = enters[0][2], enters[-1][2]
    assert first_queue != last_queue  # (the fixture overflows)
    result = import_queue_log(
        QUEUE_LOG, skill_map={first_queue: "first", last_queue: "second"}, priority_map={last_queue: 3}
    )
    record = recorded(result)[call_id]
    connect = next(f for f in lines_of(call_id) if f[4] == "CONNECT")
    assert (record.skill, record.priority) == ("second", 3)
    assert record.wait_s == int(enters[-1][0]) - int(enters[0][0]) + int(connect[5])
    assert record.wait_s > int(connect[5])
    # every other call: its queue through the same maps (unmapped queues keep their name, priority 0)
    mapping = {first_queue: "first", last_queue: "second"}
    plain = recorded(import_queue_log(QUEUE_LOG))
    assert {r.call_id: (r.skill, r.priority) for r in result.records} == {
        c: (mapping.get(r.skill, r.skill), 3 if r.skill == last_queue else 0) for c, r in plain.items()
    }
    assert {r.skill for r in plain.values()} - set(mapping)  # (some queue is left unmapped)


def test_bad_lines_and_unfinished_calls_are_bad_rows_naming_line_field_and_value() -> None:
    result = import_queue_log(QUEUE_LOG)
    bad = {b.call_id: b for b in result.bad}
    assert len(bad) == len(result.bad)  # one row per call left out
    lines = log_lines()
    (short_line, short) = next((n, f) for n, f in lines if len(f) < 5)
    assert (bad[short[1]].line, bad[short[1]].field) == (short_line, "line")
    (nan_line, nan) = next(
        (n, f) for n, f in lines if len(f) > 5 and f[4] == "CONNECT" and not f[5].isdigit()
    )
    assert (bad[nan[1]].line, bad[nan[1]].field, bad[nan[1]].value) == (nan_line, "holdtime", nan[5])
    for call_id in (c for c, s in STORIES.items() if s == "unfinished"):
        last_line, last = [(n, f) for n, f in lines if len(f) >= 5 and f[1] == call_id][-1]
        assert (bad[call_id].line, bad[call_id].value) == (last_line, last[4])
        assert bad[call_id].problem.startswith("no end in the log")
    (orphan,) = [c for c, s in STORIES.items() if s == "no_enter"]
    assert bad[orphan].field == "event" and "ENTERQUEUE" in bad[orphan].problem
    assert set(bad) == {c for c, s in STORIES.items() if s in ("unfinished", "malformed", "no_enter")}
    # the lines of those calls after the bad one are counted, not lost
    after = sum(1 for n, f in lines if len(f) >= 5 and f[1] in (short[1], nan[1]) and n > bad[f[1]].line)
    assert result.lines_of_bad_calls == after > 0


def test_unknown_and_member_events_are_ignored_and_counted_by_kind() -> None:
    result = import_queue_log(QUEUE_LOG)
    expected = Counter(f[4] for _, f in log_lines() if len(f) >= 5 and f[4] not in CALL_EVENTS)
    assert {"FOOBAR", "PAUSE", "QUEUESTART", "RINGNOANSWER"} <= set(expected)
    (transferred,) = [c for c in STORIES if c.startswith("pbx1-")]
    enters = [f for f in lines_of(transferred) if f[4] == "ENTERQUEUE"]
    expected["ENTERQUEUE after the call was served"] = len(enters) - 1
    assert result.ignored == expected
    assert result.lines == len(log_lines())


def test_with_the_cdr_arrival_is_its_start_and_ivr_the_time_to_the_first_enterqueue() -> None:
    result = import_queue_log(QUEUE_LOG, cdr=CDR, ivr_context=IVR)
    got = recorded(result)
    starts = {row[16]: row[9] for row in cdr_rows()}
    queued = {c for c, s in STORIES.items() if s not in ("unfinished", "malformed", "no_enter", "empty")}
    assert queued <= set(got)
    for call_id in queued:
        start = dt.datetime.strptime(starts[call_id], "%Y-%m-%d %H:%M:%S")
        entered = int(lines_of(call_id)[0][0])
        # a start in the hour repeated at the DST change is the reading within an hour before the call queued
        instants = {start.replace(tzinfo=MADRID, fold=fold).timestamp() for fold in (0, 1)}
        (at,) = [t for t in instants if 0 <= entered - t < 3600]
        queue, wait, talk, operator, outcome = expected_numbers(call_id)
        assert got[call_id] == TraceRecord(
            call_id, start.date().isoformat(), wall_clock(start), queue, "", 0, entered - at,
            outcome, wait, talk, operator,
        )  # fmt: skip
    (missing,) = [c for c, s in STORIES.items() if s == "empty"]
    assert missing not in starts
    assert [b.field for b in result.bad if b.call_id == missing] == ["uniqueid"]


def test_cdr_rows_of_callers_who_never_queued_in_the_ivr_context_are_ivr_hang_ups() -> None:
    named = {f[1] for _, f in log_lines() if len(f) > 1}
    rows = [row for row in cdr_rows() if row[16] not in named]
    ivr = [row for row in rows if row[3] == IVR and row[14] == "ANSWERED"]
    repeated = [row for row in ivr if row[9].startswith("2026-10-25 02:")]  # (the hour lived twice)
    assert ivr and repeated and len(rows) > len(ivr)
    result = import_queue_log(QUEUE_LOG, cdr=CDR, ivr_context=IVR)
    hang_ups = [r for r in result.records if r.outcome == "ivr_abandoned"]
    expected = []
    for row in ivr:
        if row in repeated:
            continue
        start = dt.datetime.strptime(row[9], "%Y-%m-%d %H:%M:%S")
        expected.append(
            TraceRecord(
                call_id=row[16], day=start.date().isoformat(), arrival_s=wall_clock(start), skill="",
                language="", priority=0, ivr_s=float(row[12]), outcome="ivr_abandoned", wait_s=0.0,
                talk_s=0.0, operator="",
            )
        )  # fmt: skip
    assert sorted(hang_ups, key=lambda r: r.call_id) == sorted(expected, key=lambda r: r.call_id)
    assert [(b.call_id, b.field) for b in result.bad if b.call_id in {r[16] for r in repeated}] == [
        (r[16], "cdr start") for r in repeated
    ]
    assert result.cdr_ignored.total() == len(rows) - len(ivr)
    assert result.cdr_rows == len(cdr_rows())
    # no IVR context given: no IVR hang-ups, and the rows are counted
    plain = import_queue_log(QUEUE_LOG, cdr=CDR)
    assert not [r for r in plain.records if r.outcome == "ivr_abandoned"]
    assert plain.cdr_ignored.total() == len(rows)


def test_a_call_at_0330_after_the_spring_forward_is_at_three_and_a_half_hours_of_local_clock() -> None:
    (call_id,) = [c for c in STORIES if c.startswith("1774747785")]
    entered = int(lines_of(call_id)[0][0])
    local = dt.datetime.fromtimestamp(entered, MADRID)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2026-03-29", 3, 30)
    midnight = dt.datetime.combine(local.date(), dt.time(), MADRID).timestamp()
    assert entered - midnight == 2.5 * 3600  # (only two and a half hours had passed: 02:00 was skipped)
    record = recorded(import_queue_log(QUEUE_LOG))[call_id]
    assert (record.day, record.arrival_s) == ("2026-03-29", 3.5 * 3600)
    # the same instant seen from UTC is another clock reading: the zone is applied
    utc = recorded(import_queue_log(QUEUE_LOG, tz="UTC"))[call_id]
    assert utc.arrival_s == wall_clock(dt.datetime.fromtimestamp(entered, dt.UTC)) != record.arrival_s


def test_a_cdr_written_in_utc_gives_the_same_records_with_cdr_tz_utc(tmp_path: Path) -> None:
    rows = cdr_rows()
    converted = [
        [*row[:9], dt.datetime.strptime(row[9], "%Y-%m-%d %H:%M:%S").replace(tzinfo=MADRID).astimezone(dt.UTC)
         .strftime("%Y-%m-%d %H:%M:%S"), *row[10:]]
        for row in rows
        if not row[9].startswith("2026-10-25 02:")  # (a reading of the repeated hour has no single UTC one)
    ]  # fmt: skip
    assert 0 < len(converted) < len(rows)
    utc_cdr = tmp_path / "Master-utc.csv"
    with utc_cdr.open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(converted)
    local = recorded(import_queue_log(QUEUE_LOG, cdr=CDR, ivr_context=IVR))
    utc = recorded(import_queue_log(QUEUE_LOG, cdr=utc_cdr, ivr_context=IVR, cdr_tz="UTC"))
    left_out = {row[16] for row in rows} - {row[16] for row in converted}
    assert utc == {c: r for c, r in local.items() if c not in left_out}


def test_a_cdr_without_the_uniqueid_column_is_refused_naming_the_file(tmp_path: Path) -> None:
    short = tmp_path / "Master.csv"
    with short.open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(row[:16] for row in cdr_rows())
    with pytest.raises(ConfigError) as err:
        import_queue_log(QUEUE_LOG, cdr=short)
    assert (err.value.file, err.value.field) == (str(short), "uniqueid")
    assert "cannot be matched" in err.value.problem
    # 17 columns, the 17th a userfield (loguniqueid off, loguserfield on): refused as well
    userfield = tmp_path / "userfield.csv"
    with userfield.open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows([*row[:16], "vip"] for row in cdr_rows())
    with pytest.raises(ConfigError) as err:
        import_queue_log(QUEUE_LOG, cdr=userfield)
    assert (err.value.file, err.value.field) == (str(userfield), "uniqueid")


def test_import_then_write_then_read_gives_the_same_records(tmp_path: Path) -> None:
    result = import_queue_log(QUEUE_LOG, cdr=CDR, ivr_context=IVR)
    path = tmp_path / "trace.csv"
    assert write_trace(result.records, path) == len(result.records) > 0
    trace = read_trace(path)
    assert trace.bad_rows == ()
    assert list(trace.records) == result.records


def numbers_in_the_fixtures() -> set[str]:
    """The callers' numbers: the CDR's src and the number in its clid, ENTERQUEUE's caller id."""
    numbers = {row[1] for row in cdr_rows()} | {re.sub(r".*<(\d+)>.*", r"\1", row[4]) for row in cdr_rows()}
    numbers |= {f[6] for _, f in log_lines() if len(f) > 6 and f[4] == "ENTERQUEUE"}
    return {n for n in numbers if n}


def test_the_cli_writes_a_trace_with_no_callers_number_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site.csv"
    argv = ["import", str(QUEUE_LOG), "--cdr", str(CDR), "--ivr-context", IVR, "--out", str(out)]
    assert main([*argv, "--skill-map", "info=info,tramits=procedures", "--priority-map", "tributs=2"]) == 0
    printed = capsys.readouterr().out
    expected = import_queue_log(
        QUEUE_LOG, cdr=CDR, ivr_context=IVR, skill_map={"tramits": "procedures"}, priority_map={"tributs": 2}
    )
    trace = read_trace(out)
    assert list(trace.records) == expected.records and trace.bad_rows == ()
    assert f"{len(expected.records)} records written" in printed
    for field, n in Counter(b.field for b in expected.bad).items():
        assert f"{field} {n}" in printed
    text = out.read_text()
    numbers = numbers_in_the_fixtures()
    assert len(numbers) >= 10 and all(len(n) >= 9 for n in numbers)
    assert [n for n in numbers if n in text] == []
    assert [n for n in numbers if n in printed] == []


def test_trace_info_prints_the_days_and_their_calls_by_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site.csv"
    assert main(["import", str(QUEUE_LOG), "--cdr", str(CDR), "--ivr-context", IVR, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    records = read_trace(out).records
    for day in {r.day for r in records}:
        counts = Counter(r.outcome for r in records if r.day == day)
        (row,) = [line for line in printed if line.startswith(day)]
        assert row.split()[1:] == [str(sum(counts.values()))] + [
            str(counts[o]) for o in ("served", "abandoned", "ivr_abandoned")
        ]
    assert f"{len({r.day for r in records})} days" in printed[0]


def test_trace_info_shows_twenty_bad_rows_then_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    good = "c0,2026-03-02,36000,info,,0,0,served,30,180,PJSIP/1001"
    bad = [f"c{i},2026-03-02,36000,info,,0,0,served,-{i},180,PJSIP/1001" for i in range(1, 26)]
    path.write_text("\n".join([",".join(COLUMNS), good, *bad]) + "\n")
    assert main(["info", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("wait_s") == 20
    assert f"... and {len(bad) - 20} more" in printed
    assert "bad rows: 25" in printed


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--skill-map", "info"], "--skill-map"),
        (["--skill-map", "info=a,info=b"], "--skill-map"),
        (["--priority-map", "info=high"], "--priority-map"),
        (["--tz", "Mars/Olympus"], "--tz"),
        (["--cdr-tz", "nowhere"], "--cdr-tz"),
        (["--ivr-context", IVR], "--ivr-context"),  # (without --cdr)
        (["--cdr", "/nonexistent/Master.csv"], "--cdr"),
    ],
)
def test_a_bad_option_is_a_config_error_naming_it(tmp_path: Path, extra: list[str], flag: str) -> None:
    with pytest.raises(ConfigError) as err:
        main(["import", str(QUEUE_LOG), "--out", str(tmp_path / "t.csv"), *extra])
    assert err.value.field == flag
    assert flag in str(err.value)


def test_a_bad_output_or_input_path_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        main(["import", str(QUEUE_LOG), "--out", str(tmp_path / "no" / "t.csv")])
    assert err.value.field == "--out"
    with pytest.raises(ConfigError) as err:
        main(["import", str(tmp_path / "queue_log"), "--out", str(tmp_path / "t.csv")])
    assert err.value.field == "QUEUE_LOG"


def test_the_records_keep_the_trace_formats_order() -> None:
    records = import_queue_log(QUEUE_LOG, cdr=CDR, ivr_context=IVR).records
    assert len({r.day for r in records}) > 1
    assert records == sorted(records, key=lambda r: (r.day, r.arrival_s, r.call_id))


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("ABANDON", ["3", "4", "{w}"]),  # position|origposition|waittime
        ("EXITWITHTIMEOUT", ["1", "1", "{w}"]),
        ("EXITEMPTY", ["2", "2", "{w}"]),
        ("EXITWITHKEY", ["9", "1", "1", "{w}"]),  # key|position|origposition|waittime
        ("WITHDRAW", ["1", "1", "{w}", "callback"]),  # position|origposition|waittime|info
    ],
)
def test_every_event_that_ends_a_wait_without_an_operator_is_an_abandon_with_its_waittime(
    tmp_path: Path, event: str, data: list[str]
) -> None:
    entered, waittime = 1_772_460_000, 47
    log = tmp_path / "queue_log"
    log.write_text(
        f"{entered}|1772459990.1|info|NONE|ENTERQUEUE||699111222|1\n"
        f"{entered + waittime}|1772459990.1|info|NONE|{event}|{'|'.join(data).format(w=waittime)}\n"
    )
    (record,) = import_queue_log(log).records
    assert (record.outcome, record.wait_s, record.talk_s, record.operator) == ("abandoned", waittime, 0, "")


def test_a_cdr_export_with_a_header_row_reads_as_master_csv(tmp_path: Path) -> None:
    names = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata"]
    names += [
        "start",
        "answer",
        "end",
        "duration",
        "billsec",
        "disposition",
        "amaflags",
        "uniqueid",
        "userfield",
    ]
    export = tmp_path / "cdr.csv"
    with export.open("w", newline="") as f:
        csv.writer(f).writerows([names, *cdr_rows()])
    positional = import_queue_log(QUEUE_LOG, cdr=CDR, ivr_context=IVR)
    with_header = import_queue_log(QUEUE_LOG, cdr=export, ivr_context=IVR)
    assert with_header.records == positional.records
    # (a CDR bad row is one line further down: the header is line 1)
    assert [(b.line - 1 if b.field.startswith("cdr") else b.line, b.field) for b in with_header.bad] == [
        (b.line, b.field) for b in positional.bad
    ]


def test_the_import_summary_lists_the_bad_rows_with_their_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(QUEUE_LOG), "--cdr", str(CDR), "--out", str(tmp_path / "t.csv")]) == 0
    printed = capsys.readouterr().out
    bad = import_queue_log(QUEUE_LOG, cdr=CDR).bad
    assert bad
    for b in bad:
        where = "CDR" if b.field.startswith("cdr") else "queue_log"
        assert f"{where} line {b.line} call {b.call_id}: {b.field} {b.value!r}: {b.problem}" in printed
