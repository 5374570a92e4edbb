# A supervisor's and an operator's console in the core, on a hand-advanced clock: skills
# changed live, a waiting call moved to another queue, a wrap-up ended early, and what the
# consoles read of calls (CallView). Rules: as in test_engine.py, every `now` is explicit
# and each step asserts the exact commands returned and the states it leaves.
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import pytest

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.callbacks import CallbackPolicy
from contactcenter.core.commands import (
    AnnounceWait,
    Command,
    ConfirmCallback,
    DialCallback,
    DialCitizen,
    OfferCallback,
    PersistCallback,
    UpdateCallback,
)
from contactcenter.core.lifecycle import CallbackState, CallState, OperatorState
from contactcenter.core.readmodel import CallChanged, CallView, OperatorChanged
from tests.unit.test_engine import answer, arrive, bridge, connect, end, login, op_state

# --- helpers ------------------------------------------------------------------------------


def skills(
    engine: Engine,
    operator_id: str,
    now: float,
    levels: Mapping[str, int],
    languages: Iterable[str] | None = None,
) -> list[Command]:
    """A supervisor sets an operator's skills (and languages, unless None)."""
    return engine.handle(
        ev.OperatorSkillsChanged(
            now=now,
            operator_id=operator_id,
            skills=tuple(levels.items()),
            languages=None if languages is None else tuple(languages),
        )
    )


def move(engine: Engine, call_id: str, now: float, skill: str, language: str | None = None) -> list[Command]:
    return engine.handle(ev.CallMoved(now=now, call_id=call_id, skill=skill, language=language))


def wrap_done(engine: Engine, operator_id: str, now: float) -> list[Command]:
    return engine.handle(ev.WrapUpEnded(now=now, operator_id=operator_id))


def talking_to(engine: Engine, operator_id: str, call_id: str, now: float, skill: str = "info") -> None:
    """`operator_id` (free, with `skill`) takes a new call at `now` and answers at now + 1."""
    assert arrive(engine, call_id, now, skill=skill) == [connect(call_id, operator_id)]
    assert answer(engine, call_id, operator_id, now + 1) == [bridge(call_id, operator_id)]


# --- skills changed live ------------------------------------------------------------------


def test_a_skill_given_to_a_free_operator_takes_a_waiting_call_at_once() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1})
    assert arrive(engine, "t1", 5, skill="tributs") == []  # nobody has tributs
    assert engine.ewt.staffed("tributs", "ca") == 0
    assert skills(engine, "ana", 10, {"info": 1, "tributs": 2}) == [connect("t1", "ana")]
    assert engine.calls["t1"].state is CallState.OFFERED
    assert op_state(engine, "ana") is OperatorState.RESERVED
    assert engine.snapshot(10).operators["ana"].skills == {"info": 1, "tributs": 2}
    assert (engine.ewt.staffed("info", "ca"), engine.ewt.staffed("tributs", "ca")) == (1, 1)


def test_a_skills_change_keeps_a_free_operator_s_place_among_the_idle() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1})
    login(engine, "ben", 5, {"info": 1})
    assert skills(engine, "ana", 10, {"info": 1, "tributs": 1}) == []  # nothing waits for her
    # Still idle since 0, before ben (5): a skills change is no new start of her idle time.
    assert engine.operators["ana"].idle_since == 0
    assert arrive(engine, "c1", 20) == [connect("c1", "ana")]
    assert arrive(engine, "c2", 21) == [connect("c2", "ben")]


def test_a_skill_taken_away_is_no_longer_offered_that_queue_s_calls() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1, "tributs": 1})
    assert skills(engine, "ana", 1, {"tributs": 1}) == []
    assert arrive(engine, "i1", 2) == []  # info: nobody now
    assert engine.waiting("info", "ca") == 1
    assert engine.ewt.staffed("info", "ca") == 0
    assert arrive(engine, "t1", 3, skill="tributs") == [connect("t1", "ana")]


def test_languages_change_only_when_given() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1}, languages=("ca", "es"))
    assert skills(engine, "ana", 1, {"info": 2}) == []  # (languages: the ones she has)
    assert engine.operators["ana"].languages == ("ca", "es")
    assert skills(engine, "ana", 2, {"info": 2}, languages=("es",)) == []
    assert arrive(engine, "ca1", 3) == []
    assert arrive(engine, "es1", 4, language="es") == [connect("es1", "ana")]
    assert (engine.ewt.staffed("info", "ca"), engine.ewt.staffed("info", "es")) == (0, 1)


def test_a_skills_change_on_a_call_applies_to_the_next_call() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1})
    assert arrive(engine, "c1", 1) == [connect("c1", "ana")]
    # While her phone rings: the offer goes on, and is answered.
    assert skills(engine, "ana", 1.5, {"info": 1, "tributs": 1}) == []
    assert answer(engine, "c1", "ana", 2) == [bridge("c1", "ana")]
    assert arrive(engine, "i2", 3) == []
    assert arrive(engine, "t2", 4, skill="tributs") == []
    # While she talks: info taken away; the conversation goes on as it was.
    assert skills(engine, "ana", 5, {"tributs": 1}) == []
    assert engine.calls["c1"].state is CallState.TALKING
    op = engine.operators["ana"]
    assert (op.state, op.call_id, op.since) == (OperatorState.TALKING, "c1", 2)
    # Her next call is tributs', though the info caller came first.
    assert end(engine, "c1", 6) == [connect("t2", "ana")]
    assert engine.calls["i2"].state is CallState.QUEUED


def test_a_paused_operator_s_skills_apply_when_they_resume() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1})
    engine.handle(ev.OperatorPaused(now=1, operator_id="ana", reason="lunch"))
    assert arrive(engine, "t1", 2, skill="tributs") == []
    assert skills(engine, "ana", 3, {"tributs": 1}) == []
    op = engine.operators["ana"]
    assert (op.state, op.pause_reason, op.since) == (OperatorState.PAUSED, "lunch", 1)
    assert engine.ewt.staffed("tributs", "ca") == 0  # (paused: not counted)
    assert engine.handle(ev.OperatorResumed(now=4, operator_id="ana")) == [connect("t1", "ana")]


def test_a_skills_change_is_no_state_change_in_the_feed() -> None:
    engine = Engine(lines=10, record_changes=True)
    login(engine, "ana", 0, {"info": 1})
    engine.drain_changes()
    assert skills(engine, "ana", 1, {"tributs": 1}) == []
    # Observers read the skills from the snapshot; the feed lists moves of state only.
    assert engine.drain_changes() == []
    assert arrive(engine, "t1", 2, skill="tributs") == [connect("t1", "ana")]
    assert OperatorChanged(2, "ana", OperatorState.RESERVED, None, "t1") in engine.drain_changes()


# --- a waiting call moved to another queue ------------------------------------------------


def test_a_moved_call_keeps_its_wait_and_priority_ahead_of_later_callers() -> None:
    engine = Engine(lines=10, record_changes=True)
    login(engine, "ana", 0, {"tributs": 1})
    talking_to(engine, "ana", "t0", 0, skill="tributs")
    assert arrive(engine, "early", 10) == []  # info: nobody has it
    assert arrive(engine, "later", 20, skill="tributs") == []
    assert arrive(engine, "vip", 25, priority=1) == []
    engine.drain_changes()
    assert move(engine, "early", 30, "tributs") == []  # ana talks
    assert move(engine, "vip", 31, "tributs") == []
    # Observers see each move: still QUEUED, in the new queue.
    assert engine.drain_changes() == [
        CallChanged(30, "early", CallState.QUEUED, "tributs", "ca", None),
        CallChanged(31, "vip", CallState.QUEUED, "tributs", "ca", None),
    ]
    # Priority first, then the time each joined a queue: early (10) before later (20).
    assert [engine.position(c) for c in ("vip", "early", "later")] == [1, 2, 3]
    assert engine.waiting("info", "ca") == 0
    assert [v.call_id for v in engine.waiting_calls(32)] == ["vip", "early", "later"]
    early = engine.call_view("early")
    assert early is not None and (early.skill, early.queued_at) == ("tributs", 10)
    assert end(engine, "t0", 40) == [connect("vip", "ana")]
    assert answer(engine, "vip", "ana", 41) == [bridge("vip", "ana")]
    assert end(engine, "vip", 50) == [connect("early", "ana")]
    assert answer(engine, "early", "ana", 51) == [bridge("early", "ana")]
    assert engine.calls["early"].wait == 41  # from when it first queued, not from its move


def test_a_moved_call_is_routed_at_once_to_a_free_operator_of_its_new_queue() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"tributs": 1}, languages=("es",))
    assert arrive(engine, "c", 1) == []  # info, ca
    assert move(engine, "c", 2, "tributs") == []  # tributs/ca: ana speaks es only
    assert engine.waiting("tributs", "ca") == 1
    assert move(engine, "c", 3, "tributs", "es") == [connect("c", "ana")]
    call = engine.calls["c"]
    assert (call.state, call.skill, call.language, call.queued_at) == (CallState.OFFERED, "tributs", "es", 1)
    assert engine.waiting("tributs", "ca") == 0


@pytest.mark.parametrize(("moved_at", "got"), [(20, []), (40, [connect("c", "backup")])])
def test_a_moved_call_s_relaxation_counts_from_when_it_first_queued(
    moved_at: float, got: list[Command]
) -> None:
    # Level 1 at once, level 2 after 30 s of waiting; only a level-2 tributs operator is free.
    engine = Engine(lines=10, relaxation=((0, 1), (30, 2)))
    login(engine, "backup", 0, {"tributs": 2})
    assert arrive(engine, "c", 0) == []  # info: nobody
    assert move(engine, "c", moved_at, "tributs") == got
    if not got:
        # 20 s waited: not yet; its step comes at 30 s after it first queued (not 50).
        assert engine.next_deadline() == 30
        assert engine.handle(ev.Tick(now=30)) == [connect("c", "backup")]


def test_a_moved_caller_hears_their_new_place_and_wait() -> None:
    engine = Engine(lines=10, announce=True)
    login(engine, "ana", 0, {"tributs": 1})
    talking_to(engine, "ana", "t0", 0, skill="tributs")
    # (Nobody has info: an infinite wait; one tributs operator, 180 s a call.)
    assert arrive(engine, "c", 2) == [AnnounceWait(call_id="c", position=1, ewt_s=math.inf)]
    assert arrive(engine, "t1", 3, skill="tributs") == [AnnounceWait(call_id="t1", position=1, ewt_s=180)]
    assert move(engine, "c", 4, "tributs") == [AnnounceWait(call_id="c", position=1, ewt_s=180)]
    # What it was told when it joined was for the queue it left: not measured against its wait.
    assert engine.calls["c"].ewt_at_entry is None


# --- wrap-up ended early ------------------------------------------------------------------


def test_wrap_up_ended_early_takes_the_next_call_and_its_timer_ends_nothing() -> None:
    engine = Engine(lines=10, wrap_up=60)
    login(engine, "ana", 0, {"info": 1})
    talking_to(engine, "ana", "c1", 1)
    assert arrive(engine, "c2", 5) == []
    assert end(engine, "c1", 10) == []
    assert engine.next_deadline() == 70
    assert wrap_done(engine, "ana", 20) == [connect("c2", "ana")]
    assert answer(engine, "c2", "ana", 21) == [bridge("c2", "ana")]
    assert end(engine, "c2", 30) == []  # a second wrap-up, until 90
    # The first wrap-up's timer neither ends the second wrap-up nor anything else.
    assert engine.handle(ev.Tick(now=70)) == []
    op = engine.operators["ana"]
    assert (op.state, op.wrap_up_until) == (OperatorState.WRAP_UP, 90)
    assert engine.handle(ev.Tick(now=90)) == []
    assert (op.state, op.idle_since) == (OperatorState.AVAILABLE, 90)
    assert engine.next_deadline() is None


def test_wrap_up_ended_early_with_nothing_waiting_leaves_the_operator_free() -> None:
    engine = Engine(lines=10, wrap_up=60, record_changes=True)
    login(engine, "ana", 0, {"info": 1})
    talking_to(engine, "ana", "c1", 1)
    end(engine, "c1", 10)
    engine.drain_changes()
    assert wrap_done(engine, "ana", 15) == []
    assert engine.drain_changes() == [OperatorChanged(15, "ana", OperatorState.AVAILABLE, None, None)]
    op = engine.operators["ana"]
    assert (op.state, op.idle_since, op.wrap_up_until) == (OperatorState.AVAILABLE, 15, None)
    assert op.time_in[OperatorState.WRAP_UP] == 5
    assert engine.handle(ev.Tick(now=70)) == []  # (the timer: nothing to end)
    assert engine.drain_changes() == []
    assert arrive(engine, "c2", 71) == [connect("c2", "ana")]


@pytest.mark.parametrize(
    ("asked", "state", "reason"),
    [
        (
            lambda now: ev.OperatorPaused(now=now, operator_id="ana", reason="training"),
            OperatorState.PAUSED,
            "training",
        ),
        (lambda now: ev.OperatorLoggedOut(now=now, operator_id="ana"), OperatorState.LOGGED_OUT, None),
    ],
    ids=["pause", "logout"],
)
def test_wrap_up_ended_early_carries_out_what_was_asked_for_after_the_call(
    asked: Callable[[float], ev.Event], state: OperatorState, reason: str | None
) -> None:
    engine = Engine(lines=10, wrap_up=60)
    login(engine, "ana", 0, {"info": 1})
    talking_to(engine, "ana", "c1", 1)
    assert engine.handle(asked(3)) == []  # after this call
    assert arrive(engine, "c2", 4) == []
    assert end(engine, "c1", 10) == []
    assert wrap_done(engine, "ana", 20) == []  # not c2: what she asked for, now
    op = engine.operators["ana"]
    assert (op.state, op.pause_reason, op.after_call, op.since) == (state, reason, None, 20)
    assert engine.calls["c2"].state is CallState.QUEUED
    assert engine.handle(ev.Tick(now=70)) == []
    assert op.state is state


# --- facts that do not fit ----------------------------------------------------------------


def test_supervisor_facts_that_do_not_fit_are_stale_and_change_nothing() -> None:
    policy = CallbackPolicy(offer_after_ewt_s=0)
    engine = Engine(lines=10, wrap_up=30, callback_policy=policy)
    login(engine, "ana", 0, {"info": 1})
    login(engine, "bea", 0, {"info": 1})
    login(engine, "off", 0, {"info": 1})
    engine.handle(ev.OperatorLoggedOut(now=0, operator_id="off"))
    assert arrive(engine, "ringing", 1) == [connect("ringing", "ana")]
    talking_to(engine, "bea", "talking", 1)
    assert arrive(engine, "waiting", 3) == [OfferCallback(call_id="waiting", ewt_s=90, next_opening=None)]
    assert arrive(engine, "asking", 4)[0] == OfferCallback(call_id="asking", ewt_s=180, next_opening=None)
    got = engine.handle(ev.CallbackAccepted(now=5, call_id="asking", callback_id="cb-a", number_key="n-a"))
    assert [type(c) for c in got] == [PersistCallback]  # being stored
    restored = ev.CallbackRestored(
        now=5,
        callback_id="cb-r",
        skill="info",
        language="ca",
        queued_at=-50,
        requested_at=-49,
        number_key="n-r",
        expires_at=3600,
    )
    assert engine.handle(restored) == []  # waits in its queue
    assert engine.handle(ev.CallArrived(now=6, call_id="ivr")) == []

    def picture() -> object:
        snap = engine.snapshot(7)
        views = {
            c: engine.call_view(c) for c in ("ivr", "ringing", "talking", "waiting", "asking", "cb-a", "cb-r")
        }
        return (
            engine.waiting_calls(7),
            views,
            snap.operators,
            snap.skills,
            snap.callbacks,
            engine.next_deadline(),
        )

    before = picture()
    facts: list[ev.Event] = [
        ev.OperatorSkillsChanged(now=7, operator_id="nobody", skills=(("info", 1),)),
        ev.OperatorSkillsChanged(now=7, operator_id="off", skills=(("tributs", 1),)),
        ev.CallMoved(now=7, call_id="gone", skill="tributs"),
        ev.CallMoved(now=7, call_id="ivr", skill="tributs"),
        ev.CallMoved(now=7, call_id="ringing", skill="tributs"),
        ev.CallMoved(now=7, call_id="talking", skill="tributs"),
        ev.CallMoved(now=7, call_id="waiting", skill="info"),
        ev.CallMoved(now=7, call_id="waiting", skill="info", language="ca"),
        ev.CallMoved(now=7, call_id="asking", skill="tributs"),
        ev.CallMoved(now=7, call_id="cb-r", skill="tributs"),
        ev.WrapUpEnded(now=7, operator_id="nobody"),
        ev.WrapUpEnded(now=7, operator_id="off"),
        ev.WrapUpEnded(now=7, operator_id="ana"),
        ev.WrapUpEnded(now=7, operator_id="bea"),
    ]
    for fact in facts:
        assert engine.handle(fact) == [], fact
    assert engine.stale_facts == {
        ("OperatorSkillsChanged", "unknown operator"): 1,
        ("OperatorSkillsChanged", "operator logged_out"): 1,  # (the login brings skills)
        ("CallMoved", "call not in the system"): 1,
        ("CallMoved", "call in_ivr"): 1,
        ("CallMoved", "call offered"): 1,
        ("CallMoved", "call talking"): 1,
        ("CallMoved", "already in that queue"): 2,
        ("CallMoved", "callback being stored"): 1,
        ("CallMoved", "a callback"): 1,
        ("WrapUpEnded", "unknown operator"): 1,
        ("WrapUpEnded", "operator logged_out"): 1,
        ("WrapUpEnded", "operator reserved"): 1,
        ("WrapUpEnded", "operator talking"): 1,
    }
    assert picture() == before


# --- what the consoles read of calls ------------------------------------------------------


def test_call_view_follows_a_call_through_its_life() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1})
    assert engine.handle(ev.CallArrived(now=1, call_id="c")) == []
    assert engine.call_view("c") == CallView(
        call_id="c",
        state=CallState.IN_IVR,
        skill=None,
        language=None,
        priority=0,
        arrived_at=1,
        queued_at=None,
        offered_at=None,
        answered_at=None,
        operator_id=None,
        callback_id=None,
    )
    assert engine.handle(ev.IvrCompleted(now=3, call_id="c", skill="info", language="ca", priority=2)) == [
        connect("c", "ana")
    ]
    assert answer(engine, "c", "ana", 5) == [bridge("c", "ana")]
    # What an operator's screen shows: the call their view names.
    named = engine.snapshot(5).operators["ana"].call_id
    assert named == "c"
    assert engine.call_view(named) == CallView(
        call_id="c",
        state=CallState.TALKING,
        skill="info",
        language="ca",
        priority=2,
        arrived_at=1,
        queued_at=3,
        offered_at=3,
        answered_at=5,
        operator_id="ana",
        callback_id=None,
    )
    end(engine, "c", 9)
    assert engine.call_view("c") is None  # ended: in the completed calls, not in the system
    assert engine.call_view("never") is None


def test_waiting_calls_lists_each_queue_in_the_order_it_is_served() -> None:
    engine = Engine(lines=10)
    login(engine, "ana", 0, {"info": 1})
    talking_to(engine, "ana", "a", 0)
    assert arrive(engine, "i1", 10) == []
    assert arrive(engine, "t1", 11, skill="tributs") == []
    assert arrive(engine, "vip", 12, priority=1) == []
    assert arrive(engine, "i2", 13, language="es") == []
    engine.handle(ev.CallArrived(now=14, call_id="ivr"))  # not waiting in a queue yet
    views = engine.waiting_calls(20)
    assert [(v.skill, v.language, v.call_id) for v in views] == [
        ("info", "ca", "vip"),
        ("info", "ca", "i1"),
        ("info", "es", "i2"),
        ("tributs", "ca", "t1"),
    ]
    assert views[0] == CallView(
        call_id="vip",
        state=CallState.QUEUED,
        skill="info",
        language="ca",
        priority=1,
        arrived_at=12,
        queued_at=12,
        offered_at=None,
        answered_at=None,
        operator_id=None,
        callback_id=None,
    )
    assert all(v == engine.call_view(v.call_id) for v in views)
    assert Engine(lines=1).waiting_calls(0) == []


def test_a_callback_shows_as_a_call_from_its_request_to_its_end() -> None:
    policy = CallbackPolicy(offer_after_ewt_s=0)
    engine = Engine(lines=10, callback_policy=policy)
    login(engine, "ana", 0, {"info": 1})
    talking_to(engine, "ana", "a", 0)
    assert arrive(engine, "b", 10) == [OfferCallback(call_id="b", ewt_s=180, next_opening=None)]
    got = engine.handle(ev.CallbackAccepted(now=11, call_id="b", callback_id="cb-b", number_key="n-b"))
    assert [type(c) for c in got] == [PersistCallback]

    def view(
        state: CallState,
        callback_state: CallbackState,
        offered_at: float | None = None,
        answered_at: float | None = None,
        operator_id: str | None = None,
    ) -> CallView:
        return CallView(
            call_id="cb-b",
            state=state,
            skill="info",
            language="ca",
            priority=0,
            arrived_at=11,  # when the callback was asked for
            queued_at=10,  # its caller's place
            offered_at=offered_at,
            answered_at=answered_at,
            operator_id=operator_id,
            callback_id="cb-b",
            is_callback=True,
            callback_state=callback_state,
        )

    # Being stored: not yet in the queue, where its caller still waits.
    assert engine.call_view("cb-b") == view(CallState.CALLBACK_CONFIRMED, CallbackState.REQUESTED)
    b = engine.call_view("b")
    assert b is not None and (b.state, b.callback_id, b.is_callback) == (CallState.QUEUED, "cb-b", False)
    assert [v.call_id for v in engine.waiting_calls(11)] == ["b"]
    assert engine.handle(ev.CallbackStored(now=12, callback_id="cb-b")) == [
        ConfirmCallback(call_id="b", callback_id="cb-b")
    ]
    assert arrive(engine, "c", 13)[0] == OfferCallback(call_id="c", ewt_s=360, next_opening=None)
    # Stored: it waits at its caller's place, ahead of c.
    assert engine.call_view("cb-b") == view(CallState.QUEUED, CallbackState.PENDING)
    assert [v.call_id for v in engine.waiting_calls(13)] == ["cb-b", "c"]
    engine.handle(ev.CallerHungUp(now=14, call_id="b"))  # (they heard the promise)
    assert end(engine, "a", 20) == [DialCallback(call_id="cb-b", operator_id="ana")]
    # The operator's screen: the callback their view names.
    assert engine.snapshot(20).operators["ana"].call_id == "cb-b"
    ringing = view(CallState.OFFERED, CallbackState.RINGING_OPERATOR, offered_at=20, operator_id="ana")
    assert engine.call_view("cb-b") == ringing
    assert answer(engine, "cb-b", "ana", 22) == [DialCitizen(call_id="cb-b", operator_id="ana", attempt=1)]
    citizen = view(CallState.OFFERED, CallbackState.RINGING_CITIZEN, offered_at=20, operator_id="ana")
    assert engine.call_view("cb-b") == citizen
    assert engine.handle(ev.CitizenAnswered(now=25, callback_id="cb-b")) == [
        UpdateCallback(call_id="cb-b", state=CallbackState.TALKING, outcome="answered", attempts=1)
    ]
    talking = view(CallState.TALKING, CallbackState.TALKING, offered_at=20, answered_at=25, operator_id="ana")
    assert engine.call_view("cb-b") == talking
    assert [v.call_id for v in engine.waiting_calls(25)] == ["c"]
    end(engine, "cb-b", 30)
    assert engine.call_view("cb-b") is None


# --- the events themselves ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(
            lambda: ev.OperatorSkillsChanged(now=0, operator_id="a", skills=()), ValueError, id="no-skills"
        ),
        pytest.param(
            lambda: ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("info", 0),)),
            ValueError,
            id="level-0",
        ),
        pytest.param(
            lambda: ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("info", 1.5),)),
            TypeError,
            id="level-float",
        ),
        pytest.param(
            lambda: ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("", 1),)),
            ValueError,
            id="empty-skill",
        ),
        pytest.param(
            lambda: ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("info", 1),), languages=()),
            ValueError,
            id="no-languages",
        ),
        pytest.param(
            lambda: ev.OperatorSkillsChanged(now=0, operator_id="", skills=(("info", 1),)),
            ValueError,
            id="empty-operator",
        ),
        pytest.param(lambda: ev.CallMoved(now=0, call_id="c", skill=""), ValueError, id="move-empty-skill"),
        pytest.param(
            lambda: ev.CallMoved(now=0, call_id="c", skill="info", language=""),
            ValueError,
            id="move-empty-language",
        ),
        pytest.param(lambda: ev.CallMoved(now=0, call_id=None, skill="info"), TypeError, id="move-none-call"),
        pytest.param(lambda: ev.WrapUpEnded(now=math.nan, operator_id="a"), ValueError, id="wrap-nan-now"),
        pytest.param(lambda: ev.WrapUpEnded(now=0, operator_id=""), ValueError, id="wrap-empty-operator"),
    ],
)
def test_supervisor_events_reject_bad_fields(make: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


def test_a_skills_change_is_a_value_of_tuples() -> None:
    fact = ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("info", 1),), languages=("ca",))
    same = ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("info", 1),), languages=("ca",))
    assert fact == same and hash(fact) == hash(same)
    assert ev.OperatorSkillsChanged(now=0, operator_id="a", skills=(("info", 1),)).languages is None
    # Other sequences are refused alike by both builds (the compiled one by the annotation).
    for skills, languages in (([("info", 1)], None), ((["info", 1],), None), ((("info", 1),), ["ca"])):
        with pytest.raises(TypeError):
            ev.OperatorSkillsChanged(now=0, operator_id="a", skills=skills, languages=languages)  # type: ignore[arg-type]
