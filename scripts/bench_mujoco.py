"""dreamrig's physics against MuJoCo's on the same URDFs at the same timestep, in one run.

For each robot (cart-pole and arm7 as shipped, the KUKA iiwa of pybullet_data without contacts
and with its mesh colliders on the ground, the Solo-12 quadruped and the Talos humanoid of
example-robot-data standing on the ground), it writes a scenario for dreamrig (no actuators, no
control: the robot moves under gravity and its contacts; 2 ms physics step = control period;
1 s episodes) and builds the same robot in MuJoCo (`mujoco.MjSpec` loading the same URDF,
timestep 2 ms, the same root pose, a ground plane where dreamrig has one, robot links colliding
with the ground only, as dreamrig's do). It then measures physics steps per second:

- MuJoCo: `mujoco.rollout` running 1 s episodes from the same initial state, 1 and 2 threads;
- dreamrig: `examples/physics_rate.rs` (a batch of worlds, episodes reset as they end), 1 and 2
  threads. Its control period is the physics step, so each of its steps is a whole environment
  step (the action applied, the physics step, the task checked; no sensor): a little more than
  MuJoCo's `mj_step`.

It prints one Markdown table with the accuracy setting of each side and the ratio
dreamrig/MuJoCo (above 1: dreamrig is faster), and writes the figures as JSON to --json.

A second table compares environment steps per second of whole evaluations: `dreamrig eval`
(the scenario's shipped controller, 1 and 2 worker threads; wall time of the whole command,
process start and result files included, steps as it reports them) against a Gymnasium loop (one environment, a linear balance law on
InvertedPendulum-v5 and a zero policy on Reacher-v5, as scripts/bench_gymnasium.py) and its
synchronous vector environment (8 environments, 1 thread; Gymnasium has no threaded one).

Usage: scripts/bench-mujoco.sh [--seconds S] [--json FILE] [--only REGEX] [--quick]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pybullet_data
from mujoco import rollout

REPO = Path(__file__).resolve().parent.parent
PHYSICS_DT = 0.002
EPISODE_STEPS = 500  # 1 s


def erd(path: str) -> str:
    """A file of example-robot-data (installed under the cmeel prefix, no Python module)."""
    return str(Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "share" / "example-robot-data" / "robots" / path)


# name, URDF, fixed base, root position [m], ground
ROBOTS = [
    ("cart-pole", str(REPO / "scenarios/robots/cartpole.urdf"), True, [0, 0, 0], False),
    ("arm7", str(REPO / "scenarios/robots/arm7.urdf"), True, [0, 0, 0], False),
    ("KUKA iiwa, no contacts", os.path.join(pybullet_data.getDataPath(), "kuka_iiwa/model.urdf"), True, [0, 0, 0], False),
    ("KUKA iiwa, mesh colliders on the ground", os.path.join(pybullet_data.getDataPath(), "kuka_iiwa/model.urdf"), True, [0, 0, 0], True),
    ("Solo-12 quadruped, on the ground", erd("solo_description/robots/solo12.urdf"), False, [0, 0, 0.4], True),
    ("Talos humanoid, on the ground", erd("talos_data/robots/talos_reduced.urdf"), False, [0, 0, 1.1], True),
]


def package_roots(urdf: str) -> dict:
    """Where each `package://NAME` of example-robot-data and pybullet_data resolves."""
    roots = {}
    share = Path(sysconfig.get_paths()["purelib"]) / "cmeel.prefix" / "share"
    if share.is_dir():
        for package in share.iterdir():
            roots[package.name] = package
        robots = share / "example-robot-data" / "robots"
        if robots.is_dir():
            for package in robots.iterdir():
                roots[package.name] = package
    return roots


def absolute_mesh_urdf(urdf: str, out_dir: Path) -> str:
    """A copy of `urdf` with every mesh filename absolute (package:// and relative paths
    resolved), visual geometry dropped and MuJoCo told not to strip paths: MuJoCo's URDF reader
    knows neither package:// nor the folders meshes sit in."""
    tree = ET.parse(urdf)
    root = tree.getroot()
    roots = package_roots(urdf)
    base = Path(urdf).parent
    for link in root.findall("link"):
        for visual in link.findall("visual"):
            link.remove(visual)
        for mesh in link.iter("mesh"):
            name = mesh.get("filename", "")
            m = re.match(r"package://([^/]+)/(.*)", name)
            if m:
                if m.group(1) not in roots:
                    sys.exit(f"{urdf}: package://{m.group(1)} not found")
                path = roots[m.group(1)] / m.group(2)
            elif name.startswith("file://"):
                path = Path(name[len("file://"):])
            else:
                path = base / name
            mesh.set("filename", str(path.resolve()))
    extension = ET.SubElement(root, "mujoco")
    ET.SubElement(extension, "compiler", {"strippath": "false", "discardvisual": "true"})
    out = out_dir / (Path(urdf).stem + f"-{abs(hash(urdf)) % 10**8}.urdf")
    tree.write(out)
    return str(out)


def mujoco_model(urdf: str, fixed: bool, position, ground: bool, out_dir: Path):
    spec = mujoco.MjSpec.from_file(absolute_mesh_urdf(urdf, out_dir))
    spec.option.timestep = PHYSICS_DT
    root = spec.worldbody.first_body()
    if not fixed:
        # A free base starts where dreamrig's scenario puts it. A fixed one keeps the URDF's
        # frame, as dreamrig's does at base position [0, 0, 0] (MuJoCo folds a `world` root
        # link into its world body, so the first body may be the first moving link).
        root.pos = position
        root.add_freejoint()
    if ground:
        # Robot geoms collide with the ground only (dreamrig's robots do not collide with
        # themselves by default): contype 1 / conaffinity 0 on the robot, 0 / 1 on the ground.
        for geom in spec.geoms:
            geom.contype, geom.conaffinity = 1, 0
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], contype=0, conaffinity=1)
    else:
        spec.option.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    return spec.compile()


def mujoco_rate(model, threads: int, seconds: float) -> float:
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state = np.zeros(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, state, spec)
    datas = [mujoco.MjData(model) for _ in range(threads)]
    with rollout.Rollout(nthread=threads) as runner:
        rollouts = max(2 * threads, 2)
        # Warm-up, then as many rounds as fit in `seconds`.
        runner.rollout([model] * rollouts, datas, np.tile(state, (rollouts, 1)), nstep=EPISODE_STEPS)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            runner.rollout([model] * rollouts, datas, np.tile(state, (rollouts, 1)), nstep=EPISODE_STEPS)
            steps += rollouts * EPISODE_STEPS
        return steps / (time.perf_counter() - start)


def scenario(name: str, urdf: str, fixed: bool, position, ground: bool, out_dir: Path) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    text = "\n".join(
        [
            "version: 1",
            f"name: bench-{slug}",
            "robot:",
            f"  urdf: {json.dumps(urdf)}",
            f"  base: {{fixed: {str(fixed).lower()}, position: {json.dumps(position)}}}",
            "world:",
            f"  ground: {{enabled: {str(ground).lower()}}}",
            "sensors: []",
            f"task: {{kind: balance, horizon_steps: {EPISODE_STEPS}}}",
            f"timing: {{physics_dt: {PHYSICS_DT}, control_period: {PHYSICS_DT}}}",
            "",
        ]
    )
    path = out_dir / f"bench-{slug}.yaml"
    path.write_text(text)
    return path


def dreamrig_rate(example: str, path: Path, threads: int, seconds: float) -> dict:
    out = subprocess.run([example, str(path), str(threads), str(seconds)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"physics_rate {path}: {out.stderr.strip()}")
    return json.loads(out.stdout)


EVAL_TASKS = [
    ("InvertedPendulum-v5", "cartpole-balance", 400),
    ("Reacher-v5", "reacher-2link", 1000),
]


def gym_rates(env_id: str, seconds: float) -> tuple[float, float]:
    """Steps per second of a Gymnasium loop over one environment and of its synchronous vector
    environment of 8 (both one thread)."""
    import gymnasium as gym

    sys.path.insert(0, str(REPO / "scripts"))
    import bench_gymnasium

    policy = bench_gymnasium.pendulum_policy if env_id.startswith("InvertedPendulum") else bench_gymnasium.zero_policy
    loop, _ = bench_gymnasium.bench(env_id, policy, seconds)
    envs = gym.make_vec(env_id, num_envs=8, vectorization_mode="sync")
    obs, _ = envs.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        obs, *_ = envs.step(np.stack([policy(o) for o in obs]))
        steps += 8
    vector = steps / (time.perf_counter() - start)
    envs.close()
    return loop, vector


def eval_rate(dreamrig: str, scenario_name: str, episodes: int, threads: int, out_dir: Path) -> float:
    """Environment steps per second of `dreamrig eval` (wall time of the whole command)."""
    spec = out_dir / f"eval-{scenario_name}.yaml"
    spec.write_text(
        "\n".join(
            [
                "version: 1",
                f"name: bench-{scenario_name}",
                "seed: 1",
                f"episodes: {episodes}",
                f"scenarios: [{{scenario: {scenario_name}}}]",
                "policies: [{name: controller, controller: auto}]",
                "",
            ]
        )
    )
    out = out_dir / f"eval-{scenario_name}-{threads}"
    start = time.perf_counter()
    run = subprocess.run(
        [dreamrig, "eval", str(spec), "--out", str(out), "--threads", str(threads)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    wall = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"dreamrig eval {spec}: {run.stderr.strip()}")
    m = re.search(r"(\d+) environment steps in", run.stdout)
    if not m:
        sys.exit(f"dreamrig eval printed no step count:\n{run.stdout}")
    return int(m.group(1)) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", required=True, help="the built physics_rate example")
    parser.add_argument("--dreamrig", required=True, help="the built dreamrig binary")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell (s)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--only", help="a regular expression: run the robots whose name matches")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a tenth of the evaluation episodes")
    args = parser.parse_args()
    rows, env_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, urdf, fixed, position, ground in ROBOTS:
            if args.only and not re.search(args.only, name):
                continue
            model = mujoco_model(urdf, fixed, position, ground, tmp)
            path = scenario(name, urdf, fixed, position, ground, tmp)
            row = {"robot": name, "urdf": urdf, "dof": int(model.nv)}
            for threads in (1, 2):
                row[f"mujoco_{threads}"] = mujoco_rate(model, threads, args.seconds)
                measured = dreamrig_rate(args.example, path, threads, args.seconds)
                row[f"dreamrig_{threads}"] = measured["physics_steps_per_second"]
                row["solver"] = measured["solver"]
            row["mujoco_setting"] = (
                f"{PHYSICS_DT * 1e3:g} ms, {mujoco.mjtIntegrator(model.opt.integrator).name[6:].lower()}, "
                f"{mujoco.mjtCone(model.opt.cone).name[7:].lower()} cone, ≤{model.opt.iterations} iterations"
            )
            s = row["solver"]
            row["dreamrig_setting"] = (
                f"{PHYSICS_DT * 1e3:g} ms, {s['substeps']} substeps × {s['iterations']} iterations "
                f"+ {s['stabilization_iterations']} stabilization"
            )
            rows.append(row)
            print(f"measured {name}", file=sys.stderr)
        for env_id, scenario_name, episodes in EVAL_TASKS:
            if args.only and not re.search(args.only, scenario_name):
                continue
            loop, vector = gym_rates(env_id, args.seconds)
            episodes = max(episodes // 10, 4) if args.quick else episodes
            one = eval_rate(args.dreamrig, scenario_name, episodes, 1, tmp)
            two = eval_rate(args.dreamrig, scenario_name, episodes, 2, tmp)
            env_rows.append({"gymnasium": env_id, "scenario": scenario_name, "gym_loop": loop, "gym_vector_8": vector,
                             "eval_1": one, "eval_2": two})
            print(f"measured {scenario_name}", file=sys.stderr)
    print(f"MuJoCo {mujoco.__version__}; physics steps per second (per core on 1 thread), {PHYSICS_DT * 1e3:g} ms step, no control\n")
    print("| robot | DoF | MuJoCo setting | dreamrig setting | MuJoCo 1 thread | dreamrig 1 thread | dreamrig/MuJoCo | MuJoCo 2 threads | dreamrig 2 threads | dreamrig/MuJoCo |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['robot']} | {r['dof']} | {r['mujoco_setting']} | {r['dreamrig_setting']} | "
            f"{r['mujoco_1']:,.0f} | {r['dreamrig_1']:,.0f} | {r['dreamrig_1'] / r['mujoco_1']:.2f}× | "
            f"{r['mujoco_2']:,.0f} | {r['dreamrig_2']:,.0f} | {r['dreamrig_2'] / r['mujoco_2']:.2f}× |"
        )
    if env_rows:
        print("\nEnvironment steps per second: `dreamrig eval` (shipped controller) against Gymnasium (MuJoCo)\n")
        print("| task | Gymnasium loop, 1 env | Gymnasium sync vector, 8 envs | dreamrig eval, 1 thread | ÷ loop | dreamrig eval, 2 threads | 2 threads ÷ 1 |")
        print("|---|---|---|---|---|---|---|")
        for r in env_rows:
            print(
                f"| {r['gymnasium']} / {r['scenario']} | {r['gym_loop']:,.0f} | {r['gym_vector_8']:,.0f} | {r['eval_1']:,.0f} | "
                f"{r['eval_1'] / r['gym_loop']:.2f}× | {r['eval_2']:,.0f} | {r['eval_2'] / r['eval_1']:.2f}× |"
            )
    if args.json:
        args.json.write_text(json.dumps({"mujoco": mujoco.__version__, "rows": rows, "environments": env_rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
