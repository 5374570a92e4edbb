# Booked callbacks ("cita previa"): the slots a citizen may book a callback in, and how many
# each slot takes, from who is on shift. Rules:
# - Pure: no I/O, no clock reads (`now` is an argument); misuse and refusals are ValueError
#   (a refusal is a NotBookable, whose `reason` the web can turn into words).
# - Times are seconds on one clock, the caller's, and `epoch + t` is wall time for the opening
#   hours, as in the engine. The store keeps wall time: the live desk books with epoch 0 and
#   wall-clock shifts, so what it passes to the store needs no conversion.
# - A slot is `slot_s` long, counted from the day's opening (8:00, 8:30, ... when slots are
#   30 min), and ends at closing time at the latest: the day's last one is shorter when
#   closing does not fall on a slot's boundary. Without opening hours, slots are counted from
#   wall time 0.
# - A slot's capacity for a skill is floor(share x operator-seconds on shift with the skill
#   within the slot / the skill's AHT): the share of the slot's handling time that bookings
#   may take; the rest stays for live callers and the callbacks they leave.
# - Which operators count: every operator with the skill, at any level, each second alike. A
#   booked callback waits in its skill's queue like a caller, and the relaxation steps let
#   every level take it (level 2 after a while, backups later): all of them serve it. To
#   weight levels would need a model of how routing shares work between them, which the share
#   stands in for. An operator with several skills counts in full for each, so bookings of k
#   skills may claim k x share of their time: keep share x skills per operator <= 1 where
#   that matters.
# - A due time outside opening hours is refused, never moved to the next opening: the
#   citizen chose that time. A booked callback expires `expire_after_s` after its time, not
#   after the booking (booked days ahead, it would expire before it is due).
# - The counts here are what a listing shows. Between two bookings at once, the guard is the
#   store's `book`, which counts again in its write transaction.
from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import CallbackPolicy

# A capacity a rounding error short of a whole number (0.1 x 1800 / 180 = 0.99999...) is that
# number: booked places are counted, not measured.
_ROUNDING = 1e-9


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    return float(value)


class NotBookable(ValueError):
    """This time cannot be booked. `reason`: "past", "closed" (outside opening hours),
    "unstaffed" (nobody with the skill on shift for enough of the slot) or "full"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffedShift:
    """Operators on shift from `start` to `end`, with these skills and levels: one named
    operator, or `count` alike (a planned headcount, names not known yet)."""

    start: float
    end: float
    skills: tuple[tuple[str, int], ...]  # (skill, level), level 1 = best, as at login
    operator_id: str | None = None
    count: int = 1

    def __post_init__(self) -> None:
        who = self.operator_id or "a shift"
        if not _seconds(f"start of {who}", self.start) < _seconds(f"end of {who}", self.end):
            raise ValueError(f"{who}: the shift must end after it starts, got {self.start} to {self.end}")
        if not self.skills:
            raise ValueError(f"{who}: a shift needs at least one skill")
        seen: set[str] = set()
        for skill, level in self.skills:
            if not (type(skill) is str and skill):
                raise ValueError(f"{who}: a skill must be a non-empty string, got {skill!r}")
            if skill in seen:
                raise ValueError(f"{who}: skill {skill} is listed twice")
            seen.add(skill)
            if type(level) is not int or level < 1:
                raise ValueError(f"{who}: the level of {skill} must be an integer >= 1, got {level!r}")
        if self.operator_id is not None and not (type(self.operator_id) is str and self.operator_id):
            raise ValueError(f"operator_id must be None or a non-empty string, got {self.operator_id!r}")
        if type(self.count) is not int or self.count < 1:
            raise ValueError(f"{who}: count must be an integer >= 1, got {self.count!r}")
        if self.operator_id is not None and self.count != 1:
            raise ValueError(f"{who}: a named operator is one operator, got count {self.count}")

    def has(self, skill: str) -> bool:
        return any(name == skill for name, _ in self.skills)

    def seconds_within(self, start: float, end: float) -> float:
        """Operator-seconds of this shift within [start, end)."""
        return max(0.0, min(end, self.end) - max(start, self.start)) * self.count


@dataclass(frozen=True, slots=True)
class Staffing:
    """Who is on shift when: the plan's shifts (named operators on two shifts at once are
    refused: their time would count twice)."""

    shifts: tuple[StaffedShift, ...] = ()

    def __post_init__(self) -> None:
        named: dict[str, list[StaffedShift]] = {}
        for shift in self.shifts:
            if not isinstance(shift, StaffedShift):
                raise ValueError(f"a shift must be a StaffedShift, got {shift!r}")
            if shift.operator_id is not None:
                named.setdefault(shift.operator_id, []).append(shift)
        for operator_id, theirs in named.items():
            theirs.sort(key=_by_start)
            for before, after in itertools.pairwise(theirs):
                if after.start < before.end:
                    raise ValueError(
                        f"operator {operator_id} is on two shifts at once: "
                        f"{before.start}-{before.end} and {after.start}-{after.end}"
                    )

    def operator_seconds(self, skill: str, start: float, end: float) -> float:
        """Seconds of operators with `skill` (any level) on shift within [start, end)."""
        return math.fsum(s.seconds_within(start, end) for s in self.shifts if s.has(skill))


def _by_start(shift: StaffedShift) -> float:
    return shift.start


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotPlan:
    """How bookings are cut and limited: slots of `slot_s`, of whose handling time bookings
    may take `share`, each booking counted as one handling of the skill's AHT."""

    slot_s: float = 1800.0
    share: float = 0.25
    aht_s: Mapping[str, float] = field(default_factory=dict)  # per skill, else the default
    default_aht_s: float = 180.0

    def __post_init__(self) -> None:
        if not _seconds("slot_s", self.slot_s) > 0:
            raise ValueError(f"slot_s must be a positive number of seconds, got {self.slot_s}")
        share = self.share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ValueError(f"share must be a fraction in (0, 1], got {share!r}")
        for skill, aht in {**self.aht_s, "(default)": self.default_aht_s}.items():
            if not _seconds(f"AHT of {skill}", aht) > 0:
                raise ValueError(f"AHT of {skill} must be a positive number of seconds, got {aht}")

    def aht(self, skill: str) -> float:
        return self.aht_s.get(skill, self.default_aht_s)


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """[start, end) on the caller's clock."""

    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class BookableSlot:
    """A slot as a listing shows it for one skill: its capacity and how many are booked."""

    slot: Slot
    capacity: int
    taken: int

    @property
    def free(self) -> int:
        """Places left (0 when full, or when more were booked than a changed staffing allows)."""
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True, slots=True)
class BookingTerms:
    """What a booking accepted by `BookingCalendar.terms` is: the store's `book` takes the
    slot's bounds and capacity (it counts again), and the record takes its times."""

    skill: str
    due_at: float  # its place in its queue, and when it joins it
    slot: Slot
    capacity: int
    taken: int  # booked before this one, as far as the caller's list knew
    expires_at: float  # due_at + the policy's expire_after_s


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingCalendar:
    """The slots a skill can be booked in and their capacity, from the plan, the staffing
    and the opening hours (None: always open). `epoch + t` is wall time."""

    plan: SlotPlan
    staffing: Staffing
    hours: OpeningHours | None = None
    epoch: float = 0.0

    def slot_at(self, t: float) -> Slot:
        """The slot that `t` falls in; NotBookable("closed") outside opening hours."""
        _seconds("t", t)
        wall, length = self.epoch + t, self.plan.slot_s
        hours = self.hours
        if hours is None:
            start = math.floor(wall / length) * length
            return Slot(start - self.epoch, start + length - self.epoch)
        closes = hours.closes_at(wall)
        if closes is None:
            raise NotBookable("closed", f"{_wall(wall, hours)} is outside opening hours")
        opened = self._opened(wall, hours)
        start = opened + math.floor((wall - opened) / length) * length
        return Slot(start - self.epoch, min(start + length, closes) - self.epoch)

    def capacity(self, skill: str, slot: Slot) -> int:
        """floor(share x operator-seconds with `skill` on shift in the slot / the skill's AHT)."""
        seconds = self.staffing.operator_seconds(skill, slot.start, slot.end)
        return math.floor(self.plan.share * seconds / self.plan.aht(skill) + _ROUNDING)

    def slots(self, skill: str, start: float, end: float, booked: Iterable[float] = ()) -> list[BookableSlot]:
        """Every slot within opening hours that starts in [start, end), in order, with its
        capacity for `skill` and how many of `booked` (the due times of the skill's open
        bookings) fall in it. Full or unstaffed slots are listed too: `free` tells."""
        if not _seconds("start", start) < _seconds("end", end):
            raise ValueError(f"an empty range of times: {start} to {end}")
        found = [Slot(s, e) for s, e in self._bounds(start, end)]
        taken = [0] * len(found)
        starts = [slot.start for slot in found]
        for due in booked:
            i = bisect.bisect_right(starts, due) - 1  # (the last slot starting at or before it)
            if i >= 0 and due in found[i]:
                taken[i] += 1
        return [
            BookableSlot(slot, self.capacity(skill, slot), n) for slot, n in zip(found, taken, strict=True)
        ]

    def terms(
        self, skill: str, due_at: float, *, now: float, policy: CallbackPolicy, booked: Iterable[float] = ()
    ) -> BookingTerms:
        """The terms of a callback for `skill` booked at `now` for `due_at`, or NotBookable
        (why in its reason): a time past, outside opening hours, in a slot nobody with the
        skill staffs, or in a full one (`booked`: the due times of the skill's open bookings)."""
        if not (type(skill) is str and skill):
            raise ValueError(f"skill must be a non-empty string, got {skill!r}")
        due_at = _seconds("due_at", due_at)
        if due_at < _seconds("now", now):
            raise NotBookable("past", f"a callback cannot be booked for a time past ({due_at} < {now})")
        slot = self.slot_at(due_at)
        capacity = self.capacity(skill, slot)
        if capacity == 0:
            raise NotBookable(
                "unstaffed", f"no {skill} bookings in the slot {slot.start}-{slot.end}: too few on shift"
            )
        taken = sum(1 for due in booked if due in slot)
        if taken >= capacity:
            raise NotBookable(
                "full", f"the {skill} slot {slot.start}-{slot.end} is full ({taken} of {capacity} booked)"
            )
        return BookingTerms(skill, due_at, slot, capacity, taken, due_at + policy.expire_after_s)

    # -- slots of the opening hours

    def _opened(self, wall: float, hours: OpeningHours) -> float:
        """When the opening that `wall` (open) falls in began: that day's opening time."""
        day = dt.datetime.fromtimestamp(wall, hours.tz).date()
        return dt.datetime.combine(day, hours.open, hours.tz).timestamp()

    def _bounds(self, start: float, end: float) -> list[tuple[float, float]]:
        """(start, end) of the slots that start in [start, end), on the caller's clock."""
        length, epoch, hours = self.plan.slot_s, self.epoch, self.hours
        out: list[tuple[float, float]] = []
        if hours is None:
            # Counted by index, as in slot_at, so each start is computed the same way there.
            k = math.ceil((epoch + start) / length)
            while (s := k * length) - epoch < end:
                out.append((s - epoch, s + length - epoch))
                k += 1
            return out
        wall = epoch + start
        while True:
            opening = hours.next_open(wall)  # (`wall` itself when open then)
            if opening is None or opening - epoch >= end:
                return out
            closes = hours.closes_at(opening)
            assert closes is not None  # (open at `opening`)
            opened = self._opened(opening, hours)
            # The first slot of this opening that starts at or after `opening`: counted by
            # index from the day's opening, as in slot_at (computed, never summed up).
            k = math.ceil((opening - opened) / length)
            while (s := opened + k * length) < closes:
                if s - epoch >= end:
                    return out
                out.append((s - epoch, min(s + length, closes) - epoch))
                k += 1
            wall = closes  # (closed then: the next opening is found from there)


def _wall(wall: float, hours: OpeningHours) -> str:
    return dt.datetime.fromtimestamp(wall, hours.tz).isoformat(timespec="minutes")
