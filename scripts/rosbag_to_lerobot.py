"""Converts ROS 2 bags of a robot's joint states and commands into a LeRobot v3.0 dataset that
`dreamrig wm train`, `wm eval` and `wm replay` read as a robot's own log.

    python scripts/rosbag_to_lerobot.py BAG [BAG ...] --out DATASET --fps 50 \\
        --command /arm_controller/commands --command-kind position [--command-names J1,J2,...] \\
        [--joint-states /joint_states] [--task TEXT] [--robot-type NAME]

Each BAG (a rosbag2 folder, MCAP or SQLite storage, or a single .mcap file) becomes one episode.
Reading is `rosbags` (`AnyReader`, the message types from the bag itself or ROS 2 Kilted's);
writing is lerobot's own `LeRobotDataset.create` → `add_frame` → `save_episode` → `finalize`.

Topics:
- `--joint-states` (default `/joint_states`): `sensor_msgs/msg/JointState`. Positions become
  `observation.state`, one element `J.pos` per joint in the first message's order; velocities
  (`J.vel`) too when every message has them, finite, otherwise dreamrig estimates them from
  positions (a note says so).
- `--command`: `std_msgs/msg/Float64MultiArray` (a ros2_control forward command controller: one
  value per joint in the controller's order, given by `--command-names`) or
  `sensor_msgs/msg/JointState` (names from the message; its `position`, `velocity` or `effort`
  field by `--command-kind`). Actions are named `J.pos`, `J.vel` or `J.effort` by
  `--command-kind`, so that dreamrig checks what they mean against the scenario's actuators.

Resampling to `--fps`, on the bag's receive times (the log time of each message, counted from
the bag's first message in integer nanoseconds; a `Float64MultiArray` has no header):
- frame k is at t0 + k/fps, t0 the first joint state at or after which a command is in effect
  within half a period; frames go on while joint states last;
- positions (and velocities) are interpolated linearly between the joint states around the frame
  time (continuous joints are expected unwrapped, as `joint_state_broadcaster` publishes them);
- the frame's action is the command in effect at mid-period, t + 1/(2 fps): the command the
  controller sent after reading the state, held until the next (what a forward controller does).

Refused, naming the bag and the time (into the bag, and absolute): a bag rosbags cannot read, a
topic that is missing or of another type, joint states
further apart than two frame periods around a frame (a gap), joint names that change, a command
of another length than its names, non-finite values. Exit code 2 for bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

COMMAND_SUFFIX = {"position": "pos", "velocity": "vel", "effort": "effort"}


class BagError(Exception):
    """Bad input: printed as `rosbag_to_lerobot.py: …` with exit code 2."""


def read_bag(path: Path, joint_topic: str, command_topic: str, command_kind: str, command_names: list[str] | None):
    """(joint names, joint times [N], positions [N, J], velocities [N, J] or None, command names,
    command times [M], commands [M, C]) of one bag, times in seconds of the bag's clock."""
    try:
        from rosbags.highlevel import AnyReader, AnyReaderError
        from rosbags.typesys import Stores, get_typestore
    except ImportError as e:
        raise BagError(f"rosbags is not installed here ({e}): pip install 'rosbags>=0.10,<0.12'") from e
    try:
        return read_messages(path, AnyReader, get_typestore(Stores.ROS2_KILTED), joint_topic, command_topic, command_kind, command_names)
    except (FileNotFoundError, AnyReaderError) as e:
        raise BagError(f"{path}: cannot be read as a ROS 2 bag: {e}") from e


def read_messages(path, AnyReader, typestore, joint_topic, command_topic, command_kind, command_names):
    """`read_bag`'s work, with rosbags' reader and type store given. Times are seconds since the
    bag's first message on either topic (`start`, integer nanoseconds, returned too), so that
    float seconds keep nanosecond resolution."""
    with AnyReader([path], default_typestore=typestore) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        for topic, allowed in [(joint_topic, ["sensor_msgs/msg/JointState"]),
                               (command_topic, ["std_msgs/msg/Float64MultiArray", "sensor_msgs/msg/JointState"])]:
            if topic not in topics:
                raise BagError(f"{path}: no topic {topic} (the bag has {', '.join(sorted(topics)) or 'no topics'})")
            if topics[topic] not in allowed:
                raise BagError(f"{path}: {topic} is {topics[topic]}, expected {' or '.join(allowed)}")
        joint_names, joint_times, positions, velocities = None, [], [], []
        names_out, command_times, commands = command_names, [], []
        connections = [c for c in reader.connections if c.topic in (joint_topic, command_topic)]
        start = None
        for connection, timestamp, raw in reader.messages(connections=connections):
            if start is None:
                start = timestamp
            t = (timestamp - start) * 1e-9
            message = reader.deserialize(raw, connection.msgtype)
            if connection.topic == joint_topic:
                names = list(message.name)
                if joint_names is None:
                    joint_names = names
                elif names != joint_names:
                    raise BagError(f"{path}: {joint_topic} at {t:.3f} s into the bag names joints {names}, the first message {joint_names}")
                q = np.asarray(message.position, dtype=float)
                if len(q) != len(names):
                    raise BagError(f"{path}: {joint_topic} at {t:.3f} s into the bag has {len(q)} positions for {len(names)} joints")
                v = np.asarray(message.velocity, dtype=float)
                joint_times.append(t)
                positions.append(q)
                velocities.append(v if len(v) == len(names) else None)
            if connection.topic == command_topic:
                if connection.msgtype == "sensor_msgs/msg/JointState":
                    names = list(message.name)
                    values = np.asarray(getattr(message, command_kind), dtype=float)
                    if names_out is None:
                        names_out = names
                    elif names != names_out:
                        raise BagError(f"{path}: {command_topic} at {t:.3f} s into the bag names joints {names}, expected {names_out}")
                else:
                    if names_out is None:
                        raise BagError(f"{path}: {command_topic} is a Float64MultiArray, which names no joints: pass --command-names")
                    values = np.asarray(message.data, dtype=float)
                if len(values) != len(names_out):
                    raise BagError(f"{path}: {command_topic} at {t:.3f} s into the bag holds {len(values)} {command_kind} values for "
                                   f"{len(names_out)} joints ({', '.join(names_out)})")
                command_times.append(t)
                commands.append(values)
    if not joint_times:
        raise BagError(f"{path}: no message on {joint_topic}")
    if not command_times:
        raise BagError(f"{path}: no message on {command_topic}")
    for what, times, values in [(joint_topic, joint_times, positions), (command_topic, command_times, commands)]:
        for t, v in zip(times, values):
            if not np.all(np.isfinite(v)):
                raise BagError(f"{path}: {what} at {t:.3f} s into the bag holds a non-finite value")
    # Velocities only when every message has all of them, finite (joint_state_broadcaster
    # publishes NaN for a joint without a velocity interface): otherwise dreamrig estimates them.
    with_velocities = all(v is not None and np.all(np.isfinite(v)) for v in velocities)
    if not with_velocities and any(v is not None for v in velocities):
        print(f"rosbag_to_lerobot.py: note: {path}: some {joint_topic} messages lack finite velocities; "
              "velocities are left to dreamrig to estimate from positions", file=sys.stderr)
    return (joint_names, np.asarray(joint_times), np.stack(positions), np.stack(velocities) if with_velocities else None,
            names_out, np.asarray(command_times), np.stack(commands), start)


def resample(path: Path, fps: int, joint_times, positions, velocities, command_times, commands, start_ns: int):
    """Frames at `fps`: (states [T, J or 2J], actions [T, C]); see the module docstring."""
    period = 1.0 / fps

    def when(t: float) -> str:
        return f"{t:.3f} s into the bag ({(start_ns * 1e-9 + t):.3f} s)"

    # The first joint state with a command in effect at its mid-period.
    first = int(np.searchsorted(joint_times, command_times[0] - period / 2, side="left"))
    if first >= len(joint_times):
        raise BagError(f"{path}: every joint state comes before the first command (at {when(command_times[0])})")
    t0 = joint_times[first]
    count = int(math.floor((joint_times[-1] - t0) / period + 1e-9)) + 1
    frame_times = t0 + period * np.arange(count)
    states, actions = [], []
    for k, t in enumerate(frame_times):
        after = int(np.searchsorted(joint_times, t, side="left"))
        if after < len(joint_times) and abs(joint_times[after] - t) < 1e-9:
            before = after
        else:
            before = after - 1
        if before < 0 or after >= len(joint_times):
            raise BagError(f"{path}: no joint state around {when(t)} (frame {k})")
        if joint_times[after] - joint_times[before] > 2 * period + 1e-9:
            raise BagError(f"{path}: no joint state between {when(joint_times[before])} and {when(joint_times[after])} "
                           f"(frame {k}; a gap of {(joint_times[after] - joint_times[before]) * fps:.1f} frames at {fps} fps)")
        w = 0.0 if after == before else (t - joint_times[before]) / (joint_times[after] - joint_times[before])
        state = (1 - w) * positions[before] + w * positions[after]
        if velocities is not None:
            state = np.concatenate([state, (1 - w) * velocities[before] + w * velocities[after]])
        command = int(np.searchsorted(command_times, t + period / 2, side="right")) - 1
        states.append(state)
        actions.append(commands[command])
    return np.stack(states), np.stack(actions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bags", nargs="+", type=Path, metavar="BAG")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--fps", required=True, type=int, help="frames per second: the scenario's control rate")
    parser.add_argument("--joint-states", default="/joint_states")
    parser.add_argument("--command", required=True, help="the command topic")
    parser.add_argument("--command-kind", required=True, choices=sorted(COMMAND_SUFFIX), help="what the commands are")
    parser.add_argument("--command-names", help="comma-separated joint names of a Float64MultiArray command, in its order")
    parser.add_argument("--task", default="rosbag")
    parser.add_argument("--robot-type", default="robot")
    args = parser.parse_args()
    try:
        if args.fps <= 0:
            raise BagError(f"--fps {args.fps}: expected a positive number of frames per second")
        if args.out.exists():
            raise BagError(f"--out {args.out} exists; choose a new folder")
        command_names = [n.strip() for n in args.command_names.split(",")] if args.command_names else None
        if command_names is not None and (any(not n for n in command_names) or len(set(command_names)) != len(command_names)):
            raise BagError(f"--command-names {args.command_names!r}: expected distinct, non-empty joint names separated by commas")
        episodes, layout = [], None
        for bag in args.bags:
            joints, joint_times, positions, velocities, names, command_times, commands, start = read_bag(
                bag, args.joint_states, args.command, args.command_kind, command_names)
            state_names = [f"{j}.pos" for j in joints] + ([f"{j}.vel" for j in joints] if velocities is not None else [])
            action_names = [f"{j}.{COMMAND_SUFFIX[args.command_kind]}" for j in names]
            if layout is None:
                layout = (state_names, action_names)
            elif layout != (state_names, action_names):
                raise BagError(f"{bag}: logs {state_names} and commands {action_names}, the first bag {layout[0]} and {layout[1]}")
            episodes.append(resample(bag, args.fps, joint_times, positions, velocities, command_times, commands, start))
    except BagError as e:
        print(f"rosbag_to_lerobot.py: {e}", file=sys.stderr)
        sys.exit(2)

    try:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset
    except ImportError as e:
        print(f"rosbag_to_lerobot.py: lerobot is not installed here ({e}); scripts/lerobot-example.sh makes an environment with it",
              file=sys.stderr)
        sys.exit(2)

    state_names, action_names = layout
    features = {
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": state_names},
        "action": {"dtype": "float32", "shape": (len(action_names),), "names": action_names},
    }
    dataset = LeRobotDataset.create(f"local/{args.out.name}", fps=args.fps, root=args.out, features=features,
                                    use_videos=False, robot_type=args.robot_type)
    for states, actions in episodes:
        for state, action in zip(states, actions):
            dataset.add_frame({"observation.state": state.astype(np.float32), "action": action.astype(np.float32), "task": args.task})
        dataset.save_episode()
    dataset.finalize()
    frames = sum(len(s) for s, _ in episodes)
    print(f"wrote {args.out}: {len(episodes)} episodes, {frames} frames at {args.fps} fps; "
          f"observation.state [{', '.join(state_names)}], action [{', '.join(action_names)}]")


if __name__ == "__main__":
    main()
