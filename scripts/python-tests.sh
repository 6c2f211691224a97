#!/usr/bin/env bash
# Builds the Python package as a user does (`pip install ./python`, maturin and PyO3) into the
# project's Python environment (scripts/python-env.sh) and runs its tests, `pytest python/tests`,
# which compare it with the release `dreamrig` binary. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
python="$(scripts/python-env.sh)"
echo "== pip install ./python" >&2
"$python" -m pip install --quiet --disable-pip-version-check ./python
if [ ! -x "$CARGO_TARGET_DIR/release/dreamrig" ]; then
  cargo build --release --bin dreamrig
fi
echo "== pytest python/tests" >&2
"$python" -m pytest -q python/tests "$@"
