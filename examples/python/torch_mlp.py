"""A PyTorch MLP policy evaluated by dreamrig next to Rust policies.

1. Demonstrations: 256 reacher episodes of dreamrig's Rust controller, run in a vector
   environment (the worlds step in Rust, the controller is called once per batch step).
2. Behaviour cloning: a 2×64 MLP fitted to the controller's actions (Adam, mean squared error).
3. Evaluation: `dreamrig.evaluate` runs examples/python/reacher.yaml (the controller, the
   random and zero baselines) with the MLP added: same runner, seeds, statistics and outputs
   (`episodes.parquet`, `summary.*`, `report.html`) as for the Rust policies. The MLP is called
   once per step of a batch of up to 64 episodes.

Run (needs torch):  python examples/python/torch_mlp.py [--out results/torch-mlp]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import dreamrig

SCENARIO = "reacher-2link"
FIELDS = ["joint_state.position", "joint_state.velocity", "fingertip.position", "task.goal"]


def features(observation: dict) -> np.ndarray:
    """[B, 12] float32: the fields the MLP reads, concatenated."""
    return np.concatenate([observation[k].reshape(len(observation[k]), -1) for k in FIELDS], axis=1)


def demonstrations(episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    envs = dreamrig.make_vec(SCENARIO, num_envs=episodes)
    teacher = dreamrig.BuiltinPolicy("auto", SCENARIO)
    observation, _ = envs.reset(seed=seed)
    teacher.reset(envs.episode_seeds)
    inputs, targets, done = [], [], np.zeros(episodes, dtype=bool)
    while not done.all():
        action = teacher(observation)
        inputs.append(features(observation)[~done])
        targets.append(action[~done])
        observation, _, terminated, truncated, _ = envs.step(action)
        done |= terminated | truncated
    return np.concatenate(inputs), np.concatenate(targets)


class TorchPolicy:
    """A batched dreamrig policy: observation dict of [B, ...] arrays → actions [B, 2]."""

    def __init__(self, net: torch.nn.Module, mean: np.ndarray, std: np.ndarray):
        self.net, self.mean, self.std = net.eval(), mean, std

    def __call__(self, observation: dict) -> np.ndarray:
        x = torch.from_numpy((features(observation) - self.mean) / self.std)
        with torch.no_grad():
            return self.net(x).double().numpy()


def train(x: np.ndarray, y: np.ndarray, steps: int = 6000) -> TorchPolicy:
    torch.manual_seed(0)
    mean, std = x.mean(0), x.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, y.shape[1]))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    inputs, targets = torch.from_numpy((x - mean) / std), torch.from_numpy(y).float()
    for step in range(steps):
        batch = torch.randint(0, len(inputs), (1024,))
        loss = torch.nn.functional.mse_loss(net(inputs[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 1000 == 0 or step == steps - 1:
            print(f"step {step:>5}: loss {loss.item():.3e}")
    return TorchPolicy(net, mean.astype(np.float32), std.astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/torch-mlp", help="run folder of the evaluation")
    args = parser.parse_args()
    x, y = demonstrations(episodes=256, seed=1)
    print(f"{len(x)} demonstration steps")
    policy = train(x, y)
    spec = Path(__file__).with_name("reacher.yaml")
    rows = dreamrig.evaluate(spec, args.out, policies={"torch-mlp": policy}, threads=2)
    for r in rows:
        print(f"{r['policy']:<12} success {100 * r['success_rate']:5.1f}% [{100 * r['success_ci_low']:.1f}, {100 * r['success_ci_high']:.1f}]  mean return {r['mean_return']:8.3f}")
    print(f"results in {args.out}")


if __name__ == "__main__":
    main()
