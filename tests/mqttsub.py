# A real MQTT subscriber for tests (aiomqtt): reads <prefix>/# with a login (the sandbox's
# read-only observer's, as a wallboard would) and keeps every message with when it came.
from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiomqtt

from contactcenter.sandbox.mosquitto import Login
from tests.polling import until

DIGIT_RUN = re.compile(rb"\d{6,}")  # a phone number's worth of digits


class Subscriber:
    def __init__(
        self, host: str, port: int, login: Login, prefix: str, tls: ssl.SSLContext | None = None
    ) -> None:
        self.prefix = prefix
        self.client = aiomqtt.Client(
            host, port, username=login.username, password=login.password, tls_context=tls
        )
        self.got: list[tuple[float, str, bytes, int, bool]] = []  # (when, topic, payload, qos, retain)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        await self.client.__aenter__()
        await self.client.subscribe(f"{self.prefix}/#", qos=1)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        async for m in self.client.messages:
            assert isinstance(m.payload, bytes)
            self.got.append((time.monotonic(), m.topic.value, m.payload, m.qos, m.retain))

    def on(self, topic: str) -> list[bytes]:
        """Payloads received on <prefix>/<topic>, oldest first."""
        return [p for _, t, p, _, _ in self.got if t == f"{self.prefix}/{topic}"]

    def last(self, topic: str) -> bytes | None:
        found = self.on(topic)
        return found[-1] if found else None

    def snapshot(self, topic: str) -> dict[str, Any] | None:
        last = self.last(topic)
        return None if last is None else json.loads(last)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.on("events")]

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
        await until(condition, timeout, what)

    def assert_no_digit_runs(self) -> None:
        """No run of 6+ digits (a phone number, an epoch-based call id) in any topic or payload."""
        for _, topic, payload, _, _ in self.got:
            assert not DIGIT_RUN.search(topic.encode()), topic
            assert not DIGIT_RUN.search(payload), payload
