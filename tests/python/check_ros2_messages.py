"""Decodes dreamrig's CDR messages with rosbags (an independent ROS 2 implementation) and
compares dreamrig's RIHS01 type hashes with rosbags' own.

Usage: python check_ros2_messages.py DIR
DIR holds `<pkg>__msg__<Type>.cdr` files and `hashes.json` ({type: hash}). Prints the decoded
messages as JSON (one object per file) and exits 1 on a hash mismatch.
"""
import json
import os
import sys

from rosbags.typesys import Stores, get_typestore


def plain(value):
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__ if k != "__msgtype__"}
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main(folder):
    store = get_typestore(Stores.ROS2_JAZZY)
    ours = json.load(open(os.path.join(folder, "hashes.json")))
    mismatches = [f"{t}: dreamrig {h}, rosbags {store.hash_rihs01(t)}" for t, h in ours.items() if store.hash_rihs01(t) != h]
    decoded = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".cdr"):
            continue
        msgtype = name[: -len(".cdr")].replace("__", "/")
        data = open(os.path.join(folder, name), "rb").read()
        decoded[msgtype] = plain(store.deserialize_cdr(data, msgtype))
    print(json.dumps(decoded))
    if mismatches:
        print("\n".join(mismatches), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
