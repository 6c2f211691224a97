#!/usr/bin/env bash
# Real ROS 2 nodes against `dreamrig serve --transport rcl`: sets up ROS 2 Kilted from the
# ros-* wheels (scripts/ros2-env.sh), builds dreamrig with the `ros2` feature, and runs the
# rclpy tests of tests/ros2 against it. The build shares CARGO_TARGET_DIR with the default one
# (only the crates the feature changes are rebuilt), so it leaves the feature build in
# release/dreamrig until the next default build relinks it; the tests run a copy,
# $CARGO_TARGET_DIR/ros2/dreamrig. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dreamrig-target}"
env_file="$(scripts/ros2-env.sh)"
# shellcheck disable=SC1090
source "$env_file"
cargo build --release --features ros2 --bin dreamrig
mkdir -p "$CARGO_TARGET_DIR/ros2"
cp "$CARGO_TARGET_DIR/release/dreamrig" "$CARGO_TARGET_DIR/ros2/dreamrig.tmp"
mv "$CARGO_TARGET_DIR/ros2/dreamrig.tmp" "$CARGO_TARGET_DIR/ros2/dreamrig"
DREAMRIG_BIN="$CARGO_TARGET_DIR/ros2/dreamrig" python -m pytest tests/ros2 -q -p no:cacheprovider "$@"
