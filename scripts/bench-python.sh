#!/usr/bin/env bash
# Steps per second of dreamrig's Gymnasium environments from Python, next to Gymnasium's MuJoCo
# environments (InvertedPendulum-v5, Reacher-v5, Pusher-v5), one env and a vector of 16 on 2
# threads, in one run. Installs the package (`pip install ./python`) into the project's Python
# environment, which has gymnasium[mujoco]. Extra arguments go to scripts/bench_python.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
python="$(scripts/python-env.sh)"
"$python" -m pip install --quiet --disable-pip-version-check ./python
RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}" "$python" scripts/bench_python.py "$@"
