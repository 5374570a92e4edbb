# The SIPp process wrapper, with the real SIPp binary: a port taken by another process
# between our choosing it and SIPp binding it (a race the OS makes possible, produced here
# on demand by holding the port) costs a fresh start, not a failed call. SIPp dials a
# loopback port nothing answers; it is stopped by its pid at the end.
from __future__ import annotations

import socket

import pytest

from contactcenter.sim import sipp
from contactcenter.sim.sipp import SippCall

pytestmark = pytest.mark.skipif(not sipp.sipp_available(), reason="SIPp (sip-tester) not installed")


def _held_udp_port() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


async def test_sipp_starts_again_on_fresh_ports_when_its_port_was_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = _held_udp_port()
    taken = held.getsockname()[1]
    chosen: list[int] = []
    real_free_port = sipp._free_port

    def first_taken_then_free(kind: int = socket.SOCK_DGRAM) -> int:
        port = taken if not chosen else real_free_port(kind)
        chosen.append(port)
        return port

    monkeypatch.setattr(sipp, "_free_port", first_taken_then_free)
    nobody = _held_udp_port()  # a port that answers nothing: the call just rings out
    call = SippCall(caller="+34600000901", digits="1", stay_s=1, target_port=nobody.getsockname()[1])
    try:
        await call.start()
        assert chosen[0] == taken
        assert len(chosen) >= 2, "SIPp was not started a second time"
        assert call.running, call.errors()
        assert sipp._BIND_FAILED not in call.errors()
    finally:
        call.stop()
        if call.process is not None:
            await call.process.wait()  # reaped while the loop runs, not in a finaliser
        held.close()
        nobody.close()


async def test_sipp_start_gives_up_after_bounded_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    held = _held_udp_port()
    taken = held.getsockname()[1]
    attempts: list[int] = []

    def always_taken(kind: int = socket.SOCK_DGRAM) -> int:
        attempts.append(taken)
        return taken

    monkeypatch.setattr(sipp, "_free_port", always_taken)
    monkeypatch.setattr(sipp, "_free_media_port", lambda: 40000)
    call = SippCall(caller="+34600000902", digits="1", stay_s=1, target_port=9)
    try:
        with pytest.raises(OSError, match=f"could not bind its ports in {sipp._BIND_ATTEMPTS} attempts"):
            await call.start()
        assert len(attempts) == sipp._BIND_ATTEMPTS
        assert not call.running
    finally:
        call.stop()
        if call.process is not None:
            await call.process.wait()  # reaped while the loop runs, not in a finaliser
        held.close()


def test_media_port_is_even_with_its_neighbours_free() -> None:
    base = sipp._free_media_port()
    assert base % 2 == 0
    for port in range(base, base + 4):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("display", "plain"),
    [
        ("Citizen", True),
        ("Josép Müller — 日本語 🙂", True),  # citizens' names are not ASCII
        ("", True),
        ('Evil" <sip:x@y>', False),  # a quote would end the name in the From header
        ("a<b", False),
        ("a&b", False),  # (XML: the scenario file)
        ("line\nbreak", False),
        ("bell\x07", False),
        ("x" * 41, False),
    ],
)
def test_a_display_name_is_plain_text_in_any_script(display: str, plain: bool) -> None:
    assert sipp._plain_display(display) is plain
    if not plain:
        with pytest.raises(ValueError, match="display name"):
            sipp.render_scenario("+34600000001", [], 1.0, display=display)
