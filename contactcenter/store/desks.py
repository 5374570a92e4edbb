# The operators' desk state, durable: who is logged in, who is paused and why, and the skills
# they log in with, so a restarted controller puts every operator back where they were (as
# Asterisk's app_queue keeps its persistent members in astdb). Rules:
# - One row per operator, the last state written wins: a desk is not a history (the records
#   are). `save` writes a batch of rows and the time the controller was last alive in one
#   transaction on a WAL file with synchronous=FULL, so what `save` returned for survives a
#   kill of the process.
# - `alive_at` says how old the states are: a controller down for longer than its config's
#   `restore_within` does not bring back a shift that has ended (the reader decides).
# - Any failure is a StoreError naming the file; the write did not happen.
# - No personal data: operators' ids, codes and skill levels only. The callback store's
#   conventions: plain SQL, a schema_version table, a file created owner-only.
from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

import aiosqlite

from contactcenter.store.callbacks import StoreError
from contactcenter.store.sqlite import close_connection, connect_private, pragma, write_transaction

SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT_S: Final = 2.0


class DeskStatus(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"  # logged in and taking calls (free, ringing, talking or wrapping up)
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class DeskState:
    """Where an operator's desk stands: `reason` is the pause's; `skills` are the ones they
    log in with (a supervisor's change included), (skill, level) pairs."""

    operator_id: str
    status: DeskStatus
    reason: str | None
    skills: tuple[tuple[str, int], ...]
    since: float  # wall-clock seconds: when this state was written

    def __post_init__(self) -> None:
        if not (type(self.operator_id) is str and self.operator_id):
            raise ValueError("a desk state's operator_id must be a non-empty string")
        if (self.status is DeskStatus.PAUSED) != (self.reason is not None):
            raise ValueError(f"a desk state has a reason exactly when paused ({self.operator_id})")


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value DOUBLE PRECISION NOT NULL)",
    """CREATE TABLE IF NOT EXISTS desks (
        operator_id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('logged_out', 'ready', 'paused')),
        reason TEXT,
        skills TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL,
        CHECK ((status = 'paused') = (reason IS NOT NULL))
    )""",
)


class SqliteDeskStore:
    """The desks in one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SqliteDeskStore({str(self.path)!r})"

    async def open(self) -> None:
        if self._db is not None:
            raise StoreError(f"desk store {self.path}: already open")
        self._db = await connect_private(
            self.path, busy_timeout=self.busy_timeout, prepare=self._prepare, failed=self._error
        )

    async def _prepare(self, db: aiosqlite.Connection) -> None:
        try:
            modes = [await pragma(db, "journal_mode = WAL"), await pragma(db, "synchronous = FULL")]
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        if modes != ["wal", 2]:  # (a read-only file keeps its old journal mode without a word)
            raise StoreError(f"desk store {self.path}: journal_mode, synchronous = {modes}, want wal, 2")
        async with write_transaction(db, "write its tables", self._error) as tx:
            for statement in _SCHEMA:
                await tx.execute(statement)
            versions = [row[0] for row in await tx.execute_fetchall("SELECT version FROM schema_version")]
            if not versions:
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif versions != [SCHEMA_VERSION]:
                raise StoreError(
                    f"desk store {self.path}: schema version {versions}, this build reads {SCHEMA_VERSION}"
                )
            else:  # a write that changes nothing: an unwritable file fails now, not later
                await tx.execute("UPDATE schema_version SET version = version")

    async def close(self) -> None:
        db, self._db = self._db, None
        await close_connection(db, self._lock, self._error)

    async def load(self) -> tuple[float | None, list[DeskState]]:
        """(when the controller that wrote them was last alive, or None if never; the desks
        by operator id)."""
        async with self._lock:
            db = self._connection()
            try:
                meta = list(await db.execute_fetchall("SELECT value FROM meta WHERE key = 'alive_at'"))
                rows = list(
                    await db.execute_fetchall(
                        "SELECT operator_id, status, reason, skills, since FROM desks ORDER BY operator_id"
                    )
                )
            except sqlite3.Error as exc:
                raise self._error("read the desks", exc) from exc
        try:
            desks = [
                DeskState(
                    operator_id=row[0],
                    status=DeskStatus(row[1]),
                    reason=row[2],
                    skills=tuple((str(skill), int(level)) for skill, level in json.loads(row[3])),
                    since=float(row[4]),
                )
                for row in rows
            ]
        except (ValueError, TypeError) as exc:
            raise StoreError(f"desk store {self.path}: a row does not read back: {exc}") from None
        return (float(meta[0][0]) if meta else None), desks

    async def save(self, desks: Sequence[DeskState], alive_at: float) -> None:
        """Write these desks (replacing each operator's row) and the time alive, at once."""
        async with self._lock, write_transaction(self._connection(), "write the desks", self._error) as tx:
            await tx.executemany(
                "INSERT INTO desks (operator_id, status, reason, skills, since) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (operator_id) DO UPDATE SET status = excluded.status,"
                " reason = excluded.reason, skills = excluded.skills, since = excluded.since",
                [(d.operator_id, d.status.value, d.reason, json.dumps(d.skills), d.since) for d in desks],
            )
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('alive_at', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (alive_at,),
            )

    def _error(self, doing: str, exc: sqlite3.Error | OSError) -> StoreError:
        detail = exc.strerror if isinstance(exc, OSError) else exc
        return StoreError(f"desk store {self.path}: could not {doing}: {detail}")

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"desk store {self.path}: not open")
        return self._db
