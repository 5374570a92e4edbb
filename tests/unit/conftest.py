# Unit-test plumbing. Rule: nothing here changes what a test checks; it only keeps failures
# readable under `-W error`.
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import pytest


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
