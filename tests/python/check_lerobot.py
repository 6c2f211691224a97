"""Reads a dreamrig dataset with pyarrow and pandas and checks it against the LeRobot v3.0
layout (lerobot >= 0.4: meta/info.json, meta/tasks.parquet, meta/episodes, data files).

Usage: python check_lerobot.py DATASET_DIR
Prints "ok" and exits 0, or prints what is wrong and exits 1.
"""
import glob
import json
import os
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ARROW_TYPES = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}


def main(root):
    problems = []
    info = json.load(open(os.path.join(root, "meta", "info.json")))
    for key in ["codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
                "fps", "splits", "data_path", "features"]:
        if key not in info:
            problems.append(f"info.json lacks {key}")
    if info.get("codebase_version") != "v3.0":
        problems.append(f"codebase_version {info.get('codebase_version')}")
    if not isinstance(info.get("fps"), int) or info["fps"] <= 0:
        problems.append("fps is not a positive int")
    if info.get("splits") != {"train": f"0:{info['total_episodes']}"}:
        problems.append(f"splits {info.get('splits')}")
    for default in ["timestamp", "frame_index", "episode_index", "index", "task_index"]:
        if default not in info["features"]:
            problems.append(f"default feature {default} missing")

    files = sorted(glob.glob(os.path.join(root, "data", "*", "*.parquet")))
    if not files:
        problems.append("no data files")
    expected = info["data_path"].format(chunk_index=0, file_index=0)
    if files and os.path.relpath(files[0], root) != expected:
        problems.append(f"first data file {os.path.relpath(files[0], root)}, expected {expected}")
    table = pa.concat_tables([pq.read_table(f) for f in files])
    if table.num_rows != info["total_frames"]:
        problems.append(f"{table.num_rows} rows, total_frames {info['total_frames']}")
    for name, feature in info["features"].items():
        if feature["dtype"] in ("video", "image"):
            continue
        if name not in table.column_names:
            problems.append(f"column {name} missing")
            continue
        field = table.schema.field(name)
        want = ARROW_TYPES[feature["dtype"]]
        if feature["shape"] == [1] and not pa.types.is_fixed_size_list(field.type):
            if field.type != want:
                problems.append(f"{name}: {field.type}, expected {want}")
        else:
            if not pa.types.is_fixed_size_list(field.type):
                problems.append(f"{name}: {field.type}, expected fixed_size_list<{want}>[{feature['shape'][0]}]")
            elif field.type.list_size != feature["shape"][0] or field.type.value_type != want:
                problems.append(f"{name}: {field.type}, expected fixed_size_list<{want}>[{feature['shape'][0]}]")
        names = feature.get("names")
        if isinstance(names, list) and len(names) != feature["shape"][0]:
            problems.append(f"{name}: {len(names)} names for shape {feature['shape']}")

    frame = table.select(["index", "episode_index", "frame_index", "timestamp", "task_index"]).to_pandas()
    if list(frame["index"]) != list(range(len(frame))):
        problems.append("index is not 0..total_frames-1 in order")
    fps = info["fps"]
    if ((frame["timestamp"] - frame["frame_index"] / fps).abs() > 1e-4).any():
        problems.append("timestamp != frame_index / fps")

    tasks = pd.read_parquet(os.path.join(root, "meta", "tasks.parquet"))
    if tasks.index.name != "task":
        problems.append(f"tasks.parquet index is {tasks.index.name!r}, expected 'task' (pandas metadata)")
    if list(tasks["task_index"]) != list(range(len(tasks))) or len(tasks) != info["total_tasks"]:
        problems.append(f"tasks.parquet task_index {list(tasks['task_index'])}")
    if not set(frame["task_index"]).issubset(set(tasks["task_index"])):
        problems.append("data refers to unknown task indices")

    episodes = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(os.path.join(root, "meta", "episodes", "*", "*.parquet")))])
    for column in ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"]:
        if column not in episodes.columns:
            problems.append(f"episodes metadata lacks {column}")
    if len(episodes) != info["total_episodes"]:
        problems.append(f"{len(episodes)} episode rows, total_episodes {info['total_episodes']}")
    lengths = frame.groupby("episode_index").size()
    for _, row in episodes.iterrows():
        if lengths.get(row["episode_index"]) != row["length"]:
            problems.append(f"episode {row['episode_index']}: length {row['length']} but {lengths.get(row['episode_index'])} rows")
            break
        if row["dataset_to_index"] - row["dataset_from_index"] != row["length"]:
            problems.append(f"episode {row['episode_index']}: from/to do not span its length")
            break
        if list(row["tasks"])[0] not in list(tasks.index):
            problems.append(f"episode {row['episode_index']}: task {row['tasks']} not in tasks.parquet")
            break

    stats = json.load(open(os.path.join(root, "meta", "stats.json")))
    state = table.column("observation.state").combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
    import numpy as np
    for key, value in [("mean", state.mean(axis=0)), ("std", state.std(axis=0)), ("min", state.min(axis=0)), ("max", state.max(axis=0))]:
        if not np.allclose(stats["observation.state"][key], value, rtol=1e-5, atol=1e-6):
            problems.append(f"stats.json observation.state.{key} differs from numpy's")
    if stats["observation.state"]["count"] != [table.num_rows]:
        problems.append("stats count")

    if problems:
        print("\n".join(problems))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
