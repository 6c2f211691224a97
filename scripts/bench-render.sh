#!/usr/bin/env bash
# dreamrig's camera rendering against MuJoCo's offscreen renderer on the same URDF and
# resolutions, one rasterizer thread each, in one run (scripts/bench_render.py says what is
# measured). Uses the project's Python environment (scripts/python-env.sh, which has MuJoCo) and
# builds the render_rate example. Needs Mesa's Vulkan (lavapipe) and EGL drivers.
#
# Usage: scripts/bench-render.sh [--seconds S] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/python-env.sh)"
cargo build --release --quiet --example render_rate
target="${CARGO_TARGET_DIR:-target}/release"
exec "$python" scripts/bench_render.py --example "$target/examples/render_rate" "$@"
