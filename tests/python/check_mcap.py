"""Reads a dreamrig MCAP recording with the `mcap` library (and its ROS 2 decoder) and with
rosbags, and prints per-topic message counts and a few decoded values as JSON.

Usage: python check_mcap.py FILE.mcap
"""
import json
import sys
from pathlib import Path

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore


def main(path):
    out = {"mcap": {}, "rosbags": {}}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        out["profile"] = header.profile
        summary = reader.get_summary()
        out["statistics_messages"] = summary.statistics.message_count
        out["schemas"] = sorted({(s.name, s.encoding) for s in summary.schemas.values()})
        out["channels"] = sorted({(c.topic, c.message_encoding, c.metadata.get("topic_type_hash", "")) for c in summary.channels.values()})
        last = {}
        for schema, channel, message, decoded in reader.iter_decoded_messages():
            out["mcap"][channel.topic] = out["mcap"].get(channel.topic, 0) + 1
            last[channel.topic] = decoded
        if "/scan" in last:
            out["last_scan_ranges"] = len(last["/scan"].ranges)
        if "/odom" in last:
            out["last_odom_frame"] = [last["/odom"].header.frame_id, last["/odom"].child_frame_id]
    store = get_typestore(Stores.ROS2_JAZZY)
    with Reader(Path(path)) as bag:
        for connection, timestamp, raw in bag.messages():
            message = store.deserialize_cdr(raw, connection.msgtype)
            out["rosbags"][connection.topic] = out["rosbags"].get(connection.topic, 0) + 1
            if connection.msgtype == "sensor_msgs/msg/Image":
                out.setdefault("images", {})[connection.topic] = {
                    "encoding": message.encoding,
                    "width": int(message.width),
                    "height": int(message.height),
                    "step": int(message.step),
                    "bytes": len(message.data),
                    "frame": message.header.frame_id,
                }
                if message.encoding == "rgb8":
                    pixels = message.data.reshape(message.height, message.width, 3).astype(int)
                    # Strongly red pixels (the pusher's box is red).
                    out["images"][connection.topic]["red_pixels"] = int(((pixels[..., 0] - pixels[..., 1:].max(-1)) > 80).sum())
            if connection.msgtype == "sensor_msgs/msg/CameraInfo":
                out.setdefault("camera_info", {})[connection.topic] = {"k": [float(v) for v in message.k], "frame": message.header.frame_id}
            if connection.topic == "/tf_static":
                out["tf_static_frames"] = sorted(f"{t.header.frame_id}->{t.child_frame_id}" for t in message.transforms)
            if connection.topic == "/joint_states":
                out["joint_names"] = list(message.name)
                out["last_joint_positions"] = [float(p) for p in message.position]
                out["last_joint_velocities"] = [float(v) for v in message.velocity]
    print(json.dumps(out, default=list))


if __name__ == "__main__":
    main(sys.argv[1])
