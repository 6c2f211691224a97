"""`dreamrig serve --transport rcl` against real ROS 2 nodes (rclpy, Kilted from the ros-* wheels).

Run by scripts/ros2-tests.sh, which sets up the ROS 2 environment (scripts/ros2-env.sh), builds
dreamrig with the `ros2` feature and passes its path in DREAMRIG_BIN. Every wait is on a condition
with a deadline, never on a sleep.
"""

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

# One DDS domain per test session, so that parallel runs on one machine do not see each other.
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)

import rclpy  # noqa: E402
from geometry_msgs.msg import Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState, LaserScan  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DREAMRIG = os.environ.get("DREAMRIG_BIN", str(REPO / "target/release/dreamrig"))
DEADLINE_S = 90.0


@pytest.fixture(scope="module", autouse=True)
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


class Serve:
    """`dreamrig serve SCENARIO --transport rcl --json ARGS`, stopped as Ctrl-C stops it."""

    def __init__(self, *args):
        self.process = subprocess.Popen(
            [DREAMRIG, "serve", *args, "--transport", "rcl", "--json"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=DEADLINE_S)
        assert self.process.returncode == 0, err
        return json.loads(out), err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def spin_until(node, condition, what, serve=None):
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if serve is not None and serve.process.poll() is not None:
            pytest.fail(f"serve exited while waiting for {what}: {serve.process.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in {DEADLINE_S} s")
        rclpy.spin_once(node, timeout_sec=0.05)


def test_an_rclpy_node_on_sim_time_reads_every_topic_and_drives_the_base():
    node = rclpy.create_node("checker", parameter_overrides=[Parameter("use_sim_time", value=True)])
    last = {}
    first = {}

    def keep(topic):
        def callback(message):
            first.setdefault(topic, message)
            last[topic] = message

        return callback

    # /clock is global to the domain, the rest in the robot's namespace.
    for topic, kind in [("/clock", Clock), ("/nav/joint_states", JointState), ("/nav/odom", Odometry), ("/nav/imu", Imu), ("/nav/scan", LaserScan)]:
        node.create_subscription(kind, topic, keep(topic.split("/")[-1]), 10)
    cmd_vel = node.create_publisher(Twist, "/nav/cmd_vel", 10)
    with Serve("diffdrive-nav", "--namespace", "/nav", "--command-timeout-ms", "2000") as serve:
        spin_until(node, lambda: len(last) == 5, "message on every topic", serve)
        spin_until(node, lambda: cmd_vel.get_subscription_count() > 0, "subscriber on /nav/cmd_vel", serve)
        spin_until(node, lambda: ("dreamrig", "/nav") in node.get_node_names_and_namespaces(), "the node in the graph", serve)
        # /tf and /tf_static through tf2_msgs built by scripts/ros2-env.sh; /tf_static latched.
        spin_until(node, lambda: node.get_publishers_info_by_topic("/nav/tf_static"), "publisher of /nav/tf_static", serve)
        (tf_static,) = node.get_publishers_info_by_topic("/nav/tf_static")
        assert tf_static.topic_type == "tf2_msgs/msg/TFMessage"
        assert tf_static.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
        spin_until(node, lambda: node.get_publishers_info_by_topic("/nav/tf"), "publisher of /nav/tf", serve)
        (tf,) = node.get_publishers_info_by_topic("/nav/tf")
        assert tf.topic_type == "tf2_msgs/msg/TFMessage" and tf.qos_profile.durability == DurabilityPolicy.VOLATILE

        # Contents, as a ROS 2 user reads them.
        joints = last["joint_states"]
        assert list(joints.name) == ["left_wheel_joint", "right_wheel_joint"]
        assert len(joints.position) == 2 and len(joints.velocity) == 2
        scan = last["scan"]
        assert len(scan.ranges) == 180 and scan.header.frame_id == "lidar_frame"
        assert math.isclose(scan.angle_min, -math.pi, rel_tol=1e-6)
        assert 0.0 < min(r for r in scan.ranges if math.isfinite(r)) <= scan.range_max
        odom = last["odom"]
        assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
        assert last["imu"].header.frame_id == "base_link"
        assert abs(last["imu"].linear_acceleration.z - 9.81) < 1.0, "at rest the IMU reads gravity"

        # use_sim_time: the node's clock is the simulation's /clock, not the wall clock.
        spin_until(node, lambda: node.get_clock().now().nanoseconds > 0, "simulated time on the node's clock", serve)
        sim_now = node.get_clock().now().nanoseconds * 1e-9
        assert sim_now < 3600.0, f"the node's clock reads {sim_now} s: wall time, not /clock"
        stamp = last["joint_states"].header.stamp
        assert stamp.sec + stamp.nanosec * 1e-9 < 3600.0

        # A NaN command is counted as malformed and ignored; the session goes on.
        broken = Twist()
        broken.linear.x = float("nan")
        cmd_vel.publish(broken)

        # Drive: 0.5 m/s forward until odometry has moved 0.5 m.
        start = last["odom"].pose.pose.position.x
        forward = Twist()
        forward.linear.x = 0.5

        def moved():
            cmd_vel.publish(forward)
            return last["odom"].pose.pose.position.x - start > 0.5

        spin_until(node, moved, "0.5 m of forward motion", serve)
        report, log = serve.stop()
    assert report["malformed_commands"] == 1, log
    assert report["commands"] >= 1
    for topic in ["/clock", "/nav/joint_states", "/nav/odom", "/nav/imu", "/nav/scan", "/nav/tf", "/nav/tf_static"]:
        assert report["published"][topic] > 0, report
    node.destroy_node()


def test_an_rclpy_node_sees_a_camera_as_image_and_camera_info_in_its_optical_frame():
    node = rclpy.create_node("viewer")
    last = {}
    node.create_subscription(Image, "/top/image_raw", lambda m: last.__setitem__("image", m), 10)
    node.create_subscription(CameraInfo, "/top/camera_info", lambda m: last.__setitem__("info", m), 10)
    with Serve("pusher-camera") as serve:
        spin_until(node, lambda: len(last) == 2, "an image and its camera info", serve)
        report, log = serve.stop()
    image, info = last["image"], last["info"]
    assert (image.encoding, image.width, image.height, image.step) == ("rgb8", 64, 64, 192)
    assert image.header.frame_id == info.header.frame_id == "top_optical_frame"
    pixels = np.frombuffer(bytes(image.data), dtype=np.uint8).reshape(64, 64, 3).astype(int)
    assert ((pixels[..., 0] - pixels[..., 1:].max(-1)) > 80).sum() > 4, "the red box is in view"
    # 60° vertical field of view on 64 rows: f = 32 / tan(30°), principal point at the centre.
    focal = 32 / math.tan(math.radians(30))
    assert np.allclose(info.k, [focal, 0, 31.5, 0, focal, 31.5, 0, 0, 1])
    assert (info.width, info.height, info.distortion_model) == (64, 64, "plumb_bob")
    assert report["published"]["/top/image_raw"] > 0, log
    node.destroy_node()


def test_in_lock_step_through_rcl_n_commands_are_n_steps():
    node = rclpy.create_node("stepper")
    clocks = []
    node.create_subscription(Clock, "/clock", lambda m: clocks.append(m.clock.sec + m.clock.nanosec * 1e-9), 10)
    commands = node.create_publisher(
        Float64MultiArray, "/cart/joint_commands", QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    )
    with Serve("cartpole-balance", "--namespace", "/cart", "--lockstep") as serve:
        spin_until(node, lambda: commands.get_subscription_count() > 0, "subscriber on /cart/joint_commands", serve)
        # One command, and its step's /clock: the way from dreamrig's /clock to this node is open.
        commands.publish(Float64MultiArray(data=[5.0]))
        spin_until(node, lambda: clocks and clocks[-1] >= 0.02 - 1e-9, "the first step's /clock", serve)
        # Then a burst, far faster than the world steps: every command is one step.
        for i in range(49):
            commands.publish(Float64MultiArray(data=[-5.0 if i % 2 == 0 else 5.0]))
        spin_until(node, lambda: clocks and clocks[-1] >= 1.0 - 1e-9, "50 steps of 20 ms on /clock", serve)
        report, log = serve.stop()
    assert report["steps"] == 50, (report, log)
    assert report["commands"] == 50
    assert report["dropped_commands"] == 0 and report["pending_commands"] == 0
    assert abs(clocks[-1] - 1.0) < 1e-9
    node.destroy_node()


def test_the_tf2_msgs_built_from_the_wheels_generators_has_the_published_type_hash():
    # ROS 2's own tf2_msgs/msg/TFMessage (REP-2011 RIHS01), as dreamrig's Zenoh keys carry it.
    description = json.loads((Path(os.environ["AMENT_PREFIX_PATH"]) / "share/tf2_msgs/msg/TFMessage.json").read_text())
    hashes = {h["type_name"]: h["hash_string"] for h in description["type_hashes"]}
    assert hashes["tf2_msgs/msg/TFMessage"] == "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"


def test_without_a_ros_prefix_rcl_says_which_script_sets_it_up():
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    done = subprocess.run(
        [DREAMRIG, "serve", "cartpole-balance", "--transport", "rcl"], cwd=REPO, env=env, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert done.returncode == 2, done.stderr
    assert "AMENT_PREFIX_PATH is not set" in done.stderr and "scripts/ros2-env.sh" in done.stderr


def test_zenoh_only_flags_are_refused_with_rcl_rather_than_ignored():
    # The default endpoint too: given explicitly, it is a Zenoh setting rcl would ignore.
    for flag in (["--router", "tcp/127.0.0.1:7447"], ["--key-mapping", "ros2dds"]):
        done = subprocess.run(
            [DREAMRIG, "serve", "cartpole-balance", "--transport", "rcl", *flag], cwd=REPO, capture_output=True, text=True, timeout=DEADLINE_S
        )
        assert done.returncode == 2, done.stderr
        assert "are for the Zenoh transport" in done.stderr
