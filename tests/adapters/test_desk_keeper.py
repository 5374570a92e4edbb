# Operators' desks across restarts (live/desks.py) over the real core and a real SQLite desk
# store in a temporary file: what standing each state is kept as, what a restart puts back
# (fresh or stale, skills no longer configured, operators no longer configured), and an
# operator whose call outlived the controller held until that channel hangs up. Its subject
# is the keeper's rules; the live test (tests/integration/test_desks_live.py) kills a real
# controller under real Asterisk.
from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from pathlib import Path

import pytest

from contactcenter.config import DesksConfig, load_config
from contactcenter.controller import engine_for
from contactcenter.core import events as ev
from contactcenter.core.commands import Command
from contactcenter.core.lifecycle import OperatorState
from contactcenter.live.desks import ON_CALL, DeskKeeper, desk_of
from contactcenter.live.operators import Actor, OperatorDesk
from contactcenter.resources import default_config
from contactcenter.store import StoreError
from contactcenter.store.desks import DeskState, DeskStatus, SqliteDeskStore

S = OperatorState
SUP = Actor("sala", "supervisor")


class Run:
    """One run of a controller's core with its keeper (and the desk the web would use)."""

    def __init__(self, path: Path, restore_within: float = 3600.0, wall: float | None = None) -> None:
        self.hung_up: list[str] = []  # the channels it asked Asterisk to hang up
        cfg = load_config(default_config())
        self.cfg = dataclasses.replace(cfg, desks=DesksConfig(store=path, restore_within=restore_within))
        self.engine = engine_for(self.cfg, epoch=0.0)
        self.engine.hours = None
        self.t = 0.0
        self.counters: Counter[str] = Counter()
        self.keeper = DeskKeeper(
            self.cfg,
            SqliteDeskStore(path),
            restore_within,
            snapshot=lambda: self.engine.snapshot(self.t),
            feed=self.feed,
            now=lambda: self.t,
            counters=self.counters,
            wall=(lambda: wall) if wall is not None else time.time,
            hang_up=self.hung_up.append,
        )
        self.desk = OperatorDesk(
            self.cfg,
            feed=self.feed,
            snapshot=lambda: self.engine.snapshot(self.t),
            call_view=self.engine.call_view,
            stale_count=lambda: 0,
            now=lambda: self.t,
            audit=lambda now, actor, action, target, detail: self.keeper.touch(target),
        )

    def feed(self, event: ev.Event) -> list[Command]:
        out = self.engine.handle(event)
        self.keeper.observe(event.now, self.engine.drain_changes(), self.engine.drain_completed())
        return out

    def view(self, operator_id: str):  # type: ignore[no-untyped-def]
        return self.desk.view(operator_id)  # (also of an operator never logged in)

    async def settled(self) -> None:
        """Until the keeper's writer has written all it heard of."""
        async with asyncio.timeout(5):
            while self.keeper._dirty or self.keeper._wake.is_set():
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # (the save in flight)


async def kept(path: Path) -> dict[str, DeskState]:
    store = SqliteDeskStore(path)
    await store.open()
    try:
        return {d.operator_id: d for d in (await store.load())[1]}
    finally:
        await store.close()


async def test_each_state_is_kept_as_the_standing_it_means(tmp_path: Path) -> None:
    run = Run(tmp_path / "desks.sqlite")
    await run.keeper.start()
    run.keeper.restore({})
    ids = [op.id for op in run.cfg.operators]
    assert all(run.view(o).state is S.AVAILABLE for o in ids)  # a first start: all simulated, on shift
    run.desk.pause(SUP, "marta", "meal")
    run.desk.log_out(SUP, "pau")
    run.desk.set_skills(SUP, "laia", {"tributs": 1, "info": 3})
    # Jordi takes a call and asks for a pause after it: kept as paused (the request stands).
    run.feed(ev.CallArrived(now=0.0, call_id="c1"))
    run.feed(ev.IvrCompleted(now=0.0, call_id="c1", skill="info", language="ca"))
    on_call = "ana" if run.view("ana").call_id else "jordi"
    run.feed(ev.OperatorAnswered(now=1.0, call_id="c1", operator_id=on_call))
    run.desk.pause(SUP, on_call, "training")
    assert run.view(on_call).after_call == "pause"
    await run.settled()
    desks = await kept(tmp_path / "desks.sqlite")
    expected = {o: (DeskStatus.READY, None) for o in ids}
    expected |= {"marta": (DeskStatus.PAUSED, "meal"), "pau": (DeskStatus.LOGGED_OUT, None)}
    expected[on_call] = (DeskStatus.PAUSED, "training")
    assert {o: (d.status, d.reason) for o, d in desks.items()} == expected
    assert dict(desks["laia"].skills) == {"tributs": 1, "info": 3}
    # The same mapping, state by state, from the views themselves.
    for o in ids:
        assert desk_of(run.view(o), 0.0).status is expected[o][0]
    await run.keeper.stop()


async def test_a_restart_puts_every_desk_back_and_holds_whoever_is_still_on_a_call(tmp_path: Path) -> None:
    path = tmp_path / "desks.sqlite"
    first = Run(path)
    await first.keeper.start()
    first.keeper.restore({})
    first.desk.pause(SUP, "marta", "meal")
    first.desk.log_out(SUP, "pau")
    first.desk.set_skills(SUP, "laia", {"tributs": 1, "info": 3})
    await first.settled()  # (no stop: as if killed, only what was committed counts)
    assert first.counters["desks_written"] >= 3
    assert first.keeper._task is not None
    first.keeper._task.cancel()
    await first.keeper.store.close()  # type: ignore[union-attr]

    second = Run(path)
    await second.keeper.start()
    # Oriol's call went on in Asterisk meanwhile: both halves of his Local channel are up.
    # (His ;1 half is in the conference with the caller, as CoreShowChannels shows it.)
    alive = {
        "1700000000.10": {"Channel": "Local/oriol@cc-sim-operator-00000007;1", "BridgeId": "b1"},
        "1700000000.11": {"Channel": "Local/oriol@cc-sim-operator-00000007;2", "BridgeId": ""},
        "1700000000.12": {"Channel": "PJSIP/pstn-00000003", "BridgeId": "b1"},
    }
    restored = second.keeper.restore(alive)
    assert restored == len(second.cfg.operators)
    views = {o.id: second.view(o.id) for o in second.cfg.operators}
    assert (views["marta"].state, views["marta"].reason) == (S.PAUSED, "meal")
    assert views["pau"].state is S.LOGGED_OUT
    assert dict(views["laia"].skills) == {"tributs": 1, "info": 3} and views["laia"].state is S.AVAILABLE
    assert (views["oriol"].state, views["oriol"].reason) == (S.PAUSED, ON_CALL)
    assert set(second.keeper.held) == {"1700000000.10", "1700000000.11"}
    # A call for his skill waits for someone else, never for him while he talks.
    second.keeper.hung_up("1700000000.12")  # (not his: nothing happens)
    assert second.view("oriol").state is S.PAUSED
    second.keeper.hung_up("1700000000.11")
    assert second.view("oriol").state is S.AVAILABLE and not second.keeper.held
    await second.settled()
    # Held and released, kept as ready again; a third start holds nobody.
    assert (await kept(path))["oriol"].status is DeskStatus.READY
    await second.keeper.stop()


async def test_a_hold_kept_by_a_controller_killed_meanwhile_ends_if_the_call_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "desks.sqlite"
    store = SqliteDeskStore(path)
    await store.open()
    on_call = DeskState(
        operator_id="ana", status=DeskStatus.PAUSED, reason=ON_CALL, skills=(("info", 1),), since=0
    )
    await store.save([on_call], alive_at=time.time())
    await store.close()
    run = Run(path)
    await run.keeper.start()
    run.keeper.restore({})
    assert run.view("ana").state is S.AVAILABLE and dict(run.view("ana").skills) == {"info": 1}
    await run.keeper.stop()


async def test_desks_older_than_restore_within_are_not_put_back(tmp_path: Path) -> None:
    async def kept_at(name: str, alive_at: float) -> Path:
        path = tmp_path / name
        store = SqliteDeskStore(path)
        await store.open()
        paused = DeskState(
            operator_id="ana", status=DeskStatus.PAUSED, reason="meal", skills=(("info", 1),), since=0
        )
        out = DeskState(
            operator_id="jordi", status=DeskStatus.LOGGED_OUT, reason=None, skills=(("info", 1),), since=0
        )
        await store.save([paused, out], alive_at=alive_at)
        await store.close()
        return path

    stale = Run(await kept_at("stale.sqlite", 1_000_000.0), restore_within=600, wall=1_000_000.0 + 601)
    await stale.keeper.start()
    assert stale.keeper.restore({}) == 0
    assert {stale.view(o.id).state for o in stale.cfg.operators} == {S.AVAILABLE}  # a first start
    await stale.keeper.stop()
    fresh = Run(await kept_at("fresh.sqlite", 1_000_000.0), restore_within=600, wall=1_000_000.0 + 599)
    await fresh.keeper.start()
    assert fresh.keeper.restore({}) == 2
    assert (fresh.view("ana").state, fresh.view("ana").reason) == (S.PAUSED, "meal")
    assert fresh.view("jordi").state is S.LOGGED_OUT
    await fresh.keeper.stop()


async def test_what_the_config_no_longer_has_is_dropped_not_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "desks.sqlite"
    store = SqliteDeskStore(path)
    await store.open()
    gone = DeskState(operator_id="quim", status=DeskStatus.READY, reason=None, skills=(("info", 1),), since=0)
    # A skill since removed from the config: the others are kept; none left, the config's.
    ana = DeskState(
        operator_id="ana",
        status=DeskStatus.READY,
        reason=None,
        skills=(("astrologia", 1), ("info", 2)),
        since=0,
    )
    pau = DeskState(
        operator_id="pau", status=DeskStatus.READY, reason=None, skills=(("astrologia", 1),), since=0
    )
    await store.save([gone, ana, pau], alive_at=time.time())
    await store.close()
    run = Run(path)
    await run.keeper.start()
    run.keeper.restore({})
    assert "quim" not in run.engine.snapshot(0).operators
    assert dict(run.view("ana").skills) == {"info": 2}
    assert dict(run.view("pau").skills) == dict(run.cfg.operator("pau").skills)
    assert "no longer configured, dropped: quim" in caplog.text
    await run.keeper.stop()


async def test_a_write_that_fails_is_counted_and_made_again_and_calls_go_on(tmp_path: Path) -> None:
    # A fault a real disk does not give on demand: the store's save raises twice (injected).
    run = Run(tmp_path / "desks.sqlite")
    await run.keeper.start()
    run.keeper.restore({})
    store = run.keeper.store
    assert store is not None
    real_save, failures = store.save, [2]

    async def failing_save(desks, alive_at):  # type: ignore[no-untyped-def]
        if failures[0] > 0:
            failures[0] -= 1
            raise StoreError(f"desk store {store.path}: could not write the desks: disk I/O error")
        await real_save(desks, alive_at)

    store.save = failing_save  # type: ignore[method-assign]
    run.desk.pause(SUP, "marta", "meal")
    run.feed(ev.CallArrived(now=0.0, call_id="c1"))  # routing goes on meanwhile
    run.feed(ev.IvrCompleted(now=0.0, call_id="c1", skill="tributs", language="ca"))
    assert run.engine.call_view("c1").operator_id in {"pau", "laia", "oriol"}  # type: ignore[union-attr]
    async with asyncio.timeout(15):
        while (await kept(tmp_path / "desks.sqlite")).get("marta", None) is None or (
            (await kept(tmp_path / "desks.sqlite"))["marta"].status is not DeskStatus.PAUSED
        ):
            await asyncio.sleep(0.1)
    assert run.counters["desk_write_errors"] == 2
    await run.keeper.stop()


async def test_a_store_it_cannot_open_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "desks.sqlite"
    run = Run(path)
    with pytest.raises(StoreError, match=f"desk store {path}"):
        await run.keeper.start()


async def test_a_call_moves_states_but_no_standing_so_nothing_is_written(tmp_path: Path) -> None:
    run = Run(tmp_path / "desks.sqlite")
    await run.keeper.start()
    run.keeper.restore({})
    await run.settled()
    written = run.counters["desks_written"]
    assert written == len(run.cfg.operators)  # (a first start: every desk, once)
    run.feed(ev.CallArrived(now=0.0, call_id="c1"))
    run.feed(ev.IvrCompleted(now=0.0, call_id="c1", skill="tributs", language="ca"))
    operator = run.engine.call_view("c1").operator_id  # type: ignore[union-attr]
    assert operator is not None and run.view(operator).state is S.RESERVED
    run.feed(ev.OperatorAnswered(now=1.0, call_id="c1", operator_id=operator))
    run.feed(ev.CallEnded(now=5.0, call_id="c1"))
    assert run.view(operator).state is S.WRAP_UP
    await run.settled()
    assert run.counters["desks_written"] == written
    run.desk.pause(SUP, operator, "meal")
    await run.settled()
    assert run.counters["desks_written"] == written + 1
    await run.keeper.stop()


async def test_an_operator_leg_with_nobody_on_it_is_hung_up_and_the_operator_is_ready(tmp_path: Path) -> None:
    run = Run(tmp_path / "desks.sqlite")
    await run.keeper.start()
    # Ana alone in her conference (the citizen left while no controller ran); Jordi's phone
    # ringing for an offer the stopped controller made; Oriol on a callback's operator leg
    # whose citizen leg still rings (they will meet); Laia talking with a citizen.
    alive = {
        "1.1": {"Channel": "Local/ana@cc-sim-operator-00000001;1", "BridgeId": "b-ana"},
        "1.2": {"Channel": "Local/ana@cc-sim-operator-00000001;2", "BridgeId": ""},
        "2.1": {"Channel": "Local/jordi@cc-sim-operator-00000002;1", "BridgeId": ""},
        "cb-0123456789ab-o-0001": {"Channel": "Local/oriol@cc-sim-operator-00000003;1", "BridgeId": "b-cb"},
        "cb-0123456789ab-c-0002": {"Channel": "Local/34600000000@cc-sim-callee-00000004;1", "BridgeId": ""},
        "4.1": {"Channel": "Local/laia@cc-sim-operator-00000005;1", "BridgeId": "b-laia"},
        "4.9": {"Channel": "PJSIP/pstn-00000009", "BridgeId": "b-laia"},
    }
    run.keeper.restore(alive)
    assert sorted(run.hung_up) == sorted(
        [
            "Local/ana@cc-sim-operator-00000001;1",
            "Local/ana@cc-sim-operator-00000001;2",
            "Local/jordi@cc-sim-operator-00000002;1",
        ]
    )
    assert run.view("ana").state is S.AVAILABLE and run.view("jordi").state is S.AVAILABLE
    assert {o: run.view(o).reason for o in ("oriol", "laia")} == {"oriol": ON_CALL, "laia": ON_CALL}
    # Laia's citizen hangs up, and the Hangup of her leg is lost (or came before the list):
    # Asterisk's list a few seconds on has her leg alone; it is hung up, she is ready.
    del alive["4.9"]
    run.keeper.recheck(alive)
    assert (
        run.view("laia").state is S.AVAILABLE and run.hung_up[-1] == "Local/laia@cc-sim-operator-00000005;1"
    )
    # The callback's citizen leg is gone: Oriol's leg has nobody coming; the same.
    del alive["cb-0123456789ab-c-0002"]
    run.keeper.recheck(alive)
    assert run.view("oriol").state is S.AVAILABLE and not run.keeper.held
    assert run.counters["orphan_legs_hung_up"] == 5
    await run.keeper.stop()


def test_citizens_no_controller_knows_are_found_oldest_first() -> None:
    from contactcenter.live.channels import Channels
    from contactcenter.live.resync import strays

    channels = Channels()
    channels.callers["5.5"] = "PJSIP/pstn-00000005"  # (known: not a stray)
    alive = {
        "5.5": {"Channel": "PJSIP/pstn-00000005", "Context": "cc-hold", "Duration": "00:01:00"},
        "6.6": {
            "Channel": "PJSIP/pstn-00000006",
            "Context": "cc-hold",
            "Duration": "00:00:40",
            "CallerIDNum": "+34600000006",
        },
        "7.7": {"Channel": "PJSIP/pstn-00000007", "Context": "cc-ivr-service", "Duration": "00:00:05"},
        "8.8": {"Channel": "PJSIP/pstn-00000008", "Context": "cc-callback-offer", "Duration": "00:02:10"},
        "9.9": {"Channel": "PJSIP/pstn-00000009", "Context": "cc-join", "Duration": "00:03:00"},  # talking
        "1.1": {"Channel": "Local/ana@cc-sim-operator-00000001;2", "Context": "cc-sim-operator"},
        "2.2": {"Channel": "PJSIP/pstn-00000002", "Context": "cc-callback-done", "Duration": "00:00:01"},
    }
    found = strays(channels, alive)
    assert [(s.call_id, s.waiting, s.age_s) for s in found] == [
        ("8.8", True, 130),
        ("6.6", True, 40),
        ("7.7", False, 5),
    ]
    assert [s.number for s in found] == [None, "+34600000006", None]
