# Real SIP phones for operators in tests: baresip (Debian's, 1.0.0), headless. Rules:
# - One process per phone, with a configuration directory of its own (`baresip -f DIR`):
#   no sound card (a 440 Hz sine is its microphone, its speaker plays into nothing), SIP and
#   RTP on 127.0.0.1 only, on ports chosen free (libre's DNS client also opens two wildcard
#   UDP sockets at start; nothing is sent from them: every URI here is an IP literal); it
#   registers to the sandbox as the operator's PJSIP endpoint and answers every call at once
#   (answermode=auto), one call at a time.
# - It is driven over its control socket (module ctrl_tcp: netstring-framed JSON commands,
#   and its events on the same connection, in order), never through a terminal.
# - Every wait is bounded and waits for an event (a reply, a phone event); its log and its
#   last events go into every failure message. It is stopped by its pid, and dies on its own
#   after `lifetime_s` whatever happens to the test (`baresip -t`).
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PhoneEvent = dict[str, Any]
MODULE_PATH = "/usr/lib/baresip/modules"  # Debian's baresip-core
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TARGET = re.compile(r"^[A-Za-z0-9*#+._-]{1,32}$")  # a number or feature code to dial
_MAX_FRAME = 1 << 20
_START_ATTEMPTS = 3  # ports chosen free may be taken meanwhile: start again on fresh ones


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sip_port() -> int:
    """A port p free for UDP and TCP, with p+1 free for TCP (baresip's SIP listens on UDP and
    TCP p, and TCP p+1)."""
    for _ in range(50):
        port = _free_port(socket.SOCK_DGRAM)
        with contextlib.ExitStack() as held:
            try:
                for p, kind in ((port, socket.SOCK_STREAM), (port + 1, socket.SOCK_STREAM)):
                    s = held.enter_context(socket.socket(socket.AF_INET, kind))
                    s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return port
    raise OSError("no free SIP port for baresip on 127.0.0.1")


@dataclass
class Baresip:
    """An operator's phone: registers as `user` (password `secret`) to the registrar at
    registrar_host:registrar_port, auto-answers, dials what the test says."""

    user: str
    secret: str
    registrar_port: int
    registrar_host: str = "127.0.0.1"
    regint: int = 60  # seconds between re-registrations
    rtp_ports: tuple[int, int] = (27000, 27999)  # (outside the sandbox's 26000-26999)
    lifetime_s: int = 900  # baresip quits on its own after this long
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-baresip-")))
    events: list[PhoneEvent] = field(default_factory=list)  # what the phone reported, in order
    process: asyncio.subprocess.Process | None = None
    sip_port: int = 0
    ctrl_port: int = 0

    def __post_init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._replies: dict[str, asyncio.Future[tuple[PhoneEvent, int]]] = {}
        self._tokens = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._closed_why: str | None = None

    # --- configuration --------------------------------------------------------------------

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.registrar_host}:{self.registrar_port}"

    def account_line(self) -> str:
        """The `accounts` file's one line."""
        return f"<{self.aor}>;auth_pass={self.secret};answermode=auto;regint={self.regint}\n"

    def config_text(self) -> str:
        """The `config` file: loopback only, no audio device, control over TCP."""
        return "\n".join(
            [
                "poll_method\t\tepoll",
                f"sip_listen\t\t127.0.0.1:{self.sip_port}",
                "net_interface\t\t127.0.0.1",  # (its SDP and RTP on loopback too)
                f"rtp_ports\t\t{self.rtp_ports[0]}-{self.rtp_ports[1]}",
                "call_local_timeout\t30",
                "call_max_calls\t\t1",  # an operator takes one call: a second one is busy
                # A sine for a microphone (it makes only 48 kHz stereo; baresip resamples);
                # the speaker and the ringer play into an aubridge device nobody reads.
                "audio_source\t\tausine,440",
                "ausrc_srate\t\t48000",
                "ausrc_channels\t\t2",
                "audio_player\t\taubridge,nowhere",
                "audio_alert\t\taubridge,nowhere",
                f"module_path\t\t{MODULE_PATH}",
                "module\t\t\tg711.so",
                "module\t\t\tausine.so",
                "module\t\t\taubridge.so",
                "module_tmp\t\tuuid.so",
                "module_tmp\t\taccount.so",
                "module_app\t\tmenu.so",  # (the dial, hangup and reginfo commands)
                "statmode_default\toff",  # (no call status line in the log every few ms)
                "module_app\t\tctrl_tcp.so",
                f"ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}",
                "",
            ]
        )

    # --- life -----------------------------------------------------------------------------

    async def __aenter__(self) -> Baresip:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 10) -> None:
        """Start baresip and connect to its control socket (it starts registering at once)."""
        self._changed = asyncio.Condition()
        for _ in range(_START_ATTEMPTS):
            self.events.clear()
            self.sip_port, self.ctrl_port = _sip_port(), _free_port(socket.SOCK_STREAM)
            (self.workdir / "config").write_text(self.config_text())
            accounts = self.workdir / "accounts"
            accounts.write_text(self.account_line())
            accounts.chmod(0o600)
            log = self.workdir / "baresip.log"
            with log.open("wb") as out:
                self.process = await asyncio.create_subprocess_exec(
                    "baresip",
                    "-4",
                    "-f",
                    str(self.workdir),
                    "-t",
                    str(self.lifetime_s),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=self.workdir,
                )
            if await self._connect(timeout):
                return
            if "Address already in use" not in self.log():
                break
            await self._kill()
        await self._kill()
        raise AssertionError(f"baresip for {self.user} did not start{self.describe()}")

    async def _connect(self, timeout: float) -> bool:
        """Connect to the control socket; True once baresip answered a command on it (so it
        is this baresip's, not a port someone else took meanwhile)."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.process.returncode is None:
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                # (No event says the socket is listening: try again, briefly, while it starts.)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self.process.wait()
        if self._writer is None:
            return False
        self._closed_why = None
        self._read_task = loop.create_task(self._read(), name=f"baresip-{self.user}")
        try:
            reply, _ = await self._command("reginfo", timeout=max(1.0, deadline - loop.time()))
        except AssertionError:
            return False
        return self.aor in str(reply.get("data", ""))

    async def stop(self, timeout: float = 5) -> None:
        """Quit (it unregisters first); if it does not, end it by its pid. Its directory
        (configuration with the secret, log) goes with it."""
        if self.process is not None and self.process.returncode is None and self._writer is not None:
            with contextlib.suppress(AssertionError, OSError):
                await self._command("quit", timeout=2)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.process.wait()
        await self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _kill(self) -> None:
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                async with asyncio.timeout(3):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
            self._read_task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
            self._writer = self._reader = None

    # --- the control socket ---------------------------------------------------------------

    async def _read(self) -> None:
        """Frames from baresip: replies to our commands (by token) and its events."""
        assert self._reader is not None and self._changed is not None
        why = "closed by baresip"
        try:
            while True:
                length = await self._reader.readuntil(b":")
                if not length[:-1].isdigit() or int(length[:-1]) > _MAX_FRAME:
                    why = f"bad netstring length {length[:20]!r}"
                    break
                frame = await self._reader.readexactly(int(length[:-1]) + 1)
                if frame[-1:] != b",":
                    why = "netstring without its comma"
                    break
                message = json.loads(frame[:-1])
                if message.get("response"):
                    future = self._replies.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result((message, len(self.events)))
                elif message.get("event"):
                    self.events.append(message)
                    async with self._changed:
                        self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            why = f"control socket: {type(exc).__name__}"
        self._closed_why = why
        for future in self._replies.values():
            if not future.done():
                future.set_exception(AssertionError(f"baresip {self.user}: {why}"))
        self._replies.clear()
        async with self._changed:
            self._changed.notify_all()

    async def _command(
        self, command: str, params: str | None = None, timeout: float = 5
    ) -> tuple[PhoneEvent, int]:
        """Send a command; its reply, and how many events had come before it."""
        if self._writer is None or self._closed_why is not None:
            raise AssertionError(f"baresip {self.user}: no control connection ({self._closed_why})")
        token = f"t{next(self._tokens)}"
        body: dict[str, str] = {"command": command, "token": token}
        if params is not None:
            body["params"] = params
        data = json.dumps(body).encode()
        future: asyncio.Future[tuple[PhoneEvent, int]] = asyncio.get_running_loop().create_future()
        self._replies[token] = future
        self._writer.write(b"%d:%s," % (len(data), data))
        await self._writer.drain()
        try:
            async with asyncio.timeout(timeout):
                reply, seen = await future
        except TimeoutError:
            self._replies.pop(token, None)
            raise AssertionError(
                f"baresip {self.user}: no reply to {command!r} in {timeout} s{self.describe()}"
            ) from None
        if not reply.get("ok"):
            raise AssertionError(
                f"baresip {self.user} refused {command!r}: {reply.get('data')}{self.describe()}"
            )
        return reply, seen

    # --- what a test does -----------------------------------------------------------------

    async def registration(self, timeout: float = 10) -> str:
        """How the registrar answered the phone's REGISTER: "OK" (200) or "ERR" (refused),
        waiting up to `timeout` s for an answer if none has come yet."""
        reply, seen = await self._command("reginfo")
        line = next((ln for ln in str(reply.get("data", "")).splitlines() if self.aor in ln), "")
        status = re.search(r"\b(OK|ERR|zzz)\b", _ANSI.sub("", line))  # (zzz: no answer yet)
        if status is None:
            raise AssertionError(f"baresip {self.user}: no registration of {self.aor}{self.describe()}")
        if status.group(1) != "zzz":
            return status.group(1)
        # The answer's event comes after the reply (one connection, in order).
        answer = await self.wait_event(
            lambda e: e.get("type") in ("REGISTER_OK", "REGISTER_FAIL"),
            timeout,
            "the answer to its REGISTER",
            since=seen,
        )
        return "OK" if answer["type"] == "REGISTER_OK" else "ERR"

    async def wait_registered(self, timeout: float = 10) -> None:
        """Until the registrar accepted the phone (200 OK to its REGISTER), as baresip saw it."""
        if await self.registration(timeout) != "OK":
            raise AssertionError(f"baresip {self.user}: its REGISTER was refused{self.describe()}")

    async def wait_event(
        self,
        predicate: Callable[[PhoneEvent], bool],
        timeout: float,
        what: str,
        since: int = 0,
    ) -> PhoneEvent:
        """The first event from index `since` on matching `predicate`, waiting up to
        `timeout` s for it."""
        assert self._changed is not None

        def first() -> PhoneEvent | None:
            return next((e for e in self.events[since:] if predicate(e)), None)

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: first() is not None or self._closed_why is not None)
        except TimeoutError:
            pass
        found = first()
        if found is None:
            why = self._closed_why or f"not within {timeout} s"
            raise AssertionError(f"baresip {self.user}: no event: {what} ({why}){self.describe()}")
        return found

    def mark(self) -> int:
        """Where the events are now (for `since`)."""
        return len(self.events)

    async def wait_call(
        self, kind: str, timeout: float, direction: str | None = None, since: int = 0
    ) -> PhoneEvent:
        """A call event of `kind` (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, ...)."""
        return await self.wait_event(
            lambda e: e.get("type") == kind and (direction is None or e.get("direction") == direction),
            timeout,
            f"{kind} {direction or ''}".strip(),
            since,
        )

    def uri(self, target: str) -> str:
        """The SIP URI for a number or feature code at the registrar (a full sip: URI as is)."""
        if target.startswith("sip:"):
            return target
        if not _TARGET.match(target):
            raise ValueError(f"not a number or feature code to dial: {target!r}")
        return f"sip:{target}@{self.registrar_host}:{self.registrar_port}"

    async def dial(self, target: str) -> int:
        """Dial a number, a feature code (`*21`) or a sip: URI; returns the events' mark
        before the call, for waiting on its events."""
        seen = self.mark()
        await self._command("dial", self.uri(target))
        return seen

    async def hangup(self) -> None:
        """Hang up the current call."""
        await self._command("hangup")

    # --- for failure messages -------------------------------------------------------------

    def log(self, lines: int = 60) -> str:
        path = self.workdir / "baresip.log"
        if not path.exists():
            return ""
        text = _ANSI.sub("", path.read_text(errors="replace"))
        kept = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
        return "\n".join(kept[-lines:])

    def describe(self) -> str:
        rc = None if self.process is None else self.process.returncode
        events = [
            f"{e.get('type')} {e.get('direction', '')} {e.get('param', '')}".rstrip()
            for e in self.events[-15:]
        ]
        return (
            f"\n--- baresip {self.user} (sip 127.0.0.1:{self.sip_port}, exit {rc}); last events:\n  "
            + "\n  ".join(events or ["(none)"])
            + f"\n--- its log ({self.workdir / 'baresip.log'}):\n{self.log()}"
        )
