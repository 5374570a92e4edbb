# A process of its own on a callback store, for what a test cannot do to its own process:
# be killed in the middle of writing, run without root's power over file modes (as root, a
# read-only file is not read-only), or write under a file-size limit (a full disk, without
# filling one).
# Run from the checkout: python -m tests.store.child [--no-override] COMMAND PATH [NUMBER]
#   --no-override  as root, first give up the capabilities that let root write what a
#                  file's mode refuses, so a read-only file or directory is one (see below)
#   add PATH N     adds record(0) .. record(N-1), printing each id once `add` returned
#   open PATH      opens the store: prints "ok" or "StoreError: ..."
#   fill PATH B    files limited to B bytes: adds records until StoreError, then prints
#                  "added K" and "StoreError: ..."
from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import sys
from pathlib import Path

from contactcenter.store import CallbackRecord, CallbackState, SqliteCallbackStore, StoreError


def record(i: int) -> CallbackRecord:
    """The i-th record the child writes; the tests rebuild it to compare."""
    return CallbackRecord(
        callback_id=f"cb-{i:012x}",
        number=f"+346{i % 100_000_000:08d}",
        number_key=f"key-{i}",
        skill=("info", "tramits", "tributs")[i % 3],
        language=("ca", "es", "en")[i % 3],
        priority=i % 2,
        arrived_at=1_700_000_000.0 + i / 4,
        queue_seq=i,
        requested_at=1_700_000_100.0 + i / 4,
        ivr_path=f"{i % 3 + 1}-{i % 5 + 1}",
        due_at=None,
        expires_at=1_700_100_000.0,
        state=CallbackState.PENDING,
        attempts=0,
        next_attempt_at=None,
        last_outcome=None,
        operator_id=None,
        updated_at=1_700_000_100.0 + i / 4,
    )


async def add(path: Path, n: int) -> None:
    async with SqliteCallbackStore(path) as store:
        for i in range(n):
            await store.add(record(i))
            print(record(i).callback_id, flush=True)


async def open_one(path: Path) -> None:
    try:
        async with SqliteCallbackStore(path):
            pass
    except StoreError as exc:
        print(f"StoreError: {exc}")
    else:
        print("ok")


async def fill(path: Path, limit: int) -> None:
    # Past the limit a write fails with EFBIG, as on a full disk, once SIGXFSZ is ignored.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    added = 0
    try:
        async with SqliteCallbackStore(path) as store:
            while True:
                await store.add(record(added))
                added += 1
    except StoreError as exc:
        print(f"added {added}")
        print(f"StoreError: {exc}")


# Root writes a read-only file through CAP_DAC_OVERRIDE (and CAP_FOWNER could chmod it): a
# process that drops them from its bounding set and then executes Python again runs as root
# without them. Dropping needs CAP_SETPCAP, which root has.
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def without_override(argv: list[str]) -> None:
    if os.geteuid() != 0:
        main(argv)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"could not drop capability {cap}")
    os.execv(sys.executable, [sys.executable, "-W", "error", "-m", "tests.store.child", "--dropped", *argv])


def dropped(argv: list[str]) -> None:
    with open("/proc/self/status") as status:
        effective = next(int(line.split()[1], 16) for line in status if line.startswith("CapEff:"))
    if effective & (1 << CAP_DAC_OVERRIDE | 1 << CAP_FOWNER):
        raise SystemExit(f"capabilities still effective: {effective:x}")
    main(argv)


def main(argv: list[str]) -> None:
    if argv[0] == "--no-override":
        without_override(argv[1:])
        return
    if argv[0] == "--dropped":
        dropped(argv[1:])
        return
    command, path = argv[0], Path(argv[1])
    if command == "add":
        asyncio.run(add(path, int(argv[2])))
    elif command == "open":
        asyncio.run(open_one(path))
    elif command == "fill":
        asyncio.run(fill(path, int(argv[2])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
