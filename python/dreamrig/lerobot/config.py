"""The LeRobot environment type `dreamrig`: a `lerobot.envs.configs.EnvConfig` for any dreamrig
scenario. Imported by lerobot's plugin discovery (`--env.discover_packages_path=dreamrig.lerobot`)
or by `from dreamrig.lerobot import DreamrigEnvConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

try:
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.envs.configs import EnvConfig
    from lerobot.utils.constants import ACTION, OBS_ENV_STATE, OBS_IMAGES, OBS_STATE
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"dreamrig.lerobot.DreamrigEnvConfig needs lerobot (tested with 0.4.4: pip install lerobot==0.4.4): {error}"
    ) from error

from .. import _dreamrig
from . import ENV_ID, LeRobotLayout


@EnvConfig.register_subclass("dreamrig")
@dataclass
class DreamrigEnvConfig(EnvConfig):
    """A dreamrig scenario as a LeRobot environment.

    Fields: `task` is the scenario (a shipped name or a file); `dynamics` replaces its backend
    (`physics`, `learned:MODEL.json`, `hybrid:MODEL.json`). `fps` and `episode_length` are the
    scenario's control rate and `task.horizon_steps`: they are read from the scenario, and a
    value given here that disagrees is refused. `features` and `features_map` are filled in
    from the scenario: `action`, `agent_pos` → `observation.state` and `environment_state` →
    `observation.environment_state`, with the shapes of the scenario's datasets.
    """

    task: str | None = None
    fps: int = 0
    episode_length: int = 0
    dynamics: str | None = None

    def __post_init__(self) -> None:
        if not self.task:
            raise ValueError("env.task: expected a dreamrig scenario (a shipped name or a file), got none")
        if not self.disable_env_checker:
            # Gymnasium's checker wraps the environment, and LeRobot's rollout then cannot see
            # `task_description`: language-conditioned policies would get empty tasks.
            raise ValueError(
                "env.disable_env_checker: dreamrig environments run without Gymnasium's wrappers "
                "(LeRobot reads the task string through them); expected true, got false"
            )
        worlds = _dreamrig.Worlds(self.task, 1, self.dynamics)
        layout = LeRobotLayout(worlds)
        if self.fps not in (0, layout.fps):
            raise ValueError(f"env.fps: scenario {worlds.name} runs at {layout.fps} Hz, got {self.fps}")
        if self.episode_length not in (0, worlds.max_episode_steps):
            raise ValueError(
                f"env.episode_length: scenario {worlds.name} has task.horizon_steps {worlds.max_episode_steps}, "
                f"got {self.episode_length}"
            )
        self.fps = layout.fps
        self.episode_length = worlds.max_episode_steps
        action = tuple(layout.features["action"]["shape"])
        self.features = {
            ACTION: PolicyFeature(type=FeatureType.ACTION, shape=action),
            "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=(layout.state_size,)),
            "environment_state": PolicyFeature(type=FeatureType.ENV, shape=(layout.environment_state_size,)),
        }
        self.features_map = {ACTION: ACTION, "agent_pos": OBS_STATE, "environment_state": OBS_ENV_STATE}
        # Cameras as LeRobot's own environments declare them ("pixels/<camera>", channel last).
        for camera, shape in layout.cameras:
            self.features[f"pixels/{camera}"] = PolicyFeature(type=FeatureType.VISUAL, shape=shape)
            self.features_map[f"pixels/{camera}"] = f"{OBS_IMAGES}.{camera}"

    @property
    def package_name(self) -> str:
        return "dreamrig.lerobot"

    @property
    def gym_id(self) -> str:
        return ENV_ID

    @property
    def gym_kwargs(self) -> dict:
        kwargs = {"scenario": self.task, "dynamics": self.dynamics}
        if any(key.startswith("pixels/") for key in self.features):
            # LeRobot's own environments are made to render frames for its videos.
            kwargs["render_mode"] = "rgb_array"
        return kwargs
