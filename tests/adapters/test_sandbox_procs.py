# sandbox/procs.py: a recorded pid counts as running only while that program really runs
# (real processes: `sleep` children of this test, and a zombie made on purpose).
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from contactcenter.sandbox import procs


def test_a_live_child_runs_under_its_own_name_only() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert procs.running(child.pid, "sleep")
        assert not procs.running(child.pid, "asterisk")  # a recycled pid is not ours
    finally:
        child.kill()
        child.wait()


def test_an_exited_child_is_not_running_and_is_reaped() -> None:
    # (posix_spawn, not Popen: running() reaps it, which a Popen would not know)
    pid = os.posix_spawnp("sleep", ["sleep", "30"], os.environ)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while procs.running(pid, "sleep") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not procs.running(pid, "sleep")
    # running() reaped it: no zombie left (the pid is gone from /proc).
    assert not os.path.exists(f"/proc/{pid}")


def test_a_zombie_is_not_running() -> None:
    # A zombie we do not reap: a shell whose child exits while the shell sleeps on (the
    # shell does not wait for it), so the child stays Z and running() (not its parent)
    # cannot reap it.
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 0 & echo $!; exec sleep 30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert shell.stdout is not None
        zombie = int(shell.stdout.readline())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{zombie}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert os.path.exists(f"/proc/{zombie}")
        assert not procs.running(zombie, "sleep")
    finally:
        shell.kill()
        shell.wait()
        assert shell.stdout is not None
        shell.stdout.close()


def test_no_such_pid_is_not_running() -> None:
    assert not procs.running(2**22 + 1, "asterisk")  # beyond pid_max's default


def test_a_process_whose_main_thread_exited_runs_while_another_thread_does() -> None:
    # Like an exiting Asterisk: the leader thread is gone (a zombie in /proc/<pid>/stat)
    # while other threads, which hold the process's files and ports, still run.
    code = (
        "import ctypes, sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(30,)).start()\n"
        "print('ready', flush=True)\n"
        "ctypes.CDLL(None).pthread_exit(None)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with open(f"/proc/{child.pid}/stat") as f:
            comm = f.read().split("(", 1)[1].rsplit(")", 1)[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the leader shows as a zombie
            with open(f"/proc/{child.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        else:
            raise AssertionError("the main thread never exited")
        assert procs.running(child.pid, comm)
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
