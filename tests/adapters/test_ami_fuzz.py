# The AMI link under bad input, fuzzed (issue 12). Rules these tests keep:
# - The reader is fed through its real entry point: panoramisk's protocol `data_received`, as
#   our AmiLink builds it (its _Manager, its reader), either over an in-memory wire that
#   behaves as asyncio's socket transport does (an exception out of data_received goes to the
#   loop's exception handler and drops the link), so Hypothesis can split the bytes anywhere,
#   or over loopback TCP against a small fake Asterisk, for the hand-written cases.
# - What the reader must do, derived from the bytes fed: nothing reaches the loop's exception
#   handler, the link stays up (no reconnect) and a following valid Response still resolves
#   its action; every frame (text between blank lines) is accounted for once, as an event
#   dispatched (handed on to the owner unless FullyBooted) or a dropped_ami_* count; valid
#   frames come out whole whatever the splits.
# - The writer: an action either is refused (UnsafeHeader) before a byte is written, or is
#   written as well-formed header lines ending with exactly one blank line, no NUL, CR and LF
#   only as line ends, and every header given reads back unchanged.
# - Nothing is printed; the Asterisk sandbox is not used (that is tests/integration's).
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from contactcenter.adapters import ami as ami_module
from contactcenter.adapters.ami import (
    BANNER,
    FRAME_END,
    AmiLink,
    AmiTimeout,
    UnsafeHeader,
    _action,
    check_action,
)
from contactcenter.config import Config
from contactcenter.controller import Controller
from tests.polling import until

GREETING = f"{BANNER}9.0.0\r\n".encode()
DROPPED = "dropped_ami_"
WRITER_EXAMPLES = 100_000
# Events the link does not hand on: Shutdown drops it (Asterisk is stopping), FullyBooted is
# not how readiness is told (see ami.py's rules).
_LINK_EVENTS = frozenset({"shutdown", "fullybooted"})
_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9_-]*: [^\r\n\0]*")


# --- an in-memory wire --------------------------------------------------------------------


class Wire(asyncio.Transport):
    """The controller's end of a socket to a fake Asterisk, in memory: records what is
    written, answers every action with Success (unless `answering` is off), and hands the
    bytes a test feeds to the protocol as asyncio's selector transport does."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.loop, self.protocol = loop, protocol
        self.written: list[bytes] = []
        self.answering = True
        self.closed = False
        self._unread = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))
        self._unread += bytes(data)
        *actions, self._unread = self._unread.split(FRAME_END.encode())
        for action in actions:
            if self.answering:
                self.loop.call_soon(self.feed, answer(action))

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # (what asyncio's _SelectorTransport does)
            self.loop.call_exception_handler(
                {"message": "Fatal error: protocol.data_received() call failed.", "exception": exc}
            )
            self.abort()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def answer(action: bytes) -> bytes:
    """Asterisk's answer to one action (a Success, echoing its ActionID)."""
    headers = {}
    for line in action.split(b"\r\n"):
        name, _colon, value = line.partition(b": ")
        headers[name.lower()] = value
    message = b"Authentication accepted" if headers.get(b"action") == b"Login" else b"ok"
    # (As Asterisk echoes it: without its leading blanks, and not at all if empty.)
    ident = headers.get(b"actionid", b"").lstrip(b" \t")
    echo = b"ActionID: " + ident + b"\r\n" if ident else b""
    return b"Response: Success\r\n" + echo + b"Message: " + message + b"\r\n\r\n"


@dataclasses.dataclass(repr=False)  # (its lists grow long: a failing example prints it)
class Rig:
    """An AmiLink logged in over a Wire, on an event loop of its own that the Hypothesis
    tests drive one example at a time."""

    loop: asyncio.AbstractEventLoop
    link: AmiLink
    wires: list[Wire]
    events: list[Message]  # what the link handed on to its owner
    dispatched: list[Message]  # every event panoramisk dispatched (FullyBooted too)
    loop_errors: list[dict[str, Any]]

    @property
    def wire(self) -> Wire:
        return self.wires[-1]

    @property
    def pending(self) -> dict[object, object]:
        """panoramisk's table of actions waiting for their response."""
        manager = self.link._manager
        assert manager is not None
        table: dict[object, object] = manager.protocol.responses
        return table

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def dropped(self) -> int:
        return sum(n for name, n in self.link.counters.items() if name.startswith(DROPPED))

    def assert_healthy(self) -> None:
        """Nothing reached the loop's exception handler, and the link is still the first one."""
        if self.loop_errors:
            exc = self.loop_errors[0].get("exception")
            raise AssertionError(f"the event loop's exception handler saw {self.loop_errors}") from exc
        assert self.link.ready and len(self.wires) == 1 and not self.wire.closed
        # (A frame the reader could not handle is a bug of ours or panoramisk's: none.)
        assert self.link.counters["dropped_ami_reader_error"] == 0
        assert not self.pending, "panoramisk's pending-action table did not return to zero"


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    wires: list[Wire] = []

    async def create_connection(factory: Any, host: str, port: int, **_kw: Any) -> tuple[Wire, Any]:
        protocol = factory()
        wire = Wire(loop, protocol)
        wires.append(wire)
        protocol.connection_made(wire)
        loop.call_soon(wire.feed, GREETING)
        return wire, protocol

    loop.create_connection = create_connection  # type: ignore[method-assign]
    events: list[Message] = []
    link = AmiLink(
        host="fake-asterisk",
        port=5038,
        username="contactcenter",
        secret="not-a-secret",
        action_timeout=5,
        ping_interval=3600,  # (no watchdog pings between a test's own actions)
        on_event=events.append,
    )
    loop.run_until_complete(link.connect(timeout=5))
    dispatched: list[Message] = []
    assert link._manager is not None
    link._manager.register_event("*", lambda _manager, message: dispatched.append(message))
    yield Rig(loop, link, wires, events, dispatched, loop_errors)
    link.close()
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()


# --- the reader -------------------------------------------------------------------------


def frames_in(stream: bytes) -> int:
    """How many frames a byte stream holds: its text between blank lines, blank ones aside."""
    text = stream.decode("utf-8", "replace")
    return sum(1 for piece in text.split(FRAME_END) if piece.strip())


def split_at(blob: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(blob) + 1) for c in cuts), len(blob)]
    return [blob[a:b] for a, b in itertools.pairwise(bounds)]


_KNOWN_NAMES = [
    "Event",
    "Response",
    "ActionID",
    "CommandID",
    "Message",
    "Uniqueid",
    "Channel",
    "UserEvent",
    "CallerIDNum",
    "EventList",
    "ListItems",
    "SubEvent",
    "Reason",
    "Privilege",
    "Output",
    "Result",
]
_KNOWN_VALUES = [
    "Success",
    "Error",
    "Follows",
    "Fail",
    "Hangup",
    "HangupRequest",
    "OriginateResponse",
    "UserEvent",
    "CcArrived",
    "CcQueued",
    "CcCallbackChoice",
    "CoreShowChannelsComplete",
    "start",
    "Complete",
    "Channels will follow",
    "Originate successfully queued",
    "%ZZ%",
    "",
    "PENDING-ACTION",  # (the id of the action waiting, where a test puts it in)
]
_any_text = st.text(st.characters(codec="utf-8"), max_size=20)
_names = st.one_of(
    st.sampled_from(_KNOWN_NAMES), st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True)
)
_values = st.one_of(
    st.sampled_from(_KNOWN_VALUES),
    _any_text,
    st.integers(0, 1 << 12).map("x".__mul__),  # long values (1 MB: a hand-written case)
)


def says_shutdown(stream: bytes) -> bool:
    """Whether a frame of the stream could be Asterisk's Shutdown (after which the link is
    rightly dropped and made again: not what the reader's fuzzing is about)."""
    for frame in stream.decode("utf-8", "replace").split(FRAME_END):
        for line in frame.strip().split("\r\n"):
            name, colon, value = line.partition(": ")
            if colon and name.lower() == "event" and value.lower() == "shutdown":
                return True
    return False


_lines = st.one_of(
    st.builds(lambda name, value: f"{name}: {value}", _names, _values),
    _any_text,  # no colon, or anything
    st.sampled_from(["\r", "\n", "\n\n", "\r\r\r", ":", ": ", "Event:", "Event: ", "ActionID: "]),
)
_frames = st.builds(
    lambda lines, eol: eol.join(lines).encode(),
    st.lists(_lines, max_size=8),
    st.sampled_from(["\r\n", "\n", "\r"]),
)
_separators = st.sampled_from([FRAME_END, "\r\n", "\n\n", "", FRAME_END * 3, "\r\n\r", "\n\r\n"])
# A stream: frames (near-AMI, malformed in every way above), their separators, bytes that are
# not UTF-8 (or not text at all) between them.
_streams = st.lists(
    st.one_of(
        _frames,
        _separators.map(str.encode),
        st.binary(max_size=40),
        st.sampled_from([b"\xc3", b"\xa9", b"\xff\xfe", b"\xe2\x82", b"\xed\xa0\x80", b"\0"]),
    ),
    max_size=16,
).map(b"".join)


# Frames that answer the action waiting (its id wherever among their lines), badly or not.
_answers = st.builds(
    lambda kind, lines, at, eol: eol.join(
        [kind, *lines[:at], "ActionID: PENDING-ACTION", *lines[at:]]
    ).encode(),
    st.builds(lambda header, value: f"{header}: {value}", st.sampled_from(["Response", "Event"]), _values),
    st.lists(_lines, max_size=6),
    st.integers(0, 6),
    st.sampled_from(["\r\n", "\r\n", "\n"]),
)
_answering_streams = st.builds(
    lambda before, answers, after: before + FRAME_END.encode() + answers + after,
    _streams,
    st.lists(st.tuples(_answers, _separators.map(str.encode)).map(b"".join), min_size=1, max_size=3).map(
        b"".join
    ),
    _streams,
)


async def _through_the_reader(rig: Rig, chunks: list[bytes], answering: bool = False) -> object:
    """Feed the chunks while an action waits, then its valid Response; what it resolved to.
    With `answering`, the fuzz's PENDING-ACTION is that action's id: the fuzz answers it too."""
    rig.wire.answering = False
    action_id = f"after-the-fuzz-{uuid.uuid4().hex}"  # (no fuzzed frame can name it otherwise)
    pending = asyncio.ensure_future(rig.link.send({"Action": "Ping", "ActionID": action_id}, timeout=5))
    await asyncio.sleep(0)  # (written)
    for chunk in chunks:
        rig.wire.feed(chunk.replace(b"PENDING-ACTION", action_id.encode()) if answering else chunk)
    rig.wire.feed(f"{FRAME_END}Response: Success\r\nActionID: {action_id}\r\nPing: Pong{FRAME_END}".encode())
    try:
        return (action_id, await pending)
    finally:
        rig.wire.answering = True


@settings(max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=_streams, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_fuzzed_frames_never_raise_out_of_the_reader(rig: Rig, stream: bytes, cuts: list[int]) -> None:
    """3,000 streams of near-AMI frames, malformed every way, split at any byte."""
    assume(not says_shutdown(stream))
    dispatched_before, handed_on_before, dropped_before = len(rig.dispatched), len(rig.events), rig.dropped()
    action_id, pong = rig.run(_through_the_reader(rig, split_at(stream, cuts)))
    rig.assert_healthy()
    # The action waiting through the fuzz got its own valid Response.
    assert isinstance(pong, Message) and pong.get("ActionID") == action_id and pong.get("Ping") == "Pong"
    # Every frame of the stream (and the flush that ends its last one) dispatched or dropped.
    dispatched, dropped = rig.dispatched[dispatched_before:], rig.dropped() - dropped_before
    assert len(dispatched) + dropped == frames_in(stream + FRAME_END.encode())
    # The owner is handed every event dispatched but FullyBooted, in order.
    owners = [m for m in dispatched if m.get("Event") != "FullyBooted"]
    assert rig.events[handed_on_before:] == owners


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=_answering_streams, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_fuzzed_answers_never_keep_an_action_waiting(rig: Rig, stream: bytes, cuts: list[int]) -> None:
    """1,000 streams as above, answering (badly) the action that waits: it still completes,
    on the same link, and the next action gets its own answer."""
    assume(not says_shutdown(stream))
    _action_id, resolved = rig.run(_through_the_reader(rig, split_at(stream, cuts), answering=True))
    rig.assert_healthy()
    assert isinstance(resolved, Message) or (isinstance(resolved, list) and resolved)
    first = resolved[0] if isinstance(resolved, list) else resolved
    event("answered by " + ("the valid Response" if first.get("Ping") == "Pong" else "a fuzzed frame"))
    assert rig.run(rig.link.send({"Action": "Ping"})).get("Response") == "Success"
    rig.assert_healthy()


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.binary(max_size=600), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_random_bytes_never_raise_out_of_the_reader(rig: Rig, stream: bytes, cuts: list[int]) -> None:
    """1,000 streams of arbitrary bytes."""
    assume(not says_shutdown(stream))
    dispatched_before, dropped_before = len(rig.dispatched), rig.dropped()
    action_id, pong = rig.run(_through_the_reader(rig, split_at(stream, cuts)))
    rig.assert_healthy()
    assert isinstance(pong, Message) and pong.get("ActionID") == action_id
    dispatched, dropped = len(rig.dispatched) - dispatched_before, rig.dropped() - dropped_before
    assert dispatched + dropped == frames_in(stream + FRAME_END.encode())


# Valid events: unique header names that are not the ones the reader matches on, values with
# no CR/LF/NUL and nothing at their ends that a frame's strip() would take.
_event_names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True).filter(
    lambda name: name.lower() not in _LINK_EVENTS
)
_plain_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True).filter(
    lambda name: (
        name.lower() not in {"event", "response", "actionid", "commandid", "message", "result", "content"}
    )
)
_plain_values = (
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=30)
    .map(str.strip)
    .filter(bool)
)
_events = st.builds(
    lambda name, headers: {"Event": name, **headers},
    _event_names,
    st.dictionaries(_plain_names, _plain_values, max_size=6),
).filter(lambda event: len({name.lower() for name in event}) == len(event))


def _encoded(event: dict[str, str]) -> bytes:
    return ("\r\n".join(f"{k}: {v}" for k, v in event.items()) + FRAME_END).encode()


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_events, min_size=1, max_size=6), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_valid_events_come_out_whole_whatever_the_splits(
    rig: Rig, events: list[dict[str, str]], cuts: list[int]
) -> None:
    """1,000 runs of valid events (any Unicode), split at any byte (inside a character too)."""
    before, dropped_before = len(rig.events), rig.dropped()
    for chunk in split_at(b"".join(_encoded(headers) for headers in events), cuts):
        rig.wire.feed(chunk)
    rig.run(asyncio.sleep(0))
    rig.assert_healthy()
    delivered = [{k: v for k, v in m.items() if k != "content"} for m in rig.events[before:]]
    assert delivered == events
    assert rig.dropped() == dropped_before


@pytest.mark.parametrize("end_cut", range(len(FRAME_END) + 1))
def test_a_frame_that_never_ends_is_dropped_without_growing_the_buffer(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, end_cut: int
) -> None:
    """A peer that sends one endless header: what is buffered stays under the cap, the frame
    is dropped once, and the frame after it, its end split across reads anywhere, comes out."""
    monkeypatch.setattr(ami_module, "MAX_FRAME_CHARS", 10_000)
    protocol = rig.link._manager.protocol  # type: ignore[union-attr]
    before, oversized = len(rig.events), rig.link.counters["dropped_ami_oversized"]
    chunk = b"Event: Flood\r\nValue: " + b"x" * 3_000
    for _ in range(20):  # 60,000 characters without an end
        rig.wire.feed(chunk)
        assert protocol._buffered <= 10_000 + len(chunk)
    end = FRAME_END.encode()
    # (This read crosses the cap, so the buffer is emptied with part of the end in it.)
    rig.wire.feed(b"x" * 10_001 + end[:end_cut])
    rig.wire.feed(end[end_cut:] + _encoded({"Event": "AfterTheFlood", "Uniqueid": "1"}))
    rig.run(asyncio.sleep(0))
    rig.assert_healthy()
    assert rig.link.counters["dropped_ami_oversized"] == oversized + 1
    assert [m.get("Event") for m in rig.events[before:]] == ["AfterTheFlood"]


def test_dropped_frames_are_logged_once_per_interval_and_all_counted(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    protocol = rig.link._manager.protocol  # type: ignore[union-attr]
    protocol._drop_logged.clear()
    protocol._drops_unlogged.clear()
    before = rig.link.counters["dropped_ami_unparsable"]
    with caplog.at_level("WARNING", logger="contactcenter.adapters.ami"):
        for _ in range(50):
            rig.wire.feed(b"no colon here" + FRAME_END.encode())
        protocol._drop_logged["unparsable"] -= ami_module.DROP_LOG_INTERVAL_S  # (the interval has passed)
        rig.wire.feed(b"no colon here either" + FRAME_END.encode())
    assert rig.link.counters["dropped_ami_unparsable"] == before + 51
    lines = [r.getMessage() for r in caplog.records if "AMI frame dropped" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[1].endswith("; 49 more dropped for that reason since the last such line")


# --- hand-written cases, over loopback TCP ----------------------------------------------


class TcpAsterisk:
    """A fake Asterisk on loopback TCP: greets, answers every action with Success (a list for
    CoreShowChannels) unless `answering` is off, and writes what a test pushes."""

    def __init__(self) -> None:
        self.connections = 0
        self.answering = True
        self.actions: list[dict[str, str]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writer = writer
        writer.write(GREETING)
        try:
            while True:
                raw = await reader.readuntil(FRAME_END.encode())
                action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)
                self.actions.append(action)
                if self.answering:
                    writer.write(self._answer(action))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    @staticmethod
    def _answer(action: dict[str, str]) -> bytes:
        ident = action.get("ActionID", "")
        if action.get("Action") == "CoreShowChannels":
            return (
                f"Response: Success\r\nActionID: {ident}\r\nEventList: start\r\n"
                f"Message: Channels will follow{FRAME_END}"
                f"Event: CoreShowChannelsComplete\r\nActionID: {ident}\r\nEventList: Complete\r\n"
                f"ListItems: 0{FRAME_END}"
            ).encode()
        return f"Response: Success\r\nActionID: {ident}\r\nMessage: ok{FRAME_END}".encode()

    async def push(self, *chunks: bytes) -> None:
        """Write the chunks one TCP segment each (a pause between them: separate reads)."""
        assert self._writer is not None
        for chunk in chunks:
            self._writer.write(chunk)
            await self._writer.drain()
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What reaches the running loop's exception handler during the test."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


@pytest.fixture
async def fake_asterisk() -> AsyncIterator[tuple[TcpAsterisk, int]]:
    server = TcpAsterisk()
    port = await server.start()
    yield server, port
    await server.close()


@pytest.fixture
async def tcp_link(fake_asterisk: tuple[TcpAsterisk, int]) -> AsyncIterator[tuple[AmiLink, list[Message]]]:
    _server, port = fake_asterisk
    events: list[Message] = []
    link = AmiLink(
        host="127.0.0.1",
        port=port,
        username="contactcenter",
        secret="not-a-secret",
        action_timeout=5,
        ping_interval=3600,
        on_event=events.append,
    )
    await link.connect(timeout=5)
    yield link, events
    link.close()


SPLIT_NAME = "Muñoz Àlex €"
_MEGA = "x" * (1 << 20)
_EVENT_A = b"Event: UserEvent\r\nUserEvent: A\r\nUniqueid: 1.1\r\n\r\n"
_EVENT_B = b"Event: UserEvent\r\nUserEvent: B\r\nUniqueid: 1.2\r\n\r\n"
_EVENT_C = b"Event: Hangup\r\nUniqueid: 1.3\r\nChannel: PJSIP/x-00000003\r\n\r\n"
_TEXT = f"Event: UserEvent\r\nCallerIDName: {SPLIT_NAME}\r\n\r\n".encode()


@dataclasses.dataclass(frozen=True)
class Case:
    """Bytes as Asterisk could send them (one chunk a read), and what the link must make of
    them: the events handed on (a header of each that identifies it), the frames dropped."""

    chunks: tuple[bytes, ...]
    handed_on: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()


CASES = {
    "an event given twice an Event header": Case(
        (b"Event: Hangup\r\nEvent: Newchannel\r\nUniqueid: 1.1\r\n\r\n",), dropped=("duplicate_header",)
    ),
    "a response with two ActionIDs": Case(
        (b"Response: Success\r\nActionID: a\r\nActionID: b\r\n\r\n",), dropped=("duplicate_header",)
    ),
    "a response without ActionID": Case(
        (b"Response: Success\r\nMessage: ok\r\n\r\n",), dropped=("stray_response",)
    ),
    "a response to no action of ours": Case(
        (b"Response: Error\r\nActionID: never-sent\r\n\r\n",), dropped=("stray_response",)
    ),
    "lines without a colon": Case((b"garbage\r\nmore garbage\r\n\r\n",), dropped=("unparsable",)),
    "headers but neither Event nor Response": Case(
        (b"Uniqueid: 1.1\r\nChannel: x\r\n\r\n",), dropped=("unparsable",)
    ),
    "only CRs": Case((b"\r" * 5000, b"\r\n\r\n")),
    "a storm of blank lines": Case((b"\n\n" * 5000, b"\r\n\r\n" * 500)),
    "an unknown event": Case(
        (b"Event: NoSuchEvent\r\nFoo: bar\r\n\r\n",), handed_on=(("Event", "NoSuchEvent"),)
    ),
    "an event without the Uniqueid its handler reads": Case(
        (b"Event: Hangup\r\nChannel: PJSIP/x-00000001\r\n\r\n",), handed_on=(("Channel", "PJSIP/x-00000001"),)
    ),
    "a 1 MB header": Case(
        (f"Event: UserEvent\r\nBig: {_MEGA}\r\nUserEvent: Big\r\n\r\n".encode(),), handed_on=(("Big", _MEGA),)
    ),
    "bad UTF-8": Case(
        (b"Event: UserEvent\r\nCallerIDName: \xffM\xc3\r\n\r\n",),
        handed_on=(("CallerIDName", "\ufffdM\ufffd"),),
    ),
    "a UTF-8 character split across two reads": Case(
        (_TEXT[: _TEXT.index(b"\xc3") + 1], _TEXT[_TEXT.index(b"\xc3") + 1 :]),
        handed_on=(("CallerIDName", SPLIT_NAME),),
    ),
    "partial frames across reads": Case(
        (_EVENT_A[:20], _EVENT_A[20:] + _EVENT_B + _EVENT_C[:9], _EVENT_C[9:-1], _EVENT_C[-1:]),
        handed_on=(("UserEvent", "A"), ("UserEvent", "B"), ("Uniqueid", "1.3")),
    ),
    "a frame end split across reads": Case(
        (_EVENT_A[:-3], _EVENT_A[-3:-1], _EVENT_A[-1:]), handed_on=(("UserEvent", "A"),)
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_input_over_tcp(
    case: Case,
    fake_asterisk: tuple[TcpAsterisk, int],
    tcp_link: tuple[AmiLink, list[Message]],
    loop_errors: list[dict[str, Any]],
) -> None:
    server, _port = fake_asterisk
    link, events = tcp_link
    await server.push(*case.chunks)
    # The link still works: its next action gets its answer, on the same connection.
    assert (await link.send({"Action": "Ping"})).get("Response") == "Success"
    assert loop_errors == []
    assert link.ready and server.connections == 1
    assert [(name, m.get(name)) for m, (name, _value) in zip(events, case.handed_on, strict=False)] == list(
        case.handed_on
    )
    assert len(events) == len(case.handed_on)
    dropped = {name.removeprefix(DROPPED): n for name, n in link.counters.items() if name.startswith(DROPPED)}
    assert dropped == Counter(case.dropped)


# Answers that kept an action from its valid one (panoramisk raised in the reader), and what
# of them is dropped.
BAD_ANSWERS = {
    # panoramisk reads Message as a string to tell a list response
    "two Message headers": (b"Message: a\r\nMessage: b", {"duplicate_header": 1}),
    # it read the action's Async header as self['async']: KeyError on a Ping
    "successfully queued, to an action without Async": (b"Message: Originate successfully queued", {}),
}


@pytest.mark.parametrize(("headers", "dropped"), BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
async def test_a_malformed_answer_does_not_keep_its_action_from_the_valid_one(
    headers: bytes,
    dropped: dict[str, int],
    fake_asterisk: tuple[TcpAsterisk, int],
    tcp_link: tuple[AmiLink, list[Message]],
    loop_errors: list[dict[str, Any]],
) -> None:
    server, _port = fake_asterisk
    link, _events = tcp_link
    server.answering = False
    pending = asyncio.ensure_future(link.send({"Action": "Ping", "ActionID": "ping-1"}))
    while not any(a.get("ActionID") == "ping-1" for a in server.actions):
        await asyncio.sleep(0.01)
    await server.push(
        b"Response: Success\r\nActionID: ping-1\r\n" + headers + b"\r\n\r\n",
        b"Response: Success\r\nActionID: ping-1\r\nPing: Pong\r\n\r\n",
    )
    answer = await pending
    last = answer[-1] if isinstance(answer, list) else answer
    assert isinstance(last, Message) and last.get("Ping") == "Pong"
    assert loop_errors == [] and link.ready and server.connections == 1
    assert {k.removeprefix(DROPPED): n for k, n in link.counters.items() if k.startswith(DROPPED)} == dropped


async def test_the_controller_counts_what_it_drops(
    test_config: Config, fake_asterisk: tuple[TcpAsterisk, int], loop_errors: list[dict[str, Any]]
) -> None:
    """Through the controller's own link: the reader's drops and the translator's, counted."""
    server, port = fake_asterisk
    cfg = dataclasses.replace(test_config, ami=dataclasses.replace(test_config.ami, port=port))
    ctl = Controller(cfg)
    await ctl.ami.connect()
    try:
        await until(lambda: ctl.counters["resyncs"] == 1, 5, "the resync on login")
        await server.push(
            b"Event: Hangup\r\nChannel: PJSIP/x-00000001\r\n\r\n",  # no Uniqueid: the translator's
            b"not a frame\r\n\r\n",  # the reader's
            b"Event: UserEvent\r\nUserEvent: CcArrived\r\nUniqueid: 1.1\r\nUniqueid: 1.2\r\n\r\n",
        )
        assert (await ctl.ami.send({"Action": "Ping"})).get("Response") == "Success"
        dropped = {name: n for name, n in ctl.counters.items() if name.startswith("dropped_")}
        assert dropped == {"dropped_missing_header": 2, "dropped_ami_unparsable": 1}
        assert loop_errors == [] and ctl.ami.ready and server.connections == 1
    finally:
        ctl.ami.close()


# --- the writer -------------------------------------------------------------------------

_TRICKY = "\r\n\0\t\x0b\x0c\x1b\x7f\x85\u2028\u2029: =\ufeff\ud800\udfffñ€😀"
_header_names = st.one_of(
    st.sampled_from(["Action", "ActionID", "Channel", "Exten", "Context", "Data", "Variable", "CallerID"]),
    st.sampled_from(["Value", "Command", "CommandID", "Secret", "Async", "action", "ACTIONID"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True),
    st.text(st.sampled_from("Aa1_-\r\n\0 :é"), max_size=8),  # names that are not tokens
    st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}\n", fullmatch=True),  # `$` matches before this LF
)
_scalars = st.one_of(
    st.text(st.sampled_from(_TRICKY + "abc019"), max_size=12),
    st.text(st.characters(exclude_categories=()), max_size=8),  # any code point, surrogates too
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
_header_values = st.one_of(_scalars, st.lists(_scalars, max_size=3), st.tuples(_scalars, _scalars))
_actions = st.one_of(
    st.builds(
        lambda action, rest: {"Action": action, **rest},
        _scalars,
        st.dictionaries(_header_names, _header_values, max_size=5),
    ),
    st.dictionaries(_header_names, _header_values, max_size=5),
)


# The 100,000-example test draws each action as one byte string that a small decoder makes
# into names and values (one Hypothesis draw an example, not dozens: about 0.3 ms an example
# instead of 2 ms, and Hypothesis still shrinks a failure to its fewest bytes).
_NAMES = (
    "Action",
    "ActionID",
    "Channel",
    "Exten",
    "Context",
    "Application",
    "Data",
    "Variable",
    "CallerID",
    "Value",
    "Command",
    "CommandID",
    "Secret",
    "Async",
    "Timeout",
    "action",  # the same names in other cases
    "ACTIONID",
    "commandid",
    "Bad Header",  # and names that are not tokens
    "X:Y",
    "Variable\n",  # (`$` matches before a final LF)
    "Data\r",
    "Exten\r\n",
    "\nAction",
    "",
    "1st",
    "Ñame",
    "-x",
    "A\0",
)
_NAME_CHARS = "AZaz09_-\n\r\0 :é"
_SAFE_CHARS = "\t\x0b\x0c\x1b\x7f\x85\u2028\u2029: =%\ufeffñ€😀abcAZ019-_/@"
_UNSAFE_CHARS = "\r\n\0\ud800\udfff\r\n\0"  # (8: b's last 3 bits)


def action_from(blob: bytes) -> dict[str, object]:
    """An action (names and values of every kind) decoded from bytes; any bytes make one."""
    data = iter(blob)

    def take() -> int:
        return next(data, 0)

    def name() -> str:
        b = take()
        if b < 224:
            return _NAMES[b % len(_NAMES)]
        return "".join(_NAME_CHARS[take() % len(_NAME_CHARS)] for _ in range(take() % 10))

    def char() -> str:
        b = take()
        if b >= 240:
            return _UNSAFE_CHARS[b & 7]
        if b >= 224:
            return chr(((b & 31) << 16 | take() << 8 | take()) % 0x110000)  # any code point, surrogates too
        return _SAFE_CHARS[b % len(_SAFE_CHARS)]

    # (Bytes run out as zeros: a zero picks the plainest choice.)
    def scalar() -> object:
        kind = take() % 10
        if kind < 6:
            return "".join(char() for _ in range(take() % 14))
        if kind == 6:
            return int.from_bytes(bytes([take(), take(), take()]), "big", signed=True)
        if kind == 7:
            return (float("nan"), float("-inf"), 1e300, -0.0, 2.5)[take() % 5]
        return (True, False, None)[take() % 3]

    def value() -> object:
        kind = take() % 8
        if kind == 7:
            return [scalar() for _ in range(take() % 4)]
        if kind == 6:
            return (scalar(), scalar())
        return scalar()

    action: dict[str, object] = {}
    if take() % 8 != 7:  # most actions name themselves, with one value (mostly)
        action["Action"] = value() if take() % 4 == 3 else scalar()
    for _ in range(take() % 7):
        action[name()] = value()
    return action


def _must_refuse(action: dict[str, object]) -> bool:
    """What the header rules say of an action, read from it alone."""
    if "Action" not in action:
        return True
    names = [name.lower() for name in action]
    if len(set(names)) != len(names):
        return True
    for name, value in action.items():
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) is None:
            return True
        if name.lower() in {"action", "actionid", "commandid"} and isinstance(value, list | tuple):
            return True
        if name.lower() == "actionid" and (str(value) == "" or str(value)[0] in " \t"):
            return True
        for v in value if isinstance(value, list | tuple) else [value]:
            if any(c in "\r\n\0" or "\ud800" <= c <= "\udfff" for c in str(v)):
                return True
    return False


def _header_pairs(action: dict[str, object]) -> Counter[tuple[str, str]]:
    return Counter(
        (name, str(v))
        for name, value in action.items()
        for v in (value if isinstance(value, list | tuple) else [value])
    )


def assert_well_formed(written: bytes, action: dict[str, object]) -> None:
    """One action, as header lines and exactly one blank line; every header given in it."""
    assert b"\0" not in written
    assert written.endswith(b"\r\n\r\n") and written.count(b"\r\n\r\n") == 1
    lines = written[: -len(b"\r\n\r\n")].split(b"\r\n")
    for line in lines:  # (no CR or LF is left but the line ends split on)
        assert _HEADER_LINE.fullmatch(line), line
    pairs = Counter(tuple(line.decode().split(": ", 1)) for line in lines)
    assert not _header_pairs(action) - pairs, "a header given was not written as given"
    # All that panoramisk may add is the ids it keys its table by.
    assert {name.lower() for name, _value in pairs - _header_pairs(action)} <= {"actionid", "commandid"}


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))


async def test_no_unsafe_byte_reaches_the_socket() -> None:
    """100,000 actions with arbitrary names and values (CR, LF, NUL, other control characters,
    surrogates, any Unicode, lists) through check_action and panoramisk's serialiser, as
    AmiLink.send writes them: refused before a byte is written, or well formed. (100,000
    examples in 41 s on the project's 2-core machine, quiet, 2026-12-02.)"""
    transport = Recorder()
    protocol = AMIProtocol()
    protocol.connection_made(transport)
    protocol.encoding = "utf8"  # (as panoramisk's Manager sets it from our config)
    runs = Counter[str]()

    @settings(max_examples=WRITER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(blob=st.binary(max_size=96))
    def write(blob: bytes) -> None:
        action = action_from(blob)
        transport.written.clear()
        protocol.responses.clear()
        try:
            headers = check_action(action)
        except UnsafeHeader:
            runs["refused"] += 1
            assert _must_refuse(action)
            return
        runs["written"] += 1
        assert not _must_refuse(action)
        protocol.send(_action(headers, None))  # (as AmiLink.send hands it to panoramisk)
        assert len(transport.written) == 1
        assert_well_formed(transport.written[0], action)

    write()
    assert runs.total() >= WRITER_EXAMPLES
    assert runs["refused"] and runs["written"]  # (both sides explored)


@settings(max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action=_actions)
def test_the_full_send_path_writes_only_safe_bytes(rig: Rig, action: dict[str, object]) -> None:
    """3,000 actions through AmiLink.send on a logged-in link: UnsafeHeader with nothing
    written, or one well-formed action that gets its answer."""
    before = len(rig.wire.written)
    try:
        response = rig.run(rig.link.send(action, timeout=5))
    except UnsafeHeader:
        assert _must_refuse(action)
        assert len(rig.wire.written) == before
    else:
        assert not _must_refuse(action)
        [written] = rig.wire.written[before:]
        assert_well_formed(written, action)
        assert isinstance(response, Message) and response.get("Response") == "Success"
    rig.assert_healthy()


SECRET = "s3cr3t-600000000"  # (what a refusal must never repeat: a secret, a number)
REFUSED = {
    "a name with a final LF": {"Action": "Ping", "Variable\n": SECRET},
    "a name with a final CRLF": {"Action": "Ping", "Data\r\n": SECRET},
    "a second Action in another case": {"Action": "Ping", "action": SECRET},
    "a list of ActionIDs": {"Action": "Ping", "ActionID": [SECRET, SECRET]},
    "an empty ActionID": {"Action": "Ping", "ActionID": ""},
    "an ActionID that starts with a blank": {"Action": "Ping", "ActionID": f" {SECRET}"},
    "a list of Actions": {"Action": ["Ping", SECRET]},
    "a lone surrogate": {"Action": "Ping", "CallerID": f"{SECRET}\ud800"},
    "a CR in a secret": {"Action": "Login", "Secret": f"{SECRET}\r"},
    "a NUL in a caller ID": {"Action": "Originate", "CallerID": f"{SECRET}\0"},
    "a name that is not text": {"Action": "Ping", 7: SECRET},
}


@pytest.mark.parametrize("action", REFUSED.values(), ids=REFUSED.keys())
def test_refusals_name_the_header_never_the_value(rig: Rig, action: dict[Any, object]) -> None:
    before = len(rig.wire.written)
    with pytest.raises(UnsafeHeader) as refused:
        rig.run(rig.link.send(action))
    assert len(rig.wire.written) == before
    assert SECRET not in str(refused.value) and "600000000" not in str(refused.value)
    rig.assert_healthy()


def test_an_action_past_its_deadline_leaves_nothing_waiting(rig: Rig) -> None:
    """Its late answer is a stray (counted), not an entry kept for ever in panoramisk's table."""
    strays = rig.link.counters["dropped_ami_stray_response"]
    rig.wire.answering = False
    try:
        with pytest.raises(AmiTimeout):
            rig.run(rig.link.send({"Action": "Ping", "ActionID": "late-1"}, timeout=0.05))
    finally:
        rig.wire.answering = True
    assert not rig.pending
    rig.wire.feed(b"Response: Success\r\nActionID: late-1\r\nPing: Pong\r\n\r\n")
    assert rig.link.counters["dropped_ami_stray_response"] == strays + 1
    rig.assert_healthy()
