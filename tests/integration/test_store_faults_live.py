# The callback store fails under a live controller (the real sandbox, SIPp callers, SQLite
# on a small tmpfs of the test's own): its file system filled to the last byte, or its file
# locked by another process's write transaction (a backup, an admin's sqlite3 shell) past
# the store's busy timeout. A citizen who asks for a callback then is told it cannot be
# taken (cc/callback-refused) and keeps their place on the line - never promised a
# callback the file does not hold - and is answered when an operator is free; the error
# names the file. Once the store can write again, the next request is stored and promised.
# A read-only file system: the kernel refuses to remount one read-only while a file on it
# is open for writing (EBUSY), so that fault comes at start, where the controller refuses
# to run with one line naming callbacks.store (the last test).
from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.sim.sipp import SippCall
from tests.integration.test_callbacks import ana_talking, callback_config, callback_config_file, rows
from tests.recorder import AmiRecorder

TMPFS_BYTES = 4 * 1024 * 1024


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700", "tmpfs", str(where)], check=True
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    """Fill the file system of `directory` to the last byte (bounded by its size)."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        for _ in range(TMPFS_BYTES // len(chunk) + 2):
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        for size in (4096, 512, 1):  # the last pieces
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def remount(directory: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True)


async def _hears(observer: AmiRecorder, channel: str, prompt: str, timeout: float = 30) -> None:
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "Newexten"
            and e.get("Channel") == channel
            and e.get("Application") == "Playback"
            and e.get("AppData") == prompt
        ),
        timeout,
        f"{channel} to hear {prompt}",
    )


@pytest.mark.parametrize("fault", ["disk-full", "locked"])
async def test_a_callback_the_store_cannot_keep_is_refused_and_the_caller_keeps_their_place(
    asterisk,
    observer: AmiRecorder,
    test_config: Config,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    port = asterisk.sip_port
    with small_tmpfs(tmp_path / "fs") as fs:
        store = fs / "callbacks.sqlite"
        ctl = Controller(callback_config(test_config, store))
        await ctl.start()
        calls: list[SippCall] = []
        try:
            # A keeps Ana (the only `info` operator) busy 20 s; B waits behind A.
            a = await ana_talking(observer, "+34600000951", 20, port)
            calls.append(a)
            filler, holder = None, None
            if fault == "disk-full":
                filler = fill(fs)
            else:
                holder = sqlite3.connect(store, isolation_level=None)
                holder.execute("BEGIN IMMEDIATE")  # (the write lock, held)
            with caplog.at_level(logging.WARNING):
                b = SippCall(caller="+34600000952", digits="111", stay_s=60, target_port=port)
                calls.append(b)
                await b.start()
                ch_b = await observer.channel_of(b)
                # Refused, not promised: B hears why and holds on, in their place.
                await _hears(observer, ch_b, "cc/callback-refused")
                assert not observer.find(
                    lambda e: e.get("Channel") == ch_b and e.get("AppData") == "cc/callback-confirm"
                )
                # Answered by Ana once A is done.
                await observer.bridged_with(ch_b, timeout=60)
            assert any(str(store) in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
            assert ctl.counters["callback_store_failures"] >= 1 and ctl.counters["callbacks_stored"] == 0
            # The file system recovers: the next citizen's request is kept and promised.
            if filler is not None:
                filler.unlink()
            if holder is not None:
                holder.execute("ROLLBACK")
                holder.close()
                holder = None
            c = SippCall(caller="+34600000953", digits="111", stay_s=60, target_port=port)
            calls.append(c)
            await c.start()
            ch_c = await observer.channel_of(c)
            await _hears(observer, ch_c, "cc/callback-confirm", timeout=40)
            (row,) = rows(store, "SELECT number, state FROM callbacks")
            assert (row["number"], row["state"]) == ("+34600000953", "pending")  # B's was never kept
        finally:
            for call in calls:
                call.stop()
            await ctl.stop()


async def test_a_store_on_a_read_only_file_system_stops_the_controller_at_start_naming_it(
    asterisk, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "fs") as fs:
        remount(fs, "ro")  # (nothing open on it: the kernel allows it)
        store, config = callback_config_file(tmp_path)
        data = yaml.safe_load(config.read_text())
        data["callbacks"]["store"] = str(fs / "callbacks.sqlite")
        config.write_text(yaml.safe_dump(data, allow_unicode=True))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "contactcenter.cli", "run", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, (out, err)
        line = err.decode().strip().splitlines()[-1]
        assert line.startswith("contactcenter: callbacks.store") and str(fs / "callbacks.sqlite") in line
        assert "Read-only file system" in line
        assert "Traceback" not in err.decode()
        assert not store.exists()
