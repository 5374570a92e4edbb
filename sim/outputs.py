# What a simulation run writes besides its KPIs: one row per call (`--calls-csv`).
# Rules:
# - Streaming: a row is written as each call ends (a simulated year is millions of calls),
#   nothing is kept per call.
# - A row says what happened to the call on the simulator's clock (seconds since midnight of
#   day 0, empty where it did not happen), and, in a trace replay, the trace's own call id,
#   so a run can be joined back to its source row by row.
# - The simulator has no phone numbers: no row could carry one.
from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome

COLUMNS = (
    "call_id",
    "source_call_id",
    "skill",
    "language",
    "priority",
    "arrived_s",
    "queued_s",
    "answered_s",
    "ended_s",
    "outcome",
    "ivr_abandoned",
    "wait_s",
    "talk_s",
    "operator",
    "callback_id",
)


def _t(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


class CallsCsv:
    """`add` every ended call (simulate's on_call); a context manager around the file."""

    def __init__(self, path: Path, source_id: Callable[[str], str | None] | None = None) -> None:
        self.path = path
        self._source_id = source_id
        self._file: IO[str] | None = None
        self.rows = 0

    def __enter__(self) -> CallsCsv:
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def add(self, call: Call) -> None:
        answered, ended = call.answered_at, call.ended_at
        in_ivr = call.outcome is CallOutcome.ABANDONED and call.queued_at is None
        source = self._source_id(call.call_id) if self._source_id is not None else None
        self._writer.writerow(
            (
                call.call_id,
                source or "",
                call.skill or "",
                call.language or "",
                call.priority,
                _t(call.arrived_at),
                _t(call.queued_at),
                _t(answered),
                _t(ended),
                call.outcome.value if call.outcome is not None else "",
                1 if in_ivr else 0,
                _t(call.wait),
                _t(ended - answered if answered is not None and ended is not None else None),
                call.operator_id or "",
                call.callback_id or "",
            )
        )
        self.rows += 1
