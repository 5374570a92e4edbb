# Shared fixtures: the real Asterisk sandbox (debootstrap chroot, Asterisk 22), an observer
# AMI session that records every call event, and a controller. Tests that use them need
# root, debootstrap and SIPp; CI installs them (.ci/run). They fail, not skip, when the
# machine cannot run them, unless CC_SKIP_ASTERISK=1 says so explicitly.
from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from contactcenter import sandbox
from contactcenter.config import Config, load_config
from contactcenter.controller import Controller
from contactcenter.sim.sipp import sipp_available
from tests.recorder import AmiRecorder

TEST_CONFIG = Path(__file__).parent / "integration" / "010-test.yaml"
CORE = Path(__file__).parent.parent / "contactcenter" / "core"

# In CI the property tests explore a fixed set of examples, so a run can be reproduced;
# on developers' machines they keep exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    # The shipped centre (config/010.yaml) reads its secrets from the sandbox's own files:
    # make them before any test (or collection) loads it, as `sandbox up` would.
    from contactcenter import resources
    from contactcenter.config import read_yaml
    from contactcenter.sandbox import credentials

    try:
        credentials.provision(read_yaml(resources.default_config()))
    except OSError as exc:
        raise pytest.UsageError(
            f"cannot make the sandbox's secret files in {credentials.secrets_dir()} ({exc}): run as root"
        ) from None
    # tests/sim/test_compiled_build.py runs the core's tests again on the mypyc build with
    # CC_EXPECT_COMPILED=1: make sure they really run against the compiled modules.
    if os.environ.get("CC_EXPECT_COMPILED") == "1":
        import importlib
        import importlib.machinery

        names = [f"contactcenter.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"]
        for name in [*names, "contactcenter.sim.traffic", "contactcenter.sim.virtual"]:
            path = importlib.import_module(name).__file__ or ""
            if not path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
                raise pytest.UsageError(f"CC_EXPECT_COMPILED=1 but {name} comes from {path}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # When a Hypothesis test fails, its pytest plugin imports libcst to suggest an explicit
    # @example patch; libcst 1.0 uses the deprecated mypy_extensions.TypedDict, and under
    # `-W error` that DeprecationWarning turns the failure report into an INTERNALERROR that
    # hides the falsifying example. Import it first, with that warning silenced, only then.
    if call.excinfo is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with contextlib.suppress(ImportError):
                import hypothesis.extra._patching  # noqa: F401
    yield


@pytest.fixture(scope="session")
def test_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The tests' centre, its callback store and its records files of this session's own."""
    cfg = load_config(TEST_CONFIG)
    assert cfg.callbacks is not None and cfg.records is not None
    store = tmp_path_factory.mktemp("callbacks") / "callbacks.sqlite"
    records = tmp_path_factory.mktemp("records") / "records.sqlite"
    return dataclasses.replace(
        cfg,
        callbacks=dataclasses.replace(cfg.callbacks, store=store),
        records=dataclasses.replace(cfg.records, path=records),
    )


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


@pytest.fixture
async def web(test_config: Config, observer: AmiRecorder, tmp_path: Path) -> AsyncIterator[Controller]:
    """A controller with its web open (tokens by role: tests/integration/webcentre.py), and
    stores of its own."""
    from tests.integration.webcentre import with_web

    cfg = with_web(test_config)
    assert cfg.callbacks is not None and cfg.records is not None
    # (Its own stores: what the tests book or record here stays here.)
    cfg = dataclasses.replace(
        cfg,
        callbacks=dataclasses.replace(cfg.callbacks, store=tmp_path / "callbacks.sqlite"),
        records=dataclasses.replace(cfg.records, path=tmp_path / "records.sqlite"),
    )
    ctl = Controller(cfg)
    await ctl.start()
    yield ctl
    await ctl.stop()
