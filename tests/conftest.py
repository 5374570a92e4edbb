# Shared fixtures: the real Asterisk sandbox (debootstrap chroot, Asterisk 22), an observer
# AMI session that records every call event, and a controller. Tests that use them need
# root, debootstrap and SIPp; CI installs them (.ci/run). They fail, not skip, when the
# machine cannot run them, unless CC_SKIP_ASTERISK=1 says so explicitly.
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from contactcenter import sandbox
from contactcenter.config import Config, load_config
from contactcenter.controller import Controller
from sim.sipp import sipp_available
from tests.recorder import AmiRecorder

TEST_CONFIG = Path(__file__).parent / "integration" / "010-test.yaml"


@pytest.fixture(scope="session")
def test_config() -> Config:
    return load_config(TEST_CONFIG)


@pytest.fixture(scope="session")
def asterisk(test_config: Config) -> Iterator[sandbox.SandboxState]:
    """The sandbox, up with the tests' centre for the whole session."""
    if os.environ.get("CC_SKIP_ASTERISK") == "1":
        pytest.skip("CC_SKIP_ASTERISK=1: tests against the real Asterisk not run")
    if os.geteuid() != 0:
        pytest.fail("integration tests need root for the Asterisk sandbox (or CC_SKIP_ASTERISK=1)")
    if not sipp_available():
        pytest.fail("SIPp (Debian package sip-tester) is not installed: run scripts/setup.sh")
    running = sandbox.load_state()
    if running is not None and sandbox.status()["running"] and running.config != str(TEST_CONFIG.resolve()):
        print(f"stopping the sandbox running with {running.config} for the tests")
        sandbox.down()
    state = sandbox.up(test_config)
    yield state
    sandbox.down()


@pytest.fixture
async def observer(asterisk: sandbox.SandboxState) -> AsyncIterator[AmiRecorder]:
    rec = AmiRecorder(asterisk)
    await rec.connect()
    yield rec
    await rec.hangup_everything()
    rec.close()


@pytest.fixture
async def controller(test_config: Config, observer: AmiRecorder) -> AsyncIterator[Controller]:
    ctl = Controller(test_config)
    await ctl.start()
    yield ctl
    await ctl.stop()
