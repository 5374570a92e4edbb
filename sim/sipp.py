# SIPp callers: real SIP calls with real RFC 4733 DTMF into the sandbox's `pstn` endpoint.
# Rules: one SIPp process per citizen (each has its own digits and timing), or one process
# for a burst of many alike (SippBurst: a load test); on loopback only, on ports chosen
# free by the OS; every process is ours to stop, by its pid, and bounded in calls and time.
# A load test's plan (SippPlan) gives each call its own arrival, patience and talk time
# through SIPp's injection file (-inf), one line per call in order: figures only, the
# caller's number is a synthetic prefix + the call's index, never a real one.
from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from contactcenter.sim.dtmf import write_digits

SCENARIO = Path(__file__).resolve().parent / "sipp" / "citizen.xml"
CALLEE_SCENARIO = SCENARIO.with_name("callee.xml")
LOAD_SCENARIO = SCENARIO.with_name("load-citizen.xml")
# A caller's SIP user: a number; `anonymous` (a withheld caller ID, as phones send it); or, for
# tests of hostile input, digits with the `&` and `,` a SIP user part may hold (RFC 3261).
_NUMBER = re.compile(r"^(\+?[0-9]{3,15}|anonymous|\+?[0-9&,]{3,20})$")
# What a SIP From display name may hold here (it is quoted in the INVITE): no quote, no
# angle bracket, no line break. A colon is allowed: "Event: Hangup" is a test's hostile name.
_DISPLAY_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;'()+_-")


def _plain_display(display: str) -> bool:
    """A display name SIPp's scenario (XML) and the From header carry as it is: up to 40
    printable characters, ASCII ones from a safe set (no quotes, <, > or &), any other
    Unicode one (citizens' names: Josép, Müller, 日本)."""
    return (
        len(display) <= 40
        and display.isprintable()
        and all(c in _DISPLAY_ASCII or ord(c) > 127 for c in display)
    )


MAX_BURST_CALLS = 1000


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def render_scenario(
    caller: str,
    digit_pcaps: list[Path],
    stay_s: float,
    first_digit_after_s: float = 2.0,
    between_digits_s: float = 1.5,
    display: str = "Citizen",
) -> str:
    """The citizen scenario with its number (digits, or `prefix[call_number]` for a burst:
    SIPp numbers each call), IVR key presses, display name and time on the line."""
    number = caller.removesuffix("[call_number]")
    if not _NUMBER.match(number):
        raise ValueError(f"caller must be a number (digits, optional +) or anonymous, got {caller!r}")
    if not _plain_display(display):
        raise ValueError(f"display name must be plain text without quotes, got {display!r}")
    steps = []
    for i, pcap in enumerate(digit_pcaps):
        pause = first_digit_after_s if i == 0 else between_digits_s
        steps.append(f'  <pause milliseconds="{int(pause * 1000)}"/>')
        steps.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    # Leave the last digit time to be heard before the wait begins.
    steps.append('  <pause milliseconds="500"/>')
    text = SCENARIO.read_text()
    return (
        text.replace("@CALLER@", caller)  # (inside CDATA: `&` as it is)
        .replace("@DISPLAY@", display)
        .replace("@DIGITS@", "\n".join(steps))
        .replace("@STAY_MS@", str(int(stay_s * 1000)))
    )


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_media_port() -> int:
    """An even port p with p..p+3 free: SIPp binds p (audio RTP) and p+2 (video RTP) for
    its media, so a free p alone is not enough."""
    for _ in range(50):
        base = _free_port() & ~1
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + 4):
                    s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise OSError("no four consecutive free UDP ports on 127.0.0.1 for SIPp's media")


# A port chosen free can be taken by another process before SIPp binds it (the OS hands
# out the same ephemeral ports to everyone); SIPp then exits at once with this message.
_BIND_FAILED = "Unable to bind"
_BIND_ATTEMPTS = 5
_BIND_GRACE_S = 0.3


class _SippProcess:
    """A SIPp process of ours: started on loopback with free ports, waited for with a
    deadline, stopped by its pid. Subclasses say what it dials (`_scenario`, `_limits`)."""

    target_port: int
    target_host: str
    service: str
    workdir: Path
    process: asyncio.subprocess.Process | None
    started_at: float | None = None  # the event loop's time when SIPp was (last) started

    def _scenario(self) -> Path:
        raise NotImplementedError

    def _limits(self) -> list[str]:
        """How many calls, how fast, and the deadline of the whole run (SIPp's options)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Start SIPp; if it could not bind the ports chosen for it (taken meanwhile by
        another process), start it again on fresh ones, a bounded number of times."""
        scenario = self._scenario()
        self.started_at = asyncio.get_running_loop().time()
        for _ in range(_BIND_ATTEMPTS):
            (self.workdir / "errors.log").unlink(missing_ok=True)
            self.process = await self._spawn(scenario)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_BIND_GRACE_S):
                    await self.process.wait()
            if self.process.returncode is None or _BIND_FAILED not in self.errors():
                return
        raise OSError(f"SIPp could not bind its ports in {_BIND_ATTEMPTS} attempts: {self.errors()}")

    def _target(self) -> list[str]:
        """Whom it calls (SIPp's remote host and service)."""
        return [f"{self.target_host}:{self.target_port}", "-s", self.service]

    def _local_port(self) -> int:
        return _free_port()

    async def _spawn(self, scenario: Path) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            "sipp",
            *self._target(),
            "-sf",
            str(scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self._local_port()),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(_free_media_port()),
            *self._limits(),
            "-nostdin",
            "-timeout_error",
            "-trace_err",
            "-error_file",
            str(self.workdir / "errors.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,  # errors go to errors.log (-trace_err)
            cwd=self.workdir,
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for SIPp to finish; its exit code is 0 when every call succeeded."""
        assert self.process is not None
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
        except TimeoutError:
            self.stop()
            raise
        return int(self.process.returncode or 0)

    def errors(self) -> str:
        path = self.workdir / "errors.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


@dataclass
class SippCall(_SippProcess):
    """One citizen's call, placed by its own SIPp process."""

    caller: str
    digits: str
    stay_s: float
    target_port: int
    target_host: str = "127.0.0.1"
    service: str = "010"
    display: str = "Citizen"
    digit_gap_s: float = 1.5  # between key presses (a prompt before a menu may need more)
    process: asyncio.subprocess.Process | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-sipp-")))

    def _scenario(self) -> Path:
        scenario = self.workdir / "citizen.xml"
        pcaps = write_digits(self.workdir, self.digits, ssrc=random.getrandbits(32))
        scenario.write_text(
            render_scenario(
                self.caller, pcaps, self.stay_s, between_digits_s=self.digit_gap_s, display=self.display
            )
        )
        return scenario

    def _limits(self) -> list[str]:
        return ["-m", "1", "-l", "1", "-timeout", f"{int(self.stay_s + 60)}s"]


def _counted_limits(calls: int, concurrent: int, rate: float, deadline_s: int, workdir: Path) -> list[str]:
    """SIPp's options for `calls` calls, at most `concurrent` open, started at `rate` per
    second, all over by `deadline_s`; with its own counts every second in workdir/stats.csv
    (`read_counts`), for a load test to cross-check."""
    return [
        "-m",
        str(calls),
        "-l",
        str(concurrent),
        "-r",
        f"{rate:g}",
        "-timeout",
        f"{deadline_s}s",
        "-trace_stat",
        "-stf",
        str(workdir / "stats.csv"),
        "-fd",
        "1",
    ]


@dataclass
class SippBurst(_SippProcess):
    """`calls` citizens alike, placed by one SIPp process at `rate` calls per second: a
    load burst. Each calls from its own number (`number_prefix` + SIPp's call number)."""

    calls: int
    rate: float
    digits: str
    stay_s: float
    target_port: int
    number_prefix: str = "+346990"
    target_host: str = "127.0.0.1"
    service: str = "010"
    max_concurrent: int | None = None  # SIPp's -l: calls open at once (None: all of them)
    process: asyncio.subprocess.Process | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-sipp-burst-")))

    def _scenario(self) -> Path:
        if not 1 <= self.calls <= MAX_BURST_CALLS:
            raise ValueError(f"a burst places 1 to {MAX_BURST_CALLS} calls, not {self.calls}")
        if not 0 < self.rate <= 500:
            raise ValueError(f"a burst's rate is 0 to 500 calls/s, not {self.rate}")
        scenario = self.workdir / "citizen.xml"
        pcaps = write_digits(self.workdir, self.digits, ssrc=random.getrandbits(32))
        scenario.write_text(render_scenario(f"{self.number_prefix}[call_number]", pcaps, self.stay_s))
        return scenario

    def _limits(self) -> list[str]:
        deadline = int(self.calls / self.rate + self.stay_s + 90)
        concurrent = self.max_concurrent or self.calls
        return _counted_limits(self.calls, concurrent, self.rate, deadline, self.workdir)

    def counts(self) -> SippCounts:
        """SIPp's cumulative successful and failed calls, from its last statistics line."""
        return read_counts(self.workdir / "stats.csv")


class PlannedCall(NamedTuple):
    """One caller of a load plan, as SIPp's injection file carries it."""

    arrive_s: float  # from the start of the run to the INVITE
    patience_s: float  # on the line after the last key, waiting or talking, at most
    talk_s: float  # how long an operator talks with them (sent as X-CC-Talk)
    ivr_hangup_s: float = 0.0  # > 0: hangs up in the IVR after this long, without a key
    skill: str = ""  # the service it asks for ("": the plan's keys)
    language: str = ""  # the language it asks for ("": the centre's default)
    priority: int = 0  # as the city's gateway would classify it (sent as X-CC-Priority)


# SIPp starts the plan's calls at this rate, each then waiting its own arrival (a pause
# before its INVITE): so arrivals follow the plan, not SIPp's rate.
PLAN_START_RATE = 500.0
NUMBER_DIGITS = 6  # the caller's number: the prefix + the call's index, this wide


def injection_rows(
    calls: list[PlannedCall], start_rate: float = PLAN_START_RATE, indices: Sequence[int] | None = None
) -> list[str]:
    """The lines of SIPp's injection file for `calls` (SEQUENTIAL: call i reads line i):
    its index in the plan (`indices`, default 0, 1, ...: the caller's number ends with it);
    ms until the INVITE (its arrival less the moment SIPp starts it, i / start_rate);
    ms to an IVR hang-up (0: none); ms of patience; talk seconds; priority."""
    rows = ["SEQUENTIAL"]
    for i, call in enumerate(calls):
        index = i if indices is None else indices[i]
        pause_ms = max(0, round((call.arrive_s - i / start_rate) * 1000))
        rows.append(
            f"{index:0{NUMBER_DIGITS}d};{pause_ms};{round(call.ivr_hangup_s * 1000)};"
            f"{round(call.patience_s * 1000)};{call.talk_s:.3f};{call.priority};"
        )
    return rows


def call_index(number: str | None, prefix: str) -> int | None:
    """The plan's index of the call from `number` (prefix + index), None if not one of ours."""
    if number is None or not number.startswith(prefix):
        return None
    tail = number.removeprefix(prefix)
    return int(tail) if len(tail) == NUMBER_DIGITS and tail.isdigit() else None


@dataclass
class SippPlan(_SippProcess):
    """A load plan's callers, each with its own arrival, patience and talk time, placed by
    one SIPp process (the figures in its injection file)."""

    calls: list[PlannedCall]
    digits: str
    target_port: int
    number_prefix: str = "+346990"
    target_host: str = "127.0.0.1"
    service: str = "010"
    max_concurrent: int | None = None  # SIPp's -l: calls open at once (a later arrival waits)
    indices: list[int] | None = None  # each call's index in the whole plan (default: its own)
    process: asyncio.subprocess.Process | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-sipp-plan-")))

    def _scenario(self) -> Path:
        if not 1 <= len(self.calls) <= MAX_BURST_CALLS:
            raise ValueError(f"a plan places 1 to {MAX_BURST_CALLS} calls, not {len(self.calls)}")
        if not _NUMBER.match(self.number_prefix + "0" * NUMBER_DIGITS):
            raise ValueError(f"the number prefix must be digits (optional +), got {self.number_prefix!r}")
        scenario = self.workdir / "load-citizen.xml"
        pcaps = write_digits(self.workdir, self.digits, ssrc=random.getrandbits(32))
        steps = []
        for i, pcap in enumerate(pcaps):
            steps.append(f'  <pause milliseconds="{2000 if i == 0 else 1500}"/>')  # (as keys_s says)
            steps.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
        steps.append('  <pause milliseconds="500"/>')
        text = LOAD_SCENARIO.read_text()
        scenario.write_text(
            text.replace("@PREFIX@", self.number_prefix).replace("@DIGITS@", "\n".join(steps))
        )
        rows = injection_rows(self.calls, indices=self.indices)
        (self.workdir / "calls.csv").write_text("\n".join(rows) + "\n")
        return scenario

    def last_end_s(self) -> float:
        """When the plan's last caller would have hung up by their own patience."""
        return max(
            c.arrive_s + (c.ivr_hangup_s if c.ivr_hangup_s > 0 else keys_s(self.digits) + c.patience_s)
            for c in self.calls
        )

    def _limits(self) -> list[str]:
        deadline = int(self.last_end_s() + 90)
        concurrent = self.max_concurrent or len(self.calls)
        limits = _counted_limits(len(self.calls), concurrent, PLAN_START_RATE, deadline, self.workdir)
        return ["-inf", str(self.workdir / "calls.csv"), *limits]

    def counts(self) -> SippCounts:
        return read_counts(self.workdir / "stats.csv")


@dataclass
class SippPlans:
    """A plan placed by several SIPp processes (one per set of IVR keys: a scenario keys one
    set), started together, stopped together, their counts summed."""

    plans: list[SippPlan]

    async def start(self) -> None:
        # (Together: each process's arrivals count from its own start.)
        await asyncio.gather(*(plan.start() for plan in self.plans))

    @property
    def running(self) -> bool:
        return any(plan.running for plan in self.plans)

    async def wait(self, timeout: float | None = None) -> int:
        """The worst exit code (0: every call of every process succeeded)."""
        codes = await asyncio.gather(*(plan.wait(timeout) for plan in self.plans))
        return max(codes, default=0)

    def stop(self) -> None:
        for plan in self.plans:
            plan.stop()

    def counts(self) -> SippCounts:
        each = [plan.counts() for plan in self.plans]
        return SippCounts(sum(c.successful for c in each), sum(c.failed for c in each))

    def errors(self) -> str:
        return "".join(plan.errors() for plan in self.plans)[-2000:]


def keys_s(digits: str) -> float:
    """A load caller's time keying the IVR before their patience counts: the pauses around
    the key presses (2 s before the first, 1.5 s between, 0.5 s after the last)."""
    return 2.0 + 1.5 * max(0, len(digits) - 1) + 0.5 if digits else 0.0


class SippCounts(NamedTuple):
    successful: int
    failed: int


def read_counts(path: Path) -> SippCounts:
    """The last row of a SIPp `-trace_stat` file: its SuccessfulCall(C) and FailedCall(C)."""
    if not path.exists():
        return SippCounts(0, 0)
    rows = [line.split(";") for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(rows) < 2:
        return SippCounts(0, 0)
    header, last = rows[0], rows[-1]
    value = dict(zip(header, last, strict=False))
    return SippCounts(int(value.get("SuccessfulCall(C)", 0)), int(value.get("FailedCall(C)", 0)))


def _reply(status: str, *, tagged: bool, cseq: str = "[last_CSeq:]", attrs: str = "") -> str:
    """A SIPp <send> of a response to the last request: `tagged` adds our To tag (a
    response to the INVITE; a 200 to a BYE or CANCEL echoes their To as it came)."""
    to = "[last_To:];tag=[pid]SIPpTag01[call_number]" if tagged else "[last_To:]"
    return f"""  <send{attrs}>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      {to}
      [last_Call-ID:]
      {cseq}
      Content-Length: 0
    ]]>
  </send>"""


# How a called-back citizen's phone behaves, as SIPp scenario steps after the 180 Ringing.
_ANSWERS = {
    "answer": """  <pause milliseconds="@RING_MS@"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <!-- Talk, then hang up; or the system hangs up first (the operator ended it). -->
  <recv request="BYE" timeout="@STAY_MS@" ontimeout="hangup"/>
"""
    + _reply("200 OK", tagged=False, attrs=' next="end"'),
    "busy": """  <pause milliseconds="@RING_MS@"/>
"""
    + _reply("486 Busy Here", tagged=True)
    + """
  <recv request="ACK" crlf="true"/>""",
    # Rings until the caller gives up: CANCEL answered 200, then the INVITE 487.
    "noanswer": """  <recv request="CANCEL" timeout="@STAY_MS@"/>
"""
    + _reply("200 OK", tagged=False)
    + "\n"
    + _reply("487 Request Terminated", tagged=True, cseq="CSeq: [$invite_cseq] INVITE")
    + """
  <recv request="ACK" crlf="true"/>""",
}
# The citizen hangs up (only an answered call reaches this label).
_HANGUP = """  <label id="hangup"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$their_to];tag=[pid]SIPpTag01[call_number]
      To: [$their_from]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>"""
_REQUEST_URI = re.compile(r"^INVITE sip:([^@;> ]+)@", re.MULTILINE)


@dataclass
class SippCallee(_SippProcess):
    """A citizen's phone behind the trunk: a SIPp UAS on `port` that takes up to `calls`
    calls, each behaving as `behaviour` (answer, busy, noanswer) after `ring_s` of ringing
    (answered, it talks `stay_s`, then hangs up), and records the number each INVITE was
    for (`dialled()`)."""

    port: int = field(default_factory=_free_port)
    behaviour: str = "answer"
    ring_s: float = 1.0
    stay_s: float = 4.0  # answered: the conversation; unanswered: the longest it may ring
    calls: int = 1
    process: asyncio.subprocess.Process | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-sipp-callee-")))

    def __post_init__(self) -> None:
        if self.behaviour not in _ANSWERS:
            raise ValueError(f"behaviour must be one of {sorted(_ANSWERS)}, got {self.behaviour!r}")
        if not 1 <= self.calls <= 100:
            raise ValueError(f"a callee takes 1 to 100 calls, not {self.calls}")

    def _scenario(self) -> Path:
        scenario = self.workdir / "callee.xml"
        steps = _ANSWERS[self.behaviour]
        hangup = _HANGUP if self.behaviour == "answer" else ""
        text = CALLEE_SCENARIO.read_text().replace("@ANSWER@", steps).replace("@HANGUP@", hangup)
        scenario.write_text(
            text.replace("@RING_MS@", str(int(self.ring_s * 1000))).replace(
                "@STAY_MS@", str(int(self.stay_s * 1000))
            )
        )
        return scenario

    def _target(self) -> list[str]:
        return []  # a UAS: it is called

    def _local_port(self) -> int:
        return self.port

    def _limits(self) -> list[str]:
        deadline = int(self.calls * (self.ring_s + self.stay_s) + 60)
        messages = self.workdir / "messages.log"
        return [
            "-m",
            str(self.calls),
            "-timeout",
            f"{deadline}s",
            "-trace_msg",
            "-message_file",
            str(messages),
        ]

    def dialled(self) -> list[str]:
        """The user part of each INVITE's Request-URI received so far: the numbers dialled."""
        path = self.workdir / "messages.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return _REQUEST_URI.findall(text)
