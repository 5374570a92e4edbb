# An observer AMI session for tests: records every event Asterisk sends (the sandbox's
# observer user sees all call events) and lets a test wait for one that matches.
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from panoramisk.message import Message

from contactcenter.adapters.ami import AmiError, AmiLink
from contactcenter.sandbox import SandboxState
from contactcenter.sim.sipp import SippCall

Event = dict[str, Any]
RECORDED_AT = "_recorded_at"  # the event loop's time when an event was recorded


class AmiRecorder:
    def __init__(self, state: SandboxState) -> None:
        self.events: list[Event] = []
        self._channels: dict[int, str] = {}  # id(SippCall) -> its citizen's channel
        self._changed = asyncio.Condition()
        self.link = AmiLink(
            host=state.ami_host,
            port=state.ami_port,
            username=state.observer_username,
            secret=state.observer_secret,
            on_event=self._record,
        )

    async def connect(self) -> None:
        await self.link.connect()

    def close(self) -> None:
        self.link.close()

    def _record(self, message: Message) -> None:
        event = {k: v for k, v in message.items() if k != "content"}
        event[RECORDED_AT] = asyncio.get_running_loop().time()  # (not an AMI header: no capital)
        self.events.append(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def find(self, predicate: Callable[[Event], bool]) -> list[Event]:
        return [e for e in self.events if predicate(e)]

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        timeout: float,
        what: str,
        gone: Callable[[], str | None] = lambda: None,
    ) -> Event:
        """The first recorded event matching `predicate`, waiting up to `timeout` s for it;
        `gone` says why it can no longer come (checked twice a second), failing at once."""

        def first() -> Event | None:
            return next((e for e in self.events if predicate(e)), None)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (found := first()) is None:
            if (why := gone()) is not None:
                raise AssertionError(f"no AMI event: {what}: {why}")
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no AMI event within {timeout} s: {what}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.5)):
                    async with self._changed:
                        await self._changed.wait_for(lambda: first() is not None)
        return found

    async def channel_of(self, call: SippCall, timeout: float = 15) -> str:
        """The Asterisk channel of the citizen of SIPp call `call` (from its CcArrived; a
        caller who calls again is a new channel, not the one their first call had)."""
        known = self._channels.get(id(call))
        if known is not None:
            return known
        # Only what arrived once this SIPp ran: a caller who calls again from the same
        # number has a new channel (the first call's CcArrived is in the record too).
        since = call.started_at if call.started_at is not None else 0.0

        def gone() -> str | None:
            if call.running:
                return None
            assert call.process is not None
            return f"SIPp exited ({call.process.returncode}): {call.errors() or 'no errors logged'}"

        e = await self.wait_for(
            lambda e: (
                e.get("UserEvent") == "CcArrived"
                and e.get("CallerIDNum") == call.caller
                and e[RECORDED_AT] >= since
            ),
            timeout,
            f"CcArrived from {call.caller}",
            gone,
        )
        self._channels[id(call)] = channel = str(e["Channel"])
        return channel

    async def bridged_with(self, channel: str, timeout: float) -> tuple[Event, Event]:
        """(caller's BridgeEnter, the other leg's BridgeEnter) for `channel`."""
        mine = await self.wait_for(
            lambda e: e.get("Event") == "BridgeEnter" and e.get("Channel") == channel,
            timeout,
            f"BridgeEnter of {channel}",
        )
        bridge = mine["BridgeUniqueid"]
        other = await self.wait_for(
            lambda e: (
                e.get("Event") == "BridgeEnter"
                and e.get("BridgeUniqueid") == bridge
                and e.get("Channel") != channel
            ),
            5,
            f"the other leg entering bridge {bridge}",
        )
        return mine, other

    async def simulated_citizen(self, digits: str = "11", stay_s: int = 600) -> None:
        """Place a call from a simulated citizen (a Local channel into the 010 line) who keys
        `digits` (one IVR choice each; "11": Catalan, information) and stays `stay_s` s."""
        await self.link.send(
            {
                "Action": "Originate",
                "Channel": "Local/s@cc-inbound/n",
                "Context": "cc-sim-citizen",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "Variable": [f"CC_DIGITS={digits}", f"CC_STAY={stay_s}"],
            },
            timeout=10,
        )

    async def hangup_everything(self) -> None:
        """Leave the sandbox with no channels for the next test."""
        items = await self.link.list_items({"Action": "CoreShowChannels"}, "CoreShowChannel")
        for item in items:
            with contextlib.suppress(AmiError):  # the channel may have gone already
                await self.link.send({"Action": "Hangup", "Channel": item["Channel"]})
