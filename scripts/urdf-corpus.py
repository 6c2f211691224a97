#!/usr/bin/env python3
"""Lists the public URDF corpus dreamrig is tested on and writes one scenario per robot.

Walks every .urdf in example-robot-data and pybullet_data (installed by scripts/python-env.sh),
keeps those PyBullet loads (the issue's bar: "every real URDF that PyBullet loads"), and writes
for each a scenario that welds its root link to the world 1 m above the ground, with a torque
actuator on every movable joint (so that the random policy moves it) and a joint-state sensor.
Writes OUT_DIR/corpus.jsonl, one JSON line per robot: {"name", "urdf", "scenario", "package"}
(not stdout: PyBullet's C code prints there).

Usage: urdf-corpus.py OUT_DIR
"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET

import sysconfig

import pybullet
import pybullet_data


def corpus():
    # example-robot-data installs no Python module: its files sit under the cmeel prefix.
    erd = os.path.join(sysconfig.get_paths()["purelib"], "cmeel.prefix", "share", "example-robot-data", "robots")
    for path in sorted(glob.glob(os.path.join(erd, "**", "*.urdf"), recursive=True)):
        yield "example-robot-data", path
    data = pybullet_data.getDataPath()
    for path in sorted(glob.glob(os.path.join(data, "**", "*.urdf"), recursive=True)):
        yield "pybullet_data", path


def movable_joints(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return []
    # A <mimic> follower is not driven: it follows its leader.
    return [
        j.get("name")
        for j in root.findall("joint")
        if j.get("type") in ("revolute", "continuous", "prismatic") and j.find("mimic") is None
    ]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    client = pybullet.connect(pybullet.DIRECT)
    manifest = open(os.path.join(out, "corpus.jsonl"), "w")
    seen = set()
    for package, path in corpus():
        pybullet.resetSimulation(physicsClientId=client)
        try:
            pybullet.loadURDF(path, useFixedBase=True, physicsClientId=client)
        except pybullet.error:
            continue
        rel = os.path.relpath(path, os.path.dirname(path.split("/robots/")[0]) if package == "example-robot-data" else pybullet_data.getDataPath())
        name = (package + "/" + rel).replace("/", "__").replace(".urdf", "")
        if name in seen:
            continue
        seen.add(name)
        joints = movable_joints(path)
        lines = [
            "version: 1",
            f"name: {json.dumps(name)}",
            "robot:",
            f"  urdf: {json.dumps(path)}",
            "  base: {fixed: true, position: [0, 0, 1]}",
        ]
        if joints:
            lines.append("  actuators:")
            lines += [f"    - {{kind: torque, joint: {json.dumps(j)}, effort_limit: 1}}" for j in joints]
        lines += [
            "sensors:" if joints else "sensors: []",
            *(["  - joint_state: {}"] if joints else []),
            "task: {kind: balance, horizon_steps: 25}",
            "timing: {physics_dt: 0.002, control_period: 0.02}",
        ]
        scenario = os.path.join(out, name + ".yaml")
        with open(scenario, "w") as f:
            f.write("\n".join(lines) + "\n")
        manifest.write(json.dumps({"name": name, "urdf": path, "scenario": scenario, "package": package}) + "\n")
    manifest.close()


if __name__ == "__main__":
    main()
