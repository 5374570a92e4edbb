# The trace format of our own (sim/tracefile.py): round trips, every kind of bad row, a wrong
# file, and the bundled bank month mapped into it (counts derived from the bundled CSV with
# plain csv code, not from the module under test).
from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactcenter.config import ConfigError
from contactcenter.sim.trace import TRACE
from contactcenter.sim.tracefile import COLUMNS, TraceRecord, bank_trace, read_trace, write_trace

seconds = st.floats(0, 86_399, allow_nan=False, allow_infinity=False)
durations = st.floats(0, 10_000, allow_nan=False, allow_infinity=False)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


@st.composite
def records(draw: st.DrawFn) -> TraceRecord:
    outcome = draw(st.sampled_from(["served", "abandoned", "ivr_abandoned"]))
    served = outcome == "served"
    return TraceRecord(
        call_id=draw(st.text("abcxyz0123456789-/#", min_size=1, max_size=10)),
        day=draw(st.dates()).isoformat(),
        arrival_s=draw(seconds),
        skill=draw(text) if outcome == "ivr_abandoned" else draw(text.filter(bool)),
        language=draw(st.sampled_from(["", "ca", "es", "en"])),
        priority=draw(st.integers(-5, 5)),
        ivr_s=draw(durations),
        outcome=outcome,
        wait_s=0.0 if outcome == "ivr_abandoned" else draw(durations),
        talk_s=draw(durations) if served else 0.0,
        operator=draw(text) if served else "",
    )


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(records(), max_size=20, unique_by=lambda r: r.call_id))
def test_a_trace_reads_back_as_it_was_written(
    tmp_path_factory: pytest.TempPathFactory, rows: list[TraceRecord]
) -> None:
    path = tmp_path_factory.mktemp("t") / "trace.csv"
    assert write_trace(rows, path) == len(rows)
    trace = read_trace(path)
    assert trace.bad_rows == ()
    assert trace.records == tuple(sorted(rows, key=lambda r: (r.day, r.arrival_s, r.call_id)))


GOOD = "c1,2026-03-02,36000,info,ca,0,12.5,served,30,180,ana"
BAD_ROWS = [  # (row, field at fault)
    ("c2,2026-03-02,-5,info,ca,0,12,served,30,180,ana", "arrival_s"),
    ("c3,2026-03-02,36000,info,ca,0,-1,abandoned,30,0,", "ivr_s"),
    ("c4,2026-03-02,36000,info,ca,0,12,abandoned,nan,0,", "wait_s"),
    ("c5,2026-03-02,36000,info,ca,0,12,served,30,-180,ana", "talk_s"),
    ("c6,2026-02-30,36000,info,ca,0,12,served,30,180,ana", "date"),
    ("c7,2026-03-02,36000,info,ca,x,12,served,30,180,ana", "priority"),
    ("c8,2026-03-02,36000,info,ca,0,12,hung_up,30,0,", "outcome"),
    ("c9,2026-03-02,36000,,ca,0,12,served,30,180,ana", "skill"),
    ("c10,2026-03-02,36000,info,ca,0,12,abandoned,30,55,", "talk_s"),
    ("c11,2026-03-02,36000,info,ca,0,12,ivr_abandoned,30,0,", "wait_s"),
    ("c1,2026-03-02,37000,info,ca,0,12,served,30,180,ana", "call_id"),  # a repeated id
    ("c12,2026-03-02,36000,info", "row"),
    (",2026-03-02,36000,info,ca,0,12,served,30,180,ana", "call_id"),
]


def test_each_bad_row_is_reported_with_its_line_and_field_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    lines = [",".join(COLUMNS), GOOD, *(row for row, _ in BAD_ROWS), GOOD.replace("c1,", "c99,")]
    path.write_text("\n".join(lines) + "\n")
    trace = read_trace(path)
    assert [r.call_id for r in trace.records] == ["c1", "c99"]
    assert [(b.line, b.field) for b in trace.bad_rows] == [(i + 3, f) for i, (_, f) in enumerate(BAD_ROWS)]
    assert all(b.problem for b in trace.bad_rows)


def test_a_wrong_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("call_id,date,arrival_s\nc1,2026-03-02,5\n")
    with pytest.raises(ConfigError) as e:
        read_trace(path)
    assert e.value.field == "header" and "skill" in e.value.problem
    with pytest.raises(ConfigError, match="cannot read"):
        read_trace(tmp_path / "nope.csv")


def _bank_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(TRACE.read_bytes()).decode())))


def test_the_bank_month_maps_into_the_format() -> None:
    rows = _bank_rows()
    negative = [r for r in rows if min(int(r["vru_time"]), int(r["q_time"]), int(r["ser_time"])) < 0]
    kept = [r for r in rows if r not in negative]
    trace = bank_trace()
    assert len(trace.records) == len(kept) and len(negative) > 0
    assert {(b.field, b.value) for b in trace.bad_rows} == {("negative_duration", str(len(negative)))}
    outcomes = Counter(r.outcome for r in trace.records)
    assert outcomes["served"] == sum(r["outcome"] == "AGENT" for r in kept)
    assert outcomes["ivr_abandoned"] == sum(
        r["outcome"] != "AGENT" and r["q_start"] == "0:00:00" for r in kept
    )
    assert len({r.call_id for r in trace.records}) == len(trace.records)  # made unique
    assert trace.days() == sorted({r["date"] for r in kept})
    served_by = Counter(r.operator for r in trace.records if r.served)
    # (The bank has served calls with NO_SERVER: the operator unknown, "".)
    assert served_by == Counter(
        "" if r["server"] == "NO_SERVER" else r["server"] for r in kept if r["outcome"] == "AGENT"
    )
    assert all(r.operator == "" and r.talk_s == 0 for r in trace.records if not r.served)
    assert {r.language for r in trace.records} == {"", "en"}


def test_a_day_the_trace_lacks_is_an_error() -> None:
    trace = bank_trace()
    first = trace.days()[0]
    assert {r.day for r in trace.select([first])} == {first}
    with pytest.raises(ConfigError, match="not a day of the trace") as e:
        trace.select(["2031-01-01"])
    assert e.value.field == "--date" and e.value.value == "2031-01-01"
