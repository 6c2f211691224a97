"""scripts/mujoco_reality.py: a "real robot" logged by another engine (MuJoCo) for dreamrig's world models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mujoco")
pq = pytest.importorskip("pyarrow.parquet")

import dreamrig  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def log_in_mujoco(out: Path, scenario: str, *extra: str) -> subprocess.CompletedProcess:
    script = REPO / "scripts/mujoco_reality.py"
    command = [sys.executable, str(script), scenario, "--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_mujoco_logs_the_scenarios_robot_under_its_policy_as_a_dataset_dreamrig_reads(cli, tmp_path):
    out = tmp_path / "reacher-mujoco"
    logged = log_in_mujoco(out, "reacher-2link", "--episodes", "3", "--steps", "40", "--seed", "7")
    assert logged.returncode == 0, logged.stderr
    validated = cli("dataset", "validate", out)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    frames = pq.read_table(out / "data/chunk-000/file-000.parquet").to_pandas()
    assert len(frames) == 3 * 40
    # Episode 0 starts where the scenario's reset with its seed puts the arm.
    worlds = dreamrig.Worlds("reacher-2link")
    worlds.reset([7])
    np.testing.assert_allclose(frames["observation.environment_state"][0], worlds.get_state(0).values, atol=1e-6)
    # Replayed in rapier from the logged states with the logged torques, the physics lands close
    # to MuJoCo after one step, but not on it: another engine, the same robot.
    report = tmp_path / "replay.json"
    replayed = cli("wm", "replay", "--log", out, "--episode", "0", "--scenario", "reacher-2link", "--json", report)
    assert replayed.returncode == 0, replayed.stderr
    replay = json.loads(report.read_text())
    errors = [s["error"] for s in replay["steps"] if s["error"] is not None]
    # The logged torques to the log's end, unless rapier's arm reaches the goal first (MuJoCo's
    # episodes run on to the horizon: the script logs whole episodes).
    assert replay["end_reason"] in ("log_end", "success"), replay["end_reason"]
    assert len(errors) >= 30
    assert 0 < errors[0] < 0.1, errors[:3]


def test_armature_and_payload_change_the_logged_motion(tmp_path):
    plain, heavy = tmp_path / "plain", tmp_path / "heavy"
    common = ["--episodes", "1", "--steps", "30", "--seed", "3", "--action-noise", "0"]
    assert log_in_mujoco(plain, "reacher-2link", *common).returncode == 0
    logged = log_in_mujoco(heavy, "reacher-2link", *common, "--armature", "shoulder=0.001", "elbow=0.001", "--payload", "fingertip=0.05")
    assert logged.returncode == 0, logged.stderr
    a = np.stack(pq.read_table(plain / "data/chunk-000/file-000.parquet").to_pandas()["observation.environment_state"])
    b = np.stack(pq.read_table(heavy / "data/chunk-000/file-000.parquet").to_pandas()["observation.environment_state"])
    np.testing.assert_array_equal(a[0], b[0])
    assert np.abs(a[-1] - b[-1]).max() > 1e-3, "a heavier, slower arm moves otherwise under the same policy"


def test_what_the_script_cannot_log_is_refused(tmp_path):
    refused = log_in_mujoco(tmp_path / "nav", "diffdrive-nav", "--episodes", "1")
    assert refused.returncode == 2
    assert "only fixed-base robots" in refused.stderr
    refused = log_in_mujoco(tmp_path / "arm", "reacher-2link", "--episodes", "1", "--armature", "wrist=0.1")
    assert refused.returncode == 2 and "--armature wrist: no such joint" in refused.stderr
    assert not (tmp_path / "arm").exists()


def test_an_episode_ends_where_the_scenarios_task_fails_it(tmp_path):
    out = tmp_path / "cartpole"
    # Pushed by no force, the pole falls long before the 500-step horizon.
    logged = log_in_mujoco(out, "cartpole-balance", "--episodes", "2", "--policy", "zero", "--action-noise", "0", "--seed", "4")
    assert logged.returncode == 0, logged.stderr
    frames = pq.read_table(out / "data/chunk-000/file-000.parquet").to_pandas()
    lengths = frames.groupby("episode_index").size()
    assert (lengths < 500).all(), lengths
    # Every logged frame is a state the task had not yet failed in: the one it failed in is the
    # state after the last action, which dreamrig's datasets do not hold as a frame either.
    states = np.stack(frames["observation.environment_state"])
    names = dreamrig.Worlds("cartpole-balance").state_names
    hinge, slider = names.index("robot.joint.hinge.position"), names.index("robot.joint.slider.position")
    assert (np.abs(states[:, hinge]) <= 0.21).all() and (np.abs(states[:, slider]) <= 2.4).all()


def test_a_payload_lands_where_it_is_placed_on_its_link(tmp_path):
    common = ["--episodes", "1", "--steps", "40", "--seed", "3", "--action-noise", "0"]
    at_hinge, at_tip = tmp_path / "hinge", tmp_path / "tip"
    assert log_in_mujoco(at_hinge, "cartpole-balance", *common, "--payload", "pole=0.05").returncode == 0
    logged = log_in_mujoco(at_tip, "cartpole-balance", *common, "--payload", "pole=0.05@0,0,1.0")
    assert logged.returncode == 0, logged.stderr
    a = np.stack(pq.read_table(at_hinge / "data/chunk-000/file-000.parquet").to_pandas()["observation.environment_state"])
    b = np.stack(pq.read_table(at_tip / "data/chunk-000/file-000.parquet").to_pandas()["observation.environment_state"])
    assert np.abs(a - b).max() > 1e-3, "50 g at the pole's tip swings it otherwise than 50 g on its hinge"
    refused = log_in_mujoco(tmp_path / "bad", "cartpole-balance", "--episodes", "1", "--payload", "pole=0.05@0,1")
    assert refused.returncode == 2 and "expected three finite coordinates" in refused.stderr


def test_finer_mujoco_steps_resolve_the_arms_stiff_wrist_that_rapiers_implicit_servo_steps_at_2_ms(cli, tmp_path):
    common = ["--episodes", "1", "--steps", "30", "--seed", "3", "--action-noise", "0"]
    worst = {}
    for substeps in (1, 64):
        out = tmp_path / f"arm-{substeps}"
        logged = log_in_mujoco(out, "arm7-reach", *common, "--substeps", str(substeps))
        assert logged.returncode == 0, logged.stderr
        report = tmp_path / f"replay-{substeps}.json"
        replayed = cli("wm", "replay", "--log", out, "--episode", "0", "--scenario", "arm7-reach", "--json", report)
        assert replayed.returncode == 0, replayed.stderr
        worst[substeps] = max(s["error"] for s in json.loads(report.read_text())["steps"] if s["error"] is not None)
    # At the scenario's 2 ms MuJoCo's force-limited wrist servo chatters between its limits; at
    # 31 µs it moves as rapier's does, and replaying the log in rapier stays far closer.
    assert worst[64] < 0.5 * worst[1], worst


def test_a_zoo_is_ranked_in_mujoco_by_the_scenarios_own_task(tmp_path):
    report = tmp_path / "compare.json"
    script = REPO / "scripts/mujoco_compare.py"
    command = [sys.executable, str(script), "cartpole-balance", "--candidate", "physics", "--episodes", "3", "--noise", "0,3",
               "--baselines", "zero", "--json", str(report)]
    ranked = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert ranked.returncode == 0, ranked.stderr
    result = json.loads(report.read_text())
    assert result["policies"] == ["auto-noise-0", "auto-noise-3", "zero"]
    # The LQR balances MuJoCo's cart-pole to the 500-step horizon (a success the task scores only
    # there); noise of three times the force range, or no force, lets the pole fall.
    assert result["success_rate"]["mujoco"] == [1.0, 0.0, 0.0]
    assert result["success_rate"]["physics"] == [1.0, 0.0, 0.0]
    assert result["agreement"]["physics"]["mmrv"] == 0.0
    refused = subprocess.run([sys.executable, str(script), "cartpole-balance", "--candidate", "mujoco"], capture_output=True, text=True)
    assert refused.returncode == 2 and "expected physics, learned:MODEL.json or hybrid:MODEL.json" in refused.stderr
