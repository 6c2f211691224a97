#!/usr/bin/env bash
# Runs the Python Gymnasium comparison benchmark in its own virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${DREAMRIG_BENCH_VENV:-$HOME/.cache/dreamrig-bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "gymnasium[mujoco]>=1.0"
fi
"$venv/bin/python" scripts/bench_gymnasium.py
