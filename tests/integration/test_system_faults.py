# Faults of the system, against the real Asterisk: they are never the operator's. An
# Originate Asterisk fails at once (Failure, Reason 0: here, an operator whose simulated
# phone has no extension to ring) leaves that operator UNREACHABLE for a bounded backoff,
# not paused, and the citizen goes to the next qualified operator; an Originate that gets
# no answer while the link stays up (its bytes swallowed by a fault proxy) is withdrawn by
# the core's offer timeout and the operator rung again - with one operator for the skill,
# the citizen is still answered, where before they waited forever.
from __future__ import annotations

import dataclasses

import yaml

from contactcenter.config import Config, parse_config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import OperatorState
from contactcenter.core.readmodel import OperatorChanged
from tests.conftest import TEST_CONFIG
from tests.faultproxy import FaultProxy
from tests.polling import until
from tests.recorder import AmiRecorder


class StatesSeen:
    """An observer of the change feed: every state each operator went through."""

    def __init__(self) -> None:
        self.states: dict[str, list[tuple[OperatorState, str | None]]] = {}

    def observe(self, now, changes, completed) -> None:  # type: ignore[no-untyped-def]
        for c in changes:
            if isinstance(c, OperatorChanged):
                self.states.setdefault(c.operator_id, []).append((c.state, c.reason))


async def test_an_originate_asterisk_fails_at_once_is_retried_and_never_pauses(
    asterisk, observer: AmiRecorder
) -> None:
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    # "x" is a valid operator id, but cc-sim-operator's pattern (_[a-z0-9].) needs two
    # characters: Asterisk cannot create her Local channel and fails the Originate.
    raw["operators"] = [
        {"id": "x", "skills": {"info": 1}},
        {"id": "ana", "skills": {"info": 2}},
        *(op for op in raw["operators"] if op["id"] != "ana"),
    ]
    raw["routing"].update(fault_retry=1, fault_retry_max=2)
    ctl = Controller(parse_config(raw, "faults"))
    seen = StatesSeen()
    ctl.observers.append(seen)
    await ctl.start()
    try:
        await observer.simulated_citizen("11")
        await until(lambda: ctl.engine.operators["ana"].state is OperatorState.TALKING, 20, "Ana answering")
        assert (OperatorState.UNREACHABLE, "failed") in seen.states["x"]
        assert all(state is not OperatorState.PAUSED for state, _ in seen.states["x"])
        assert ctl.counters["dropped_bad_originate_response"] == 0
        # Bounded: x is offered calls again after her backoff (and fails again: still never paused).
        await until(
            lambda: ctl.engine.operators["x"].state is OperatorState.AVAILABLE,
            5,
            "x retried after the backoff",
        )
    finally:
        await ctl.stop()


async def test_an_originate_without_answer_while_the_link_stays_up_is_retried(
    asterisk, observer: AmiRecorder, test_config: Config
) -> None:
    proxy = FaultProxy(asterisk.ami_host, asterisk.ami_port)
    await proxy.start()
    cfg = dataclasses.replace(
        test_config,
        ami=dataclasses.replace(test_config.ami, port=proxy.port, action_timeout=1.0, ping_interval=5),
        routing=dataclasses.replace(test_config.routing, fault_retry=1.0, fault_retry_max=2.0),
    )
    ctl = Controller(cfg)
    seen = StatesSeen()
    ctl.observers.append(seen)
    await ctl.start()
    try:
        # What the controller sends is swallowed (the link stays up; pings fail too, but not
        # for long enough to declare it dead) while the citizen's call is offered to Ana.
        proxy.swallow = True
        await observer.simulated_citizen("11")
        await until(lambda: ctl.counters["offers_in_doubt"] == 1, 20, "the Originate to time out")
        proxy.swallow = False
        # Ana is the only `info` operator: the core withdraws the offer when no outcome came
        # in time, she is unreachable for a moment, then rung again, and answers.
        await until(
            lambda: ctl.engine.operators["ana"].state is OperatorState.TALKING,
            cfg.routing.ring_timeout + cfg.ami.action_timeout + 20,
            "Ana to answer in the end",
        )
        assert (OperatorState.UNREACHABLE, "no-outcome") in seen.states["ana"]
        assert all(state is not OperatorState.PAUSED for state, _ in seen.states["ana"])
    finally:
        await ctl.stop()
        await proxy.close()
