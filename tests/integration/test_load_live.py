# The capacity test, live: `contactcenter load`'s driver puts a burst of SIPp citizens
# (RFC 4733 DTMF through the IVR) through the real Asterisk into the tests' 220 lines, with
# fewer simulated operators than lines and callers whose patience runs out while the
# operators' conversations and wrap-ups last longer. Every expected count comes from the
# plan (sim/load.py's `expected`), and three views must agree with it: the controller's
# (KPIs, lines in use), SIPp's (its own successful/failed counts) and Asterisk's (citizen
# channels seen at once, none left).
from __future__ import annotations

from pathlib import Path

import yaml

from contactcenter.sandbox import SandboxState
from contactcenter.sim.load import LoadPlan, centre_for, expected, run_load
from tests.conftest import TEST_CONFIG

CALLS = 300  # more than the test centre's 220 lines: some must be blocked


async def test_a_burst_beyond_the_lines_is_held_blocked_answered_and_abandoned_as_planned(
    asterisk: SandboxState, tmp_path: Path
) -> None:
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    raw["records"]["path"] = str(tmp_path / "records.sqlite")
    raw["callbacks"]["store"] = str(tmp_path / "callbacks.sqlite")
    lines = int(raw["centre"]["lines"])
    plan = LoadPlan(
        calls=CALLS,
        rate=150,  # the burst lasts 2 s: shorter than any call, so all overlap
        patience_s=30,  # callers hang up 30 s after their last key, waiting or talking
        talk_s=600,  # operators never end first: a conversation ends with the caller's patience
        operators=lines - 20,  # some held callers wait, and give up
        # No operator is free again before every waiter has given up: a long wrap-up, so that
        # a slow machine (the burst and the IVR stretched by seconds) keeps the counts exact.
        wrap_up_s=60,
    )
    cfg = centre_for(raw, plan, "load test")
    want = expected(plan, cfg.lines, cfg.routing.wrap_up)
    assert want is not None, "the plan must be one the model predicts exactly"
    assert want.blocked > 0 and want.abandoned > 0  # (the plan exercises both)

    report = await run_load(cfg, plan, asterisk)
    print(f"\nload: {report}")

    k = report.kpis
    assert report.max_lines_in_use == want.held, report
    assert (k["blocked"], k["answered"], k["abandoned"]) == (want.blocked, want.answered, want.abandoned), k
    assert k["callback"] == 0 and k["closed"] == 0, k
    assert k["offered"] == CALLS, k  # every caller ended: answered, abandoned, blocked or called back
    assert report.sipp["successful"] + report.sipp["failed"] == CALLS, report.sipp
    assert report.sipp["failed"] == 0 and report.sipp["exit_code"] == 0, report.sipp
    assert want.held <= report.asterisk_max_citizen_channels <= CALLS, report
    assert report.channels_left == 0, report
    assert report.routing_latency_ms["count"] >= want.answered, report.routing_latency_ms
    assert report.ami_events_per_call > 0
