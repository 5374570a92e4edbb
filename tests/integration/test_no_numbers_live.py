# Citizens' phone numbers are personal data: during a live run with a callback (the one
# flow that holds a number), none reaches a metric label, an MQTT topic or payload, or a log
# line, at DEBUG (every logger: ours, panoramisk's, aiomqtt's, uvicorn's); nor does any
# secret (the AMI secret, the MQTT password, a web token). Real Asterisk, SIPp callers, the
# sandbox's mosquitto, the controller's /metrics; the numbers are the test's own, so a leak
# of any six of their digits is caught. (aiosqlite logs each statement with its parameters
# at DEBUG: the callback's number was there until store/sqlite.py held its logger at INFO.)
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from contactcenter import sandbox
from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.sandbox import mosquitto
from contactcenter.sim.sipp import SippCall
from tests.integration.test_callbacks import ana_talking, centre, rows  # noqa: F401  (centre: a fixture)
from tests.integration.test_mqtt_live import broker, subscriber  # noqa: F401  (a fixture)
from tests.polling import until
from tests.recorder import AmiRecorder
from tests.scrape import Samples, assert_labels_clean, http_get

CALLERS = ("+34600000971", "+34600000972")


def pieces(number: str, size: int = 6) -> set[str]:
    """Every run of `size` digits of a number: what a leak would show, however formatted."""
    digits = number.removeprefix("+")
    return {digits[i : i + size] for i in range(len(digits) - size + 1)}


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG from before the controller starts (its AMI and MQTT logins)."""
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_no_phone_number_in_metrics_mqtt_or_logs_during_a_callback(
    debug_logs: pytest.LogCaptureFixture,
    asterisk: sandbox.SandboxState,
    observer: AmiRecorder,
    centre: tuple[Controller, Path],  # noqa: F811
    broker: tuple[str, int, mosquitto.Login],  # noqa: F811
    test_config: Config,
) -> None:
    controller, store = centre
    caplog = debug_logs
    async with subscriber(broker, test_config) as sub:
        await sub.until(lambda: sub.last("status") == b"online", "status online", timeout=15)
        a = await ana_talking(observer, CALLERS[0], 6, asterisk.sip_port)
        b = SippCall(caller=CALLERS[1], digits="111", stay_s=60, target_port=asterisk.sip_port)
        await b.start()
        await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "B's callback stored")
        assert await a.wait(40) == 0, a.errors()
        await until(
            lambda: rows(store, "SELECT state FROM callbacks")[0]["state"] == "completed", 60, "called back"
        )
        await until(lambda: not controller.engine.calls, 20, "every call over")
        await sub.until(lambda: bool(sub.events()), "events on MQTT")
        scraped = await http_get(f"http://{test_config.http.host}:{controller.http.port}/metrics")
    samples = Samples(scraped.body)
    assert samples.total("cc_callbacks_ended_total", outcome="completed") == 1  # (the run happened)
    assert_labels_clean(samples)
    sub.assert_no_digit_runs()  # topics and payloads, retained or not
    leaks = set().union(*(pieces(n) for n in CALLERS))
    records = caplog.get_records("setup") + caplog.records  # (the controller started in setup)
    logged = [r.getMessage() for r in records]
    assert any(r.levelno == logging.DEBUG for r in records), "nothing logged at DEBUG"
    assert any("AMI protocol version" in m for m in logged), "the AMI login was not in the logs' reach"
    secrets = [test_config.ami.secret, *(t.token for t in test_config.web.tokens)]
    if test_config.mqtt is not None:
        secrets.append(test_config.mqtt.password)
    assert [m for m in logged if any(secret in m for secret in secrets)] == []
    # Digits as a number is written (spaces or dashes between them), not across other text:
    # an Asterisk uniqueid is digits too, and a call id in a log line is no leak.
    runs = [(m, re.sub(r"[ -]", "", run)) for m in logged for run in re.findall(r"\d(?:[ -]?\d)+", m)]
    assert [m for m, run in runs if any(p in run for p in leaks)] == []
