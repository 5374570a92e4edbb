# Renders the centre's configuration into an Asterisk /etc/asterisk directory.
# Rules: the files in dialplans/ are the structure; `{{name}}` placeholders in them are
# filled from the Config, and an unknown or unused-but-missing placeholder is an error.
# Data-shaped parts (IVR menus, operators' SIP endpoints, the observer AMI user) are
# generated here as `cc-*.conf` files that the static files `#include`. Every value that
# reaches a file was validated by contactcenter.config (no line breaks, safe identifiers).
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from contactcenter import resources
from contactcenter.config import Config, Menu

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


class RenderError(Exception):
    pass


def placeholders(cfg: Config, module_dir: str) -> dict[str, str]:
    """Values for the `{{name}}` placeholders in dialplans/*.conf."""
    return {
        "module_dir": module_dir,
        "max_channels": str(cfg.lines * 4 + 100),  # caller + operator legs (Local = 2 each)
        "default_language": cfg.ivr.default_language,
        "ami_host": cfg.ami.host,
        "ami_port": str(cfg.ami.port),
        "ami_username": cfg.ami.username,
        "ami_secret": cfg.ami.secret,
        "sip_host": cfg.sip.host,
        "sip_port": str(cfg.sip.port),
        "rtp_start": str(cfg.sip.rtp_ports[0]),
        "rtp_end": str(cfg.sip.rtp_ports[1]),
        "hold_period": str(cfg.ivr.hold_period),
        "menu_timeout": str(cfg.ivr.menu_timeout),
        "menu_attempts": str(cfg.ivr.menu_attempts),
        "sim_ring_delay": _seconds(cfg.simulated_operators.ring_delay),
        "sim_talk_seconds": _seconds(cfg.simulated_operators.talk_seconds),
    }


def _seconds(value: float) -> str:
    return f"{value:g}"


def fill(text: str, values: Mapping[str, str], name: str) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise RenderError(f"dialplans/{name}: unknown placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(sub, text)


def ivr_conf(cfg: Config) -> str:
    """The generated IVR: a language menu, then a service menu that sets CC_SKILL."""
    ivr = cfg.ivr
    out = ["; Generated from the `ivr:` section of " + cfg.path + " — do not edit.", ""]
    out += _menu(
        "cc-ivr-language",
        "cc/language-menu",
        ivr.language_menu,
        label="lang",
        action=lambda lang: [
            f"Set(CHANNEL(language)={lang})",
            "Goto(cc-ivr-service,s,1)",
        ],
    )
    out.append("")
    out += _menu(
        "cc-ivr-service",
        "cc/service-menu",
        ivr.service_menu,
        label="skill",
        action=lambda skill: [f"Set(CC_SKILL={skill})", "Goto(cc-queue,s,1)"],
    )
    return "\n".join(out) + "\n"


def _menu(context: str, prompt: str, menu: Menu, label: str, action) -> list[str]:  # type: ignore[no-untyped-def]
    lines = [
        f"[{context}]",
        "exten => s,1,Set(CC_TRIES=0)",
        " same => n(menu),Set(CC_TRIES=$[${CC_TRIES} + 1])",
        f" same => n,Read(CC_DIGIT,{prompt},1,,1,${{CC_MENU_TIMEOUT}})",
    ]
    # Each target once, in menu order, the default included even if no digit leads to it.
    targets = list(dict.fromkeys([*menu.options.values(), menu.default]))
    for digit, target in menu.options.items():
        lines.append(f' same => n,GotoIf($["${{CC_DIGIT}}" = "{digit}"]?{label}-{target})')
    lines += [
        ' same => n,GotoIf($["${CC_DIGIT}" = ""]?retry)',
        " same => n,Playback(cc/invalid)",
        " same => n(retry),GotoIf($[${CC_TRIES} < ${CC_MENU_ATTEMPTS}]?menu)",
        f" same => n,Goto({label}-{menu.default})",
    ]
    for target in targets:
        steps = action(target)
        lines.append(f" same => n({label}-{target}),{steps[0]}")
        lines += [f" same => n,{step}" for step in steps[1:]]
    return lines


def operators_pjsip_conf(cfg: Config) -> str:
    out = [
        "; Generated from `operators:` (endpoint: pjsip) and `web.tokens` (phone: pjsip) — do not edit.",
        "",
    ]
    phones = [(op.id, op.secret, "cc-operator-phone") for op in cfg.operators if op.endpoint == "pjsip"]
    phones += [(t.id, t.secret, "cc-supervisor-phone") for t in cfg.web.tokens if t.phone == "pjsip"]
    for ident, secret, context in phones:
        out += [
            f"[{ident}]",
            "type = endpoint",
            "transport = transport-udp",
            f"context = {context}",
            "disallow = all",
            "allow = alaw,ulaw",
            "dtmf_mode = rfc4733",
            "direct_media = no",
            f"auth = {ident}-auth",
            f"aors = {ident}",
            "",
            f"[{ident}-auth]",
            "type = auth",
            "auth_type = userpass",
            f"username = {ident}",
            f"password = {secret}",
            "",
            f"[{ident}]",
            "type = aor",
            "max_contacts = 1",
            "remove_existing = yes",
            # (A phone that died without unregistering is found out within seconds: calls
            # then fail at once, a fault of the system, instead of ringing it out.)
            "qualify_frequency = 10",
            "",
        ]
    return "\n".join(out) + "\n"


def observer_conf(username: str, secret: str) -> str:
    """A read-mostly AMI user for the sandbox's own tools (tests, demo): it sees every call
    event and may originate simulated callers; the controller never uses it."""
    return "\n".join(
        [
            "; Generated by `contactcenter sandbox up` — sandbox only, never in production.",
            f"[{username}]",
            f"secret = {secret}",
            "deny = 0.0.0.0/0.0.0.0",
            "permit = 127.0.0.1/255.255.255.255",
            "read = system,call,user,dialplan,reporting",
            # (call: Setvar of a global, how tests set a simulated citizen's phone; never
            # system, command or config: `contactcenter check` fails those)
            "write = call,originate,reporting",
            "",
        ]
    )


def render(cfg: Config, etc_dir: Path, module_dir: str, observer: tuple[str, str]) -> list[str]:
    """Write the full /etc/asterisk for `cfg` into etc_dir (emptied first); return file names."""
    values = placeholders(cfg, module_dir)
    files: dict[str, str] = {}
    for src in sorted(resources.dialplans_dir().glob("*.conf")):
        files[src.name] = fill(src.read_text(encoding="utf-8"), values, src.name)
    files["cc-ivr.conf"] = ivr_conf(cfg)
    files["cc-operators-pjsip.conf"] = operators_pjsip_conf(cfg)
    files["cc-manager-observer.conf"] = observer_conf(*observer)
    etc_dir.mkdir(parents=True, exist_ok=True)
    for old in etc_dir.iterdir():
        if old.is_file() or old.is_symlink():
            old.unlink()
    for name, text in files.items():
        path = etc_dir / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o640)  # secrets inside
    return sorted(files)
