# Whether a process the sandbox started (by its recorded pid) still runs.
# Rules:
# - A process counts as running until the kernel has closed its files: /proc/<pid>/stat
#   reports it, it is not a zombie (Z) or dead (X), and its name is the program's. Reading
#   /proc/<pid>/exe is not enough: an exiting process loses that link before it closes its
#   files, so its listening ports (AMI, SIP, MQTT) could still be bound once we had called
#   it gone, and the next `up` would find them taken. Nor is the main thread's state: when
#   it has exited it shows as a zombie while the other threads (which share the files) are
#   still being torn down; the process is gone when no thread but a zombie leader is left.
# - A recycled pid is another program's: its name differs, so it is not ours.
# - A child of ours that has exited is reaped on the way (no zombie left behind).
from __future__ import annotations

import contextlib
import os


def _state(stat_path: str) -> tuple[str, bytes] | None:
    """(name, state letter) from a /proc .../stat file, None if it is gone."""
    try:
        with open(stat_path, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses; the state follows
    # the last closing one.
    open_at, close_at = stat.find(b"("), stat.rfind(b")")
    if open_at < 0 or close_at < open_at:
        return None
    return stat[open_at + 1 : close_at].decode("utf-8", "replace"), stat[close_at + 2 : close_at + 3]


_GONE = (b"Z", b"X", b"x")


def running(pid: int, name: str) -> bool:
    """Whether `pid` is a live process named `name` (15 characters at most, as the kernel
    keeps them)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
    leader = _state(f"/proc/{pid}/stat")
    if leader is None or leader[0] != name[:15]:
        return False
    if leader[1] not in _GONE:
        return True
    # A zombie leader: running while any other thread is (an exited one may still be
    # listed, dead, for a moment).
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        thread = _state(f"/proc/{pid}/task/{tid}/stat")
        if tid != str(pid) and thread is not None and thread[1] not in _GONE:
            return True
    return False
