# Opening an SQLite file that holds citizens' data (callbacks, the centre's records). Rules:
# - The file is owner-only (0600) before SQLite first writes it: its -wal and -shm files
#   copy its mode bits, so none of them is ever readable by others.
# - Autocommit at the driver (isolation_level=None): each store says where its own
#   transactions begin and end.
# - The store prepares the connection (pragmas, schema) before anyone uses it; if that
#   fails, the connection is closed, not leaked.
from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite


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
