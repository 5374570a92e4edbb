# The controller (`contactcenter run`, its own process) SIGKILLed again and again while
# callbacks are pending and SIP callers wait: before any is dialled, while one is being
# dialled (its legs in Asterisk, its outcome not yet in the file), and after. No committed
# callback is lost, and none is dialled twice: each citizen's phone is rung once, counted
# from Asterisk's own events (the sandbox's Newchannel of the callback's citizen legs),
# not from our tables. And operators' states are recovered each time: Pau, paused by a
# supervisor before the first kill, is paused after every restart (the desks in SQLite).
# (Real sandbox Asterisk, SIPp callers, the stores in SQLite files.)
from __future__ import annotations

import asyncio
from pathlib import Path

from contactcenter.sim.sipp import SippBurst, SippCall
from tests.controllerproc import Controllers
from tests.integration.test_callbacks import ana_talking, callback_config_file, new_channel, rows
from tests.integration.test_desks_live import operators, with_desks
from tests.integration.webcentre import SUPERVISOR
from tests.polling import until
from tests.recorder import AmiRecorder

TAKERS = 3  # citizens who leave their number
WAITING = 10  # the load: SIPp callers who wait on the line meanwhile


def _legs(observer: AmiRecorder, callback_id: str, kind: str) -> set[str]:
    return {e["Uniqueid"].rsplit("-", 1)[0] for e in observer.find(new_channel(callback_id, kind))}


async def test_a_controller_killed_again_and_again_loses_no_callback_and_dials_none_twice(
    asterisk, observer: AmiRecorder, tmp_path: Path
) -> None:
    store, config = callback_config_file(tmp_path)
    api = with_desks(config, tmp_path)
    port = asterisk.sip_port

    async def pau_paused() -> None:
        pau = (await operators(api))["pau"]
        assert (pau["state"], pau["reason"]) == ("paused", "meal"), pau

    sipp: list[SippCall | SippBurst] = []
    try:
        async with Controllers(config) as controllers:
            await controllers.start()
            assert (
                await api.post("/api/operators/pau/pause", SUPERVISOR, {"reason": "meal"})
            ).status_code == 200
            # A keeps Ana (the only `info` operator) busy 25 s; TAKERS citizens behind A leave
            # their numbers; WAITING more hold on the line behind them.
            a = await ana_talking(observer, "+34600000901", 25, port)
            sipp.append(a)
            takers = [
                SippCall(caller=f"+3460000091{i}", digits="111", stay_s=60, target_port=port)
                for i in range(TAKERS)
            ]
            sipp.extend(takers)
            for taker in takers:
                await taker.start()
                await observer.channel_of(taker, timeout=20)  # (one after the other: their order kept)
                await asyncio.sleep(1.0)
            await until(
                lambda: len(rows(store, "SELECT 1 FROM callbacks")) == TAKERS, 40, "the callbacks stored"
            )
            for taker in takers:
                assert await taker.wait(40) == 0, taker.errors()  # promised, then hung up
            ids = [
                r["callback_id"] for r in rows(store, "SELECT callback_id FROM callbacks ORDER BY arrived_at")
            ]
            burst = SippBurst(calls=WAITING, rate=10, digits="11", stay_s=120, target_port=port)
            sipp.append(burst)
            await burst.start()

            # Kill 1: every callback pending, none dialled.
            await controllers.kill()
            assert all(not _legs(observer, cb, "c") for cb in ids)
            await controllers.start()
            await pau_paused()
            # Kill 2: while the first callback is being dialled (A's call over, Ana rung for it).
            assert await a.wait(60) == 0, a.errors()
            await observer.wait_for(new_channel(ids[0], "o"), 40, "the first callback's operator leg")
            await controllers.kill()
            await controllers.start()
            await pau_paused()
            # Kill 3: a few seconds on, whatever it was doing.
            await asyncio.sleep(3.0)
            await controllers.kill()
            await controllers.start()
            await pau_paused()

            await until(
                lambda: (
                    [r["state"] for r in rows(store, "SELECT state FROM callbacks")] == ["completed"] * TAKERS
                ),
                60,  # (3 callbacks of a few seconds each, one operator: not WAITING's stay)
                "every callback completed after the kills",
            )
            # Asterisk's own count: each citizen's phone rang once, after an operator's leg.
            assert {cb: len(_legs(observer, cb, "c")) for cb in ids} == {cb: 1 for cb in ids}
            for cb in ids:
                operator_leg = observer.find(new_channel(cb, "o"))[0]
                citizen_leg = observer.find(new_channel(cb, "c"))[0]
                assert observer.events.index(operator_leg) < observer.events.index(citizen_leg)
            # In their places: called back in the order they asked.
            first_leg = [observer.events.index(observer.find(new_channel(cb, "c"))[0]) for cb in ids]
            assert first_leg == sorted(first_leg)
            # And ahead of the WAITING callers, who came after them: Ana (their only operator)
            # was rung for none of those before the last callback's citizen leg, across every
            # restart (each one's callbacks back before its operators are ready).
            calls_to_ana = [
                i
                for i, e in enumerate(observer.events)
                if e.get("Event") == "Newchannel"
                and str(e.get("Channel", "")).startswith("Local/ana@")
                and str(e.get("Channel", "")).endswith(";1")  # (one per leg: not its other half)
                and str(e.get("Uniqueid", "")).startswith("cc-")
            ]
            assert len(calls_to_ana) >= 1  # (A's)
            assert [i for i in calls_to_ana[1:] if i < first_leg[-1]] == [], [
                observer.events[i] for i in calls_to_ana
            ]
    finally:
        for call in sipp:
            call.stop()
