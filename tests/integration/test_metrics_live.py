# /metrics of the live controller while real SIP calls flow through the real Asterisk: one
# SIPp citizen per skill keys the IVR (RFC 4733 DTMF), is answered by that skill's simulated
# operator, talks, and hangs up. Scraped over HTTP (config `http`) while they talk and after
# they ended, the exposition must pass `promtool check metrics`, carry no phone number in a
# label, and count exactly the calls placed; waits and talk times are the core's own.
from __future__ import annotations

import pytest
from prometheus_client.utils import floatToGoString

from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallOutcome, OperatorState
from contactcenter.sim.sipp import SippCall
from tests.polling import until
from tests.recorder import AmiRecorder
from tests.scrape import Samples, assert_labels_clean, http_get, promtool_check

# (IVR digits, skill, language) of each citizen: language menu then service menu.
CITIZENS = (("11", "info", "ca"), ("22", "tramits", "es"), ("33", "tributs", "en"))
STAY_S = 15  # long enough for all three to be talking at once


async def scrape(controller: Controller) -> Samples:
    # (`http.port` of the config; the listener's own, should a test ask for any free port: 0)
    reply = await http_get(f"http://{controller.cfg.http.host}:{controller.http.port}/metrics")
    assert reply.status == 200, reply.body[:200]
    assert reply.content_type.startswith("text/plain; version=0.0.4")
    samples = Samples(reply.body)
    promtool_check(samples.text)
    assert_labels_clean(samples)
    return samples


async def test_metrics_pass_promtool_and_count_the_sip_calls_placed(
    asterisk, observer: AmiRecorder, controller: Controller
) -> None:
    before = await scrape(controller)
    calls = [
        SippCall(caller=f"+3460000040{i}", digits=digits, stay_s=STAY_S, target_port=asterisk.sip_port)
        for i, (digits, _, _) in enumerate(CITIZENS, 1)
    ]
    for call in calls:
        await call.start()

    def talking() -> int:
        return sum(op.state is OperatorState.TALKING for op in controller.engine.operators.values())

    await until(lambda: talking() == len(CITIZENS), 40, "every citizen talking to an operator")
    during = await scrape(controller)
    assert during.value("cc_ami_connected") == 1
    assert during.value("cc_operators", state="talking") == len(CITIZENS)
    for _, skill, _ in CITIZENS:
        assert during.value("cc_skill_operators", skill=skill, state="talking") == 1
    assert during.value("cc_lines_in_use") == len(CITIZENS)
    assert during.value("cc_lines_capacity") == controller.cfg.lines
    assert during.total("cc_calls_offered_total") == before.total("cc_calls_offered_total")  # none ended yet

    for call in calls:
        assert await call.wait(STAY_S + 45) == 0, call.errors()
    await until(lambda: not controller.engine.calls, 15, "every call ended in the core")
    after = await scrape(controller)

    def grew(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    for _, skill, language in CITIZENS:
        for name in ("cc_calls_offered_total", "cc_calls_answered_total"):
            assert grew(name, skill=skill, language=language) == 1, (name, skill, language)
    assert grew("cc_calls_offered_total") == len(CITIZENS)
    assert grew("cc_calls_answered_total") == len(CITIZENS)
    for name in ("cc_calls_abandoned_total", "cc_calls_blocked_total", "cc_calls_closed_total"):
        assert grew(name) == 0, name

    # Waits and talk times are those of the calls the core completed.
    finished = [c for c in controller.finished if c.outcome is CallOutcome.ANSWERED]
    assert len(finished) == len(CITIZENS)
    waits = [c.wait for c in finished]
    talks = [
        c.ended_at - c.answered_at for c in finished if c.ended_at is not None and c.answered_at is not None
    ]
    assert None not in waits and len(talks) == len(CITIZENS)
    threshold = controller.metrics.sl_threshold_s
    le = floatToGoString(threshold)  # as the bucket's bound is written
    assert grew("cc_call_wait_seconds_count", outcome="answered") == len(CITIZENS)
    assert grew("cc_call_wait_seconds_bucket", outcome="answered", le=le) == sum(
        1 for w in waits if w is not None and w <= threshold
    )
    assert grew("cc_call_wait_seconds_sum", outcome="answered") == pytest.approx(
        sum(w for w in waits if w is not None)
    )
    assert grew("cc_call_talk_seconds_count") == len(CITIZENS)
    assert grew("cc_call_talk_seconds_sum") == pytest.approx(sum(talks))

    # The centre is quiet again, and the AMI figures are the controller's own.
    assert after.value("cc_lines_in_use") == 0 and after.value("cc_operators", state="talking") == 0
    handled = after.value("cc_ami_events_total", outcome="handled")
    ignored = after.value("cc_ami_events_total", outcome="ignored")
    assert 0 < handled + ignored <= controller.counters["ami_events"]
    assert after.value("cc_event_loop_lag_seconds_count") > 0
