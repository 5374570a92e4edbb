# Operators' desks across restarts of the controller: every operator's state (logged out,
# ready, paused and why, the skills they log in with) is kept in the desk store as it
# changes, and put back when the controller starts again. Rules:
# - An observer of the core's change feed (and of every accepted desk request, which may
#   change skills or ask for a pause after the call without moving a state): the operators
#   it heard of are written by one task, coalesced, in one transaction, a few milliseconds
#   after the change, if their standing (below) moved; a heartbeat every HEARTBEAT_S says
#   the states are current. A failed write is logged, counted (desk_write_errors) and tried
#   again: call handling never waits.
# - What is kept is the operator's standing, not the moment: ringing, talking, wrapping up
#   and unreachable are all "ready" (the calls and Asterisk's faults are not the desk's);
#   a pause or a logout asked for after the call is kept as if done.
# - At start, states last written within `restore_within` seconds are put back in the
#   core: a login with the kept skills (those still configured), then the pause with its
#   reason. Older ones (the controller was down longer: a shift has ended) are not, and
#   every operator starts as on a first start (simulated ones logged in, phones out).
# - An operator whose call went on in Asterisk while no controller ran (their channel is
#   still up at start, in a conference with someone: the citizen, or a callback's citizen
#   leg still ringing) is held, paused ON_CALL, until that call ends; then ready. Never
#   offered a call while on one. A channel of theirs with nobody else (the citizen left
#   meanwhile, or a ring the stopped controller started) is hung up, as that controller
#   would have, and they are ready at once. Checked at start, at each Hangup, and against
#   Asterisk's list every few seconds (`recheck`).
# - Without a store (no `desks` in the config) nothing is kept: every start is a first one.
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from contactcenter.config import Config, OperatorConfig
from contactcenter.core import events as ev
from contactcenter.core.commands import Command
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import OperatorState
from contactcenter.core.readmodel import Change, OperatorChanged, OperatorView, Snapshot
from contactcenter.store.callbacks import StoreError
from contactcenter.store.desks import DeskState, DeskStatus, SqliteDeskStore

log = logging.getLogger("contactcenter.desks")

HEARTBEAT_S: Final = 30.0
RETRY_S: Final = 2.0
# The pause of an operator whose call outlived the controller that connected it.
ON_CALL: Final = "call-in-progress"


def operator_channel_prefix(op: OperatorConfig) -> str:
    """How Asterisk names a channel of this operator's phone (one call at a time each)."""
    return f"PJSIP/{op.id}-" if op.endpoint == "pjsip" else f"Local/{op.id}@cc-sim-operator-"


_Standing = tuple[DeskStatus, str | None, tuple[tuple[str, int], ...]]


def _standing(desk: DeskState) -> _Standing:
    return desk.status, desk.reason, desk.skills


def desk_of(view: OperatorView, since: float) -> DeskState:
    """The standing an operator's view says they have (see the rules above)."""
    skills = tuple(sorted(view.skills.items()))
    status, reason = DeskStatus.READY, None
    if view.state is OperatorState.LOGGED_OUT or view.after_call == "log_out":
        status = DeskStatus.LOGGED_OUT
    elif view.state is OperatorState.PAUSED:
        status, reason = DeskStatus.PAUSED, view.reason or "break"
    elif view.after_call == "pause":
        status, reason = DeskStatus.PAUSED, view.after_call_reason or "break"
    return DeskState(operator_id=view.operator_id, status=status, reason=reason, skills=skills, since=since)


class DeskKeeper:
    """Writes operators' desks as they change; puts them back at start."""

    def __init__(
        self,
        cfg: Config,
        store: SqliteDeskStore | None,
        restore_within: float,
        snapshot: Callable[[], Snapshot],
        feed: Callable[[ev.Event], list[Command]],
        now: Callable[[], float],
        counters: Counter[str],
        wall: Callable[[], float] = time.time,
        hang_up: Callable[[str], None] = lambda channel: None,
    ) -> None:
        self.cfg, self.store, self.restore_within = cfg, store, restore_within
        self._snapshot, self._feed, self._now, self._wall = snapshot, feed, now, wall
        self._hang_up = hang_up  # (a channel's name: Asterisk hangs it up)
        self.counters = counters
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._kept: tuple[float | None, list[DeskState]] = (None, [])
        self.held: dict[str, str] = {}  # Uniqueid of a channel that outlived a restart -> operator
        self._written: dict[str, _Standing] = {}  # what the store has for each operator

    # --- the service ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and read what it keeps (StoreError if it cannot)."""
        if self.store is None:
            return
        await self.store.open()
        try:
            self._kept = await self.store.load()
        except BaseException:
            await self.store.close()
            raise
        self._written = {d.operator_id: _standing(d) for d in self._kept[1]}
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="desks")

    async def stop(self) -> None:
        if self.store is None:
            return
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._write()  # what changed since the last write (the shutdown's logouts)
        except StoreError as exc:
            log.error("operators' desks not written at stop: %s", exc)
        await self.store.close()

    async def _writer(self) -> None:
        while True:
            heartbeat = False
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    await self._wake.wait()
            except TimeoutError:
                heartbeat = True
            self._wake.clear()
            try:
                await self._write(heartbeat)
            except StoreError as exc:
                self.counters["desk_write_errors"] += 1
                log.warning("operators' desks not written (tried again in %.0f s): %s", RETRY_S, exc)
                await asyncio.sleep(RETRY_S)
                self._wake.set()

    async def _write(self, heartbeat: bool = True) -> None:
        """Write the desks of the operators heard of whose standing moved (a ring or a
        call moves a state, not a standing: nothing to write), and the time alive."""
        assert self.store is not None
        dirty, self._dirty = self._dirty, set()
        try:
            operators = self._snapshot().operators
            since = self._wall()
            desks = [
                desk
                for o in sorted(dirty)
                if o in operators and _standing(desk := desk_of(operators[o], since)) != self._written.get(o)
            ]
            if desks or heartbeat:
                await self.store.save(desks, alive_at=since)
        except BaseException:
            self._dirty |= dirty  # (written next time, with whatever changed meanwhile)
            raise
        self._written.update((d.operator_id, _standing(d)) for d in desks)
        self.counters["desks_written"] += len(desks)

    # --- the observer ---------------------------------------------------------------------

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        if self.store is None:
            return
        for change in changes:
            if isinstance(change, OperatorChanged):
                self._dirty.add(change.operator_id)
        if self._dirty:
            self._wake.set()

    def touch(self, operator_id: str) -> None:
        """A request was accepted for this operator (it may not have moved their state)."""
        if self.store is not None and any(op.id == operator_id for op in self.cfg.operators):
            self._dirty.add(operator_id)
            self._wake.set()

    # --- at start ---------------------------------------------------------------------------

    def restore(self, alive: Mapping[str, Mapping[str, Any]] | None) -> int:
        """Put every operator back as the store keeps them (see the rules); `alive`: the
        channels Asterisk has now, by Uniqueid (None: not known, nobody is held). Returns
        how many operators were put back from the store."""
        alive_at, kept = self._kept
        age = None if alive_at is None else self._wall() - alive_at
        by_id: dict[str, DeskState] = {}
        if age is not None and age <= self.restore_within:
            by_id = {d.operator_id: d for d in kept}
        elif age is not None:
            log.info(
                "operators' desks not restored: last kept %.0f s ago (restore_within %.0f s)",
                age,
                self.restore_within,
            )
        restored = 0
        for op in self.cfg.operators:
            desk = by_id.get(op.id)
            if desk is None:
                if op.endpoint != "sim":  # simulated operators are on shift from the start
                    continue
                skills = tuple(op.skills.items())
            else:
                restored += 1
                if desk.status is DeskStatus.LOGGED_OUT:
                    continue
                configured = tuple((s, level) for s, level in desk.skills if s in self.cfg.skills)
                skills = configured or tuple(op.skills.items())
            channels = self._channels_of(op, alive or {})
            on_a_call = alive is not None and bool(channels) and _with_someone(channels, alive)
            if channels and alive is not None and not on_a_call:
                self._orphaned(channels, alive)
            paused: str | None = None
            if desk is not None and desk.status is DeskStatus.PAUSED and desk.reason != ON_CALL:
                paused = desk.reason or "break"
            elif on_a_call:
                paused = ON_CALL
                self.held.update((uid, op.id) for uid in channels)
                self.counters["operators_held_on_call"] += 1
            # (Logged in and paused in one event: a callback or a call waiting already is not
            # offered to them between the two.)
            self._log_in(op, skills, paused)
        unknown = sorted(set(by_id) - {op.id for op in self.cfg.operators})
        if unknown:
            log.warning("desks kept for operators no longer configured, dropped: %s", ", ".join(unknown))
        if by_id:
            log.info(
                "operators' desks restored from %s (%.0f s old): %d, %d of them held on a call",
                self.store,
                age,
                restored,
                len(set(self.held.values())),
            )
        self._wake.set()
        return restored

    def _log_in(self, op: OperatorConfig, skills: tuple[tuple[str, int], ...], paused: str | None) -> None:
        login = ev.OperatorLoggedIn(
            now=self._now(), operator_id=op.id, skills=skills, languages=op.languages, paused=paused
        )
        self._feed(login)

    def _channels_of(self, op: OperatorConfig, alive: Mapping[str, Mapping[str, Any]]) -> list[str]:
        prefix = operator_channel_prefix(op)
        return [uid for uid, item in alive.items() if str(item.get("Channel", "")).startswith(prefix)]

    def hung_up(self, uniqueid: str) -> None:
        """A channel hung up: if it held an operator, they are ready now."""
        operator_id = self.held.pop(uniqueid, None)
        if operator_id is None:
            return
        for uid in [u for u, o in self.held.items() if o == operator_id]:
            del self.held[uid]  # (the other half of a Local channel, say)
        view = self._snapshot().operators.get(operator_id)
        if view is not None and view.state is OperatorState.PAUSED and view.reason == ON_CALL:
            self._feed(ev.OperatorResumed(now=self._now(), operator_id=operator_id))

    def recheck(self, alive: Mapping[str, Mapping[str, Any]]) -> None:
        """Against Asterisk's channels now: an operator held on channels it no longer has
        (their Hangup lost with a link, or come while the list was read at start) is ready;
        one whose channels have nobody else now is too, those channels hung up."""
        by_operator: dict[str, list[str]] = {}
        for uid, operator_id in self.held.items():
            by_operator.setdefault(operator_id, []).append(uid)
        for uids in by_operator.values():
            live = [u for u in uids if u in alive]
            if live and _with_someone(live, alive):
                continue
            if live:
                self._orphaned(live, alive)
            self.hung_up(uids[0])

    def _orphaned(self, channels: Sequence[str], alive: Mapping[str, Mapping[str, Any]]) -> None:
        for uid in channels:
            self._hang_up(str(alive[uid].get("Channel", "")))
            self.counters["orphan_legs_hung_up"] += 1
        log.info("an operator's leg with nobody on it after a restart: hung up (%s)", ", ".join(channels))


def _with_someone(channels: Sequence[str], alive: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether an operator's channels share a conference with another channel, or are a
    callback's operator leg whose citizen leg is still up (ringing: they meet when it answers)."""
    bridges = {str(alive[u].get("BridgeId") or "") for u in channels} - {""}
    mine = set(channels)
    if any(str(item.get("BridgeId") or "") in bridges for uid, item in alive.items() if uid not in mine):
        return True
    callbacks = {u.split("-o-")[0] for u in channels if u.startswith("cb-") and "-o-" in u}
    return any(uid.startswith(f"{cb}-c-") for cb in callbacks for uid in alive)
