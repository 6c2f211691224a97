"""Benchmarks of `dreamrig serve --transport rcl`, measured from the other side with rclpy.

  serve:    for each (scenario, real-time factor), runs the serve and an rclpy subscriber on the
            same machine; reports the rate received and the latency of /joint_states and /scan
            (the subscriber's receive time minus the sample's source timestamp, both from the RMW).
  unpaced:  the real-time factor each scenario reaches unpaced, publishing through rcl.
  lockstep: commands per second an rclpy controller gets through in lock step, waiting for each
            step's /clock before sending the next command (a full round trip per step).

Usage: python scripts/bench_ros2.py DREAMRIG_BINARY. Prints JSON. Run it through
scripts/bench-ros2.sh, which sets up ROS 2 and builds the binary first.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))

import rclpy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState, LaserScan  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from bench_stats import rate_and_latency  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def spin_until(node, condition, deadline_s=60.0):
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        rclpy.spin_once(node, timeout_sec=0.01)


def measure_serve(binary, scenario, rate, seconds=6.0):
    serve = subprocess.Popen([binary, "serve", scenario, "--transport", "rcl", "--rate", str(rate), "--json"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    node = rclpy.create_node("bench")
    samples = {"/joint_states": [], "/scan": []}

    def on(topic):
        def callback(message, info):
            samples[topic].append((info["received_timestamp"], info["received_timestamp"] - info["source_timestamp"]))
        return callback

    subs = [node.create_subscription(JointState, "/joint_states", on("/joint_states"), 100),
            node.create_subscription(LaserScan, "/scan", on("/scan"), 100)]
    spin_until(node, lambda: samples["/joint_states"])
    for s in samples.values():
        s.clear()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.01)
    result = {"scenario": scenario, "rate": rate}
    for topic, s in samples.items():
        if len(s) < 2:
            continue
        result[topic] = rate_and_latency(s)
    for sub in subs:
        node.destroy_subscription(sub)
    node.destroy_node()
    serve.send_signal(signal.SIGINT)
    report = json.loads(serve.communicate(timeout=60)[0])
    result["real_time_factor"] = round(report["real_time_factor"], 3)
    return result


def unpaced(binary, scenario, steps=3000):
    out = subprocess.run([binary, "serve", scenario, "--transport", "rcl", "--unpaced", "--steps", str(steps), "--json"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    return {"scenario": scenario, "steps": steps, "real_time_factor": round(report["real_time_factor"], 2),
            "steps_per_s": round(report["steps"] / report["wall_s"], 1)}


def lockstep(binary, steps=500):
    serve = subprocess.Popen([binary, "serve", "cartpole-balance", "--transport", "rcl", "--lockstep", "--json"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    node = rclpy.create_node("stepper")
    clocks = []
    node.create_subscription(Clock, "/clock", lambda m: clocks.append(m.clock.sec * 10**9 + m.clock.nanosec), 10)
    commands = node.create_publisher(Float64MultiArray, "/joint_commands", 10)
    spin_until(node, lambda: commands.get_subscription_count() > 0)
    commands.publish(Float64MultiArray(data=[0.0]))
    spin_until(node, lambda: clocks and clocks[-1] > 0)
    started, first = time.monotonic(), clocks[-1]
    for i in range(steps):
        target = first + (i + 1) * 20_000_000
        commands.publish(Float64MultiArray(data=[0.0]))
        spin_until(node, lambda: clocks[-1] >= target)
    wall = time.monotonic() - started
    node.destroy_node()
    serve.send_signal(signal.SIGINT)
    serve.communicate(timeout=60)
    return {"scenario": "cartpole-balance", "steps": steps, "round_trips_per_s": round(steps / wall, 1),
            "round_trip_ms": round(1000 * wall / steps, 3)}


def main():
    binary = sys.argv[1]
    rclpy.init()
    out = {
        "serve": [measure_serve(binary, "cartpole-balance", 20), measure_serve(binary, "tests/fixtures/serve-diffbot.yaml", 1),
                  measure_serve(binary, "tests/fixtures/serve-diffbot.yaml", 4)],
        "unpaced": [unpaced(binary, s) for s in ["cartpole-balance", "reacher-2link", "arm7-reach", "diffdrive-nav", "pusher"]],
        "lockstep": lockstep(binary),
    }
    rclpy.shutdown()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
