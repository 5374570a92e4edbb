# The AMI link: panoramisk, with the gaps that matter for a contact centre closed.
# Rules (see DESIGN.md, "guard panoramisk's known gaps"):
# - Every header name and value is checked before it reaches the socket: no CR, LF or NUL
#   (panoramisk writes values unchanged, so a CR/LF would inject a second action).
# - Actions are never re-sent after a reconnect (a duplicate Originate would ring an
#   operator or a citizen twice): pending actions fail with AmiDisconnected instead.
# - Every action has a deadline (AmiTimeout); a watchdog pings and declares the link dead
#   after 3 missed pings, so a half-open TCP connection is noticed within 3 intervals.
# - On every (re)connection the owner is told once the login is accepted, so it can resync.
#   (Not on FullyBooted: that event is in the `system` class, which the controller's
#   least-privileged AMI user does not have.)
# - Reconnection is ours, not panoramisk's: attempts back off from 0.5 s to 10 s and every
#   failure is logged with host:port and why. At start, a link that never got a login in
#   `connect_timeout` s, or a refused login, is an AmiUnavailable (a UserError: the CLI
#   prints one line naming host:port and exits 2).
# - The controller talks to Asterisk through the AmiClient protocol, which AmiLink
#   implements; tests inject another implementation only to produce faults on demand.
# - Routing latency: the owner marks, in EVENT_READ (a context variable, so every task the
#   event's handling starts carries it), when it read the event; the first action such a
#   task writes observes perf_counter() - that mark, then clears it for that task. Cheap:
#   one ContextVar read per action.
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol

from panoramisk import Manager
from panoramisk.message import Message

from contactcenter.errors import UserError

log = logging.getLogger(__name__)

_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_FORBIDDEN = re.compile(r"[\r\n\0]")
MISSED_PINGS_LIMIT = 3
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0


class EventRead(NamedTuple):
    """When an AMI event was read (time.perf_counter), and where its latency goes."""

    at: float
    observe: Callable[[float], None]


EVENT_READ: ContextVar[EventRead | None] = ContextVar("cc_event_read", default=None)


def _observe_routing_latency() -> None:
    """An action is being written: if an event's handling caused it, time it (once per task)."""
    mark = EVENT_READ.get()
    if mark is not None:
        mark.observe(time.perf_counter() - mark.at)
        EVENT_READ.set(None)


class AmiError(Exception):
    pass


class AmiTimeout(AmiError):
    pass


class AmiDisconnected(AmiError):
    """No link: the action was not sent."""


class AmiLost(AmiDisconnected):
    """The action was sent, then the link was lost before its whole response came: Asterisk
    may or may not have carried it out (an Originate may be ringing, or answered)."""


class UnsafeHeader(AmiError, ValueError):
    """An action header that could corrupt the AMI stream; nothing was sent."""


class AmiUnavailable(AmiError, UserError):
    """Asterisk's AMI never accepted a login at start (down, wrong port or credentials)."""


class AmiClient(Protocol):
    """What the controller needs of an AMI session (AmiLink is the real one)."""

    @property
    def ready(self) -> bool: ...

    async def connect(self) -> None: ...

    def close(self) -> None: ...

    async def send(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Message | list[Message]: ...

    async def list_items(self, action: Mapping[str, object], item_event: str) -> list[Message]: ...


def check_action(action: Mapping[str, object]) -> dict[str, str | list[str]]:
    """Validate an action's headers; return a copy with string values."""
    if "Action" not in action:
        raise UnsafeHeader("an AMI action needs an Action header")
    out: dict[str, str | list[str]] = {}
    for name, value in action.items():
        if not _HEADER_NAME.match(name):
            raise UnsafeHeader(f"bad AMI header name {name!r}")
        values = value if isinstance(value, list | tuple) else [value]
        checked = []
        for v in values:
            s = str(v)
            if _FORBIDDEN.search(s):
                raise UnsafeHeader(f"AMI header {name} contains CR, LF or NUL: {s!r}")
            checked.append(s)
        out[name] = checked if isinstance(value, list | tuple) else checked[0]
    return out


class _Never:
    """panoramisk's `forgetable_actions`: every action is forgettable, so none is re-sent
    after a reconnect. (Its default re-sends unanswered actions: a duplicate Originate.)"""

    def __contains__(self, item: object) -> bool:
        return True


EventHandler = Callable[[Message], None]


class _Manager(Manager):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's Manager with its reconnect schedule handed to the link (backoff, logs
    that say where) and its login's outcome reported, accepted or refused."""

    pinger: asyncio.TimerHandle | None  # (panoramisk's, untyped)

    def __init__(self, link: AmiLink, **config: Any) -> None:
        super().__init__(**config)
        self._link = link

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled():
            return
        exc = f.exception()
        if exc is not None:  # refused, unreachable: panoramisk would retry every second, quietly
            self._link._connect_failed(exc)
            return
        super().connection_made(f)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self.loop.call_soon(self.on_disconnect, self, exc)
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None

    def login(self, future: asyncio.Future[Any]) -> bool:
        ok = bool(super().login(future))
        if not ok:
            self._link._login_refused()
        return ok


class AmiLink:
    """One AMI session to Asterisk that reconnects by itself."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        connect_timeout: float = 30.0,
        on_event: EventHandler,
        on_ready: Callable[[], Coroutine[Any, Any, None]] | None = None,
        on_lost: Callable[[], None] | None = None,
        counters: Counter[str] | None = None,
    ) -> None:
        self.host, self.port = host, port
        # Actions sent, by outcome (ami_actions_success|error|timeout|disconnected|lost).
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self._username, self._secret = username, secret
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.connect_timeout = connect_timeout
        self._on_event = on_event
        self._on_ready = on_ready
        self._on_lost = on_lost
        self._manager: Manager | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._refused = False
        self._backoff = RECONNECT_FIRST_S
        self._last_error = "no answer"
        self._retry: asyncio.TimerHandle | None = None
        self.reconnects = 0
        self.missed_pings = 0
        self.failed_attempts = 0

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def connect(self, timeout: float | None = None) -> None:
        """Connect and wait until the login is accepted (AmiUnavailable if it never is)."""
        loop = asyncio.get_running_loop()
        timeout = self.connect_timeout if timeout is None else timeout
        m = _Manager(
            self,
            loop=loop,
            host=self.host,
            port=self.port,
            username=self._username,
            secret=self._secret,
            ping_delay=10**9,  # panoramisk's pinger never checks replies: ours does
            forgetable_actions=_Never(),
            on_disconnect=self._disconnected,
            on_login=self._logged_in,
            log=logging.getLogger("contactcenter.panoramisk"),
        )
        m.register_event("*", self._dispatch)
        self._manager = m
        m.connect()
        try:
            async with asyncio.timeout(timeout):
                while not self._ready.is_set():
                    if self._refused:
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pass
        if not self._ready.is_set():
            self.close()
            if self._refused:
                raise AmiUnavailable(
                    f"AMI at {self.where} refused the login of user {self._username!r}"
                    " (check ami.username and ami.secret)"
                )
            raise AmiUnavailable(
                f"Asterisk's AMI at {self.where} did not answer in {timeout:g} s ({self._last_error});"
                " is Asterisk running? (`contactcenter sandbox up` starts the local one)"
            )
        self._watchdog = loop.create_task(self._watch(), name="ami-watchdog")

    def close(self) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._retry is not None:
            self._retry.cancel()
        self._fail_pending(AmiDisconnected("link closed"))
        if self._manager is not None:
            self._manager.close()
            # Stop panoramisk from scheduling a reconnect after our close.
            self._manager.connection_lost = lambda exc: None
        self._ready.clear()

    async def send(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Message | list[Message]:
        """Send one action and wait (with a deadline) for its complete response. With
        as_list=False the first response completes it, even for an async Originate: its
        OriginateResponse then reaches on_event like any other event."""
        headers = check_action(action)
        if not self.ready or self._manager is None:
            self.counters["ami_actions_disconnected"] += 1
            raise AmiDisconnected(f"AMI not connected; {headers['Action']} not sent")
        _observe_routing_latency()
        future = self._manager.send_action(headers, as_list=as_list)
        self._pending.add(future)
        outcome: str | None = None  # (an action its caller cancelled has no outcome of its own)
        try:
            # asyncio.timeout, not wait_for, which in Python 3.11 can swallow a cancellation
            # that comes with the response; shielded, so a deadline leaves the future ours.
            async with asyncio.timeout(self.action_timeout if timeout is None else timeout):
                resp: Message | list[Message] = await asyncio.shield(future)
            first = resp[0] if isinstance(resp, list) and resp else resp
            answered = isinstance(first, Message) and first.get("Response") == "Success"
            outcome = "success" if answered else "error"
            return resp
        except TimeoutError:
            outcome = "timeout"
            raise AmiTimeout(f"{headers['Action']}: no response in time") from None
        except AmiLost:
            outcome = "lost"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            if outcome is not None:
                self.counters[f"ami_actions_{outcome}"] += 1
            self._pending.discard(future)
            if not future.done():
                future.cancel()

    async def list_items(self, action: Mapping[str, object], item_event: str) -> list[Message]:
        """Run a list action (e.g. CoreShowChannels); return its items, checking ListItems."""
        resp = await self.send(action)
        messages = resp if isinstance(resp, list) else [resp]
        items = [m for m in messages if m.get("Event") == item_event]
        done = [m for m in messages if str(m.get("Event", "")).endswith("Complete")]
        if done and done[-1].get("ListItems") not in (None, str(len(items))):
            raise AmiError(
                f"{action['Action']}: {len(items)} items received, {done[-1]['ListItems']} announced"
            )
        return items

    # --- panoramisk callbacks -----------------------------------------------------------

    def _logged_in(self, manager: Manager) -> None:
        self._backoff = RECONNECT_FIRST_S
        if not self._ready.is_set():
            self._ready.set()
            if self._on_ready is not None:
                asyncio.get_running_loop().create_task(self._on_ready())

    def _dispatch(self, manager: Manager, message: Message) -> None:
        name = message.get("Event")
        if name == "FullyBooted":
            return  # readiness comes from the login (see the module's rules)
        try:
            self._on_event(message)
        except Exception:  # a bug in a handler must not take the link down
            log.exception("AMI event handler failed on %s", name)

    def _disconnected(self, manager: Manager, exc: object) -> None:
        if self._ready.is_set():
            self.reconnects += 1
        self._ready.clear()
        self._fail_pending(AmiLost("AMI connection lost"))
        if not self._closing:
            log.warning("AMI connection to %s lost; reconnecting", self.where)
            if self._on_lost is not None:
                self._on_lost()
            delay = self._backoff
            self._backoff = min(self._backoff * 2, RECONNECT_MAX_S)
            self._schedule_connect(delay)

    def _connect_failed(self, exc: BaseException) -> None:
        self.failed_attempts += 1
        self._last_error = str(exc) or type(exc).__name__
        if self._closing:
            return
        delay = self._backoff
        self._backoff = min(self._backoff * 2, RECONNECT_MAX_S)
        log.warning(
            "AMI at %s: cannot connect (%s); next attempt in %g s", self.where, self._last_error, delay
        )
        self._schedule_connect(delay)

    def _login_refused(self) -> None:
        self._refused = True
        self._last_error = "login refused"
        log.error("AMI at %s refused the login of user %r", self.where, self._username)

    def _schedule_connect(self, delay: float) -> None:
        if self._closing or self._manager is None:
            return
        if self._retry is not None:
            self._retry.cancel()
        self._retry = asyncio.get_running_loop().call_later(delay, self._manager.connect)

    def _fail_pending(self, exc: Exception) -> None:
        for future in list(self._pending):
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        if self._manager is not None:
            # panoramisk keeps its own list for re-sending; make sure it stays empty.
            self._manager.awaiting_actions.clear()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if not self.ready:
                continue
            try:
                await self.send({"Action": "Ping"}, timeout=self.ping_interval)
                self.missed_pings = 0
            except AmiError:
                self.missed_pings += 1
                log.warning("AMI ping missed (%d in a row)", self.missed_pings)
                if self.missed_pings >= MISSED_PINGS_LIMIT:
                    self.missed_pings = 0
                    self._drop_transport()

    def _drop_transport(self) -> None:
        """Declare a half-open link dead: abort the socket; panoramisk reconnects."""
        log.error("AMI link declared dead after %d missed pings", MISSED_PINGS_LIMIT)
        m = self._manager
        if m is not None and m.protocol is not None:
            with contextlib.suppress(Exception):
                m.protocol.transport.abort()
