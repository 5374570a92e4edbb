# The live controller's observers, fed by a real Engine's change feed and completed calls on
# a hand-advanced clock (no Asterisk: their subject is what they make of the read model).
# Today's KPIs are the simulator's collector's, by hour of the centre's local day.
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.live.observers import CallLog, TodayKpis

MADRID = zoneinfo.ZoneInfo("Europe/Madrid")
# The driver's clock reads 0 at 10:00 local time on a Tuesday.
EPOCH = dt.datetime(2026, 12, 1, 10, 0, tzinfo=MADRID).timestamp()


def feed(engine: Engine, observers: list[object], event: ev.Event) -> None:
    engine.handle(event)
    changes, completed = engine.drain_changes(), engine.drain_completed()
    for o in observers:
        o.observe(event.now, changes, completed)  # type: ignore[attr-defined]


@pytest.fixture
def centre() -> tuple[Engine, TodayKpis, CallLog]:
    return (
        Engine(lines=10, record_changes=True),
        TodayKpis(epoch=EPOCH, tz=MADRID, sl_threshold_s=20, wrap_up_s=0),
        CallLog(),
    )


def test_today_counts_calls_and_occupancy_by_local_hour(centre: tuple[Engine, TodayKpis, CallLog]) -> None:
    engine, today, log = centre
    obs: list[object] = [today, log]
    feed(engine, obs, ev.OperatorLoggedIn(now=0, operator_id="a", skills=(("info", 1),), languages=("ca",)))
    # 10:10 a call is answered at once and talks 10 min; 10:30 one waits 30 s and leaves.
    feed(engine, obs, ev.CallArrived(now=600, call_id="c1"))
    feed(engine, obs, ev.IvrCompleted(now=600, call_id="c1", skill="info", language="ca"))
    feed(engine, obs, ev.OperatorAnswered(now=605, call_id="c1", operator_id="a"))
    feed(engine, obs, ev.CallArrived(now=1800, call_id="c2"))
    feed(engine, obs, ev.IvrCompleted(now=1800, call_id="c2", skill="info", language="ca"))
    feed(engine, obs, ev.CallEnded(now=1205 + 600, call_id="c1"))  # -> a takes c2
    feed(engine, obs, ev.CallerHungUp(now=1830, call_id="c2"))
    k = today.kpis(now=3600)  # 11:00
    ten = k["by_hour"]["10"]
    assert (ten["offered"], ten["answered"], ten["abandoned"]) == (2, 1, 1)
    assert k["asa_s"] == 5.0 and k["service_level"] == 1.0
    # a: busy 600..1805 (talking) and 1805..1830 (ringing c2), staffed all 3600 s of the hour.
    assert ten["occupancy"] == pytest.approx((1805 - 600 + 25) / 3600)
    assert [(c, o, w) for c, o, w in log.routed] == [("c1", "a", 5.0)]
    assert [c.call_id for c in log.finished] == ["c1", "c2"]


def test_a_new_day_starts_from_zero(centre: tuple[Engine, TodayKpis, CallLog]) -> None:
    engine, today, _ = centre
    feed(engine, [today], ev.CallArrived(now=100, call_id="c1"))
    feed(engine, [today], ev.CallerHungUp(now=110, call_id="c1"))
    assert today.kpis(now=200)["ivr_abandoned"] == 1  # (hung up in the IVR: not offered to a queue)
    midnight = dt.datetime(2026, 12, 2, 0, 0, tzinfo=MADRID).timestamp() - EPOCH
    feed(engine, [today], ev.CallArrived(now=midnight + 60, call_id="c2"))
    feed(engine, [today], ev.CallerHungUp(now=midnight + 70, call_id="c2"))
    k = today.kpis(now=midnight + 100)
    assert k["ivr_abandoned"] == 1 and list(k["by_hour"]) == ["00"]
