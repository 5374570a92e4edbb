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
        if not self._open_day(local.date()):
            return False
        return self.open <= local.time() < self.close

    def _open_day(self, day: dt.date) -> bool:
        return day not in self.holidays and day.weekday() in self.weekdays

    def _at(self, day: dt.date, time: dt.time) -> float:
        return dt.datetime.combine(day, time, self.tz).timestamp()

    def closes_at(self, wall: float) -> float | None:
        """When the opening that `wall` falls in ends (None: closed at `wall`)."""
        if not self.is_open(wall):
            return None
        return self._at(dt.datetime.fromtimestamp(wall, self.tz).date(), self.close)

    def next_open(self, wall: float) -> float | None:
        """`wall` itself if open then, else when the line next opens (None: not within
        a year, e.g. no weekday open)."""
        if self.is_open(wall):
            return wall
        day = dt.datetime.fromtimestamp(wall, self.tz).date()
        for offset in range(366):
            d = day + dt.timedelta(days=offset)
            if self._open_day(d):
                opening = self._at(d, self.open)
                if opening > wall:
                    return opening
        return None
