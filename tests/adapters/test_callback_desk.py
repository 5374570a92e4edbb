# The callback desk against input a real Asterisk does not send on demand: a caller ID with
# CR/LF and an AMI action in it (a SIP header cannot carry a line break, so this is injected
# straight into the controller as a parsed event), a store that fails to commit. The AMI
# session is tests/fakeami.py's (it records every action); the store is a real SQLite file.
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from panoramisk.message import Message

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallState
from contactcenter.store import StoreError
from tests.fakeami import FakeAmi
from tests.polling import until

HOSTILE = "600000000\r\nAction: Originate\r\nChannel: Local/666@default"


@pytest.fixture
async def ctl(test_config: Config, tmp_path: Path) -> AsyncIterator[Controller]:
    assert test_config.callbacks is not None
    policy = dataclasses.replace(test_config.callbacks.policy, offer_after_ewt_s=0.0)
    callbacks = dataclasses.replace(test_config.callbacks, policy=policy, store=tmp_path / "cb.sqlite")
    controller = Controller(dataclasses.replace(test_config, callbacks=callbacks), ami=FakeAmi)
    await controller.start()
    yield controller
    await controller.stop()


def fake(ctl: Controller) -> FakeAmi:
    assert isinstance(ctl.ami, FakeAmi)
    return ctl.ami


def event(**headers: str) -> Message:
    return Message(headers)


def arrive(ctl: Controller, n: int, caller_id: str, skill: str = "info") -> str:
    uid = f"1700000000.{n}"
    channel = f"PJSIP/pstn-{n:08x}"
    ctl._on_ami_event(
        event(Event="UserEvent", UserEvent="CcArrived", Uniqueid=uid, Channel=channel, CallerIDNum=caller_id)
    )
    ctl._on_ami_event(
        event(Event="UserEvent", UserEvent="CcQueued", Uniqueid=uid, CcSkill=skill, CcLanguage="ca")
    )
    return uid


def choose(ctl: Controller, uid: str, key: str, digits: str = "") -> None:
    ctl._on_ami_event(
        event(Event="UserEvent", UserEvent="CcCallbackChoice", Uniqueid=uid, CcChoice=key, CcDigits=digits)
    )


def redirects(ctl: Controller) -> list[tuple[str, str]]:
    return [(str(a["Context"]), str(a["Exten"])) for a in fake(ctl).actions("Redirect")]


async def test_a_caller_id_with_an_action_in_it_never_reaches_asterisk(ctl: Controller) -> None:
    arrive(ctl, 1, "+34600000801")  # Ana takes it
    uid = arrive(ctl, 2, HOSTILE)  # waits: offered a callback
    await until(lambda: ("cc-callback-offer", "s") in redirects(ctl), 5, "the offer")
    choose(ctl, uid, "1")  # "call me at this number": it is no number
    await until(lambda: ("cc-callback-offer", "digits") in redirects(ctl), 5, "asked to key a number")
    await ctl.executor.idle()
    for action in fake(ctl).sent:
        for value in action.values():
            # (Its injected channel, not "666": a random ActionID may hold those digits.)
            assert "Originate\r" not in str(value) and "Local/666" not in str(value), action
    assert not ctl.engine.callbacks and ctl.counters["callback_caller_id_not-digits"] == 1
    # Then they key a good one: it is the one stored, and the promise follows.
    choose(ctl, uid, "2", "934123456")
    await until(lambda: ("cc-callback-done", "s") in redirects(ctl), 5, "the promise")
    assert ctl.store is not None
    (record,) = await ctl.store.pending()
    assert record.number == "+34934123456"


async def test_a_store_that_cannot_commit_makes_no_promise_and_the_caller_keeps_their_place(
    ctl: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ctl.store is not None

    async def full(record: object) -> None:
        raise StoreError("callback store: database or disk is full")

    monkeypatch.setattr(ctl.store, "add", full)
    arrive(ctl, 1, "+34600000811")
    uid = arrive(ctl, 2, "+34600000812")
    await until(lambda: ("cc-callback-offer", "s") in redirects(ctl), 5, "the offer")
    choose(ctl, uid, "1")
    await until(lambda: ("cc-callback-done", "refused") in redirects(ctl), 5, "told why")
    assert ("cc-callback-done", "s") not in redirects(ctl)  # never promised
    assert ctl.engine.calls[uid].state is CallState.QUEUED and ctl.engine.position(uid) == 1
    assert ctl.counters["callback_store_failures"] == 1


async def test_the_booking_calendar_is_the_days_opening_staffed_by_the_centres_operators(
    test_config: Config, tmp_path: Path
) -> None:
    # (Pure: the desk's calendar for a day, from the config; no Asterisk needed.)
    import datetime as dt

    from contactcenter.core.booking import NotBookable
    from contactcenter.core.calendar import OpeningHours

    zone = dt.timezone(dt.timedelta(hours=1))
    hours = OpeningHours(tz=zone, open=dt.time(8), close=dt.time(14, 15), weekdays=frozenset(range(5)))
    cfg = dataclasses.replace(test_config, hours=hours)
    assert cfg.callbacks is not None
    callbacks = dataclasses.replace(cfg.callbacks, store=tmp_path / "cb.sqlite")
    ctl = Controller(dataclasses.replace(cfg, callbacks=callbacks), ami=FakeAmi)
    assert ctl.desk is not None
    monday_10 = dt.datetime(2026, 12, 7, 10, 5, tzinfo=zone).timestamp()
    calendar = ctl.desk.booking_calendar(monday_10)
    slot_s, share = callbacks.booking_slot_s, callbacks.booking_share
    slots = calendar.slots("info", monday_10 - 3 * 3600, monday_10 + 12 * 3600)
    opening = dt.datetime(2026, 12, 7, 8, tzinfo=zone).timestamp()
    closing = dt.datetime(2026, 12, 7, 14, 15, tzinfo=zone).timestamp()
    assert slots[0].slot.start == opening and slots[-1].slot.end == closing  # that day's opening
    assert len(slots) == -(-(closing - opening) // slot_s)  # (the last one shorter)
    with_info = sum(1 for op in cfg.operators if "info" in op.skills)
    full = slots[0]
    assert full.capacity == int(share * with_info * slot_s / cfg.routing.default_aht)
    sunday = dt.datetime(2026, 12, 6, 10, tzinfo=zone).timestamp()
    with pytest.raises(NotBookable) as closed:
        ctl.desk.booking_calendar(sunday).slot_at(sunday)
    assert closed.value.reason == "closed"
