"""Steps per second of a plain Python Gymnasium loop, for comparison with dreamrig's eval
benchmark (README, "Performance"). Runs InvertedPendulum-v5 and Reacher-v5 (MuJoCo) with a
fixed linear policy for InvertedPendulum and a zero policy for Reacher, single-threaded.

Usage: scripts/bench-gymnasium.sh  (creates a virtual environment with gymnasium and mujoco)
"""
import time

import gymnasium as gym
import numpy as np


def bench(env_id, policy, seconds=5.0):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    steps = episodes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        steps += 1
        if terminated or truncated:
            episodes += 1
            obs, _ = env.reset(seed=episodes)
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed, episodes / elapsed


def pendulum_policy(obs):
    # A hand-tuned linear balance law (cart position, angle, velocities).
    gains = np.array([1.0, 8.0, 1.0, 1.5])
    return np.clip([float(gains @ obs)], -3.0, 3.0)


def zero_policy(obs):
    return np.zeros(2)


if __name__ == "__main__":
    for env_id, policy in [("InvertedPendulum-v5", pendulum_policy), ("Reacher-v5", zero_policy)]:
        steps_per_s, episodes_per_s = bench(env_id, policy)
        print(f"{env_id}: {steps_per_s:,.0f} steps/s, {episodes_per_s:,.1f} episodes/s (Python loop, 1 thread)")
