"""`dreamrig.lerobot.LeRobotEnv` without lerobot: the vectors it shows a policy are the ones a
dreamrig dataset holds (read here with pandas), frame for frame."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import dreamrig
import dreamrig.lerobot


@pytest.fixture(scope="module", params=["arm7-reach", "diffdrive-nav"])
def recorded(request, cli, tmp_path_factory):
    """2 controller episodes of a scenario, as `dreamrig dataset generate` writes them."""
    root = tmp_path_factory.mktemp("lerobot-env") / request.param
    out = cli("dataset", "generate", request.param, "--policy", "auto", "--episodes", "2", "--seed", "3", "--out", root)
    assert out.returncode == 0, out.stderr
    frames = pd.concat([pd.read_parquet(p) for p in sorted(root.glob("data/*/*.parquet"))], ignore_index=True)
    episodes = pd.concat([pd.read_parquet(p) for p in sorted(root.glob("meta/episodes/*/*.parquet"))], ignore_index=True)
    info = json.loads((root / "meta" / "info.json").read_text())
    return request.param, frames, episodes, info


def test_the_layout_is_the_datasets(recorded):
    scenario, _, _, info = recorded
    env = dreamrig.lerobot.LeRobotEnv(scenario)
    layout = env.layout
    assert layout.fps == info["fps"] == env.metadata["render_fps"]
    for key in ["observation.state", "observation.environment_state", "action"]:
        assert layout.features[key]["shape"] == info["features"][key]["shape"], key
        assert layout.features[key]["names"] == info["features"][key]["names"], key
    assert env.observation_space["agent_pos"].shape == tuple(info["features"]["observation.state"]["shape"])
    assert env.task_description == layout.task


def test_replaying_a_dataset_shows_its_frames_and_its_outcome(recorded):
    scenario, frames, episodes, info = recorded
    env = gym.make("dreamrig/LeRobot-v0", scenario=scenario)
    # The replay's actions carry the float32 rounding of the dataset's, and on a wheeled base that
    # rounding shows most in the contact-driven rates: the base's pitch rate from the wheels'
    # contact with the ground differs by a few 0.01 rad/s, and an IMU's linear acceleration (a
    # difference of velocities over one 50 ms control period) by a few 0.01 m/s². Velocities and
    # accelerations get 0.1 in their unit; poses and joint positions 0.01.
    def is_rate(name):
        return "velocity" in name or "acceleration" in name or name.rsplit(".", 1)[-1] in ("vx", "vy", "vz", "wx", "wy", "wz")

    def tolerances(feature):
        names = info["features"][feature]["names"]
        return names, np.array([0.1 if is_rate(name) else 1e-2 for name in names])

    names, state_atol = tolerances("observation.state")
    environment_names, environment_atol = tolerances("observation.environment_state")
    for _, episode in episodes.iterrows():
        rows = frames[frames["episode_index"] == episode["episode_index"]]
        # pandas gives NumPy uint64 seeds; they are taken as they are.
        observation, info = env.reset(seed=episode["dreamrig/seed"])
        assert info["is_success"] is False
        for k, (_, frame) in enumerate(rows.iterrows()):
            state = np.asarray(frame["observation.state"], dtype=np.float32)
            environment_state = np.asarray(frame["observation.environment_state"], dtype=np.float32)
            if k == 0:
                np.testing.assert_array_equal(observation["agent_pos"], state)
                np.testing.assert_array_equal(observation["environment_state"], environment_state)
            else:
                # The dataset's actions are float32 (the controller acted in float64): the replay
                # agrees to the rounding they carry.
                off = np.abs(observation["agent_pos"] - state) > state_atol + 1e-2 * np.abs(state)
                assert not off.any(), f"frame {k}: {[(names[i], observation['agent_pos'][i], state[i]) for i in np.flatnonzero(off)]}"
                off = np.abs(observation["environment_state"] - environment_state) > environment_atol + 1e-2 * np.abs(environment_state)
                assert not off.any(), f"frame {k}: {[(environment_names[i], observation['environment_state'][i], environment_state[i]) for i in np.flatnonzero(off)]}"
            observation, _, terminated, truncated, info = env.step(np.asarray(frame["action"]))
        assert terminated or truncated, f"episode {episode['episode_index']} did not end where the dataset's does"
        assert info["is_success"] == bool(episode["dreamrig/success"])


def test_render_says_why_there_is_no_frame_and_what_to_do():
    env = dreamrig.lerobot.LeRobotEnv("reacher-2link")
    env.reset(seed=0)
    with pytest.raises(NotImplementedError, match="has no camera.*max_episodes_rendered=0"):
        env.render()
    with pytest.raises(ValueError, match="render_mode.*has no camera"):
        dreamrig.lerobot.LeRobotEnv("reacher-2link", render_mode="rgb_array")


def test_a_camera_is_pixels_for_lerobot_and_what_render_shows(cli, tmp_path):
    env = dreamrig.lerobot.LeRobotEnv("pusher-camera", render_mode="rgb_array")
    assert env.layout.cameras == [("top", (64, 64, 3))]
    assert env.observation_space["pixels"]["top"].shape == (64, 64, 3)
    observation, _ = env.reset(seed=4)
    assert env.observation_space.contains(observation)
    # The image is the world's camera image, and render() shows it.
    plain = dreamrig.make("pusher-camera")
    expected, _ = plain.reset(seed=4)
    np.testing.assert_array_equal(observation["pixels"]["top"], expected["top.rgb"])
    np.testing.assert_array_equal(env.render(), expected["top.rgb"])
    # The dataset's video feature is the same camera at the same size.
    root = tmp_path / "pusher-camera"
    assert cli("dataset", "generate", "pusher-camera", "--episodes", "1", "--out", root).returncode == 0
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["features"]["observation.images.top"]["shape"] == [64, 64, 3]
    assert env.layout.features["observation.images.top"]["dtype"] == "video"