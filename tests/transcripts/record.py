"""Record AMI transcripts from the real sandbox, for tests/adapters/test_transcripts.py.

    contactcenter sandbox up --config tests/integration/010-test.yaml
    python tests/transcripts/record.py            # writes tests/transcripts/*.ami
    contactcenter sandbox down

Each transcript is what the controller's own AMI session exchanged with Asterisk while the
real controller handled real SIPp calls: every event it received (`<<< seconds`) and every
action it sent (`>>> seconds`), each frame as AMI text, frames apart by a blank line. Caller
numbers are the tests' fake ones (+34600000xxx). Re-record when the dialplan or the
controller's actions change; the replay test then says what the translation became.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contactcenter import sandbox  # noqa: E402
from contactcenter.adapters.ami import AmiLink  # noqa: E402
from contactcenter.config import parse_config  # noqa: E402
from contactcenter.controller import Controller  # noqa: E402
from contactcenter.sim.sipp import SippCall  # noqa: E402
from tests.conftest import TEST_CONFIG  # noqa: E402
from tests.polling import until  # noqa: E402

HERE = Path(__file__).resolve().parent


class Recorder:
    """An AmiLink that writes down every event in and action out, with their times."""

    def __init__(self, link_kwargs: dict[str, Any], on_event: Callable[[Any], None], on_ready: Any) -> None:
        self.frames: list[str] = []
        self.t0 = time.monotonic()
        self._on_event = on_event
        self.link = AmiLink(**link_kwargs, on_event=self._event, on_ready=on_ready)

    def _stamp(self) -> str:
        return f"{time.monotonic() - self.t0:.3f}"

    def _event(self, message: Any) -> None:
        lines = [f"{k}: {v}" for k, v in message.items() if k != "content"]
        self.frames.append(f"<<< {self._stamp()}\n" + "\n".join(lines))
        self._on_event(message)

    @property
    def ready(self) -> bool:
        return self.link.ready

    async def connect(self) -> None:
        await self.link.connect()

    def close(self) -> None:
        self.link.close()

    def write(self, action: Mapping[str, object], **kw: Any) -> Any:
        if action.get("Action") not in ("Ping", "CoreShowChannels"):
            lines = []
            for k, v in action.items():
                lines += [f"{k}: {x}" for x in v] if isinstance(v, list) else [f"{k}: {v}"]
            self.frames.append(f">>> {self._stamp()}\n" + "\n".join(lines))
        return self.link.write(action, **kw)

    async def send(self, action: Mapping[str, object], **kw: Any) -> Any:
        return await self.write(action, **kw)

    async def list_items(self, action: Mapping[str, object], item_event: str) -> Any:
        return await self.link.list_items(action, item_event)


async def record(name: str, cfg_raw: dict[str, Any], calls: list[SippCall], what: str, done: Any) -> None:
    cfg = parse_config(cfg_raw, str(TEST_CONFIG))
    a = cfg.ami
    kwargs = dict(
        host=a.host, port=a.port, username=a.username, secret=a.secret, action_timeout=a.action_timeout
    )
    holder: dict[str, Recorder] = {}

    def factory(on_event: Callable[[Any], None], on_ready: Any) -> Recorder:
        holder["r"] = Recorder(kwargs, on_event, on_ready)
        return holder["r"]

    ctl = Controller(cfg, ami=factory)
    await ctl.start()
    try:
        for call in calls:
            await call.start()
            await asyncio.sleep(1.0)
        for call in calls:
            await call.wait(90)
        await until(lambda: done(ctl), 30, f"{name}: {what}")
        await asyncio.sleep(1.0)  # the last hangups
    finally:
        await ctl.stop()
    frames = holder["r"].frames
    header = (
        f"# {name}: {what}\n# Recorded from the sandbox's Asterisk by tests/transcripts/record.py"
        f" on {time.strftime('%Y-%m-%d')}; the controller's own AMI session.\n"
    )
    (HERE / f"{name}.ami").write_text(header + "\n" + "\n\n".join(frames) + "\n")
    print(f"{name}: {len(frames)} frames")


async def main() -> None:
    state = sandbox.load_state()
    if state is None or not sandbox.status()["running"] or state.config != str(TEST_CONFIG.resolve()):
        raise SystemExit(
            f"start the sandbox with {TEST_CONFIG} first (contactcenter sandbox up --config ...)"
        )
    port = state.sip_port
    base = yaml.safe_load(TEST_CONFIG.read_text())
    # Two citizens for `tramits` (Marta, its only operator): the first is answered and hangs
    # up after talking; the second waits and hangs up while waiting.
    await record(
        "answered-and-abandoned",
        base,
        [
            SippCall(caller="+34600000701", digits="22", stay_s=8, target_port=port),
            SippCall(caller="+34600000702", digits="22", stay_s=5, target_port=port),
        ],
        "one citizen answered (talks, hangs up), one hangs up while waiting",
        lambda ctl: len(ctl.finished) == 2,
    )
    # An operator whose phone Asterisk cannot ring (no extension for a one-letter id): the
    # Originate fails at once (Reason 0), and the citizen goes to the next operator.
    faults = yaml.safe_load(TEST_CONFIG.read_text())
    faults["operators"] = [{"id": "x", "skills": {"info": 1}}, {"id": "ana", "skills": {"info": 2}}] + [
        op for op in faults["operators"] if op["id"] != "ana"
    ]
    await record(
        "originate-failed",
        faults,
        [SippCall(caller="+34600000703", digits="11", stay_s=6, target_port=port)],
        "the first operator's phone cannot be rung (Reason 0); the second answers",
        lambda ctl: len(ctl.finished) == 1,
    )


if __name__ == "__main__":
    asyncio.run(main())
