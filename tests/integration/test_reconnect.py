# The controller loses its AMI link mid-call; the citizen hangs up while it is away, and
# another citizen calls. On reconnection (FullyBooted) it resyncs from CoreShowChannels:
# the call ends in the core and the operator is freed, instead of being held by a call
# that no longer exists; the newcomer, whose arrival it never heard, is taken in and served.
from __future__ import annotations

import dataclasses

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import OperatorState
from tests.faultproxy import FaultProxy
from tests.polling import until
from tests.recorder import AmiRecorder


async def test_resync_after_reconnect_ends_calls_that_ended_meanwhile(
    asterisk, observer: AmiRecorder, test_config: Config
) -> None:
    proxy = FaultProxy(asterisk.ami_host, asterisk.ami_port)
    await proxy.start()
    cfg = dataclasses.replace(test_config, ami=dataclasses.replace(test_config.ami, port=proxy.port))
    ctl = Controller(cfg)
    await ctl.start()
    try:
        # A simulated citizen keys 1 (Catalan), 1 (information) -> Ana.
        await observer.simulated_citizen("11")
        await until(lambda: ctl.engine.operators["ana"].state is OperatorState.TALKING, 20, "Ana to answer")
        call_id = ctl.engine.operators["ana"].call_id
        caller_channel = ctl.channels.callers[call_id]

        resyncs = ctl.counters["resyncs"]  # (one at the first connection)
        proxy.refuse = True
        proxy.cut()
        await until(lambda: not ctl.ami.ready, 5, "the controller to see the link go")
        await observer.link.send({"Action": "Hangup", "Channel": caller_channel})
        await observer.wait_for(
            lambda e: e.get("Event") == "Hangup" and e.get("Channel") == caller_channel,
            5,
            "the citizen's hangup, while the controller is disconnected",
        )
        # The core has not heard of it yet: Ana still "talks" to a caller who has gone.
        assert ctl.engine.operators["ana"].state is OperatorState.TALKING
        # A citizen calls meanwhile and waits in the queue: nobody hears them arrive.
        await observer.simulated_citizen("11")
        queued = await observer.wait_for(
            lambda e: e.get("UserEvent") == "CcQueued" and e.get("Uniqueid") != call_id,
            15,
            "the newcomer in the queue, while the controller is disconnected",
        )
        newcomer = str(queued["Uniqueid"])
        assert newcomer not in ctl.engine.calls

        proxy.refuse = False
        await until(lambda: call_id not in ctl.engine.calls, 15, "the resync to end the call")
        assert ctl.counters["resyncs"] == resyncs + 1
        assert [c.call_id for c in ctl.finished] == [call_id]
        # Taken in at the resync (sent back to the queue, which says their skill again) and
        # given to Ana once her wrap-up is over.
        assert ctl.counters["calls_adopted"] == 1
        await until(
            lambda: newcomer in ctl.engine.calls and ctl.engine.calls[newcomer].operator_id == "ana",
            20,
            "the newcomer offered to Ana",
        )
    finally:
        await ctl.stop()
        await proxy.close()
