"""Environment steps per second from Python: dreamrig's Gymnasium environments next to
Gymnasium's MuJoCo environments, one environment and a vector of 16, measured in one run.

Pairs: cartpole-balance / InvertedPendulum-v5, reacher-2link / Reacher-v5, pusher / Pusher-v5.
Every environment is made with `gymnasium.make` (so with its wrappers) and stepped with
actions sampled once up front from its action space, resetting when an episode ends; vectors
autoreset. dreamrig's vector steps its 16 worlds in Rust on its thread pool (RAYON_NUM_THREADS,
2 here); Gymnasium's are measured as `sync` (one process) and `async` (one process per env).
The ratio column is dreamrig / MuJoCo for the same kind of loop.

Usage: scripts/bench-python.sh [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import dreamrig

PAIRS = [("cartpole-balance", "InvertedPendulum-v5"), ("reacher-2link", "Reacher-v5"), ("pusher", "Pusher-v5")]


def single(env: gym.Env, seconds: float) -> float:
    actions = np.stack([env.action_space.sample() for _ in range(256)])
    env.reset(seed=0)
    steps, episodes, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            steps += 1
            if terminated or truncated:
                episodes += 1
                env.reset(seed=episodes)
    return steps / (time.perf_counter() - start)


def vector(envs, seconds: float) -> float:
    actions = np.stack([envs.action_space.sample() for _ in range(64)])
    envs.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions:
            envs.step(a)
            steps += envs.num_envs
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell")
    parser.add_argument("--num-envs", type=int, default=16)
    args = parser.parse_args()
    n, s = args.num_envs, args.seconds
    threads = os.environ.get("RAYON_NUM_THREADS", str(os.cpu_count()))
    print(f"environment steps per second from Python ({os.cpu_count()} cores; dreamrig threads: {threads}; {s:g} s per cell)")
    header = f"| {'dreamrig scenario':<18} | {'MuJoCo env':<20} | {'loop':<16} | {'dreamrig':>10} | {'MuJoCo':>10} | {'ratio':>6} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for scenario, mujoco in PAIRS:
        rows = []
        d = dreamrig.make(scenario)
        m = gym.make(mujoco)
        rows.append(("1 env", single(d, s), single(m, s)))
        d.close()
        m.close()
        dv = dreamrig.make_vec(scenario, n)
        dvs = vector(dv, s)
        for mode in ["sync", "async"]:
            mv = gym.make_vec(mujoco, num_envs=n, vectorization_mode=mode)
            rows.append((f"{n} envs, {mode}", dvs, vector(mv, s)))
            mv.close()
        dv.close()
        for loop, a, b in rows:
            print(f"| {scenario:<18} | {mujoco:<20} | {loop:<16} | {a:>10,.0f} | {b:>10,.0f} | {a / b:>6.2f} |")


if __name__ == "__main__":
    main()
