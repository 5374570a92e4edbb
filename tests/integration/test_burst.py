# A burst of real SIP calls through the real Asterisk: 250 SIPp citizens in two seconds,
# each keyed through the IVR with RFC 4733 DTMF, connected to one of 250 simulated
# operators (a conference per call), talking a few seconds, then hung up by the operator.
# After it, Asterisk must hold no channel at all (no Surrogate/... leaked by a masquerade),
# no operator may be paused or left unreachable (a burst's failed Originates are the
# system's, retried), and every call must have been answered.
from __future__ import annotations

import time

import yaml

from contactcenter.config import parse_config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallOutcome, OperatorState
from contactcenter.sim.sipp import SippBurst
from tests.conftest import TEST_CONFIG
from tests.polling import until
from tests.recorder import AmiRecorder

CALLERS = 250


async def test_a_burst_of_250_callers_leaves_no_channel_and_no_operator_paused(
    asterisk, observer: AmiRecorder
) -> None:
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    raw["centre"]["lines"] = CALLERS + 50  # every citizen gets in: the subject is connecting them
    raw["operators"] = [
        *({"id": f"b{i:03d}", "skills": {"info": 1}} for i in range(CALLERS)),  # all languages
        *(op for op in raw["operators"] if "info" not in op["skills"]),  # the other skills' own
    ]
    raw["simulated_operators"] = {"ring_delay": 1, "talk_seconds": 4}
    cfg = parse_config(raw, "burst")
    ctl = Controller(cfg)
    await ctl.start()
    try:
        burst = SippBurst(calls=CALLERS, rate=125, digits="11", stay_s=60, target_port=asterisk.sip_port)
        t0 = time.monotonic()
        await burst.start()
        await until(lambda: len(ctl.routed) == CALLERS, 90, f"{CALLERS} calls answered")
        connected_s = time.monotonic() - t0
        assert await burst.wait(120) == 0, burst.errors()
        await until(lambda: not ctl.engine.calls, 30, "every call ended in the core")

        async def channels() -> list[object]:
            return await observer.link.list_items({"Action": "CoreShowChannels"}, "CoreShowChannel")

        deadline = time.monotonic() + 20
        left = await channels()
        while left and time.monotonic() < deadline:
            left = await channels()
        assert left == [], [(c.get("Channel"), c.get("ChannelStateDesc")) for c in left][:10]

        outcomes = [c.outcome for c in ctl.finished]
        assert outcomes.count(CallOutcome.ANSWERED) == CALLERS, outcomes
        states = {op.state for op in ctl.engine.snapshot(ctl.now()).operators.values()}
        assert OperatorState.PAUSED not in states
        faults = {k: v for k, v in ctl.counters.items() if k.startswith("unreachable_")}
        await until(
            lambda: all(
                op.state is OperatorState.AVAILABLE
                for op in ctl.engine.snapshot(ctl.now()).operators.values()
            ),
            cfg.routing.fault_retry_max + 5,
            "every operator available again",
        )
        print(
            f"\nburst: {CALLERS} SIPp callers connected in {connected_s:.1f} s; channels left 0;"
            f" operators paused 0; system faults retried {faults or 'none'};"
            f" stale facts {dict(ctl.engine.stale_facts) or 'none'}; AMI events {ctl.counters['ami_events']}"
        )
    finally:
        await ctl.stop()
