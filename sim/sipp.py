# SIPp callers: real SIP calls with real RFC 4733 DTMF into the sandbox's `pstn` endpoint.
# Rules: one SIPp process per citizen (each has its own digits and timing), on loopback
# only, on ports chosen free by the OS; every process is ours to stop, by its pid.
from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from contactcenter.sim.dtmf import write_digits

SCENARIO = Path(__file__).resolve().parent / "sipp" / "citizen.xml"
_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def render_scenario(
    caller: str,
    digit_pcaps: list[Path],
    stay_s: float,
    first_digit_after_s: float = 2.0,
    between_digits_s: float = 1.5,
) -> str:
    """The citizen scenario with its number, IVR key presses and time on the line."""
    if not _NUMBER.match(caller):
        raise ValueError(f"caller number must be digits with an optional +, got {caller!r}")
    steps = []
    for i, pcap in enumerate(digit_pcaps):
        pause = first_digit_after_s if i == 0 else between_digits_s
        steps.append(f'  <pause milliseconds="{int(pause * 1000)}"/>')
        steps.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    # Leave the last digit time to be heard before the wait begins.
    steps.append('  <pause milliseconds="500"/>')
    text = SCENARIO.read_text()
    return (
        text.replace("@CALLER@", caller)
        .replace("@DIGITS@", "\n".join(steps))
        .replace("@STAY_MS@", str(int(stay_s * 1000)))
    )


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SippCall:
    """One citizen's call, placed by its own SIPp process."""

    caller: str
    digits: str
    stay_s: float
    target_port: int
    target_host: str = "127.0.0.1"
    service: str = "010"
    process: asyncio.subprocess.Process | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-sipp-")))

    async def start(self) -> None:
        scenario = self.workdir / "citizen.xml"
        pcaps = write_digits(self.workdir, self.digits, ssrc=random.getrandbits(32))
        scenario.write_text(render_scenario(self.caller, pcaps, self.stay_s))
        media = _free_port() & ~1  # RTP on an even port
        self.process = await asyncio.create_subprocess_exec(
            "sipp",
            f"{self.target_host}:{self.target_port}",
            "-sf",
            str(scenario),
            "-s",
            self.service,
            "-i",
            "127.0.0.1",
            "-p",
            str(_free_port()),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(media),
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
            "-timeout",
            f"{int(self.stay_s + 60)}s",
            "-timeout_error",
            "-trace_err",
            "-error_file",
            str(self.workdir / "errors.log"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,  # errors go to errors.log (-trace_err)
            cwd=self.workdir,
        )

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for SIPp to finish; its exit code is 0 when the call succeeded."""
        assert self.process is not None
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
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
