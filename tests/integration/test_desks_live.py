# Operators' states recovered after the controller (`contactcenter run`, its own process) is
# SIGKILLed, against the real sandbox Asterisk with SIPp callers and the desks in a SQLite
# file: a supervisor logs Marta out, changes Pau's skills and pauses him, while Ana talks to
# a SIP caller. Killed and started again, the controller has each of them where they were;
# Ana, whose call went on in Asterisk meanwhile, is held until that call ends (never rung
# while on it, by Asterisk's own count of her phone's channels), then takes the next call.
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import yaml

from contactcenter.live.desks import ON_CALL
from contactcenter.sim.sipp import SippCall
from tests.conftest import TEST_CONFIG
from tests.controllerproc import Controllers
from tests.integration.test_callbacks import ana_talking
from tests.integration.webcentre import SUPERVISOR, Api
from tests.polling import until
from tests.recorder import AmiRecorder


def with_desks(config: Path, tmp_path: Path) -> Api:
    """The centre in `config` with its desks kept (tmp_path/desks.sqlite) and a supervisor;
    the API its controller will answer on."""
    data = yaml.safe_load(config.read_text())
    data["desks"] = {"store": str(tmp_path / "desks.sqlite"), "restore_within": 600}
    token = {"role": SUPERVISOR.role, "id": SUPERVISOR.id, "name": SUPERVISOR.name, "token": SUPERVISOR.token}
    data.setdefault("web", {})["tokens"] = [token]
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    return Api(f"http://127.0.0.1:{data['http']['port']}")


def desks_config_file(tmp_path: Path) -> tuple[Path, Path, Api]:
    """(desk store, config file, its API): the test centre with its desks kept."""
    config = tmp_path / "010-desks.yaml"
    config.write_text(TEST_CONFIG.read_text())
    return tmp_path / "desks.sqlite", config, with_desks(config, tmp_path)


def kept(store: Path) -> dict[str, tuple[str, str | None]]:
    """The desks as the file has them, read as another process would."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return {
            row[0]: (row[1], row[2]) for row in db.execute("SELECT operator_id, status, reason FROM desks")
        }
    finally:
        db.close()


async def operators(api: Api) -> dict[str, dict[str, Any]]:
    reply = await api.get("/api/operators", SUPERVISOR)
    assert reply.status_code == 200, reply.text
    return {op["id"]: op for op in reply.json()}


def ana_rung(observer: AmiRecorder) -> set[str]:
    """Ana's phone's calls, by Asterisk: each Originate to her makes one Local channel pair."""
    return {
        str(e["Channel"]).rsplit(";", 1)[0]
        for e in observer.find(
            lambda e: (
                e.get("Event") == "Newchannel"
                and str(e.get("Channel", "")).startswith("Local/ana@cc-sim-operator-")
            )
        )
    }


async def test_a_killed_controller_comes_back_with_every_operator_where_they_were(
    asterisk, observer: AmiRecorder, tmp_path: Path
) -> None:
    store, config, api = desks_config_file(tmp_path)
    calls: list[SippCall] = []
    try:
        async with Controllers(config) as controllers:
            await controllers.start()
            a = await ana_talking(observer, "+34600000951", 20, asterisk.sip_port)
            calls.append(a)
            assert (await api.post("/api/operators/marta/logout", SUPERVISOR)).status_code == 200
            skills = {"tributs": 1, "tramits": 2}
            assert (
                await api.put("/api/operators/pau/skills", SUPERVISOR, {"skills": skills})
            ).status_code == 200
            assert (
                await api.post("/api/operators/pau/pause", SUPERVISOR, {"reason": "training"})
            ).status_code == 200
            before = await operators(api)
            assert before["ana"]["state"] == "talking"
            # Committed (within milliseconds of each change): then the kill.
            await until(
                lambda: (
                    kept(store).get("marta") == ("logged_out", None)
                    and kept(store).get("pau") == ("paused", "training")
                ),
                5,
                "the desks written",
            )
            await controllers.kill()
            rung_before = ana_rung(observer)
            assert len(rung_before) == 1  # (A's call)

            await controllers.start()
            after = await operators(api)
            assert (after["marta"]["state"], after["pau"]["state"], after["pau"]["reason"]) == (
                "logged_out",
                "paused",
                "training",
            )
            assert after["pau"]["skills"] == skills
            assert after["rosa"]["state"] == "logged_out"  # (a phone never logged in stays out)
            # Ana's call with A goes on in Asterisk: she is held, not offered another.
            assert (after["ana"]["state"], after["ana"]["reason"]) == ("paused", ON_CALL)
            assert await a.wait(40) == 0, a.errors()  # A hangs up after 20 s: Ana is free
            async with asyncio.timeout(10):
                while (await operators(api))["ana"]["state"] != "available":
                    await asyncio.sleep(0.2)
            assert ana_rung(observer) == rung_before  # never rung while on a call
            # The next call for her skill is hers.
            b = SippCall(caller="+34600000952", digits="11", stay_s=3, target_port=asterisk.sip_port)
            calls.append(b)
            await b.start()
            await observer.bridged_with(await observer.channel_of(b), timeout=20)
            assert len(ana_rung(observer) - rung_before) == 1
            assert await b.wait(30) == 0, b.errors()
    finally:
        for call in calls:
            call.stop()


async def test_callers_waiting_when_the_controller_is_killed_are_served_after_it_in_their_order(
    asterisk, observer: AmiRecorder, tmp_path: Path
) -> None:
    # Ana (the only `info` operator) talks with A; W1, then W2 wait for her on hold. The
    # controller is SIGKILLed and started again: the next one takes both in (they are its
    # strays: Asterisk has them, no controller knew them), and Ana, once A hangs up, is
    # joined to W1, then W2, in the order they came; no caller is stranded on hold.
    _, config, _ = desks_config_file(tmp_path)
    port = asterisk.sip_port
    calls: list[SippCall] = []
    try:
        async with Controllers(config) as controllers:
            await controllers.start()
            a = await ana_talking(observer, "+34600000971", 15, port)
            calls.append(a)
            # (W1 talks a little, then W2's turn comes before W2's patience is out.)
            waiting = [
                SippCall(caller=f"+3460000097{i}", digits="11", stay_s=stay, target_port=port)
                for i, stay in ((2, 35), (3, 100))
            ]
            channels = []
            for w in waiting:
                calls.append(w)
                await w.start()
                channels.append(await observer.channel_of(w, timeout=20))
                await observer.wait_for(
                    lambda e, ch=channels[-1]: (
                        e.get("Event") == "UserEvent"
                        and e.get("UserEvent") == "CcQueued"
                        and e.get("Channel") == ch
                    ),
                    20,
                    "queued",
                )
            await controllers.kill()
            await controllers.start()
            # Each is queued again by the new controller (its own CcQueued, after the kill).
            joined = [await observer.bridged_with(ch, timeout=60) for ch in channels]
            first, second = (observer.events.index(j[0]) for j in joined)
            assert first < second  # W1 before W2, as they came
            assert all(str(j[1]["Channel"]).startswith("Local/ana@cc-sim-operator-") for j in joined)
            assert await a.wait(30) == 0, a.errors()
    finally:
        for call in calls:
            call.stop()
