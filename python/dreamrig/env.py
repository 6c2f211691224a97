"""Gymnasium environments over dreamrig worlds.

`DreamrigEnv` is one world; `DreamrigVectorEnv` is N worlds stepped together in Rust (in
parallel on dreamrig's thread pool, with the GIL released), returning one NumPy array per
observation field. Both read the scenario's specs for their spaces:

- observation: a `Dict` with one float32 `Box` per field (`joint_state.position`, `imu.…`,
  `lidar.ranges`, …), shaped as the field, with the field's bounds (±inf where unbounded;
  joint positions are unbounded, since limits are soft in simulation, and unit quaternions
  get 1e-3 of slack for integration drift and float32 rounding);
- action: a float64 `Box` of the action's length, bounded by the actuators' command ranges
  (values outside are clipped by the world).

Seeds: `reset(seed=s)` starts the episode dreamrig runs with seed `s`, so
`reset(seed=dreamrig.episode_seed(master, scenario, k))` is episode k of `dreamrig eval` with
master seed `master`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from . import _dreamrig

_SEED_LIMIT = 2**64


def observation_space(worlds: _dreamrig.Worlds) -> spaces.Dict:
    """The observation space of a scenario's worlds: one float32 `Box` per field, then one `Box`
    of shape (H, W, C) per camera image (`uint8` RGB in 0–255, `float32` depth in metres with
    +inf where nothing is hit, `uint16` segment ids)."""
    fields = {}
    for field in worlds.observation_fields():
        shape = tuple(field["shape"])
        low = np.asarray(field["low"], dtype=np.float64).reshape(shape)
        high = np.asarray(field["high"], dtype=np.float64).reshape(shape)
        if field["name"].endswith("joint_state.position"):
            # Joint limits are constraints the solver enforces softly: positions can pass them
            # by a little, so they are no bounds of the observation.
            low, high = np.full(shape, -np.inf), np.full(shape, np.inf)
        elif field["unit"] == "quaternion":
            # Rotations integrated by the physics drift off unit norm (by about 1e-5), and float32
            # rounds: components can pass ±1 by a hair.
            low, high = low - 1e-3, high + 1e-3
        low, high = low.astype(np.float32), high.astype(np.float32)
        fields[field["name"]] = spaces.Box(low, high, shape=shape, dtype=np.float32)
    for image in worlds.observation_images():
        shape = tuple(image["shape"])
        dtype = np.dtype(image["dtype"])
        if dtype == np.float32:
            fields[image["name"]] = spaces.Box(0.0, np.inf, shape=shape, dtype=np.float32)
        else:
            high = 255 if dtype == np.uint8 else np.iinfo(dtype).max
            fields[image["name"]] = spaces.Box(0, high, shape=shape, dtype=dtype)
    return spaces.Dict(fields)


def action_space(worlds: _dreamrig.Worlds) -> spaces.Box:
    """The action space of a scenario's worlds: a float64 `Box` with the command ranges."""
    spec = worlds.action_spec()
    return spaces.Box(np.asarray(spec["low"]), np.asarray(spec["high"]), dtype=np.float64)


def _check_seed(seed: Any, what: str = "seed") -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what}: expected an int from 0 to 2**64 - 1, got {seed!r}")
    if not 0 <= int(seed) < _SEED_LIMIT:
        raise ValueError(f"{what}: expected an int from 0 to 2**64 - 1, got {seed}")
    return int(seed)


def _single_info(info: dict) -> dict:
    """Row 0 of a batched info, as Python scalars; values that do not apply (nan) are left out."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        item = value[0]
        if key == "end_reason":
            if item:
                out[key] = item
            continue
        item = item.item()
        if isinstance(item, float) and math.isnan(item):
            continue
        out[key] = item
    return out


class DreamrigEnv(gym.Env):
    """One dreamrig world as a `gymnasium.Env`.

    Args:
        scenario: a scenario file or the name of a shipped one (`dreamrig.scenarios()`).
        dynamics: replaces the scenario's backend: `"physics"`, `"learned:MODEL.json"` or
            `"hybrid:MODEL.json"` (a world model from `dreamrig wm train`).
        render_mode: only `None` (dreamrig worlds have no camera yet).

    `step` returns Gymnasium's `(observation, reward, terminated, truncated, info)`:
    `terminated` when the task ended in success or failure, `truncated` at the scenario's
    `task.horizon_steps`. `info` holds `time` (s), `step`, `success`, `collision`, and where
    they apply `goal_distance` (m), `clearance` (m), `model_disagreement` and `end_reason`.
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: str, dynamics: str | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode: dreamrig worlds have no renderer yet; expected None, got {render_mode!r}")
        self._worlds = _dreamrig.Worlds(str(scenario), 1, dynamics)
        self.observation_space = observation_space(self._worlds)
        self.action_space = action_space(self._worlds)
        self.render_mode = None
        self.scenario = self._worlds.name
        self.episode_seed: int | None = None

    @property
    def worlds(self) -> _dreamrig.Worlds:
        """The Rust worlds behind the environment (a batch of one)."""
        return self._worlds

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if options:
            raise ValueError(f"options: this environment takes none, got keys {sorted(options)}")
        if seed is not None:
            seed = _check_seed(seed)
        super().reset(seed=seed)
        episode_seed = seed if seed is not None else int(self.np_random.integers(0, 2**63))
        observation, info = self._worlds.reset([episode_seed])
        self.episode_seed = episode_seed
        return {k: v[0] for k, v in observation.items()}, _single_info(info)

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            names = ", ".join(self._worlds.action_spec()["names"])
            raise ValueError(f"action: expected shape {self.action_space.shape} ([{names}]), got {action.shape}")
        observation, reward, terminated, truncated, info = self._worlds.step(action.reshape(1, -1))
        return (
            {k: v[0] for k, v in observation.items()},
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            _single_info(info),
        )

    def get_state(self) -> _dreamrig.WorldState:
        """The full state of the episode, to branch from later with `set_state`."""
        return self._worlds.get_state(0)

    def set_state(self, state: _dreamrig.WorldState) -> dict:
        """Puts the episode in `state`; stepping from here repeats what stepping from the moment
        it was taken gave, bit for bit (sensor noise included). Returns a fresh sensor reading
        of that state."""
        return self._worlds.set_state(state, 0)


class DreamrigVectorEnv(VectorEnv):
    """N dreamrig worlds of one scenario as a `gymnasium.vector.VectorEnv`, stepped in Rust.

    Args:
        scenario: a scenario file or the name of a shipped one.
        num_envs: N.
        dynamics: as for `DreamrigEnv`.

    Autoreset is Gymnasium's next-step mode: the step after an episode ends resets that world
    (its action is ignored; reward 0, not terminated, not truncated). `reset(seed=s)` gives
    world i seed `s + i` (or `seed[i]` for a list); later episodes of world i take seeds drawn
    from a generator seeded with its first seed, so a run is a function of the reset seed.
    Observations are `{field: ndarray[N, *shape] float32}`; `info` holds arrays of N values.
    In physics worlds, stepping N worlds here and with `dreamrig eval` gives the same episodes
    bit for bit.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, scenario: str, num_envs: int, dynamics: str | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode: dreamrig worlds have no renderer yet; expected None, got {render_mode!r}")
        self._worlds = _dreamrig.Worlds(str(scenario), int(num_envs), dynamics)
        self.num_envs = int(num_envs)
        self.single_observation_space = observation_space(self._worlds)
        self.single_action_space = action_space(self._worlds)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.scenario = self._worlds.name
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._episode_rngs: list[np.random.Generator] = []
        self.episode_seeds: list[int] = []

    @property
    def worlds(self) -> _dreamrig.Worlds:
        """The Rust worlds behind the environment."""
        return self._worlds

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        if options:
            raise ValueError(f"options: this environment takes none, got keys {sorted(options)}")
        n = self.num_envs
        if seed is None:
            super().reset(seed=None)
            seeds = [int(s) for s in self.np_random.integers(0, 2**63, size=n)]
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            first = _check_seed(seed)
            super().reset(seed=first)
            seeds = [_check_seed(first + i, f"seed + {i}") for i in range(n)]
        else:
            seeds = [_check_seed(s, f"seed[{i}]") for i, s in enumerate(seed)]
            if len(seeds) != n:
                raise ValueError(f"seed: expected {n} seeds (one per env), got {len(seeds)}")
            super().reset(seed=seeds[0])
        self._episode_rngs = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
        self.episode_seeds = seeds
        self._autoreset[:] = False
        return self._worlds.reset(seeds)

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.float64)
        if not self._episode_rngs:
            raise RuntimeError("step before reset: call reset first")
        reset_seeds: list[int | None] = [None] * self.num_envs
        for i in np.flatnonzero(self._autoreset):
            reset_seeds[i] = int(self._episode_rngs[i].integers(0, 2**63))
            self.episode_seeds[i] = reset_seeds[i]
        observation, reward, terminated, truncated, info = self._worlds.step(actions, reset_seeds)
        self._autoreset = terminated | truncated
        return observation, reward, terminated, truncated, info

    def get_state(self, index: int = 0) -> _dreamrig.WorldState:
        """The full state of world `index`'s episode."""
        return self._worlds.get_state(index)

    def set_state(self, state: _dreamrig.WorldState, index: int = 0) -> dict:
        """Puts world `index`'s episode in `state`; returns that world's observation."""
        self._autoreset[index] = False
        return self._worlds.set_state(state, index)
