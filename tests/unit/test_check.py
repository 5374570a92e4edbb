# `contactcenter check`. Rules: each rule is shown to fire on a file the test writes with
# one thing wrong, at the line the test wrote it on, and to stay quiet on the same file
# made right; expected findings come from what the test wrote (lines found by searching
# the text, secrets drawn at random), never from a list of outputs copied from a run.
# Centres start from the shipped config/010.yaml with its secrets moved to the environment.
from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter import check, resources
from contactcenter.config import ConfigError, load_config, read_yaml

Raw = dict[str, Any]
GOOD_VERSION = "Asterisk 22.10.1"


def line_of(text: str, marker: str) -> int:
    """The 1-based line of the only line holding `marker`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def rules(findings: list[check.Finding]) -> list[tuple[str, str]]:
    return [(f.where, f.rule) for f in findings]


# --- centres ------------------------------------------------------------------------------


Draw = Callable[[str], str]


@pytest.fixture()
def env_secrets(monkeypatch: pytest.MonkeyPatch) -> Draw:
    """Exports a random secret under the variable name given, and returns it."""

    def draw(name: str) -> str:
        value = secrets.token_urlsafe(24)
        monkeypatch.setenv(name, value)
        return value

    return draw


def production_raw(draw: Draw) -> Raw:
    """The shipped centre with every secret read from the environment."""
    raw = read_yaml(resources.default_config())
    assert isinstance(raw, dict)
    raw = copy.deepcopy(raw)
    raw["ami"].pop("secret_file")  # (the shipped centre reads the sandbox's secret files)
    raw["ami"]["secret_env"] = "CC_TEST_AMI_SECRET"
    draw("CC_TEST_AMI_SECRET")
    raw["mqtt"].pop("password_file")
    raw["mqtt"]["password_env"] = "CC_TEST_MQTT_PASSWORD"
    draw("CC_TEST_MQTT_PASSWORD")
    for i, token in enumerate(raw["web"]["tokens"]):
        token.pop("token_file")
        token["token_env"] = f"CC_TEST_TOKEN_{i}"
        draw(f"CC_TEST_TOKEN_{i}")
    return raw


def write_centre(tmp_path: Path, raw: Raw, name: str = "centre.yaml") -> tuple[Path, str]:
    path = tmp_path / name
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path, text


def test_a_centre_with_its_secrets_in_the_environment_passes(tmp_path: Path, env_secrets: Draw) -> None:
    path, _ = write_centre(tmp_path, production_raw(env_secrets))
    assert check.check_centre(path).findings == []


def test_a_secret_written_in_the_file_fails_in_production(tmp_path: Path, env_secrets: Draw) -> None:
    raw = production_raw(env_secrets)
    del raw["ami"]["secret_env"]
    raw["ami"]["secret"] = secrets.token_urlsafe(24)
    operator = raw["operators"][1]
    operator["endpoint"] = "pjsip"
    operator["secret"] = secrets.token_urlsafe(24)
    path, text = write_centre(tmp_path, raw)
    found = check.check_centre(path).findings
    op_line = line_of(text, operator["secret"])
    assert rules(found) == [
        (f"{path}:{line_of(text, raw['ami']['secret'])}", "secret.in-file"),
        (f"{path}:{op_line}", "secret.in-file"),
    ]
    assert "ami.secret" in found[0].message and "secret_env" in found[0].message
    assert "operators[1].secret" in found[1].message
    # A sandbox keeps them in its file (the file is 0600 here: no warning either).
    assert check.check_centre(path, deployment=check.SANDBOX).findings == []


def test_a_sandbox_file_others_may_read_is_warned(tmp_path: Path, env_secrets: Draw) -> None:
    raw = production_raw(env_secrets)
    del raw["ami"]["secret_env"]
    raw["ami"]["secret"] = secrets.token_urlsafe(24)
    path, _ = write_centre(tmp_path, raw)
    path.chmod(0o644)
    found = check.check_centre(path, deployment=check.SANDBOX).findings
    assert rules(found) == [(str(path), "config.file-mode")]
    assert not found[0].fails and "0644" in found[0].message


@pytest.mark.parametrize("where", ["file", "env"])
def test_short_and_default_secrets_fail_wherever_they_come_from(
    tmp_path: Path, env_secrets: Draw, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    raw = production_raw(env_secrets)
    short = "s" + secrets.token_hex(check.SECRET_MIN)[: check.SECRET_MIN - 2]  # ("s": YAML keeps it text)
    default = LONG_DEFAULT
    if where == "env":
        monkeypatch.setenv("CC_TEST_AMI_SECRET", short)
        monkeypatch.setenv("CC_TEST_MQTT_PASSWORD", default.upper())  # (case does not hide it)
    else:
        del raw["ami"]["secret_env"], raw["mqtt"]["password_env"]
        raw["ami"]["secret"], raw["mqtt"]["password"] = short, default.upper()
    path, text = write_centre(tmp_path, raw)
    found = check.check_centre(path, deployment=check.SANDBOX).findings
    ami_line = line_of(text, "secret_env" if where == "env" else f"secret: {short}")
    mqtt_line = line_of(text, "password_env" if where == "env" else "password: ")
    assert rules(found) == [
        (f"{path}:{ami_line}", "secret.short"),
        (f"{path}:{mqtt_line}", "secret.default"),
    ]
    assert all(short not in f.line() and default.upper() not in f.line() for f in found)


def test_the_shipped_values_are_known_defaults() -> None:
    shipped = read_yaml(resources.default_config())
    assert isinstance(shipped, dict)
    values = [shipped["ami"].get("secret"), shipped["mqtt"].get("password")]
    values += [t.get("token") for t in shipped["web"]["tokens"]]
    for value in filter(None, values):
        assert value.lower() in check.known_defaults()


def test_listeners_beyond_loopback_without_tls_fail(tmp_path: Path, env_secrets: Draw) -> None:
    # config.py admits loopback hosts only today; the rule is on the Config, whatever the
    # schema comes to allow, so the test gives it one with other hosts.
    path, text = write_centre(tmp_path, production_raw(env_secrets))
    cfg = load_config(path)
    lines = check.yaml_lines(text)
    assert check.listener_findings(cfg, str(path), lines) == []
    assert cfg.mqtt is not None
    outside = replace(
        cfg,
        ami=replace(cfg.ami, host="192.0.2.10"),
        http=replace(cfg.http, host="0.0.0.0"),
        mqtt=replace(cfg.mqtt, host="2001:db8::1"),
    )
    found = check.listener_findings(outside, str(path), lines)
    assert rules(found) == [
        (f"{path}:{lines[('ami', 'host')]}", "listen.ami"),
        (f"{path}:{lines[('http', 'host')]}", "listen.http"),
        (f"{path}:{lines[('mqtt', 'host')]}", "listen.mqtt"),
    ]
    with_tls = replace(outside, mqtt=replace(outside.mqtt, tls_ca=tmp_path / "ca.pem"))  # type: ignore[arg-type]
    assert [f.rule for f in check.listener_findings(with_tls, str(path), lines)] == [
        "listen.ami",
        "listen.http",
    ]


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o644, 0o660, 0o604])
def test_a_secret_file_must_be_the_owners_alone(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "ami.secret"
    path.write_text(secrets.token_urlsafe(24) + "\n")
    path.chmod(mode)
    found = check.secret_file_findings(path, "ami.secret_file", "centre.yaml:14")
    if mode & 0o077:
        assert rules(found) == [("centre.yaml:14", "secret.file-mode")]
        assert f"{mode:04o}" in found[0].message
    else:
        assert found == []


def test_a_missing_secret_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        check.secret_file_findings(tmp_path / "nowhere", "ami.secret_file", "centre.yaml:14")
    assert info.value.field == "ami.secret_file"


def test_a_secret_file_named_in_the_centre_is_checked(tmp_path: Path, env_secrets: Draw) -> None:
    raw = production_raw(env_secrets)
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(secrets.token_urlsafe(24) + "\n")
    secret_file.chmod(0o644)
    del raw["ami"]["secret_env"]
    raw["ami"]["secret_file"] = str(secret_file)
    path, text = write_centre(tmp_path, raw)
    found = check.check_centre(path).findings
    assert rules(found) == [(f"{path}:{line_of(text, 'secret_file')}", "secret.file-mode")]


def test_a_centre_says_it_is_a_sandbox(tmp_path: Path, env_secrets: Draw) -> None:
    raw = production_raw(env_secrets)
    del raw["ami"]["secret_env"]
    raw["ami"]["secret"] = secrets.token_urlsafe(24)
    raw["centre"]["deployment"] = "sandbox"
    path, _ = write_centre(tmp_path, raw)
    assert check.check_centre(path).findings == []
    raw["centre"]["deployment"] = "production"
    path, _ = write_centre(tmp_path, raw)
    assert [f.rule for f in check.check_centre(path).findings] == ["secret.in-file"]


# --- Asterisk's files -----------------------------------------------------------------------

GOOD_SECRET = "s" + secrets.token_hex(16)
GOOD_MANAGER = f"""\
[general]
enabled = yes
port = 5038
bindaddr = 127.0.0.1
displayconnects = no

[controller]
secret = {GOOD_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = call,user
write = call,originate,reporting
eventfilter(action(include),name(UserEvent),header(UserEvent),method(starts_with)) = Cc
eventfilter(action(include),name(Hangup)) =
eventfilter = ^Event: OriginateResponse
eventfilter(action(exclude),header(Channel),method(contains)) = Surrogate
eventfilter(name(Newchannel),method(regex)) = ^PJSIP/
"""
LONG_DEFAULT = min(d for d in check.known_defaults() if len(d) >= check.SECRET_MIN)  # only "default"
GOOD_ASTERISK = "[options]\nlive_dangerously = no\nexecincludes = no\n"
GOOD_HTTP = "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"


def write_etc(
    tmp_path: Path, manager: str = GOOD_MANAGER, asterisk: str = GOOD_ASTERISK, http: str = GOOD_HTTP
) -> Path:
    etc = tmp_path / "etc-asterisk"
    etc.mkdir(exist_ok=True)
    for name, text in (("manager.conf", manager), ("asterisk.conf", asterisk), ("http.conf", http)):
        (etc / name).write_text(text, encoding="utf-8")
    return etc


def test_a_good_asterisk_configuration_passes(tmp_path: Path) -> None:
    result = check.check_asterisk_etc(write_etc(tmp_path))
    assert result.findings == []
    assert result.originators == ["controller"]


# (file, the line as written good, the same line made bad, the rule it breaks)
BAD_LINES = [
    ("manager.conf", "bindaddr = 127.0.0.1", "bindaddr = 0.0.0.0", "ami.bindaddr"),
    ("manager.conf", "bindaddr = 127.0.0.1", "bindaddr = 10.1.2.3:5038", "ami.bindaddr"),
    ("manager.conf", "bindaddr = 127.0.0.1", "bindaddr = localhost", "ami.bindaddr"),  # manager.c: no names
    ("manager.conf", "write = call,originate,reporting", "write = call,originate,system", "ami.write-class"),
    ("manager.conf", "write = call,originate,reporting", "write = call, Command", "ami.write-class"),
    ("manager.conf", "write = call,originate,reporting", "write = config", "ami.write-class"),
    ("manager.conf", "write = call,originate,reporting", "write = all", "ami.write-class"),
    ("manager.conf", "read = call,user", "read = call,user,dtmf", "ami.read-class"),
    ("manager.conf", "read = call,user", "read = all", "ami.read-class"),
    ("manager.conf", f"secret = {GOOD_SECRET}", f"secret = {LONG_DEFAULT}", "secret.default"),
    ("manager.conf", f"secret = {GOOD_SECRET}", f"secret = {GOOD_SECRET[:12]}", "secret.short"),
    (
        "manager.conf",
        "eventfilter = ^Event: OriginateResponse",
        "eventfilter = Event: OriginateResponse",
        "ami.eventfilter",
    ),
    (
        "manager.conf",
        "eventfilter = ^Event: OriginateResponse",
        "eventfilter = !Channel: Local/",
        "ami.eventfilter",
    ),
    (
        "manager.conf",
        "eventfilter(name(Newchannel),method(regex)) = ^PJSIP/",
        "eventfilter(name(Newchannel),header(Channel),method(regex)) = PJSIP/",
        "ami.eventfilter",
    ),
    (
        "manager.conf",
        "eventfilter(action(exclude),header(Channel),method(contains)) = Surrogate",
        "eventfilter(action(exclude),method(contains)) = Surrogate",
        "ami.eventfilter",
    ),
    ("manager.conf", "displayconnects = no", "displayconnects = yes", "ami.displayconnects"),
    ("manager.conf", "displayconnects = no", "webenabled = yes", "ami.webenabled"),
    ("asterisk.conf", "live_dangerously = no", "live_dangerously = yes", "asterisk.live-dangerously"),
    (
        "asterisk.conf",
        "live_dangerously = no",
        "live_dangerously=On ; a comment",
        "asterisk.live-dangerously",
    ),
    ("asterisk.conf", "execincludes = no", "execincludes = yes", "asterisk.execincludes"),
    ("http.conf", "bindaddr = 127.0.0.1", "bindaddr = 0.0.0.0", "http.bindaddr"),
    ("http.conf", "bindaddr = 127.0.0.1", "bindaddr = [2001:db8::1]:8088", "http.bindaddr"),
]


@pytest.mark.parametrize(
    ("name", "good", "bad", "rule"), BAD_LINES, ids=[f"{r}:{b}" for _, _, b, r in BAD_LINES]
)
def test_each_asterisk_rule_fires_on_its_line(
    tmp_path: Path, name: str, good: str, bad: str, rule: str
) -> None:
    texts = {"manager.conf": GOOD_MANAGER, "asterisk.conf": GOOD_ASTERISK, "http.conf": GOOD_HTTP}
    assert texts[name].count(good + "\n") == 1
    texts[name] = texts[name].replace(good + "\n", bad + "\n")
    etc = write_etc(tmp_path, texts["manager.conf"], texts["asterisk.conf"], texts["http.conf"])
    found = check.check_asterisk_etc(etc).findings
    # (where the line replaced was displayconnects, its default, yes, warns too)
    wanted = (f"{etc / name}:{line_of(texts[name], bad)}", rule)
    assert wanted in rules(found)
    others = [r for r in rules(found) if r != wanted and r[1] != "ami.displayconnects"]
    assert others == []
    warns_only = rule in ("ami.displayconnects", "ami.webenabled", "asterisk.execincludes")
    assert all(not f.fails for f in found) if warns_only else any(f.fails for f in found)


def test_defaults_count_what_asterisk_does_without_the_setting(tmp_path: Path) -> None:
    manager = GOOD_MANAGER.replace("bindaddr = 127.0.0.1\n", "").replace("displayconnects = no\n", "")
    http = GOOD_HTTP.replace("bindaddr = 127.0.0.1\n", "")
    etc = write_etc(tmp_path, manager=manager, http=http)
    found = check.check_asterisk_etc(etc).findings
    assert rules(found) == [
        (f"{etc / 'manager.conf'}:{line_of(manager, 'enabled = yes')}", "ami.bindaddr"),
        (str(etc / "manager.conf"), "ami.displayconnects"),
        (f"{etc / 'http.conf'}:{line_of(http, 'enabled = yes')}", "http.bindaddr"),
    ]


def test_disabled_listeners_need_no_loopback(tmp_path: Path) -> None:
    manager = GOOD_MANAGER.replace("enabled = yes", "enabled = no").replace("127.0.0.1\n", "0.0.0.0\n", 1)
    http = "[general]\nenabled = no\nbindaddr = 0.0.0.0\n"
    assert check.check_asterisk_etc(write_etc(tmp_path, manager=manager, http=http)).findings == []


def test_users_are_judged_with_their_templates_and_includes(tmp_path: Path) -> None:
    template = "[powerful](!)\nwrite = call,system\nread = call\n"
    included = f"[tooling](powerful)\nsecret = {GOOD_SECRET}\neventfilter(name(Hangup)) =\n"
    manager = GOOD_MANAGER + template + '#include "extra-users.conf"\n'
    etc = write_etc(tmp_path, manager=manager)
    (etc / "extra-users.conf").write_text(included)
    found = check.check_asterisk_etc(etc).findings
    assert rules(found) == [
        (f"{etc / 'manager.conf'}:{line_of(manager, 'write = call,system')}", "ami.write-class")
    ]
    assert "tooling" in found[0].message  # the user, not the template
    assert "powerful" not in [u.name for u in check.ami_users(check.read_conf(etc, "manager.conf"))]  # type: ignore[arg-type]


def test_comments_are_not_settings(tmp_path: Path) -> None:
    manager = GOOD_MANAGER + ";write = system\n;-- a block\nread = dtmf\n--;\n"
    assert check.check_asterisk_etc(write_etc(tmp_path, manager=manager)).findings == []


def test_a_user_without_event_filters_is_warned(tmp_path: Path) -> None:
    manager = GOOD_MANAGER + f"\n[watcher]\nsecret = {GOOD_SECRET}\nread = call\nwrite = reporting\n"
    found = check.check_asterisk_etc(write_etc(tmp_path, manager=manager)).findings
    assert [(f.rule, f.severity) for f in found] == [("ami.no-eventfilter", "warn")]
    assert "watcher" in found[0].message


def test_missing_files_are_warned_and_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    etc = tmp_path / "empty"
    etc.mkdir()
    found = check.check_asterisk_etc(etc).findings
    assert [(f.where, f.rule) for f in found] == [
        (str(etc / "manager.conf"), "conf.missing"),
        (str(etc / "asterisk.conf"), "conf.missing"),
    ]
    with pytest.raises(ConfigError):
        check.check_asterisk_etc(tmp_path / "nowhere")


# --- the Asterisk version -------------------------------------------------------------------


def _before(version: tuple[int, int, int]) -> str:
    major, minor, patch = version
    return f"{major}.{minor}.{patch - 1}"


FIXED = [".".join(map(str, v)) for v in check.CVE_2024_42365_FIXED.values()]
BEFORE = [_before(v) for v in check.CVE_2024_42365_FIXED.values()]
CERT_FIXED = [f"certified-{a}.{b}-cert{n}" for (a, b), n in check.CVE_2024_42365_FIXED_CERT.items()]
CERT_BEFORE = [f"certified/{a}.{b}-cert{n - 1}" for (a, b), n in check.CVE_2024_42365_FIXED_CERT.items()]


@pytest.mark.parametrize(
    ("text", "fixed"),
    [(f"Asterisk {v}", True) for v in FIXED]
    + [(f"Asterisk {v}", False) for v in BEFORE]
    + [(f"Asterisk {v}", True) for v in CERT_FIXED]
    + [(f"Asterisk {v}", False) for v in CERT_BEFORE]
    + [
        (f"Asterisk {FIXED[1]}-rc1", False),  # a release candidate of the fix comes before it
        ("Asterisk 19.8.0", False),  # 19 never got the fix
        ("Asterisk 16.30.1", False),
        ("Asterisk 22.0.0", True),
        ("1:22.10.1+dfsg+~cs6.17.60671434-1", True),  # Debian's package version
        ("Asterisk certified-22.8-cert1", True),
    ],
)
def test_versions_against_cve_2024_42365(text: str, fixed: bool) -> None:
    version = check.parse_version(text)
    assert check.fixes_cve_2024_42365(version) is fixed
    found = check.version_findings(version, "--asterisk-version", ["controller"])
    assert [f.rule for f in found] == ([] if fixed else ["asterisk.version"])
    if not fixed:
        assert "CVE-2024-42365" in found[0].message and "controller" in found[0].message


def test_an_unknown_version_is_warned_and_an_unreadable_one_is_an_error() -> None:
    assert [(f.rule, f.severity) for f in check.version_findings(None, "x", [])] == [
        ("asterisk.version", "warn")
    ]
    with pytest.raises(ConfigError):
        check.parse_version("Asterisk GIT-master-6a2b3c")


def test_the_version_comes_from_a_dpkg_status_file(tmp_path: Path) -> None:
    status = tmp_path / "status"
    version = f"1:{FIXED[0]}~dfsg-1"
    status.write_text(
        "Package: asterisk-modules\nStatus: install ok installed\nVersion: 1:16.0.0\n\n"
        f"Package: asterisk\nStatus: install ok installed\nVersion: {version}\n\n"
    )
    assert check.dpkg_version(status) == version
    assert check.dpkg_version(tmp_path / "nowhere") is None


# --- the line, the command ------------------------------------------------------------------


def test_a_finding_is_one_line() -> None:
    finding = check.Finding("fail", "manager.conf:3", "ami.write-class", "two\nlines\r\nhere")
    assert finding.line() == "manager.conf:3: fail ami.write-class: two lines here"
    assert "\n" not in finding.line()
    assert set(check.RULES) >= {"ami.write-class"}


def test_every_rule_is_documented_and_used() -> None:
    source = Path(check.__file__).read_text()
    unused = [rule for rule in check.RULES if source.count(f'"{rule}"') < 2]  # (once in RULES)
    assert unused == []


def good_run_args(tmp_path: Path, env: Draw) -> list[str]:
    path, _ = write_centre(tmp_path, production_raw(env))
    return [
        "--config",
        str(path),
        "--asterisk-etc",
        str(write_etc(tmp_path)),
        "--asterisk-version",
        GOOD_VERSION,
    ]


def test_main_exits_0_when_nothing_fails(
    tmp_path: Path, env_secrets: Draw, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.main(good_run_args(tmp_path, env_secrets)) == 0
    out = capsys.readouterr()
    assert out.out == ""
    assert "0 failing" in out.err


def test_main_exits_1_with_one_line_per_finding(
    tmp_path: Path, env_secrets: Draw, capsys: pytest.CaptureFixture[str]
) -> None:
    args = good_run_args(tmp_path, env_secrets)
    etc = Path(args[3])
    (etc / "asterisk.conf").write_text("[options]\nlive_dangerously = yes\n")
    args[-1] = f"Asterisk {BEFORE[0]}"
    assert check.main(args) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{etc / 'asterisk.conf'}:2: fail asterisk.live-dangerously: "
        + check.check_asterisk_conf(check.read_conf(etc, "asterisk.conf")).pop().message,  # type: ignore[arg-type]
        check.version_findings(check.parse_version(args[-1]), "--asterisk-version", ["controller"])[0].line(),
    ]


@pytest.mark.parametrize("broken", ["config", "etc", "version"])
def test_main_exits_2_on_what_it_cannot_read(
    tmp_path: Path, env_secrets: Draw, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    args = good_run_args(tmp_path, env_secrets)
    given = {"config": 1, "etc": 3, "version": 5}[broken]
    args[given] = {
        "config": str(tmp_path / "none.yaml"),
        "etc": str(tmp_path / "none"),
        "version": "nonsense",
    }[broken]
    assert check.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("contactcenter check: ") and args[given] in err[0]


def test_without_an_etc_the_sandbox_rendering_is_checked(
    tmp_path: Path, env_secrets: Draw, capsys: pytest.CaptureFixture[str]
) -> None:
    args = good_run_args(tmp_path, env_secrets)
    del args[2:4]
    check.main(args)
    out = capsys.readouterr()
    assert "rendered" in out.err
    templates = {p.name for p in resources.dialplans_dir().glob("*.conf")}
    for line in out.out.splitlines():  # each names a template or a generated file
        where = line.split(":", 1)[0]
        assert Path(where).name in templates or where.startswith(check.RENDERED + "/"), line


def test_the_sandbox_version_is_read_when_none_is_given(tmp_path: Path, env_secrets: Draw) -> None:
    args = good_run_args(tmp_path, env_secrets)
    status = tmp_path / "status"
    status.write_text(f"Package: asterisk\nStatus: install ok installed\nVersion: 1:{BEFORE[2]}-1\n")
    report = check.run_check(Path(args[1]), Path(args[3]), None, status_file=status)
    assert rules(report.findings) == [(str(status), "asterisk.version")]
    report = check.run_check(Path(args[1]), Path(args[3]), None, status_file=tmp_path / "nowhere")
    assert [(f.rule, f.severity) for f in report.findings] == [("asterisk.version", "warn")]


# --- what ships -----------------------------------------------------------------------------


def test_the_shipped_centre_passes() -> None:
    found = check.check_centre(resources.default_config()).findings
    assert check.failing(found) == []


def test_the_rendered_sandbox_passes(env_secrets: Draw, tmp_path: Path) -> None:
    path, _ = write_centre(
        tmp_path, production_raw(env_secrets)
    )  # (secrets of its own: not the shipped ones)
    result = check.check_rendered_sandbox(load_config(path))
    assert check.failing(result.findings) == []
    assert os.environ["CC_TEST_AMI_SECRET"] not in " ".join(f.line() for f in result.findings)


# --- secrets from files (config.py) ----------------------------------------------------------


def _secret_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "ami.secret"
    path.write_text(text)
    path.chmod(mode)
    return path


def _with_ami_file(tmp_path: Path, draw: Draw, secret_file: Path) -> Path:
    raw = production_raw(draw)
    del raw["ami"]["secret_env"]
    raw["ami"]["secret_file"] = str(secret_file)
    return write_centre(tmp_path, raw)[0]


def test_a_secret_file_is_read_with_its_newline_stripped(tmp_path: Path, env_secrets: Draw) -> None:
    value = secrets.token_urlsafe(24)
    path = _with_ami_file(tmp_path, env_secrets, _secret_file(tmp_path, value + "\n"))
    assert load_config(path).ami.secret == value


@pytest.mark.parametrize("case", ["mode-0644", "missing", "empty", "two-lines"])
def test_a_bad_secret_file_is_a_config_error_naming_file_and_field(
    tmp_path: Path, env_secrets: Draw, case: str
) -> None:
    value = secrets.token_urlsafe(24)
    secret_file = _secret_file(
        tmp_path,
        {"empty": "", "two-lines": f"{value}\nmore\n"}.get(case, value),
        0o644 if case == "mode-0644" else 0o600,
    )
    if case == "missing":
        secret_file.unlink()
    path = _with_ami_file(tmp_path, env_secrets, secret_file)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.file, info.value.field) == (str(path), "ami.secret_file")
    assert str(secret_file) in str(info.value) and value not in str(info.value)
    if case == "mode-0644":
        assert "0644" in str(info.value)


def test_two_sources_of_one_secret_are_refused(tmp_path: Path, env_secrets: Draw) -> None:
    value = secrets.token_urlsafe(24)
    raw = production_raw(env_secrets)
    raw["ami"]["secret_file"] = str(_secret_file(tmp_path, value))
    path, _ = write_centre(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "ami.secret_file" and "secret_env and secret_file" in info.value.problem
    assert value not in str(info.value)


def test_a_bad_deployment_is_a_config_error(tmp_path: Path, env_secrets: Draw) -> None:
    raw = production_raw(env_secrets)
    raw["centre"]["deployment"] = "staging"
    path, _ = write_centre(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.file, info.value.field, info.value.value) == (
        str(path),
        "centre.deployment",
        "staging",
    )
