# The AMI link: panoramisk, with the gaps that matter for a contact centre closed.
# Rules (see DESIGN.md, "guard panoramisk's known gaps"):
# - Every header name and value is checked before it reaches the socket: no CR, LF or NUL
#   (panoramisk writes values unchanged, so a CR/LF would inject a second action). A name is
#   a whole token (a trailing newline does not pass) given once (panoramisk's headers are
#   case-insensitive: a second "action" would silently replace "Action"); Action, ActionID
#   and CommandID take one value, not a list (panoramisk keys its pending actions by them),
#   and an ActionID is neither empty nor starts with a blank (Asterisk echoes it without its
#   leading blanks, and not at all if empty: its answer would never be matched);
#   a value is text UTF-8 can write (a lone surrogate fails in panoramisk's write, and the
#   action would hang until its deadline). A refusal names the header and the character's
#   place, never the value (a caller's number, a secret).
# - The reader never raises (an exception out of data_received makes asyncio drop the
#   link): bytes are decoded incrementally (a UTF-8 character split across two reads is
#   kept whole; bad UTF-8 becomes U+FFFD), and a frame that is not one (neither Event nor
#   Response), gives a header panoramisk reads as a string twice (Event, Response,
#   ActionID, CommandID, Message: it would raise on the list), or is a Response to no
#   action of ours, is dropped, logged (reason and size, never its text) and counted in
#   the owner's counters as dropped_ami_<reason>, beside the translator's dropped_<reason>.
#   A frame past MAX_FRAME_CHARS is dropped as oversized without being buffered whole (a
#   peer that never ends a frame cannot grow our memory). Every drop is counted; the log
#   gets one line per reason per DROP_LOG_INTERVAL_S, with the count of those not logged.
#   Actions are ours (_Action), so an answer cannot poison one (panoramisk's raised on a
#   "successfully queued" to an action without Async). Should a frame still fail to be
#   handled, it is dropped as reader_error and the action it answers ends with AmiError now,
#   not at its deadline. (The fuzz tests, tests/adapters/test_ami_fuzz.py, require none.)
# - Actions are never re-sent after a reconnect (a duplicate Originate would ring an
#   operator or a citizen twice): pending actions fail with AmiDisconnected instead.
# - Every action has a deadline (AmiTimeout); a watchdog pings and declares the link dead
#   after 3 missed pings, so a half-open TCP connection is noticed within 3 intervals. An
#   action that ends unanswered (deadline, cancelled) leaves panoramisk's pending table; its
#   late answer, if one comes, is a stray_response.
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
#   event's handling starts carries it), when it read the event; the first action written
#   in that context (the handling itself, or a task it started) observes
#   perf_counter() - that mark, then clears it there. Cheap: one ContextVar read per action.
# - `write` puts an action on the wire before it returns and hands back its response to
#   await: a caller pipelines several (Asterisk carries out one session's actions in the
#   order it reads them) instead of waiting a round trip between them.
from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol

from panoramisk import Manager, actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from contactcenter.errors import UserError

log = logging.getLogger(__name__)

_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # (fullmatch: `$` would let "Name\n" pass)
_FORBIDDEN = re.compile(r"[\r\n\0]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # not text: UTF-8 cannot write it
_CHARACTER_NAMES = {"\r": "CR", "\n": "LF", "\0": "NUL"}
# Headers panoramisk keys its table of pending actions by, or reads as a string: a list there
# raises inside panoramisk's send (unhashable), after the action was half set up.
_ONE_VALUE = frozenset({"action", "actionid", "commandid"})
MISSED_PINGS_LIMIT = 3
RECONNECT_FIRST_S = 0.5
# Asterisk is on this machine: an attempt costs a SYN and an RST, and a restarted Asterisk
# must be heard again within seconds of answering (resync within 10 s of it: issue 12).
RECONNECT_MAX_S = 2.0


class EventRead(NamedTuple):
    """When an AMI event was read (time.perf_counter), and where its latency goes."""

    at: float
    observe: Callable[[float], None]


EVENT_READ: ContextVar[EventRead | None] = ContextVar("cc_event_read", default=None)


def observe_routing_latency() -> None:
    """An action is being written: if an event's handling caused it, time it (once per task)."""
    mark = EVENT_READ.get()
    if mark is not None:
        mark.observe(time.perf_counter() - mark.at)
        EVENT_READ.set(None)


class AmiError(Exception):
    pass


async def _not_written(exc: AmiError) -> Message | list[Message]:
    """The response of an action refused before it was written."""
    raise exc


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

    @property
    def pending_actions(self) -> int: ...

    async def connect(self) -> None: ...

    def close(self) -> None: ...

    def write(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Awaitable[Message | list[Message]]: ...

    async def send(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Message | list[Message]: ...

    async def list_items(self, action: Mapping[str, object], item_event: str) -> list[Message]: ...


def check_action(action: Mapping[str, object]) -> dict[str, str | list[str]]:
    """Validate an action's headers; return a copy with string values (UnsafeHeader if any
    could corrupt the stream: nothing of it is then written)."""
    if "Action" not in action:
        raise UnsafeHeader("an AMI action needs an Action header")
    out: dict[str, str | list[str]] = {}
    seen: set[str] = set()
    for name, value in action.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise UnsafeHeader(f"bad AMI header name {name!r}")
        if name.lower() in seen:
            raise UnsafeHeader(f"AMI header {name} given twice (header names are case-insensitive)")
        seen.add(name.lower())
        if name.lower() in _ONE_VALUE and isinstance(value, list | tuple):
            raise UnsafeHeader(f"AMI header {name} takes one value, not a list")
        if name.lower() == "actionid" and str(value)[:1] in ("", " ", "\t"):
            raise UnsafeHeader(
                "AMI header ActionID is empty or starts with a blank (its answer would not match)"
            )
        values = value if isinstance(value, list | tuple) else [value]
        checked = []
        for v in values:
            s = str(v)
            bad = _FORBIDDEN.search(s)
            if bad is not None:
                raise UnsafeHeader(
                    f"AMI header {name} contains {_CHARACTER_NAMES[bad.group()]} at character"
                    f" {bad.start() + 1} of {len(s)}"
                )
            bad = _SURROGATE.search(s)
            if bad is not None:
                raise UnsafeHeader(
                    f"AMI header {name} is not text (a lone surrogate at character"
                    f" {bad.start() + 1} of {len(s)})"
                )
            checked.append(s)
        out[name] = checked if isinstance(value, list | tuple) else checked[0]
    return out


class _Never:
    """panoramisk's `forgetable_actions`: every action is forgettable, so none is re-sent
    after a reconnect. (Its default re-sends unanswered actions: a duplicate Originate.)"""

    def __contains__(self, item: object) -> bool:
        return True


EventHandler = Callable[[Message], None]

FRAME_END = "\r\n\r\n"  # an AMI frame's headers end with a blank line
# A frame longer than this is no frame of Asterisk's (its longest, a Command's output or a
# long list item, are kilobytes): what is buffered is dropped, then everything up to the
# next FRAME_END, so a peer that never ends a frame cannot grow our memory without bound.
MAX_FRAME_CHARS = 4 * 1024 * 1024
# Dropped frames are logged once per reason in this many seconds (with the count of those
# not logged since): a peer that floods bad frames must not flood the log.
DROP_LOG_INTERVAL_S = 10.0
BANNER = "Asterisk Call Manager/"  # the line Asterisk greets with, before any frame
# The headers panoramisk reads as strings to match a frame to its action and to dispatch it
# (given twice, panoramisk's parser makes them a list, and str methods raise on it).
_SINGLE_HEADERS = frozenset({"event", "response", "actionid", "commandid", "message"})


def _repeats_a_single_header(message: Message) -> bool:
    # (Its store read directly, {lowercase name: (name, value)}: five lookups through
    # Mapping.get cost 2.5 us an event, this 0.4.)
    return any(
        type(value) is list and key in _SINGLE_HEADERS for key, (_name, value) in message._store.items()
    )


class _AnswerMixin:
    """panoramisk's Action.multi reads the action's Async header as self['async'], so an
    answer that says "successfully queued" to an action without one raised KeyError inside
    the reader, and the action, poisoned by it, never completed. Unset counts as not "false",
    as panoramisk means it."""

    @property
    def multi(self) -> bool:
        try:
            return bool(super().multi)  # type: ignore[misc]  # (panoramisk's, untyped)
        except KeyError:
            return True


class _Action(_AnswerMixin, actions.Action):  # type: ignore[misc]  # panoramisk is untyped
    pass


class _Command(_AnswerMixin, actions.Command):  # type: ignore[misc]
    pass


def _action(headers: dict[str, str | list[str]], as_list: bool | None) -> _Action | _Command:
    """The action as panoramisk's protocol would build it (a Command if it has one), ours."""
    return (_Command if "Command" in headers else _Action)(headers, as_list=as_list)


class _Protocol(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's AMI protocol with a reader that never raises (see the module's rules)."""

    def __init__(self, link: AmiLink) -> None:
        super().__init__()
        self._link = link
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: list[str] = []  # what came since the last frame's end, not yet a frame
        self._tail = ""  # its last 3 characters: a FRAME_END may span two reads
        self._buffered = 0  # characters in _pieces
        self._oversized = False  # skipping the rest of a frame past MAX_FRAME_CHARS
        self._greeted = False  # the banner line was handled (or never came)
        self._drop_logged: dict[str, float] = {}  # reason -> when a drop was last logged
        self._drops_unlogged: Counter[str] = Counter()

    def data_received(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if not text:
            return
        # Joined only once a frame is complete: a 1 MB header that comes in small reads is
        # not copied again at every read.
        seam = self._tail + text
        self._pieces.append(text)
        self._buffered += len(text)
        self._tail = seam[-3:]
        if not self._greeted and not self._greet():
            return
        if FRAME_END not in seam:
            if self._buffered > MAX_FRAME_CHARS:
                self._skip_oversized()
            return
        *frames, rest = "".join(self._pieces).split(FRAME_END)
        self._pieces = [rest] if rest else []
        self._buffered = len(rest)
        self._tail = rest[-3:]
        if self._oversized:  # (the first piece is the end of the frame being skipped)
            self._oversized = False
            frames = frames[1:]
        for frame in frames:
            self._frame(frame)
        if self._buffered > MAX_FRAME_CHARS:
            self._skip_oversized()

    def _skip_oversized(self) -> None:
        if not self._oversized:
            self._oversized = True
            self._drop("oversized", "", size=self._buffered)
        # Only the last 3 characters are kept: the frame's end may span this read and the next.
        self._pieces = [self._tail]
        self._buffered = len(self._tail)

    def _greet(self) -> bool:
        """Take Asterisk's banner line off the stream; False until there is enough to tell."""
        buffered = "".join(self._pieces)
        if BANNER.startswith(buffered[: len(BANNER)]) and "\r\n" not in buffered:
            return False  # (a banner's start, or nothing yet)
        self._greeted = True
        line, eol, rest = buffered.partition("\r\n")
        if eol and line.startswith(BANNER):
            self.version = line.removeprefix(BANNER).strip()
            log.info("AMI protocol version %s", self.version)
            self._pieces = [rest] if rest else []
            self._buffered = len(rest)
            self._tail = rest[-3:] if rest else ""
        return True

    def _frame(self, text: str) -> None:
        frame = text.strip()  # (Asterisk sometimes sends a lone EOL between frames)
        if not frame:
            return  # blank lines are not frames
        message = None
        try:
            message = Message.from_line(frame)
            if message is None:
                self._drop("unparsable", frame)
            elif _repeats_a_single_header(message):
                self._drop("duplicate_header", frame)
            elif "event" not in message and self._action_for(message) is None:
                self._drop("stray_response", frame)
            else:
                self.handle_message(message)
        except Exception:  # a bug here or in panoramisk must not take the link down
            log.exception("AMI frame of %d characters could not be handled", len(frame))
            self._drop("reader_error", frame)
            if message is not None:
                self._fail_action(message)

    def _fail_action(self, message: Message) -> None:
        """The action a frame that could not be handled answers (half taken in by it, it may
        never complete) ends with an AmiError, now, rather than at its deadline."""
        with contextlib.suppress(Exception):
            action: Any = self._action_for(message)
            if action is None:
                return
            for key in [k for k, a in self.responses.items() if a is action]:
                del self.responses[key]
            if not action.future.done():
                action.future.set_exception(AmiError(f"{action['Action']}: a malformed response"))

    def _action_for(self, message: Message) -> object:
        """The pending action a frame answers (panoramisk's own matching), or None."""
        action = self.responses.get(message.id)
        if action is None and message.action_id:
            action = self.responses.get(message.action_id)
        return action

    def _drop(self, reason: str, frame: str, *, size: int | None = None) -> None:
        self._link.counters[f"dropped_ami_{reason}"] += 1
        now = time.monotonic()
        last = self._drop_logged.get(reason)
        if last is not None and now - last < DROP_LOG_INTERVAL_S:
            self._drops_unlogged[reason] += 1
            return
        self._drop_logged[reason] = now
        more = self._drops_unlogged.pop(reason, 0)
        log.warning(
            "AMI frame dropped (%s, %d characters)%s",
            reason,
            len(frame) if size is None else size,
            f"; {more} more dropped for that reason since the last such line" if more else "",
        )


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
    def pending_actions(self) -> int:
        """Actions written and not yet answered, failed or timed out (0 when idle)."""
        return len(self._pending)

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
            protocol_factory=lambda: _Protocol(self),
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

    def write(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Awaitable[Message | list[Message]]:
        """Write one action now, before returning, and return its complete response to await
        (once; its deadline runs from now). It never raises: an action refused before it was
        written (UnsafeHeader, AmiDisconnected) raises when its response is awaited. Actions
        written one after another reach Asterisk in that order, and Asterisk carries out a
        session's actions in the order it reads them (manager.c: one thread per session), so
        a caller may write several before awaiting any. With as_list=False the first
        response completes it, even for an async Originate: its OriginateResponse then
        reaches on_event like any other event."""
        try:
            headers = check_action(action)
        except UnsafeHeader as exc:
            return _not_written(exc)
        if not self.ready or self._manager is None:
            self.counters["ami_actions_disconnected"] += 1
            return _not_written(AmiDisconnected(f"AMI not connected; {headers['Action']} not sent"))
        observe_routing_latency()
        future = self._manager.send_action(_action(headers, as_list), as_list=as_list)
        self._pending.add(future)
        deadline = asyncio.get_running_loop().time() + (self.action_timeout if timeout is None else timeout)
        return self._response(future, str(headers["Action"]), deadline)

    async def send(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Message | list[Message]:
        """Write one action and wait (with a deadline) for its complete response."""
        return await self.write(action, timeout=timeout, as_list=as_list)

    async def _response(
        self, future: asyncio.Future[Any], name: str, deadline: float
    ) -> Message | list[Message]:
        outcome: str | None = None  # (an action its caller cancelled has no outcome of its own)
        try:
            # asyncio.timeout, not wait_for, which in Python 3.11 can swallow a cancellation
            # that comes with the response; shielded, so a deadline leaves the future ours.
            async with asyncio.timeout_at(deadline):
                resp: Message | list[Message] = await asyncio.shield(future)
            first = resp[0] if isinstance(resp, list) and resp else resp
            answered = isinstance(first, Message) and first.get("Response") == "Success"
            outcome = "success" if answered else "error"
            return resp
        except TimeoutError:
            outcome = "timeout"
            raise AmiTimeout(f"{name}: no response in time") from None
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
                self._forget(future)

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

    def _forget(self, future: asyncio.Future[Any]) -> None:
        """Take an action that ended unanswered out of panoramisk's table, which keeps it until
        a response completes it: a late one cannot (its future is done), so it stayed for ever."""
        protocol = self._manager.protocol if self._manager is not None else None
        if protocol is None:
            return
        for key, action in list(protocol.responses.items()):
            if action.future is future:
                del protocol.responses[key]

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
