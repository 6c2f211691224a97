#!/usr/bin/env bash
# Benchmarks of the ROS 2 bridge and remote policies on loopback (see scripts/bench_bridges.py).
# Usage: scripts/bench-bridges.sh [serve|remote|all]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dreamrig-target}"
cargo build --release --quiet
python="$(scripts/python-env.sh)"
"$python" scripts/bench_bridges.py "$CARGO_TARGET_DIR/release/dreamrig" "${1:-all}"
