# RFC 4733 DTMF as pcap files for SIPp's play_pcap_audio. Rule: every digit a call sends
# gets its own RTP timestamp and sequence numbers under one SSRC, as a real phone's would.
# (Replaying SIPp's stock dtmf_2833_N.pcap twice sends the same timestamp twice, and
# Asterisk rightly drops the second press as a retransmission of the first.)
from __future__ import annotations

import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PAYLOAD_TYPE = 101
_PACKET_GAP_US = 20_000  # one packet per 20 ms, like a phone
_STEPS = 8  # 160 ms of tone, then three end packets


def _packet(payload: bytes, src_port: int, dst_port: int) -> bytes:
    udp = struct.pack(">HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])
    )
    checksum = 0
    for i in range(0, 20, 2):
        checksum += (ip[i] << 8) + ip[i + 1]
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    ip = ip[:10] + struct.pack(">H", ~checksum & 0xFFFF) + ip[12:]
    ether = b"\x00" * 12 + b"\x08\x00"
    return ether + ip + udp


def dtmf_pcap(digit: str, *, ssrc: int, seq: int, timestamp: int) -> bytes:
    """A pcap (Ethernet/IPv4/UDP/RTP) of one key press, as RFC 4733 telephone-events."""
    if digit not in EVENTS:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    event = EVENTS[digit]
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t_us = 0
    packets = [(i * 160, False) for i in range(_STEPS)] + [(_STEPS * 160, True)] * 3
    for n, (duration, end) in enumerate(packets):
        marker = 0x80 if n == 0 else 0
        rtp = struct.pack(
            ">BBHII", 0x80, marker | PAYLOAD_TYPE, (seq + n) & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
        )
        payload = rtp + struct.pack(">BBH", event, (0x80 if end else 0) | 10, duration)
        frame = _packet(payload, 6000, 6002)
        out.append(struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)))
        out.append(frame)
        if not end:
            t_us += _PACKET_GAP_US
    return b"".join(out)


def write_digits(folder: Path, digits: str, ssrc: int) -> list[Path]:
    """One pcap per digit of `digits`, with increasing timestamps and sequence numbers."""
    paths = []
    for i, digit in enumerate(digits):
        path = folder / f"dtmf-{i}.pcap"
        path.write_bytes(dtmf_pcap(digit, ssrc=ssrc, seq=1000 + 20 * i, timestamp=16_000 * (i + 1)))
        paths.append(path)
    return paths
