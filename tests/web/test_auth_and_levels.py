# The web's rules that need no server: who a request comes from (tokens, sessions, the
# CSRF guard), and which colour a wallboard figure gets from the config's thresholds.
from __future__ import annotations

import dataclasses

import pytest

from contactcenter.config import ConfigError, WebToken, load_config, parse_config, read_yaml
from contactcenter.resources import default_config
from contactcenter.web.auth import AuthError, Keys
from contactcenter.web.views import level

SUP = WebToken("supervisor", "sala", "Sala", "s" * 20)
ANA = WebToken("operator", "ana", "Ana", "a" * 20)
OWN = ("http://127.0.0.1:8010",)


def identify(keys: Keys, method: str = "GET", **kw: str | None) -> object:
    args: dict[str, str | None] = {"authorization": None, "cookie": None, "csrf_header": None, "origin": None}
    args.update(kw)
    return keys.identify(method=method, own_origins=OWN, **args)  # type: ignore[arg-type]


def test_bearer_tokens() -> None:
    keys = Keys((SUP, ANA))
    assert identify(keys, authorization=f"Bearer {'a' * 20}").id == "ana"  # type: ignore[attr-defined]
    for bad in ("Bearer nope", f"Basic {'a' * 20}", "Bearer", ""):
        with pytest.raises(AuthError) as e:
            identify(keys, authorization=bad)
        assert e.value.status == 401
    with pytest.raises(AuthError) as nobody:
        identify(keys)
    assert nobody.value.status == 401


def test_a_cookie_session_changes_nothing_without_its_csrf_token_from_our_origin() -> None:
    keys = Keys((SUP,))
    sid, who = keys.open_session(keys.by_token("s" * 20))  # type: ignore[arg-type]
    assert who.csrf and identify(keys, cookie=sid).role == "supervisor"  # type: ignore[attr-defined]
    for headers in ({}, {"csrf_header": "wrong"}, {"csrf_header": who.csrf, "origin": "http://evil.example"}):
        with pytest.raises(AuthError) as e:
            identify(keys, "POST", cookie=sid, **headers)
        assert e.value.status == 403
    assert identify(keys, "POST", cookie=sid, csrf_header=who.csrf, origin=OWN[0]).id == "sala"  # type: ignore[attr-defined]
    keys.close_session(sid)
    with pytest.raises(AuthError):
        identify(keys, cookie=sid)


def test_levels_from_the_thresholds() -> None:
    cfg = load_config(default_config())
    assert cfg.web.thresholds["service_level"] == (0.95, 0.90)
    # Service level: red at or under 90 %, amber to 95 %.
    assert [level(cfg, "service_level", v) for v in (0.80, 0.90, 0.93, 0.95, 0.99, None)] == [
        "red",
        "red",
        "amber",
        "amber",
        "ok",
        "ok",
    ]
    assert [level(cfg, "longest_wait_s", v) for v in (10, 60, 119, 120)] == ["ok", "amber", "amber", "red"]


def test_web_config_mistakes_name_the_field() -> None:
    raw = read_yaml(default_config())
    assert isinstance(raw, dict)

    def web(**changes: object) -> dict[str, object]:
        return {**raw, "web": {**raw["web"], **changes}}

    cases = [
        (
            web(tokens=[{"role": "operator", "id": "nobody", "token": "x" * 20}]),
            "web.tokens[0].id",
            "not one of the operators",
        ),
        (
            web(tokens=[{"role": "supervisor", "id": "sala", "token": "short"}]),
            "web.tokens[0].token",
            "too short",
        ),
        (
            web(tokens=[{"role": "viewer", "id": "tv", "token": "x" * 20, "phone": "sim"}]),
            "web.tokens[0].phone",
            "only a supervisor",
        ),
        (
            web(tokens=[{"role": "supervisor", "id": "ana", "token": "x" * 20}]),
            "web.tokens[0].id",
            "an operator's id",
        ),
        (web(tokens=[{"role": "admin", "id": "x", "token": "x" * 20}]), "web.tokens[0].role", ""),
        (
            web(wallboard={"service_level": {"amber": 0.8, "red": 0.9}}),
            "web.wallboard.service_level.red",
            "at or under amber",
        ),
        (web(pause_reasons={"break": {"ca": "Descans"}}), "web.pause_reasons.break.es", "missing"),
        (
            web(tokens=[{"role": "supervisor", "id": "sala", "token_env": "CC_TEST_UNSET_TOKEN"}]),
            "web.tokens[0].token_env",
            "not set",
        ),
    ]
    for data, field, words in cases:
        with pytest.raises(ConfigError) as e:
            parse_config(data, "010.yaml")
        assert field in str(e.value) and words in str(e.value), str(e.value)
        assert "x" * 20 not in str(e.value)  # a token is never shown


def test_tokens_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = read_yaml(default_config())
    assert isinstance(raw, dict)
    monkeypatch.setenv("CC_TEST_SUP_TOKEN", "t" * 32)
    cfg = parse_config(
        {**raw, "web": {"tokens": [{"role": "supervisor", "id": "sala", "token_env": "CC_TEST_SUP_TOKEN"}]}}
    )
    assert [dataclasses.astuple(t)[:4] for t in cfg.web.tokens] == [("supervisor", "sala", "sala", "t" * 32)]
    assert "t" * 32 not in repr(cfg.web)
