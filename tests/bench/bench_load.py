# Live load figures through the real Asterisk (the sandbox must be up with the tests'
# centre: `contactcenter sandbox up --config tests/integration/010-test.yaml`): a burst of
# SIPp callers, one simulated operator each, the time until all are connected, and at
# 220 calls the controller's routing latency p50/p99 (event read to action written), CPU
# seconds, peak RSS, AMI events per call and event-loop lag. It prints figures and never
# fails on speed. (Still to come: the same burst through tests/bench/bare_originate.py, a
# bare panoramisk Originate+Bridge, for the ratio; goal <= 1.3x.)
from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import yaml

from contactcenter import sandbox
from contactcenter.sim.load import LoadPlan, centre_for, run_load

TEST_CONFIG = Path(__file__).resolve().parent.parent / "integration" / "010-test.yaml"


async def burst(calls: int, state: sandbox.SandboxState) -> None:
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-load-"))
    raw["records"]["path"] = str(tmp / "records.sqlite")
    raw["callbacks"]["store"] = str(tmp / "callbacks.sqlite")
    plan = LoadPlan(calls=calls, rate=125, patience_s=30, talk_s=4, lines=max(calls, 220), operators=calls)
    r = await run_load(centre_for(raw, plan, "bench"), plan, state, progress=lambda line: None)
    print(
        f"{calls} calls: all connected in {r.connected_s} s (wall {r.wall_s} s);"
        f" answered {r.kpis['answered']}; sipp ok {r.sipp['successful']} failed {r.sipp['failed']};"
        f" routing latency p50 {r.routing_latency_ms['p50']} ms p99 {r.routing_latency_ms['p99']} ms;"
        f" CPU {r.controller_cpu_s} s; peak RSS {r.peak_rss_mb} MB;"
        f" AMI events/call {r.ami_events_per_call}; lag mean {r.event_loop_lag_ms['mean']} ms"
        f" max {r.event_loop_lag_ms['max']} ms; Asterisk max channels {r.asterisk_max_channels};"
        f" left {r.channels_left}"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, nargs="*", default=[250, 220])
    args = p.parse_args()
    state = sandbox.load_state()
    if state is None or not sandbox.status()["running"]:
        raise SystemExit(
            "the sandbox is not running: contactcenter sandbox up --config tests/integration/010-test.yaml"
        )
    for calls in args.calls:
        asyncio.run(burst(calls, state))


if __name__ == "__main__":
    main()
