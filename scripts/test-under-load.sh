#!/usr/bin/env bash
# Runs the test suite with a CPU-bound process on every core beside it, as a loaded CI machine
# runs it: a test that passes only on an idle machine has a timing assumption, which is a defect
# (tests wait on conditions with deadlines, never on sleeps). Arguments go to `cargo test`
# (default: the whole workspace), e.g. `scripts/test-under-load.sh --test bridges`.
# The load starts after the build, so it weighs on the tests, not on the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dreamrig-target}"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--workspace)
cargo test --release --no-run "${args[@]}"
load=()
cleanup() { [ ${#load[@]} -eq 0 ] || kill "${load[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq "$(nproc)"); do
  # A busy loop at normal priority on each core.
  bash -c 'while :; do :; done' &
  load+=($!)
done
echo "== cargo test --release ${args[*]} beside ${#load[@]} busy processes" >&2
cargo test --release "${args[@]}"
