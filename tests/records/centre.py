# A small centre driven through the real core on a hand-advanced clock, its read model fed
# to a records writer as the live controller feeds its observers: one call of each outcome
# (answered, abandoned in the IVR and while waiting, blocked, closed, left for a callback),
# a ring that times out (a requeue and an automatic pause), a pause with a reason, a
# callback dialled and completed. The tests derive what the records must hold from the
# Calls, Callbacks and Operators this drive leaves, never from numbers written here.
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import Callback, CallbackPolicy
from contactcenter.core.commands import Command
from contactcenter.core.engine import Call
from contactcenter.core.readmodel import Change

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
HOURS = OpeningHours(tz=MADRID, open=dt.time(8), close=dt.time(20), weekdays=frozenset(range(5)))
# The driver's clock reads 0 at 19:00 on Monday 2 March 2026: open for another hour.
EPOCH = dt.datetime(2026, 3, 2, 19, 0, tzinfo=MADRID).timestamp()
WRAP_UP_S = 5.0
# What a caller keys as their number: it must never reach the records, not even as the key.
NUMBER = "+34600123456"
STOP_AT = 4000.0


class Sink(Protocol):
    """What the controller feeds: observe() after every event, then finished callbacks."""

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None: ...

    def callbacks_completed(self, callbacks: Sequence[Callback]) -> None: ...


@dataclass
class Centre:
    sinks: list[Sink]
    engine: Engine = field(
        default_factory=lambda: Engine(
            lines=3,
            wrap_up=WRAP_UP_S,
            hours=HOURS,
            epoch=EPOCH,
            record_changes=True,
            callback_policy=CallbackPolicy(offer_after_ewt_s=0),
        )
    )
    calls: list[Call] = field(default_factory=list)  # ended, in order
    callbacks: list[Callback] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    def feed(self, event: ev.Event) -> list[Command]:
        """Fire the timers due before `event`, then hand it over (as the controller does)."""
        while (due := self.engine.next_deadline()) is not None and due <= event.now:
            self._handle(ev.Tick(now=due))
        return self._handle(event)

    def _handle(self, event: ev.Event) -> list[Command]:
        commands = self.engine.handle(event)
        self.commands += commands
        changes, completed = self.engine.drain_changes(), self.engine.drain_completed()
        self.calls += completed
        for sink in self.sinks:
            sink.observe(event.now, changes, completed)
        if self.engine.completed_callbacks:
            done = self.engine.drain_completed_callbacks()
            self.callbacks += done
            for sink in self.sinks:
                sink.callbacks_completed(done)
        return commands


def login(centre: Centre, operator_id: str, now: float) -> None:
    centre.feed(
        ev.OperatorLoggedIn(now=now, operator_id=operator_id, skills=(("info", 1),), languages=("ca", "es"))
    )


def drive(sinks: list[Sink]) -> Centre:
    """The scenario of this module's header, up to STOP_AT on the driver's clock."""
    c = Centre(sinks)
    f = c.feed
    login(c, "ana", 0)
    login(c, "pau", 0)
    f(ev.CallArrived(now=10, call_id="c1"))
    f(ev.IvrCompleted(now=12, call_id="c1", skill="info", language="ca"))  # -> ana
    f(ev.OperatorAnswered(now=14, call_id="c1", operator_id="ana"))
    f(ev.CallArrived(now=20, call_id="c2"))
    f(ev.IvrCompleted(now=22, call_id="c2", skill="info", language="es"))  # -> pau
    f(ev.OperatorRingTimeout(now=30, call_id="c2", operator_id="pau"))  # requeued, pau paused
    f(ev.CallArrived(now=40, call_id="c3"))
    f(ev.CallArrived(now=41, call_id="c4"))  # every line in use: blocked
    f(ev.CallerHungUp(now=45, call_id="c3"))  # in the IVR
    f(ev.CallArrived(now=50, call_id="c5"))
    f(ev.IvrCompleted(now=52, call_id="c5", skill="info", language="ca"))  # offered a callback
    f(ev.CallbackAccepted(now=60, call_id="c5", callback_id="cb-c5", number_key=NUMBER))
    f(ev.CallbackStored(now=61, callback_id="cb-c5"))
    f(ev.CallerHungUp(now=65, call_id="c5"))  # left their number
    f(ev.OperatorResumed(now=70, operator_id="pau"))  # -> c2
    f(ev.OperatorAnswered(now=72, call_id="c2", operator_id="pau"))
    f(ev.CallEnded(now=100, call_id="c1"))  # ana wraps up, then is rung for cb-c5
    f(ev.CallArrived(now=120, call_id="c6"))
    f(ev.IvrCompleted(now=122, call_id="c6", skill="info", language="ca"))  # waits
    f(ev.OperatorAnswered(now=125, call_id="cb-c5", operator_id="ana"))  # -> the citizen is called
    f(ev.CitizenAnswered(now=130, callback_id="cb-c5"))
    f(ev.OperatorPaused(now=135, operator_id="pau", reason="break"))  # after c2
    f(ev.CallerHungUp(now=150, call_id="c6"))  # gave up waiting
    f(ev.CallEnded(now=160, call_id="c2"))
    f(ev.CallEnded(now=200, call_id="cb-c5"))  # the callback is completed
    f(ev.OperatorResumed(now=300, operator_id="pau"))
    f(ev.CallArrived(now=3700, call_id="c7"))  # 20:01: closed
    f(ev.OperatorLoggedOut(now=3800, operator_id="ana"))
    f(ev.Tick(now=STOP_AT))
    return c
