"""dreamrig from Python: Gymnasium environments stepped in Rust, and Python policies in evaluations.

    import dreamrig, gymnasium as gym
    env = dreamrig.make("cartpole-balance")            # or gym.make("dreamrig/cartpole-balance")
    envs = dreamrig.make_vec("arm7-reach", num_envs=16)  # N worlds stepped in Rust
    rows = dreamrig.evaluate("evals/quickstart.yaml", "runs/py", policies={"mine": my_policy})

A policy for `evaluate` is a callable taking `{field: ndarray[B, *shape] float32}` and
returning actions `ndarray[B, A]` (float64 or float32); it is called once per step of a batch
of up to 64 episodes. If it has a `reset(seeds)` method, that is called with the B episode
seeds when a batch starts. Rows of episodes that already ended repeat their last observation
and their actions are ignored.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

import gymnasium as gym

from . import _dreamrig
from ._dreamrig import (
    BuiltinPolicy,
    DreamrigError,
    EvaluationError,
    PolicyError,
    ScenarioError,
    SimulationError,
    Worlds,
    WorldState,
    episode_seed,
    rank_agreement,
)
from .env import DreamrigEnv, DreamrigVectorEnv

__version__ = _dreamrig.__version__

__all__ = [
    "BuiltinPolicy",
    "DreamrigEnv",
    "DreamrigError",
    "DreamrigVectorEnv",
    "EvaluationError",
    "PolicyError",
    "ScenarioError",
    "SimulationError",
    "WorldState",
    "Worlds",
    "episode_seed",
    "evaluate",
    "make",
    "make_vec",
    "rank_agreement",
    "scenarios",
]

#: The id of the environment that takes any scenario file: `gym.make(GENERIC_ID, scenario=PATH)`.
GENERIC_ID = "dreamrig/scenario"


def scenarios() -> list[str]:
    """Names of the shipped scenarios (each registered with Gymnasium as `dreamrig/NAME`)."""
    return [name for name, _ in _dreamrig.scenarios()]


def _register() -> None:
    entry = {"entry_point": "dreamrig.env:DreamrigEnv", "vector_entry_point": "dreamrig.env:DreamrigVectorEnv"}
    if GENERIC_ID not in gym.registry:
        gym.register(id=GENERIC_ID, **entry)
    for name in scenarios():
        env_id = f"dreamrig/{name}"
        if env_id not in gym.registry:
            gym.register(id=env_id, kwargs={"scenario": name}, **entry)
    # A world with LeRobot's observation keys (dreamrig.lerobot). No wrappers: LeRobot's rollout
    # reads `task_description` off the vector env's members, which wrappers would hide.
    if "dreamrig/LeRobot-v0" not in gym.registry:
        gym.register(
            id="dreamrig/LeRobot-v0", entry_point="dreamrig.lerobot:LeRobotEnv", order_enforce=False, disable_env_checker=True
        )


def _env_id(scenario: str) -> tuple[str, dict]:
    name = os.fspath(scenario)
    if name in scenarios() and not os.path.isfile(name):
        return f"dreamrig/{name}", {}
    return GENERIC_ID, {"scenario": name}


def make(scenario: str | os.PathLike, *, dynamics: str | None = None, **kwargs: Any) -> gym.Env:
    """A Gymnasium environment of `scenario` (a shipped name or a file), through `gym.make`
    (so with Gymnasium's wrappers: order enforcing, the passive env checker).

    `dynamics` replaces the scenario's backend: `"physics"`, `"learned:MODEL.json"` or
    `"hybrid:MODEL.json"`. Other keyword arguments go to `gym.make` (for example
    `max_episode_steps`).
    """
    env_id, extra = _env_id(scenario)
    return gym.make(env_id, dynamics=dynamics, **extra, **kwargs)


def make_vec(scenario: str | os.PathLike, num_envs: int, *, dynamics: str | None = None) -> DreamrigVectorEnv:
    """N worlds of `scenario` stepped together in Rust: a `gymnasium.vector.VectorEnv`."""
    return DreamrigVectorEnv(os.fspath(scenario), num_envs, dynamics)


def evaluate(
    spec: str | os.PathLike,
    out: str | os.PathLike,
    policies: Mapping[str, Callable] | None = None,
    *,
    threads: int | None = None,
    resume: bool = False,
    dynamics: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    record_dataset: str | os.PathLike | None = None,
) -> list[dict]:
    """Runs an evaluation spec as `dreamrig eval SPEC --out OUT` does, in this process, so
    that its `python: module:callable` policies and the callables in `policies` (added to
    the spec's, on every scenario) can run: same runner, seeds, statistics and outputs
    (`episodes.parquet`, `summary.*`, `report.*`) as a Rust policy.

    Returns the summary rows (one dict per scenario × policy). Ctrl-C stops the run, keeps
    the finished episodes and raises `KeyboardInterrupt`; `resume=True` finishes it.

    Raises `EvaluationError` with the text `dreamrig eval` prints for a bad spec or run.
    """
    text = _dreamrig.evaluate(
        os.fspath(spec),
        os.fspath(out),
        dict(policies) if policies is not None else None,
        threads,
        resume,
        dynamics,
        seed,
        progress,
        None if record_dataset is None else os.fspath(record_dataset),
    )
    return json.loads(text)


_register()
