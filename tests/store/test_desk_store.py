# The desk store (store/desks.py) on real SQLite files: a round trip, the last write per
# operator winning, what a killed writer had committed still there, owner-only files, and
# every failure a StoreError naming the file.
from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from contactcenter.store import StoreError
from contactcenter.store.desks import DeskState, DeskStatus, SqliteDeskStore


def desk(operator_id: str, status: DeskStatus, reason: str | None = None, since: float = 1.0) -> DeskState:
    return DeskState(
        operator_id=operator_id,
        status=status,
        reason=reason,
        skills=(("info", 1), ("tributs", 2)),
        since=since,
    )


async def test_the_last_state_of_each_operator_is_what_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "desks.sqlite"
    store = SqliteDeskStore(path)
    await store.open()
    assert await store.load() == (None, [])
    await store.save([desk("ana", DeskStatus.READY), desk("pau", DeskStatus.PAUSED, "meal")], alive_at=10.0)
    await store.save([desk("ana", DeskStatus.PAUSED, "training", since=2.0)], alive_at=20.0)
    await store.save([], alive_at=30.0)  # a heartbeat
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SqliteDeskStore(path)
    await again.open()
    alive_at, desks = await again.load()
    await again.close()
    assert alive_at == 30.0
    assert desks == [
        desk("ana", DeskStatus.PAUSED, "training", since=2.0),
        desk("pau", DeskStatus.PAUSED, "meal"),
    ]


def test_a_desk_has_a_reason_exactly_when_paused() -> None:
    with pytest.raises(ValueError, match="reason exactly when paused"):
        desk("ana", DeskStatus.PAUSED)
    with pytest.raises(ValueError, match="reason exactly when paused"):
        desk("ana", DeskStatus.READY, "meal")


CHILD = """
import asyncio, sys, time
from pathlib import Path
from contactcenter.store.desks import DeskState, DeskStatus, SqliteDeskStore

async def main():
    store = SqliteDeskStore(Path(sys.argv[1]))
    await store.open()
    for i in range(int(sys.argv[2])):
        d = DeskState(f"op{i:03d}", DeskStatus.PAUSED, "break", (("info", 1),), since=i)
        await store.save([d], alive_at=float(i))
        print(i, flush=True)
    time.sleep(60)  # (killed here, its connection open)

asyncio.run(main())
"""


async def test_what_save_returned_for_survives_a_kill_of_the_writer(tmp_path: Path) -> None:
    path, count = tmp_path / "desks.sqlite", 40
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(path), str(count), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        for i in range(count):
            assert int(await proc.stdout.readline()) == i
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    store = SqliteDeskStore(path)
    await store.open()
    alive_at, desks = await store.load()
    await store.close()
    assert alive_at == count - 1
    assert [d.operator_id for d in desks] == [f"op{i:03d}" for i in range(count)]


async def test_failures_are_store_errors_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(StoreError, match=f"desk store {junk}: could not"):
        await SqliteDeskStore(junk).open()
    missing = tmp_path / "no-such-folder" / "desks.sqlite"
    with pytest.raises(StoreError, match=f"desk store {missing}: could not create it"):
        await SqliteDeskStore(missing).open()
    closed = SqliteDeskStore(tmp_path / "closed.sqlite")
    with pytest.raises(StoreError, match="not open"):
        await closed.save([], alive_at=0.0)
    # A row that does not read back (written by hand, not by us): an error, not a guess.
    path = tmp_path / "desks.sqlite"
    store = SqliteDeskStore(path)
    await store.open()
    await store.save([desk("ana", DeskStatus.READY)], alive_at=1.0)
    await store.close()
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("UPDATE desks SET skills = 'not json'")
    db.commit()
    db.close()
    store = SqliteDeskStore(path)
    await store.open()
    with pytest.raises(StoreError, match=f"desk store {path}: a row does not read back"):
        await store.load()
    await store.close()
    assert os.path.exists(path)
