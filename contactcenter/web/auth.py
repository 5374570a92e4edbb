# Who is asking, for the web and the API. Rules:
# - Tokens come from the config (`web.tokens`), one per person or screen, each with a role:
#   supervisor (everything), operator (acts on themselves only), viewer (the wallboard).
#   No token: 401; a token whose role may not do it: 403. A token is compared in constant
#   time with each known one (hmac.compare_digest), never looked up by value.
# - Two ways in: `Authorization: Bearer <token>` (programs; a browser never sends it by
#   itself, so it needs no CSRF guard), or the pages' session cookie, set by the login form:
#   HttpOnly, SameSite=Strict, random and kept in memory only (a restart logs pages out).
#   A request that changes anything with the cookie must also carry the session's CSRF token
#   in `X-CSRF-Token` (the pages read it from their <meta>), and an Origin, when sent, must
#   be this listener's own: a page of another site can neither read nor forge it.
# - Sessions are bounded (MAX_SESSIONS, the oldest dropped) and expire after SESSION_S.
# - Tokens and session ids are never logged.
from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from contactcenter.config import WebToken

COOKIE = "cc_session"
SESSION_S = 12 * 3600.0  # a working shift and some
MAX_SESSIONS = 1000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    role: str  # "supervisor", "operator", "viewer"
    id: str  # the operator's id for an operator
    name: str
    csrf: str | None = None  # the session's CSRF token (cookie sessions only)

    def may_act_on(self, operator_id: str) -> bool:
        return self.role == "supervisor" or (self.role == "operator" and self.id == operator_id)


@dataclass(slots=True)
class _Session:
    principal: Principal
    expires: float


class AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class Keys:
    """The config's tokens, and the pages' sessions."""

    def __init__(self, tokens: tuple[WebToken, ...]) -> None:
        self._tokens = [(t.token.encode(), Principal(t.role, t.id, t.name)) for t in tokens]
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._clock = time.monotonic

    def by_token(self, token: str) -> Principal | None:
        given = token.encode()
        found = None
        for known, principal in self._tokens:  # (every one compared: no early exit)
            if hmac.compare_digest(given, known):
                found = principal
        return found

    def open_session(self, principal: Principal) -> tuple[str, Principal]:
        """A new session for `principal`: (cookie value, principal with its CSRF token)."""
        sid = secrets.token_urlsafe(32)
        with_csrf = Principal(principal.role, principal.id, principal.name, secrets.token_urlsafe(32))
        self._sessions[sid] = _Session(with_csrf, self._clock() + SESSION_S)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return sid, with_csrf

    def session(self, sid: str | None) -> Principal | None:
        if not sid:
            return None
        found = self._sessions.get(sid)
        if found is None:
            return None
        if found.expires < self._clock():
            del self._sessions[sid]
            return None
        return found.principal

    def close_session(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def identify(
        self,
        *,
        method: str,
        authorization: str | None,
        cookie: str | None,
        csrf_header: str | None,
        origin: str | None,
        own_origins: tuple[str, ...],
    ) -> Principal:
        """Who sent a request, or AuthError 401 (nobody, or a bad token) / 403 (a cookie
        request that changes something without its CSRF token, or from another origin)."""
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            principal = self.by_token(token.strip()) if scheme.lower() == "bearer" else None
            if principal is None:
                raise AuthError(401, "unknown token")
            return principal
        principal = self.session(cookie)
        if principal is None:
            raise AuthError(401, "log in first: a token (Authorization: Bearer) or the login page")
        if method not in SAFE_METHODS:
            if origin is not None and origin not in own_origins:
                raise AuthError(403, "request from another site refused")
            if (
                not csrf_header
                or principal.csrf is None
                or not hmac.compare_digest(csrf_header, principal.csrf)
            ):
                raise AuthError(403, "missing or wrong X-CSRF-Token: reload the page")
        return principal
