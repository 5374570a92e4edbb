#!/usr/bin/env bash
# The demo: set-up, then the local Asterisk sandbox, the controller, and a slice of real
# call traffic replayed as SIPp calls through the IVR to simulated operators.
# Extra arguments go to `contactcenter demo` (e.g. --calls 12 --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/contactcenter demo "$@"
