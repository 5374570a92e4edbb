# Reading /metrics in tests: an HTTP GET (urllib, in a thread, so the event loop serving it
# keeps running), the exposition parsed into samples, and Debian's `promtool check metrics`.
from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

# Label names /metrics may use (the issue's, and histograms' bucket bound).
ALLOWED_LABELS = frozenset({"skill", "language", "state", "outcome", "reason", "le"})
PHONE_LIKE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: str


def _get(url: str) -> Reply:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return Reply(resp.status, resp.headers.get("Content-Type", ""), resp.read().decode())
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, err.headers.get("Content-Type", ""), err.read().decode())


async def http_get(url: str) -> Reply:
    return await asyncio.to_thread(_get, url)


class Samples:
    """The samples of an exposition, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.all = [s for family in text_string_to_metric_families(text) for s in family.samples]
        self._by_key = {(s.name, frozenset(s.labels.items())): s.value for s in self.all}

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; KeyError if there is no such series."""
        return self._by_key[(name, frozenset(labels.items()))]

    def total(self, name: str, **labels: str) -> float:
        """Sum over the series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(s.value for s in self.all if s.name == name and wanted <= set(s.labels.items()))

    def label_values(self) -> Iterator[tuple[str, str, str]]:
        """(metric, label name, value) of every label of every sample."""
        for s in self.all:
            for name, value in s.labels.items():
                yield s.name, name, value


def promtool_check(text: str) -> None:
    """`promtool check metrics` passes on `text` (skips the test where promtool is missing)."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian package prometheus) is not installed: scripts/setup.sh installs it")
    run = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, f"promtool check metrics: {run.stdout}{run.stderr}"


def assert_labels_clean(samples: Samples) -> None:
    """Only the allowed label names, and no run of 6 digits (a phone number) in any value."""
    names = {name for _, name, _ in samples.label_values()}
    assert names <= ALLOWED_LABELS, names - ALLOWED_LABELS
    numbers = [
        (metric, name, value) for metric, name, value in samples.label_values() if PHONE_LIKE.search(value)
    ]
    assert numbers == []
