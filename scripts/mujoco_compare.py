"""Ranks a zoo of policies with MuJoCo as the real robot, and in dreamrig's worlds beside it.

    python scripts/mujoco_compare.py SCENARIO --candidate physics --candidate hybrid:MODEL.json
        [--episodes 40] [--seed 77] [--noise 0,0.2,0.4,0.6,0.8,1.0,1.5] [--baselines zero,random]
        [--armature JOINT=KG_M2 ...] [--payload LINK=KG[@X,Y,Z] ...] [--substeps N] [--self-collision]
        [--json OUT.json]

The reference is the robot `scripts/mujoco_reality.py` logs (the scenario's own URDF in MuJoCo,
with its actuator law, `--armature`, `--payload`, `--substeps`), and each episode is **scored by
the scenario's own task**: every control step, MuJoCo's new state goes to a dreamrig physics
world through `Worlds.step_to`, whose sensors and task read it (reward, success, failure,
horizon) exactly as they read a state dreamrig's physics reached. Each candidate (`physics`: the
scenario as shipped; `learned:MODEL` or `hybrid:MODEL`: a world model) runs the same episodes.

The zoo is the scenario's controller (`auto`) with uniform action noise of each `--noise` level
(a fraction of each action's range), plus the `--baselines`. Episodes are paired: episode k of a
policy resets every world with seed `--seed + k`, and its noise draws come from a generator
seeded by (seed, policy, episode), the same in every world, so a difference in success rate is
the worlds', not sampling noise. The report is each policy's success rate per world and, per
candidate, Pearson r, Spearman rho and MMRV against the reference (`dreamrig.rank_agreement`,
the measures of `dreamrig wm compare`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import mujoco
import numpy as np
import yaml

import dreamrig

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mujoco_reality as reality  # noqa: E402


def fail(message: str) -> None:
    print(f"mujoco_compare.py: {message}", file=sys.stderr)
    sys.exit(2)


def noise_rng(seed: int, policy: int, episode: int) -> np.random.Generator:
    """The action-noise generator of one episode of one policy: the same in every world."""
    return np.random.default_rng([seed, policy, episode])


class MujocoReference:
    """The scenario's robot in MuJoCo (`mujoco_reality.MujocoRobot`), scored by a dreamrig physics
    world of the scenario through `Worlds.step_to`."""

    def __init__(self, scenario: str, args: argparse.Namespace):
        self.worlds = dreamrig.Worlds(scenario)
        path = Path(self.worlds.scenario_path)
        config = yaml.safe_load(path.read_text())
        self.robot = reality.MujocoRobot(self.worlds, config, path, reality.pairs(args.armature, "armature"),
                                         reality.payloads(args.payload), args.substeps, args.self_collision)

    def reset(self, seed: int) -> dict:
        """Starts episode `seed` where the scenario's reset puts the robot; its observation."""
        observation, _ = self.worlds.reset([seed])
        self.robot.reset_to(self.worlds.get_state(0).values)
        return {k: v[0] for k, v in observation.items()}

    def step(self, action: np.ndarray) -> tuple[dict, bool, bool]:
        """One control period in MuJoCo under the scenario's actuator law, scored by the task:
        (observation, episode over, success)."""
        values = self.robot.step(action)
        if not np.all(np.isfinite(values)):
            raise dreamrig.SimulationError("MuJoCo's state became non-finite")
        observation, _reward, terminated, truncated, info = self.worlds.step_to(action, values)
        return observation, terminated or truncated, bool(info["success"])


class DreamrigCandidate:
    """A dreamrig world of the scenario with `dynamics` (`physics`, `learned:MODEL`, `hybrid:MODEL`)."""

    def __init__(self, scenario: str, dynamics: str):
        self.worlds = dreamrig.Worlds(scenario, dynamics=dynamics)

    def reset(self, seed: int) -> dict:
        """Starts episode `seed`; its observation."""
        observation, _ = self.worlds.reset([seed])
        return {k: v[0] for k, v in observation.items()}

    def step(self, action: np.ndarray) -> tuple[dict, bool, bool]:
        """One control period: (observation, episode over, success)."""
        observation, _reward, terminated, truncated, info = self.worlds.step(action[None])
        return {k: v[0] for k, v in observation.items()}, bool(terminated[0] or truncated[0]), bool(info["success"][0])


def success_rate(world, controller, noise: float, index: int, args: argparse.Namespace) -> float:
    """The share of `args.episodes` paired episodes that `controller` with uniform action noise of
    `noise` (a fraction of each action's range) ends in success in `world`."""
    spec = world.worlds.action_spec()
    low, high = np.asarray(spec["low"], float), np.asarray(spec["high"], float)
    horizon = world.worlds.max_episode_steps
    successes = 0
    for k in range(args.episodes):
        seed = args.seed + k
        rng = noise_rng(args.seed, index, k)
        observation = world.reset(seed)
        controller.reset([seed])
        success = False
        for _ in range(horizon):
            action = controller({f: v[None] for f, v in observation.items()})[0]
            action = np.clip(action + noise * (high - low) * rng.uniform(-0.5, 0.5, len(action)), low, high)
            observation, done, success = world.step(action)
            if done:
                break
        successes += success
    return successes / args.episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", help="scenario file or shipped name (fixed base, torque or position actuators)")
    parser.add_argument("--candidate", action="append", default=[], help="a world to rank the zoo in beside MuJoCo: "
                        "physics (the scenario as shipped), learned:MODEL.json or hybrid:MODEL.json; repeatable")
    parser.add_argument("--episodes", type=int, default=40, help="paired episodes per policy and world")
    parser.add_argument("--seed", type=int, default=77, help="episode k resets with seed --seed + k")
    parser.add_argument("--noise", default="0,0.2,0.4,0.6,0.8,1.0,1.5", help="action-noise levels of the controller, a fraction of each action's range")
    parser.add_argument("--baselines", default="zero,random", help="dreamrig baselines added to the zoo, comma-separated")
    parser.add_argument("--armature", nargs="*", default=[], metavar="JOINT=KG_M2", help="rotor inertia MuJoCo's robot has")
    parser.add_argument("--payload", nargs="*", default=[], metavar="LINK=KG[@X,Y,Z]", help="point masses MuJoCo's robot carries")
    parser.add_argument("--substeps", type=int, default=1, help="MuJoCo steps per scenario physics step")
    parser.add_argument("--self-collision", action="store_true", help="let MuJoCo's links collide with each other")
    parser.add_argument("--json", type=Path, help="write the report here (atomically)")
    args = parser.parse_args()
    if not args.candidate:
        fail("--candidate: name at least one world to compare with MuJoCo (physics, learned:MODEL, hybrid:MODEL)")
    if args.episodes < 1 or args.substeps < 1:
        fail("--episodes and --substeps: expected at least 1")
    if args.json is not None and not args.json.parent.resolve().is_dir():
        fail(f"--json {args.json}: the folder {args.json.parent} does not exist")
    try:
        levels = [float(x) for x in args.noise.split(",") if x]
    except ValueError:
        fail(f"--noise {args.noise!r}: expected comma-separated numbers")
    if not levels or not all(np.isfinite(level) and level >= 0 for level in levels):
        fail(f"--noise {args.noise!r}: expected one or more finite levels ≥ 0")
    zoo = [("auto", level, f"auto-noise-{level:g}") for level in levels]
    zoo += [(name, 0.0, name) for name in args.baselines.split(",") if name]
    if len(zoo) < 2:
        fail("the zoo holds fewer than 2 policies: nothing to rank")
    # Everything that can be refused is built before the first episode runs.
    try:
        worlds = {"mujoco": MujocoReference(args.scenario, args)}
        for candidate in args.candidate:
            dynamics = candidate.split(":", 1)
            if dynamics[0] not in ("physics", "learned", "hybrid") or (dynamics[0] != "physics") != (len(dynamics) == 2):
                fail(f"--candidate {candidate!r}: expected physics, learned:MODEL.json or hybrid:MODEL.json")
            worlds[candidate] = DreamrigCandidate(args.scenario, candidate)
        controllers = {policy: dreamrig.BuiltinPolicy(policy, args.scenario) for policy, _, _ in zoo}
    except (dreamrig.DreamrigError, ValueError) as error:
        fail(str(error))
    rates = {name: [] for name in worlds}
    for index, (policy, noise, label) in enumerate(zoo):
        for name, world in worlds.items():
            rates[name].append(success_rate(world, controllers[policy], noise, index, args))
        print(f"  {label:<22}" + "".join(f" {name}: {100 * rates[name][-1]:5.1f}%" for name in worlds), file=sys.stderr)
    report = {
        "scenario": args.scenario,
        "episodes": args.episodes,
        "seed": args.seed,
        "mujoco": {"version": mujoco.__version__, "armature": args.armature, "payload": args.payload, "substeps": args.substeps,
                   "self_collision": args.self_collision},
        "policies": [label for _, _, label in zoo],
        "success_rate": rates,
        "agreement": {c: dreamrig.rank_agreement(rates["mujoco"], rates[c]) for c in args.candidate},
    }
    print(f"{'policy':<22} " + " ".join(f"{name[:28]:>28}" for name in worlds))
    for i, label in enumerate(report["policies"]):
        print(f"{label:<22} " + " ".join(f"{100 * rates[name][i]:>27.1f}%" for name in worlds))
    for candidate, agreement in report["agreement"].items():
        print(f"{candidate} against MuJoCo: Pearson r = {agreement['pearson']:.3f}, Spearman rho = {agreement['spearman']:.3f}, "
              f"MMRV = {agreement['mmrv']:.3f}")
    if args.json:
        temporary = args.json.with_suffix(args.json.suffix + ".tmp")
        with open(temporary, "w") as f:
            json.dump(report, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        temporary.rename(args.json)


if __name__ == "__main__":
    main()
