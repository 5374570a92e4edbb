# Callbacks through the real Asterisk: a SIPp caller who finds every operator busy is offered
# a callback and presses 1 (RFC 4733 DTMF); the request is in the SQLite file before they
# hear the promise; when their turn comes the operator is rung first, then the citizen (the
# sandbox's simulated phone, cc-sim-callee), and the order is read from Asterisk's own
# events. Each test has its own SQLite file.
from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim.sipp import SippCall
from tests.polling import until
from tests.recorder import AmiRecorder

Event = dict[str, Any]


def callback_config(cfg: Config, store: Path) -> Config:
    """The test centre, offering a callback to whoever has to wait at all."""
    assert cfg.callbacks is not None
    policy = dataclasses.replace(cfg.callbacks.policy, offer_after_ewt_s=0.0)
    return dataclasses.replace(cfg, callbacks=dataclasses.replace(cfg.callbacks, policy=policy, store=store))


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
    a = SippCall(caller="+34600000701", digits="11", stay_s=12, target_port=port)
    await a.start()
    await observer.bridged_with(await observer.channel_of(a), timeout=20)
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


async def test_callers_a_b_c_b_takes_a_callback_and_is_served_between_a_and_c(
    asterisk, observer: AmiRecorder, centre: tuple[Controller, Path]
) -> None:
    _, store = centre
    port = asterisk.sip_port
    a = SippCall(caller="+34600000711", digits="11", stay_s=14, target_port=port)
    await a.start()
    await observer.bridged_with(await observer.channel_of(a), timeout=20)
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
    await asyncio.sleep(0)
