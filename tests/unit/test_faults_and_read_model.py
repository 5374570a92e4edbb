# System faults and the read model, through the core's events on a hand-advanced clock.
# Rules: as in test_engine.py, every `now` is explicit and each step asserts the exact
# commands returned. A fault of the system (OperatorUnreachable, an offer with no outcome in
# time) never pauses an operator: they are UNREACHABLE for a bounded, growing backoff, then
# offered calls again; only a real unanswered ring pauses. Observers read snapshots and the
# change feed, never the engine's dicts.
from __future__ import annotations

import pytest

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.commands import BridgeCall, CancelOffer, ConnectCall
from contactcenter.core.lifecycle import CallState, OperatorState
from contactcenter.core.readmodel import CallChanged, OperatorChanged, SkillView


def login(engine: Engine, operator_id: str, now: float, skill: str = "info") -> list[object]:
    return list(
        engine.handle(
            ev.OperatorLoggedIn(now=now, operator_id=operator_id, skills=((skill, 1),), languages=("ca",))
        )
    )


def arrive(engine: Engine, call_id: str, now: float, skill: str = "info") -> list[object]:
    assert engine.handle(ev.CallArrived(now=now, call_id=call_id)) == []
    return list(engine.handle(ev.IvrCompleted(now=now, call_id=call_id, skill=skill, language="ca")))


def unreachable(engine: Engine, call_id: str, operator_id: str, now: float) -> list[object]:
    return list(
        engine.handle(
            ev.OperatorUnreachable(now=now, call_id=call_id, operator_id=operator_id, reason="failed")
        )
    )


def connect(call_id: str, operator_id: str) -> ConnectCall:
    return ConnectCall(call_id=call_id, operator_id=operator_id)


def test_a_system_fault_is_retried_with_a_growing_bounded_backoff_and_never_pauses() -> None:
    engine = Engine(lines=10, fault_retry=2, fault_retry_max=5)
    login(engine, "a", 0)
    retries = []
    now = 1.0
    assert arrive(engine, "c1", now) == [connect("c1", "a")]
    for _ in range(4):
        # Asterisk could not place the call: the call goes back to its queue's head, the
        # operator is unreachable (not paused) until the backoff is over.
        assert unreachable(engine, "c1", "a", now) == []
        op = engine.operators["a"]
        assert (op.state, op.fault_reason, op.pause_reason) == (OperatorState.UNREACHABLE, "failed", None)
        assert engine.calls["c1"].state is CallState.QUEUED
        due = engine.next_deadline()
        assert due is not None
        retries.append(due - now)
        assert engine.handle(ev.Tick(now=due - 0.01)) == []
        now = due
        assert engine.handle(ev.Tick(now=now)) == [connect("c1", "a")]  # offered again
    assert retries == [2, 4, 5, 5]  # doubled per fault in a row, never beyond the max
    # An answer resets the backoff; the staffing EWT counts never dropped the operator.
    assert engine.ewt.staffed("info", "ca") == 1
    assert engine.handle(ev.OperatorAnswered(now=now, call_id="c1", operator_id="a")) == [
        BridgeCall(call_id="c1", operator_id="a")
    ]
    assert engine.operators["a"].faults_in_row == 0


def test_an_unanswered_ring_is_the_operators_and_pauses_them() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0)
    login(engine, "b", 0)
    arrive(engine, "c1", 1)  # -> a (logged in first)
    got = engine.handle(ev.OperatorRingTimeout(now=16, call_id="c1", operator_id="a", reason="no-answer"))
    assert got == [connect("c1", "b")]
    op = engine.operators["a"]
    assert (op.state, op.pause_reason, op.fault_reason) == (OperatorState.PAUSED, "no-answer", None)
    assert engine.next_deadline() is None  # no retry: a pause lasts until they resume


def test_the_link_back_retries_unreachable_operators_at_once() -> None:
    engine = Engine(lines=10, fault_retry=10)
    login(engine, "a", 0)
    arrive(engine, "c1", 1)
    unreachable(engine, "c1", "a", 2)
    assert engine.handle(ev.OperatorReachable(now=3, operator_id="a")) == [connect("c1", "a")]
    # The retry timer that was pending does nothing now.
    assert engine.handle(ev.Tick(now=12)) == []
    assert engine.operators["a"].state is OperatorState.RESERVED


def test_an_offer_without_outcome_in_time_is_withdrawn_as_a_fault() -> None:
    engine = Engine(lines=10, offer_timeout=20, fault_retry=3)
    login(engine, "a", 0)
    login(engine, "b", 0)
    assert arrive(engine, "c1", 1) == [connect("c1", "a")]
    assert engine.next_deadline() == 21
    # No answer, no failure reached the core: the offer is withdrawn (its leg hung up) and
    # the call goes to the next operator; a is unreachable, retried in 3 s.
    assert engine.handle(ev.Tick(now=21)) == [CancelOffer(call_id="c1", operator_id="a"), connect("c1", "b")]
    assert engine.operators["a"].state is OperatorState.UNREACHABLE
    assert engine.operators["a"].fault_reason == "no-outcome"
    # The late answer from a's phone is stale; b's is taken.
    assert engine.handle(ev.OperatorAnswered(now=22, call_id="c1", operator_id="a")) == []
    assert engine.stale_facts == {("OperatorAnswered", "call offered, not offered to this operator"): 1}
    assert engine.handle(ev.OperatorAnswered(now=22, call_id="c1", operator_id="b")) == [
        BridgeCall(call_id="c1", operator_id="b")
    ]
    # The offer timer of an answered call does nothing.
    assert engine.handle(ev.Tick(now=41)) == []
    assert engine.operators["a"].state is OperatorState.AVAILABLE  # retried at 24


def test_a_pause_or_logout_asked_for_is_carried_out_when_a_fault_ends_the_offer() -> None:
    engine = Engine(lines=10)
    login(engine, "a", 0)
    login(engine, "b", 0)
    arrive(engine, "c1", 1)  # -> a
    arrive(engine, "c2", 1)  # -> b
    engine.handle(ev.OperatorPaused(now=2, operator_id="a", reason="break"))
    engine.handle(ev.OperatorLoggedOut(now=2, operator_id="b"))
    unreachable(engine, "c1", "a", 3)
    unreachable(engine, "c2", "b", 3)
    a, b = engine.operators["a"], engine.operators["b"]
    assert (a.state, a.pause_reason, a.after_call) == (OperatorState.PAUSED, "break", None)
    assert (b.state, b.after_call) == (OperatorState.LOGGED_OUT, None)
    assert engine.next_deadline() is None  # no retry is left pending for either
    assert engine.ewt.staffed("info", "ca") == 0


@pytest.mark.parametrize(("first", "most"), [(0, 5), (-1, 5), (3, 2)])
def test_engine_refuses_a_backoff_that_is_not_bounded_sensibly(first: float, most: float) -> None:
    with pytest.raises(ValueError):
        Engine(lines=1, fault_retry=first, fault_retry_max=most)


# --- the read model -----------------------------------------------------------------------


def test_snapshot_per_skill_and_operator() -> None:
    engine = Engine(lines=5, wrap_up=10)
    login(engine, "a", 0)
    login(engine, "b", 0, skill="tramits")
    engine.handle(ev.OperatorPaused(now=1, operator_id="b", reason="lunch"))
    arrive(engine, "c1", 2)  # -> a
    engine.handle(ev.OperatorAnswered(now=3, call_id="c1", operator_id="a"))
    arrive(engine, "c2", 4)  # waits
    arrive(engine, "c3", 6)  # waits
    engine.handle(ev.CallArrived(now=7, call_id="c4"))  # in the IVR
    arrive(engine, "c5", 8, skill="tramits")  # waits: b is paused
    snap = engine.snapshot(now=10)
    assert (snap.at, snap.lines, snap.lines_in_use, snap.in_ivr) == (10, 5, 5, 1)
    assert snap.skills["info"] == SkillView("info", 2, 6.0, {OperatorState.TALKING: 1})
    assert snap.skills["tramits"] == SkillView("tramits", 1, 2.0, {OperatorState.PAUSED: 1})
    assert snap.skill("nobody") == SkillView("nobody", 0, 0.0, {})
    a, b = snap.operators["a"], snap.operators["b"]
    assert (a.state, a.since, a.call_id, a.reason) == (OperatorState.TALKING, 3, "c1", None)
    assert (b.state, b.since, b.call_id, b.reason) == (OperatorState.PAUSED, 1, None, "lunch")
    # A snapshot is a picture: later events do not change it.
    engine.handle(ev.CallEnded(now=11, call_id="c1"))
    assert snap.operators["a"].state is OperatorState.TALKING
    assert engine.snapshot(now=11).operators["a"].state is OperatorState.WRAP_UP


def test_change_feed_lists_every_move_in_order_and_only_when_asked_for() -> None:
    engine = Engine(lines=5, record_changes=True)
    login(engine, "a", 0)
    arrive(engine, "c1", 1)
    engine.handle(ev.OperatorAnswered(now=2, call_id="c1", operator_id="a"))
    engine.handle(ev.CallerHungUp(now=3, call_id="c1"))
    engine.handle(ev.CallerHungUp(now=3, call_id="c1"))  # stale: no change
    assert engine.drain_changes() == [
        OperatorChanged(0, "a", OperatorState.AVAILABLE, None, None),
        CallChanged(1, "c1", CallState.IN_IVR, None, None, None),
        CallChanged(1, "c1", CallState.QUEUED, "info", "ca", None),
        CallChanged(1, "c1", CallState.OFFERED, "info", "ca", "a"),
        OperatorChanged(1, "a", OperatorState.RESERVED, None, "c1"),
        CallChanged(2, "c1", CallState.TALKING, "info", "ca", "a"),
        OperatorChanged(2, "a", OperatorState.TALKING, None, "c1"),
        CallChanged(3, "c1", CallState.ENDED, "info", "ca", "a"),
        OperatorChanged(3, "a", OperatorState.WRAP_UP, None, None),
        OperatorChanged(3, "a", OperatorState.AVAILABLE, None, None),
    ]
    assert engine.drain_changes() == []
    assert [c.call_id for c in engine.drain_completed()] == ["c1"]
    quiet = Engine(lines=5)
    login(quiet, "a", 0)
    assert quiet.drain_changes() == []
