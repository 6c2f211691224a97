"""Shared fixtures: the `dreamrig` binary the package is compared with, and the repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dreamrig_binary() -> Path:
    """The release `dreamrig` binary: $DREAMRIG_BIN, else $CARGO_TARGET_DIR/release/dreamrig, else target/release/dreamrig."""
    if "DREAMRIG_BIN" in os.environ:
        return Path(os.environ["DREAMRIG_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "dreamrig"


@pytest.fixture(scope="session")
def cli():
    """Runs the `dreamrig` command; returns the completed process (never raises on exit codes)."""
    binary = dreamrig_binary()
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: build it with `cargo build --release` (or set DREAMRIG_BIN)")

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, cwd=cwd or REPO, timeout=900)

    return run


@pytest.fixture(scope="session")
def hybrid_model(tmp_path_factory, cli) -> Path:
    """A small hybrid cart-pole world model trained with `dreamrig wm train` on 6 episodes."""
    d = tmp_path_factory.mktemp("hybrid")
    data, model = d / "data", d / "hybrid.json"
    out = cli("dataset", "generate", "cartpole-balance", "--policy", "auto", "--episodes", "6", "--out", data)
    assert out.returncode == 0, out.stderr
    out = cli(
        "wm", "train", "--dataset", data, "--scenario", "cartpole-balance", "--kind", "hybrid", "--out", model,
        "--epochs", "2", "--ensemble", "2", "--hidden", "32,32", "--identify-transitions", "200",
    )
    assert out.returncode == 0, out.stderr
    return model

