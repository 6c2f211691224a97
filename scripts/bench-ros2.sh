#!/usr/bin/env bash
# Benchmarks of `dreamrig serve --transport rcl` against rclpy (see scripts/bench_ros2.py):
# sets up ROS 2 (scripts/ros2-env.sh), builds dreamrig with the `ros2` feature, prints JSON.
# The Zenoh figures to compare with come from scripts/bench-bridges.sh serve.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dreamrig-target}"
# shellcheck disable=SC1090
source "$(scripts/ros2-env.sh)"
cargo build --release --quiet --features ros2 --bin dreamrig
mkdir -p "$CARGO_TARGET_DIR/ros2"
cp "$CARGO_TARGET_DIR/release/dreamrig" "$CARGO_TARGET_DIR/ros2/dreamrig.tmp"
mv "$CARGO_TARGET_DIR/ros2/dreamrig.tmp" "$CARGO_TARGET_DIR/ros2/dreamrig"
python scripts/bench_ros2.py "$CARGO_TARGET_DIR/ros2/dreamrig"
