"""dreamrig worlds where LeRobot expects a Gymnasium environment (tested with lerobot 0.4.4).

A LeRobot policy trained on a dreamrig dataset reads the vectors the dataset holds:
`observation.state` (every observation field except lidar scans and depth images, concatenated
in observation order) and `observation.environment_state` (the world's full state). `LeRobotEnv`
is one dreamrig world whose observation carries exactly those, under the keys LeRobot's rollout
loop maps to them (`lerobot.envs.utils.preprocess_observation`):

- `agent_pos`: float32 `[n]` → `observation.state`;
- `environment_state`: float32 `[S]` → `observation.environment_state`;
- `pixels`: `{camera: uint8 [H, W, 3]}` → `observation.images.<camera>`, for each `camera`
  sensor with an `rgb` output (the datasets' video features);

and whose `info` carries `is_success`, which LeRobot's evaluation counts. The layout comes from
the same Rust code (`dreamrig_datasets::FrameLayout`) that writes the datasets, so the two cannot
drift apart.

With lerobot installed, `dreamrig.lerobot` is also a LeRobot plugin: importing it registers the
environment type `dreamrig` (`DreamrigEnvConfig`), so `lerobot.envs.factory.make_env` builds
vector environments of any dreamrig scenario, and lerobot's command lines parse
`--env.discover_packages_path=dreamrig.lerobot --env.type=dreamrig --env.task=SCENARIO`.
`lerobot-eval`, and `lerobot-train` when given an environment, also record videos of the first
episodes: `render()` gives the first camera's RGB image, so that works for scenarios with a
camera; for the others, train without `--env.*` and evaluate with lerobot's own loop
(`lerobot.scripts.lerobot_eval.eval_policy` with `max_episodes_rendered=0`), as
`examples/lerobot/evaluate.py` does.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .. import _dreamrig
from ..env import DreamrigEnv

#: The lerobot release this module is tested with.
LEROBOT_VERSION = "0.4.4"

#: The Gymnasium id of `LeRobotEnv`: `gym.make(ENV_ID, scenario=NAME_OR_FILE)`.
ENV_ID = "dreamrig/LeRobot-v0"

__all__ = ["ENV_ID", "LEROBOT_VERSION", "LeRobotEnv", "LeRobotLayout"]


class LeRobotLayout:
    """Where a scenario's observation fields go among the features of dreamrig's LeRobot
    datasets (`Worlds.lerobot_layout()`).

    Attributes: `fps` (int, Hz), `task` (the LeRobot task string), `state_fields` (fields
    concatenated into `observation.state`, in order), `state_size` (n), `array_features`
    (`[(field, feature key)]`, lidar scans and depth images stored on their own), `cameras`
    (`[(camera, (H, W, 3))]`: the cameras whose RGB image is the video feature
    `observation.images.<camera>`), `features` (`{key: {"dtype", "shape", "names"}}` as in
    `meta/info.json`).
    """

    def __init__(self, worlds: _dreamrig.Worlds):
        layout = worlds.lerobot_layout()
        self.fps: int = layout["fps"]
        self.task: str = layout["task"]
        self.state_fields: list[str] = list(layout["state_fields"])
        self.array_features: list[tuple[str, str]] = [tuple(pair) for pair in layout["array_features"]]
        self.features: dict[str, dict[str, Any]] = dict(layout["features"])
        self.state_size: int = int(self.features["observation.state"]["shape"][0])
        self.environment_state_size: int = int(self.features["observation.environment_state"]["shape"][0])
        self.cameras: list[tuple[str, tuple[int, ...]]] = [
            (key.removeprefix("observation.images."), tuple(feature["shape"]))
            for key, feature in self.features.items()
            if feature["dtype"] == "video"
        ]

    def state(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """`observation.state` of a batch: `{field: ndarray[B, *shape]}` → float32 `[B, n]`."""
        parts = [np.asarray(observation[name], dtype=np.float32) for name in self.state_fields]
        batch = parts[0].shape[0]
        return np.concatenate([p.reshape(batch, -1) for p in parts], axis=1)


class LeRobotEnv(gym.Env):
    """One dreamrig world with LeRobot's observation keys (see the module docstring).

    Args:
        scenario: a scenario file or the name of a shipped one.
        dynamics: replaces the scenario's backend, as for `DreamrigEnv`.
        render_mode: `None`, or `"rgb_array"` for a scenario with a camera (`render()` gives
            the first camera's latest RGB image).

    `reset(seed=s)` starts the episode `dreamrig run --seed s` runs, as `DreamrigEnv` does.
    `step` returns Gymnasium's five values; `info` holds `is_success` besides `DreamrigEnv`'s
    keys. `task_description` is the dataset's task string and `task` the scenario's name;
    `_max_episode_steps` is `task.horizon_steps` (LeRobot's rollout reads it);
    `metadata["render_fps"]` is the control rate.
    """

    def __init__(self, scenario: str | os.PathLike, dynamics: str | None = None, render_mode: str | None = None):
        self._env = DreamrigEnv(os.fspath(scenario), dynamics, None)
        worlds = self._env.worlds
        self.layout = LeRobotLayout(worlds)
        allowed = [None, "rgb_array"] if self.layout.cameras else [None]
        if render_mode not in allowed:
            cameras = "" if self.layout.cameras else f" (scenario {worlds.name} has no camera)"
            raise ValueError(f"render_mode: expected one of {allowed}{cameras}, got {render_mode!r}")
        spaces_ = {
            "agent_pos": spaces.Box(-np.inf, np.inf, shape=(self.layout.state_size,), dtype=np.float32),
            "environment_state": spaces.Box(-np.inf, np.inf, shape=(self.layout.environment_state_size,), dtype=np.float32),
        }
        if self.layout.cameras:
            spaces_["pixels"] = spaces.Dict(
                {camera: spaces.Box(0, 255, shape=shape, dtype=np.uint8) for camera, shape in self.layout.cameras}
            )
        self.observation_space = spaces.Dict(spaces_)
        self.action_space = self._env.action_space
        self.render_mode = render_mode
        self.metadata = {"render_modes": ["rgb_array"] if self.layout.cameras else [], "render_fps": self.layout.fps}
        self._frame: np.ndarray | None = None
        self.scenario = worlds.name
        self.task = worlds.name
        self.task_description = self.layout.task
        self._max_episode_steps = worlds.max_episode_steps

    @property
    def worlds(self) -> _dreamrig.Worlds:
        """The Rust world behind the environment (a batch of one)."""
        return self._env.worlds

    def _observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = {name: value[None] for name, value in observation.items()}
        out = {
            "agent_pos": self.layout.state(batch)[0],
            "environment_state": self._env.worlds.state_values()[0].astype(np.float32),
        }
        if self.layout.cameras:
            out["pixels"] = {camera: observation[f"{camera}.rgb"] for camera, _ in self.layout.cameras}
            self._frame = out["pixels"][self.layout.cameras[0][0]]
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        # The inner environment checks and draws seeds (NumPy integers included, as pandas reads
        # `dreamrig/seed`).
        observation, info = self._env.reset(seed=seed, options=options)
        info["is_success"] = False
        return self._observation(observation), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self._env.step(action)
        info["is_success"] = bool(info["success"])
        return self._observation(observation), reward, terminated, truncated, info

    def render(self):
        """The first camera's latest RGB image, uint8 `[H, W, 3]` (`None` before the first reset)."""
        if not self.layout.cameras:
            raise NotImplementedError(
                f"render: scenario {self.scenario} has no camera (add a `camera` sensor, docs/scenarios.md), so there "
                "is no frame to render. lerobot-eval and lerobot-train with --env.* record videos and so cannot run on "
                "it: train without --env.* and evaluate with lerobot.scripts.lerobot_eval.eval_policy(..., "
                "max_episodes_rendered=0), as examples/lerobot/evaluate.py does"
            )
        return self._frame


def __getattr__(name: str):
    # The LeRobot config needs lerobot itself; the environment does not.
    if name == "DreamrigEnvConfig":
        from .config import DreamrigEnvConfig

        return DreamrigEnvConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# `dreamrig/__init__.py` registers ENV_ID (lazily, so `gym.make` finds it after `import dreamrig`).

try:
    # With lerobot installed, importing this module registers the environment type `dreamrig`.
    from .config import DreamrigEnvConfig  # noqa: F401

    __all__.append("DreamrigEnvConfig")
except ImportError:
    pass
