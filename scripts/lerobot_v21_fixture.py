"""Writes the LeRobot v2.1 fixture dreamrig's converter is tested on, with lerobot 0.3.3 itself
(the last release that wrote v2.1): tests/fixtures/lerobot-v21/.

    pip install --target /tmp/lr033 lerobot==0.3.3 --no-deps
    PYTHONPATH=/tmp/lr033 ~/.cache/dreamrig-lerobot/bin/python scripts/lerobot_v21_fixture.py tests/fixtures/lerobot-v21

(lerobot 0.3.3 runs on the packages of scripts/lerobot-example.sh's environment: torch, datasets,
pyav.) Three episodes of 12, 9 and 15 frames at 10 fps, two tasks, a 3-value state and a 2-value
action with names, and a 64×80 camera stored as video (one MP4 per episode, as v2.1 does).
"""

import shutil
import sys
from pathlib import Path

import numpy as np
from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset

assert CODEBASE_VERSION == "v2.1", f"expected lerobot 0.3.x (v2.1), got {CODEBASE_VERSION}"
root = Path(sys.argv[1])
if root.exists():
    shutil.rmtree(root)
features = {
    "observation.state": {"dtype": "float32", "shape": (3,), "names": ["joint_a.pos", "joint_b.pos", "joint_c.pos"]},
    "action": {"dtype": "float32", "shape": (2,), "names": ["joint_a.pos", "joint_b.pos"]},
    "observation.images.front": {"dtype": "video", "shape": (64, 80, 3), "names": ["height", "width", "channels"]},
}
dataset = LeRobotDataset.create("dreamrig/v21-fixture", fps=10, root=root, features=features, robot_type="toy", use_videos=True)
rng = np.random.default_rng(21)
for episode, length in enumerate([12, 9, 15]):
    for t in range(length):
        image = np.zeros((64, 80, 3), dtype=np.uint8)
        image[:, : (t * 6) % 80] = 40 * episode + 60
        dataset.add_frame(
            {
                "observation.state": rng.normal(size=3).astype(np.float32),
                "action": rng.normal(size=2).astype(np.float32),
                "observation.images.front": image,
            },
            task=["reach the cube", "push the cube"][episode % 2],
        )
    dataset.save_episode()
print(f"wrote {root}")
