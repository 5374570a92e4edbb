# `contactcenter run --config ...` as an operator of the service starts it: a separate
# process that connects to the sandbox's Asterisk, routes a real SIP call to an operator of
# the chosen skill, and stops cleanly on SIGTERM.
from __future__ import annotations

import asyncio
import signal
import sys

from contactcenter.sim.sipp import SippCall
from tests.conftest import TEST_CONFIG
from tests.controllerproc import run_controller
from tests.recorder import AmiRecorder


async def test_run_command_routes_a_call_and_stops_on_sigterm(asterisk, observer: AmiRecorder) -> None:
    proc = await run_controller(TEST_CONFIG)
    try:
        assert proc.stdout is not None
        call = SippCall(caller="+34600000501", digits="32", stay_s=6, target_port=asterisk.sip_port)
        await call.start()
        ch = await observer.channel_of(call)
        _, operator_leg = await observer.bridged_with(ch, timeout=20)
        assert operator_leg["Channel"].startswith("Local/marta@cc-sim-operator")  # tramits
        assert await call.wait(30) == 0, call.errors()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stdout.read(), 15) if proc.stdout else b""
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0, rest.decode(errors="replace")[-2000:]
    assert b"Traceback" not in rest
    # The caller's number appears in the controller's log only masked.
    assert b"600000501" not in rest


async def test_run_with_no_asterisk_retries_saying_where_then_exits_2_naming_it(tmp_path) -> None:
    # Nothing listens on the AMI port: the controller says where it tries, backs off, and
    # when Asterisk never answered within ami.connect_timeout exits 2 with one line naming
    # host:port (no traceback). No Asterisk needed for this one.
    import socket

    import yaml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    data = yaml.safe_load(TEST_CONFIG.read_text())
    data["ami"].update(port=port, connect_timeout=3)
    cfg = tmp_path / "no-asterisk.yaml"
    cfg.write_text(yaml.safe_dump(data))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "contactcenter.cli",
        "run",
        "--config",
        str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    where = f"127.0.0.1:{port}"
    attempts = [line for line in text.splitlines() if "cannot connect" in line]
    assert len(attempts) >= 2 and all(where in line and "next attempt in" in line for line in attempts)
    last = text.strip().splitlines()[-1]
    assert last.startswith("contactcenter: ") and where in last and "did not answer" in last
