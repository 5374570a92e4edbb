# Core features beyond plain routing: relaxation steps (bullseye), opening hours and
# holidays, and the expected-wait estimate with its measured error. Hand-advanced clock.
from __future__ import annotations

import datetime as dt

import pytest

from contactcenter.core import events as ev
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.commands import AnnounceWait, ConnectCall, RejectClosed
from contactcenter.core.engine import Engine
from contactcenter.core.estimates import SERVICE_WEIGHT
from contactcenter.core.lifecycle import CallOutcome, OperatorState


def login(engine: Engine, op: str, now: float, skills, langs=("ca",)) -> list:
    return engine.handle(ev.OperatorLoggedIn(now=now, operator_id=op, skills=tuple(skills), languages=langs))


def arrive(engine: Engine, call: str, now: float, skill="info", lang="ca", priority=0) -> list:
    assert engine.handle(ev.CallArrived(now=now, call_id=call)) == []
    return engine.handle(
        ev.IvrCompleted(now=now, call_id=call, skill=skill, language=lang, priority=priority)
    )


# --- relaxation ---------------------------------------------------------------------------


def test_backup_operator_takes_a_call_only_after_the_relaxation_step() -> None:
    e = Engine(lines=10, relaxation=((0, 1), (30, 2)))
    login(e, "backup", 0, [("info", 2)])
    assert arrive(e, "c1", 1) == []  # level 2 is out of reach at first
    assert e.next_deadline() == 31
    assert e.handle(ev.Tick(now=30.9)) == []
    assert e.handle(ev.Tick(now=31)) == [ConnectCall(call_id="c1", operator_id="backup")]


def test_primary_operator_freed_before_the_step_is_preferred() -> None:
    e = Engine(lines=10, relaxation=((0, 1), (30, 2)))
    login(e, "primary", 0, [("info", 1)])
    login(e, "backup", 0, [("info", 2)])
    assert arrive(e, "c0", 1) == [ConnectCall(call_id="c0", operator_id="primary")]
    e.handle(ev.OperatorAnswered(now=1, call_id="c0", operator_id="primary"))
    assert arrive(e, "c1", 2) == []  # backup is free but out of reach
    # The primary operator finishes at 10 s: the call goes to them, not to the backup.
    assert e.handle(ev.CallEnded(now=10, call_id="c0")) == [ConnectCall(call_id="c1", operator_id="primary")]
    assert e.operators["backup"].state is OperatorState.AVAILABLE
    assert e.handle(ev.Tick(now=32)) == []  # the relaxation timer finds nothing to do


def test_freed_backup_operator_waits_for_the_call_to_come_within_reach() -> None:
    e = Engine(lines=10, relaxation=((0, 1), (20, 2), (60, 3)))
    login(e, "p", 0, [("info", 1)])
    arrive(e, "busy", 0)
    e.handle(ev.OperatorAnswered(now=0, call_id="busy", operator_id="p"))
    assert arrive(e, "c1", 5) == []
    assert login(e, "level3", 10, [("info", 3)]) == []  # not before 65 s
    assert e.handle(ev.Tick(now=25)) == []  # 20 s step reaches level 2 only
    assert e.handle(ev.Tick(now=65)) == [ConnectCall(call_id="c1", operator_id="level3")]


def test_relaxation_steps_are_validated() -> None:
    with pytest.raises(ValueError):
        Engine(lines=1, relaxation=((10, 1),))
    with pytest.raises(ValueError):
        Engine(lines=1, relaxation=((0, 2), (30, 1)))


# --- opening hours ------------------------------------------------------------------------

UTC = dt.UTC
HOURS = OpeningHours(tz=UTC, open=dt.time(7), close=dt.time(23), holidays=frozenset({dt.date(2026, 12, 25)}))


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("day", "hour", "is_open"),
    [
        (dt.date(2026, 11, 30), 6.99, False),
        (dt.date(2026, 11, 30), 7.0, True),
        (dt.date(2026, 11, 30), 22.99, True),
        (dt.date(2026, 11, 30), 23.0, False),
        (dt.date(2026, 12, 25), 12.0, False),  # holiday
        (dt.date(2026, 11, 29), 12.0, True),  # Sunday: 010 opens every day
    ],
)
def test_calls_outside_opening_hours_get_the_closed_treatment(day, hour, is_open) -> None:
    e = Engine(lines=10, hours=HOURS, epoch=_epoch(day))
    out = e.handle(ev.CallArrived(now=hour * 3600, call_id="c"))
    if is_open:
        assert out == [] and "c" in e.calls
    else:
        assert out == [RejectClosed(call_id="c")]
        assert "c" not in e.calls
        [call] = e.drain_completed()
        assert call.outcome is CallOutcome.CLOSED


def test_hours_respect_the_time_zone() -> None:
    madrid_winter = dt.timezone(dt.timedelta(hours=1))
    hours = OpeningHours(tz=madrid_winter, open=dt.time(7), close=dt.time(23))
    six_thirty_utc = _epoch(dt.date(2026, 11, 30)) + 6.5 * 3600  # 07:30 in Madrid
    assert hours.is_open(six_thirty_utc)
    assert not hours.is_open(six_thirty_utc + 16 * 3600)  # 23:30 in Madrid


# --- EWT ----------------------------------------------------------------------------------


def test_ewt_is_position_times_aht_over_staffed_operators_until_the_queue_is_measured() -> None:
    e = Engine(lines=100, default_aht=120, announce=True)
    login(e, "a", 0, [("info", 1)])
    login(e, "b", 0, [("info", 1)])
    arrive(e, "x", 0)
    arrive(e, "y", 0)
    out = arrive(e, "z1", 1)
    assert out == [AnnounceWait(call_id="z1", position=1, ewt_s=60.0)]
    assert arrive(e, "z2", 2) == [AnnounceWait(call_id="z2", position=2, ewt_s=120.0)]
    assert e.estimate("z2") == (2, 120.0)
    e.handle(ev.OperatorAnswered(now=2, call_id="x", operator_id="a"))
    assert e.ewt.service_rate("info", "ca") is None  # x was served at once: nothing measured
    e.handle(ev.CallEnded(now=3, call_id="x"))  # wrap_up 0: a takes z1 at once
    e.handle(ev.OperatorAnswered(now=3, call_id="z1", operator_id="a"))
    # a's handle time of 1 s moved the skill's AHT from 120 s towards 1 s.
    aht = 120 + 0.05 * (1 - 120)
    assert e.ewt.aht("info") == pytest.approx(aht)
    # z1 was answered after 2 s in the queue (from 1 s to 3 s): one answer per 2 s of backlog,
    # blended with the classic estimate, which counts as one answer, decayed by this one.
    assert e.ewt.service_rate("info", "ca") == 1 / 2
    measured, classic, prior = 1 * 2.0, 1 * aht / 2, 1 - SERVICE_WEIGHT
    assert e.estimate("z2") == (1, pytest.approx((measured + prior * classic) / (1 + prior)))


def test_paused_operators_do_not_count_in_the_estimate() -> None:
    e = Engine(lines=100, default_aht=100, wrap_up=30)
    login(e, "a", 0, [("info", 1)])
    login(e, "b", 0, [("info", 1)])
    for call, op in (("x", "a"), ("y", "b")):
        arrive(e, call, 0)
        e.handle(ev.OperatorAnswered(now=0, call_id=call, operator_id=op))
    arrive(e, "w", 1)
    assert e.estimate("w") == (1, 50.0)
    e.handle(ev.CallEnded(now=2, call_id="y"))  # b in wrap-up until 32 s
    e.handle(ev.OperatorPaused(now=3, operator_id="b", reason="break"))
    assert e.ewt.staffed("info", "ca") == 1
    assert e.estimate("w")[1] == pytest.approx(e.ewt.aht("info"))
    e.handle(ev.OperatorResumed(now=4, operator_id="b"))  # b takes w at once
    assert e.ewt.staffed("info", "ca") == 2
    assert e.operators["b"].call_id == "w"


def test_higher_priority_caller_is_told_a_shorter_place() -> None:
    e = Engine(lines=100, default_aht=100, announce=True)
    login(e, "a", 0, [("info", 1)])
    arrive(e, "busy", 0)
    arrive(e, "low1", 1)
    arrive(e, "low2", 2)
    out = arrive(e, "vip", 3, priority=1)
    assert out == [AnnounceWait(call_id="vip", position=1, ewt_s=100.0)]
    assert e.position("low1") == 2


def test_ewt_error_is_measured_on_answered_calls_that_waited() -> None:
    e = Engine(lines=100, default_aht=100)
    login(e, "a", 0, [("info", 1)])
    arrive(e, "first", 0)  # served at once: no estimate, no error sample
    e.handle(ev.OperatorAnswered(now=0, call_id="first", operator_id="a"))
    arrive(e, "second", 10)  # told 100 s
    assert e.calls["second"].ewt_at_entry == 100
    e.handle(ev.CallEnded(now=40, call_id="first"))  # -> offered to a at 40
    e.handle(ev.OperatorAnswered(now=42, call_id="second", operator_id="a"))  # waited 32 s
    assert e.ewt.errors == 1
    assert e.ewt.bias == pytest.approx(32 - 100)
    assert e.ewt.mean_abs_error == pytest.approx(68)


def test_no_staffed_operator_means_unknown_wait() -> None:
    e = Engine(lines=10)
    arrive(e, "c", 0, skill="tributs")
    assert e.calls["c"].ewt_at_entry == float("inf")
