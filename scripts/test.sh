#!/usr/bin/env bash
# The whole test suite: set-up, static checks (ruff, mypy --strict on the core), then
# pytest: unit tests of the core, adapter tests, and integration tests against the real
# Asterisk sandbox with SIPp callers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check contactcenter sim tests scripts setup.py
echo "== mypy --strict (core, config, the simulator loop)"; mypy
# The security check on what we ship: the centre file and the sandbox's Asterisk
# configuration rendered from it (its secrets: the sandbox's own files, made if missing).
echo "== contactcenter check"; contactcenter sandbox secrets; contactcenter check
# Report plots and other things a person looks at after a run (never committed).
export CC_ARTEFACTS="${CC_ARTEFACTS:-$PWD/artefacts}"
mkdir -p "$CC_ARTEFACTS"
echo "== pytest"
status=0
python -m pytest -W error "$@" || status=$?
# Leave no Asterisk running behind us (the fixture stops it; this covers an interrupted run).
contactcenter sandbox down >/dev/null 2>&1 || true
ls "$CC_ARTEFACTS"/*.png >/dev/null 2>&1 && echo "report plots: $(ls "$CC_ARTEFACTS"/*.png | tr '\n' ' ')"
exit $status
