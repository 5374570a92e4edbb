# The records writer on real SQLite files, fed by a real core's read model (centre.py).
# What it must keep: one row per ended call with its times, IVR path, operator and outcome;
# a queue_log-like event per change, in order; operators' time in each state as the core
# counts it; finished callbacks with their own delay; never a phone number; everything on a
# clean stop, nothing older than the retention; and, when the file cannot be written, the
# rows kept and retried, within the bound, never an exception into the call handling.
from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from contactcenter.config import RecordsConfig
from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome, OperatorState
from contactcenter.core.readmodel import Change, OperatorChanged
from contactcenter.records import RecordsError, RecordsWriter
from contactcenter.records.store import CALL_COLUMNS, END_KINDS, SCHEMA_VERSION, RowBuilder
from tests.records.centre import EPOCH, HOURS, NUMBER, STOP_AT, WRAP_UP_S, Centre, drive

TABLES = ("calls", "events", "callbacks", "operator_states")


class Feed:
    """Keeps what the core told its observers, to derive what the records must hold."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        self.changes += changes

    def callbacks_completed(self, callbacks: Sequence[Callback]) -> None:
        pass


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read the file directly, as another process would (not through our code)."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql, params)]
    finally:
        db.close()


def count(path: Path, table: str) -> int:
    return int(rows(path, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def writer_for(
    path: Path, counters: Counter[str] | None = None, *, epoch: float = EPOCH, **kw: Any
) -> RecordsWriter:
    return RecordsWriter(
        RecordsConfig(path=path, retention_days=kw.pop("retention_days", 400)),
        epoch=epoch,
        counters=Counter() if counters is None else counters,
        hours=HOURS,
        wrap_up_s=WRAP_UP_S,
        **kw,
    )


async def recorded(path: Path, **kw: Any) -> tuple[Centre, Feed, Counter[str]]:
    """The drive of centre.py recorded in `path`, the writer stopped at its end."""
    counters: Counter[str] = Counter()
    writer = writer_for(path, counters, **kw)
    await writer.start()
    feed = Feed()
    centre = drive([writer, feed])
    await writer.stop(STOP_AT)
    return centre, feed, counters


def wall(t: float | None) -> float | None:
    return None if t is None else EPOCH + t


# --- what is written ------------------------------------------------------------------------


async def test_every_ended_call_is_one_row_with_its_times_path_operator_and_outcome(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    centre, _, counters = await recorded(path)
    assert {c.outcome for c in centre.calls} == set(CallOutcome)  # the drive has every outcome
    got = {r["call_id"]: r for r in rows(path, "SELECT * FROM calls")}
    assert sorted(got) == sorted(c.call_id for c in centre.calls)
    for call in centre.calls:
        assert call.ended_at is not None and call.outcome is not None
        expected = {
            "arrived_at": wall(call.arrived_at),
            "queued_at": wall(call.queued_at),
            "offered_at": wall(call.offered_at),
            "answered_at": wall(call.answered_at),
            "ended_at": wall(call.ended_at),
            "skill": call.skill,
            "language": call.language,
            "ivr_path": None if call.skill is None else f"{call.language}/{call.skill}",
            "operator_id": call.operator_id,
            "wait_s": call.wait,
            "talk_s": None if call.answered_at is None else call.ended_at - call.answered_at,
            "outcome": call.outcome.value,
            "callback_offered": int(call.callback_offered),
            "callback_id": call.callback_id,
        }
        assert {k: got[call.call_id][k] for k in expected} == expected, call.call_id
    assert counters["records_written"] == sum(count(path, t) for t in TABLES)
    assert counters["records_failed"] == counters["records_write_errors"] == 0


async def test_events_tell_each_call_s_story_in_order_like_queue_log(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    centre, feed, _ = await recorded(path)
    events = rows(path, "SELECT * FROM events ORDER BY seq")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    # The drive's story (centre.py): c2 rang pau, who did not answer, and went back to its queue.
    story = {
        "c1": ["ARRIVED", "QUEUED", "RINGING", "ANSWERED"],
        "c2": ["ARRIVED", "QUEUED", "RINGING", "REQUEUED", "RINGING", "ANSWERED"],
        "c3": ["ARRIVED"],
        "c4": [],
        "c5": ["ARRIVED", "QUEUED", "CALLBACK_CONFIRMED"],
        "c6": ["ARRIVED", "QUEUED"],
        "c7": [],
    }
    for call in centre.calls:
        assert call.outcome is not None
        kinds = [e["kind"] for e in events if e["call_id"] == call.call_id and e["kind"] != "OPERATOR_STATE"]
        assert kinds == [*story[call.call_id], END_KINDS[call.outcome]], call.call_id
        last = [e for e in events if e["call_id"] == call.call_id][-1]
        assert (last["at"], last["reason"]) == (wall(call.ended_at), call.outcome.value)
    # Every operator change the core reported, with its reason, at its time.
    moves = [c for c in feed.changes if isinstance(c, OperatorChanged)]
    assert [
        (e["at"], e["operator_id"], e["state"], e["reason"]) for e in events if e["kind"] == "OPERATOR_STATE"
    ] == [(wall(m.at), m.operator_id, m.state.value, m.reason) for m in moves]
    cb_states = [e["state"] for e in events if e["kind"] == "CALLBACK"]
    assert cb_states[-1] == centre.callbacks[0].state.value


async def test_operators_time_in_each_state_is_the_core_s_own_count(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    centre, feed, _ = await recorded(path)
    for op in centre.engine.operators.values():
        expected = dict(op.time_in)
        expected[op.state] += STOP_AT - op.since  # the stop ends the state they are in
        got = {
            r["state"]: r["s"]
            for r in rows(
                path,
                "SELECT state, SUM(until - since) AS s FROM operator_states"
                " WHERE operator_id = ? GROUP BY state",
                (op.operator_id,),
            )
        }
        want = {s.value: t for s, t in expected.items() if t and s is not OperatorState.LOGGED_OUT}
        assert got == pytest.approx(want), op.operator_id
    pauses = [c for c in feed.changes if isinstance(c, OperatorChanged) and c.state is OperatorState.PAUSED]
    paused = rows(
        path, "SELECT operator_id, reason, since FROM operator_states WHERE state = 'paused' ORDER BY since"
    )
    assert paused == [{"operator_id": p.operator_id, "reason": p.reason, "since": wall(p.at)} for p in pauses]
    assert {p["reason"] for p in paused} == {"no-answer", "break"}


async def test_finished_callbacks_with_their_own_delay_and_no_number(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    centre, _, _ = await recorded(path)
    (cb,) = centre.callbacks
    (row,) = rows(path, "SELECT * FROM callbacks")
    expected = {
        "callback_id": cb.callback_id,
        "call_id": cb.call_id,
        "skill": cb.skill,
        "state": cb.state.value,
        "attempts": cb.attempts,
        "requested_at": wall(cb.requested_at),
        "answered_at": wall(cb.answered_at),
        "delay_s": cb.time_to_serve,
        "wait_total_s": cb.time_from_queue,
    }
    assert {k: row[k] for k in expected} == expected
    assert cb.number_key == NUMBER  # (the core had it: the records must not)


async def test_no_phone_number_anywhere_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    await recorded(path)
    run = re.compile(r"\d{6,}")
    for table in TABLES:
        for row in rows(path, f"SELECT * FROM {table}"):
            texts = [v for v in row.values() if isinstance(v, str)]
            assert not [t for t in texts if run.search(t)], (table, row)
    digits = NUMBER.lstrip("+").encode()
    assert digits[-9:] not in path.read_bytes()


async def test_meta_says_how_to_read_the_file(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    await recorded(path)
    meta = {r["key"]: r["value"] for r in rows(path, "SELECT key, value FROM meta")}
    assert (meta["source"], meta["tz"], float(meta["wrap_up_s"])) == ("live", HOURS.tz.key, WRAP_UP_S)  # type: ignore[attr-defined]
    assert rows(path, "SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
    assert rows(path, "PRAGMA journal_mode") == [{"journal_mode": "wal"}]
    assert path.stat().st_mode & 0o777 == 0o600


# --- when it is written ---------------------------------------------------------------------


async def test_a_clean_stop_writes_everything_still_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    counters: Counter[str] = Counter()
    # A writer that would never commit on its own before the stop.
    writer = writer_for(path, counters, flush_every_s=3600, batch_rows=10**9)
    await writer.start()
    centre = drive([writer])
    await asyncio.sleep(0.05)
    assert count(path, "calls") == 0 and writer.backlog > 0
    waiting = writer.backlog
    await writer.stop(STOP_AT)
    assert count(path, "calls") == len(centre.calls)
    assert counters["records_written"] == sum(count(path, t) for t in TABLES) >= waiting
    assert writer.backlog == 0


async def test_rows_are_committed_while_calls_go_on_not_only_at_the_stop(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    counters: Counter[str] = Counter()
    writer = writer_for(path, counters, flush_every_s=0.05)
    await writer.start()
    centre = drive([writer])
    deadline = time.monotonic() + 5
    while count(path, "calls") < len(centre.calls) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert count(path, "calls") == len(centre.calls)
    await writer.stop(STOP_AT)


async def test_a_locked_file_keeps_the_rows_and_writes_them_when_it_can(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    counters: Counter[str] = Counter()
    writer = writer_for(path, counters, flush_every_s=0.05, busy_timeout=0.05)
    await writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    centre = drive([writer])
    deadline = time.monotonic() + 5
    while not counters["records_write_errors"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert counters["records_write_errors"] >= 1 and writer.backlog > 0
    other.execute("ROLLBACK")
    other.close()
    await writer.stop(STOP_AT)
    assert count(path, "calls") == len(centre.calls)
    assert counters["records_failed"] == 0


async def test_the_backlog_is_bounded_and_what_it_drops_is_counted(tmp_path: Path) -> None:
    _, _, unbounded = await recorded(tmp_path / "all.sqlite")
    every = unbounded["records_written"]
    bound = every // 3
    counters: Counter[str] = Counter()
    writer = writer_for(tmp_path / "bounded.sqlite", counters, max_backlog=bound)
    drive([writer])  # not started: nothing can be written yet
    assert writer.backlog <= bound
    await writer.start()
    await writer.stop(STOP_AT)
    assert 0 < counters["records_written"] <= bound
    assert counters["records_written"] + counters["records_failed"] == every


async def test_observing_never_raises_a_bad_fact_is_counted_and_the_rest_written(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    counters: Counter[str] = Counter()
    writer = writer_for(path, counters)
    await writer.start()
    not_over = Call("c-live", 1.0)  # still in the system: no end, no outcome
    writer.observe(2.0, [], [not_over])
    centre = drive([writer])
    await writer.stop(STOP_AT)
    assert counters["records_failed"] == 1
    assert count(path, "calls") == len(centre.calls)


# --- retention and reopening ------------------------------------------------------------------


async def test_retention_deletes_only_rows_older_than_it(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    days = 400
    now = time.time()
    # The same centre recorded long ago and recently (the file keeps everything at first).
    for epoch in (now - (days + 100) * 86_400, now - 10 * 86_400):
        writer = writer_for(path, epoch=epoch, retention_days=36_500)
        await writer.start()
        drive([writer])
        await writer.stop(STOP_AT)
    cutoff = now - days * 86_400
    columns = {
        "calls": "arrived_at",
        "events": "at",
        "callbacks": "waiting_since",
        "operator_states": "until",
    }
    before = {t: count(path, t) for t in TABLES}
    kept = {t: len(rows(path, f"SELECT 1 FROM {t} WHERE {c} >= ?", (cutoff,))) for t, c in columns.items()}
    assert all(0 < kept[t] < before[t] for t in TABLES)  # (both recordings in every table)
    writer = writer_for(path, retention_days=days)
    await writer.start()
    await writer.stop()
    assert {t: count(path, t) for t in TABLES} == kept


async def test_a_writer_reopening_a_file_continues_its_event_sequence(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    await recorded(path)
    first = count(path, "events")
    await recorded(path)
    seqs = [r["seq"] for r in rows(path, "SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, 2 * first + 1))


async def test_a_file_that_cannot_be_records_is_a_records_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "records.sqlite"
    with pytest.raises(RecordsError, match=re.escape(str(missing))):
        await writer_for(missing).start()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RecordsError, match=re.escape(str(garbage))):
        await writer_for(garbage).start()
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(RecordsError, match="schema version"):
        await writer_for(other).start()


@pytest.mark.parametrize("told", [math.inf, 42.0])
def test_an_estimate_is_kept_but_no_estimate_is_none_not_infinity(told: float) -> None:
    call = Call("c", 0.0)
    call.queued_at, call.ended_at, call.outcome = 1.0, 5.0, CallOutcome.ABANDONED
    call.ewt_at_entry = told  # math.inf: "no estimate" (nobody staffed)
    builder = RowBuilder(EPOCH)
    builder.add_calls([call])
    (row,) = builder.batch.calls
    assert dict(zip(CALL_COLUMNS, row, strict=True))["ewt_at_entry_s"] == (
        told if math.isfinite(told) else None
    )


@pytest.mark.parametrize(
    "tz",
    [dt.timezone(dt.timedelta(hours=1)), dt.timezone(-dt.timedelta(hours=3, minutes=30)), dt.UTC],
)
def test_a_fixed_offset_time_zone_is_kept_by_its_offset(tz: dt.tzinfo) -> None:
    from contactcenter.records.store import tz_from_name, tz_name

    back = tz_from_name(tz_name(tz))
    when = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    assert back.utcoffset(when) == tz.utcoffset(when)


async def test_a_gap_in_what_the_controller_heard_is_marked_with_each_call_it_ended(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    counters: Counter[str] = Counter()
    writer = writer_for(path, counters)
    await writer.start()
    lost = ["c-1", "c-7", "c-9"]
    writer.link_gap(EPOCH + 100.0, EPOCH + 112.5, lost)
    await writer.stop(STOP_AT)
    got = rows(path, "SELECT seq, at, kind, call_id, reason FROM events ORDER BY seq")
    assert [(r["at"], r["kind"], r["call_id"]) for r in got] == [
        (EPOCH + 100.0, "AMI_LINK_DOWN", None),
        (EPOCH + 112.5, "AMI_LINK_UP", None),
        *((EPOCH + 112.5, "GAP_ENDED", call_id) for call_id in lost),
    ]
    assert got[1]["reason"] == f"{len(lost)} calls ended in the gap"
    assert counters["records_failed"] == 0
