# The core through its events, on a hand-advanced clock. Rules: every `now` is explicit;
# each step asserts the exact list of commands returned and the states it leaves, so a
# test reads as a (what, when) log of one scenario.
from __future__ import annotations

import ast
import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from contactcenter.core import Engine, InvalidTransition
from contactcenter.core import events as ev
from contactcenter.core.commands import BridgeCall, CancelOffer, Command, ConnectCall, RejectBusy
from contactcenter.core.lifecycle import (
    CALL_TRANSITIONS,
    DEFERRED,
    OPERATOR_TRANSITIONS,
    CallOutcome,
    CallState,
    CallTrigger,
    OperatorState,
    OperatorTrigger,
    as_dot,
    step,
)
from contactcenter.core.pool import OperatorPool
from contactcenter.core.queues import SkillQueue

# --- helpers ------------------------------------------------------------------------------


def login(
    engine: Engine, operator_id: str, now: float, skills: dict[str, int], languages: Iterable[str] = ("ca",)
) -> list[Command]:
    return engine.handle(
        ev.OperatorLoggedIn(
            now=now, operator_id=operator_id, skills=tuple(skills.items()), languages=tuple(languages)
        )
    )


def arrive(
    engine: Engine, call_id: str, now: float, skill: str = "info", language: str = "ca", priority: int = 0
) -> list[Command]:
    """A call enters and finishes the IVR at the same instant; returns the IVR's commands."""
    assert engine.handle(ev.CallArrived(now=now, call_id=call_id)) == []
    return engine.handle(
        ev.IvrCompleted(now=now, call_id=call_id, skill=skill, language=language, priority=priority)
    )


def answer(engine: Engine, call_id: str, operator_id: str, now: float) -> list[Command]:
    return engine.handle(ev.OperatorAnswered(now=now, call_id=call_id, operator_id=operator_id))


def end(engine: Engine, call_id: str, now: float) -> list[Command]:
    return engine.handle(ev.CallEnded(now=now, call_id=call_id))


def hang_up(engine: Engine, call_id: str, now: float) -> list[Command]:
    return engine.handle(ev.CallerHungUp(now=now, call_id=call_id))


def connect(call_id: str, operator_id: str) -> ConnectCall:
    return ConnectCall(call_id=call_id, operator_id=operator_id)


def bridge(call_id: str, operator_id: str) -> BridgeCall:
    return BridgeCall(call_id=call_id, operator_id=operator_id)


def op_state(engine: Engine, operator_id: str) -> OperatorState:
    return engine.operators[operator_id].state


# --- choosing the operator ----------------------------------------------------------------


def test_best_level_beats_longer_idle() -> None:
    engine = Engine(lines=10)
    assert login(engine, "generalist", 0, {"info": 2}) == []
    assert login(engine, "specialist", 50, {"info": 1}) == []
    assert arrive(engine, "c1", 60) == [connect("c1", "specialist")]
    assert engine.calls["c1"].state is CallState.OFFERED
    assert engine.calls["c1"].operator_id == "specialist"
    assert op_state(engine, "specialist") is OperatorState.RESERVED
    assert op_state(engine, "generalist") is OperatorState.AVAILABLE
    # The next call goes to the one left, even at a worse level: nobody better is free.
    assert arrive(engine, "c2", 61) == [connect("c2", "generalist")]


def test_same_level_longest_idle_first() -> None:
    engine = Engine(lines=10)
    for operator_id in ("a", "b", "c"):
        login(engine, operator_id, 0, {"info": 1})
    for i, operator_id in enumerate(("a", "b", "c"), 1):
        assert arrive(engine, f"c{i}", i) == [connect(f"c{i}", operator_id)]
        answer(engine, f"c{i}", operator_id, 5)
    # They free up in the order c, a, b (no wrap-up): idle since 10, 11, 12.
    for t, (call_id, operator_id) in enumerate((("c3", "c"), ("c1", "a"), ("c2", "b")), 10):
        assert end(engine, call_id, t) == []
        assert engine.operators[operator_id].idle_since == t
    # Longest idle first, whatever the login order.
    assert arrive(engine, "c4", 20) == [connect("c4", "c")]
    assert arrive(engine, "c5", 20) == [connect("c5", "a")]
    assert arrive(engine, "c6", 20) == [connect("c6", "b")]


@pytest.mark.parametrize("order", [("x", "y", "z"), ("z", "x", "y"), ("y", "z", "x")])
def test_equal_level_and_idle_time_goes_by_login_order(order: tuple[str, ...]) -> None:
    engine = Engine(lines=10)
    for operator_id in order:
        login(engine, operator_id, 0, {"info": 1})
    got = [arrive(engine, f"c{i}", 1) for i in range(3)]
    assert got == [[connect(f"c{i}", operator_id)] for i, operator_id in enumerate(order)]


def test_operator_without_the_language_is_never_chosen() -> None:
    engine = Engine(lines=10)
    login(engine, "catalan", 0, {"info": 1}, languages=("ca", "es"))
    login(engine, "english", 100, {"info": 3}, languages=("en",))
    # The best and longest-idle operator cannot speak English.
    assert arrive(engine, "c1", 200, language="en") == [connect("c1", "english")]
    assert arrive(engine, "c2", 201, language="en") == []
    assert engine.calls["c2"].state is CallState.QUEUED
    assert engine.waiting("info", "en") == 1
    assert op_state(engine, "catalan") is OperatorState.AVAILABLE
    # A Spanish call still goes to the free Catalan/Spanish operator at once.
    assert arrive(engine, "c3", 202, language="es") == [connect("c3", "catalan")]
    # An English speaker logging in takes the English call that waited.
    assert login(engine, "bilingual", 210, {"info": 1}, languages=("ca", "en")) == [
        connect("c2", "bilingual")
    ]


def test_operator_without_the_skill_is_never_chosen() -> None:
    engine = Engine(lines=10)
    login(engine, "taxes", 0, {"tributs": 1})
    assert arrive(engine, "c1", 1, skill="info") == []
    assert engine.waiting("info", "ca") == 1
    assert arrive(engine, "c2", 2, skill="tributs") == [connect("c2", "taxes")]


def test_idle_time_restarts_when_wrap_up_ends() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    login(engine, "b", 5, {"info": 1})
    assert arrive(engine, "c1", 10) == [connect("c1", "a")]
    assert answer(engine, "c1", "a", 12) == [bridge("c1", "a")]
    assert end(engine, "c1", 20) == []
    assert engine.next_deadline() == 30
    assert engine.handle(ev.Tick(now=30)) == []
    assert engine.operators["a"].idle_since == 30
    # b has been idle since 5, a only since 30.
    assert arrive(engine, "c2", 31) == [connect("c2", "b")]
    assert arrive(engine, "c3", 32) == [connect("c3", "a")]


def test_late_tick_dates_idle_time_from_the_deadline() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    login(engine, "b", 0, {"info": 1})
    arrive(engine, "c1", 1)  # -> a
    arrive(engine, "c2", 2)  # -> b
    answer(engine, "c1", "a", 3)
    answer(engine, "c2", "b", 3)
    end(engine, "c1", 20)  # a free at 30
    end(engine, "c2", 15)  # b free at 25
    assert engine.next_deadline() == 25
    # One late Tick releases both; each is idle since its own deadline, not the Tick.
    assert engine.handle(ev.Tick(now=40)) == []
    assert engine.operators["a"].idle_since == 30
    assert engine.operators["b"].idle_since == 25
    assert engine.next_deadline() is None
    assert arrive(engine, "c3", 41) == [connect("c3", "b")]


# --- queueing -----------------------------------------------------------------------------


def test_freed_operator_takes_highest_priority_then_oldest() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    assert arrive(engine, "c0", 1) == [connect("c0", "a")]
    assert answer(engine, "c0", "a", 2) == [bridge("c0", "a")]
    assert arrive(engine, "c1", 3) == []
    assert arrive(engine, "c2", 4) == []
    assert arrive(engine, "c3", 5, priority=1) == []
    assert arrive(engine, "c4", 6) == []
    assert arrive(engine, "c5", 7, priority=1) == []
    assert engine.waiting("info", "ca") == 5
    assert [engine.position(c) for c in ("c3", "c5", "c1", "c2", "c4")] == [1, 2, 3, 4, 5]

    served = []
    t = 20.0
    # c0 is still talking: ending it starts a's wrap-up, not a new offer.
    assert end(engine, "c0", t) == []
    assert op_state(engine, "a") is OperatorState.WRAP_UP
    for _ in range(5):
        deadline = engine.next_deadline()
        assert deadline == t + 10
        # One instant before the deadline nothing happens...
        assert engine.handle(ev.Tick(now=math.nextafter(deadline, 0))) == []
        assert op_state(engine, "a") is OperatorState.WRAP_UP
        # ...at the deadline exactly the operator is offered the head of the queue.
        (cmd,) = engine.handle(ev.Tick(now=deadline))
        assert isinstance(cmd, ConnectCall) and cmd.operator_id == "a"
        served.append(cmd.call_id)
        assert answer(engine, cmd.call_id, "a", deadline + 1) == [bridge(cmd.call_id, "a")]
        t = deadline + 30
        assert end(engine, cmd.call_id, t) == []
    assert served == ["c3", "c5", "c1", "c2", "c4"]
    assert engine.waiting("info", "ca") == 0
    assert engine.handle(ev.Tick(now=t + 10)) == []
    assert op_state(engine, "a") is OperatorState.AVAILABLE


def serve_in_turn(engine: Engine, operator_id: str, busy_call: str, t: float, calls: int) -> list[str]:
    """End `busy_call`, then let the one operator serve `calls` waiting calls, one after the
    other: the order they were served in."""
    served = []
    assert end(engine, busy_call, t) == []
    for _ in range(calls):
        deadline = engine.next_deadline()
        assert deadline is not None
        (cmd,) = engine.handle(ev.Tick(now=deadline))
        assert isinstance(cmd, ConnectCall) and cmd.operator_id == operator_id
        served.append(cmd.call_id)
        assert answer(engine, cmd.call_id, operator_id, deadline + 1) == [bridge(cmd.call_id, operator_id)]
        t = deadline + 30
        assert end(engine, cmd.call_id, t) == []
    return served


@pytest.mark.parametrize(
    ("head_start", "order"),
    [
        # Strict classes: every priority-2 caller before anyone of priority 0.
        ((), ["vip-early", "vip-late", "regular", "regular-2"]),
        # A 60 s head start: a priority-2 caller queues as if 60 s earlier. vip-early (at 130,
        # as if 70) goes before regular (100); vip-late (at 200, as if 140) after it, and before
        # regular-2 (at 150).
        (((2, 60.0),), ["vip-early", "regular", "vip-late", "regular-2"]),
    ],
)
def test_priorities_are_strict_classes_or_head_starts(
    head_start: tuple[tuple[int, float], ...], order: list[str]
) -> None:
    engine = Engine(lines=10, wrap_up=10, priority_head_start=head_start)
    login(engine, "a", 0, {"info": 1})
    assert arrive(engine, "c0", 1) == [connect("c0", "a")]
    assert answer(engine, "c0", "a", 2) == [bridge("c0", "a")]
    assert arrive(engine, "regular", 100) == []
    assert arrive(engine, "vip-early", 130, priority=2) == []
    assert arrive(engine, "regular-2", 150) == []
    assert arrive(engine, "vip-late", 200, priority=2) == []
    # The places callers are told agree with the order they are served in.
    assert [engine.position(c) for c in order] == [1, 2, 3, 4]
    assert engine.calls["vip-late"].position_at_entry == order.index("vip-late") + 1
    assert serve_in_turn(engine, "a", "c0", 300, 4) == order


def test_a_head_start_must_be_finite_and_not_negative() -> None:
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="head start"):
            Engine(lines=1, priority_head_start=((1, bad),))


def test_fifo_within_priority_is_by_queue_time_not_arrival_time() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "busy", 0)
    # c1 rang in first but spent longer in the IVR: it joins the queue after c2.
    assert engine.handle(ev.CallArrived(now=1, call_id="c1")) == []
    assert arrive(engine, "c2", 2) == []
    assert engine.handle(ev.IvrCompleted(now=3, call_id="c1", skill="info", language="ca")) == []
    assert engine.position("c2") == 1 and engine.position("c1") == 2
    answer(engine, "busy", "a", 4)
    assert end(engine, "busy", 5) == [connect("c2", "a")]


def test_freed_operator_prefers_their_best_skill_then_the_oldest_call() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 2, "tramits": 1, "tributs": 1})
    arrive(engine, "first", 0, skill="info")  # -> a
    answer(engine, "first", "a", 1)
    assert arrive(engine, "old-info", 2, skill="info") == []
    assert arrive(engine, "tributs-1", 3, skill="tributs") == []
    assert arrive(engine, "tramits-1", 4, skill="tramits") == []
    # Level 1 skills first (info waited longest but is a's level 2); among those, the oldest.
    assert end(engine, "first", 10) == [connect("tributs-1", "a")]
    answer(engine, "tributs-1", "a", 11)
    assert end(engine, "tributs-1", 20) == [connect("tramits-1", "a")]
    answer(engine, "tramits-1", "a", 21)
    assert end(engine, "tramits-1", 30) == [connect("old-info", "a")]


def test_freed_operator_takes_priority_across_queues_of_equal_level() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1, "tramits": 1}, languages=("ca", "es"))
    arrive(engine, "first", 0)
    answer(engine, "first", "a", 1)
    assert arrive(engine, "old", 2, skill="info", language="es") == []
    assert arrive(engine, "urgent", 3, skill="tramits", language="ca", priority=1) == []
    assert end(engine, "first", 10) == [connect("urgent", "a")]


def test_new_call_waits_behind_queue_even_if_operator_is_free_for_other_skill() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"tramits": 1})
    assert arrive(engine, "c1", 1, skill="info") == []
    assert arrive(engine, "c2", 2, skill="tramits") == [connect("c2", "a")]
    assert engine.calls["c1"].state is CallState.QUEUED


# --- ring timeout -------------------------------------------------------------------------


def test_ring_timeout_puts_call_back_at_head_and_pauses_operator() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    assert arrive(engine, "c1", 1) == [connect("c1", "a")]
    assert arrive(engine, "c2", 2) == []
    assert arrive(engine, "c3", 3) == []
    key = engine.calls["c1"].queue_key
    assert (
        engine.handle(ev.OperatorRingTimeout(now=16, call_id="c1", operator_id="a", reason="no-answer")) == []
    )
    call = engine.calls["c1"]
    assert call.state is CallState.QUEUED and call.operator_id is None
    assert call.queue_key == key  # its original place, not a new arrival
    assert [engine.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
    op = engine.operators["a"]
    assert op.state is OperatorState.PAUSED and op.pause_reason == "no-answer" and op.call_id is None
    # A paused operator gets nothing, even when a new call arrives.
    assert arrive(engine, "c4", 17) == []
    assert engine.handle(ev.OperatorResumed(now=20, operator_id="a")) == [connect("c1", "a")]
    assert engine.operators["a"].pause_reason is None
    assert answer(engine, "c1", "a", 21) == [bridge("c1", "a")]
    done = end(engine, "c1", 30)
    assert done == [connect("c2", "a")]
    (c1,) = engine.drain_completed()
    # Its wait runs from joining the queue to the answer, across the failed offer.
    assert (c1.call_id, c1.outcome, c1.wait) == ("c1", CallOutcome.ANSWERED, 20)


def test_ring_timeout_offers_the_call_to_another_free_operator_at_once() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    login(engine, "b", 1, {"info": 2})
    assert arrive(engine, "c1", 2) == [connect("c1", "a")]
    reason = "unreachable"
    assert engine.handle(ev.OperatorRingTimeout(now=5, call_id="c1", operator_id="a", reason=reason)) == [
        connect("c1", "b")
    ]
    assert engine.operators["a"].pause_reason == reason


def test_call_back_from_ring_timeout_beats_later_arrivals_for_a_freed_operator() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    login(engine, "b", 0, {"info": 1})
    assert arrive(engine, "c1", 1) == [connect("c1", "a")]
    assert arrive(engine, "c2", 2) == [connect("c2", "b")]
    assert answer(engine, "c2", "b", 3) == [bridge("c2", "b")]
    assert arrive(engine, "c3", 4) == []
    assert engine.handle(ev.OperatorRingTimeout(now=5, call_id="c1", operator_id="a")) == []
    assert end(engine, "c2", 6) == [connect("c1", "b")]


# --- hangups ------------------------------------------------------------------------------


def test_hangup_while_queued_is_abandoned_and_leaves_the_queue() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "busy", 0)
    assert arrive(engine, "c1", 10) == []
    assert arrive(engine, "c2", 11) == []
    assert hang_up(engine, "c1", 25) == []
    assert "c1" not in engine.calls
    assert engine.waiting("info", "ca") == 1
    assert engine.position("c2") == 1
    (c1,) = engine.drain_completed()
    assert (c1.state, c1.outcome, c1.wait, c1.ended_at) == (CallState.ENDED, CallOutcome.ABANDONED, 15, 25)
    # The abandoned call is never offered later.
    answer(engine, "busy", "a", 30)
    assert end(engine, "busy", 31) == [connect("c2", "a")]


def test_hangup_in_ivr_is_abandoned_without_a_wait() -> None:
    engine = Engine(lines=10)
    assert engine.handle(ev.CallArrived(now=0, call_id="c1")) == []
    assert hang_up(engine, "c1", 4) == []
    (c1,) = engine.drain_completed()
    assert (c1.outcome, c1.wait, c1.queued_at) == (CallOutcome.ABANDONED, None, None)


def test_hangup_while_ringing_cancels_the_offer_and_frees_the_operator() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    assert arrive(engine, "c1", 1) == [connect("c1", "a")]
    assert hang_up(engine, "c1", 3) == [CancelOffer(call_id="c1", operator_id="a")]
    op = engine.operators["a"]
    # No conversation took place, so no wrap-up.
    assert (op.state, op.call_id, op.idle_since) == (OperatorState.AVAILABLE, None, 3)
    assert engine.next_deadline() is None
    (c1,) = engine.drain_completed()
    assert (c1.outcome, c1.wait, c1.answered_at) == (CallOutcome.ABANDONED, 2, None)
    assert arrive(engine, "c2", 4) == [connect("c2", "a")]


def test_hangup_while_ringing_passes_the_operator_to_the_next_caller() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    assert arrive(engine, "c1", 1) == [connect("c1", "a")]
    assert arrive(engine, "c2", 2) == []
    assert hang_up(engine, "c1", 3) == [CancelOffer(call_id="c1", operator_id="a"), connect("c2", "a")]
    assert op_state(engine, "a") is OperatorState.RESERVED
    assert engine.calls["c2"].operator_id == "a"


def test_hangup_while_talking_is_answered_and_starts_wrap_up() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    answer(engine, "c1", "a", 4)
    assert hang_up(engine, "c1", 60) == []
    op = engine.operators["a"]
    assert (op.state, op.call_id, op.wrap_up_until) == (OperatorState.WRAP_UP, None, 70)
    assert engine.next_deadline() == 70
    (c1,) = engine.drain_completed()
    assert (c1.outcome, c1.wait, c1.answered_at, c1.ended_at) == (CallOutcome.ANSWERED, 3, 4, 60)
    # Both legs report the end; the second report is not an error and changes nothing.
    assert end(engine, "c1", 60) == []
    assert hang_up(engine, "c1", 61) == []
    assert engine.drain_completed() == []
    assert op_state(engine, "a") is OperatorState.WRAP_UP


def test_operator_hangup_first_then_caller() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    answer(engine, "c1", "a", 2)
    arrive(engine, "c2", 3)
    # With no wrap-up the operator is offered the next call as the conversation ends.
    assert end(engine, "c1", 50) == [connect("c2", "a")]
    assert hang_up(engine, "c1", 50) == []
    assert op_state(engine, "a") is OperatorState.RESERVED
    assert [c.call_id for c in engine.drain_completed()] == ["c1"]


# --- operators pausing, logging out -------------------------------------------------------


def test_pause_during_wrap_up_cancels_the_timer() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    answer(engine, "c1", "a", 2)
    end(engine, "c1", 10)
    assert engine.handle(ev.OperatorPaused(now=12, operator_id="a", reason="break")) == []
    arrive(engine, "c2", 13)
    assert engine.handle(ev.Tick(now=20)) == []
    assert op_state(engine, "a") is OperatorState.PAUSED
    assert engine.handle(ev.OperatorResumed(now=25, operator_id="a")) == [connect("c2", "a")]


def test_pause_while_ringing_waits_for_the_end_of_the_call_and_its_wrap_up() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    assert engine.handle(ev.OperatorPaused(now=2, operator_id="a", reason="lunch")) == []
    # The offer stands and resolves normally; the operator's staffing is unchanged so far.
    assert op_state(engine, "a") is OperatorState.RESERVED
    assert engine.ewt.staffed("info", "ca") == 1
    assert answer(engine, "c1", "a", 3) == [bridge("c1", "a")]
    arrive(engine, "c2", 4)  # waits: a is busy
    assert end(engine, "c1", 30) == []
    assert op_state(engine, "a") is OperatorState.WRAP_UP
    # Wrap-up ends: paused for lunch instead of taking c2.
    assert engine.handle(ev.Tick(now=40)) == []
    op = engine.operators["a"]
    assert (op.state, op.pause_reason, op.after_call) == (OperatorState.PAUSED, "lunch", None)
    assert engine.ewt.staffed("info", "ca") == 0
    assert engine.handle(ev.OperatorResumed(now=50, operator_id="a")) == [connect("c2", "a")]


def test_logout_while_talking_without_wrap_up_leaves_instead_of_taking_the_next_call() -> None:
    # Without wrap-up the core would otherwise hand a busy operator the next waiting call
    # in the same step as the end of the last one: the logout must win.
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    login(engine, "b", 0, {"info": 1})
    arrive(engine, "c1", 1)
    arrive(engine, "c2", 1)
    answer(engine, "c1", "a", 2)
    answer(engine, "c2", "b", 2)
    arrive(engine, "c3", 3)  # waits
    assert engine.handle(ev.OperatorLoggedOut(now=5, operator_id="a")) == []
    assert op_state(engine, "a") is OperatorState.TALKING
    assert end(engine, "c1", 10) == []
    assert op_state(engine, "a") is OperatorState.LOGGED_OUT
    assert engine.calls["c3"].state is CallState.QUEUED
    assert end(engine, "c2", 11) == [connect("c3", "b")]


def test_resume_calls_off_a_pause_asked_for_after_the_call() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    answer(engine, "c1", "a", 2)
    engine.handle(ev.OperatorPaused(now=3, operator_id="a", reason="break"))
    assert engine.handle(ev.OperatorResumed(now=4, operator_id="a")) == []
    arrive(engine, "c2", 5)
    assert end(engine, "c1", 10) == [connect("c2", "a")]
    # A resume with nothing to call off changes nothing: a stale fact.
    _stale(engine, ev.OperatorResumed(now=11, operator_id="a"), "not paused")


def test_logout_asked_for_wins_over_a_pause_and_over_a_ring_timeout() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    engine.handle(ev.OperatorLoggedOut(now=2, operator_id="a"))
    engine.handle(ev.OperatorPaused(now=3, operator_id="a", reason="break"))
    assert engine.operators["a"].after_call == (OperatorTrigger.LOG_OUT, None)
    assert engine.handle(ev.OperatorRingTimeout(now=20, call_id="c1", operator_id="a")) == []
    op = engine.operators["a"]
    assert (op.state, op.pause_reason, op.after_call) == (OperatorState.LOGGED_OUT, None, None)
    assert engine.calls["c1"].state is CallState.QUEUED and engine.ewt.staffed("info", "ca") == 0


def test_a_logout_asked_for_stands_through_wrap_up_and_a_later_pause() -> None:
    engine = Engine(lines=10, wrap_up=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    answer(engine, "c1", "a", 2)
    engine.handle(ev.OperatorLoggedOut(now=3, operator_id="a"))
    end(engine, "c1", 5)
    assert engine.handle(ev.OperatorPaused(now=6, operator_id="a", reason="break")) == []
    assert op_state(engine, "a") is OperatorState.WRAP_UP
    assert engine.handle(ev.Tick(now=15)) == []
    assert op_state(engine, "a") is OperatorState.LOGGED_OUT


def test_pause_asked_for_while_ringing_gives_way_to_the_ring_timeout_reason() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    engine.handle(ev.OperatorPaused(now=2, operator_id="a", reason="break"))
    engine.handle(ev.OperatorRingTimeout(now=20, call_id="c1", operator_id="a", reason="no-answer"))
    op = engine.operators["a"]
    assert (op.state, op.pause_reason, op.after_call) == (OperatorState.PAUSED, "no-answer", None)


def test_caller_hanging_up_while_ringing_carries_out_the_logout_asked_for() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    engine.handle(ev.OperatorLoggedOut(now=2, operator_id="a"))
    assert hang_up(engine, "c1", 3) == [CancelOffer(call_id="c1", operator_id="a")]
    assert op_state(engine, "a") is OperatorState.LOGGED_OUT


def test_login_before_the_logout_took_effect_calls_it_off_with_the_new_skills() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)
    answer(engine, "c1", "a", 2)
    engine.handle(ev.OperatorLoggedOut(now=3, operator_id="a"))
    assert login(engine, "a", 4, {"tramits": 1}) == []  # still on c1
    assert engine.ewt.staffed("info", "ca") == 0 and engine.ewt.staffed("tramits", "ca") == 1
    arrive(engine, "c2", 5, skill="tramits")
    assert end(engine, "c1", 10) == [connect("c2", "a")]


def test_logout_then_login_comes_back_available_without_the_old_pause_reason() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    engine.handle(ev.OperatorPaused(now=1, operator_id="a", reason="lunch"))
    assert engine.handle(ev.OperatorLoggedOut(now=2, operator_id="a")) == []
    arrive(engine, "c1", 3)
    assert login(engine, "a", 4, {"info": 1, "tramits": 1}) == [connect("c1", "a")]
    op = engine.operators["a"]
    assert op.pause_reason is None and op.skills == {"info": 1, "tramits": 1}


def test_login_straight_into_a_pause_is_offered_nothing_until_resumed() -> None:
    # A restart's operator who was paused, or is still on a call the last controller
    # routed: logged in and paused in one event, so a call already waiting is not offered
    # to them in between.
    engine = Engine(lines=10)
    arrive(engine, "c1", 0)
    login_paused = ev.OperatorLoggedIn(
        now=1, operator_id="a", skills=(("info", 1),), languages=("ca",), paused="on_call"
    )
    assert engine.handle(login_paused) == []
    assert op_state(engine, "a") is OperatorState.PAUSED
    assert engine.operators["a"].pause_reason == "on_call"
    assert engine.waiting("info", "ca") == 1
    assert engine.handle(ev.OperatorResumed(now=2, operator_id="a")) == [connect("c1", "a")]


def test_login_again_with_other_skills_routes_by_the_new_ones() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1}, languages=("ca",))
    engine.handle(ev.OperatorLoggedOut(now=1, operator_id="a"))
    assert login(engine, "a", 2, {"tramits": 2}, languages=("es",)) == []  # waits in the pool
    assert arrive(engine, "old-skill", 3, skill="info", language="ca") == []
    assert arrive(engine, "new-skill", 4, skill="tramits", language="es") == [connect("new-skill", "a")]


def test_logged_out_operator_gets_no_calls() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    engine.handle(ev.OperatorLoggedOut(now=1, operator_id="a"))
    assert arrive(engine, "c1", 2) == []
    assert engine.waiting("info", "ca") == 1


# --- admission ----------------------------------------------------------------------------


def test_admission_rejects_the_call_beyond_lines() -> None:
    engine = Engine(lines=2)
    login(engine, "a", 0, {"info": 1})
    assert arrive(engine, "c1", 1) == [connect("c1", "a")]
    assert engine.handle(ev.CallArrived(now=2, call_id="c2")) == []  # in the IVR: holds a line
    assert engine.handle(ev.CallArrived(now=3, call_id="c3")) == [RejectBusy(call_id="c3")]
    assert "c3" not in engine.calls
    (c3,) = engine.drain_completed()
    assert (c3.call_id, c3.state, c3.outcome, c3.ended_at, c3.wait) == (
        "c3",
        CallState.ENDED,
        CallOutcome.BLOCKED,
        3,
        None,
    )
    # A rejected caller hanging up afterwards is harmless.
    assert hang_up(engine, "c3", 3) == []
    assert hang_up(engine, "c2", 4) == []
    assert engine.handle(ev.CallArrived(now=5, call_id="c4")) == []
    assert set(engine.calls) == {"c1", "c4"}
    assert engine.handle(ev.CallArrived(now=6, call_id="c5")) == [RejectBusy(call_id="c5")]


# --- misuse -------------------------------------------------------------------------------


def _stale(engine: Engine, event: ev.Event, reason: str) -> None:
    """`event` is a stale fact: no commands, nothing changed, counted once under `reason`."""
    before = (_picture(engine), dict(engine.stale_facts))
    assert engine.handle(event) == []
    picture, stale = _picture(engine), dict(engine.stale_facts)
    assert picture == before[0], "a stale fact changed the state"
    key = (type(event).__name__, reason)
    assert stale.pop(key, 0) == before[1].pop(key, 0) + 1, (key, engine.stale_facts)
    assert stale == before[1]


def _picture(engine: Engine) -> object:
    return (
        sorted((c.call_id, c.state, c.operator_id, c.skill) for c in engine.calls.values()),
        sorted(
            (o.operator_id, o.state, o.call_id, o.pause_reason, o.after_call, o.since, dict(o.time_in))
            for o in engine.operators.values()
        ),
        {k: len(q) for k, q in engine.queues.items()},
        engine.next_deadline(),
        [engine.ewt.staffed(s, lang) for s in ("info", "tramits", "other") for lang in ("ca", "es")],
    )


def test_an_answer_for_a_call_not_offered_to_that_operator_is_stale() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"tramits": 1})
    login(engine, "b", 0, {"info": 1})
    arrive(engine, "queued", 1, skill="other")
    _stale(
        engine,
        ev.OperatorAnswered(now=2, call_id="queued", operator_id="a"),
        "call queued, not offered to this operator",
    )
    arrive(engine, "offered", 3)  # -> b
    _stale(
        engine,
        ev.OperatorAnswered(now=4, call_id="offered", operator_id="a"),
        "call offered, not offered to this operator",
    )
    _stale(engine, ev.OperatorAnswered(now=4, call_id="nope", operator_id="a"), "call not in the system")
    _stale(engine, ev.OperatorAnswered(now=4, call_id="offered", operator_id="nobody"), "unknown operator")
    _stale(
        engine,
        ev.OperatorRingTimeout(now=4, call_id="offered", operator_id="a"),
        "call offered, not offered to this operator",
    )
    _stale(
        engine,
        ev.OperatorUnreachable(now=4, call_id="queued", operator_id="b", reason="failed"),
        "call queued, not offered to this operator",
    )
    assert engine.calls["offered"].state is CallState.OFFERED
    assert op_state(engine, "a") is OperatorState.AVAILABLE
    # The real answer still works after all that.
    assert answer(engine, "offered", "b", 5) == [bridge("offered", "b")]
    # The answer after the caller left (a hang-up in the same read as the answer).
    arrive(engine, "left", 6, skill="tramits")  # -> a
    assert hang_up(engine, "left", 7) == [CancelOffer(call_id="left", operator_id="a")]
    _stale(engine, ev.OperatorAnswered(now=7, call_id="left", operator_id="a"), "call not in the system")


def test_call_ended_on_a_queued_call_and_hangups_of_ended_calls_are_stale() -> None:
    engine = Engine(lines=10)
    arrive(engine, "c1", 1)
    _stale(engine, ev.CallEnded(now=2, call_id="c1"), "call queued")
    assert engine.calls["c1"].state is CallState.QUEUED
    hang_up(engine, "c1", 3)
    # Both legs' hangups reach the core; the second one is stale.
    _stale(engine, ev.CallerHungUp(now=3, call_id="c1"), "call not in the system")
    _stale(engine, ev.CallEnded(now=3, call_id="c1"), "call not in the system")


def test_other_stale_facts() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "c1", 1)  # -> a
    arrive(engine, "c2", 1)  # waits
    # A second IVR result, for an offered and a queued call: nothing moves.
    _stale(engine, ev.IvrCompleted(now=2, call_id="c1", skill="tramits", language="es"), "call offered")
    _stale(engine, ev.IvrCompleted(now=2, call_id="c2", skill="tramits", language="es"), "call queued")
    assert engine.calls["c1"].skill == "info" and engine.position("c2") == 1
    _stale(engine, ev.OperatorResumed(now=2, operator_id="a"), "not paused")  # only a pause resumes
    answer(engine, "c1", "a", 2)
    _stale(
        engine,
        ev.OperatorLoggedIn(now=3, operator_id="a", skills=(("info", 1),), languages=("ca",)),
        "already logged in",
    )
    _stale(engine, ev.CallArrived(now=3, call_id="c1"), "arrived twice")
    _stale(
        engine, ev.IvrCompleted(now=3, call_id="ghost", skill="info", language="ca"), "call not in the system"
    )
    _stale(engine, ev.OperatorPaused(now=3, operator_id="ghost", reason="x"), "unknown operator")
    _stale(engine, ev.OperatorReachable(now=3, operator_id="a"), "operator talking")
    end(engine, "c1", 4)  # -> c2 offered to a
    engine.handle(ev.OperatorLoggedOut(now=5, operator_id="a"))  # after this call
    _stale(engine, ev.OperatorPaused(now=5, operator_id="a", reason="break"), "logout pending")
    hang_up(engine, "c2", 6)  # the caller leaves while it rings: the logout is carried out
    assert op_state(engine, "a") is OperatorState.LOGGED_OUT
    _stale(engine, ev.OperatorLoggedOut(now=7, operator_id="a"), "logged out")
    _stale(engine, ev.OperatorPaused(now=7, operator_id="a", reason="break"), "operator logged_out")
    assert issubclass(InvalidTransition, ValueError)


def test_a_transition_the_table_lacks_raises_invalid_transition_from_the_table() -> None:
    # The tables are the one place a move is checked: asking them for one they lack raises.
    with pytest.raises(InvalidTransition) as info:
        step(CALL_TRANSITIONS, "call", "c1", CallState.QUEUED, CallTrigger.OPERATOR_HANGUP)
    assert (info.value.src, info.value.trigger) == (CallState.QUEUED, CallTrigger.OPERATOR_HANGUP)
    assert (
        step(OPERATOR_TRANSITIONS, "operator", "a", OperatorState.TALKING, OperatorTrigger.PAUSE) is DEFERRED
    )
    # And nothing in the core raises it by hand: only lifecycle.step and the engine's two
    # moves (_move_call, _move_op) do.
    raisers = [
        (path.name, node.lineno)
        for path in CORE.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise) and "InvalidTransition" in ast.unparse(node)
    ]
    assert len(raisers) == 3 and {name for name, _ in raisers} == {"engine.py", "lifecycle.py"}


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        Engine(lines=1).handle(ev.Event(now=0))


@pytest.mark.parametrize(("lines", "wrap_up"), [(0, 0), (-1, 0), (1, -0.5)])
def test_engine_rejects_bad_settings(lines: int, wrap_up: float) -> None:
    with pytest.raises(ValueError):
        Engine(lines=lines, wrap_up=wrap_up)


def _all_subclasses(base: type) -> list[type]:
    out = []
    for sub in base.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


# A wrong type is a TypeError, a bad value a ValueError: Python's convention, and what the
# compiled build's own argument checks raise, so both builds refuse alike.
@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(lambda: ev.CallArrived(now=0, call_id=""), ValueError, id="empty-call-id"),
        pytest.param(lambda: ev.CallArrived(now=0, call_id=None), TypeError, id="none-call-id"),
        pytest.param(lambda: ev.CallArrived(now=math.nan, call_id="c"), ValueError, id="nan-now"),
        pytest.param(lambda: ev.Tick(now=math.inf), ValueError, id="inf-now"),
        pytest.param(lambda: ev.Tick(now="5"), TypeError, id="str-now"),
        pytest.param(
            lambda: ev.IvrCompleted(now=0, call_id="c", skill="info", language="ca", priority=1.0),
            TypeError,
            id="float-priority",
        ),
        pytest.param(
            lambda: ev.IvrCompleted(now=0, call_id="c", skill="", language="ca"), ValueError, id="empty-skill"
        ),
        pytest.param(
            lambda: ev.OperatorAnswered(now=0, call_id="c", operator_id=""), ValueError, id="empty-operator"
        ),
        pytest.param(
            lambda: ev.OperatorPaused(now=0, operator_id="a", reason=""), ValueError, id="empty-reason"
        ),
        pytest.param(
            lambda: ev.OperatorLoggedIn(now=0, operator_id="a", skills=(), languages=("ca",)),
            ValueError,
            id="no-skills",
        ),
        pytest.param(
            lambda: ev.OperatorLoggedIn(now=0, operator_id="a", skills=(("info", 0),), languages=("ca",)),
            ValueError,
            id="level-0",
        ),
        pytest.param(
            lambda: ev.OperatorLoggedIn(now=0, operator_id="a", skills=(("info", 1.5),), languages=("ca",)),
            TypeError,
            id="level-float",
        ),
        pytest.param(
            lambda: ev.OperatorLoggedIn(now=0, operator_id="a", skills=(("info", 1),), languages=()),
            ValueError,
            id="no-languages",
        ),
    ],
)
def test_events_reject_bad_fields(make: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


def test_a_bool_is_taken_as_the_number_it_is() -> None:
    # The compiled build converts a bool argument to a number before any code of ours runs;
    # the pure build does the same, so both builds agree.
    assert ev.Tick(now=True).now == 1.0
    assert ev.IvrCompleted(now=0, call_id="c", skill="s", language="ca", priority=True).priority == 1


CORE = Path(__file__).resolve().parents[2] / "contactcenter" / "core"


def _final_fields(path: Path) -> dict[str, list[tuple[str, bool]]]:
    """(field, declared Final) of every dataclass field in a module's source."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = [
                (item.target.id, ast.unparse(item.annotation).startswith("Final["))
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            ]
    return out


def test_events_and_commands_are_read_only_keyword_only_values() -> None:
    # Read-only by declaration: every field is Final, which mypy --strict enforces on the
    # whole code base (and the compiled build at run time: tests/sim/test_compiled_build.py).
    # Read from the source, which both builds share.
    declared = {**_final_fields(CORE / "events.py"), **_final_fields(CORE / "commands.py")}
    classes = [ev.Event, *_all_subclasses(ev.Event), Command, *_all_subclasses(Command)]
    assert sorted(declared) == sorted(c.__name__ for c in classes)  # each class declared once
    for cls in classes:
        final = {name for c in cls.__mro__ for name, is_final in declared.get(c.__name__, []) if is_final}
        assert {f.name for f in dataclasses.fields(cls)} <= final, cls.__name__
    with pytest.raises(TypeError):
        ev.CallArrived(1, "c")  # type: ignore[misc]
    with pytest.raises(TypeError):
        ConnectCall("c", "a")  # type: ignore[misc]
    # Values: equal by class and fields, hashable, readable.
    cmd = connect("c", "a")
    assert cmd == ConnectCall(call_id="c", operator_id="a") and cmd != CancelOffer(
        call_id="c", operator_id="a"
    )
    assert ev.CallEnded(now=1, call_id="c") != ev.CallerHungUp(now=1, call_id="c")
    assert len({cmd, ConnectCall(call_id="c", operator_id="a")}) == 1
    assert repr(cmd) == "ConnectCall(call_id='c', operator_id='a')"


# --- completed calls ----------------------------------------------------------------------


def test_drain_completed_returns_each_ended_call_once_with_outcome_and_wait() -> None:
    engine = Engine(lines=3)
    login(engine, "a", 0, {"info": 1})
    arrive(engine, "answered", 10)  # -> a at once
    arrive(engine, "abandoned", 11)  # waits
    answer(engine, "answered", "a", 12)
    assert engine.handle(ev.CallArrived(now=13, call_id="in-ivr")) == []  # the third line
    assert engine.handle(ev.CallArrived(now=14, call_id="over")) == [RejectBusy(call_id="over")]
    hang_up(engine, "abandoned", 41)
    hang_up(engine, "in-ivr", 50)
    end(engine, "answered", 100)
    done = engine.drain_completed()
    assert [(c.call_id, c.outcome, c.wait) for c in done] == [
        ("over", CallOutcome.BLOCKED, None),
        ("abandoned", CallOutcome.ABANDONED, 30),
        ("in-ivr", CallOutcome.ABANDONED, None),
        ("answered", CallOutcome.ANSWERED, 2),
    ]
    assert all(c.state is CallState.ENDED for c in done)
    assert engine.drain_completed() == []
    assert engine.calls == {}


# --- the queue and pool on their own ------------------------------------------------------


def test_skill_queue_orders_by_key_and_skips_removed_calls() -> None:
    q = SkillQueue("info", "ca")
    q.push("late", (0, 5.0, 3))
    q.push("urgent", (-1, 9.0, 4))
    q.push("early", (0, 1.0, 1))
    assert q.head() == ((-1, 9.0, 4), "urgent")
    assert [q.position(c) for c in ("urgent", "early", "late")] == [1, 2, 3]
    q.remove("urgent")
    assert q.head() == ((0, 1.0, 1), "early") and len(q) == 2 and "urgent" not in q
    with pytest.raises(ValueError):
        q.push("early", (0, 1.0, 1))
    # Re-pushed with the same key, a call is back in front.
    q.remove("early")
    q.push("early", (0, 1.0, 1))
    assert q.head() == ((0, 1.0, 1), "early")


def test_skill_queue_compacts_deep_removals() -> None:
    q = SkillQueue("info", "ca")
    for i in range(200):
        q.push(f"c{i}", (0, float(i), i))
    for i in range(1, 200):
        q.remove(f"c{i}")
    assert len(q) == 1 and q.head() == ((0, 0.0, 0), "c0")
    assert len(q._classes[0].entries) < 200  # the stale entries did not all stay


def test_pool_picks_level_then_idle_then_seq_and_forgets_discarded() -> None:
    pool = OperatorPool()
    pool.add("late", {"info": 1}, ("ca",), 9.0, 1)
    pool.add("worse", {"info": 2}, ("ca",), 0.0, 2)
    pool.add("early", {"info": 1}, ("ca",), 3.0, 3)
    assert pool.best("info", "ca") == ((1, 3.0, 3), "early")
    assert pool.best("info", "es") is None
    pool.discard("early")
    assert pool.best("info", "ca") == ((1, 9.0, 1), "late")
    with pytest.raises(ValueError):
        pool.add("late", {"info": 1}, ("ca",), 10.0, 1)
    # Re-added after leaving, an operator's old heap entry must not resurface.
    pool.discard("late")
    pool.add("late", {"info": 1}, ("ca",), 50.0, 1)
    pool.discard("worse")
    assert pool.best("info", "ca") == ((1, 50.0, 1), "late")
    assert len(pool) == 1 and "late" in pool and "worse" not in pool


# --- lifecycle tables ---------------------------------------------------------------------

_EDGE = re.compile(r'^  "([a-z_]+)" -> "([a-z_]+)" \[label="([a-z_]+)"(, style=dashed)?\];$')


@pytest.mark.parametrize(
    ("table", "states", "triggers", "name"),
    [
        (CALL_TRANSITIONS, CallState, CallTrigger, "call"),
        (OPERATOR_TRANSITIONS, OperatorState, OperatorTrigger, "operator"),
    ],
)
def test_as_dot_has_one_edge_per_table_entry(
    table: Mapping[Any, Mapping[Any, Any]], states: type, triggers: type, name: str
) -> None:
    dot = as_dot(table, name)
    lines = dot.splitlines()
    assert lines[0] == f"digraph {name} {{" and lines[-1] == "}"
    edges = [_EDGE.match(line) for line in lines[1:-1]]
    assert all(edges), lines
    got = [(m.group(1), m.group(3), m.group(2), bool(m.group(4))) for m in edges if m]
    want = [
        (src.value, trig.value, (src if dst is DEFERRED else dst).value, dst is DEFERRED)
        for src, moves in table.items()
        for trig, dst in moves.items()
    ]
    assert sorted(got) == sorted(want)
    assert len(got) == len(set(got))
    # Every state has a row, so a lookup can never KeyError; every trigger is used.
    assert set(table) == set(states)
    assert {trig for moves in table.values() for trig in moves} == set(triggers)


# --- relaxation with priorities: reach is per call, not per queue head --------------------
# Steps: level 1 at once, level 2 after 30 s. "old" (priority 0) waits from 2 s, so level 2
# may take it from 32 s; "vip" (priority 1) heads the queue from 20 s, level 2 from 50 s.


def _old_behind_vip(backups: tuple[str, ...]) -> Engine:
    engine = Engine(lines=10, relaxation=((0, 1), (30, 2)))
    login(engine, "primary", 0, {"info": 1})
    assert arrive(engine, "busy", 0) == [connect("busy", "primary")]
    answer(engine, "busy", "primary", 1)
    for backup in backups:
        assert login(engine, backup, 1, {"info": 2}) == []
    assert arrive(engine, "old", 2) == []
    assert arrive(engine, "vip", 20, priority=1) == []
    assert [engine.position(c) for c in ("vip", "old")] == [1, 2]
    return engine


def test_a_call_within_reach_is_not_held_back_by_a_higher_priority_head() -> None:
    engine = _old_behind_vip(("b1",))
    assert engine.handle(ev.Tick(now=32)) == [connect("old", "b1")]


def test_each_call_reaches_backups_at_its_own_step() -> None:
    engine = _old_behind_vip(("b1", "b2"))
    assert engine.handle(ev.Tick(now=32)) == [connect("old", "b1")]  # old's step
    assert engine.handle(ev.Tick(now=49.9)) == []  # vip still out of level 2's reach
    assert engine.handle(ev.Tick(now=50)) == [connect("vip", "b2")]  # vip's step
    assert engine.next_deadline() is None


def test_a_freed_primary_operator_takes_the_priority_call_before_its_step() -> None:
    engine = _old_behind_vip(("b1",))
    assert engine.handle(ev.Tick(now=32)) == [connect("old", "b1")]
    assert end(engine, "busy", 40) == [connect("vip", "primary")]


def test_call_offered_at_once_then_unanswered_still_relaxes_to_backups() -> None:
    engine = Engine(lines=10, relaxation=((0, 1), (30, 2)))
    login(engine, "primary", 0, {"info": 1})
    login(engine, "backup", 0, {"info": 2})
    assert arrive(engine, "c1", 1) == [connect("c1", "primary")]
    assert engine.next_deadline() is None  # it did not wait: no relaxation step yet
    # The primary does not answer; only the backup is free, out of reach for 30 s.
    assert engine.handle(ev.OperatorRingTimeout(now=16, call_id="c1", operator_id="primary")) == []
    assert engine.next_deadline() == 31
    assert engine.handle(ev.Tick(now=31)) == [connect("c1", "backup")]
