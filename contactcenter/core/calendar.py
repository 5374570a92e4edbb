# Opening hours and holidays. Rules: pure computation; the time-zone object is built by the
# caller (reading the tz database is I/O, done once outside the core) and wall time is
# `epoch + now`, where the driver chose `epoch` (the live controller: the wall clock at its
# start minus its monotonic clock; the simulator: the start of the simulated day).
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When the line takes calls: [open, close) local time on `weekdays`, except holidays."""

    tz: dt.tzinfo
    open: dt.time
    close: dt.time
    weekdays: frozenset[int] = field(default=frozenset(range(7)))  # Monday = 0
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if self.close <= self.open:
            raise ValueError(f"closing time {self.close} must be after opening time {self.open}")

    def is_open(self, wall: float) -> bool:
        local = dt.datetime.fromtimestamp(wall, self.tz)
        if local.date() in self.holidays or local.weekday() not in self.weekdays:
            return False
        return self.open <= local.time() < self.close
