"""The pages' strings: complete in Catalan, Spanish and English, and every key the
templates and the scripts use exists (the templates are parsed with Jinja2, the scripts
scanned for tr("key") and for keys they build from a prefix)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined, nodes, select_autoescape

from contactcenter.web.strings import LANGUAGES, STRINGS, strings_for

WEB = Path(__file__).resolve().parents[2] / "contactcenter" / "web"
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
SCRIPTS = sorted((WEB / "static").glob("*.js"))
STATES = ("logged_out", "available", "reserved", "talking", "wrap_up", "paused", "unreachable")
# Keys the pages build from a prefix and a value: the values each prefix can take.
DYNAMIC = {
    "autonym_": LANGUAGES,  # base.html's language switcher
    "lang_name_": LANGUAGES,  # common.js languageName()
    "state_": STATES,  # common.js stateWord()
    "level_": ("amber", "red"),  # wallboard.js setFigure(): the level in words
}
# Template variables used as keys: the values the app gives them (login.html's `error`).
VARIABLES = {"error": ("login_failed",)}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _template_keys() -> tuple[set[str], set[str]]:
    """(keys used as t.key / t["key"], prefixes of keys built as t["prefix" ~ x])."""
    env = Environment(autoescape=True)
    keys: set[str] = set()
    prefixes: set[str] = set()
    for path in TEMPLATES:
        ast = env.parse(path.read_text(encoding="utf-8"))
        for node in ast.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "t":
                keys.add(node.attr)
        for node in ast.find_all(nodes.Getitem):
            if not (isinstance(node.node, nodes.Name) and node.node.name == "t"):
                continue
            arg = node.arg
            if isinstance(arg, nodes.Const):
                keys.add(arg.value)
            elif isinstance(arg, nodes.Concat) and isinstance(arg.nodes[0], nodes.Const):
                prefixes.add(arg.nodes[0].value)
            elif isinstance(arg, nodes.Name) and arg.name in VARIABLES:
                keys.update(VARIABLES[arg.name])
            else:
                pytest.fail(f"{path.name}: t[...] with a key the test cannot follow: {arg}")
    return keys, prefixes


def _script_keys() -> tuple[set[str], set[str]]:
    """(keys in tr("key"), prefixes of keys built as `prefix_${x}`) in the scripts."""
    keys: set[str] = set()
    prefixes: set[str] = set()
    for path in SCRIPTS:
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"""\btr\(\s*["']([\w.-]+)["']""", text))
        prefixes |= set(re.findall(r"`([a-z]+(?:_[a-z]+)*_)\$\{", text))
    for path in [*TEMPLATES, *SCRIPTS]:
        keys |= set(re.findall(r"""data-i18n=["']([\w.-]+)["']""", path.read_text(encoding="utf-8")))
    return keys, prefixes


def _expanded(prefixes: set[str]) -> set[str]:
    unknown = prefixes - DYNAMIC.keys()
    assert not unknown, f"keys built from prefixes this test does not know: {unknown} (add them to DYNAMIC)"
    return {p + v for p in prefixes for v in DYNAMIC[p]}


def test_the_three_languages_have_the_same_keys_all_filled() -> None:
    assert tuple(STRINGS) == LANGUAGES == ("ca", "es", "en")
    keys = set(STRINGS["ca"])
    for lang in LANGUAGES:
        assert set(STRINGS[lang]) == keys, f"{lang}: {set(STRINGS[lang]) ^ keys}"
        empty = [k for k, v in STRINGS[lang].items() if not isinstance(v, str) or not v.strip()]
        assert not empty, f"{lang}: empty strings {empty}"


def test_placeholders_agree_across_languages() -> None:
    for key, text in STRINGS["ca"].items():
        wanted = set(PLACEHOLDER.findall(text))
        for lang in LANGUAGES:
            assert set(PLACEHOLDER.findall(STRINGS[lang][key])) == wanted, f"{lang}.{key}"


def test_translations_are_translated() -> None:
    # Most strings differ between Catalan and English; a copy left untranslated shows here.
    same = [k for k in STRINGS["ca"] if STRINGS["ca"][k] == STRINGS["en"][k] and not k.startswith("autonym_")]
    assert len(same) <= 6, same


def test_strings_for_falls_back_to_catalan() -> None:
    assert strings_for("es") is STRINGS["es"]
    assert strings_for("fr") is STRINGS["ca"]
    assert strings_for("") is STRINGS["ca"]


def test_every_key_the_templates_use_exists() -> None:
    keys, prefixes = _template_keys()
    assert keys, "no t.<key> found: is the parser looking at the right files?"
    used = keys | _expanded(prefixes)
    for lang in LANGUAGES:
        missing = used - STRINGS[lang].keys()
        assert not missing, f"{lang}: missing {sorted(missing)}"


def test_every_key_the_scripts_use_exists() -> None:
    keys, prefixes = _script_keys()
    assert keys, 'no tr("key") found: is the scan looking at the right files?'
    used = keys | _expanded(prefixes)
    for lang in LANGUAGES:
        missing = used - STRINGS[lang].keys()
        assert not missing, f"{lang}: missing {sorted(missing)}"


def test_no_string_is_left_unused() -> None:
    t_keys, t_prefixes = _template_keys()
    s_keys, s_prefixes = _script_keys()
    used = t_keys | s_keys | _expanded(t_prefixes | s_prefixes)
    assert not STRINGS["ca"].keys() - used, sorted(STRINGS["ca"].keys() - used)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("template", "extra"),
    [
        ("login.html", {"role": None, "operator_id": None, "error": "Wrong", "next": "/console?x=1&y=2"}),
        ("wallboard.html", {"role": "supervisor", "operator_id": None}),
        ("wallboard.html", {"role": "viewer", "operator_id": None}),
        ("console.html", {"role": "operator", "operator_id": "ana"}),
    ],
)
def test_templates_render_with_the_documented_context(
    lang: str, template: str, extra: dict[str, object]
) -> None:
    env = Environment(
        loader=FileSystemLoader(WEB / "templates"), autoescape=select_autoescape(), undefined=StrictUndefined
    )
    html = env.get_template(template).render(
        t=strings_for(lang),
        lang=lang,
        centre="010 <Barcelona>",
        csrf='tok"en',
        static="/static",
        languages=list(LANGUAGES),
        **extra,
    )
    assert f'<html lang="{lang}">' in html
    assert '<meta name="csrf-token" content="tok&#34;en">' in html
    assert "010 &lt;Barcelona&gt;" in html and "010 <Barcelona>" not in html
    if extra["role"]:
        assert 'action="/logout"' in html and 'name="csrf" value="tok&#34;en"' in html
    else:
        assert 'action="/logout"' not in html
    supervisor_only = 'id="callback-form"' in html or 'class="op-menu"' in html
    assert supervisor_only == (extra["role"] == "supervisor")
