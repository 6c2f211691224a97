"""Evaluates a LeRobot policy checkpoint in a dreamrig scenario with LeRobot's own evaluation
loop, next to dreamrig's controller and random baseline on the same episodes.

The checkpoint is a `pretrained_model` folder written by `lerobot-train` (tested with lerobot
0.4.4), trained on a dreamrig dataset of the same scenario (`dreamrig dataset generate`): see
examples/lerobot/README.md and scripts/lerobot-example.sh.

- The policy runs through `lerobot.scripts.lerobot_eval.eval_policy` on vector environments
  built by `lerobot.envs.factory.make_env` from `dreamrig.lerobot.DreamrigEnvConfig`, with the
  checkpoint's own pre- and post-processors (normalization from the dataset's statistics).
- The baselines run in `dreamrig.make_vec` worlds with `dreamrig.BuiltinPolicy`.
- Episode k of every policy starts from seed `--seed + k`: `reset(seed=s)` is the episode
  `dreamrig run --seed s` runs, so all policies face the same goals and initial states.

Prints one line per policy (successes, success rate with its 95 % Wilson interval) and writes
them, with per-episode successes and returns, to `--out` as JSON (LeRobot's loop sums one
reward past an episode's end, so its returns are not comparable with the baselines'). With `--check`, exits 1 unless the LeRobot policy's
interval lies above the random baseline's (it is clearly better than random).

Usage: python examples/lerobot/evaluate.py CHECKPOINT --scenario SCENARIO
       [--episodes 50] [--batch-size 10] [--seed 1000] [--n-action-steps N] [--device cpu]
       [--out results.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from lerobot.configs.policies import PreTrainedConfig
from lerobot.envs.factory import make_env, make_env_pre_post_processors
from lerobot.envs.utils import env_to_policy_features
from lerobot.policies.factory import make_policy, make_pre_post_processors
from lerobot.scripts.lerobot_eval import eval_policy
from lerobot.utils.random_utils import set_seed

import dreamrig
from dreamrig.lerobot import DreamrigEnvConfig


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate (Wilson 1927), as fractions."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class Mismatch(Exception):
    """The checkpoint and the scenario do not fit each other."""


def check_fits(policy_cfg: PreTrainedConfig, env_cfg: DreamrigEnvConfig, checkpoint: Path) -> None:
    """Refuses a checkpoint whose input or output features differ from what the scenario gives."""
    scenario = env_to_policy_features(env_cfg)
    wanted = {**policy_cfg.input_features, **policy_cfg.output_features}
    for key, feature in wanted.items():
        if key not in scenario:
            raise Mismatch(
                f"{checkpoint}: the policy reads {key}, which scenario {env_cfg.task} does not give "
                f"(it gives {', '.join(sorted(scenario))})"
            )
        if tuple(feature.shape) != tuple(scenario[key].shape):
            raise Mismatch(
                f"{checkpoint}: the policy's {key} has shape {tuple(feature.shape)}, scenario {env_cfg.task}'s "
                f"has {tuple(scenario[key].shape)}; was it trained on a dataset of another scenario?"
            )


def evaluate_lerobot(
    checkpoint: Path,
    scenario: str,
    seeds: list[int],
    batch_size: int,
    n_action_steps: int | None = None,
    device: str = "cpu",
) -> dict:
    """Runs the checkpoint with LeRobot's evaluation loop; returns successes and returns per episode."""
    policy_cfg = PreTrainedConfig.from_pretrained(checkpoint)
    policy_cfg.pretrained_path = checkpoint
    policy_cfg.device = device
    if n_action_steps is not None:
        chunk = getattr(policy_cfg, "chunk_size", None) or getattr(policy_cfg, "horizon", None)
        if not hasattr(policy_cfg, "n_action_steps"):
            raise Mismatch(f"--n-action-steps: a {policy_cfg.type} policy does not run action chunks")
        if not 1 <= n_action_steps <= (chunk or n_action_steps):
            raise Mismatch(f"--n-action-steps: expected 1 to {chunk} (the policy's chunk), got {n_action_steps}")
        policy_cfg.n_action_steps = n_action_steps
    env_cfg = DreamrigEnvConfig(task=scenario)
    check_fits(policy_cfg, env_cfg, checkpoint)
    envs = make_env(env_cfg, n_envs=batch_size)
    env = envs["dreamrig"][0]
    policy = make_policy(cfg=policy_cfg, env_cfg=env_cfg)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(
        policy_cfg=policy_cfg,
        pretrained_path=checkpoint,
        preprocessor_overrides={"device_processor": {"device": device}},
    )
    env_preprocessor, env_postprocessor = make_env_pre_post_processors(env_cfg=env_cfg, policy_cfg=policy_cfg)
    with torch.no_grad():
        info = eval_policy(
            env,
            policy,
            env_preprocessor,
            env_postprocessor,
            preprocessor,
            postprocessor,
            n_episodes=len(seeds),
            max_episodes_rendered=0,
            start_seed=seeds[0],
        )
    env.close()
    episodes = info["per_episode"]
    if [e["seed"] for e in episodes] != seeds:
        raise RuntimeError(f"lerobot ran seeds {[e['seed'] for e in episodes]}, expected {seeds}")
    return {
        "successes": [bool(e["success"]) for e in episodes],
        "returns": [float(e["sum_reward"]) for e in episodes],
        "type": policy_cfg.type,
    }


def evaluate_builtin(name: str, scenario: str, seeds: list[int], batch_size: int) -> dict:
    """Runs one of dreamrig's Rust policies on the same episodes (one batch at a time)."""
    successes, returns = [], []
    for start in range(0, len(seeds), batch_size):
        batch = seeds[start : start + batch_size]
        envs = dreamrig.make_vec(scenario, len(batch))
        policy = dreamrig.BuiltinPolicy(name, scenario)
        observation, _ = envs.reset(seed=batch)
        policy.reset(batch)
        done = np.zeros(len(batch), dtype=bool)
        success = np.zeros(len(batch), dtype=bool)
        total = np.zeros(len(batch))
        while not done.all():
            observation, reward, terminated, truncated, info = envs.step(policy(observation))
            live = ~done
            total[live] += reward[live]
            ended = live & (terminated | truncated)
            success[ended] = info["success"][ended]
            done |= ended
        envs.close()
        successes += success.tolist()
        returns += total.tolist()
    return {"successes": successes, "returns": returns, "type": "dreamrig"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a pretrained_model folder written by lerobot-train")
    parser.add_argument("--scenario", required=True, help="the scenario the training dataset was recorded in")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000, help="episode k starts from seed SEED + k")
    parser.add_argument(
        "--n-action-steps", type=int, help="actions of each predicted chunk to run before predicting again (ACT, diffusion)"
    )
    parser.add_argument("--device", default="cpu", help="where the policy runs (cpu, cuda, mps)")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the policy is clearly better than random")
    args = parser.parse_args()
    if not (args.checkpoint / "config.json").is_file():
        print(f"{args.checkpoint}: expected a pretrained_model folder holding config.json", file=sys.stderr)
        return 2
    if args.episodes < 1 or args.batch_size < 1:
        print(f"--episodes and --batch-size: expected at least 1, got {args.episodes} and {args.batch_size}", file=sys.stderr)
        return 2
    seeds = list(range(args.seed, args.seed + args.episodes))
    # What lerobot-eval seeds (torch, NumPy, random): sampling policies repeat their draws.
    set_seed(args.seed)
    try:
        lerobot = evaluate_lerobot(args.checkpoint, args.scenario, seeds, args.batch_size, args.n_action_steps, args.device)
    except Mismatch as error:
        print(error, file=sys.stderr)
        return 2
    results = {
        f"lerobot ({args.checkpoint})": lerobot,
        "controller (auto)": evaluate_builtin("auto", args.scenario, seeds, args.batch_size),
        "random": evaluate_builtin("random", args.scenario, seeds, args.batch_size),
    }
    rows = []
    print(f"{args.scenario}, {args.episodes} episodes, seeds {seeds[0]}…{seeds[-1]}")
    for name, result in results.items():
        k, n = sum(result["successes"]), len(result["successes"])
        low, high = wilson(k, n)
        rows.append({"policy": name, "successes": k, "episodes": n, "success_rate": k / n,
                     "ci95": [low, high], "per_episode": result})
        print(f"  {name:<48} {k:>3}/{n}  {100 * k / n:5.1f} %  95 % CI [{100 * low:5.1f}, {100 * high:5.1f}]")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"scenario": args.scenario, "seeds": seeds, "policies": rows}, indent=2))
    if args.check:
        policy_low = rows[0]["ci95"][0]
        random_high = rows[2]["ci95"][1]
        if policy_low <= random_high:
            print(f"check failed: the LeRobot policy's interval starts at {100 * policy_low:.1f} %, "
                  f"not above random's, which ends at {100 * random_high:.1f} %", file=sys.stderr)
            return 1
        print("check passed: the LeRobot policy is clearly better than random")
    return 0


if __name__ == "__main__":
    sys.exit(main())
