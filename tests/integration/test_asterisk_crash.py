# Asterisk SIGKILLed under live SIP load, then started again (the real sandbox, SIPp
# callers, the callback store and the records in SQLite files). What must hold:
# - the controller notices within 5 s, and has resynced within 10 s of Asterisk answering
#   again (FullyBooted);
# - every call the crash took is ended in the core and in the records, each marked as
#   ended within the gap (GAP_ENDED, between AMI_LINK_DOWN and AMI_LINK_UP);
# - every callback accepted before the crash is still pending after it, and is then dialled
#   once, operator first (counted from Asterisk's own events, not our tables);
# - the next call routes normally.
# The load is CC_FAULT_CALLS SIPp calls waiting beside two talking (30 here;
# `CC_FAULT_CALLS=218`, 220 calls in the system, is the long run, tests/bench/README.md).
# The figures go to $CC_ARTEFACTS/asterisk-crash.json.
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from contactcenter import sandbox
from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.sim.sipp import SippBurst, SippCall
from tests.integration.test_callbacks import ana_talking, callback_config, new_channel, rows
from tests.polling import until
from tests.recorder import AmiRecorder

LOAD_CALLS = int(os.environ.get("CC_FAULT_CALLS", "30"))
DETECT_LIMIT_S = 5.0
RESYNC_LIMIT_S = 10.0


async def test_asterisk_killed_under_load_is_noticed_resynced_and_loses_no_callback(
    asterisk: sandbox.SandboxState, observer: AmiRecorder, test_config: Config, tmp_path: Path
) -> None:
    store = tmp_path / "callbacks.sqlite"
    cfg = callback_config(test_config, store)
    assert cfg.records is not None
    ctl = Controller(cfg)
    await ctl.start()
    port = asterisk.sip_port
    sipp: list[SippCall | SippBurst] = []
    try:
        # Ana (the only `info` operator) and Marta (`tramits`) are busy; two citizens behind
        # Ana leave their numbers for a callback and hang up when promised.
        a = await ana_talking(observer, "+34600000801", 600, port)
        sipp.append(a)
        m = SippCall(caller="+34600000802", digits="12", stay_s=600, target_port=port)
        sipp.append(m)
        await m.start()
        await observer.bridged_with(await observer.channel_of(m), timeout=20)
        takers = [
            SippCall(caller=f"+3460000081{i}", digits="111", stay_s=60, target_port=port) for i in (1, 2)
        ]
        for taker in takers:
            await taker.start()
            await observer.channel_of(taker, timeout=20)  # (one after the other: their order kept)
        await until(
            lambda: len(rows(store, "SELECT 1 FROM callbacks")) == len(takers), 40, "callbacks stored"
        )
        for taker in takers:
            assert await taker.wait(40) == 0, taker.errors()
        callbacks = [
            r["callback_id"] for r in rows(store, "SELECT callback_id FROM callbacks ORDER BY arrived_at")
        ]
        # The load: LOAD_CALLS more citizens for `info`, all waiting (offered a callback,
        # they key nothing and hold).
        burst = SippBurst(calls=LOAD_CALLS, rate=20, digits="11", stay_s=600, target_port=port)
        sipp.append(burst)
        await burst.start()
        await until(lambda: len(ctl.engine.calls) == LOAD_CALLS + 2, 60, "the load in the system")
        in_system = set(ctl.engine.calls)
        assert not any(observer.find(new_channel(cb, "c")) for cb in callbacks)
        resyncs = ctl.counters["resyncs"]

        # SIGKILL: no goodbye; every channel, SIP dialog and AMI session goes at once.
        killed_at = time.monotonic()
        os.kill(asterisk.pid, signal.SIGKILL)
        await until(lambda: not ctl.ami.ready, DETECT_LIMIT_S, "the controller to notice")
        detect_s = time.monotonic() - killed_at
        # While Asterisk is down nothing is lost: the promises are still in the file.
        assert [r["state"] for r in rows(store, "SELECT state FROM callbacks")] == ["pending"] * len(
            callbacks
        )
        for proc in sipp:
            proc.stop()  # (their calls died with Asterisk)

        # Started again once it is gone (as systemd would), with the same configuration.
        await until(lambda: not sandbox.status()["running"], 10, "the killed Asterisk to be gone")
        state = await asyncio.to_thread(sandbox.up, test_config, lambda *_: None)
        asterisk.pid = state.pid  # (the session's sandbox, for the tests after this one)
        answered_at = time.monotonic()
        await until(lambda: ctl.counters["resyncs"] > resyncs, RESYNC_LIMIT_S, "the resync")
        resync_s = time.monotonic() - answered_at

        # Every call the crash took is ended in the core.
        await until(lambda: not in_system & set(ctl.engine.calls), 5, "the lost calls ended")
        assert in_system <= {c.call_id for c in ctl.finished}
        # Every callback is dialled once, operator first, then completed.
        await until(
            lambda: (
                [r["state"] for r in rows(store, "SELECT state FROM callbacks")]
                == ["completed"] * len(callbacks)
            ),
            120,
            "every callback completed after the restart",
        )
        dials = {
            cb: {e["Uniqueid"].rsplit("-", 1)[0] for e in observer.find(new_channel(cb, "c"))}
            for cb in callbacks
        }
        assert {cb: len(legs) for cb, legs in dials.items()} == {cb: 1 for cb in callbacks}
        for cb in callbacks:
            (operator_leg,) = observer.find(new_channel(cb, "o"))[:1]
            (citizen_leg,) = observer.find(new_channel(cb, "c"))[:1]
            assert observer.events.index(operator_leg) < observer.events.index(citizen_leg)
        # The next call routes normally: to Marta, whose call the crash ended.
        nxt = SippCall(caller="+34600000803", digits="12", stay_s=5, target_port=port)
        sipp.append(nxt)
        await nxt.start()
        await observer.bridged_with(await observer.channel_of(nxt), timeout=30)
        assert await nxt.wait(40) == 0, nxt.errors()

        # The records mark the gap, and each lost call as ended within it.
        path = cfg.records.path
        await until(
            lambda: (
                {r["call_id"] for r in rows(path, "SELECT call_id FROM events WHERE kind = 'GAP_ENDED'")}
                >= in_system
            ),
            15,
            "the records' gap",
        )
        (down,) = rows(path, "SELECT at FROM events WHERE kind = 'AMI_LINK_DOWN' ORDER BY at DESC LIMIT 1")
        (up,) = rows(
            path, "SELECT at, reason FROM events WHERE kind = 'AMI_LINK_UP' ORDER BY at DESC LIMIT 1"
        )
        killed_wall = time.time() - (time.monotonic() - killed_at)
        assert killed_wall - 1 <= down["at"] <= killed_wall + DETECT_LIMIT_S
        assert down["at"] < up["at"] and up["reason"] == f"{len(in_system)} calls ended in the gap"
        ended = rows(path, "SELECT call_id, ended_at FROM calls")
        assert in_system <= {r["call_id"] for r in ended}
        assert all(r["ended_at"] >= down["at"] for r in ended if r["call_id"] in in_system)

        figures = {
            "load_calls": LOAD_CALLS,
            "calls_in_system_at_the_crash": len(in_system),
            "detect_s": round(detect_s, 3),
            "resync_after_fully_booted_s": round(resync_s, 3),
            "callbacks_pending_through_the_crash": len(callbacks),
            "callbacks_lost": 0,
            "duplicate_dials": sum(len(legs) - 1 for legs in dials.values()),
        }
        out = Path(os.environ.get("CC_ARTEFACTS", "artefacts")) / "asterisk-crash.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"asterisk crash: {figures}")
    finally:
        for proc in sipp:
            proc.stop()
        await ctl.stop()
