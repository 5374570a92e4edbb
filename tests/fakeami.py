# An in-memory AMI session, for tests whose subject is the controller's own logic under
# faults a real Asterisk cannot produce on demand (two events in one read, in either order;
# an action that never gets an answer). It records every action the controller sends and
# answers with what a test scripted (by default Asterisk's usual "Success"). Tests of the
# controller against Asterisk itself use the real sandbox (tests/integration).
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk.message import Message

from contactcenter.adapters.ami import AmiDisconnected, AmiError, check_action, observe_routing_latency


def ami(text: str) -> Message:
    """One AMI frame from its text (headers one per line), parsed by panoramisk's parser."""
    msg = Message.from_line(text.strip().replace("\n", "\r\n"))
    assert msg is not None
    return msg


class FakeAmi:
    def __init__(self, on_event: Callable[[Message], None], on_ready: Callable[[], Any]) -> None:
        self.on_event, self.on_ready = on_event, on_ready
        self.sent: list[dict[str, Any]] = []
        self.ready = False
        self.pending_actions = 0  # (its answers come at once: nothing is ever left pending)
        # Action name -> what to do with it: a Message to answer, an exception to raise, or
        # "hang" (no answer ever: the caller's deadline decides), or "gate" (the usual answer
        # once the `gate` event is set).
        self.script: dict[str, Any] = {}
        self.gate = asyncio.Event()
        self.channels: list[Message] = []  # what CoreShowChannels lists (its items)

    async def connect(self) -> None:
        self.ready = True
        await self.on_ready()

    def close(self) -> None:
        self.ready = False

    def write(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Awaitable[Message | list[Message]]:
        """As the real link's: recorded in `sent` now, answered when awaited."""
        try:
            headers = check_action(action)  # the real link's header checks apply here too
        except AmiError as exc:
            return self._raise(exc)
        if not self.ready:
            return self._raise(AmiDisconnected("fake link down"))
        observe_routing_latency()  # (the controller's latency figures, as the real link's)
        self.sent.append(dict(headers))
        return self._answer(str(headers["Action"]))

    async def send(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Message | list[Message]:
        return await self.write(action, timeout=timeout, as_list=as_list)

    @staticmethod
    async def _raise(exc: AmiError) -> Message:
        raise exc

    async def _answer(self, name: str) -> Message | list[Message]:
        what = self.script.get(name)
        if isinstance(what, BaseException):
            raise what
        if what == "hang":
            await asyncio.sleep(3600)
        if what == "gate":
            await self.gate.wait()
        if isinstance(what, Message):
            return what
        return ami("Response: Success\nMessage: ok")

    async def list_items(self, action: Mapping[str, object], item_event: str) -> list[Message]:
        self.sent.append(dict(check_action(action)))
        return list(self.channels) if action.get("Action") == "CoreShowChannels" else []

    def actions(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.sent if a["Action"] == name]

    def deliver(self, *texts: str) -> None:
        """Events as Asterisk sends them, several in one read: no await between them."""
        for text in texts:
            self.on_event(ami(text))
