# The command's logging (contactcenter/logsetup.py) against a real pipe that nobody reads
# for a while (a slow supervisor, a paused terminal): logging returns at once, the writer
# thread waits, and every line arrives, in order, once the pipe is read.
from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from collections.abc import Iterator

import pytest

from contactcenter.logsetup import queued_logging

LINES = 3000  # about 200 KB: more than a Linux pipe holds (64 KB)


@pytest.fixture
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's handlers, as a command's process starts (pytest's
    are taken off for the test and put back after)."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = saved
    root.setLevel(level)


def test_logging_into_a_full_pipe_does_not_block_and_loses_nothing(
    bare_root: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream, os.fdopen(read_end) as reader:
        monkeypatch.setattr("sys.stderr", stream)
        received: list[str] = []
        drain = threading.Thread(target=lambda: received.extend(reader))
        bare_root.handlers.clear()
        with queued_logging(logging.INFO):
            log = logging.getLogger("contactcenter.test")

            def burst() -> None:
                for n in range(LINES):
                    log.info("call %06d ended: answered %s", n, "x" * 40)

            # (in a thread of its own, so that a logging call that blocks fails the test
            # instead of hanging it)
            caller = threading.Thread(target=burst)
            caller.start()
            caller.join(5)
            returned = not caller.is_alive()
            assert [type(h) for h in bare_root.handlers] == [logging.handlers.QueueHandler]
            drain.start()  # the reader comes back
            caller.join(10)
        assert bare_root.handlers == []  # what it configured is undone
        stream.close()
        drain.join(10)
    assert returned, "a logging call waited for the pipe's reader"
    assert [line.split("call ")[1][:6] for line in received] == [f"{n:06d}" for n in range(LINES)]
    assert all(" INFO contactcenter.test: call " in line for line in received)


def test_a_root_logger_with_handlers_is_left_as_it_is() -> None:
    root = logging.getLogger()
    before = root.handlers[:]
    assert before  # (pytest's own)
    with queued_logging(logging.DEBUG):
        assert root.handlers == before
