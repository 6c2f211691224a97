"""Logs a "real robot" for dreamrig's world models with another engine: MuJoCo.

    python scripts/mujoco_reality.py SCENARIO --out DATASET [--episodes 200] [--seed 0]
        [--policy auto] [--action-noise 0,0.1,0.3] [--armature JOINT=KG_M2 ...] [--payload LINK=KG[@X,Y,Z] ...] [--steps N]
        [--substeps N] [--self-collision]

The robot is the scenario's own URDF, loaded by MuJoCo (`mujoco.MjSpec.from_file`), stepping at
the scenario's `physics_dt` (or `--substeps` times finer) with MuJoCo's own integrator, joint limits (soft, as MuJoCo's
constraint solver makes them), joint damping and friction loss (the URDF's, or the scenario's
`joint_dynamics`), plus what rapier's identified prior cannot express: rotor `--armature` per joint
and a point `--payload` at a link (at the link's origin, or at X,Y,Z in the link's frame, m).
MuJoCo's world is the robot alone (no ground, no obstacles), and its links do not collide with
each other, as in dreamrig's scenarios (`--self-collision` turns MuJoCo's default on: every pair
of bodies not joined to each other collides). The scenario's own actuator law drives it every
physics step:

- `torque`: tau = clip(action, command range);
- `position`: tau = clip(kp (target - q) - kd qdot, +-effort_limit), the PD law of a rapier joint motor,
  as a MuJoCo general actuator (affine bias) with the `implicitfast` integrator, which treats the
  damping term implicitly (rapier's motor is implicit in the stiffness too; an explicit PD at the
  physics step chatters on light links);

and the scenario's policy chooses the actions every control period from the observation dreamrig's
own sensors compute from MuJoCo's state (`Worlds.set_state(state.with_values(...))`), so the
policy, its seeds, the initial states and goals are the scenario's (episode k resets with seed
`--seed + k`). `--action-noise` adds uniform noise (a fraction of each action's range) in turn per
episode, so the data spans clean and degraded behaviour. An episode ends as the scenario's task
ends it on failure: when a joint leaves its `task.failure_joint_bounds` (the step that left is
the last one logged; as in dreamrig's datasets, the state it led to is not a frame); otherwise it runs for `--steps` control steps.

The dataset is LeRobot v3.0 as dreamrig writes it (`observation.environment_state` with the
scenario's state names, `action`, `dreamrig/seed`), so `dreamrig wm train` reads it and `dreamrig
dataset validate` accepts it. Supported: fixed-base robots whose actuators are `torque` or
`position` joint actuators, with no free objects; anything else is refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import mujoco
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

import dreamrig


def fail(message: str) -> None:
    print(f"mujoco_reality.py: {message}", file=sys.stderr)
    sys.exit(2)


def pairs(items: list[str], what: str) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            fail(f"--{what} {item!r}: expected NAME=NUMBER")
    return out


def payloads(items: list[str]) -> list[tuple[str, float, list[float]]]:
    """`LINK=KG` or `LINK=KG@X,Y,Z` → (link, mass in kg, position in the link's frame in m)."""
    out = []
    for item in items:
        name, _, value = item.partition("=")
        mass, _, position = value.partition("@")
        try:
            xyz = [float(x) for x in position.split(",")] if "@" in value else [0.0, 0.0, 0.0]
            kg = float(mass)
        except ValueError:
            fail(f"--payload {item!r}: expected LINK=KG or LINK=KG@X,Y,Z")
        if len(xyz) != 3 or not all(np.isfinite(xyz)):
            fail(f"--payload {item!r}: expected three finite coordinates after @, got {len(xyz)}")
        if not (np.isfinite(kg) and kg > 0):
            fail(f"--payload {item!r}: expected a positive mass in kg, got {mass}")
        out.append((name, kg, xyz))
    return out


def build_model(scenario: dict, scenario_path: Path, physics_dt: float, armature: dict, payload: list, self_collision: bool = False):
    robot = scenario["robot"]
    if not robot.get("base", {}).get("fixed", False):
        fail("robot.base: only fixed-base robots are supported (MuJoCo's URDF import fixes the root)")
    if scenario.get("world", {}).get("objects"):
        fail("world.objects: free objects are not supported")
    spec = mujoco.MjSpec.from_file(str((scenario_path.parent / robot["urdf"]).resolve()))
    spec.compiler.fusestatic = False  # keep fixed-joint links (an end effector, a fingertip) as bodies
    spec.option.timestep = physics_dt
    if not self_collision:
        # The world is the robot alone, so MuJoCo's only contacts would be between its own links,
        # which dreamrig's scenarios do not collide (nor do Gazebo's and PyBullet's defaults).
        # Joint limits are constraints of their own and stay on.
        spec.option.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    gravity = scenario.get("world", {}).get("gravity")
    if gravity is not None:
        spec.option.gravity = gravity
    joints = {j.name: j for j in spec.joints}
    for name, dynamics in (robot.get("joint_dynamics") or {}).items():
        if name not in joints:
            fail(f"robot.joint_dynamics.{name}: MuJoCo's model has no such joint ({', '.join(joints)})")
        if "damping" in dynamics:
            joints[name].damping = float(dynamics["damping"])
        if "friction" in dynamics:
            joints[name].frictionloss = float(dynamics["friction"])
    for name, value in armature.items():
        if name not in joints:
            fail(f"--armature {name}: no such joint ({', '.join(joints)})")
        joints[name].armature = value
    # Position servos as MuJoCo models them: a general actuator with force kp·(ctrl − q) − kd·q̇,
    # clamped to ±effort_limit, integrated with `implicitfast`, which treats the −kd·q̇ term
    # implicitly as rapier's joint motor does. An explicit PD at the physics step is unstable on
    # light links (kd·dt above twice the joint's inertia: arm7's wrist) and chatters.
    servos = [a for a in robot.get("actuators") or [] if a.get("kind") == "position"]
    for actuator in servos:
        kp, kd = float(actuator.get("kp", 0.0)), float(actuator.get("kd", 0.0))
        effort = float(actuator.get("effort_limit", 0.0))
        servo = spec.add_actuator(name=f"servo_{actuator['joint']}", target=actuator["joint"], trntype=mujoco.mjtTrn.mjTRN_JOINT)
        servo.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        servo.gainprm[0] = kp
        servo.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        servo.biasprm[0:3] = [0.0, -kp, -kd]
        if effort > 0:
            servo.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            servo.forcerange = [-effort, effort]
        servo.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
    if servos:
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    bodies = {b.name: b for b in spec.bodies}
    masses = [(p["link"], float(p["mass"]), [float(x) for x in p.get("position", [0, 0, 0])]) for p in robot.get("payload") or []]
    for k, (link, mass, position) in enumerate(masses + payload):
        if link not in bodies:
            fail(f"payload at {link}: no such link ({', '.join(bodies)})")
        body = bodies[link].add_body(name=f"payload_{k}", pos=position)
        body.mass = mass
        body.inertia = [1e-9, 1e-9, 1e-9]
        body.explicitinertial = True
    return spec.compile()


def actuator_law(scenario: dict, model, names: list[str]):
    """Per actuator: (dof address, MuJoCo actuator index or -1, kind, kp, kd, effort limit)."""
    laws = []
    for i, actuator in enumerate(scenario["robot"]["actuators"]):
        kind = actuator.get("kind")
        if kind not in ("torque", "position"):
            fail(f"robot.actuators[{i}]: kind {kind!r} is not supported (torque, position)")
        joint = model.joint(actuator["joint"])
        effort = float(actuator.get("effort_limit", np.inf))
        laws.append(
            (
                model.jnt_dofadr[joint.id],
                model.actuator(f"servo_{actuator['joint']}").id if kind == "position" else -1,
                kind,
                float(actuator.get("kp", 0.0)),
                float(actuator.get("kd", 0.0)),
                effort,
            )
        )
    return laws


class MujocoRobot:
    """The scenario's robot in MuJoCo, as this script logs it and `mujoco_compare.py` ranks policies
    on it: `build_model`'s model, stepped a control period at a time under the scenario's actuator
    law, with its state in dreamrig's order (joint positions, then velocities)."""

    def __init__(self, worlds, scenario: dict, scenario_path: Path, armature: dict, payload: list, substeps: int,
                 self_collision: bool):
        timing = scenario["timing"]
        physics_dt, control_period = float(timing["physics_dt"]), float(timing["control_period"])
        self.nstep = round(control_period / physics_dt) * substeps
        self.model = build_model(scenario, scenario_path, physics_dt / substeps, armature, payload, self_collision)
        self.data = mujoco.MjData(self.model)
        names = worlds.state_names
        self.joints = [n[len("robot.joint."):-len(".position")] for n in names if n.endswith(".position")]
        if len(self.joints) * 2 != len(names):
            fail("the scenario's state holds more than joints (a free base or objects)")
        self.qpos = [self.model.jnt_qposadr[self.model.joint(j).id] for j in self.joints]
        self.qvel = [self.model.jnt_dofadr[self.model.joint(j).id] for j in self.joints]
        self.laws = actuator_law(scenario, self.model, self.joints)

    def values(self) -> np.ndarray:
        """The state in dreamrig's order: joint positions, then velocities."""
        return np.concatenate([self.data.qpos[self.qpos], self.data.qvel[self.qvel]])

    def reset_to(self, values: np.ndarray) -> None:
        """Puts the robot at rest in the state `values` (dreamrig's order)."""
        n = len(self.joints)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.qpos] = values[:n]
        self.data.qvel[self.qvel] = values[n:]
        mujoco.mj_forward(self.model, self.data)

    def step(self, action: np.ndarray) -> np.ndarray:
        """One control period under `action`; the new state (non-finite if MuJoCo's diverged)."""
        # The action holds for the control period: torques as applied forces, position targets
        # as the servos' controls, both constant over its physics steps.
        tau = np.zeros(self.model.nv)
        for i, (dof, servo, kind, _kp, _kd, _effort) in enumerate(self.laws):
            if kind == "torque":
                tau[dof] = action[i]
            else:
                self.data.ctrl[servo] = action[i]
        self.data.qfrc_applied[:] = tau
        mujoco.mj_step(self.model, self.data, nstep=self.nstep)
        return self.values()


def write_dataset(out: Path, fps: int, state_names, action_names, episodes, robot_type: str) -> None:
    """LeRobot v3.0 with dreamrig's episode columns; `episodes`: (seed, policy, states[T,S], actions[T,A])."""
    staging = out.parent / f".{out.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "meta/episodes/chunk-000").mkdir(parents=True)
    (staging / "data/chunk-000").mkdir(parents=True)
    rows = {k: [] for k in ["observation.environment_state", "action", "timestamp", "frame_index", "episode_index", "index", "task_index"]}
    meta = {k: [] for k in ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index",
                            "meta/episodes/chunk_index", "meta/episodes/file_index", "dreamrig/seed", "dreamrig/policy", "dreamrig/success",
                            "dreamrig/parameters"]}
    index = 0
    for e, (seed, policy, states, actions) in enumerate(episodes):
        n = len(states)
        rows["observation.environment_state"] += [s.astype(np.float32) for s in states]
        rows["action"] += [a.astype(np.float32) for a in actions]
        rows["timestamp"] += [np.float32(t / fps) for t in range(n)]
        rows["frame_index"] += list(range(n))
        rows["episode_index"] += [e] * n
        rows["index"] += list(range(index, index + n))
        rows["task_index"] += [0] * n
        for key, value in [("episode_index", e), ("tasks", ["mujoco"]), ("length", n), ("data/chunk_index", 0), ("data/file_index", 0),
                           ("dataset_from_index", index), ("dataset_to_index", index + n), ("meta/episodes/chunk_index", 0),
                           ("meta/episodes/file_index", 0), ("dreamrig/seed", seed), ("dreamrig/policy", policy),
                           ("dreamrig/success", False), ("dreamrig/parameters", "{}")]:
            meta[key].append(value)
        index += n
    s, a = len(state_names), len(action_names)
    table = pa.table({
        "observation.environment_state": pa.array(rows["observation.environment_state"], type=pa.list_(pa.float32(), s)),
        "action": pa.array(rows["action"], type=pa.list_(pa.float32(), a)),
        "timestamp": pa.array(rows["timestamp"], type=pa.float32()),
        **{k: pa.array(rows[k], type=pa.int64()) for k in ["frame_index", "episode_index", "index", "task_index"]},
    })
    pq.write_table(table, staging / "data/chunk-000/file-000.parquet")
    episodes_table = pa.table({k: (pa.array(v, type=pa.uint64()) if k == "dreamrig/seed" else v) for k, v in meta.items()})
    pq.write_table(episodes_table, staging / "meta/episodes/chunk-000/file-000.parquet")
    pd.DataFrame({"task_index": [0]}, index=pd.Index(["mujoco"], name="task")).to_parquet(staging / "meta/tasks.parquet")

    def stats(values: np.ndarray) -> dict:
        values = values.reshape(len(values), -1).astype(np.float64)
        out = {"min": values.min(0), "max": values.max(0), "mean": values.mean(0), "std": values.std(0), "count": [len(values)]}
        for q in [1, 10, 50, 90, 99]:
            out[f"q{q:02d}"] = np.quantile(values, q / 100, axis=0)
        return {k: [float(x) for x in v] if k != "count" else v for k, v in out.items()}

    columns = {k: np.asarray(v) for k, v in rows.items()}
    json.dump({k: stats(np.stack(v) if v.dtype == object else v) for k, v in columns.items()}, open(staging / "meta/stats.json", "w"), indent=2)
    vector = lambda n, names: {"dtype": "float32", "shape": [n], "names": names}  # noqa: E731
    scalar = lambda dtype: {"dtype": dtype, "shape": [1], "names": None}  # noqa: E731
    info = {
        "codebase_version": "v3.0", "robot_type": robot_type, "total_episodes": len(episodes), "total_frames": index, "total_tasks": 1,
        "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(episodes)}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet", "video_path": None,
        "features": {
            "observation.environment_state": vector(s, list(state_names)), "action": vector(a, list(action_names)),
            "timestamp": scalar("float32"), "frame_index": scalar("int64"), "episode_index": scalar("int64"), "index": scalar("int64"),
            "task_index": scalar("int64"),
        },
    }
    json.dump(info, open(staging / "meta/info.json", "w"), indent=2)
    staging.rename(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="auto")
    parser.add_argument("--action-noise", default="0,0.1,0.3", help="noise levels, a fraction of each action's range, in turn per episode")
    parser.add_argument("--armature", nargs="*", default=[], metavar="JOINT=KG_M2")
    parser.add_argument("--payload", nargs="*", default=[], metavar="LINK=KG[@X,Y,Z]")
    parser.add_argument("--steps", type=int, default=None, help="control steps per episode (default: the task's horizon)")
    parser.add_argument("--self-collision", action="store_true",
                        help="let the robot's links collide with each other (MuJoCo's default for bodies not joined "
                             "to each other; dreamrig's scenarios do not)")
    parser.add_argument("--substeps", type=int, default=1,
                        help="MuJoCo steps per scenario physics step (default 1: MuJoCo at the scenario's physics_dt)")
    args = parser.parse_args()
    if args.out.exists():
        fail(f"--out {args.out} exists; choose a new folder")
    try:
        noise_levels = [float(x) for x in args.action_noise.split(",")]
    except ValueError:
        fail(f"--action-noise {args.action_noise!r}: expected comma-separated numbers")
    worlds = dreamrig.Worlds(args.scenario)
    scenario_path = Path(worlds.scenario_path)
    scenario = yaml.safe_load(scenario_path.read_text())
    control_period = float(scenario["timing"]["control_period"])
    fps = round(1 / control_period)
    if abs(fps * control_period - 1) > 1e-9:
        fail(f"timing.control_period {control_period}: LeRobot needs whole frames per second")
    if args.substeps < 1:
        fail(f"--substeps {args.substeps}: expected at least 1")
    if args.steps is not None and args.steps < 2:
        fail(f"--steps {args.steps}: expected at least 2 (an episode needs a transition)")
    if args.episodes < 1:
        fail(f"--episodes {args.episodes}: expected at least 1")
    robot = MujocoRobot(worlds, scenario, scenario_path, pairs(args.armature, "armature"), payloads(args.payload), args.substeps,
                        args.self_collision)
    state_names = worlds.state_names
    joints = robot.joints
    bounds = []
    for name, (lo, hi) in ((scenario.get("task") or {}).get("failure_joint_bounds") or {}).items():
        if name not in joints:
            fail(f"task.failure_joint_bounds.{name}: not a joint of the state ({', '.join(joints)})")
        bounds.append((joints.index(name), float(lo), float(hi)))
    spec = worlds.action_spec()
    low, high = np.asarray(spec["low"], float), np.asarray(spec["high"], float)
    policy = dreamrig.BuiltinPolicy(args.policy, args.scenario)
    horizon = args.steps or worlds.max_episode_steps
    episodes = []
    for k in range(args.episodes):
        seed = args.seed + k
        rng = np.random.default_rng(seed)
        noise = noise_levels[k % len(noise_levels)]
        worlds.reset([seed])
        start = worlds.get_state(0)
        robot.reset_to(start.values)
        policy.reset([seed])
        states, actions = [], []
        values = robot.values()
        for _ in range(horizon):
            observation = worlds.set_state(start.with_values(values))
            action = policy({f: v[None] for f, v in observation.items()})[0]
            action = np.clip(action + noise * (high - low) * rng.uniform(-0.5, 0.5, len(action)), low, high)
            states.append(values)
            actions.append(action)
            values = robot.step(action)
            if not np.all(np.isfinite(values)):
                fail(f"episode {k}: MuJoCo's state became non-finite")
            if any(not lo <= values[j] <= hi for j, lo, hi in bounds):
                break  # the task failed: dreamrig ends the episode here too
        # As dreamrig records: a frame per step (the state before the action); the state after the
        # last action is not a frame.
        if len(states) < 2:
            print(f"mujoco_reality.py: episode {k} (seed {seed}) left the task's failure bounds on its first step; "
                  "it has no transition and is not logged", file=sys.stderr)
            continue
        episodes.append((seed, f"{args.policy}+noise{noise}", np.asarray(states), np.asarray(actions)))
    if not episodes:
        fail("no episode lasted two steps; nothing to log")
    write_dataset(args.out, fps, state_names, spec["names"], episodes, f"mujoco:{scenario['name']}")
    frames = sum(len(e[2]) for e in episodes)
    print(f"wrote {args.out}: {len(episodes)} episodes, {frames} frames (at most {horizon} each) at {fps} fps (MuJoCo {mujoco.__version__} "
          f"at {robot.model.opt.timestep * 1000:g} ms, "
          f"armature {pairs(args.armature, 'armature') or 'none'}, payload {payloads(args.payload) or 'the scenario' + chr(39) + 's'})")


if __name__ == "__main__":
    main()
