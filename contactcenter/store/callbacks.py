# The durable callback store: what the centre promised citizens who chose to be called back.
# Rules:
# - Committed before the coroutine returns: every write is one transaction (BEGIN IMMEDIATE
#   ... COMMIT) on a WAL database with synchronous=FULL (the WAL is synced at every
#   commit), so a record `add` returned for survives a kill of the controller, and a power
#   cut as far as the disk keeps what it synced. open() checks that both pragmas took
#   effect. The caller promises the citizen only after `add` returned, and dials only after
#   `start_attempt` returned: at most one live attempt per callback.
# - Any failure is a StoreError naming the file (disk full, locked, read-only, not a
#   database, or a write the record's state does not allow): the write did not happen, so
#   the caller makes no promise and dials nothing. Misuse (a final state to `add`, an
#   "answered" attempt to retry) is a ValueError.
# - A booking ("cita previa", `book`) is counted and inserted in one write transaction:
#   BEGIN IMMEDIATE holds the file's write lock from the count to the commit, so two bookings
#   at once, from this process or another, never put more in a slot than its capacity. A
#   booked record's place is its time (arrived_at = due_at) and it expires after it.
# - A number is kept only while a callback needs it: `finish` sets it to NULL, and
#   secure_delete overwrites the freed bytes in the database file (older copies stay in the
#   WAL until SQLite reuses it). Never a number in a message; the record's repr omits it.
#   The file is created readable by its owner only.
# - Writes are serialised by a lock: one aiosqlite connection runs one transaction at a time,
#   and a read never sees another coroutine's uncommitted write. Do not cancel a write: a
#   cancelled `add` may have committed.
# - The schema is plain SQL that PostgreSQL also takes (DOUBLE PRECISION times, CHECKs,
#   a partial index), so a PostgreSQL store can implement CallbackStore on the same tables.
#   No ORM; a schema_version table says which layout a file has.
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self

import aiosqlite

from contactcenter.numbers import E164_PATTERN
from contactcenter.store.sqlite import close_connection, connect_private, pragma, write_transaction


class CallbackState(StrEnum):
    PENDING = "pending"  # in its queue, waiting for its turn (or its next attempt)
    DIALLING = "dialling"  # an attempt started; see the last attempt's end for whether it is live
    COMPLETED = "completed"
    FAILED = "failed"  # attempts used up
    EXPIRED = "expired"  # not served in time
    CANCELLED = "cancelled"  # e.g. the citizen was served on a call of their own


OPEN_STATES: Final = frozenset({CallbackState.PENDING, CallbackState.DIALLING})
FINAL_STATES: Final = frozenset(CallbackState) - OPEN_STATES


class AttemptOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    OPERATOR_LEFT = "operator_left"  # the operator hung up while the citizen's phone rang
    UNKNOWN = "unknown"  # e.g. the controller restarted while the attempt was live


SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT_S: Final = 2.0  # how long a write waits for a lock: a citizen waits on the line


class StoreError(Exception):
    """The store could not do what was asked; nothing was written."""


class CallbackConflict(StoreError):
    """The write is not allowed in the callback's current state (an unknown or duplicate id,
    an attempt on a callback that is not pending, the end of an attempt that is not live)."""


class SlotFull(StoreError):
    """A booking's slot has no place left for its skill (nothing was written)."""


def new_callback_id() -> str:
    """A fresh callback id, "cb-" and 12 hex digits."""
    return f"cb-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRecord:
    """A callback as stored. `number` is E.164 while the callback is open, None once final."""

    callback_id: str
    number: str | None = field(repr=False)
    number_key: str
    skill: str
    language: str
    priority: int
    arrived_at: float  # the original call's arrival (unix seconds): its place in the queue
    queue_seq: int  # the original call's tie-breaking sequence in the core's queue key
    requested_at: float
    ivr_path: str
    due_at: float | None  # a scheduled callback's time ("cita previa")
    expires_at: float
    state: CallbackState
    attempts: int
    next_attempt_at: float | None
    last_outcome: AttemptOutcome | None
    operator_id: str | None  # the operator of the last attempt
    updated_at: float

    def __post_init__(self) -> None:
        for name in ("callback_id", "number_key", "skill", "language"):
            if not (type(getattr(self, name)) is str and getattr(self, name)):
                raise ValueError(f"a callback's {name} must be a non-empty string")
        if type(self.ivr_path) is not str:
            raise ValueError("a callback's ivr_path must be a string")
        if not isinstance(self.state, CallbackState):
            raise ValueError(f"a callback's state must be a CallbackState, got {self.state!r}")
        if self.number is None:
            if self.state in OPEN_STATES:
                raise ValueError(f"an open callback needs its number ({self.callback_id})")
        elif self.state in FINAL_STATES:
            raise ValueError(f"a final callback keeps no number ({self.callback_id})")
        elif not (type(self.number) is str and E164_PATTERN.fullmatch(self.number)):
            raise ValueError(f"a callback's number must be E.164 ({self.callback_id})")
        for name in ("priority", "queue_seq", "attempts"):
            if type(getattr(self, name)) is not int:
                raise ValueError(f"a callback's {name} must be an int")
        if self.attempts < 0:
            raise ValueError("a callback's attempts cannot be negative")
        for name in ("arrived_at", "requested_at", "expires_at", "updated_at", "due_at", "next_attempt_at"):
            value = getattr(self, name)
            optional = name in ("due_at", "next_attempt_at")
            if not ((value is None and optional) or _is_time(value)):
                raise ValueError(f"a callback's {name} must be a finite number of seconds, got {value!r}")
        if not (self.last_outcome is None or isinstance(self.last_outcome, AttemptOutcome)):
            raise ValueError(
                f"a callback's last_outcome must be an AttemptOutcome, got {self.last_outcome!r}"
            )
        if not (self.operator_id is None or (type(self.operator_id) is str and self.operator_id)):
            raise ValueError("a callback's operator_id must be None or a non-empty string")


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One dialling of a callback: `ended_at` and `outcome` are None while it is live."""

    callback_id: str
    n: int  # 1, 2, ... per callback
    operator_id: str
    started_at: float
    ended_at: float | None
    outcome: AttemptOutcome | None


class CallbackStore(Protocol):
    """Where callbacks are kept. Every write is committed before it returns, or raises
    StoreError having written nothing."""

    async def open(self) -> None:
        """Open (and create if needed) the store."""

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def add(self, record: CallbackRecord) -> None:
        """Store a new, pending callback; a callback_id already stored is a CallbackConflict."""

    async def book(
        self, record: CallbackRecord, *, slot_start: float, slot_end: float, capacity: int
    ) -> None:
        """Store a new, pending booked callback (`due_at` its time, in [slot_start,
        slot_end)) if fewer than `capacity` open booked callbacks for its skill are due in
        that slot, else SlotFull; counted and written in one transaction. An open booking
        for the same number and skill, or a callback_id already stored, is a
        CallbackConflict (a waiting caller's callback for that number is not)."""

    async def bookings(self, skill: str, start: float, end: float) -> list[float]:
        """The due times of the open booked callbacks for `skill` due in [start, end), in
        order (a listing's `booked`)."""

    async def get(self, callback_id: str) -> CallbackRecord | None: ...

    async def pending(self) -> list[CallbackRecord]:
        """Every open (pending or dialling) callback in queue order: priority (highest
        first), then the original call's arrival, then its queue sequence."""

    async def find_open(self, number_key: str, skill: str) -> CallbackRecord | None:
        """The open callback of a waiting caller for this number and skill (the first in
        queue order, should there be several), to merge a duplicate request into; bookings
        are not looked at (a caller who needs help now is not merged into an appointment)."""

    async def start_attempt(self, callback_id: str, operator_id: str, now: float) -> int:
        """Mark a pending callback dialling and record attempt n = attempts + 1, returned.
        Dial only after this returns; a callback that is not pending is a CallbackConflict."""

    async def end_attempt(
        self, callback_id: str, n: int, outcome: AttemptOutcome, now: float, next_attempt_at: float | None
    ) -> None:
        """Record the outcome of live attempt n. With `next_attempt_at` the callback is
        pending again, to be tried from then; without, it stays dialling until `finish`
        (answered: completed after the conversation; else failed, expired or cancelled)."""

    async def finish(
        self, callback_id: str, state: CallbackState, now: float, outcome: AttemptOutcome | None = None
    ) -> None:
        """Put an open callback in a final state and forget its number. A live attempt ends
        with `outcome` (or "unknown"); `outcome` becomes the callback's last outcome."""

    async def attempts(self, callback_id: str) -> list[Attempt]:
        """The callback's attempts, in order."""

    async def counts(self) -> dict[str, int]:
        """How many callbacks are in each state (every state, zeros included)."""


_FIELDS: Final = tuple(f.name for f in dataclasses.fields(CallbackRecord))
_OPEN_SQL: Final = "state IN ('pending', 'dialling')"
_QUEUE_ORDER: Final = "ORDER BY priority DESC, arrived_at, queue_seq, callback_id"
_SELECT: Final = f"SELECT {', '.join(_FIELDS)} FROM callbacks"


def _in(values: Iterable[StrEnum]) -> str:
    return "(" + ", ".join(f"'{v.value}'" for v in sorted(values)) + ")"


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS callbacks (
        callback_id TEXT PRIMARY KEY,
        number TEXT,
        number_key TEXT NOT NULL,
        skill TEXT NOT NULL,
        language TEXT NOT NULL,
        priority INTEGER NOT NULL,
        arrived_at DOUBLE PRECISION NOT NULL,
        queue_seq INTEGER NOT NULL,
        requested_at DOUBLE PRECISION NOT NULL,
        ivr_path TEXT NOT NULL,
        due_at DOUBLE PRECISION,
        expires_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL CHECK (state IN {_in(CallbackState)}),
        attempts INTEGER NOT NULL CHECK (attempts >= 0),
        next_attempt_at DOUBLE PRECISION,
        last_outcome TEXT CHECK (last_outcome IN {_in(AttemptOutcome)}),
        operator_id TEXT,
        updated_at DOUBLE PRECISION NOT NULL,
        CHECK ((number IS NULL) = (state IN {_in(FINAL_STATES)}))
    )""",
    f"CREATE INDEX IF NOT EXISTS callbacks_open ON callbacks (number_key, skill) WHERE {_OPEN_SQL}",
    # (Bookings are counted per skill and slot; an index, not a new layout: files of this
    # schema version written before it get it when opened.)
    "CREATE INDEX IF NOT EXISTS callbacks_booked ON callbacks (skill, due_at)"
    f" WHERE due_at IS NOT NULL AND {_OPEN_SQL}",
    f"""CREATE TABLE IF NOT EXISTS attempts (
        callback_id TEXT NOT NULL REFERENCES callbacks (callback_id),
        n INTEGER NOT NULL CHECK (n >= 1),
        operator_id TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        outcome TEXT CHECK (outcome IN {_in(AttemptOutcome)}),
        PRIMARY KEY (callback_id, n)
    )""",
)


class SqliteCallbackStore:
    """CallbackStore on one SQLite file (WAL, synchronous=FULL), through aiosqlite."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path).absolute()  # named in every error: say which file, wherever we ran
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._db is not None:
            raise StoreError(f"callback store {self.path}: already open")
        db = await connect_private(
            self.path, busy_timeout=self.busy_timeout, prepare=self._prepare, failed=self._error
        )
        self._db = db

    async def _prepare(self, db: aiosqlite.Connection) -> None:
        try:
            pragmas = {
                "journal_mode": await pragma(db, "journal_mode = WAL"),
                "synchronous": await pragma(db, "synchronous = FULL"),
                "foreign_keys": await pragma(db, "foreign_keys = ON"),
                "secure_delete": await pragma(db, "secure_delete = ON"),
            }
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        wanted = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "secure_delete": 1}
        if pragmas != wanted:
            # A read-only file, for one, keeps its old journal mode without an error.
            raise StoreError(
                f"callback store {self.path}: pragmas {pragmas} did not take effect (want {wanted})"
            )
        async with self._transaction(db, "write its tables") as tx:
            for statement in _SCHEMA:
                await tx.execute(statement)
            rows = list(await tx.execute_fetchall("SELECT version FROM schema_version"))
            if not rows:
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif [row[0] for row in rows] != [SCHEMA_VERSION]:
                raise StoreError(
                    f"callback store {self.path}: schema version {[row[0] for row in rows]}, "
                    f"this build reads version {SCHEMA_VERSION}"
                )
            else:
                # A write that changes nothing: SQLite opens a read-only file read-only without
                # a word, and a store that cannot write must fail now, not at the first promise.
                await tx.execute("UPDATE schema_version SET version = version")

    async def close(self) -> None:
        db, self._db = self._db, None
        await close_connection(db, self._lock, self._error)

    async def add(self, record: CallbackRecord) -> None:
        if record.state is not CallbackState.PENDING:
            raise ValueError(f"a callback is added pending, not {record.state.value} ({record.callback_id})")
        doing = f"add callback {record.callback_id}"
        async with self._write(doing) as tx:
            await self._insert(tx, doing, record)

    async def book(
        self, record: CallbackRecord, *, slot_start: float, slot_end: float, capacity: int
    ) -> None:
        due = record.due_at
        if due is None:
            raise ValueError(f"a booked callback needs its time, due_at ({record.callback_id})")
        _check_time(slot_start, "slot_start")
        _check_time(slot_end, "slot_end")
        if not slot_start <= due < slot_end:
            raise ValueError(
                f"due_at {due} is not in the slot [{slot_start}, {slot_end}) ({record.callback_id})"
            )
        if type(capacity) is not int or capacity < 0:
            raise ValueError(f"capacity must be an integer >= 0, got {capacity!r}")
        if record.state is not CallbackState.PENDING or record.attempts or record.next_attempt_at is not None:
            raise ValueError(f"a callback is booked pending, with no attempt yet ({record.callback_id})")
        if record.arrived_at != due:
            # Its place in the queue: restored, it joins at its time, behind those before it.
            raise ValueError(f"a booked callback's place is its time: arrived_at must be due_at ({due})")
        if not record.expires_at > due:
            raise ValueError(f"a booked callback must expire after its time ({record.callback_id})")
        doing = f"book callback {record.callback_id}"
        async with self._write(doing) as tx:
            # One open booking per number and service. (A callback for a caller waiting now
            # is another matter: it neither blocks a booking nor merges into one.)
            open_ids = [
                row[0]
                for row in await tx.execute_fetchall(
                    "SELECT callback_id FROM callbacks WHERE number_key = ? AND skill = ?"
                    f" AND due_at IS NOT NULL AND {_OPEN_SQL} {_QUEUE_ORDER} LIMIT 1",
                    (record.number_key, record.skill),
                )
            ]
            if open_ids:
                raise CallbackConflict(
                    f"callback store {self.path}: could not {doing}: callback {open_ids[0]}"
                    f" is booked for this number and {record.skill}"
                )
            rows = list(
                await tx.execute_fetchall(
                    "SELECT COUNT(*) FROM callbacks WHERE skill = ? AND due_at >= ? AND due_at < ?"
                    f" AND {_OPEN_SQL}",
                    (record.skill, slot_start, slot_end),
                )
            )
            taken: int = rows[0][0]
            if taken >= capacity:
                raise SlotFull(
                    f"callback store {self.path}: could not {doing}: the {record.skill} slot"
                    f" [{slot_start}, {slot_end}) is full ({taken} of {capacity} booked)"
                )
            await self._insert(tx, doing, record)

    async def bookings(self, skill: str, start: float, end: float) -> list[float]:
        _check_time(start, "start")
        _check_time(end, "end")
        rows = await self._read(
            f"list the bookings of {skill}",
            f"SELECT due_at FROM callbacks WHERE skill = ? AND due_at >= ? AND due_at < ? AND {_OPEN_SQL}"
            " ORDER BY due_at",
            (skill, start, end),
        )
        return [row[0] for row in rows]

    async def get(self, callback_id: str) -> CallbackRecord | None:
        rows = await self._read(
            f"read callback {callback_id}", f"{_SELECT} WHERE callback_id = ?", (callback_id,)
        )
        return _record(rows[0]) if rows else None

    async def pending(self) -> list[CallbackRecord]:
        rows = await self._read("list pending callbacks", f"{_SELECT} WHERE {_OPEN_SQL} {_QUEUE_ORDER}", ())
        return [_record(row) for row in rows]

    async def find_open(self, number_key: str, skill: str) -> CallbackRecord | None:
        rows = await self._read(
            "look for an open callback",
            f"{_SELECT} WHERE number_key = ? AND skill = ? AND due_at IS NULL AND {_OPEN_SQL}"
            f" {_QUEUE_ORDER} LIMIT 1",
            (number_key, skill),
        )
        return _record(rows[0]) if rows else None

    async def start_attempt(self, callback_id: str, operator_id: str, now: float) -> int:
        _check_time(now, "now")
        doing = f"start an attempt on callback {callback_id}"
        async with self._write(doing) as tx:
            rows = list(
                await tx.execute_fetchall(
                    "UPDATE callbacks SET state = 'dialling', attempts = attempts + 1, operator_id = ?,"
                    " next_attempt_at = NULL, updated_at = ? WHERE callback_id = ? AND state = 'pending'"
                    " RETURNING attempts",
                    (operator_id, now, callback_id),
                )
            )
            if not rows:
                raise await self._conflict(tx, doing, callback_id, "pending")
            n: int = rows[0][0]
            await tx.execute(
                "INSERT INTO attempts (callback_id, n, operator_id, started_at) VALUES (?, ?, ?, ?)",
                (callback_id, n, operator_id, now),
            )
        return n

    async def end_attempt(
        self, callback_id: str, n: int, outcome: AttemptOutcome, now: float, next_attempt_at: float | None
    ) -> None:
        outcome = AttemptOutcome(outcome)
        _check_time(now, "now")
        if next_attempt_at is not None:
            _check_time(next_attempt_at, "next_attempt_at")
            if outcome is AttemptOutcome.ANSWERED:
                raise ValueError(f"an answered callback is not tried again ({callback_id})")
        state = CallbackState.DIALLING if next_attempt_at is None else CallbackState.PENDING
        doing = f"end attempt {n} of callback {callback_id}"
        async with self._write(doing) as tx:
            ended = await tx.execute(
                "UPDATE attempts SET ended_at = ?, outcome = ?"
                " WHERE callback_id = ? AND n = ? AND ended_at IS NULL",
                (now, outcome, callback_id, n),
            )
            moved = await tx.execute(
                "UPDATE callbacks SET state = ?, next_attempt_at = ?, last_outcome = ?, updated_at = ?"
                " WHERE callback_id = ? AND state = 'dialling' AND attempts = ?",
                (state, next_attempt_at, outcome, now, callback_id, n),
            )
            if ended.rowcount != 1 or moved.rowcount != 1:
                raise await self._conflict(tx, doing, callback_id, f"dialling its live attempt {n}")

    async def finish(
        self, callback_id: str, state: CallbackState, now: float, outcome: AttemptOutcome | None = None
    ) -> None:
        state = CallbackState(state)
        if state not in FINAL_STATES:
            raise ValueError(f"finish takes a final state, not {state.value} ({callback_id})")
        outcome = None if outcome is None else AttemptOutcome(outcome)
        _check_time(now, "now")
        doing = f"finish callback {callback_id} as {state.value}"
        async with self._write(doing) as tx:
            live = await tx.execute(
                "UPDATE attempts SET ended_at = ?, outcome = ? WHERE callback_id = ? AND ended_at IS NULL",
                (now, outcome or AttemptOutcome.UNKNOWN, callback_id),
            )
            last = outcome or (AttemptOutcome.UNKNOWN if live.rowcount else None)
            done = await tx.execute(
                "UPDATE callbacks SET state = ?, number = NULL, next_attempt_at = NULL,"
                " last_outcome = COALESCE(?, last_outcome), updated_at = ?"
                f" WHERE callback_id = ? AND {_OPEN_SQL}",
                (state, last, now, callback_id),
            )
            if done.rowcount != 1:
                raise await self._conflict(tx, doing, callback_id, "pending or dialling")

    async def attempts(self, callback_id: str) -> list[Attempt]:
        rows = await self._read(
            f"read the attempts of callback {callback_id}",
            "SELECT callback_id, n, operator_id, started_at, ended_at, outcome FROM attempts"
            " WHERE callback_id = ? ORDER BY n",
            (callback_id,),
        )
        return [
            Attempt(
                callback_id=row[0],
                n=row[1],
                operator_id=row[2],
                started_at=row[3],
                ended_at=row[4],
                outcome=None if row[5] is None else AttemptOutcome(row[5]),
            )
            for row in rows
        ]

    async def counts(self) -> dict[str, int]:
        rows = await self._read("count callbacks", "SELECT state, COUNT(*) FROM callbacks GROUP BY state", ())
        counts = {state.value: 0 for state in CallbackState}
        counts.update({row[0]: row[1] for row in rows})
        return counts

    # -- plumbing

    def __repr__(self) -> str:  # (log lines name the file)
        return f"SqliteCallbackStore({str(self.path)!r})"

    def _error(self, doing: str, exc: sqlite3.Error | OSError) -> StoreError:
        detail = exc.strerror if isinstance(exc, OSError) else exc
        return StoreError(f"callback store {self.path}: could not {doing}: {detail}")

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"callback store {self.path}: not open")
        return self._db

    async def _read(self, doing: str, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        async with self._lock:
            try:
                return list(await self._connection().execute_fetchall(sql, params))
            except sqlite3.Error as exc:
                raise self._error(doing, exc) from exc

    @contextlib.asynccontextmanager
    async def _write(self, doing: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock, self._transaction(self._connection(), doing) as tx:
            yield tx

    def _transaction(
        self, db: aiosqlite.Connection, doing: str
    ) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return write_transaction(db, doing, self._error)

    async def _insert(self, tx: aiosqlite.Connection, doing: str, record: CallbackRecord) -> None:
        """Insert a new record, within the caller's transaction (an id stored: a conflict)."""
        if await tx.execute_fetchall("SELECT 1 FROM callbacks WHERE callback_id = ?", (record.callback_id,)):
            raise CallbackConflict(f"callback store {self.path}: could not {doing}: it is already stored")
        await tx.execute(
            f"INSERT INTO callbacks ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            tuple(getattr(record, name) for name in _FIELDS),
        )

    async def _conflict(
        self, db: aiosqlite.Connection, doing: str, callback_id: str, needed: str
    ) -> StoreError:
        rows = list(
            await db.execute_fetchall(
                "SELECT state, attempts FROM callbacks WHERE callback_id = ?", (callback_id,)
            )
        )
        found = f"it is {rows[0][0]} after {rows[0][1]} attempt(s)" if rows else "no such callback"
        return CallbackConflict(f"callback store {self.path}: could not {doing}: {found}, not {needed}")


def _record(row: sqlite3.Row) -> CallbackRecord:
    values: dict[str, Any] = dict(zip(_FIELDS, row, strict=True))
    values["state"] = CallbackState(values["state"])
    if values["last_outcome"] is not None:
        values["last_outcome"] = AttemptOutcome(values["last_outcome"])
    return CallbackRecord(**values)


def _is_time(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _check_time(value: float, name: str) -> None:
    if not _is_time(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
