# Callbacks through the real Asterisk: a SIPp caller who finds every operator busy is offered
# a callback and presses 1 (RFC 4733 DTMF); the request is in the SQLite file before they
# hear the promise; when their turn comes the operator is rung first, then the citizen (the
# sandbox's simulated phone, cc-sim-callee), and the order is read from Asterisk's own
# events. Each test has its own SQLite file.
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.booking import NotBookable
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.numbers import BadNumber
from contactcenter.sim.sipp import SippCall
from contactcenter.store import CallbackConflict
from tests.conftest import TEST_CONFIG
from tests.controllerproc import run_controller
from tests.polling import until
from tests.recorder import AmiRecorder

Event = dict[str, Any]


def callback_config(cfg: Config, store: Path) -> Config:
    """The test centre, offering a callback to whoever has to wait at all."""
    assert cfg.callbacks is not None
    policy = dataclasses.replace(cfg.callbacks.policy, offer_after_ewt_s=0.0)
    return dataclasses.replace(cfg, callbacks=dataclasses.replace(cfg.callbacks, policy=policy, store=store))


def callback_config_file(tmp_path: Path) -> tuple[Path, Path]:
    """(store, config file): the test centre as a file for `contactcenter run`, offering a
    callback to whoever has to wait at all, with a store of its own."""
    store = tmp_path / "callbacks.sqlite"
    data = yaml.safe_load(TEST_CONFIG.read_text())
    data["callbacks"].update(offer_after_ewt_s=0, store=str(store))
    config = tmp_path / "010-callbacks.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    return store, config


@pytest.fixture
async def centre(
    test_config: Config, observer: AmiRecorder, tmp_path: Path
) -> AsyncIterator[tuple[Controller, Path]]:
    store = tmp_path / "callbacks.sqlite"
    ctl = Controller(callback_config(test_config, store))
    await ctl.start()
    yield ctl, store
    await ctl.stop()


def rows(store: Path, sql: str) -> list[sqlite3.Row]:
    """Read the store's file directly, as another process would (not through our code)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def ana_talking(observer: AmiRecorder, caller: str, stay_s: int, port: int) -> SippCall:
    """A SIPp caller for `info` ("11": Catalan, information), connected to Ana, the only
    operator of that skill, and staying `stay_s` s: everyone behind them must wait."""
    a = SippCall(caller=caller, digits="11", stay_s=stay_s, target_port=port)
    await a.start()
    await observer.bridged_with(await observer.channel_of(a), timeout=20)
    return a


def new_channel(prefix: str, kind: str):  # type: ignore[no-untyped-def]
    return lambda e: (
        e.get("Event") == "Newchannel" and str(e.get("Uniqueid", "")).startswith(f"{prefix}-{kind}-")
    )


async def test_a_caller_who_finds_everyone_busy_takes_a_callback_and_is_called_back_operator_first(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    controller, store = centre
    port = asterisk.sip_port
    # A keeps Ana (the only `info` operator) busy for 12 s.
    a = await ana_talking(observer, "+34600000701", 12, port)
    # B must wait: offered a callback, B presses 1 (this number), then hangs up when told.
    b = SippCall(caller="+34600000702", digits="111", stay_s=60, target_port=port)
    await b.start()
    ch_b = await observer.channel_of(b)
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "Newexten"
            and e.get("Channel") == ch_b
            and e.get("Context") == "cc-callback-offer"
        ),
        20,
        "B redirected to the callback offer",
    )
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "Newexten"
            and e.get("Channel") == ch_b
            and e.get("Application") == "Playback"
            and e.get("AppData") == "cc/callback-confirm"
        ),
        20,
        "B hears the promise",
    )
    # By then the request was committed: in the file, pending, with B's number.
    (row,) = rows(store, "SELECT callback_id, number, state, skill FROM callbacks")
    assert (row["number"], row["state"], row["skill"]) == ("+34600000702", "pending", "info")
    callback_id = row["callback_id"]
    assert await b.wait(40) == 0, b.errors()
    uid_b = next(
        e["Uniqueid"]
        for e in observer.events
        if e.get("UserEvent") == "CcArrived" and e.get("CallerIDNum") == b.caller
    )
    await until(
        lambda: any(c.call_id == uid_b and c.outcome is CallOutcome.CALLBACK for c in controller.finished),
        10,
        "B's call over, as called back (not abandoned)",
    )

    # A hangs up: Ana is free; B's callback is next: Ana's phone first, then the citizen's.
    assert await a.wait(40) == 0, a.errors()
    op_leg = await observer.wait_for(new_channel(callback_id, "o"), 20, "the operator's leg of the callback")
    citizen_leg = await observer.wait_for(new_channel(callback_id, "c"), 20, "the citizen's leg")
    assert observer.events.index(op_leg) < observer.events.index(citizen_leg)
    assert op_leg["Channel"].startswith("Local/ana@cc-sim-operator")
    assert citizen_leg["Channel"].startswith("Local/34600000702@cc-sim-callee")
    # The operator had answered before the citizen was called.
    answered = [
        e
        for e in observer.events
        if e.get("Event") == "OriginateResponse"
        and str(e.get("ActionID", "")).startswith(f"{callback_id}-o-")
    ]
    assert answered and answered[0]["Response"] == "Success"
    assert observer.events.index(answered[0]) < observer.events.index(citizen_leg)
    # Both in the callback's room; the conversation ends (the citizen talks 4 s): completed.
    await until(
        lambda: (
            rows(store, f"SELECT state FROM callbacks WHERE callback_id = '{callback_id}'")[0]["state"]
            == "completed"
        ),
        40,
        "the callback completed in the store",
    )
    (done,) = rows(store, "SELECT number, attempts, last_outcome FROM callbacks")
    assert (done["number"], done["attempts"], done["last_outcome"]) == (
        None,
        1,
        "answered",
    )  # number forgotten
    (attempt,) = rows(store, "SELECT n, operator_id, outcome FROM attempts")
    assert (attempt["n"], attempt["operator_id"], attempt["outcome"]) == (1, "ana", "answered")
    # Dialled once: one citizen leg (a Local channel: its two halves, -1 and -2, are one leg).
    legs = {e["Uniqueid"].rsplit("-", 1)[0] for e in observer.events if new_channel(callback_id, "c")(e)}
    assert len(legs) == 1, legs
    await until(lambda: not controller.engine.callbacks, 10, "no open callback in the core")
    # Today's KPIs, live: B is a called-back call (not in ASA, not an abandon), and the
    # callback's own figures say how long B really waited to be served.
    today = controller.today.kpis(controller.now())
    assert (today["called_back"], today["abandoned"], today["answered"]) == (1, 0, 1)  # (A answered)
    cb = today["callbacks"]
    assert (cb["accepted"], cb["completed"], cb["attempts"]) == (1, 1, 1)
    assert cb["mean_delay_s"] > 0 and cb["mean_wait_total_s"] > cb["mean_delay_s"]


async def test_callers_a_b_c_b_takes_a_callback_and_is_served_between_a_and_c(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    _, store = centre
    port = asterisk.sip_port
    a = await ana_talking(observer, "+34600000711", 14, port)
    b = SippCall(caller="+34600000712", digits="111", stay_s=60, target_port=port)
    await b.start()
    await observer.channel_of(b)
    await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 20, "B's callback stored")
    # C comes after B, is offered one too and keys nothing: C holds.
    c = SippCall(caller="+34600000713", digits="11", stay_s=120, target_port=port)
    await c.start()
    ch_c = await observer.channel_of(c)
    (row,) = rows(store, "SELECT callback_id FROM callbacks")
    callback_id = row["callback_id"]
    # A ends: B's callback (B's place) goes first, then C.
    assert await a.wait(40) == 0, a.errors()
    room_b = await observer.wait_for(
        lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Conference") == callback_id,
        30,
        "the callback's conference",
    )
    c_joins = await observer.wait_for(
        lambda e: e.get("Event") == "ConfbridgeJoin" and e.get("Channel") == ch_c, 60, "C connected"
    )
    assert observer.events.index(room_b) < observer.events.index(c_joins)
    c.stop()


def _citizen_legs(observer: AmiRecorder, callback_id: str) -> set[str]:
    return {e["Uniqueid"].rsplit("-", 1)[0] for e in observer.events if new_channel(callback_id, "c")(e)}


async def test_a_controller_killed_with_pending_callbacks_loses_none_and_dials_each_once(
    asterisk, observer: AmiRecorder, tmp_path: Path
) -> None:
    store, config = callback_config_file(tmp_path)
    port = asterisk.sip_port
    first = await run_controller(config)
    second = None
    try:
        # A keeps Ana busy; three callers behind A leave their numbers.
        a = await ana_talking(observer, "+34600000721", 25, port)
        waiting = [
            SippCall(caller=f"+3460000072{i}", digits="111", stay_s=60, target_port=port) for i in (2, 3, 4)
        ]
        for caller in waiting:
            await caller.start()
            await asyncio.sleep(1.0)
        await until(
            lambda: len(rows(store, "SELECT 1 FROM callbacks")) == len(waiting), 40, "3 callbacks stored"
        )
        for caller in waiting:
            assert await caller.wait(40) == 0, caller.errors()  # promised, then hung up
        ids = [r["callback_id"] for r in rows(store, "SELECT callback_id FROM callbacks ORDER BY arrived_at")]
        # SIGKILL: no goodbye, nothing flushed.
        first.kill()
        await first.wait()
        assert first.returncode == -9
        assert await a.wait(40) == 0, a.errors()  # A's conversation ends while no controller runs
        assert all(not _citizen_legs(observer, cb) for cb in ids)
        # A new controller finds every callback in the file and calls each citizen once.
        second = await run_controller(config)
        await until(
            lambda: (
                [r["state"] for r in rows(store, "SELECT state FROM callbacks")] == ["completed"] * len(ids)
            ),
            90,
            "every callback completed after the restart",
        )
        for cb in ids:
            assert len(_citizen_legs(observer, cb)) == 1, cb  # Asterisk's own count: one each
        # In their places: called back in the order they asked.
        first_leg = [next(i for i, e in enumerate(observer.events) if new_channel(cb, "c")(e)) for cb in ids]
        assert first_leg == sorted(first_leg)
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 15)


async def _callee_behaves(observer: AmiRecorder, number: str, behaviour: str | None) -> None:
    """How the sandbox's simulated phone of `number` (E.164) answers: noanswer, busy, or
    (None) it answers."""
    # A global (Setvar without a Channel: class `call`, which the observer has; AstDB's
    # DBPut would need `system`). Empty: it answers.
    variable = f"CC_CALLEE_{number.removeprefix('+')}"
    await observer.link.send({"Action": "Setvar", "Variable": variable, "Value": behaviour or ""})


async def test_an_unanswered_callback_is_retried_after_the_delay_then_ends_failed(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    controller, store = centre
    policy = controller.engine.callback_policy
    assert policy is not None and policy.attempts == 2  # (the test centre's)
    port = asterisk.sip_port
    number = "+34600000731"
    await _callee_behaves(observer, number, "noanswer")
    try:
        await ana_talking(observer, "+34600000730", 8, port)
        b = SippCall(caller=number, digits="111", stay_s=60, target_port=port)
        await b.start()
        await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "the callback stored")
        (row,) = rows(store, "SELECT callback_id FROM callbacks")
        cb = row["callback_id"]
        # Attempt 1 rings out (8 s); then the phone is busy for attempt 2, after the delay.
        await until(lambda: len(_citizen_legs(observer, cb)) == 1, 40, "attempt 1")
        await until(
            lambda: (
                [r["outcome"] for r in rows(store, "SELECT outcome FROM attempts ORDER BY n")]
                == ["no_answer"]
            ),
            30,
            "attempt 1 unanswered, in the store",
        )
        ended_1 = controller.now()
        await _callee_behaves(observer, number, "busy")
        await until(lambda: len(_citizen_legs(observer, cb)) == 2, 40, "attempt 2")
        assert controller.now() - ended_1 >= policy.retry_delay_s - 0.5  # not before the delay
        await until(
            lambda: rows(store, "SELECT state FROM callbacks")[0]["state"] == "failed",
            30,
            "the callback failed",
        )
    finally:
        await _callee_behaves(observer, number, None)
    (final,) = rows(store, "SELECT number, attempts, last_outcome FROM callbacks")
    assert (final["number"], final["attempts"], final["last_outcome"]) == (None, 2, "busy")
    assert [r["outcome"] for r in rows(store, "SELECT outcome FROM attempts ORDER BY n")] == [
        "no_answer",
        "busy",
    ]
    assert len(_citizen_legs(observer, cb)) == 2  # the bound: no third call


async def test_a_withheld_caller_keys_their_number_and_a_hostile_one_is_refused_politely(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    _, store = centre
    port = asterisk.sip_port
    a = await ana_talking(observer, "+34600000740", 40, port)
    # Withheld: 1 (this number) cannot be; they are asked to key one, and do (then #).
    withheld = SippCall(caller="anonymous", digits="111934123456#", stay_s=60, target_port=port)
    await withheld.start()
    await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 60, "the keyed number stored")
    assert rows(store, "SELECT number FROM callbacks")[0]["number"] == "+34934123456"
    # A caller ID that is no number (`&`, `,`) is never used: they are asked for digits,
    # key an emergency number twice, and the offer ends politely: they keep waiting.
    hostile = SippCall(caller="600&1,2", digits="111112#112#", stay_s=60, target_port=port)
    await hostile.start()
    ch = await observer.channel_of(hostile)
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "Newexten"
            and e.get("Channel") == ch
            and e.get("AppData") == "cc/callback-refused"
        ),
        60,
        "the polite end of the offer",
    )
    assert len(rows(store, "SELECT 1 FROM callbacks")) == 1  # nothing stored for them
    await observer.wait_for(
        lambda e: e.get("Event") == "MusicOnHoldStart" and e.get("Channel") == ch, 20, "back on hold"
    )
    # No AMI action ever carried their caller ID.
    assert not any("600&1,2" in str(e.get("Variable", "")) for e in observer.events)
    hostile.stop()
    withheld.stop()
    a.stop()


async def test_calling_again_with_a_callback_waiting_is_told_so_and_merges_into_it(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    _, store = centre
    port = asterisk.sip_port
    a = await ana_talking(observer, "+34600000750", 45, port)
    b = SippCall(caller="+34600000751", digits="111", stay_s=60, target_port=port)
    await b.start()
    await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "B's callback stored")
    assert await b.wait(40) == 0, b.errors()
    # B calls again: told a callback is waiting; asks again: one callback, at the first place.
    # (Keys 3.5 s apart: the notice plays between the menus and the offer.)
    again = SippCall(caller="+34600000751", digits="111", stay_s=60, target_port=port, digit_gap_s=3.5)
    await again.start()
    ch = await observer.channel_of(again)
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "Newexten"
            and e.get("Channel") == ch
            and e.get("AppData") == "1?Playback(cc/callback-pending)"
        ),
        30,
        "told of the callback waiting",
    )
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "Newexten"
            and e.get("Channel") == ch
            and e.get("AppData") == "cc/callback-merged"
        ),
        30,
        "told it keeps its place",
    )
    assert await again.wait(40) == 0, again.errors()
    assert len(rows(store, "SELECT 1 FROM callbacks")) == 1
    a.stop()


async def test_a_caller_whose_turn_would_come_after_closing_hears_when_we_open_and_is_not_called_while_closed(
    asterisk, observer: AmiRecorder, test_config: Config, tmp_path: Path
) -> None:
    # A zone where it is about noon now, so that today's closing (in 40 s) and tomorrow's
    # opening (at a whole hour) fall on the days the words say, whenever the test runs.
    utc = dt.datetime.now(dt.UTC)
    zone = dt.timezone(dt.timedelta(hours=12 - utc.hour))
    local = utc.astimezone(zone)
    opens = (local - dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    closes = local + dt.timedelta(seconds=40)
    hours = OpeningHours(tz=zone, open=opens.time(), close=closes.time().replace(microsecond=0))
    cfg = callback_config(test_config, tmp_path / "callbacks.sqlite")
    assert cfg.callbacks is not None
    # Offered only for the closing (no wait is long enough otherwise); tomorrow's opening is
    # within the callback's life, so the offer can be kept.
    policy = dataclasses.replace(
        cfg.callbacks.policy, offer_after_ewt_s=86_400.0, expire_after_s=2 * 86_400.0
    )
    cfg = dataclasses.replace(cfg, hours=hours, callbacks=dataclasses.replace(cfg.callbacks, policy=policy))
    controller = Controller(cfg)
    await controller.start()
    try:
        store = cfg.callbacks.store
        port = asterisk.sip_port
        a = await ana_talking(observer, "+34600000901", 55, port)  # past closing time
        b = SippCall(caller="+34600000902", digits="111", stay_s=60, target_port=port)
        await b.start()
        ch_b = await observer.channel_of(b)
        # Their turn (EWT: one caller ahead, one operator) would come after closing: they
        # hear so, and when the line opens again, before the offer itself.
        said = f"cc/callback-after-hours&cc/callback-opens-tomorrow&digits/{opens.hour}&cc/callback-offer"
        offer = await observer.wait_for(
            lambda e: (
                e.get("Event") == "Newexten"
                and e.get("Channel") == ch_b
                and e.get("Context") == "cc-callback-offer"
                and e.get("Application") == "Read"
            ),
            20,
            "B hears the offer",
        )
        assert offer["AppData"].startswith(f"CC_CB_CHOICE,{said},")
        await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "B's callback stored")
        (row,) = rows(store, "SELECT callback_id, state FROM callbacks")
        assert row["state"] == "pending"
        assert await b.wait(40) == 0, b.errors()
        # A leaves after closing: Ana is free, and the callback is not dialled while closed.
        assert await a.wait(70) == 0, a.errors()
        assert not hours.is_open(time.time())
        await asyncio.sleep(6)
        assert not observer.find(new_channel(row["callback_id"], "o"))
        assert rows(store, "SELECT state, attempts FROM callbacks")[0]["state"] == "pending"
        assert row["callback_id"] in controller.engine.callbacks  # waiting for the opening
    finally:
        await controller.stop()


async def test_a_booked_callback_is_dialled_at_its_time_operator_first_and_bookings_are_checked(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    controller, store = centre
    desk = controller.desk
    assert desk is not None
    number = "+34600000951"
    due = time.time() + 6
    callback_id = await desk.book(number, "info", "ca", due)
    # Committed before it was given to the core: in the file, pending, at its time.
    (row,) = rows(store, "SELECT callback_id, number, state, due_at, arrived_at FROM callbacks")
    assert (row["callback_id"], row["number"], row["state"]) == (callback_id, number, "pending")
    assert row["due_at"] == row["arrived_at"] == due
    # What a booking refuses, with nothing written.
    with pytest.raises(BadNumber):
        await desk.book("+34 600\r\nAction: Originate", "info", "ca", due)
    with pytest.raises(NotBookable) as past:
        await desk.book("+34600000952", "info", "ca", time.time() - 60)
    assert past.value.reason == "past"
    with pytest.raises(CallbackConflict):  # one booking per number and service
        await desk.book(number, "info", "ca", due + 60)
    with pytest.raises(ValueError):
        await desk.book("+34600000953", "infos", "ca", due)
    assert len(rows(store, "SELECT 1 FROM callbacks")) == 1
    # Nothing rings before its time; then Ana's phone, then the citizen's.
    op_leg = await observer.wait_for(new_channel(callback_id, "o"), 20, "the operator's leg at its time")
    assert time.time() >= due
    citizen_leg = await observer.wait_for(new_channel(callback_id, "c"), 20, "the citizen's leg")
    assert observer.events.index(op_leg) < observer.events.index(citizen_leg)
    assert citizen_leg["Channel"].startswith("Local/34600000951@cc-sim-callee")
    await until(
        lambda: rows(store, "SELECT state FROM callbacks")[0]["state"] == "completed", 40, "completed"
    )
    cb = controller.today.kpis(controller.now())["callbacks"]
    # Its delay counts from its time (a few seconds), not from when it was booked.
    assert cb["completed"] == 1 and 0 < cb["mean_delay_s"] < 20


async def test_a_callback_not_reached_before_its_expiry_ends_expired_and_is_never_dialled(
    asterisk, observer: AmiRecorder, test_config: Config, tmp_path: Path
) -> None:
    cfg = callback_config(test_config, tmp_path / "callbacks.sqlite")
    assert cfg.callbacks is not None
    expire_after_s = 6.0
    policy = dataclasses.replace(cfg.callbacks.policy, expire_after_s=expire_after_s)
    cfg = dataclasses.replace(cfg, callbacks=dataclasses.replace(cfg.callbacks, policy=policy))
    controller = Controller(cfg)
    await controller.start()
    try:
        store = cfg.callbacks.store
        port = asterisk.sip_port
        a = await ana_talking(observer, "+34600000961", 20, port)  # longer than its life
        b = SippCall(caller="+34600000962", digits="111", stay_s=60, target_port=port)
        await b.start()
        await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "the callback stored")
        (row,) = rows(store, "SELECT callback_id, requested_at, expires_at FROM callbacks")
        assert row["expires_at"] - row["requested_at"] == pytest.approx(expire_after_s, abs=0.5)
        await until(
            lambda: rows(store, "SELECT state FROM callbacks")[0]["state"] == "expired",
            expire_after_s + 10,
            "the callback expired in the store",
        )
        assert time.time() >= row["expires_at"]
        (final,) = rows(store, "SELECT number, attempts FROM callbacks")
        assert (final["number"], final["attempts"]) == (None, 0)  # its number erased, never called
        assert await a.wait(40) == 0, a.errors()
        await asyncio.sleep(3)  # Ana free: nothing is dialled for it
        assert not observer.find(new_channel(row["callback_id"], "o"))
        cb = controller.today.kpis(controller.now())["callbacks"]
        assert (cb["accepted"], cb["expired"], cb["completed"]) == (1, 1, 0)
    finally:
        await controller.stop()
