# The command's logging. Rules: logging never blocks the event loop. A record is formatted
# where it is made (its text is then fixed) and queued; one thread writes the queue to
# stderr, in order. When stderr is a pipe its reader is slow to empty (a supervisor, a
# test harness, a terminal paused), it is that thread that waits, never the controller's
# loop: a loop blocked in write() stops reading Asterisk's events, and Asterisk holds up
# the events of every AMI session while one session's socket is full.
# Like logging.basicConfig, it configures nothing when the root logger already has a
# handler (an embedding program's, pytest's); what it configured is undone on exit.
from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def queued_logging(level: int) -> Iterator[None]:
    """Log at `level` and above to stderr through a writer thread, for the block."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(logging.Formatter(FORMAT))
    handler = logging.handlers.QueueHandler(records)
    listener = logging.handlers.QueueListener(records, writer)
    root.addHandler(handler)
    root.setLevel(level)
    listener.start()
    try:
        yield
    finally:
        root.removeHandler(handler)
        listener.stop()  # (writes what is queued first)
        writer.flush()
