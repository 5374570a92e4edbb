# The records: the centre's history in SQLite, one row per ended call, a queue_log-like
# event per change of a call, an operator or a callback, operators' time in each state, and
# each finished callback, for `contactcenter report` and for whatever SQL a supervisor runs.
# Rules:
# - Off the call-handling path: `observe` and `callbacks_completed` turn the read model
#   (readmodel.py) into plain tuples appended to a backlog; they never block and never raise
#   (a bug there is logged and counted, the call goes on). A writer task commits the backlog
#   every FLUSH_EVERY_S, or as soon as BATCH_ROWS rows wait, in one transaction.
# - Nothing is lost on a clean stop: `stop` closes operators' open state times and waits for
#   the writer to commit all that is left. What a killed process loses is the batch it held
#   in memory (at most FLUSH_EVERY_S of facts).
# - WAL with synchronous=NORMAL: in WAL mode NORMAL never corrupts the file and a committed
#   batch survives the process being killed; a power cut may take the last commits the OS
#   had not synced, a window as wide as the batch held in memory anyway, so FULL's fsync at
#   every commit would buy nothing the batching has not already given up. (The callback
#   store is FULL: there a commit is a promise to a citizen.)
# - A bounded backlog: while the file cannot be written (locked, disk full) batches stay in
#   memory and are retried with a backoff, up to MAX_BACKLOG rows (about two days of 010's
#   traffic); the rows of facts that come while it is full are dropped, counted in
#   `records_failed` and logged, so an unwritable disk never takes the controller's memory.
#   A batch SQLite refuses as such (an integrity error: a bug) is dropped and counted too.
#   Counters: records_written (rows committed), records_failed (rows dropped; for a fact that
#   could not be made into rows, the fact), records_write_errors (commits that failed and
#   will be tried again).
# - No phone number is ever written: the core has none (readmodel.py), a callback's number
#   lives in the callback store only while the callback needs it, and not even its
#   number_key (the desk's keyed hash of it) comes here. `contacts` keeps a caller key (a
#   keyed hash with the records' own key, beside the file) only for REPEAT_WINDOW_S, so
#   repeat calls can be counted; retention blanks it after that.
# - `audit` holds every action taken on the web or a phone: who, in which role, what, on
#   whom, when (a disposition is a wrap_up's detail).
# - Times are wall-clock Unix seconds (epoch + the driver's clock). Local times are the
#   report's to compute, in the time zone kept in `meta` with the opening hours, the SL
#   threshold and the wrap-up the writer last ran with, so a file is read without a config.
# - Retention: rows older than retention_days are deleted at start, then once a day.
# - The callback store's conventions: plain SQL that PostgreSQL also takes (DOUBLE PRECISION
#   times, sequence numbers assigned by the writer, ON CONFLICT upserts), a schema_version
#   table, a file created owner-only, every failure a RecordsError naming the file.
# - A simulated run writes the same tables (SimRecords: synchronous, no asyncio, its measured
#   window only), so the report runs on a plan as on what happened.
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import re
import sqlite3
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final

import aiosqlite

from contactcenter.config import RecordsConfig
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallbackState, CallOutcome, CallState, OperatorState
from contactcenter.core.readmodel import CallbackChanged, CallChanged, Change, OperatorChanged
from contactcenter.store.sqlite import connect_private, pragma, write_transaction

log = logging.getLogger("contactcenter.records")

SCHEMA_VERSION: Final = 1
FLUSH_EVERY_S: Final = 0.5
BATCH_ROWS: Final = 500
# About two days of 010 (6,400 calls a working day, ~13 rows each): room for a long outage of
# the disk, in about 25 MB of tuples (measured: ~170 bytes a row).
MAX_BACKLOG: Final = 150_000
BUSY_TIMEOUT_S: Final = 5.0  # a batch waits this long for a lock (in aiosqlite's thread)
RETRY_MAX_S: Final = 30.0  # the backoff between failed commits grows up to this
STOP_ATTEMPTS: Final = 3  # commits tried at stop before what is left is given up
RETENTION_EVERY_S: Final = 86_400.0

# Event kinds (the `events` table's `kind`), as Asterisk's queue_log names its own.
ARRIVED: Final = "ARRIVED"  # the call entered the IVR
QUEUED: Final = "QUEUED"  # it chose a service and waits for an operator
REQUEUED: Final = "REQUEUED"  # back in its queue: the operator rung did not answer
MOVED: Final = "MOVED"  # a supervisor moved it to another skill's queue (`skill`: the new one)
RINGING: Final = "RINGING"  # an operator's phone rings for it
ANSWERED: Final = "ANSWERED"  # the operator is on the line
CALLBACK_CONFIRMED: Final = "CALLBACK_CONFIRMED"  # the caller heard the promise
OPERATOR_STATE: Final = "OPERATOR_STATE"
CALLBACK: Final = "CALLBACK"  # a callback moved to `state`
# The controller could not hear Asterisk from AMI_LINK_DOWN to AMI_LINK_UP (Asterisk
# restarted, the link dropped); each call the resync then ended has a GAP_ENDED event: it
# ended at some time within the gap, so its ended_at (the resync's time) is a bound.
AMI_LINK_DOWN: Final = "AMI_LINK_DOWN"
AMI_LINK_UP: Final = "AMI_LINK_UP"  # reason: how many calls the resync ended
GAP_ENDED: Final = "GAP_ENDED"
END_KINDS: Final[Mapping[CallOutcome, str]] = {
    CallOutcome.ANSWERED: "COMPLETED",
    CallOutcome.ABANDONED: "ABANDONED",
    CallOutcome.BLOCKED: "BLOCKED",
    CallOutcome.CLOSED: "CLOSED",
    CallOutcome.CALLBACK: "LEFT_NUMBER",  # hung up after the promise of a callback
}
_MOVE_KINDS: Final[Mapping[CallState, str]] = {
    CallState.IN_IVR: ARRIVED,
    CallState.QUEUED: QUEUED,
    CallState.OFFERED: RINGING,
    CallState.TALKING: ANSWERED,
    CallState.CALLBACK_CONFIRMED: CALLBACK_CONFIRMED,
}

# States' and outcomes' values by member: Enum's `.value` is a Python-level descriptor, and a
# simulated run's records read one per state change.
_VALUE: Final[Mapping[Enum, str]] = {
    member: member.value for kind in (CallState, OperatorState, CallbackState, CallOutcome) for member in kind
}

CALL_COLUMNS: Final = (
    "call_id",
    "arrived_at",
    "queued_at",
    "offered_at",  # first time an operator was rung for it (P(wait))
    "answered_at",
    "ended_at",
    "skill",
    "language",
    "ivr_path",  # language/skill as the IVR chose them, e.g. "ca/info"
    "priority",
    "operator_id",
    "wait_s",  # queued -> answered, or -> hung up (None: never queued)
    "talk_s",
    "outcome",
    "position_at_entry",
    "ewt_at_entry_s",  # the EWT announced when it queued (its error is a KPI)
    "callback_offered",
    "callback_id",
)
EVENT_COLUMNS: Final = (
    "seq",
    "at",
    "kind",
    "call_id",
    "callback_id",
    "operator_id",
    "skill",
    "language",
    "state",
    "reason",
)
CALLBACK_COLUMNS: Final = (
    "callback_id",
    "call_id",
    "skill",
    "language",
    "priority",
    "booked",
    "queued_at",
    "requested_at",
    "waiting_since",  # the request; a booked callback's time
    "expires_at",
    "answered_at",
    "ended_at",
    "state",
    "attempts",
    "last_outcome",
    "operator_id",
    "delay_s",  # waiting_since -> conversation (None: never served)
    "wait_total_s",  # first queued -> conversation
)
STATE_COLUMNS: Final = ("operator_id", "state", "reason", "since", "until")
# Supervisors' and operators' actions on the web and the phones (who, what, on whom, when);
# a disposition is the `wrap_up` action's detail.
AUDIT_COLUMNS: Final = ("at", "actor", "role", "action", "target", "detail")
# Each call's caller, as a keyed hash (never the number) while a repeat within
# REPEAT_WINDOW_S can still be counted against it (retention then blanks it), and how many
# earlier calls that caller made in the window: repeat calls and first-contact resolution.
CONTACT_COLUMNS: Final = ("call_id", "arrived_at", "caller_key", "earlier_calls")
REPEAT_WINDOW_S: Final = 7 * 86_400.0

_TIME = "DOUBLE PRECISION"
TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    f"""CREATE TABLE IF NOT EXISTS calls (
        call_id TEXT NOT NULL,
        arrived_at {_TIME} NOT NULL,
        queued_at {_TIME},
        offered_at {_TIME},
        answered_at {_TIME},
        ended_at {_TIME} NOT NULL,
        skill TEXT,
        language TEXT,
        ivr_path TEXT,
        priority INTEGER NOT NULL,
        operator_id TEXT,
        wait_s {_TIME},
        talk_s {_TIME},
        outcome TEXT NOT NULL,
        position_at_entry INTEGER,
        ewt_at_entry_s {_TIME},
        callback_offered INTEGER NOT NULL,
        callback_id TEXT
    )""",
    f"""CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        at {_TIME} NOT NULL,
        kind TEXT NOT NULL,
        call_id TEXT,
        callback_id TEXT,
        operator_id TEXT,
        skill TEXT,
        language TEXT,
        state TEXT,
        reason TEXT
    )""",
    f"""CREATE TABLE IF NOT EXISTS callbacks (
        callback_id TEXT NOT NULL,
        call_id TEXT,
        skill TEXT NOT NULL,
        language TEXT NOT NULL,
        priority INTEGER NOT NULL,
        booked INTEGER NOT NULL,
        queued_at {_TIME} NOT NULL,
        requested_at {_TIME} NOT NULL,
        waiting_since {_TIME} NOT NULL,
        expires_at {_TIME} NOT NULL,
        answered_at {_TIME},
        ended_at {_TIME},
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_outcome TEXT,
        operator_id TEXT,
        delay_s {_TIME},
        wait_total_s {_TIME}
    )""",
    f"""CREATE TABLE IF NOT EXISTS operator_states (
        operator_id TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        since {_TIME} NOT NULL,
        until {_TIME} NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS audit (
        at {_TIME} NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS contacts (
        call_id TEXT NOT NULL,
        arrived_at {_TIME} NOT NULL,
        caller_key TEXT,
        earlier_calls INTEGER
    )""",
)
# (Apart from the tables: a simulated run's file gets them after its rows, which loads faster.)
INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS calls_arrived ON calls (arrived_at)",
    "CREATE INDEX IF NOT EXISTS calls_id ON calls (call_id)",
    "CREATE INDEX IF NOT EXISTS events_at ON events (at)",
    "CREATE INDEX IF NOT EXISTS events_call ON events (call_id)",
    "CREATE INDEX IF NOT EXISTS callbacks_waiting ON callbacks (waiting_since)",
    "CREATE INDEX IF NOT EXISTS operator_states_since ON operator_states (since)",
    "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
    "CREATE INDEX IF NOT EXISTS contacts_arrived ON contacts (arrived_at)",
)
SCHEMA: Final = (*TABLES, *INDEXES)
# What retention deletes: each table by the time its rows belong to.
_RETENTION: Final = (
    ("calls", "arrived_at"),
    ("events", "at"),
    ("callbacks", "waiting_since"),
    ("operator_states", "until"),
    ("audit", "at"),
    ("contacts", "arrived_at"),
)

Row = tuple[Any, ...]


class RecordsError(Exception):
    """The records file could not be opened or written as asked (the message names it)."""


_FIXED_OFFSET = re.compile(r"UTC([+-])(\d\d):(\d\d)")


def tz_name(tz: dt.tzinfo) -> str:
    """The IANA name of a time zone (what zoneinfo reads back), "UTC" for UTC, or a fixed
    offset as "UTC+01:00" (a zone without rules: tests, a centre that gives one)."""
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    offset = tz.utcoffset(None)
    if tz is dt.UTC or offset == dt.timedelta(0):
        return "UTC"
    if isinstance(tz, dt.timezone) and offset is not None:
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    raise ValueError(f"time zone {tz!r} has no IANA name: records keep local times by name")


def tz_from_name(name: str) -> dt.tzinfo:
    """The time zone `tz_name` wrote (ZoneInfoNotFoundError or ValueError if none)."""
    fixed = _FIXED_OFFSET.fullmatch(name)
    if fixed is None:
        return zoneinfo.ZoneInfo(name)
    sign = 1 if fixed.group(1) == "+" else -1
    return dt.timezone(sign * dt.timedelta(hours=int(fixed.group(2)), minutes=int(fixed.group(3))))


def hours_meta(hours: OpeningHours | None) -> str | None:
    """The opening hours as the JSON `meta` keeps them (None: always open)."""
    if hours is None:
        return None
    return json.dumps(
        {
            "tz": tz_name(hours.tz),
            "open": hours.open.isoformat(),
            "close": hours.close.isoformat(),
            "weekdays": sorted(hours.weekdays),
            "holidays": sorted(d.isoformat() for d in hours.holidays),
        }
    )


def meta_rows(
    *, source: str, tz: dt.tzinfo, hours: OpeningHours | None, sl_threshold_s: float, wrap_up_s: float
) -> list[tuple[str, str | None]]:
    return [
        ("source", source),
        ("tz", tz_name(tz)),
        ("hours", hours_meta(hours)),
        ("sl_threshold_s", repr(float(sl_threshold_s))),
        ("wrap_up_s", repr(float(wrap_up_s))),
        ("written_at", repr(time.time())),
    ]


@dataclass(slots=True)
class Batch:
    """Rows waiting to be committed, by table (events without their sequence number yet)."""

    calls: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    callbacks: list[Row] = field(default_factory=list)
    states: list[Row] = field(default_factory=list)
    audit: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)

    def _tables(self) -> tuple[list[Row], ...]:
        return self.calls, self.events, self.callbacks, self.states, self.audit, self.contacts

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._tables())

    def sizes(self) -> tuple[int, ...]:
        return tuple(len(rows) for rows in self._tables())

    def truncate(self, sizes: tuple[int, ...]) -> None:
        """Drop the rows added after `sizes` was taken."""
        for rows, size in zip(self._tables(), sizes, strict=True):
            del rows[size:]

    def prepend(self, older: Batch) -> None:
        for rows, old in zip(self._tables(), older._tables(), strict=True):
            rows[:0] = old


class RowBuilder:
    """The read model as rows: pure, no I/O. Keeps what rows need across batches: each
    operator's current state (to write the time in it when it ends) and each call's last
    state (to tell a first QUEUED from a REQUEUED). `window` (the driver's clock) keeps only
    facts within it: a simulator's measured hours."""

    def __init__(self, epoch: float, window: tuple[float, float] = (-math.inf, math.inf)) -> None:
        self.epoch = epoch
        self.start, self.end = window
        self.batch = Batch()
        self._operators: dict[str, tuple[OperatorState, str | None, float]] = {}  # -> (state, reason, since)
        self._call_state: dict[str, CallState] = {}  # calls in the system

    def take(self) -> Batch:
        batch, self.batch = self.batch, Batch()
        return batch

    def add_changes(self, changes: Iterable[Change]) -> None:
        start, end, epoch = self.start, self.end, self.epoch
        events = self.batch.events
        for change in changes:
            at = change.at
            if isinstance(change, CallChanged):
                state = change.state
                if state is CallState.ENDED:  # (written from the ended call, with its outcome)
                    self._call_state.pop(change.call_id, None)
                    continue
                before = self._call_state.get(change.call_id)
                self._call_state[change.call_id] = state
                if start <= at < end:
                    kind = _MOVE_KINDS[state]
                    if state is CallState.QUEUED and before is CallState.OFFERED:
                        kind = REQUEUED
                    elif state is CallState.QUEUED and before is CallState.QUEUED:
                        kind = MOVED
                    events.append(
                        event_row(
                            epoch + at,
                            kind,
                            call_id=change.call_id,
                            operator_id=change.operator_id,
                            skill=change.skill,
                            language=change.language,
                            state=_VALUE[state],
                        )
                    )
            elif isinstance(change, OperatorChanged):
                self._operator_moved(change)
                if start <= at < end:
                    events.append(
                        event_row(
                            epoch + at,
                            OPERATOR_STATE,
                            call_id=change.call_id,
                            operator_id=change.operator_id,
                            state=_VALUE[change.state],
                            reason=change.reason,
                        )
                    )
            elif isinstance(change, CallbackChanged) and start <= at < end:
                events.append(
                    event_row(
                        epoch + at,
                        CALLBACK,
                        callback_id=change.callback_id,
                        operator_id=change.operator_id,
                        skill=change.skill,
                        state=_VALUE[change.state],
                    )
                )

    def _operator_moved(self, change: OperatorChanged) -> None:
        before = self._operators.get(change.operator_id)
        if before is not None:
            self._state_time(change.operator_id, before, change.at)
        self._operators[change.operator_id] = (change.state, change.reason, change.at)

    def _state_time(
        self, operator_id: str, state: tuple[OperatorState, str | None, float], until: float
    ) -> None:
        """The time an operator spent in a state, clipped to the window (none logged out)."""
        what, reason, since = state
        since, until = max(since, self.start), min(until, self.end)
        if what is not OperatorState.LOGGED_OUT and until > since:
            self.batch.states.append(
                (operator_id, _VALUE[what], reason, self.epoch + since, self.epoch + until)
            )

    def close_operators(self, at: float) -> None:
        """Write every operator's current state up to `at` (a stop, a run's end): the time
        after it is not known."""
        for operator_id, state in self._operators.items():
            self._state_time(operator_id, state, at)
            self._operators[operator_id] = (state[0], state[1], max(at, state[2]))

    def add_calls(self, calls: Iterable[Call], skill_of: Mapping[str, str] | None = None) -> None:
        """Ended calls: their row and their last event. `skill_of`: the skill a call turned
        away before its IVR wanted, when the driver knows it (the simulator does)."""
        start, end, epoch = self.start, self.end, self.epoch
        rows, events = self.batch.calls, self.batch.events
        for call in calls:
            ended = call.ended_at
            outcome = call.outcome
            if ended is None or outcome is None:
                raise ValueError(f"call {call.call_id} is not over")
            if start <= ended < end:
                events.append(
                    event_row(
                        epoch + ended,
                        END_KINDS[outcome],
                        call_id=call.call_id,
                        callback_id=call.callback_id,
                        operator_id=call.operator_id,
                        skill=call.skill,
                        language=call.language,
                        state=_VALUE[CallState.ENDED],
                        reason=_VALUE[outcome],
                    )
                )
            if not start <= call.arrived_at < end:
                continue
            skill = call.skill or (skill_of.get(call.call_id) if skill_of else None)
            language = call.language
            answered = call.answered_at
            rows.append(
                (
                    call.call_id,
                    epoch + call.arrived_at,
                    _wall(epoch, call.queued_at),
                    _wall(epoch, call.offered_at),
                    _wall(epoch, answered),
                    epoch + ended,
                    skill,
                    language,
                    f"{language}/{call.skill}" if language and call.skill else None,
                    call.priority,
                    call.operator_id,
                    call.wait,
                    None if answered is None else ended - answered,
                    _VALUE[outcome],
                    call.position_at_entry,
                    call.ewt_at_entry
                    if call.ewt_at_entry is None or math.isfinite(call.ewt_at_entry)
                    else None,
                    int(call.callback_offered),
                    call.callback_id,
                )
            )

    def add_callbacks(self, callbacks: Iterable[Callback]) -> None:
        """Callbacks that reached a final state (never their number, nor its key)."""
        start, end, epoch = self.start, self.end, self.epoch
        rows = self.batch.callbacks
        for cb in callbacks:
            if not start <= cb.waiting_since < end:
                continue
            rows.append(
                (
                    cb.callback_id,
                    cb.call_id,
                    cb.skill,
                    cb.language,
                    cb.priority,
                    int(cb.booked),
                    epoch + cb.queued_at,
                    epoch + cb.requested_at,
                    epoch + cb.waiting_since,
                    epoch + cb.expires_at if math.isfinite(cb.expires_at) else None,
                    _wall(epoch, cb.answered_at),
                    _wall(epoch, cb.ended_at),
                    cb.state.value,
                    cb.attempts,
                    cb.outcome,
                    cb.operator_id,
                    cb.time_to_serve,
                    cb.time_from_queue,
                )
            )


def event_row(
    at: float,
    kind: str,
    *,
    call_id: str | None = None,
    callback_id: str | None = None,
    operator_id: str | None = None,
    skill: str | None = None,
    language: str | None = None,
    state: str | None = None,
    reason: str | None = None,
) -> Row:
    """An `events` row but its sequence number (EVENT_COLUMNS[1:], in order)."""
    return (at, kind, call_id, callback_id, operator_id, skill, language, state, reason)


def _wall(epoch: float, t: float | None) -> float | None:
    return None if t is None else epoch + t


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_CALLS: Final = _insert("calls", CALL_COLUMNS)
_INSERT_EVENTS: Final = _insert("events", EVENT_COLUMNS)
_INSERT_CALLBACKS: Final = _insert("callbacks", CALLBACK_COLUMNS)
_INSERT_STATES: Final = _insert("operator_states", STATE_COLUMNS)
_INSERT_AUDIT: Final = _insert("audit", AUDIT_COLUMNS)
_INSERT_CONTACTS: Final = _insert("contacts", CONTACT_COLUMNS)
_UPSERT_META: Final = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _numbered(events: list[Row], first: int) -> list[Row]:
    return [(seq, *row) for seq, row in enumerate(events, first)]


def _schema_problem(rows: list[Any]) -> str | None:
    found = [row[0] for row in rows]
    if found and found != [SCHEMA_VERSION]:
        return f"schema version {found}, this build reads version {SCHEMA_VERSION}"
    return None


class RecordsWriter:
    """The live controller's records: an observer (observe, callbacks_completed) that never
    waits, and a writer task that commits in batches (start, stop)."""

    def __init__(
        self,
        cfg: RecordsConfig,
        *,
        epoch: float,
        counters: Counter[str],
        hours: OpeningHours | None = None,
        tz: dt.tzinfo | None = None,
        sl_threshold_s: float = 20.0,
        wrap_up_s: float = 0.0,
        flush_every_s: float = FLUSH_EVERY_S,
        batch_rows: int = BATCH_ROWS,
        max_backlog: int = MAX_BACKLOG,
        busy_timeout: float = BUSY_TIMEOUT_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.path = Path(cfg.path).absolute()  # named in every error and log line
        self._clock = clock  # the driver's, for a stop() that is not told when it is
        self.retention_days = cfg.retention_days
        self.counters = counters
        self._meta = meta_rows(
            source="live",
            tz=tz or (hours.tz if hours is not None else dt.UTC),
            hours=hours,
            sl_threshold_s=sl_threshold_s,
            wrap_up_s=wrap_up_s,
        )
        self._rows = RowBuilder(epoch)
        self._flush_every_s, self._batch_rows, self._max_backlog = flush_every_s, batch_rows, max_backlog
        self._busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._seq = 1  # the next event's sequence number (continued from the file at start)
        self._retry_s = 0.0  # the backoff after a failed commit (0: none)
        self._full = False  # rows are being dropped (logged once per episode)
        self._next_retention = math.inf

    def __repr__(self) -> str:
        return f"RecordsWriter({str(self.path)!r})"

    @property
    def backlog(self) -> int:
        """Rows not committed yet."""
        return len(self._rows.batch)

    # --- the observer's side: never waits, never raises ----------------------------------

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        """Rows for the changes and the calls ended by one event."""
        sizes = self._rows.batch.sizes()
        try:
            self._rows.add_changes(changes)
            self._rows.add_calls(completed)
        except Exception:
            self._rows.batch.truncate(sizes)
            self.counters["records_failed"] += len(changes) + len(completed)
            log.exception("records %s: facts at %.3f not recorded", self.path, now)
            return
        self._added(sizes)

    def callbacks_completed(self, callbacks: Sequence[Callback]) -> None:
        """Rows for callbacks that reached a final state."""
        sizes = self._rows.batch.sizes()
        try:
            self._rows.add_callbacks(callbacks)
        except Exception:
            self._rows.batch.truncate(sizes)
            self.counters["records_failed"] += len(callbacks)
            log.exception("records %s: %d finished callbacks not recorded", self.path, len(callbacks))
            return
        self._added(sizes)

    def audit(
        self, at: float, actor: str, role: str, action: str, target: str, detail: Mapping[str, Any]
    ) -> None:
        """A row for an action taken on the web or a phone (`at`: wall-clock seconds)."""
        sizes = self._rows.batch.sizes()
        try:
            self._rows.batch.audit.append(
                (at, actor, role, action, target, json.dumps(dict(detail), sort_keys=True, default=str))
            )
        except Exception:
            self._rows.batch.truncate(sizes)
            self.counters["records_failed"] += 1
            log.exception("records %s: action %s not recorded", self.path, action)
            return
        self._added(sizes)

    def link_gap(self, lost_at: float, back_at: float, ended_calls: Sequence[str]) -> None:
        """Rows for a gap in what the controller heard (wall-clock seconds): the link down,
        up again, and each call that the resync found ended meanwhile."""
        sizes = self._rows.batch.sizes()
        events = self._rows.batch.events
        events.append(event_row(lost_at, AMI_LINK_DOWN))
        events.append(event_row(back_at, AMI_LINK_UP, reason=f"{len(ended_calls)} calls ended in the gap"))
        events.extend(event_row(back_at, GAP_ENDED, call_id=call_id) for call_id in ended_calls)
        self._added(sizes)

    def contact(
        self, call_id: str, arrived_at: float, caller_key: str | None, earlier_calls: int | None
    ) -> None:
        """A row for a call's caller (a keyed hash of their number, never the number)."""
        sizes = self._rows.batch.sizes()
        self._rows.batch.contacts.append((call_id, arrived_at, caller_key, earlier_calls))
        self._added(sizes)

    async def recent_contacts(self, since: float) -> list[tuple[str, float]]:
        """(caller key, arrival) of the calls since `since` (wall-clock), oldest first."""
        db = self._db
        if db is None:
            raise RecordsError(f"records {self.path}: not open")
        try:
            rows = await db.execute_fetchall(
                "SELECT caller_key, arrived_at FROM contacts WHERE arrived_at >= ? AND caller_key IS NOT NULL"
                " ORDER BY arrived_at",
                (since,),
            )
        except sqlite3.Error as exc:
            raise self._error("read the recent callers", exc) from exc
        return [(str(key), float(at)) for key, at in rows]

    def _added(self, sizes: tuple[int, ...]) -> None:
        backlog = len(self._rows.batch)
        if backlog > self._max_backlog:
            self._rows.batch.truncate(sizes)
            self.counters["records_failed"] += backlog - len(self._rows.batch)
            if not self._full:
                self._full = True
                log.error(
                    "records %s: %d rows wait to be written; new facts are dropped until they are",
                    self.path,
                    len(self._rows.batch),
                )
        elif backlog >= self._batch_rows:
            self._wake.set()

    # --- the writer's side ---------------------------------------------------------------

    async def start(self) -> None:
        """Open (and create if needed) the file, delete what retention says is too old, and
        start committing. RecordsError if the file cannot be used."""
        if self._db is not None:
            raise RecordsError(f"records {self.path}: already open")
        db = await connect_private(
            self.path, busy_timeout=self._busy_timeout, prepare=self._prepare, failed=self._error
        )
        self._db = db
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="records")

    async def _prepare(self, db: aiosqlite.Connection) -> None:
        try:
            pragmas = {
                "journal_mode": await pragma(db, "journal_mode = WAL"),
                "synchronous": await pragma(db, "synchronous = NORMAL"),
            }
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        wanted = {"journal_mode": "wal", "synchronous": 1}
        if pragmas != wanted:
            raise RecordsError(f"records {self.path}: pragmas {pragmas} did not take effect (want {wanted})")
        async with self._transaction(db, "write its tables") as tx:
            for statement in SCHEMA:
                await tx.execute(statement)
            rows = list(await tx.execute_fetchall("SELECT version FROM schema_version"))
            if (problem := _schema_problem(rows)) is not None:
                raise RecordsError(f"records {self.path}: {problem}")
            if not rows:
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            # (A write at once: a file SQLite opened read-only must fail now, not at the first batch.)
            await tx.executemany(_UPSERT_META, self._meta)
            last = list(await tx.execute_fetchall("SELECT MAX(seq) FROM events"))
            self._seq = (last[0][0] or 0) + 1
        await self._apply_retention(db)

    async def _apply_retention(self, db: aiosqlite.Connection) -> None:
        cutoff = time.time() - self.retention_days * 86_400.0
        async with self._transaction(db, "delete old records") as tx:
            deleted = 0
            for table, column in _RETENTION:
                cursor = await tx.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,))
                deleted += max(cursor.rowcount, 0)
            # A caller's key is kept only while a repeat can be counted against it.
            await tx.execute(
                "UPDATE contacts SET caller_key = NULL WHERE caller_key IS NOT NULL AND arrived_at < ?",
                (time.time() - REPEAT_WINDOW_S,),
            )
        if deleted:
            log.info(
                "records %s: %d rows older than %d days deleted", self.path, deleted, self.retention_days
            )
        self._next_retention = time.monotonic() + RETENTION_EVERY_S

    async def stop(self, now: float | None = None) -> None:
        """Commit everything left and close. `now` (the driver's clock at the stop; by
        default the clock given, if any) ends operators' current state times there; None
        leaves them unwritten."""
        if now is None and self._clock is not None:
            now = self._clock()
        if now is not None:
            sizes = self._rows.batch.sizes()
            self._rows.close_operators(now)
            self._added(sizes)
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task
        db, self._db = self._db, None
        if db is not None:
            for attempt in range(STOP_ATTEMPTS):
                if not self.backlog or await self._flush(db):
                    break
                await asyncio.sleep(min(1.0 * 2**attempt, RETRY_MAX_S))
            try:
                await db.close()
            except sqlite3.Error as exc:
                log.error("records %s: could not close it: %s", self.path, exc)
        if self.backlog:
            self.counters["records_failed"] += self.backlog
            log.error("records %s: %d rows could not be written before the stop", self.path, self.backlog)
            self._rows.take()

    async def _run(self) -> None:
        db = self._db
        assert db is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._retry_s or self._flush_every_s):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break  # (stop() flushes what is left, with its own attempts)
            if time.monotonic() >= self._next_retention:
                try:
                    await self._apply_retention(db)
                except RecordsError as exc:
                    log.warning("%s (tried again in an hour)", exc)
                    self._next_retention = time.monotonic() + 3600.0
            if self.backlog:
                await self._flush(db)

    async def _flush(self, db: aiosqlite.Connection) -> bool:
        """Commit the backlog in one transaction; False (the rows kept) if it failed."""
        batch = self._rows.take()
        n = len(batch)
        try:
            async with self._transaction(db, f"write {n} rows") as tx:
                await tx.executemany(_INSERT_CALLS, batch.calls)
                await tx.executemany(_INSERT_EVENTS, _numbered(batch.events, self._seq))
                await tx.executemany(_INSERT_CALLBACKS, batch.callbacks)
                await tx.executemany(_INSERT_STATES, batch.states)
                await tx.executemany(_INSERT_AUDIT, batch.audit)
                await tx.executemany(_INSERT_CONTACTS, batch.contacts)
        except RecordsError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):  # the rows themselves: never
                self.counters["records_failed"] += n
                log.error("%s: the rows are dropped", exc)
                return True
            self._rows.batch.prepend(batch)
            self.counters["records_write_errors"] += 1
            self._retry_s = min(max(2 * self._retry_s, 1.0), RETRY_MAX_S)
            log.warning("%s; tried again in %.0f s (%d rows wait)", exc, self._retry_s, self.backlog)
            return False
        self._seq += len(batch.events)
        self.counters["records_written"] += n
        self._retry_s = 0.0
        if self._full and self.backlog < self._max_backlog // 2:
            self._full = False
            log.info("records %s: writing again", self.path)
        return True

    def _error(self, doing: str, exc: sqlite3.Error | OSError) -> RecordsError:
        detail = exc.strerror if isinstance(exc, OSError) else exc
        return RecordsError(f"records {self.path}: could not {doing}: {detail}")

    def _transaction(
        self, db: aiosqlite.Connection, doing: str
    ) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return write_transaction(db, doing, self._error)


class SimRecords:
    """The records of a simulated run (`contactcenter sim --records`): the same tables,
    written synchronously at each of the simulator's batches (virtual.simulate's `records`
    hook), of its measured window only; wall time is `epoch` + the simulator's clock.

    A file that exists is replaced, unless it holds a live centre's records."""

    def __init__(
        self,
        path: Path,
        *,
        epoch: float,
        window: tuple[float, float],
        hours: OpeningHours | None,
        sl_threshold_s: float,
        wrap_up_s: float,
        tz: dt.tzinfo = dt.UTC,
    ) -> None:
        self.path = Path(path).absolute()
        self.end = window[1]
        self._rows = RowBuilder(epoch, window)
        self._meta = meta_rows(
            source="sim", tz=tz, hours=hours, sl_threshold_s=sl_threshold_s, wrap_up_s=wrap_up_s
        )
        self._db: sqlite3.Connection | None = None
        self._seq = 1
        self.written = 0

    def open(self) -> None:
        """Create the file afresh (RecordsError if it cannot be, or holds live records)."""
        if self.path.exists():
            if _source(self.path) == "live":
                raise RecordsError(f"records {self.path}: holds a live centre's records; not replaced")
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").unlink()
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            # A run's output, written once: a crash means running it again, so no syncing.
            db.execute("PRAGMA synchronous = OFF")
            with _sync_transaction(db):
                for statement in TABLES:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                db.executemany(_UPSERT_META, self._meta)
        except (sqlite3.Error, OSError) as exc:
            raise RecordsError(f"records {self.path}: could not create it: {exc}") from exc
        self._db = db

    def __call__(
        self, changes: list[Change], calls: list[Call], callbacks: list[Callback], skill_of: Mapping[str, str]
    ) -> None:
        """One of the simulator's batches: its change feed, ended calls, finished callbacks
        and the skills its blocked calls wanted."""
        rows = self._rows
        rows.add_changes(changes)
        rows.add_calls(calls, skill_of)
        rows.add_callbacks(callbacks)
        if len(rows.batch) >= 20 * BATCH_ROWS:
            self._commit()

    def close(self) -> None:
        """Operators' times up to the window's end, the last rows, and close."""
        self._rows.close_operators(self.end)
        self._commit()
        db, self._db = self._db, None
        if db is not None:
            try:
                with _sync_transaction(db):
                    for statement in INDEXES:
                        db.execute(statement)
            except sqlite3.Error as exc:
                raise RecordsError(f"records {self.path}: could not index: {exc}") from exc
            finally:
                db.close()

    def _commit(self) -> None:
        db = self._db
        if db is None:
            raise RecordsError(f"records {self.path}: not open")
        batch = self._rows.take()
        try:
            with _sync_transaction(db):
                db.executemany(_INSERT_CALLS, batch.calls)
                db.executemany(_INSERT_EVENTS, _numbered(batch.events, self._seq))
                db.executemany(_INSERT_CALLBACKS, batch.callbacks)
                db.executemany(_INSERT_STATES, batch.states)
        except sqlite3.Error as exc:
            raise RecordsError(f"records {self.path}: could not write: {exc}") from exc
        self._seq += len(batch.events)
        self.written += len(batch)


@contextlib.contextmanager
def _sync_transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _source(path: Path) -> str | None:
    """The `source` a records file says it has (None: not one, or unreadable)."""
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        rows = db.execute("SELECT value FROM meta WHERE key = 'source'").fetchall()
        return str(rows[0][0]) if rows else None
    except sqlite3.Error:
        return None
    finally:
        db.close()
