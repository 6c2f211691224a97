#!/usr/bin/env bash
# dreamrig's physics against MuJoCo's on the same URDFs at the same timestep, and `dreamrig eval`
# against a Gymnasium loop, in one run (scripts/bench_mujoco.py says what is measured). Installs
# MuJoCo, Gymnasium, pybullet_data and example-robot-data in the project's Python environment
# (scripts/python-env.sh) and builds the release binary and the physics_rate example.
#
# Usage: scripts/bench-mujoco.sh [--seconds S] [--json FILE] [--only REGEX] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/python-env.sh)"
cargo build --release --quiet --bin dreamrig --example physics_rate
target="${CARGO_TARGET_DIR:-target}/release"
exec "$python" scripts/bench_mujoco.py --example "$target/examples/physics_rate" --dreamrig "$target/dreamrig" "$@"
