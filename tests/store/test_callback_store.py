# The callback store on real SQLite files (no mock of sqlite anywhere). What it must keep:
# every field as written; queue order; at most one live attempt; numbers only while open
# (gone from the file too); every callback `add` returned for still there after the writer
# is killed; and a StoreError naming the file whenever it cannot write (read-only file or
# directory, not a database, locked, full); a booking never beyond its slot's capacity, even
# when two stores on the file book at once. Processes of their own (child.py) are killed,
# run without root's override of file modes, or run under a file-size limit.
from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from contactcenter.store import (
    Attempt,
    AttemptOutcome,
    CallbackConflict,
    CallbackRecord,
    CallbackState,
    SlotFull,
    SqliteCallbackStore,
    StoreError,
    new_callback_id,
)
from tests.store.child import record

CHECKOUT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def child(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "tests.store.child", *map(str, args)],
        cwd=CHECKOUT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_child(*args: object) -> str:
    proc = child(*args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def counts(**nonzero: int) -> dict[str, int]:
    return {state.value: nonzero.get(state.value, 0) for state in CallbackState}


def full_record() -> CallbackRecord:
    """A record with no field left at None, so a round trip shows every value."""
    return dataclasses.replace(
        record(7),
        priority=3,
        due_at=T0 + 3600.5,
        attempts=2,
        next_attempt_at=T0 + 900.25,
        last_outcome=AttemptOutcome.BUSY,
        operator_id="op-7",
    )


async def test_a_record_comes_back_with_every_field(tmp_path: Path) -> None:
    written = full_record()
    assert all(getattr(written, f.name) is not None for f in dataclasses.fields(written))
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(written)
        assert await store.get(written.callback_id) == written
        assert await store.pending() == [written]
        assert await store.get("cb-000000000000") is None
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        assert await store.get(written.callback_id) == written
        await store.finish(written.callback_id, CallbackState.EXPIRED, T0 + 7200)
        assert await store.get(written.callback_id) == dataclasses.replace(
            written, number=None, state=CallbackState.EXPIRED, next_attempt_at=None, updated_at=T0 + 7200
        )


async def test_pending_is_in_queue_order_and_leaves_out_final_callbacks(tmp_path: Path) -> None:
    rng = random.Random(8)
    records = [
        dataclasses.replace(
            record(i),
            priority=rng.choice((0, 0, 1, 5)),
            arrived_at=T0 + rng.randrange(10),  # many equal arrivals: queue_seq decides
            queue_seq=rng.randrange(1_000_000),
        )
        for i in range(60)
    ]
    finished = set(rng.sample([r.callback_id for r in records], 15))
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        for r in rng.sample(records, len(records)):
            await store.add(r)
        for callback_id in finished:
            await store.finish(callback_id, CallbackState.CANCELLED, T0 + 60)
        dialling = next(r for r in records if r.callback_id not in finished)
        await store.start_attempt(dialling.callback_id, "op-1", T0 + 70)
        pending = await store.pending()
    expected = sorted(
        (r for r in records if r.callback_id not in finished),
        key=lambda r: (-r.priority, r.arrived_at, r.queue_seq),
    )
    assert [r.callback_id for r in pending] == [r.callback_id for r in expected]
    assert {r.state for r in pending} == {CallbackState.PENDING, CallbackState.DIALLING}


async def test_find_open_finds_an_open_callback_for_the_same_number_and_skill(tmp_path: Path) -> None:
    first = dataclasses.replace(record(1), number_key="k1", skill="info", priority=0, arrived_at=T0 + 5)
    earlier = dataclasses.replace(record(2), number_key="k1", skill="info", priority=0, arrived_at=T0 + 1)
    other_skill = dataclasses.replace(record(3), number_key="k1", skill="tributs")
    other_number = dataclasses.replace(record(4), number_key="k2", skill="info")
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        assert await store.find_open("k1", "info") is None
        for r in (first, other_skill, other_number):
            await store.add(r)
        assert await store.find_open("k1", "info") == first
        await store.add(earlier)
        assert await store.find_open("k1", "info") == earlier  # the first in queue order
        await store.start_attempt(earlier.callback_id, "op-1", T0 + 10)
        found = await store.find_open("k1", "info")
        assert found is not None and found.callback_id == earlier.callback_id  # dialling is open
        await store.finish(earlier.callback_id, CallbackState.COMPLETED, T0 + 20, AttemptOutcome.ANSWERED)
        await store.finish(first.callback_id, CallbackState.CANCELLED, T0 + 20)
        assert await store.find_open("k1", "info") is None
        assert await store.find_open("k1", "tributs") == other_skill
        assert await store.find_open("k2", "info") == other_number


async def test_attempts_are_numbered_and_only_one_is_live(tmp_path: Path) -> None:
    cb = record(1)
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(cb)
        assert await store.start_attempt(cb.callback_id, "op-1", T0 + 10) == 1
        with pytest.raises(CallbackConflict, match="dialling after 1 attempt"):
            await store.start_attempt(cb.callback_id, "op-2", T0 + 11)
        with pytest.raises(CallbackConflict):
            await store.end_attempt(cb.callback_id, 2, AttemptOutcome.BUSY, T0 + 12, T0 + 600)
        await store.end_attempt(cb.callback_id, 1, AttemptOutcome.NO_ANSWER, T0 + 40, T0 + 640)
        with pytest.raises(CallbackConflict):  # it ended already
            await store.end_attempt(cb.callback_id, 1, AttemptOutcome.NO_ANSWER, T0 + 41, T0 + 640)
        again = await store.get(cb.callback_id)
        assert again is not None
        assert again == dataclasses.replace(
            cb,
            state=CallbackState.PENDING,
            attempts=1,
            next_attempt_at=T0 + 640,
            last_outcome=AttemptOutcome.NO_ANSWER,
            operator_id="op-1",
            updated_at=T0 + 40,
        )
        assert await store.start_attempt(cb.callback_id, "op-2", T0 + 650) == 2
        await store.end_attempt(cb.callback_id, 2, AttemptOutcome.ANSWERED, T0 + 660, None)
        answered = await store.get(cb.callback_id)
        assert answered is not None and answered.state is CallbackState.DIALLING
        assert answered.next_attempt_at is None
        await store.finish(cb.callback_id, CallbackState.COMPLETED, T0 + 900)
        tried = [
            (1, "op-1", 10, 40, AttemptOutcome.NO_ANSWER),
            (2, "op-2", 650, 660, AttemptOutcome.ANSWERED),
        ]
        assert await store.attempts(cb.callback_id) == [
            Attempt(
                callback_id=cb.callback_id, n=n, operator_id=op, started_at=T0 + t, ended_at=T0 + e, outcome=o
            )
            for n, op, t, e, o in tried
        ]
        done = await store.get(cb.callback_id)
        assert done is not None
        assert (done.state, done.number, done.last_outcome) == (
            CallbackState.COMPLETED,
            None,
            AttemptOutcome.ANSWERED,
        )
        with pytest.raises(CallbackConflict, match="completed after 2 attempt"):
            await store.start_attempt(cb.callback_id, "op-3", T0 + 1000)
        with pytest.raises(CallbackConflict, match="no such callback"):
            await store.start_attempt("cb-ffffffffffff", "op-3", T0 + 1000)
        assert await store.attempts("cb-ffffffffffff") == []


@pytest.mark.parametrize("outcome", [o for o in AttemptOutcome if o is not AttemptOutcome.ANSWERED])
async def test_an_unanswered_attempt_of_any_outcome_is_retried(
    tmp_path: Path, outcome: AttemptOutcome
) -> None:
    cb = record(1)
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(cb)
        await store.start_attempt(cb.callback_id, "op-1", T0 + 10)
        await store.end_attempt(cb.callback_id, 1, outcome, T0 + 40, T0 + 640)
        [attempt] = await store.attempts(cb.callback_id)
        assert attempt.outcome is outcome
        assert await store.pending() == [
            dataclasses.replace(
                cb,
                attempts=1,
                next_attempt_at=T0 + 640,
                last_outcome=outcome,
                operator_id="op-1",
                updated_at=T0 + 40,
            )
        ]


async def test_finishing_with_a_live_attempt_ends_it(tmp_path: Path) -> None:
    cb = record(1)
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(cb)
        await store.start_attempt(cb.callback_id, "op-1", T0 + 10)
        await store.finish(cb.callback_id, CallbackState.FAILED, T0 + 20)
        [attempt] = await store.attempts(cb.callback_id)
        assert (attempt.ended_at, attempt.outcome) == (T0 + 20, AttemptOutcome.UNKNOWN)
        done = await store.get(cb.callback_id)
        assert done is not None and done.last_outcome is AttemptOutcome.UNKNOWN
        with pytest.raises(CallbackConflict, match="failed"):
            await store.finish(cb.callback_id, CallbackState.EXPIRED, T0 + 30)


async def test_finish_erases_the_number_from_the_row_and_the_file(tmp_path: Path) -> None:
    records = [record(i) for i in range(40)]
    path = tmp_path / "cb.db"
    async with SqliteCallbackStore(path) as store:
        for r in records:
            await store.add(r)
        for r in records[:30]:
            await store.finish(r.callback_id, CallbackState.CANCELLED, T0 + 60)
        assert all(r.number is None for r in [await store.get(r.callback_id) for r in records[:30]] if r)
    # Closed, the WAL is checkpointed into the file: the finished numbers' bytes are not in it.
    data = path.read_bytes()
    assert [r.number.encode() in data for r in records if r.number] == [False] * 30 + [True] * 10


async def test_counts_by_state(tmp_path: Path) -> None:
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        assert await store.counts() == counts()
        finals = [CallbackState.COMPLETED, CallbackState.FAILED, CallbackState.FAILED, CallbackState.EXPIRED]
        for i in range(10):
            await store.add(record(i))
        for i, state in enumerate(finals):
            await store.finish(record(i).callback_id, state, T0 + 60)
        await store.start_attempt(record(9).callback_id, "op-1", T0 + 70)
        assert await store.counts() == {
            "pending": 5,
            "dialling": 1,
            "completed": 1,
            "failed": 2,
            "expired": 1,
            "cancelled": 0,
        }


async def test_concurrent_writes_on_one_store_are_each_their_own_transaction(tmp_path: Path) -> None:
    records = [record(i) for i in range(50)]
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await asyncio.gather(*(store.add(r) for r in records))
        await asyncio.gather(
            *(store.start_attempt(r.callback_id, "op-1", T0 + 1) for r in records[:25]),
            *(store.finish(r.callback_id, CallbackState.CANCELLED, T0 + 1) for r in records[25:]),
        )
        assert await store.counts() == counts(dialling=25, cancelled=25)


async def test_every_callback_add_returned_for_survives_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    # The child writes ids to a pipe (64 KiB, about 4,000 ids): even a child far faster than
    # this test reader cannot get further ahead than that, so with n well beyond it the kill
    # lands while it is still adding.
    kill_after = 200
    n = kill_after + 64 * 1024 // len(f"{record(0).callback_id}\n") * 2
    proc = child("add", path, n)
    assert proc.stdout is not None
    printed = [proc.stdout.readline().strip() for _ in range(kill_after)]
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    printed += rest.split()
    assert kill_after <= len(printed) < n
    assert len(set(printed)) == len(printed)
    async with SqliteCallbackStore(path) as store:
        stored = await store.pending()
    stored_ids = [r.callback_id for r in stored]
    assert len(set(stored_ids)) == len(stored_ids)
    assert set(printed) <= set(stored_ids)
    # At most the one add in flight when the kill came committed without being printed.
    assert len(stored_ids) - len(printed) in (0, 1)
    assert sorted(stored, key=lambda r: r.queue_seq) == [record(i) for i in range(len(stored))]


def test_a_read_only_file_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    assert run_child("open", path) == "ok\n"
    path.chmod(0o444)
    assert run_child("--no-override", "open", path) == (
        f"StoreError: callback store {path}: could not write its tables:"
        " attempt to write a readonly database\n"
    )


def test_a_read_only_directory_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    assert run_child("open", old / "cb.db") == "ok\n"
    new.chmod(0o555)
    old.chmod(0o555)  # its file is writable, but WAL needs its -wal and -shm files beside it
    try:
        assert run_child("--no-override", "open", new / "cb.db") == (
            f"StoreError: callback store {new / 'cb.db'}: could not create it: Permission denied\n"
        )
        out = run_child("--no-override", "open", old / "cb.db")
        assert out.startswith(f"StoreError: callback store {old / 'cb.db'}: could not ")
    finally:
        new.chmod(0o755)
        old.chmod(0o755)


async def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    path.write_bytes(random.Random(1).randbytes(8192))
    not_a_database = f"^callback store {re.escape(str(path))}: could not open: file is not a database$"
    with pytest.raises(StoreError, match=not_a_database):
        await SqliteCallbackStore(path).open()


async def test_a_locked_file_is_a_store_error_and_the_store_goes_on_after_it(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    async with SqliteCallbackStore(path, busy_timeout=0.05) as store:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            locked = f"^callback store {re.escape(str(path))}: could not add .*: database is locked$"
            with pytest.raises(StoreError, match=locked):
                await store.add(record(1))
            other.execute("ROLLBACK")
        finally:
            other.close()
        await store.add(record(1))
        assert await store.get(record(1).callback_id) == record(1)


async def test_a_full_disk_is_a_store_error_and_loses_nothing_added_before(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    out = run_child("fill", path, 256 * 1024).splitlines()
    added = int(out[0].removeprefix("added "))
    assert added > 0
    failed = record(added).callback_id
    assert out[1].startswith(f"StoreError: callback store {path}: could not add callback {failed}: ")
    async with SqliteCallbackStore(path) as store:
        assert sorted(await store.pending(), key=lambda r: r.queue_seq) == [record(i) for i in range(added)]


async def test_the_pragmas_took_effect_on_the_store_connection(tmp_path: Path) -> None:
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        db = store._db  # the store's own connection: synchronous is a setting of a connection
        assert db is not None
        assert list(await db.execute_fetchall("PRAGMA journal_mode")) == [("wal",)]
        assert list(await db.execute_fetchall("PRAGMA synchronous")) == [(2,)]  # FULL
        assert list(await db.execute_fetchall("SELECT version FROM schema_version")) == [(1,)]
    assert oct((tmp_path / "cb.db").stat().st_mode & 0o777) == "0o600"


async def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    async with SqliteCallbackStore(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 2")
    db.close()
    with pytest.raises(StoreError, match="schema version \\[2\\], this build reads version 1"):
        await SqliteCallbackStore(path).open()


async def test_misuse_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    cb = record(1)
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        with pytest.raises(ValueError, match="added pending"):
            await store.add(dataclasses.replace(cb, state=CallbackState.DIALLING))
        await store.add(cb)
        with pytest.raises(CallbackConflict, match="already stored"):
            await store.add(cb)
        with pytest.raises(ValueError, match="final state"):
            await store.finish(cb.callback_id, CallbackState.PENDING, T0)
        await store.start_attempt(cb.callback_id, "op-1", T0)
        with pytest.raises(ValueError, match="not tried again"):
            await store.end_attempt(cb.callback_id, 1, AttemptOutcome.ANSWERED, T0 + 1, T0 + 600)
        with pytest.raises(ValueError, match="finite"):
            await store.end_attempt(cb.callback_id, 1, AttemptOutcome.BUSY, float("nan"), None)
        assert await store.counts() == counts(dialling=1)
    with pytest.raises(StoreError, match="not open"):
        await store.pending()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"number": None}, "needs its number"),
        ({"number": "600000000\r\nAction: Originate"}, "must be E.164"),
        ({"number": "+34612345678", "state": CallbackState.COMPLETED}, "keeps no number"),
        ({"state": "pending"}, "must be a CallbackState"),
        ({"skill": ""}, "skill must be"),
        ({"attempts": -1}, "cannot be negative"),
        ({"priority": 1.5}, "priority must be an int"),
        ({"arrived_at": float("inf")}, "arrived_at must be a finite"),
        ({"last_outcome": "busy"}, "must be an AttemptOutcome"),
    ],
)
def test_a_record_checks_its_fields(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(record(1), **change)  # type: ignore[arg-type]


def test_new_callback_ids_and_a_record_s_repr_without_the_number() -> None:
    ids = {new_callback_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 15 and i.startswith("cb-") and int(i[3:], 16) >= 0 for i in ids)
    r = record(1)
    assert r.number is not None and r.number not in repr(r)


# --- bookings ("cita previa") ----------------------------------------------------------------------

SLOT = (T0 + 36_000.0, T0 + 37_800.0)  # a 30-min slot
EXPIRE_AFTER = 4 * 3600.0


def booking(i: int, due: float = SLOT[0], **change: object) -> CallbackRecord:
    """The i-th record, booked for `due`: its place is its time, and it expires after it."""
    fields: dict[str, object] = {
        "skill": "info",
        "due_at": due,
        "arrived_at": due,
        "expires_at": due + EXPIRE_AFTER,
    }
    return dataclasses.replace(record(i), **{**fields, **change})  # type: ignore[arg-type]


async def book(
    store: SqliteCallbackStore, r: CallbackRecord, capacity: int, slot: tuple[float, float] = SLOT
) -> None:
    await store.book(r, slot_start=slot[0], slot_end=slot[1], capacity=capacity)


async def test_a_booked_callback_comes_back_with_every_field_and_is_pending(tmp_path: Path) -> None:
    live = dataclasses.replace(record(1), skill="info")  # a caller's callback, due_at None
    booked = booking(2, SLOT[0] + 600.5)
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(live)
        await book(store, booked, capacity=1)
        assert await store.get(booked.callback_id) == booked
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        assert await store.pending() == [live, booked]  # (queue order: its place is its time)
        assert await store.find_open(booked.number_key, "info") is None  # (no merging into it)
        assert await store.bookings("info", *SLOT) == [booked.due_at]


async def test_a_slot_takes_bookings_up_to_its_capacity_and_a_full_one_writes_nothing(tmp_path: Path) -> None:
    capacity = 3
    inside = [booking(i, SLOT[0] + i * 60) for i in range(capacity)]
    before_slot, next_slot = (SLOT[0] - 1800, SLOT[0]), (SLOT[1], SLOT[1] + 1800)
    elsewhere = [  # (a booking, its slot), each the first there
        (booking(10, SLOT[1]), next_slot),  # (a slot is [start, end))
        (booking(11, SLOT[0] - 1), before_slot),
        (booking(12, SLOT[0], skill="tributs"), SLOT),  # another skill's bookings are its own
    ]
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(dataclasses.replace(record(20), skill="info"))  # not a booking: not counted
        for r in inside:
            await book(store, r, capacity)
        for r, slot in elsewhere:
            await book(store, r, capacity=1, slot=slot)
        before = await store.counts()
        late = booking(30, SLOT[1] - 0.5)
        with pytest.raises(SlotFull, match=f"slot .* is full \\({capacity} of {capacity} booked\\)"):
            await book(store, late, capacity)
        assert await store.get(late.callback_id) is None
        assert await store.counts() == before
        with pytest.raises(SlotFull):  # (a lower capacity after a change of staffing: full too)
            await book(store, late, capacity - 1)
        # A booking that ends frees its place.
        await store.finish(inside[0].callback_id, CallbackState.CANCELLED, T0 + 100)
        await book(store, late, capacity)
        assert await store.bookings("info", *SLOT) == sorted([r.due_at for r in inside[1:]] + [late.due_at])
        # (inside: one cancelled, `late` in its place; and the caller's callback)
        assert await store.counts() == counts(pending=len(inside) + len(elsewhere) + 1, cancelled=1)


async def test_one_open_booking_per_number_and_skill_and_a_waiting_callers_callback_apart(
    tmp_path: Path,
) -> None:
    live = dataclasses.replace(record(1), skill="info", number_key="k1")
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        await store.add(live)
        # A callback asked for while waiting does not stop the same number booking one...
        first = booking(2, number_key="k1")
        await book(store, first, capacity=5)
        # ...but a second booking for the same number and service is refused.
        again = booking(3, number_key="k1")
        with pytest.raises(
            CallbackConflict, match=f"callback {first.callback_id} is booked for this number and info"
        ):
            await book(store, again, capacity=5)
        await book(store, booking(4, number_key="k1", skill="tributs"), capacity=5)  # another service
        await book(store, booking(5, number_key="k2"), capacity=5)
        with pytest.raises(CallbackConflict, match="already stored"):
            await book(store, booking(5, number_key="k3"), capacity=5)
        assert await store.find_open("k1", "info") == live  # duplicates merge into the caller's
        await store.finish(first.callback_id, CallbackState.CANCELLED, T0 + 50)
        await book(store, again, capacity=5)  # once the first is over, the number may book
        assert await store.bookings("info", *SLOT) == [SLOT[0], SLOT[0]]


@pytest.mark.parametrize(
    ("change", "slot", "capacity", "message"),
    [
        ({"due_at": None}, SLOT, 1, "needs its time"),
        ({}, (SLOT[0] + 1, SLOT[1]), 1, "not in the slot"),
        ({}, (SLOT[0] - 1800, SLOT[0]), 1, "not in the slot"),
        ({"arrived_at": T0}, SLOT, 1, "place is its time"),
        ({"expires_at": SLOT[0]}, SLOT, 1, "expire after its time"),
        ({"attempts": 1}, SLOT, 1, "no attempt yet"),
        ({"state": CallbackState.DIALLING}, SLOT, 1, "booked pending"),
        ({}, SLOT, -1, "capacity"),
        ({}, SLOT, 1.5, "capacity"),
        ({}, (SLOT[0], math.inf), 1, "slot_end must be a finite"),
    ],
)
async def test_a_booking_that_makes_no_sense_is_refused_before_anything_is_written(
    tmp_path: Path, change: dict[str, object], slot: tuple[float, float], capacity: int, message: str
) -> None:
    async with SqliteCallbackStore(tmp_path / "cb.db") as store:
        with pytest.raises(ValueError, match=message):
            await book(store, booking(1, **change), capacity, slot)
        assert await store.counts() == counts()


async def test_two_stores_racing_for_the_last_place_of_a_slot_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    capacity = 4
    async with SqliteCallbackStore(path) as first, SqliteCallbackStore(path) as second:
        for i in range(capacity - 1):
            await book(first, booking(i), capacity)
        racers = [booking(100), booking(101)]
        results = await asyncio.gather(
            book(first, racers[0], capacity), book(second, racers[1], capacity), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["NoneType", "SlotFull"]
        winner = racers[results.index(None)].callback_id
        racing = {r.callback_id for r in racers}
        assert [r.callback_id for r in await second.pending() if r.callback_id in racing] == [winner]
        assert len(await first.bookings("info", *SLOT)) == capacity


async def test_many_bookings_at_once_from_two_stores_never_overfill_a_slot(tmp_path: Path) -> None:
    path = tmp_path / "cb.db"
    capacity, per_store = 5, 12
    async with SqliteCallbackStore(path) as first, SqliteCallbackStore(path) as second:
        tries = [
            book(store, booking(n * per_store + i, SLOT[0] + i), capacity)
            for n, store in enumerate((first, second))
            for i in range(per_store)
        ]
        results = await asyncio.gather(*tries, return_exceptions=True)
        assert all(r is None or isinstance(r, SlotFull) for r in results), results
        assert sum(r is None for r in results) == capacity
        assert len(await second.bookings("info", *SLOT)) == capacity
        assert await first.counts() == counts(pending=capacity)
