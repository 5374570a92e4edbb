# Opening an SQLite file that holds citizens' data (callbacks, the centre's records). Rules:
# - The file is owner-only (0600) before SQLite first writes it: its -wal and -shm files
#   copy its mode bits, so none of them is ever readable by others.
# - Autocommit at the driver (isolation_level=None): each store says where its own
#   transactions begin and end.
# - A write is one BEGIN IMMEDIATE transaction: the write lock is taken at once, so a busy
#   file fails before any work; anything that goes wrong rolls it back.
# - The store prepares the connection (pragmas, schema) before anyone uses it; if that
#   fails, the connection is closed, not leaked.
# - aiosqlite logs every statement with its parameters at DEBUG, a callback's phone number
#   among them: its logger never goes below INFO, whatever the root logger's level.
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosqlite

logging.getLogger("aiosqlite").setLevel(logging.INFO)


async def connect_private(
    path: Path,
    *,
    busy_timeout: float,
    prepare: Callable[[aiosqlite.Connection], Awaitable[None]],
    failed: Callable[[str, sqlite3.Error | OSError], Exception],
) -> aiosqlite.Connection:
    """The prepared connection to `path` (created owner-only if missing); `failed(doing,
    exc)` is the store's own error for what went wrong."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise failed("create it", exc) from exc
    try:
        db = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise failed("open", exc) from exc
    try:
        await prepare(db)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            await db.close()
        raise
    return db


@contextlib.asynccontextmanager
async def write_transaction(
    db: aiosqlite.Connection, doing: str, failed: Callable[[str, sqlite3.Error | OSError], Exception]
) -> AsyncIterator[aiosqlite.Connection]:
    """`db` inside one BEGIN IMMEDIATE ... COMMIT; rolled back if anything fails (an SQLite
    error comes out as `failed(doing, exc)`)."""
    try:
        await db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            await db.execute("COMMIT")
        except BaseException:
            # Also after a failed or cancelled COMMIT; "no transaction is active" is fine.
            with contextlib.suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise failed(doing, exc) from exc


async def pragma(db: aiosqlite.Connection, setting: str) -> object:
    """Set a pragma ("journal_mode = WAL") and read back what took effect."""
    await db.execute(f"PRAGMA {setting}")
    rows = list(await db.execute_fetchall(f"PRAGMA {setting.split('=')[0].strip()}"))
    return rows[0][0] if rows else None


async def close_connection(
    db: aiosqlite.Connection | None,
    lock: asyncio.Lock,
    failed: Callable[[str, sqlite3.Error | OSError], Exception],
) -> None:
    """Close `db` (if any) once the transaction holding `lock` is done."""
    if db is not None:
        async with lock:
            try:
                await db.close()
            except sqlite3.Error as exc:
                raise failed("close", exc) from exc
