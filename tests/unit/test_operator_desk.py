# The operators' desk over the real core (an Engine fed directly, a hand-advanced clock):
# what each request means in each state, what is refused and why, and the audit of what was
# done. Its subject is the desk's rules; the web and the phones only call it.
from __future__ import annotations

from typing import Any

import pytest

from contactcenter.config import load_config
from contactcenter.controller import engine_for
from contactcenter.core import events as ev
from contactcenter.core.commands import Command
from contactcenter.core.engine import Engine
from contactcenter.core.lifecycle import OperatorState
from contactcenter.live.operators import Actor, OperatorDesk, Refused
from contactcenter.resources import default_config

S = OperatorState
SUP = Actor("sala", "supervisor")


class Centre:
    def __init__(self) -> None:
        self.cfg = load_config(default_config())
        self.engine: Engine = engine_for(self.cfg, epoch=0.0)
        self.engine.hours = None  # (always open: the test's clock is not a day's)
        self.t = 0.0
        self.audit: list[tuple[str, str, str, dict[str, Any]]] = []
        self.desk = OperatorDesk(
            self.cfg,
            feed=self.feed,
            snapshot=lambda: self.engine.snapshot(self.t),
            call_view=self.engine.call_view,
            stale_count=lambda: sum(self.engine.stale_facts.values()),
            now=lambda: self.t,
            audit=lambda now, actor, action, target, detail: self.audit.append(
                (actor.id, action, target, dict(detail))
            ),
        )
        self.commands: list[Command] = []

    def feed(self, event: ev.Event) -> list[Command]:
        out = self.engine.handle(event)
        self.desk.observe(event.now, self.engine.drain_changes(), self.engine.drain_completed())
        self.commands += out
        return out

    def state(self, op: str) -> S:
        return self.desk.view(op).state

    def call(self, call_id: str, skill: str = "info", language: str = "ca") -> None:
        self.feed(ev.CallArrived(now=self.t, call_id=call_id))
        self.feed(ev.IvrCompleted(now=self.t, call_id=call_id, skill=skill, language=language))


@pytest.fixture
def centre() -> Centre:
    return Centre()


def test_ready_means_what_the_state_needs(centre: Centre) -> None:
    ana = Actor("ana", "operator")
    assert centre.state("ana") is S.LOGGED_OUT  # configured, not on shift yet
    assert centre.desk.ready(ana, "ana").state is S.AVAILABLE  # logs in
    assert centre.engine.snapshot(0).operators["ana"].skills == centre.cfg.operator("ana").skills
    assert centre.desk.pause(ana, "ana", "meal").state is S.PAUSED
    assert centre.desk.ready(ana, "ana").state is S.AVAILABLE  # resumes
    assert centre.desk.ready(ana, "ana").state is S.AVAILABLE  # nothing to do: nothing fed or audited
    assert [a[1] for a in centre.audit] == ["log_in", "pause", "ready"]


def test_pause_and_logout_after_the_call_and_ready_calls_them_off(centre: Centre) -> None:
    jordi = Actor("jordi", "operator")
    centre.desk.log_in(jordi, "jordi")
    centre.call("c1")
    ringing = centre.desk.view("jordi")
    assert ringing.state is S.RESERVED and ringing.call_id == "c1"
    centre.feed(ev.OperatorAnswered(now=1.0, call_id="c1", operator_id="jordi"))
    assert centre.desk.pause(jordi, "jordi", "break").after_call == "pause"  # deferred: on a call
    assert centre.state("jordi") is S.TALKING
    assert centre.desk.ready(jordi, "jordi").after_call is None  # called off
    assert centre.desk.log_out(jordi, "jordi").after_call == "log_out"
    centre.t = 30.0
    centre.feed(ev.CallEnded(now=30.0, call_id="c1"))
    assert centre.state("jordi") is S.WRAP_UP
    # Wrap-up done, with a disposition: the logout asked for takes effect now.
    view, call_id = centre.desk.wrap_up_done(jordi, "jordi", "resolved")
    assert (view.state, call_id) == (S.LOGGED_OUT, "c1")
    assert centre.audit[-1] == ("jordi", "wrap_up", "jordi", {"disposition": "resolved", "call_id": "c1"})


def test_refusals_say_why(centre: Centre) -> None:
    ana = Actor("ana", "operator")
    with pytest.raises(Refused) as unknown:
        centre.desk.pause(SUP, "nobody", "break")
    assert unknown.value.kind == "unknown"
    with pytest.raises(Refused) as logged_out:
        centre.desk.pause(ana, "ana", "break")
    assert (logged_out.value.kind, logged_out.value.detail) == ("conflict", "ana is logged out")
    centre.desk.log_in(ana, "ana")
    for bad in ({"astrology": 1}, {"info": 0}, {"info": 10}, {}):
        with pytest.raises(Refused) as invalid:
            centre.desk.set_skills(SUP, "ana", bad)
        assert invalid.value.kind == "invalid"
    with pytest.raises(Refused, match="unknown pause reason"):
        centre.desk.pause(ana, "ana", "coffee")
    with pytest.raises(Refused, match="no call to wrap up"):
        centre.desk.wrap_up_done(ana, "ana", "resolved")
    with pytest.raises(Refused, match="already logged in"):
        centre.desk.log_in(ana, "ana")
    assert [a[1] for a in centre.audit] == ["log_in"]  # refusals are not audited


def test_skills_changed_live_route_a_waiting_call_at_once(centre: Centre) -> None:
    pau = Actor("pau", "operator")
    centre.desk.log_in(pau, "pau")  # tributs only
    centre.call("c1", skill="tramits")
    assert centre.state("pau") is S.AVAILABLE  # cannot take it
    centre.desk.set_skills(SUP, "pau", {"tributs": 1, "tramits": 2})
    # A second-level skill: the relaxation steps (010.yaml) let level 2 take it after 30 s.
    assert centre.state("pau") is S.AVAILABLE
    assert centre.desk.skills["pau"] == {"tributs": 1, "tramits": 2}  # kept for their next login
    assert centre.audit[-1] == ("sala", "set_skills", "pau", {"skills": {"tributs": 1, "tramits": 2}})
    centre.t = 30.0
    centre.feed(ev.Tick(now=30.0))
    assert centre.desk.view("pau").call_id == "c1"
    centre.call("c2", skill="info")
    centre.desk.set_skills(SUP, "oriol", {"info": 1})  # logged out: kept for their login
    assert centre.state("oriol") is S.LOGGED_OUT
    centre.desk.log_in(SUP, "oriol")
    view = centre.desk.view("oriol")
    assert (view.state, view.call_id, dict(view.skills)) == (S.RESERVED, "c2", {"info": 1})


def test_a_supervisor_moves_a_waiting_call(centre: Centre) -> None:
    centre.desk.log_in(SUP, "pau")  # tributs
    centre.call("c1", skill="info")
    moved = centre.desk.move_call(SUP, "c1", "tributs")
    assert moved.call_id == "c1"
    assert centre.desk.view("pau").call_id == "c1"  # pau takes it at once
    with pytest.raises(Refused) as not_waiting:
        centre.desk.move_call(SUP, "c1", "info")
    assert not_waiting.value.kind == "conflict"
    with pytest.raises(Refused) as gone:
        centre.desk.move_call(SUP, "c9", "info")
    assert gone.value.kind == "unknown"
    with pytest.raises(Refused) as bad:
        centre.desk.move_call(SUP, "c1", "astrology")
    assert bad.value.kind == "invalid"


def test_phone_feature_codes(centre: Centre) -> None:
    centre.desk.feature("ana", "ready")  # *22: logs in
    assert centre.state("ana") is S.AVAILABLE
    centre.desk.feature("ana", "pause")  # *21: a break
    assert (centre.state("ana"), centre.desk.view("ana").reason) == (S.PAUSED, "break")
    centre.desk.feature("ana", "ready")
    centre.desk.feature("ana", "logout")  # *23
    assert centre.state("ana") is S.LOGGED_OUT
    centre.desk.feature("ana", "pause")  # refused (logged out): logged, nothing changes
    assert centre.state("ana") is S.LOGGED_OUT
    assert [(a[0], a[1]) for a in centre.audit] == [
        ("ana", "log_in"),
        ("ana", "pause"),
        ("ana", "ready"),
        ("ana", "log_out"),
    ]


def test_the_screen_pop_is_kept_through_wrap_up(centre: Centre) -> None:
    centre.desk.render_pop = lambda call: {"call_id": call.call_id, "skill": call.skill}
    centre.desk.log_in(SUP, "jordi")
    centre.call("c1")
    centre.feed(ev.OperatorAnswered(now=1.0, call_id="c1", operator_id="jordi"))
    assert centre.desk.last_pop("jordi") is None  # talking: the live call is the pop
    centre.feed(ev.CallEnded(now=5.0, call_id="c1"))
    assert centre.desk.last_pop("jordi") == {"call_id": "c1", "skill": "info"}
    centre.desk.wrap_up_done(Actor("jordi", "operator"), "jordi", "information")
    assert centre.desk.last_pop("jordi") is None
