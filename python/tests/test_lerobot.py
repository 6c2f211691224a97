"""dreamrig worlds as LeRobot sees them, with the real lerobot package (tested with 0.4.4).

These run where lerobot is installed: scripts/lerobot-example.sh creates that environment and
runs them (CI does). In the project's own environment, which has no PyTorch, they are skipped;
test_lerobot_env.py checks the environment itself there.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("lerobot", reason="lerobot is not installed here (scripts/lerobot-example.sh runs these)")

from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from lerobot.datasets.utils import dataset_to_policy_features  # noqa: E402
from lerobot.envs.factory import make_env  # noqa: E402
from lerobot.envs.utils import add_envs_task, env_to_policy_features, preprocess_observation  # noqa: E402

import dreamrig  # noqa: E402
import dreamrig.lerobot  # noqa: E402
from dreamrig.lerobot import ENV_ID, DreamrigEnvConfig  # noqa: E402

SCENARIO = "reacher-2link"


@pytest.fixture(scope="module")
def dataset(cli, tmp_path_factory):
    """3 controller episodes of the reacher, written by `dreamrig dataset generate`, read by lerobot."""
    root = tmp_path_factory.mktemp("lerobot") / "reacher"
    out = cli("dataset", "generate", SCENARIO, "--policy", "auto", "--episodes", "3", "--seed", "5", "--out", root)
    assert out.returncode == 0, out.stderr
    return LeRobotDataset("dreamrig/reacher-2link", root=root)


def test_the_env_shows_a_policy_what_the_dataset_trained_it_on(dataset):
    env = gym.make(ENV_ID, scenario=SCENARIO)
    assert env.metadata["render_fps"] == dataset.meta.fps
    seeds = dataset.meta.episodes["dreamrig/seed"]
    for episode, seed in enumerate(seeds):
        start = dataset.meta.episodes["dataset_from_index"][episode]
        end = dataset.meta.episodes["dataset_to_index"][episode]
        observation, _ = env.reset(seed=int(seed))
        for index in range(start, end):
            frame = dataset[index]
            state = frame["observation.state"].numpy()
            environment_state = frame["observation.environment_state"].numpy()
            if index == start:
                # The episode's first frame is the reset: the same float32 values, bit for bit.
                np.testing.assert_array_equal(observation["agent_pos"], state)
                np.testing.assert_array_equal(observation["environment_state"], environment_state)
            else:
                # Later frames follow the float32 actions the dataset stores (the controller acted
                # in float64), so they agree to the rounding those actions carry.
                np.testing.assert_allclose(observation["agent_pos"], state, rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(observation["environment_state"], environment_state, rtol=1e-4, atol=1e-4)
            observation, _, terminated, truncated, info = env.step(frame["action"].numpy())
        assert terminated or truncated, f"episode {episode} did not end where the dataset's does"
        assert info["is_success"] == bool(dataset.meta.episodes["dreamrig/success"][episode])


def test_lerobot_builds_vector_envs_whose_features_match_the_dataset(dataset):
    config = DreamrigEnvConfig(task=SCENARIO)
    from_env = env_to_policy_features(config)
    from_dataset = dataset_to_policy_features(dataset.meta.features)
    for key in ["observation.state", "observation.environment_state", "action"]:
        assert from_env[key].shape == from_dataset[key].shape, key
        assert from_env[key].type == from_dataset[key].type, key
    assert config.fps == dataset.meta.fps
    envs = make_env(config, n_envs=2)
    env = envs["dreamrig"][0]
    observation, _ = env.reset(seed=[1, 2])
    batch = preprocess_observation(observation)
    assert tuple(batch["observation.state"].shape) == (2, *from_dataset["observation.state"].shape)
    assert tuple(batch["observation.environment_state"].shape) == (2, *from_dataset["observation.environment_state"].shape)
    assert env.call("_max_episode_steps")[0] == dreamrig.Worlds(SCENARIO).max_episode_steps
    # The task string a language-conditioned policy gets is the dataset's.
    assert add_envs_task(env, batch)["task"] == [dataset.meta.tasks.index[0]] * 2
    env.close()


def test_lerobot_maps_a_camera_to_the_datasets_image_feature(cli, tmp_path):
    root = tmp_path / "pusher-camera"
    assert cli("dataset", "generate", "pusher-camera", "--episodes", "1", "--out", root).returncode == 0
    dataset = LeRobotDataset("dreamrig/pusher-camera", root=root, video_backend="pyav")
    config = DreamrigEnvConfig(task="pusher-camera")
    from_env = env_to_policy_features(config)
    from_dataset = dataset_to_policy_features(dataset.meta.features)
    image = "observation.images.top"
    assert from_env[image].type == from_dataset[image].type and from_env[image].shape == from_dataset[image].shape == (3, 64, 64)
    envs = make_env(config, n_envs=2)
    env = envs["dreamrig"][0]
    observation, _ = env.reset(seed=[1, 2])
    batch = preprocess_observation(observation)
    assert tuple(batch[image].shape) == (2, 3, 64, 64) and float(batch[image].max()) <= 1.0
    frames = env.call("render")
    assert len(frames) == 2 and frames[0].shape == (64, 64, 3)
    env.close()


def test_lerobot_command_lines_find_the_dreamrig_env_type():
    # A fresh interpreter that imports nothing of dreamrig: lerobot's plugin discovery must.
    script = (
        "import sys\n"
        "from lerobot.configs import parser\n"
        "from lerobot.configs.eval import EvalPipelineConfig\n"
        "def configured(cfg):\n"
        "    return cfg\n"
        "configured.__annotations__ = {'cfg': EvalPipelineConfig}\n"
        "sys.argv = ['lerobot-eval', '--env.discover_packages_path=dreamrig.lerobot', '--env.type=dreamrig',"
        f" '--env.task={SCENARIO}']\n"
        "cfg = parser.wrap()(configured)()\n"
        "print(type(cfg.env).__name__, cfg.env.task, cfg.env.fps, cfg.env.episode_length)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    horizon = dreamrig.Worlds(SCENARIO).max_episode_steps
    assert out.stdout.split() == ["DreamrigEnvConfig", SCENARIO, "50", str(horizon)]


def test_importing_dreamrig_lerobot_registers_the_env_type():
    from lerobot.envs.configs import EnvConfig

    assert "dreamrig" in EnvConfig.get_known_choices()


def test_a_config_that_disagrees_with_the_scenario_is_refused():
    with pytest.raises(ValueError, match="runs at 50 Hz, got 30"):
        DreamrigEnvConfig(task=SCENARIO, fps=30)
    with pytest.raises(dreamrig.ScenarioError, match="no-such-scenario"):
        DreamrigEnvConfig(task="no-such-scenario")
    with pytest.raises(ValueError, match="env.task: expected a dreamrig scenario"):
        DreamrigEnvConfig()
    with pytest.raises(ValueError, match="env.disable_env_checker"):
        DreamrigEnvConfig(task=SCENARIO, disable_env_checker=False)


def test_dreamrig_reads_a_dataset_lerobot_wrote(cli, tmp_path):
    # LeRobotDataset.create → add_frame → save_episode → finalize, as a lerobot user records one:
    # the task strings are the pandas index of meta/tasks.parquet, episodes carry stats columns.
    root = tmp_path / "written-by-lerobot"
    features = {
        "observation.state": {"dtype": "float32", "shape": (4,), "names": ["q0", "q1", "v0", "v1"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["tau0", "tau1"]},
    }
    written = LeRobotDataset.create("me/toy", fps=50, root=root, features=features, use_videos=False, robot_type="toy")
    rng = np.random.default_rng(0)
    for episode in range(3):
        for _ in range(10 + episode):
            written.add_frame(
                {
                    "observation.state": rng.normal(size=4).astype(np.float32),
                    "action": rng.normal(size=2).astype(np.float32),
                    "task": f"task {episode % 2}",
                }
            )
        written.save_episode()
    written.finalize()
    validated = cli("dataset", "validate", root)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    info = cli("dataset", "info", root)
    assert info.returncode == 0, info.stdout + info.stderr
    assert "3 episodes, 33 frames at 50 fps" in info.stdout
    assert "tasks: task 0 | task 1" in info.stdout


def test_dreamrig_validates_the_videos_of_a_dataset_lerobot_wrote(cli, tmp_path):
    root = tmp_path / "with-video"
    features = {
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["q0", "q1"]},
        "observation.images.front": {"dtype": "video", "shape": (32, 48, 3), "names": ["height", "width", "channels"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["tau0", "tau1"]},
    }
    written = LeRobotDataset.create("me/video", fps=10, root=root, features=features, use_videos=True, robot_type="toy")
    rng = np.random.default_rng(1)
    for _ in range(2):
        for _ in range(8):
            written.add_frame(
                {
                    "observation.state": rng.normal(size=2).astype(np.float32),
                    "observation.images.front": rng.integers(0, 255, (32, 48, 3), dtype=np.uint8),
                    "action": rng.normal(size=2).astype(np.float32),
                    "task": "look",
                }
            )
        written.save_episode()
    written.finalize()
    validated = cli("dataset", "validate", root)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    info = cli("dataset", "info", root)
    assert "observation.images.front" in info.stdout and "video" in info.stdout, info.stdout
    # A dataset whose video went missing is invalid, and says which file.
    videos = sorted(root.glob("videos/observation.images.front/*/*.mp4"))
    assert videos
    videos[0].unlink()
    broken = cli("dataset", "validate", root)
    assert broken.returncode != 0
    assert "video observation.images.front points at" in broken.stdout + broken.stderr
    assert "does not exist" in broken.stdout + broken.stderr


def test_lerobot_decodes_the_camera_video_dreamrig_wrote_as_the_frames_it_rendered(cli, tmp_path):
    # pusher-camera's 64x64 overhead camera becomes the video feature observation.images.top.
    # torchcodec (lerobot's default video backend) needs FFmpeg's shared libraries installed
    # system-wide; pyav brings its own, so it is the backend this test (and the docs) use.
    root = tmp_path / "pusher-camera"
    out = cli("dataset", "generate", "pusher-camera", "--policy", "auto", "--episodes", "3", "--seed", "5", "--out", root)
    assert out.returncode == 0, out.stderr
    dataset = LeRobotDataset("dreamrig/pusher-camera", root=root, video_backend="pyav")
    feature = dataset.meta.features["observation.images.top"]
    assert feature["dtype"] == "video" and tuple(feature["shape"]) == (64, 64, 3)
    assert feature["info"]["video.codec"] == "h264"
    assert np.asarray(dataset.meta.stats["observation.images.top"]["mean"]).shape == (3, 1, 1)
    # Replay each episode with the same controller and seed: the frames dreamrig rendered.
    envs = dreamrig.make_vec("pusher-camera", num_envs=1)
    policy = dreamrig.BuiltinPolicy("auto", "pusher-camera")
    errors = []
    for episode, seed in enumerate(dataset.meta.episodes["dreamrig/seed"]):
        start = dataset.meta.episodes["dataset_from_index"][episode]
        end = dataset.meta.episodes["dataset_to_index"][episode]
        observation, _ = envs.reset(seed=[int(seed)])
        policy.reset([int(seed)])
        for index in range(start, end):
            frame = dataset[index]
            rendered = observation["top.rgb"][0].astype(np.float64) / 255  # (H, W, 3)
            decoded = frame["observation.images.top"].numpy().transpose(1, 2, 0).astype(np.float64)  # (C, H, W) -> (H, W, C)
            assert decoded.shape == rendered.shape
            errors.append(float(((decoded - rendered) ** 2).mean()))
            observation, *_ = envs.step(policy(observation))
    assert len(errors) == dataset.meta.total_frames
    # PSNR of the whole sequence (mean squared error over every frame), as codecs are compared.
    # At 64x64 the yuv420p colour subsampling of LeRobot's video format dominates the error:
    # lerobot's own encoder (libsvtav1, crf 30) gives 36.3 dB on such frames, 33.8 dB at worst.
    sequence = 10 * np.log10(1 / np.mean(errors))
    worst = 10 * np.log10(1 / max(errors))
    assert sequence >= 35, f"sequence PSNR {sequence:.1f} dB"
    assert worst >= 30, f"worst frame {worst:.1f} dB"


ARM_JOINTS = [f"joint{i}" for i in range(1, 8)]


def record_joint_log(source, root, action_names, with_gripper):
    """Re-records `source` (a dreamrig arm7-reach dataset) as a real arm's log, with lerobot's own
    writer: joint positions only, in degrees, named as LeRobot robots name them (`joint1.pos`),
    commands in degrees, and optionally a gripper command the scenario has no actuator for."""
    state_names = [f"{j}.pos" for j in ARM_JOINTS]
    names = action_names + (["gripper.pos"] if with_gripper else [])
    features = {
        "observation.state": {"dtype": "float32", "shape": (7,), "names": state_names},
        "action": {"dtype": "float32", "shape": (len(names),), "names": names},
    }
    log = LeRobotDataset.create("me/arm-log", fps=source.meta.fps, root=root, features=features, use_videos=False, robot_type="arm7")
    episodes = source.meta.episodes
    for e in range(len(episodes["episode_index"])):
        for index in range(episodes["dataset_from_index"][e], episodes["dataset_to_index"][e]):
            frame = source[index]
            positions = np.degrees(frame["observation.environment_state"].numpy()[:7])
            action = np.degrees(frame["action"].numpy())
            if with_gripper:
                action = np.append(action, 0.0)
            log.add_frame({"observation.state": positions.astype(np.float32), "action": action.astype(np.float32), "task": "reach"})
        log.save_episode()
    log.finalize()
    return root


def arm_demonstrations(cli, root, episodes, seed):
    """`episodes` episodes of arm7-reach's controller, written by `dreamrig dataset generate`, opened by lerobot."""
    out = cli("dataset", "generate", "arm7-reach", "--policy", "auto", "--episodes", str(episodes), "--seed", str(seed), "--out", root)
    assert out.returncode == 0, out.stderr
    return LeRobotDataset("dreamrig/arm7-reach", root=root)


def test_a_joint_position_log_lerobot_wrote_trains_a_world_model_through_a_map(cli, tmp_path):
    # The "real arm" is dreamrig's arm7-reach; its log, written by lerobot, holds what a real
    # arm records: positions in degrees, no velocities, no dreamrig columns, an extra gripper.
    full = tmp_path / "full"
    source = arm_demonstrations(cli, full, 6, 3)
    log = record_joint_log(source, tmp_path / "log", [f"{j}.pos" for j in ARM_JOINTS], with_gripper=True)
    model = tmp_path / "model.json"
    train = ["wm", "train", "--dataset", log, "--scenario", "arm7-reach", "--kind", "hybrid", "--prior", "nominal"]
    train += ["--ensemble", "1", "--epochs", "1", "--out", model]

    # The gripper command drives nothing in the scenario: refused until a map says to ignore it.
    refused = cli(*train)
    assert refused.returncode == 2 and "gripper.pos drive nothing" in refused.stderr, refused.stderr
    mapping = tmp_path / "map.yaml"
    mapping.write_text("action:\n  ignore: [gripper.pos]\n")
    # Degrees read as radians would put the arm far outside its joint limits: refused.
    refused = cli(*train, "--map", mapping)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "outside its limits" in refused.stderr and "degrees" in refused.stderr, refused.stderr
    assert not model.exists()

    scale = float(np.pi / 180)
    lines = ["state:", "  positions:"]
    lines += [f"    {j}: {{element: {j}.pos, scale: {scale!r}}}" for j in ARM_JOINTS]
    lines += ["action:", "  ignore: [gripper.pos]", "  elements:"]
    lines += [f"    {j}.position: {{element: {j}.pos, scale: {scale!r}}}" for j in ARM_JOINTS]
    mapping.write_text("\n".join(lines) + "\n")
    trained = cli(*train, "--map", mapping)
    assert trained.returncode == 0, trained.stderr
    assert "velocity ← estimated from positions (second-order backward difference)" in trained.stderr, trained.stderr
    assert "no dreamrig/seed" in trained.stderr, trained.stderr

    # The physics is the arm's own (but for arm7-reach's ±10% actuator gain, drawn per episode,
    # which the full-state dataset shows too), so the rest of the physics' error on the log is
    # that of the velocities estimated from 50 fps positions.
    def physics_error(dataset, *extra):
        report = tmp_path / f"eval-{dataset.name}.json"
        evaluated = cli("wm", "eval", "--model", model, "--dataset", dataset, "--horizons", "1,10", "--json", report, *extra)
        assert evaluated.returncode == 0, evaluated.stderr
        return json.loads(report.read_text())["physics_error"]["horizons"]

    from_log, from_full = physics_error(log, "--map", mapping), physics_error(full)
    print("physics error from the joint log", [h["overall"] for h in from_log], "from the full state", [h["overall"] for h in from_full])
    # Positions a step ahead: within 10% of their spread (a unit or joint mixed up would be far off).
    assert max(from_log[0]["per_dimension"][:7]) < 0.1, from_log[0]["per_dimension"]
    # Velocities estimated from 50 fps positions of a stiff servo are the error's bulk, and bounded.
    assert from_log[0]["overall"] < 0.35 and from_log[1]["overall"] < 0.2, from_log
    assert from_full[0]["overall"] < 0.05, from_full


def test_a_log_of_other_commands_than_the_scenarios_actuators_take_is_refused(cli, tmp_path):
    source = arm_demonstrations(cli, tmp_path / "full", 2, 4)
    # Logged as torques: arm7-reach's actuators take position targets.
    log = record_joint_log(source, tmp_path / "log", [f"{j}.effort" for j in ARM_JOINTS], with_gripper=False)
    refused = cli("wm", "train", "--dataset", log, "--scenario", "arm7-reach", "--kind", "learned", "--out", tmp_path / "m.json")
    assert refused.returncode == 2, refused.stderr
    assert "joint1.effort is an effort (torque or force) command" in refused.stderr, refused.stderr
    assert "drives joint joint1 with a position command (action joint1.position)" in refused.stderr, refused.stderr


def write_arm_bag(path, states, actions, drop=()):
    """One episode of arm7-reach as a real arm's rosbag2 (MCAP storage), written by rosbags:
    /joint_states (positions only) every 20 ms from t = 100 s, and the forward position
    controller's /arm_controller/commands (Float64MultiArray) 1 ms after each state. Joint
    states at the indices in `drop` are left out (a gap)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    JointState, Header, Time = (store.types[t] for t in ["sensor_msgs/msg/JointState", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"])
    Array, Layout = store.types["std_msgs/msg/Float64MultiArray"], store.types["std_msgs/msg/MultiArrayLayout"]
    empty = np.zeros(0, dtype=np.float64)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as bag:
        joints = bag.add_connection("/joint_states", JointState.__msgtype__, typestore=store)
        commands = bag.add_connection("/arm_controller/commands", Array.__msgtype__, typestore=store)
        for k, (state, action) in enumerate(zip(states, actions)):
            t = 100_000_000_000 + k * 20_000_000
            if k not in drop:
                message = JointState(header=Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id=""), name=ARM_JOINTS,
                                     position=np.asarray(state[:7], dtype=np.float64), velocity=empty, effort=empty)
                bag.write(joints, t, store.serialize_cdr(message, JointState.__msgtype__))
            command = Array(layout=Layout(dim=[], data_offset=0), data=np.asarray(action, dtype=np.float64))
            bag.write(commands, t + 1_000_000, store.serialize_cdr(command, Array.__msgtype__))


def rosbag_to_lerobot(*args):
    script = Path(__file__).resolve().parents[2] / "scripts/rosbag_to_lerobot.py"
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True)


def test_ros2_bags_of_joint_states_and_commands_become_a_log_that_trains_a_world_model(cli, tmp_path):
    pytest.importorskip("rosbags", reason="rosbags is not installed here (scripts/lerobot-example.sh installs it)")
    full = tmp_path / "full"
    source = arm_demonstrations(cli, full, 3, 7)
    episodes = source.meta.episodes
    bags = []
    for e in range(len(episodes["episode_index"])):
        frames = [source[i] for i in range(episodes["dataset_from_index"][e], episodes["dataset_to_index"][e])]
        bags.append(tmp_path / f"bag{e}")
        write_arm_bag(bags[-1], [f["observation.environment_state"].numpy() for f in frames], [f["action"].numpy() for f in frames])
    log = tmp_path / "log"
    options = ["--fps", "50", "--command", "/arm_controller/commands", "--command-kind", "position", "--command-names", ",".join(ARM_JOINTS)]
    converted = rosbag_to_lerobot(*bags, "--out", log, *options)
    assert converted.returncode == 0, converted.stderr
    assert cli("dataset", "validate", log).returncode == 0

    # Frame for frame the episodes dreamrig logged: positions, and the command sent after each.
    read = LeRobotDataset("local/log", root=log)
    assert read.meta.features["observation.state"]["names"] == [f"{j}.pos" for j in ARM_JOINTS]
    assert read.meta.features["action"]["names"] == [f"{j}.pos" for j in ARM_JOINTS]
    assert read.num_frames == source.num_frames and read.num_episodes == source.num_episodes
    for i in range(read.num_frames):
        np.testing.assert_allclose(read[i]["observation.state"].numpy(), source[i]["observation.environment_state"].numpy()[:7], atol=1e-6)
        np.testing.assert_allclose(read[i]["action"].numpy(), source[i]["action"].numpy(), atol=1e-6)

    # wm train and wm eval read it by name: the arm's own physics predicts the positions a step ahead.
    model = tmp_path / "model.json"
    trained = cli("wm", "train", "--dataset", log, "--scenario", "arm7-reach", "--kind", "hybrid", "--prior", "nominal",
                  "--ensemble", "1", "--epochs", "1", "--out", model)
    assert trained.returncode == 0, trained.stderr
    report = tmp_path / "eval.json"
    evaluated = cli("wm", "eval", "--model", model, "--dataset", log, "--horizons", "1,10", "--json", report)
    assert evaluated.returncode == 0, evaluated.stderr
    horizons = json.loads(report.read_text())["physics_error"]["horizons"]
    assert max(horizons[0]["per_dimension"][:7]) < 0.1, horizons[0]["per_dimension"]

    # A bag with joint states missing is refused, naming the bag and the time.
    gap = tmp_path / "gap"
    frames = [source[i] for i in range(episodes["dataset_from_index"][0], episodes["dataset_to_index"][0])]
    write_arm_bag(gap, [f["observation.environment_state"].numpy() for f in frames], [f["action"].numpy() for f in frames], drop=range(10, 15))
    refused = rosbag_to_lerobot(gap, "--out", tmp_path / "gap-log", *options)
    assert refused.returncode == 2, refused.stderr
    assert f"{gap}: no joint state between 0.180 s into the bag (100.180 s) and 0.300 s into the bag (100.300 s)" in refused.stderr, refused.stderr
    assert not (tmp_path / "gap-log").exists()
    # A Float64MultiArray names no joints: the converter asks for them.
    refused = rosbag_to_lerobot(bags[0], "--out", tmp_path / "unnamed", *options[:6])
    assert refused.returncode == 2 and "pass --command-names" in refused.stderr, refused.stderr


def test_bag_joint_states_off_the_frame_grid_are_interpolated_and_commands_held(tmp_path):
    pytest.importorskip("rosbags", reason="rosbags is not installed here (scripts/lerobot-example.sh installs it)")
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    # Joint states at 100 Hz, 7 ms off a whole millisecond grid, on a linear motion q = 0.5 t
    # (so interpolation is exact), with velocities; effort commands as a JointState at 50 Hz
    # from 30 ms on, each 0.01 × its index (SQLite storage this time).
    store = get_typestore(Stores.ROS2_KILTED)
    JointState, Header, Time = (store.types[t] for t in ["sensor_msgs/msg/JointState", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"])
    empty = np.zeros(0, dtype=np.float64)
    base = 1_764_000_000_000_000_000  # a realistic clock: seconds since 1970, in ns
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        joints = writer.add_connection("/joint_states", JointState.__msgtype__, typestore=store)
        commands = writer.add_connection("/effort_commands", JointState.__msgtype__, typestore=store)
        for k in range(60):
            t = base + 7_000_000 + k * 10_000_000
            seconds = (t - base) * 1e-9
            message = JointState(header=Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id=""), name=["shoulder", "elbow"],
                                 position=np.array([0.5 * seconds, -0.5 * seconds]), velocity=np.array([0.5, -0.5]), effort=empty)
            writer.write(joints, t, store.serialize_cdr(message, JointState.__msgtype__))
        for c in range(30):
            t = base + 30_000_000 + c * 20_000_000
            command = JointState(header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""), name=["shoulder", "elbow"], position=empty,
                                 velocity=empty, effort=np.array([0.01 * c, -0.01 * c]))
            writer.write(commands, t, store.serialize_cdr(command, JointState.__msgtype__))
    out = tmp_path / "log"
    converted = rosbag_to_lerobot(bag, "--out", out, "--fps", "50", "--command", "/effort_commands", "--command-kind", "effort")
    assert converted.returncode == 0, converted.stderr
    read = LeRobotDataset("local/log", root=out)
    assert read.meta.features["observation.state"]["names"] == ["shoulder.pos", "elbow.pos", "shoulder.vel", "elbow.vel"]
    assert read.meta.features["action"]["names"] == ["shoulder.effort", "elbow.effort"]
    # The first frame is the first joint state with a command in effect at its mid-period:
    # commands start at 30 ms, so the state at 27 ms (its mid-period, 37 ms, follows 30 ms).
    t0 = 0.027
    for k in range(read.num_frames):
        t = t0 + 0.02 * k
        np.testing.assert_allclose(read[k]["observation.state"].numpy(), [0.5 * t, -0.5 * t, 0.5, -0.5], atol=1e-5)
        command = int(np.floor((t + 0.01 - 0.030) / 0.02 + 1e-9))  # the last command sent by mid-period
        np.testing.assert_allclose(read[k]["action"].numpy(), [0.01 * command, -0.01 * command], atol=1e-6)
    # States last until 597 ms: frames at 27 ms + 20 ms k up to 587 ms.
    assert read.num_frames == 29, read.num_frames


def test_lerobot_loads_a_v2_1_dataset_dreamrig_converted_with_the_same_frames_and_images(cli, tmp_path):
    # tests/fixtures/lerobot-v21 was written by lerobot 0.3.3 (scripts/lerobot_v21_fixture.py);
    # lerobot 0.4.4's own converter cannot run offline on a local folder (it calls snapshot_download).
    import glob

    import pandas as pd

    old = Path(__file__).resolve().parents[2] / "tests/fixtures/lerobot-v21"
    new = tmp_path / "v30"
    converted = cli("dataset", "convert", old, "--out", new)
    assert converted.returncode == 0, converted.stderr
    dataset = LeRobotDataset("dreamrig/v21-fixture", root=new, video_backend="pyav")
    assert len(dataset) == 36 and dataset.meta.total_episodes == 3
    logged = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(str(old / "data/*/*.parquet")))])
    for i in range(len(dataset)):
        frame = dataset[i]
        np.testing.assert_array_equal(frame["observation.state"].numpy(), logged.iloc[i]["observation.state"])
        np.testing.assert_array_equal(frame["action"].numpy(), logged.iloc[i]["action"])
        episode, t = int(frame["episode_index"]), int(frame["frame_index"])
        assert frame["task"] == ["reach the cube", "push the cube"][episode % 2]
        # The fixture's camera image: the first 6t columns lit at (40·episode + 60)/255.
        expected = np.zeros((64, 80), np.float32)
        expected[:, : (t * 6) % 80] = (40 * episode + 60) / 255
        image = frame["observation.images.front"].numpy()
        assert image.shape == (3, 64, 80)
        mse = float(((image.mean(0) - expected) ** 2).mean())
        assert 10 * np.log10(1 / max(mse, 1e-12)) >= 35, f"frame {i}: PSNR under 35 dB"
    assert np.asarray(dataset.meta.stats["observation.images.front"]["mean"]).shape == (3, 1, 1)
