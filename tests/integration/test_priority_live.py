# A caller's priority, live: the city's gateway classifies a call with the SIP header
# X-CC-Priority (SIPp here, through the sandbox's `pstn` endpoint, as `contactcenter load`
# sends a trace's priorities); the dialplan hands its digit on in CcQueued, and the core
# serves by it. Ana, the only `info` operator, is busy; a priority-0 caller queues, then a
# priority-1 caller; when Ana is free she is joined to the priority-1 caller first (strict
# classes, the test centre's routing), by Asterisk's own order of the conference joins.
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.sim.load import NUMBER_PREFIX
from contactcenter.sim.sipp import NUMBER_DIGITS, PlannedCall, SippPlan
from tests.integration.test_callbacks import ana_talking
from tests.recorder import AmiRecorder


@pytest.fixture
async def strict_centre(test_config: Config, observer: AmiRecorder) -> AsyncIterator[Controller]:
    assert test_config.routing.priority_head_start == ()  # strict classes
    ctl = Controller(test_config)
    await ctl.start()
    yield ctl
    await ctl.stop()


async def test_a_priority_caller_who_came_later_is_served_first(
    asterisk, observer: AmiRecorder, strict_centre: Controller
) -> None:
    a = await ana_talking(observer, "+34600000961", 10, asterisk.sip_port)
    # Index 0 (priority 0) at once, index 1 (priority 1) 2 s later; both wait for Ana.
    callers = [PlannedCall(0.0, 60.0, 3.0, priority=0), PlannedCall(2.0, 60.0, 3.0, priority=1)]
    plan = SippPlan(calls=callers, digits="11", target_port=asterisk.sip_port, number_prefix=NUMBER_PREFIX)
    try:
        await plan.start()
        channels, uids = [], []
        for index in range(len(callers)):
            number = f"{NUMBER_PREFIX}{index:0{NUMBER_DIGITS}d}"
            arrived = await observer.wait_for(
                lambda e, n=number: (
                    e.get("Event") == "UserEvent"
                    and e.get("UserEvent") == "CcQueued"
                    and e.get("CallerIDNum") == n
                ),
                20,
                f"caller {index} queued",
            )
            assert arrived.get("CcPriority") == str(callers[index].priority)
            channels.append(str(arrived["Channel"]))
            uids.append(str(arrived["Uniqueid"]))
        joined = [await observer.bridged_with(ch, timeout=40) for ch in reversed(channels)]
        first_p1, first_p0 = (observer.events.index(j[0]) for j in joined)
        assert first_p1 < first_p0  # priority 1 joined Ana before priority 0, who came first
        # The controller's own order of routing says the same.
        assert [c for c, _, _ in strict_centre.routed if c in uids] == [uids[1], uids[0]]
        assert await plan.wait(60) == 0, plan.errors()
        assert await a.wait(30) == 0, a.errors()
    finally:
        plan.stop()
        a.stop()
        await asyncio.sleep(0)
