"""Plays a ROS 2 node on rmw_zenoh's wire format against `dreamrig serve`, with the real
eclipse-zenoh library and rosbags' CDR codec and type hashes: subscribes to /joint_states,
/scan, /odom, /tf and the depth image, reads the ROS graph's liveliness tokens, drives the
robot with /cmd_vel, sends two malformed commands (garbage bytes, a NaN speed), and prints what it saw as JSON.

Usage: python check_serve.py ROUTER_ENDPOINT DOMAIN_ID SECONDS
"""
import json
import os
import struct
import sys
import time

import zenoh
from rosbags.typesys import Stores, get_typestore

STORE = get_typestore(Stores.ROS2_JAZZY)


def key(domain, topic, type_name):
    package, _, name = type_name.split("/")
    return f"{domain}/{topic.strip('/')}/{package}::msg::dds_::{name}_/{STORE.hash_rihs01(type_name)}"


def main(endpoint, domain, seconds):
    config = zenoh.Config()
    config.insert_json5("mode", '"peer"')
    config.insert_json5("connect/endpoints", json.dumps([endpoint]))
    config.insert_json5("scouting/multicast/enabled", "false")
    session = zenoh.open(config)
    out = {"received": {}, "attachments_ok": True, "sequences_increase": True, "errors": []}
    last_sequence = {}
    latest = {}
    topics = {
        "/joint_states": "sensor_msgs/msg/JointState",
        "/scan": "sensor_msgs/msg/LaserScan",
        "/odom": "nav_msgs/msg/Odometry",
        "/tf": "tf2_msgs/msg/TFMessage",
        "/clock": "rosgraph_msgs/msg/Clock",
        "/depth/image_raw": "sensor_msgs/msg/Image",
        "/depth/camera_info": "sensor_msgs/msg/CameraInfo",
    }

    def listener(topic, type_name):
        def on_sample(sample):
            try:
                attachment = sample.attachment.to_bytes() if sample.attachment is not None else b""
                if len(attachment) != 33 or attachment[16] != 16:
                    out["attachments_ok"] = False
                sequence, stamp = struct.unpack_from("<qq", attachment)
                if sequence <= last_sequence.get(topic, 0):
                    out["sequences_increase"] = False
                last_sequence[topic] = sequence
                message = STORE.deserialize_cdr(sample.payload.to_bytes(), type_name)
                out["received"][topic] = out["received"].get(topic, 0) + 1
                latest[topic] = message
            except Exception as error:
                out["errors"].append(f"{topic}: {type(error).__name__}: {error}")

        return on_sample

    subscribers = [session.declare_subscriber(key(domain, t, ty), listener(t, ty)) for t, ty in topics.items()]
    # Wait for the first odometry, then drive forward for a while.
    deadline = time.time() + 20
    while "/odom" not in latest and time.time() < deadline:
        time.sleep(0.05)
    tokens = [str(reply.ok.key_expr) for reply in session.liveliness().get(f"@ros2_lv/{domain}/**", timeout=3.0) if reply.ok]
    out["tokens"] = sorted(tokens)
    start = latest["/odom"].pose.pose.position
    out["odom_start"] = [start.x, start.y]
    cmd_vel = session.declare_publisher(key(domain, "/cmd_vel", "geometry_msgs/msg/Twist"))
    Twist = STORE.types["geometry_msgs/msg/Twist"]
    Vector3 = STORE.types["geometry_msgs/msg/Vector3"]
    twist = Twist(linear=Vector3(x=0.5, y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=0.0))
    payload = bytes(STORE.serialize_cdr(twist, "geometry_msgs/msg/Twist"))
    gid = bytes(range(16))
    sent = 0
    cmd_vel.put(b"\x00\x01\x00\x00garbage", attachment=struct.pack("<qqB16s", 1, time.time_ns(), 16, gid))
    # A well-formed Twist with a NaN speed is malformed too: ignored, and the session goes on.
    nan_twist = Twist(linear=Vector3(x=float("nan"), y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=0.0))
    nan_payload = bytes(STORE.serialize_cdr(nan_twist, "geometry_msgs/msg/Twist"))
    cmd_vel.put(nan_payload, attachment=struct.pack("<qqB16s", 2, time.time_ns(), 16, gid))
    sent = 1
    end = time.time() + seconds
    while time.time() < end:
        sent += 1
        cmd_vel.put(payload, attachment=struct.pack("<qqB16s", sent + 1, time.time_ns(), 16, gid))
        time.sleep(0.05)
    out["commands_sent"] = sent
    # Silence: the robot must come to a stop on its own.
    time.sleep(1.5)
    moved = latest["/odom"].pose.pose.position
    out["odom_end"] = [moved.x, moved.y]
    out["speed_after_silence"] = latest["/odom"].twist.twist.linear.x
    joint_states = latest.get("/joint_states")
    if joint_states is not None:
        out["joint_names"] = list(joint_states.name)
    scan = latest.get("/scan")
    if scan is not None:
        out["scan"] = {"ranges": len(scan.ranges), "frame": scan.header.frame_id, "range_max": scan.range_max}
    image = latest.get("/depth/image_raw")
    if image is not None:
        out["image"] = {"encoding": image.encoding, "width": image.width, "height": image.height, "bytes": len(image.data)}
    tf = latest.get("/tf")
    if tf is not None:
        out["tf_frames"] = sorted(f"{t.header.frame_id}->{t.child_frame_id}" for t in tf.transforms)
    for s in subscribers:
        s.undeclare()
    session.close()
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
    except Exception:
        import traceback
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        # Zenoh's background threads would keep a failed check alive: leave at once.
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)
