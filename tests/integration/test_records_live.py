# The records of a live run through the real Asterisk: SIPp citizens call the sandbox, the
# controller records every call and operator change (controller.records, a RecordsWriter
# started and stopped with it), and after a clean stop `contactcenter report` on its file
# counts exactly the calls placed, and draws its plot. The records file is the test's own.
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import sqlite3
import zoneinfo
from pathlib import Path

from contactcenter.cli import main
from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.records import RecordsWriter
from contactcenter.sim.sipp import SippCall
from tests.polling import until
from tests.recorder import AmiRecorder

FIRST_STAYS_S = 20  # Marta, `tramits`' only operator, talks to the first caller this long
OTHERS_STAY_S = 5  # the others wait behind them, then hang up: abandoned while waiting
CALLERS = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_after_a_live_run_the_report_counts_every_call_placed(
    asterisk, observer: AmiRecorder, test_config: Config, tmp_path: Path
) -> None:
    assert test_config.records is not None
    records = tmp_path / "records.sqlite"
    cfg = dataclasses.replace(test_config, records=dataclasses.replace(test_config.records, path=records))
    ctl = Controller(cfg)
    assert isinstance(ctl.records, RecordsWriter)
    numbers = [f"+3460000{n:04d}" for n in range(4101, 4101 + CALLERS)]
    tz = cfg.hours.tz if cfg.hours is not None else zoneinfo.ZoneInfo("UTC")
    first_day = dt.datetime.now(tz).date()
    await ctl.start()
    try:
        port = asterisk.sip_port
        # "22": Spanish, procedures: Marta. The first is answered; the others wait behind them.
        first = SippCall(caller=numbers[0], digits="22", stay_s=FIRST_STAYS_S, target_port=port)
        await first.start()
        await observer.bridged_with(await observer.channel_of(first), timeout=20)
        others = [
            SippCall(caller=n, digits="22", stay_s=OTHERS_STAY_S, target_port=port) for n in numbers[1:]
        ]
        for call in others:
            await call.start()
            await asyncio.sleep(0.3)
        for call in [first, *others]:
            assert await call.wait(60) == 0, call.errors()
        await until(lambda: not ctl.engine.calls, 20, "every call ended in the core")
        placed = {c.call_id: c.outcome for c in ctl.finished}
        assert len(placed) == CALLERS
    finally:
        await ctl.stop()
    assert ctl.counters["records_failed"] == 0 and ctl.counters["records_written"] > 0

    out = tmp_path / "report.json"
    png = Path(os.environ.get("CC_ARTEFACTS") or tmp_path) / "report-live.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    last_day = dt.datetime.now(tz).date()  # (a run across midnight spans two days)
    args = [
        "report",
        "--records",
        str(records),
        "--from",
        first_day.isoformat(),
        "--to",
        last_day.isoformat(),
    ]
    assert main([*args, "--json", str(out), "--plot", str(png), "--quiet"]) == 0
    total = json.loads(out.read_text())["total"]
    assert total["offered"] == CALLERS
    assert total["answered"] + total["abandoned"] == CALLERS
    assert total["answered"] == sum(o is CallOutcome.ANSWERED for o in placed.values()) >= 1
    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 20_000
    print(f"live report plot saved as {png}")

    db = sqlite3.connect(f"{records.as_uri()}?mode=ro", uri=True)
    try:
        recorded = {row[0]: row[1] for row in db.execute("SELECT call_id, outcome FROM calls")}
        assert recorded == {call_id: o.value for call_id, o in placed.items() if o is not None}
        states = {row[0] for row in db.execute("SELECT DISTINCT operator_id FROM operator_states")}
        assert "marta" in states
    finally:
        db.close()
    raw = records.read_bytes()
    assert not [n for n in numbers if n.lstrip("+").encode() in raw]  # no caller's number kept
