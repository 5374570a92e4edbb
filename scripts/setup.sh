#!/usr/bin/env bash
# Everything the demo and the tests need on a fresh Debian machine (root, Python >= 3.11):
# Debian packages (debootstrap for the Asterisk sandbox, SIPp for real SIP callers) and a
# virtualenv in .venv with the project installed. Idempotent: a second run does nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/setup.sh: run as root (the Asterisk sandbox needs debootstrap, chroot, mount)" >&2
  exit 2
fi

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v sipp >/dev/null || need+=(sip-tester)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
# The compiled build of the core (the wheel setup.py makes; tested in tests/packaging and
# tests/sim/test_compiled_build.py) needs a C compiler and this Python's headers. The
# editable install below is always pure Python (setup.py), so edits are never shadowed.
command -v gcc >/dev/null || need+=(gcc)
# The supervisors' feed: mosquitto (started by `sandbox up` beside Asterisk, never as a
# system service); promtool (Debian's prometheus package) checks the metrics and the rules.
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v promtool >/dev/null || need+=(prometheus)
# Operators' real SIP phones in the integration tests: baresip registers to the sandbox as a
# PJSIP endpoint, auto-answers, and dials the feature codes (tests/phones.py).
command -v baresip >/dev/null || need+=(baresip-core)  # (the phone, without the GUI front ends)
# The browser tests (wallboard, operator console): Debian's chromium, driven by Playwright
# (never Playwright's own browser download).
command -v chromium >/dev/null || need+=(chromium)
python3 -c 'import sysconfig, pathlib, sys; sys.exit(not (pathlib.Path(sysconfig.get_paths()["include"]) / "Python.h").is_file())' \
  || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # Packages' services (mosquitto, prometheus) are not started: we start our own, on our
  # ports, and stop them (policy-rc.d's 101 tells invoke-rc.d not to start anything).
  cleanup_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    cleanup_policy=1
  fi
  apt-get install -y -q "${need[@]}" >/dev/null
  if [ "$cleanup_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: Python >= 3.11 needed, found {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.cc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
