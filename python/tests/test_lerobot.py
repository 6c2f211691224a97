"""dreamrig worlds as LeRobot sees them, with the real lerobot package (tested with 0.4.4).

These run where lerobot is installed: scripts/lerobot-example.sh creates that environment and
runs them (CI does). In the project's own environment, which has no PyTorch, they are skipped;
test_lerobot_env.py checks the environment itself there.
"""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("lerobot", reason="lerobot is not installed here (scripts/lerobot-example.sh runs these)")

from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from lerobot.datasets.utils import dataset_to_policy_features  # noqa: E402
from lerobot.envs.factory import make_env  # noqa: E402
from lerobot.envs.utils import add_envs_task, env_to_policy_features, preprocess_observation  # noqa: E402

import dreamrig  # noqa: E402
import dreamrig.lerobot  # noqa: E402
from dreamrig.lerobot import ENV_ID, DreamrigEnvConfig  # noqa: E402

SCENARIO = "reacher-2link"


@pytest.fixture(scope="module")
def dataset(cli, tmp_path_factory):
    """3 controller episodes of the reacher, written by `dreamrig dataset generate`, read by lerobot."""
    root = tmp_path_factory.mktemp("lerobot") / "reacher"
    out = cli("dataset", "generate", SCENARIO, "--policy", "auto", "--episodes", "3", "--seed", "5", "--out", root)
    assert out.returncode == 0, out.stderr
    return LeRobotDataset("dreamrig/reacher-2link", root=root)


def test_the_env_shows_a_policy_what_the_dataset_trained_it_on(dataset):
    env = gym.make(ENV_ID, scenario=SCENARIO)
    assert env.metadata["render_fps"] == dataset.meta.fps
    seeds = dataset.meta.episodes["dreamrig/seed"]
    for episode, seed in enumerate(seeds):
        start = dataset.meta.episodes["dataset_from_index"][episode]
        end = dataset.meta.episodes["dataset_to_index"][episode]
        observation, _ = env.reset(seed=int(seed))
        for index in range(start, end):
            frame = dataset[index]
            state = frame["observation.state"].numpy()
            environment_state = frame["observation.environment_state"].numpy()
            if index == start:
                # The episode's first frame is the reset: the same float32 values, bit for bit.
                np.testing.assert_array_equal(observation["agent_pos"], state)
                np.testing.assert_array_equal(observation["environment_state"], environment_state)
            else:
                # Later frames follow the float32 actions the dataset stores (the controller acted
                # in float64), so they agree to the rounding those actions carry.
                np.testing.assert_allclose(observation["agent_pos"], state, rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(observation["environment_state"], environment_state, rtol=1e-4, atol=1e-4)
            observation, _, terminated, truncated, info = env.step(frame["action"].numpy())
        assert terminated or truncated, f"episode {episode} did not end where the dataset's does"
        assert info["is_success"] == bool(dataset.meta.episodes["dreamrig/success"][episode])


def test_lerobot_builds_vector_envs_whose_features_match_the_dataset(dataset):
    config = DreamrigEnvConfig(task=SCENARIO)
    from_env = env_to_policy_features(config)
    from_dataset = dataset_to_policy_features(dataset.meta.features)
    for key in ["observation.state", "observation.environment_state", "action"]:
        assert from_env[key].shape == from_dataset[key].shape, key
        assert from_env[key].type == from_dataset[key].type, key
    assert config.fps == dataset.meta.fps
    envs = make_env(config, n_envs=2)
    env = envs["dreamrig"][0]
    observation, _ = env.reset(seed=[1, 2])
    batch = preprocess_observation(observation)
    assert tuple(batch["observation.state"].shape) == (2, *from_dataset["observation.state"].shape)
    assert tuple(batch["observation.environment_state"].shape) == (2, *from_dataset["observation.environment_state"].shape)
    assert env.call("_max_episode_steps")[0] == dreamrig.Worlds(SCENARIO).max_episode_steps
    # The task string a language-conditioned policy gets is the dataset's.
    assert add_envs_task(env, batch)["task"] == [dataset.meta.tasks.index[0]] * 2
    env.close()


def test_lerobot_command_lines_find_the_dreamrig_env_type():
    # A fresh interpreter that imports nothing of dreamrig: lerobot's plugin discovery must.
    script = (
        "import sys\n"
        "from lerobot.configs import parser\n"
        "from lerobot.configs.eval import EvalPipelineConfig\n"
        "def configured(cfg):\n"
        "    return cfg\n"
        "configured.__annotations__ = {'cfg': EvalPipelineConfig}\n"
        "sys.argv = ['lerobot-eval', '--env.discover_packages_path=dreamrig.lerobot', '--env.type=dreamrig',"
        f" '--env.task={SCENARIO}']\n"
        "cfg = parser.wrap()(configured)()\n"
        "print(type(cfg.env).__name__, cfg.env.task, cfg.env.fps, cfg.env.episode_length)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    horizon = dreamrig.Worlds(SCENARIO).max_episode_steps
    assert out.stdout.split() == ["DreamrigEnvConfig", SCENARIO, "50", str(horizon)]


def test_importing_dreamrig_lerobot_registers_the_env_type():
    from lerobot.envs.configs import EnvConfig

    assert "dreamrig" in EnvConfig.get_known_choices()


def test_a_config_that_disagrees_with_the_scenario_is_refused():
    with pytest.raises(ValueError, match="runs at 50 Hz, got 30"):
        DreamrigEnvConfig(task=SCENARIO, fps=30)
    with pytest.raises(dreamrig.ScenarioError, match="no-such-scenario"):
        DreamrigEnvConfig(task="no-such-scenario")
    with pytest.raises(ValueError, match="env.task: expected a dreamrig scenario"):
        DreamrigEnvConfig()
    with pytest.raises(ValueError, match="env.disable_env_checker"):
        DreamrigEnvConfig(task=SCENARIO, disable_env_checker=False)


def test_dreamrig_reads_a_dataset_lerobot_wrote(cli, tmp_path):
    # LeRobotDataset.create → add_frame → save_episode → finalize, as a lerobot user records one:
    # the task strings are the pandas index of meta/tasks.parquet, episodes carry stats columns.
    root = tmp_path / "written-by-lerobot"
    features = {
        "observation.state": {"dtype": "float32", "shape": (4,), "names": ["q0", "q1", "v0", "v1"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["tau0", "tau1"]},
    }
    written = LeRobotDataset.create("me/toy", fps=50, root=root, features=features, use_videos=False, robot_type="toy")
    rng = np.random.default_rng(0)
    for episode in range(3):
        for _ in range(10 + episode):
            written.add_frame(
                {
                    "observation.state": rng.normal(size=4).astype(np.float32),
                    "action": rng.normal(size=2).astype(np.float32),
                    "task": f"task {episode % 2}",
                }
            )
        written.save_episode()
    written.finalize()
    validated = cli("dataset", "validate", root)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    info = cli("dataset", "info", root)
    assert info.returncode == 0, info.stdout + info.stderr
    assert "3 episodes, 33 frames at 50 fps" in info.stdout
    assert "tasks: task 0 | task 1" in info.stdout


def test_dreamrig_validates_the_videos_of_a_dataset_lerobot_wrote(cli, tmp_path):
    root = tmp_path / "with-video"
    features = {
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["q0", "q1"]},
        "observation.images.front": {"dtype": "video", "shape": (32, 48, 3), "names": ["height", "width", "channels"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["tau0", "tau1"]},
    }
    written = LeRobotDataset.create("me/video", fps=10, root=root, features=features, use_videos=True, robot_type="toy")
    rng = np.random.default_rng(1)
    for _ in range(2):
        for _ in range(8):
            written.add_frame(
                {
                    "observation.state": rng.normal(size=2).astype(np.float32),
                    "observation.images.front": rng.integers(0, 255, (32, 48, 3), dtype=np.uint8),
                    "action": rng.normal(size=2).astype(np.float32),
                    "task": "look",
                }
            )
        written.save_episode()
    written.finalize()
    validated = cli("dataset", "validate", root)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    info = cli("dataset", "info", root)
    assert "observation.images.front" in info.stdout and "video" in info.stdout, info.stdout
    # A dataset whose video went missing is invalid, and says which file.
    videos = sorted(root.glob("videos/observation.images.front/*/*.mp4"))
    assert videos
    videos[0].unlink()
    broken = cli("dataset", "validate", root)
    assert broken.returncode != 0
    assert "video observation.images.front points at" in broken.stdout + broken.stderr
    assert "does not exist" in broken.stdout + broken.stderr
