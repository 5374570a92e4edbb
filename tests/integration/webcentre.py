# The tests' centre with its web open: tokens by role (a supervisor with a simulated phone
# for listening in, a viewer for the wallboard, one operator token per operator), the web
# API reached over HTTP on the controller's own listener (config `http`).
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import httpx

from contactcenter.config import Config, WebToken

SUPERVISOR = WebToken("supervisor", "sala", "Sala", "test-supervisor-token-0001", phone="sim")
VIEWER = WebToken("viewer", "tv", "TV", "test-viewer-token-00000001")


def operator_token(operator_id: str) -> WebToken:
    return WebToken("operator", operator_id, operator_id, f"test-operator-token-{operator_id:0>8}")


def with_web(cfg: Config) -> Config:
    tokens = (SUPERVISOR, VIEWER, *(operator_token(op.id) for op in cfg.operators))
    return dataclasses.replace(cfg, web=dataclasses.replace(cfg.web, tokens=tokens))


def bearer(token: WebToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token}"}


@dataclass
class Api:
    base: str

    def client(self, token: WebToken | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, headers=bearer(token) if token else {}, timeout=10)

    async def get(self, path: str, token: WebToken | None = None, **kw: Any) -> httpx.Response:
        async with self.client(token) as c:
            return await c.get(path, **kw)

    async def post(self, path: str, token: WebToken | None, body: Any = None, **kw: Any) -> httpx.Response:
        async with self.client(token) as c:
            return await c.post(path, json=body if body is not None else {}, **kw)

    async def put(self, path: str, token: WebToken | None, body: Any) -> httpx.Response:
        async with self.client(token) as c:
            return await c.put(path, json=body)

    async def openapi(self) -> dict[str, Any]:
        reply = await self.get("/openapi.json")
        assert reply.status_code == 200
        return json.loads(reply.text)
