# Callbacks in the core, on a hand-advanced clock: each step asserts the exact commands the
# engine returns and the states it leaves (as test_engine.py does for calls).
from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import CallbackPolicy
from contactcenter.core.commands import (
    CancelOffer,
    ConfirmCallback,
    DialCallback,
    DialCitizen,
    OfferCallback,
    PersistCallback,
    RefuseCallback,
    RejectBusy,
    UpdateCallback,
)
from contactcenter.core.kpis import KpiCollector
from contactcenter.core.lifecycle import (
    CALLBACK_TRANSITIONS,
    FINAL_CALLBACK_STATES,
    CallbackState,
    CallOutcome,
    CallState,
    OperatorState,
)
from tests.unit.test_engine import answer, arrive, connect, end, hang_up, login

AHT = 180.0
POLICY = CallbackPolicy(offer_after_ewt_s=120, attempts=2, retry_delay_s=600, expire_after_s=4 * 3600)
B = CallbackState


def engine_with(policy: CallbackPolicy = POLICY, **kwargs: object) -> Engine:
    return Engine(lines=kwargs.pop("lines", 10), default_aht=AHT, callback_policy=policy, **kwargs)  # type: ignore[arg-type]


def busy_centre(policy: CallbackPolicy = POLICY, **kwargs: object) -> Engine:
    """Ana, the only `info` operator, talks to call "a" from t=0."""
    engine = engine_with(policy, **kwargs)
    login(engine, "ana", 0, {"info": 1})
    assert arrive(engine, "a", 0) == [connect("a", "ana")]
    answer(engine, "a", "ana", 1)
    return engine


def accept(engine: Engine, call_id: str, now: float, number_key: str | None = None) -> list[object]:
    return list(
        engine.handle(
            ev.CallbackAccepted(
                now=now, call_id=call_id, callback_id=f"cb-{call_id}", number_key=number_key or f"n-{call_id}"
            )
        )
    )


def persist(engine: Engine, call_id: str, now: float) -> PersistCallback:
    call = engine.calls[call_id]
    assert call.queued_at is not None
    return PersistCallback(
        call_id=call_id,
        callback_id=f"cb-{call_id}",
        skill="info",
        language="ca",
        priority=0,
        queued_at=call.queued_at,
        expires_at=now + POLICY.expire_after_s,
    )


def stored(engine: Engine, call_id: str, now: float) -> list[object]:
    return list(engine.handle(ev.CallbackStored(now=now, callback_id=f"cb-{call_id}")))


def update(
    cb: str, state: CallbackState, outcome: str | None = None, attempts: int = 0, at: float | None = None
) -> UpdateCallback:
    return UpdateCallback(call_id=cb, state=state, outcome=outcome, attempts=attempts, next_attempt_at=at)


# --- the offer -------------------------------------------------------------------------------


def test_a_caller_who_must_wait_longer_than_the_threshold_is_offered_a_callback() -> None:
    engine = busy_centre()
    # One operator, one caller ahead (none): position 1, EWT = 1 x 180 / 1 = 180 s > 120 s.
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=AHT, next_opening=None)]
    assert engine.calls["b"].callback_offered
    # Declining changes nothing: they wait as before, and are not offered again.
    assert engine.handle(ev.CallbackDeclined(now=20, call_id="b")) == []
    assert engine.calls["b"].state is CallState.QUEUED and engine.position("b") == 1


def test_no_offer_under_the_threshold_nor_while_an_operator_is_free() -> None:
    engine = busy_centre(CallbackPolicy(offer_after_ewt_s=AHT * 2))
    assert arrive(engine, "b", 10) == []  # 180 s < 360 s
    assert arrive(engine, "c", 11) == []  # 360 s, not more
    assert arrive(engine, "d", 12)[0] == OfferCallback(call_id="d", ewt_s=3 * AHT, next_opening=None)
    free = engine_with()
    login(free, "pau", 0, {"info": 1})
    assert arrive(free, "x", 1) == [connect("x", "pau")]  # served at once: nothing to offer


def test_a_caller_not_offered_at_first_is_offered_once_their_wait_reaches_the_threshold() -> None:
    engine = busy_centre(CallbackPolicy(offer_after_ewt_s=AHT * 2))
    assert arrive(engine, "b", 10) == []  # EWT 180 s: under 360 s
    assert arrive(engine, "c", 20) == []
    assert engine.handle(ev.Tick(now=10 + 2 * AHT)) == [
        OfferCallback(call_id="b", ewt_s=AHT, next_opening=None)
    ]
    hang_up(engine, "c", 15 + 2 * AHT)  # gone before its wait reached it: nothing to offer
    assert engine.handle(ev.Tick(now=20 + 2 * AHT)) == []
    assert engine.next_deadline() is None  # once per caller


def test_a_long_queue_is_offered_a_callback_whatever_the_estimate() -> None:
    engine = busy_centre(CallbackPolicy(offer_after_ewt_s=10_000, offer_queue_length=1))
    assert arrive(engine, "b", 10) == []  # nobody ahead
    assert arrive(engine, "c", 11) == []  # one ahead: not more than 1
    assert arrive(engine, "d", 12) == [OfferCallback(call_id="d", ewt_s=3 * AHT, next_opening=None)]


def test_no_offer_beyond_the_cap_of_open_callbacks_for_the_skill() -> None:
    engine = busy_centre(CallbackPolicy(offer_after_ewt_s=0, max_pending=1))
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=AHT, next_opening=None)]
    accept(engine, "b", 11)
    assert arrive(engine, "c", 12) == []  # one callback open for `info`: the cap


def test_an_unstaffed_queue_is_offered_a_callback_with_an_unknown_wait() -> None:
    engine = engine_with()
    login(engine, "pau", 0, {"tributs": 1})
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=math.inf, next_opening=None)]


# --- the request and the promise --------------------------------------------------------------


def test_the_promise_comes_only_after_the_store_committed_and_the_callback_keeps_the_place() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    arrive(engine, "c", 20)
    assert accept(engine, "b", 30) == [persist(engine, "b", 30)]
    # Not yet stored: b is still a live caller in the queue, at the head.
    assert engine.calls["b"].state is CallState.QUEUED and engine.position("b") == 1
    assert engine.callbacks["cb-b"].state is B.REQUESTED
    assert stored(engine, "b", 31) == [ConfirmCallback(call_id="b", callback_id="cb-b")]
    assert engine.calls["b"].state is CallState.CALLBACK_CONFIRMED
    queue = engine.queues[("info", "ca")]
    assert queue.in_order() == ["cb-b", "c"]  # the callback at b's place, ahead of c
    assert engine.position("c") == 2  # still counted in c's position (and EWT)
    assert hang_up(engine, "b", 40) == []
    (b,) = engine.drain_completed()
    assert (b.call_id, b.outcome) == ("b", CallOutcome.CALLBACK)  # not an abandon
    snap = engine.snapshot(41)
    assert snap.callbacks == {B.PENDING: 1} and snap.skill("info").callbacks == 1


def test_callers_a_b_c_b_takes_a_callback_and_is_served_between_a_and_c_operator_first() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    arrive(engine, "c", 20)
    accept(engine, "b", 30)
    stored(engine, "b", 31)
    hang_up(engine, "b", 35)
    # Ana ends with a: the next in line is b's callback; Ana is rung first.
    assert end(engine, "a", 100) == [DialCallback(call_id="cb-b", operator_id="ana")]
    assert engine.callbacks["cb-b"].state is B.RINGING_OPERATOR
    # She answers: now the citizen is called (attempt 1).
    assert answer(engine, "cb-b", "ana", 104) == [DialCitizen(call_id="cb-b", operator_id="ana", attempt=1)]
    assert engine.operators["ana"].state is OperatorState.TALKING
    assert engine.handle(ev.CitizenAnswered(now=110, callback_id="cb-b")) == [
        update("cb-b", B.TALKING, "answered", 1)
    ]
    # The conversation ends: completed; Ana takes c (no wrap-up configured).
    assert end(engine, "cb-b", 300) == [update("cb-b", B.COMPLETED, "answered", 1), connect("c", "ana")]
    (cb,) = engine.drain_completed_callbacks()
    assert (cb.state, cb.attempts, cb.time_to_serve, cb.time_from_queue) == (B.COMPLETED, 1, 80, 100)
    assert not engine.callbacks


def test_a_store_that_cannot_commit_makes_no_promise_and_the_caller_keeps_waiting() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    arrive(engine, "c", 20)
    accept(engine, "b", 30)
    got = engine.handle(ev.CallbackStoreFailed(now=31, callback_id="cb-b", reason="disk full"))
    assert got == [RefuseCallback(call_id="b", reason="disk full")]
    assert engine.calls["b"].state is CallState.QUEUED and engine.position("b") == 1
    assert engine.calls["b"].callback_id is None
    (cb,) = engine.drain_completed_callbacks()
    assert cb.state is B.CANCELLED
    assert end(engine, "a", 100) == [connect("b", "ana")]  # served live, in its turn


def test_a_caller_served_live_while_the_store_writes_gets_no_callback() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    accept(engine, "b", 30)
    assert end(engine, "a", 31) == [connect("b", "ana")]  # still a live caller: routed
    assert stored(engine, "b", 32) == [update("cb-b", B.CANCELLED)]
    assert engine.calls["b"].state is CallState.OFFERED and engine.calls["b"].callback_id is None


def test_hanging_up_while_the_request_is_stored_still_gets_the_callback() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    arrive(engine, "c", 20)
    accept(engine, "b", 30)
    assert hang_up(engine, "b", 31) == []
    (b,) = engine.drain_completed()
    assert b.outcome is CallOutcome.CALLBACK
    assert stored(engine, "b", 32) == []  # no one to confirm to; the callback takes its place
    assert engine.queues[("info", "ca")].in_order() == ["cb-b", "c"]


def test_a_second_request_from_the_same_number_for_the_skill_merges_into_the_first() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    accept(engine, "b", 11, number_key="same")
    stored(engine, "b", 12)
    arrive(engine, "b2", 20)
    assert accept(engine, "b2", 21, number_key="same") == [
        ConfirmCallback(call_id="b2", callback_id="cb-b", merged=True)
    ]
    assert engine.calls["b2"].state is CallState.CALLBACK_CONFIRMED
    assert engine.queues[("info", "ca")].in_order() == ["cb-b"]
    assert set(engine.callbacks) == {"cb-b"}


def test_an_acceptance_without_an_offer_is_stale() -> None:
    engine = busy_centre(CallbackPolicy(offer_after_ewt_s=10_000))
    arrive(engine, "b", 10)
    assert accept(engine, "b", 11) == []
    assert engine.stale_facts == {("CallbackAccepted", "no callback offered"): 1}
    assert engine.handle(ev.CitizenAnswered(now=12, callback_id="cb-x")) == []
    assert engine.stale_facts[("CitizenAnswered", "callback not open")] == 1


# --- dialling ------------------------------------------------------------------------------------


def waiting_callback(engine: Engine) -> None:
    """b (queued at 10) leaves a callback at 30 while Ana talks to a."""
    arrive(engine, "b", 10)
    accept(engine, "b", 30)
    stored(engine, "b", 31)
    hang_up(engine, "b", 35)


def test_the_citizen_not_reached_is_retried_after_the_delay_then_given_up() -> None:
    engine = busy_centre()
    waiting_callback(engine)
    arrive(engine, "c", 40)
    assert end(engine, "a", 100) == [DialCallback(call_id="cb-b", operator_id="ana")]
    answer(engine, "cb-b", "ana", 102)
    # No answer: the operator is free at once (nothing to wrap up) and takes c; the callback
    # is out of the queue until 102 + 600 s.
    got = engine.handle(ev.CitizenNotReached(now=130, callback_id="cb-b", outcome="no_answer"))
    assert got == [update("cb-b", B.SCHEDULED, "no_answer", 1, 730), connect("c", "ana")]
    assert "cb-b" not in engine.queues[("info", "ca")]
    answer(engine, "c", "ana", 131)
    # Due at 730: back in its queue at its place; Ana is busy, so it waits there.
    engine.handle(ev.Tick(now=730))
    assert engine.callbacks["cb-b"].state is B.PENDING
    arrive(engine, "d", 731)
    assert engine.queues[("info", "ca")].in_order() == ["cb-b", "d"]
    assert end(engine, "c", 800) == [DialCallback(call_id="cb-b", operator_id="ana")]
    assert answer(engine, "cb-b", "ana", 801) == [DialCitizen(call_id="cb-b", operator_id="ana", attempt=2)]
    got = engine.handle(ev.CitizenNotReached(now=830, callback_id="cb-b", outcome="busy"))
    assert got == [update("cb-b", B.FAILED, "busy", 2), connect("d", "ana")]  # 2 attempts: the last
    (cb,) = engine.drain_completed_callbacks()
    assert (cb.state, cb.attempts, cb.time_to_serve) == (B.FAILED, 2, None)


def test_a_callback_back_from_a_retry_reaches_wider_levels_counting_its_head_start() -> None:
    # Head starts count as time waited for relaxation, for a callback as for a call: b
    # queued at 10 with a 300 s head start, so it stands as if queued at -290, and the
    # second-level operator may take it at -290 + 1500 = 1210 (not 10 + 1500).
    engine = busy_centre(relaxation=((0.0, 1), (1500.0, 2)), priority_head_start=((0, 300.0),))
    waiting_callback(engine)
    arrive(engine, "c", 40)
    assert end(engine, "a", 100) == [DialCallback(call_id="cb-b", operator_id="ana")]
    answer(engine, "cb-b", "ana", 102)
    got = engine.handle(ev.CitizenNotReached(now=130, callback_id="cb-b", outcome="no_answer"))
    assert got == [update("cb-b", B.SCHEDULED, "no_answer", 1, 730), connect("c", "ana")]
    answer(engine, "c", "ana", 131)
    assert login(engine, "bea", 132, {"info": 2}) == []  # nothing within her reach
    assert engine.handle(ev.Tick(now=730)) == []  # back in its queue; still out of Bea's reach
    assert engine.callbacks["cb-b"].state is B.PENDING
    assert engine.next_deadline() == 1210
    assert engine.handle(ev.Tick(now=1209.9)) == []
    assert engine.handle(ev.Tick(now=1210)) == [DialCallback(call_id="cb-b", operator_id="bea")]


def test_an_unanswered_operator_ring_costs_no_attempt_and_the_callback_keeps_its_place() -> None:
    engine = busy_centre()
    waiting_callback(engine)
    assert end(engine, "a", 100) == [DialCallback(call_id="cb-b", operator_id="ana")]
    got = engine.handle(ev.OperatorRingTimeout(now=120, call_id="cb-b", operator_id="ana"))
    assert got == []  # Ana is paused for not answering; the callback waits at its place
    assert engine.operators["ana"].state is OperatorState.PAUSED
    cb = engine.callbacks["cb-b"]
    assert (cb.state, cb.attempts, cb.operator_id) == (B.PENDING, 0, None)
    assert engine.queues[("info", "ca")].in_order() == ["cb-b"]
    assert engine.handle(ev.OperatorResumed(now=130, operator_id="ana")) == [
        DialCallback(call_id="cb-b", operator_id="ana")
    ]


def test_a_callback_whose_ring_gets_no_outcome_in_time_is_withdrawn() -> None:
    engine = busy_centre(offer_timeout=40)
    waiting_callback(engine)
    end(engine, "a", 100)
    answer(engine, "cb-b", "ana", 101)
    assert engine.handle(ev.Tick(now=141)) == [
        CancelOffer(call_id="cb-b", operator_id="ana"),
        update("cb-b", B.SCHEDULED, "failed", 1, 741),
    ]
    assert engine.operators["ana"].state is OperatorState.AVAILABLE


def test_an_operator_who_hangs_up_before_the_citizen_answers_frees_them_and_counts_the_attempt() -> None:
    engine = busy_centre()
    waiting_callback(engine)
    end(engine, "a", 100)
    answer(engine, "cb-b", "ana", 101)
    assert end(engine, "cb-b", 110) == [update("cb-b", B.SCHEDULED, "operator_left", 1, 710)]
    assert engine.operators["ana"].state is OperatorState.AVAILABLE


def test_a_pending_callback_expires_and_leaves_its_queue() -> None:
    engine = busy_centre()
    waiting_callback(engine)
    expiry = 30 + POLICY.expire_after_s
    assert engine.handle(ev.Tick(now=expiry)) == [update("cb-b", B.EXPIRED)]
    assert "cb-b" not in engine.queues[("info", "ca")] and not engine.callbacks
    assert end(engine, "a", expiry + 1) == []  # nothing left to dial


def test_a_retry_that_would_come_after_expiry_ends_the_callback_expired() -> None:
    policy = CallbackPolicy(offer_after_ewt_s=0, attempts=3, retry_delay_s=600, expire_after_s=700)
    engine = busy_centre(policy)
    waiting_callback(engine)
    end(engine, "a", 100)
    answer(engine, "cb-b", "ana", 101)
    got = engine.handle(ev.CitizenNotReached(now=140, callback_id="cb-b", outcome="no_answer"))
    assert got == [update("cb-b", B.EXPIRED, "no_answer", 1)]  # 740 s > 30 + 700 s


# --- lines and opening hours ----------------------------------------------------------------------


def test_a_callback_being_dialled_takes_a_line() -> None:
    engine = busy_centre(lines=3)
    waiting_callback(engine)  # (b's line is free again: it hung up)
    end(engine, "a", 100)  # Ana dials b's callback: a line for the citizen's call
    assert engine.handle(ev.CallArrived(now=101, call_id="x")) == []
    assert engine.handle(ev.CallArrived(now=102, call_id="y")) == []
    assert engine.handle(ev.CallArrived(now=103, call_id="z")) == [RejectBusy(call_id="z")]
    assert engine.snapshot(104).lines_in_use == 3


def test_a_callback_that_finds_every_line_in_use_steps_out_and_comes_back() -> None:
    engine = busy_centre(lines=2)
    waiting_callback(engine)
    assert engine.handle(ev.CallArrived(now=50, call_id="x")) == []  # lines: a, x
    # Pau logs in and would take the callback, but no line is free for the citizen's call:
    # it steps out for line_wait_s (not stored: a matter of seconds), Pau stays free.
    assert login(engine, "pau", 60, {"info": 1}) == []
    cb = engine.callbacks["cb-b"]
    assert (cb.state, cb.next_attempt_at) == (B.SCHEDULED, 60 + POLICY.line_wait_s)
    assert engine.operators["pau"].state is OperatorState.AVAILABLE
    hang_up(engine, "x", 65)
    assert engine.handle(ev.Tick(now=70)) == [DialCallback(call_id="cb-b", operator_id="pau")]


MADRID = ZoneInfo("Europe/Madrid")
MONDAY_8 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=MADRID).timestamp()


def hours() -> OpeningHours:
    return OpeningHours(tz=MADRID, open=dt.time(8), close=dt.time(20), weekdays=frozenset(range(5)))


def test_near_closing_the_offer_says_when_the_callback_would_be() -> None:
    # 19:58 on a Monday; EWT 180 s runs past 20:00: the callback would be on Tuesday at 8:00.
    epoch = MONDAY_8 + 11 * 3600 + 58 * 60
    policy = CallbackPolicy(offer_after_ewt_s=10_000, expire_after_s=24 * 3600)
    engine = busy_centre(policy, hours=hours(), epoch=epoch)
    tuesday_8 = dt.datetime(2026, 3, 3, 8, 0, tzinfo=MADRID).timestamp()
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=AHT, next_opening=tuesday_8)]
    # A callback that would expire before then is not offered: it could not be kept.
    short = busy_centre(
        CallbackPolicy(offer_after_ewt_s=10_000, expire_after_s=8 * 3600), hours=hours(), epoch=epoch
    )
    assert arrive(short, "b", 10) == []


def test_a_callback_is_never_dialled_outside_opening_hours() -> None:
    epoch = MONDAY_8 + 11 * 3600 + 50 * 60  # 19:50
    policy = CallbackPolicy(offer_after_ewt_s=0, expire_after_s=24 * 3600)
    engine = busy_centre(policy, hours=hours(), epoch=epoch)
    waiting_callback(engine)
    # Ana frees up at 20:05 (after closing): the callback waits until Tuesday 8:00.
    tuesday_8 = dt.datetime(2026, 3, 3, 8, 0, tzinfo=MADRID).timestamp() - epoch
    assert end(engine, "a", 15 * 60) == [update("cb-b", B.SCHEDULED, None, 0, tuesday_8)]


def test_a_retry_is_never_due_outside_opening_hours() -> None:
    epoch = MONDAY_8 + 11 * 3600 + 50 * 60  # 19:50
    policy = CallbackPolicy(offer_after_ewt_s=0, attempts=3, retry_delay_s=600, expire_after_s=24 * 3600)
    engine = busy_centre(policy, hours=hours(), epoch=epoch)
    waiting_callback(engine)
    end(engine, "a", 100)
    answer(engine, "cb-b", "ana", 101)
    tuesday_8 = dt.datetime(2026, 3, 3, 8, 0, tzinfo=MADRID).timestamp() - epoch
    got = engine.handle(ev.CitizenNotReached(now=200, callback_id="cb-b", outcome="no_answer"))
    assert got == [update("cb-b", B.SCHEDULED, "no_answer", 1, tuesday_8)]  # not at 20:03


# --- restart -----------------------------------------------------------------------------------------


def restored(cb_id: str, queued_at: float, **kw: object) -> ev.CallbackRestored:
    return ev.CallbackRestored(
        now=kw.pop("now", 0.0),  # type: ignore[arg-type]
        callback_id=cb_id,
        skill="info",
        language="ca",
        queued_at=queued_at,
        requested_at=queued_at + 5,
        number_key=f"n-{cb_id}",
        expires_at=kw.pop("expires_at", 3600.0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_restored_callbacks_keep_their_place_ahead_of_later_callers() -> None:
    engine = engine_with()
    assert engine.handle(restored("cb-1", -500)) == []
    assert engine.handle(restored("cb-2", -400, attempts=1, next_attempt_at=60)) == []
    assert engine.handle(restored("cb-3", -300, expires_at=-1)) == [update("cb-3", B.EXPIRED)]
    arrive(engine, "live", 5)
    assert engine.queues[("info", "ca")].in_order() == ["cb-1", "live"]
    assert engine.callbacks["cb-2"].state is B.SCHEDULED
    engine.handle(ev.Tick(now=60))  # cb-2's retry is due: back at its place, ahead of "live"
    assert engine.queues[("info", "ca")].in_order() == ["cb-1", "cb-2", "live"]
    assert login(engine, "ana", 61, {"info": 1}) == [DialCallback(call_id="cb-1", operator_id="ana")]
    assert engine.handle(restored("cb-1", -500)) == []  # (known already)
    assert engine.stale_facts[("CallbackRestored", "callback already open")] == 1


def test_a_supervisor_cancels_a_waiting_callback() -> None:
    engine = busy_centre()
    waiting_callback(engine)
    assert engine.handle(ev.CallbackCancelled(now=50, callback_id="cb-b")) == [update("cb-b", B.CANCELLED)]
    assert "cb-b" not in engine.queues[("info", "ca")]


# --- the table ------------------------------------------------------------------------------------


def test_every_callback_state_is_reachable_and_every_final_state_is_a_dead_end() -> None:
    reached = {B.REQUESTED}
    frontier = [B.REQUESTED]
    while frontier:
        for dst in CALLBACK_TRANSITIONS[frontier.pop()].values():
            if dst not in reached:
                reached.add(dst)
                frontier.append(dst)
    assert reached == set(CallbackState)
    assert all(CALLBACK_TRANSITIONS[s] == {} for s in FINAL_CALLBACK_STATES)


def test_the_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        CallbackPolicy(attempts=0)
    with pytest.raises(ValueError, match="retry_delay_s"):
        CallbackPolicy(retry_delay_s=math.inf)
    with pytest.raises(ValueError, match="offer_after_ewt_s of info"):
        CallbackPolicy(offer_after_ewt_by_skill={"info": -1})


def test_a_request_stored_after_its_expiry_is_no_promise_and_the_caller_keeps_waiting() -> None:
    engine = busy_centre(CallbackPolicy(offer_after_ewt_s=0, expire_after_s=60))
    arrive(engine, "b", 10)
    accept(engine, "b", 20)  # expires at 80
    got = stored(engine, "b", 90)  # the store answered late
    assert got == [update("cb-b", B.EXPIRED), RefuseCallback(call_id="b", reason="expired")]
    assert engine.calls["b"].state is CallState.QUEUED and engine.position("b") == 1
    assert engine.calls["b"].callback_id is None


def test_a_second_request_while_the_first_for_that_number_is_being_stored_is_refused() -> None:
    engine = busy_centre()
    arrive(engine, "b", 10)
    arrive(engine, "b2", 11)
    accept(engine, "b", 12, number_key="same")  # being stored
    got = accept(engine, "b2", 13, number_key="same")
    assert got == [RefuseCallback(call_id="b2", reason="request for this number in progress")]
    assert engine.calls["b2"].state is CallState.QUEUED and engine.calls["b2"].callback_id is None


# --- booked callbacks ("cita previa") -------------------------------------------------------------
# A booked callback is given to the core as restored (the store holds it): booked=True, its time
# both when it is due (next_attempt_at) and its place (queued_at). Booked days before its time.

BOOKED_AT = -3 * 24 * 3600.0  # when the citizen booked it: days before the core's t = 0
# No offers to live callers in these tests (an offer would only add to the command lists).
QUIET = CallbackPolicy(offer_after_ewt_s=10_000, attempts=2, retry_delay_s=600, expire_after_s=4 * 3600)


def booked(cb_id: str, due: float, now: float = 0.0, policy: CallbackPolicy = QUIET) -> ev.CallbackRestored:
    return ev.CallbackRestored(
        now=now,
        callback_id=cb_id,
        skill="info",
        language="ca",
        queued_at=due,
        requested_at=BOOKED_AT,
        number_key=f"n-{cb_id}",
        expires_at=due + policy.expire_after_s,  # from its time, as the booking computes it
        next_attempt_at=due,
        booked=True,
    )


def test_a_booked_callback_does_nothing_before_its_time_then_rings_a_free_operator_first() -> None:
    engine = engine_with(QUIET)
    login(engine, "ana", 0, {"info": 1})
    due = 1000.0
    assert engine.handle(booked("cb-k", due)) == []
    cb = engine.callbacks["cb-k"]
    assert (cb.state, cb.booked, cb.call_id, cb.next_attempt_at) == (B.SCHEDULED, True, None, due)
    assert engine.next_deadline() == due
    assert engine.handle(ev.Tick(now=due - 1)) == []
    assert "cb-k" not in engine.queues[("info", "ca")]  # (not a waiting caller before its time)
    assert engine.operators["ana"].state is OperatorState.AVAILABLE
    assert engine.handle(ev.Tick(now=due)) == [DialCallback(call_id="cb-k", operator_id="ana")]
    assert answer(engine, "cb-k", "ana", due + 2) == [
        DialCitizen(call_id="cb-k", operator_id="ana", attempt=1)
    ]
    answered = due + 15
    assert engine.handle(ev.CitizenAnswered(now=answered, callback_id="cb-k")) == [
        update("cb-k", B.TALKING, "answered", 1)
    ]
    assert end(engine, "cb-k", answered + 200) == [update("cb-k", B.COMPLETED, "answered", 1)]
    (done,) = engine.drain_completed_callbacks()
    # Its delay counts from its time, not from the booking three days before.
    assert (done.time_to_serve, done.time_from_queue) == (answered - due, answered - due)


def test_a_booked_callback_waits_behind_callers_queued_before_its_time_and_ahead_of_later_ones() -> None:
    engine = busy_centre(QUIET)  # Ana talks to "a"
    due = 100.0
    assert engine.handle(booked("cb-k", due)) == []
    assert arrive(engine, "b", due - 50) == []  # queued before its time
    assert engine.handle(ev.Tick(now=due)) == []  # its time: it joins, behind b (Ana is busy)
    assert engine.queues[("info", "ca")].in_order() == ["b", "cb-k"]
    assert engine.callbacks["cb-k"].state is B.PENDING
    assert arrive(engine, "c", due + 50) == []  # queued after its time
    assert engine.queues[("info", "ca")].in_order() == ["b", "cb-k", "c"]
    assert engine.position("c") == 3  # (counted in c's place)
    assert end(engine, "a", 200) == [connect("b", "ana")]
    answer(engine, "b", "ana", 201)
    assert end(engine, "b", 300) == [DialCallback(call_id="cb-k", operator_id="ana")]
    assert answer(engine, "cb-k", "ana", 301) == [DialCitizen(call_id="cb-k", operator_id="ana", attempt=1)]
    engine.handle(ev.CitizenAnswered(now=310, callback_id="cb-k"))
    assert end(engine, "cb-k", 400) == [update("cb-k", B.COMPLETED, "answered", 1), connect("c", "ana")]
    (done,) = engine.drain_completed_callbacks()
    assert done.time_to_serve == 310 - due


def test_a_booked_callback_expires_counting_from_its_time() -> None:
    engine = busy_centre(QUIET)  # Ana talks to "a" all along
    due = 100.0
    assert engine.handle(booked("cb-k", due)) == []
    assert engine.handle(ev.Tick(now=due)) == []
    expiry = due + QUIET.expire_after_s
    assert engine.next_deadline() == expiry
    assert engine.handle(ev.Tick(now=expiry)) == [update("cb-k", B.EXPIRED)]
    assert "cb-k" not in engine.queues[("info", "ca")] and not engine.callbacks


def test_bookings_do_not_use_up_the_cap_on_callbacks_offered_to_callers() -> None:
    policy = CallbackPolicy(offer_after_ewt_s=0, max_pending=1)
    engine = busy_centre(policy)
    assert engine.handle(booked("cb-k", 5000, policy=policy)) == []
    assert engine.handle(booked("cb-l", 6000, policy=policy)) == []
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=AHT, next_opening=None)]
    assert accept(engine, "b", 11)[0] == PersistCallback(
        call_id="b",
        callback_id="cb-b",
        skill="info",
        language="ca",
        priority=0,
        queued_at=10,
        expires_at=11 + policy.expire_after_s,
    )
    assert arrive(engine, "c", 12) == []  # b's callback: the cap
    assert engine.snapshot(13).skill("info").callbacks == 3  # (the wallboard counts every one)


def test_the_kpis_count_a_booked_callback_s_delay_and_day_from_its_time() -> None:
    engine = engine_with(QUIET)
    login(engine, "ana", 0, {"info": 1})
    due = 1000.0
    engine.handle(booked("cb-k", due))
    engine.handle(ev.Tick(now=due))
    answer(engine, "cb-k", "ana", due + 2)
    engine.handle(ev.CitizenAnswered(now=due + 30, callback_id="cb-k"))
    end(engine, "cb-k", due + 230)
    kpis = KpiCollector(start=0.0)  # the booking (days before 0) is outside the window; its time is in
    kpis.add_callbacks(engine.drain_completed_callbacks())
    figures = kpis.callback_kpis()
    assert (figures["requested"], figures["completed"]) == (1, 1)
    assert figures["mean_delay_s"] == figures["max_delay_s"] == figures["mean_wait_total_s"] == 30


def test_a_caller_with_an_appointment_later_is_not_merged_into_it() -> None:
    # The citizen booked for tomorrow and calls today needing help now: their callback is
    # their own (in their place today), not folded into the appointment.
    policy = CallbackPolicy(offer_after_ewt_s=0)
    engine = busy_centre(policy)
    tomorrow = 24 * 3600.0
    appointment = booked("cb-k", tomorrow, policy=policy)
    assert engine.handle(appointment) == []
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=AHT, next_opening=None)]
    assert accept(engine, "b", 11, number_key=appointment.number_key) == [
        PersistCallback(
            call_id="b",
            callback_id="cb-b",
            skill="info",
            language="ca",
            priority=0,
            queued_at=10,
            expires_at=11 + policy.expire_after_s,
        )
    ]
    assert set(engine.callbacks) == {"cb-k", "cb-b"}
