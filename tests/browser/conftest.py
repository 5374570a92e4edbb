"""Browser tests' fixtures: Debian's chromium (/usr/bin/chromium) driven by Playwright's
async API, never a browser of Playwright's own (nothing is downloaded: the executable is
given, and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set for any install step run from here).

Each test gets a fresh headless chromium with an empty profile of its own (a persistent
context on a new user-data dir under tmp_path), closed after the test. The async API runs
on the test's event loop (pytest-asyncio, asyncio_mode=auto), so a test can drive the page
and a controller running in the same loop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from contactcenter.sim.demo import CHROMIUM_ARGS  # (as the demo opens the wallboard)

CHROMIUM = Path("/usr/bin/chromium")

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def artefacts_dir() -> Path:
    """Where browser screenshots go: $CC_ARTEFACTS/browser (artefacts/browser by default)."""
    path = Path(os.environ.get("CC_ARTEFACTS", "artefacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of `page` as <artefacts>/browser/<name>.png; return its path."""
    path = artefacts_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def _console_error(kind: str, text: str, errors: list[str]) -> None:
    if kind == "error" and not text.startswith("Failed to load resource"):
        errors.append(f"console error: {text}")


@pytest.fixture
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    """A page in a new headless chromium with an empty profile; console errors fail the test."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    errors: list[str] = []
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
            locale="ca-ES",
            timezone_id="Europe/Madrid",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            # A script error in the page is a failed test, not a silently blank tile. (Chromium
            # also logs each 4xx/5xx answer as a console error: those are the tests' to judge.)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda msg: _console_error(msg.type, msg.text, errors))
            yield page
        finally:
            await context.close()
    if errors:
        pytest.fail("the page reported errors:\n" + "\n".join(errors))
