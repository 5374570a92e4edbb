# Booked callbacks' slots and capacity (core/booking.py), pure: capacities worked out here
# from the staffing each test lays out, slots from the opening hours, refusals with their
# reason, and, for random staffing and bookings, that no slot ever takes more than its
# capacity and that capacity only grows with the share and the staffing.
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from contactcenter.core.booking import (
    BookableSlot,
    BookingCalendar,
    BookingTerms,
    NotBookable,
    Slot,
    SlotPlan,
    StaffedShift,
    Staffing,
)
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import CallbackPolicy

MADRID = ZoneInfo("Europe/Madrid")
H = 3600.0
POLICY = CallbackPolicy(expire_after_s=4 * H)
# Monday 2 March 2026 at 8:00 in Madrid: the core's clock starts (t = 0) at the opening.
MONDAY_8 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=MADRID).timestamp()
SAINT_JOSEPH = dt.date(2026, 3, 19)  # a Thursday, a holiday
HOURS = OpeningHours(
    tz=MADRID,
    open=dt.time(8),
    close=dt.time(19, 45),  # not on a half hour: the day's last slot is 15 min
    weekdays=frozenset(range(5)),
    holidays=frozenset({SAINT_JOSEPH}),
)
PLAN = SlotPlan(slot_s=1800, share=0.25, aht_s={"info": 300.0}, default_aht_s=240.0)


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    """Local time in Madrid, on the core's clock."""
    return dt.datetime.combine(day, dt.time(hour, minute), MADRID).timestamp() - MONDAY_8


MONDAY = dt.date(2026, 3, 2)


def calendar(
    *shifts: StaffedShift, plan: SlotPlan = PLAN, hours: OpeningHours | None = HOURS
) -> BookingCalendar:
    return BookingCalendar(plan=plan, staffing=Staffing(shifts), hours=hours, epoch=MONDAY_8)


def shift(
    start: float, end: float, *skills: tuple[str, int], who: str | None = None, count: int = 1
) -> StaffedShift:
    return StaffedShift(start=start, end=end, skills=skills, operator_id=who, count=count)


def expected_capacity(shifts: list[StaffedShift], skill: str, slot: Slot, plan: SlotPlan = PLAN) -> int:
    """The rule, from the inputs: operators with the skill at any level, each second alike."""
    seconds = sum(
        max(0.0, min(slot.end, s.end) - max(slot.start, s.start)) * s.count
        for s in shifts
        if skill in dict(s.skills)
    )
    return math.floor(plan.share * seconds / plan.aht(skill) + 1e-9)


# --- capacity ---------------------------------------------------------------------------------

ANA = shift(at(MONDAY, 8), at(MONDAY, 12), ("info", 1), ("tributs", 2), who="ana")
PLANNED = shift(at(MONDAY, 10), at(MONDAY, 14), ("info", 3), count=3)  # backups, names unknown
PAU = shift(at(MONDAY, 11, 50), at(MONDAY, 19, 45), ("tributs", 1), who="pau")
SHIFTS = [ANA, PLANNED, PAU]


@pytest.mark.parametrize(
    ("skill", "hour", "minute"),
    [
        ("info", 8, 0),  # Ana alone
        ("info", 10, 0),  # Ana and the three planned backups (level 3 counts alike)
        ("info", 11, 30),  # ...
        ("info", 12, 0),  # the backups only
        ("info", 14, 0),  # nobody
        ("tributs", 11, 30),  # Ana (level 2) all of it, Pau from 11:50
        ("tributs", 19, 30),  # Pau in the day's last, 15-min slot
        ("other", 10, 0),  # a skill nobody has
    ],
)
def test_capacity_is_the_share_of_the_operator_seconds_with_the_skill_over_its_aht(
    skill: str, hour: int, minute: int
) -> None:
    cal = calendar(*SHIFTS)
    slot = cal.slot_at(at(MONDAY, hour, minute))
    assert slot.start == at(MONDAY, hour, minute)
    assert cal.capacity(skill, slot) == expected_capacity(SHIFTS, skill, slot)


def test_capacity_in_numbers() -> None:
    # (The rule above, spelled out once.) 10:00-10:30 for info: Ana 1800 s + 3 x 1800 s
    # = 7200 s; a quarter of it is 1800 s, six handlings of 300 s.
    cal = calendar(*SHIFTS)
    assert cal.capacity("info", cal.slot_at(at(MONDAY, 10))) == math.floor(0.25 * (1800 + 3 * 1800) / 300)
    # tributs (default AHT 240 s) at 11:30: Ana 1800 s + Pau 600 s.
    assert cal.capacity("tributs", cal.slot_at(at(MONDAY, 11, 30))) == math.floor(0.25 * 2400 / 240)


def test_a_capacity_a_rounding_error_short_of_a_whole_number_is_that_number() -> None:
    # 0.1 x 1800 s / 180 s is 0.9999999999999999 in floating point: one place, not none.
    plan = SlotPlan(slot_s=1800, share=0.1, default_aht_s=180)
    cal = calendar(shift(at(MONDAY, 8), at(MONDAY, 9), ("info", 1)), plan=plan)
    assert cal.capacity("info", cal.slot_at(at(MONDAY, 8))) == 1


# --- slots --------------------------------------------------------------------------------------


def slot_starts(day: dt.date) -> list[float]:
    """The day's slot starts: every 30 min from 8:00 while before 19:45."""
    first, close = at(day, 8), at(day, 19, 45)
    return [first + k * 1800 for k in range(math.ceil((close - first) / 1800))]


def test_slots_are_counted_from_the_opening_and_the_last_ends_at_closing() -> None:
    cal = calendar(*SHIFTS)
    tuesday = MONDAY + dt.timedelta(days=1)
    listed = cal.slots("info", at(MONDAY, 7), at(tuesday, 9))
    starts = slot_starts(MONDAY) + slot_starts(tuesday)[:2]
    assert [s.slot.start for s in listed] == starts
    assert all(s.slot.end == s.slot.start + 1800 for s in listed if s.slot.start != at(MONDAY, 19, 30))
    assert cal.slot_at(at(MONDAY, 19, 40)) == Slot(at(MONDAY, 19, 30), at(MONDAY, 19, 45))
    assert [s.capacity for s in listed] == [expected_capacity(SHIFTS, "info", s.slot) for s in listed]


def test_a_listing_from_within_a_slot_starts_at_the_next_one() -> None:
    listed = calendar(*SHIFTS).slots("info", at(MONDAY, 10, 10), at(MONDAY, 11, 1))
    assert [s.slot.start for s in listed] == [at(MONDAY, 10, 30), at(MONDAY, 11)]


def test_weekends_and_holidays_have_no_slots() -> None:
    cal = calendar(*SHIFTS)
    friday, next_monday = MONDAY + dt.timedelta(days=4), MONDAY + dt.timedelta(days=7)
    listed = cal.slots("info", at(friday, 19), at(next_monday, 9))
    assert [s.slot.start for s in listed] == [
        at(friday, 19),
        at(friday, 19, 30),
        at(next_monday, 8),
        at(next_monday, 8, 30),
    ]
    holiday = cal.slots("info", at(SAINT_JOSEPH, 0), at(SAINT_JOSEPH, 23))
    assert holiday == []


def test_slots_follow_local_time_across_a_change_of_clocks() -> None:
    # Summer time begins on Sunday 29 March 2026: Monday's slots still start at 8:00 local.
    friday, monday = dt.date(2026, 3, 27), dt.date(2026, 3, 30)
    listed = calendar().slots("info", at(friday, 19, 30), at(monday, 9))
    assert [s.slot.start for s in listed] == [at(friday, 19, 30), at(monday, 8), at(monday, 8, 30)]
    assert at(monday, 8) - at(friday, 19, 30) == (2 * 24 + 12.5) * H - H  # (an hour less)


def test_a_listing_counts_the_bookings_in_each_slot() -> None:
    cal = calendar(*SHIFTS)
    booked = [at(MONDAY, 10), at(MONDAY, 10, 29), at(MONDAY, 10, 30), at(MONDAY, 7), at(MONDAY, 20)]
    listed = cal.slots("info", at(MONDAY, 10), at(MONDAY, 11, 30), booked)
    in_listing = [b for b in booked if any(b in s.slot for s in listed)]
    assert [s.taken for s in listed] == [sum(1 for b in in_listing if b in s.slot) for s in listed]
    assert [s.taken for s in listed] == [2, 1, 0]
    assert [s.free for s in listed] == [s.capacity - s.taken for s in listed]
    assert BookableSlot(Slot(0, 1), capacity=1, taken=3).free == 0  # (staffing cut after booking)


def test_without_opening_hours_slots_are_counted_from_wall_time_zero() -> None:
    cal = calendar(shift(-H, H, ("info", 1)), hours=None)
    wall_slot = math.floor(MONDAY_8 / 1800) * 1800 - MONDAY_8  # (8:00 in Madrid is on the half hour)
    assert cal.slot_at(0) == Slot(wall_slot, wall_slot + 1800)
    assert [s.slot.start for s in cal.slots("info", 1, 3 * 1800 + 1)] == [1800, 2 * 1800, 3 * 1800]


# --- booking ------------------------------------------------------------------------------------


def test_terms_of_a_booking_its_slot_capacity_and_expiry_from_its_time() -> None:
    cal = calendar(*SHIFTS)
    due = at(MONDAY, 10, 15)
    booked = [at(MONDAY, 10), at(MONDAY, 9, 45)]
    terms = cal.terms("info", due, now=at(MONDAY, 8) - 3 * 24 * H, policy=POLICY, booked=booked)
    slot = Slot(at(MONDAY, 10), at(MONDAY, 10, 30))
    assert terms == BookingTerms(
        skill="info",
        due_at=due,
        slot=slot,
        capacity=expected_capacity(SHIFTS, "info", slot),
        taken=1,
        expires_at=due + POLICY.expire_after_s,  # from its time, not from the booking days before
    )


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (at(MONDAY, 7, 59), "closed"),
        (at(MONDAY, 19, 45), "closed"),  # closing time itself
        (at(MONDAY + dt.timedelta(days=5), 10), "closed"),  # a Saturday
        (at(SAINT_JOSEPH, 10), "closed"),
        (at(MONDAY, 15), "unstaffed"),  # open, but nobody with info on shift
        (at(MONDAY, 9) - 1, "past"),  # (booked at 9:00)
    ],
)
def test_a_time_that_cannot_be_booked_is_refused_not_moved(when: float, reason: str) -> None:
    cal = calendar(*SHIFTS)
    now = at(MONDAY, 9) if reason == "past" else at(MONDAY, 0) - 7 * 24 * H
    with pytest.raises(NotBookable) as refused:
        cal.terms("info", when, now=now, policy=POLICY)
    assert refused.value.reason == reason
    assert isinstance(refused.value, ValueError)


def test_a_full_slot_is_refused() -> None:
    cal = calendar(*SHIFTS)
    slot = cal.slot_at(at(MONDAY, 8))
    capacity = cal.capacity("info", slot)
    booked = [slot.start + i for i in range(capacity)]
    with pytest.raises(NotBookable, match=f"full \\({capacity} of {capacity} booked\\)") as refused:
        cal.terms("info", at(MONDAY, 8, 20), now=0, policy=POLICY, booked=booked)
    assert refused.value.reason == "full"
    assert cal.terms("info", at(MONDAY, 8, 20), now=0, policy=POLICY, booked=booked[1:]).taken == capacity - 1


def test_an_out_of_hours_time_is_said_in_local_time() -> None:
    with pytest.raises(NotBookable, match="2026-03-02T07:30\\+01:00 is outside opening hours"):
        calendar(*SHIFTS).slot_at(at(MONDAY, 7, 30))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: shift(10, 10, ("info", 1)), "must end after it starts"),
        (lambda: shift(0, math.inf, ("info", 1)), "finite"),
        (lambda: shift(0, 10), "at least one skill"),
        (lambda: shift(0, 10, ("info", 1), ("info", 2)), "listed twice"),
        (lambda: shift(0, 10, ("info", 0)), "level of info"),
        (lambda: shift(0, 10, ("", 1)), "non-empty string"),
        (lambda: shift(0, 10, ("info", 1), who="ana", count=2), "one operator"),
        (lambda: shift(0, 10, ("info", 1), count=0), "count must be"),
        (
            lambda: Staffing((shift(0, 10, ("info", 1), who="ana"), shift(9, 20, ("x", 1), who="ana"))),
            "two shifts",
        ),
        (lambda: SlotPlan(share=0), "share"),
        (lambda: SlotPlan(share=1.5), "share"),
        (lambda: SlotPlan(slot_s=0), "slot_s"),
        (lambda: SlotPlan(aht_s={"info": -1}), "AHT of info"),
        (lambda: calendar().slots("info", 10, 10), "empty range"),
        (lambda: calendar().terms("", 0, now=0, policy=POLICY), "skill"),
    ],
)
def test_nonsense_is_a_value_error_naming_what_is_wrong(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_shifts_of_one_operator_one_after_the_other_are_fine() -> None:
    staffing = Staffing((shift(0, 10, ("info", 1), who="ana"), shift(10, 20, ("info", 1), who="ana")))
    assert staffing.operator_seconds("info", 0, 20) == 20


# --- properties -----------------------------------------------------------------------------------

WEEK = 7 * 24 * H
SKILLS = ("info", "tributs")


@st.composite
def shifts(draw: st.DrawFn) -> StaffedShift:
    # Mostly within the week's opening hours (t = 0 is Monday's opening), sometimes not.
    start = draw(st.integers(0, 6)) * 24 * H + round(draw(st.floats(-2 * H, 14 * H)), 1)
    names = draw(st.lists(st.sampled_from(SKILLS), min_size=1, max_size=2, unique=True))
    return StaffedShift(
        start=start,
        end=start + round(draw(st.floats(60, 12 * H)), 1),
        skills=tuple((name, draw(st.integers(1, 3))) for name in names),
        count=draw(st.integers(1, 3)),
    )


plans = st.builds(
    SlotPlan,
    slot_s=st.sampled_from([900.0, 1800.0, 3600.0]),
    share=st.one_of(st.floats(0.01, 0.2), st.floats(0.01, 1.0)),  # (small ones fill up)
    aht_s=st.fixed_dictionaries({"info": st.sampled_from([120.0, 180.0, 457.5])}),
    default_aht_s=st.sampled_from([180.0, 300.0]),
)
requests = st.lists(st.tuples(st.sampled_from(SKILLS), st.floats(0, WEEK, allow_nan=False)), max_size=120)


class Crowd(NamedTuple):
    """A request piled onto a shift: for one of its skills, at a time a share into it."""

    skill_pick: int
    shift_pick: int
    into: float

    def request(self, staffing: list[StaffedShift]) -> tuple[str, float]:
        on = staffing[self.shift_pick % len(staffing)]
        skill, _level = on.skills[self.skill_pick % len(on.skills)]
        return skill, on.start + self.into * (on.end - on.start)


crowding = st.builds(Crowd, st.integers(0, 1), st.integers(0, 7), st.sampled_from([0.0, 0.01, 0.02, 0.5]))


@settings(max_examples=150, deadline=None)
@given(
    staffing=st.lists(shifts(), min_size=1, max_size=8),
    plan=plans,
    hours=st.sampled_from([HOURS, None]),
    asked=requests,
    # Requests at random times, and piled onto a few times within the shifts: slots fill up.
    crowd=st.one_of(st.lists(crowding, max_size=80), st.lists(crowding, min_size=40, max_size=80)),
)
def test_no_slot_ever_takes_more_bookings_than_its_capacity(
    staffing: list[StaffedShift],
    plan: SlotPlan,
    hours: OpeningHours | None,
    asked: list[tuple[str, float]],
    crowd: list[Crowd],
) -> None:
    cal = calendar(*staffing, plan=plan, hours=hours)
    piled = [c.request(staffing) for c in crowd]
    booked: dict[str, list[float]] = {skill: [] for skill in SKILLS}
    refusals: set[str] = set()
    for skill, due in asked + piled:
        try:
            terms = cal.terms(skill, due, now=-3 * H, policy=POLICY, booked=booked[skill])
        except NotBookable as refused:
            assert refused.reason in ("closed", "unstaffed", "full")  # (all after `now`)
            refusals.add(refused.reason)
            if refused.reason == "closed":
                assert hours is not None and not hours.is_open(MONDAY_8 + due)
            continue
        assert due in terms.slot and terms.taken < terms.capacity
        assert hours is None or hours.is_open(MONDAY_8 + terms.slot.start)
        booked[skill].append(due)
    for skill in SKILLS:
        listed = cal.slots(skill, -4 * H, WEEK + 3 * H, booked[skill])
        assert all(s.taken <= s.capacity for s in listed)
        # Every booking lies in a listed slot, the very slot slot_at gives it.
        assert sum(s.taken for s in listed) == len(booked[skill])
        listed_slots = {s.slot for s in listed}
        assert all(cal.slot_at(due) in listed_slots for due in booked[skill])
        assert all(s.capacity == expected_capacity(staffing, skill, s.slot, plan) for s in listed)
    event(f"a slot filled up: {'yes' if 'full' in refusals else 'no'}")


@settings(max_examples=150, deadline=None)
@given(
    staffing=st.lists(shifts(), max_size=6),
    more=shifts(),
    plan=plans,
    other_share=st.floats(0.01, 1.0),
    skill=st.sampled_from(SKILLS),
)
def test_capacity_grows_with_the_share_and_the_staffing(
    staffing: list[StaffedShift], more: StaffedShift, plan: SlotPlan, other_share: float, skill: str
) -> None:
    low, high = sorted((plan.share, other_share))
    cal = calendar(*staffing, plan=dataclasses.replace(plan, share=low))
    listed = cal.slots(skill, -H, WEEK)
    wider = calendar(*staffing, plan=dataclasses.replace(plan, share=high)).slots(skill, -H, WEEK)
    staffed = calendar(*staffing, more, plan=dataclasses.replace(plan, share=low)).slots(skill, -H, WEEK)
    assert [s.slot for s in wider] == [s.slot for s in staffed] == [s.slot for s in listed]
    assert all(w.capacity >= s.capacity for w, s in zip(wider, listed, strict=True))
    assert all(m.capacity >= s.capacity for m, s in zip(staffed, listed, strict=True))
