"""Benchmarks of the bridges, measured from the other side with the real Python clients.

  serve:  for each (scenario, real-time factor), runs `dreamrig serve` and a Python
          eclipse-zenoh subscriber on loopback; reports the publish rate received and the
          end-to-end latency (simulation step -> Python callback, from the source timestamp in
          the rmw_zenoh attachment) of /joint_states and /scan; then the real-time factor each
          scenario reaches unpaced.
  remote: evaluates the cart-pole with the Python example policy server, batched (one query
          per step for 64 episodes) and unbatched (one query per episode step), against the
          same policy in Rust.

Usage: python scripts/bench_bridges.py DREAMRIG_BINARY [serve|remote|all]
Prints JSON. Run it through scripts/bench-bridges.sh, which builds the binary and the
Python environment first.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_stats import rate_and_latency

import zenoh
from rosbags.typesys import Stores, get_typestore

STORE = get_typestore(Stores.ROS2_JAZZY)
REPO = Path(__file__).resolve().parent.parent


def free_endpoint():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"tcp/127.0.0.1:{port}"


def key(topic, type_name):
    package, _, name = type_name.split("/")
    return f"0/{topic.strip('/')}/{package}::msg::dds_::{name}_/{STORE.hash_rihs01(type_name)}"


def measure_serve(binary, scenario, rate, seconds=6.0):
    endpoint = free_endpoint()
    serve = subprocess.Popen([binary, "serve", scenario, "--router", endpoint, "--rate", str(rate), "--json"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)
    config = zenoh.Config()
    config.insert_json5("mode", '"peer"')
    config.insert_json5("connect/endpoints", json.dumps([endpoint]))
    config.insert_json5("scouting/multicast/enabled", "false")
    session = zenoh.open(config)
    samples = {"/joint_states": [], "/scan": []}

    def on(topic):
        def callback(sample):
            now = time.time_ns()
            stamp = int.from_bytes(sample.attachment.to_bytes()[8:16], "little", signed=True)
            samples[topic].append((now, now - stamp))
        return callback

    subs = [session.declare_subscriber(key("/joint_states", "sensor_msgs/msg/JointState"), on("/joint_states")),
            session.declare_subscriber(key("/scan", "sensor_msgs/msg/LaserScan"), on("/scan"))]
    time.sleep(1.0)
    for s in samples.values():
        s.clear()
    time.sleep(seconds)
    result = {"scenario": scenario, "rate": rate}
    for topic, s in samples.items():
        if len(s) < 2:
            continue
        result[topic] = rate_and_latency(s)
    for sub in subs:
        sub.undeclare()
    session.close()
    serve.send_signal(2)
    report = json.loads(serve.communicate(timeout=30)[0])
    result["real_time_factor"] = round(report["real_time_factor"], 3)
    return result


def unpaced(binary, scenario, steps=3000):
    endpoint = free_endpoint()
    out = subprocess.run([binary, "serve", scenario, "--router", endpoint, "--unpaced", "--steps", str(steps), "--json"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    return {"scenario": scenario, "steps": steps, "real_time_factor": round(report["real_time_factor"], 2),
            "steps_per_s": round(report["steps"] / report["wall_s"], 1)}


def bench_remote(binary):
    endpoint = free_endpoint()
    server = subprocess.Popen([sys.executable, str(REPO / "examples/remote_policy_server.py"), "--router", endpoint, "--key", "bench/cartpole"],
                              stdout=subprocess.PIPE, text=True)
    server.stdout.readline()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, policy in [
            ("remote-batched", f"{{name: p, remote: {{zenoh: bench/cartpole, router: '{endpoint}'}}}}"),
            ("remote-unbatched", f"{{name: p, remote: {{zenoh: bench/cartpole, router: '{endpoint}'}}, wrappers: [{{gain_scale: 1.0}}]}}"),
            ("rust", "{name: p, controller: lqr}"),
        ]:
            spec = Path(tmp) / f"{name}.yaml"
            spec.write_text(f"version: 1\nseed: 1\nepisodes: 64\nscenarios:\n  - scenario: cartpole-balance\npolicies:\n  - {policy}\n")
            started = time.time()
            subprocess.run([binary, "eval", str(spec), "--out", str(Path(tmp) / name)], check=True, capture_output=True, cwd=REPO)
            wall = time.time() - started
            summary = json.loads((Path(tmp) / name / "summary.json").read_text())[0]
            steps = 64 * summary.get("mean_length", 500)
            results.append({"policy": name, "episodes": 64, "success_rate": summary["success_rate"], "wall_s": round(wall, 2),
                            "steps_per_s": round(steps / wall, 1)})
    server.terminate()
    return results


def main():
    binary = sys.argv[1]
    what = sys.argv[2] if len(sys.argv) > 2 else "all"
    out = {}
    if what in ("serve", "all"):
        # cart-pole's control period is 20 ms: rate 20 publishes /joint_states at 1 kHz;
        # the navigation lidar runs at 10 Hz, so rates 1 and 4 give 10 and 40 Hz.
        out["serve"] = [measure_serve(binary, "cartpole-balance", 20), measure_serve(binary, "tests/fixtures/serve-diffbot.yaml", 1),
                        measure_serve(binary, "tests/fixtures/serve-diffbot.yaml", 4)]
        out["unpaced"] = [unpaced(binary, s) for s in ["cartpole-balance", "reacher-2link", "arm7-reach", "diffdrive-nav", "pusher"]]
    if what in ("remote", "all"):
        out["remote"] = bench_remote(binary)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
