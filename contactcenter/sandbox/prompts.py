# IVR prompts, spoken by espeak-ng and converted by sox to Asterisk's 8 kHz mono WAV, both
# run inside the sandbox's chroot. Generated when the sandbox comes up and never committed.
# Rules: one file per (prompt, language) at sounds/<lang>/cc/<prompt>.wav, so Asterisk picks
# the caller's language by itself; the language menu is every language's sentence in its own
# voice, one after the other, copied into each language's folder. A manifest of text hashes
# makes a second `up` regenerate only what changed.
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from contactcenter.config import Config

SOUNDS = "usr/share/asterisk/sounds"
VOICES = {"ca": "ca", "es": "es", "en": "en-gb"}
# Asterisk ships number prompts for English and Spanish but not Catalan. SayNumber for an
# unknown language composes numbers like English ("trenta" + "cinc") from digits/N files
# in the channel's language folder, so these are enough for places and minutes < 100.
CATALAN_NUMBERS = {
    0: "zero",
    1: "un",
    2: "dos",
    3: "tres",
    4: "quatre",
    5: "cinc",
    6: "sis",
    7: "set",
    8: "vuit",
    9: "nou",
    10: "deu",
    11: "onze",
    12: "dotze",
    13: "tretze",
    14: "catorze",
    15: "quinze",
    16: "setze",
    17: "disset",
    18: "divuit",
    19: "dinou",
    20: "vint",
    30: "trenta",
    40: "quaranta",
    50: "cinquanta",
    60: "seixanta",
    70: "setanta",
    80: "vuitanta",
    90: "noranta",
}


def in_root(root: Path, path: str) -> Path:
    """The host path of `path` as seen inside the chroot: absolute symlinks (Debian's sound
    folders point into /etc/alternatives) are resolved against the chroot, not the host."""
    parts = [p for p in path.split("/") if p]
    current = root
    hops = 0
    while parts:
        part = parts.pop(0)
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks under {root} for {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            parts = [p for p in target.split("/") if p] + parts
            continue
        if part == "..":
            current = current.parent if current != root else root
        elif part != ".":
            current = candidate
    return current


def _run(root: Path, *argv: str) -> None:
    # Arguments go straight to exec (no shell): prompt texts are never interpreted.
    subprocess.run(["chroot", str(root), *argv], check=True, capture_output=True, timeout=60)


def _speak(root: Path, lang: str, text: str, out: str) -> None:
    raw = "/tmp/cc-prompt-raw.wav"
    _run(root, "espeak-ng", "-v", VOICES[lang], "-s", "150", "-w", raw, text)
    _run(
        root, "sox", raw, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", out, "pad", "0", "0.3"
    )


def generate(cfg: Config, root: Path) -> int:
    """Generate missing or changed prompts into the chroot; return how many were made."""
    manifest_path = root / SOUNDS / "cc-prompts.json"
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    made = 0
    wanted: list[tuple[str, str, str]] = []  # (target path, language, text)
    if "ca" in cfg.languages:
        wanted += [(f"/{SOUNDS}/ca/digits/{n}.wav", "ca", word) for n, word in CATALAN_NUMBERS.items()]
    for target, lang, text in wanted:
        digest = hashlib.sha256(json.dumps([lang, text]).encode()).hexdigest()
        if manifest.get(target) == digest and in_root(root, target).exists():
            continue
        in_root(root, target).parent.mkdir(parents=True, exist_ok=True)
        _speak(root, lang, text, target)
        manifest[target] = digest
        made += 1
    for name, texts in cfg.ivr.prompts.items():
        if name == "language-menu":
            # One trilingual prompt: each language's sentence in its own voice.
            parts = [(lang, texts[lang]) for lang in cfg.languages]
            digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
            targets = [f"/{SOUNDS}/{lang}/cc/{name}.wav" for lang in cfg.languages]
            if all(manifest.get(t) == digest and in_root(root, t).exists() for t in targets):
                continue
            pieces = []
            for i, (lang, text) in enumerate(parts):
                piece = f"/tmp/cc-piece-{i}.wav"
                _speak(root, lang, text, piece)
                pieces.append(piece)
            for t in targets:
                in_root(root, t).parent.mkdir(parents=True, exist_ok=True)
                _run(root, "sox", *pieces, t)
                manifest[t] = digest
            made += 1
            continue
        for lang in cfg.languages:
            target = f"/{SOUNDS}/{lang}/cc/{name}.wav"
            digest = hashlib.sha256(json.dumps([lang, texts[lang]]).encode()).hexdigest()
            if manifest.get(target) == digest and in_root(root, target).exists():
                continue
            in_root(root, target).parent.mkdir(parents=True, exist_ok=True)
            _speak(root, lang, texts[lang], target)
            manifest[target] = digest
            made += 1
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return made
